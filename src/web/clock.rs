//! The browser's clocks: `performance.now()` (monotonic, for every decision) and `Date.now()`
//! (wall time, only to turn a Retry-After HTTP-date into a delay).
//!
//! `std::time::Instant::now()` panics on wasm32-unknown-unknown; this is the only place core gets
//! time from in the browser.

use crate::core::time::{Clock, Millis};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/clock.js")]
extern "C" {
    // `globalThis.performance`, cached by the snippet (windows and workers alike).
    #[wasm_bindgen(js_name = perf_now)]
    fn performance_now() -> f64;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// `performance.now()` as [`Millis`].
#[derive(Debug, Default, Clone, Copy)]
pub struct PerformanceClock;

impl Clock for PerformanceClock {
    fn now(&self) -> Millis {
        Millis::from_f64(performance_now())
    }
}

/// Milliseconds since the Unix epoch (`Date.now()`).
pub fn wall_ms() -> u64 {
    Millis::from_f64(date_now()).0
}
