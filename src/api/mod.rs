//! The `#[wasm_bindgen]` surface. The user-facing `ResourceGuard` class lives in the JS driver
//! (`pkg-template/index.js`); it owns one [`JsGuardCore`] and calls it with numbers and short
//! strings, so the hot path never serialises.

use crate::core::config::GuardConfig;
use crate::core::error::GuardError;
use crate::core::json::JsonWriter;
use crate::core::time::Clock;
use crate::web::clock::PerformanceClock;
use crate::web::heap::wasm_memory_bytes;
use wasm_bindgen::prelude::*;

/// Errors cross the boundary as `"<CODE>\n<message>\n<detail>[\n<option path>]"`; the driver turns them into
/// `ResourceGuardError`s (one factory, in JS, keeps `core::fmt` out of the binary).
pub(crate) fn to_js(e: &GuardError) -> JsValue {
    let mut s = String::from(e.code().as_str());
    s.push('\n');
    s.push_str(&e.message());
    s.push('\n');
    let mut w = JsonWriter::new();
    w.f64(e.detail());
    s.push_str(&w.out);
    if let GuardError::InvalidOption { path, .. } = e {
        s.push('\n');
        s.push_str(path);
    }
    JsValue::from_str(&s)
}

/// The guard's policy engine, driven by the JS driver.
#[wasm_bindgen(js_name = GuardCore)]
#[derive(Debug)]
pub struct JsGuardCore {
    config: GuardConfig,
    clock: PerformanceClock,
    created_at: u64,
}

#[wasm_bindgen(js_class = GuardCore)]
impl JsGuardCore {
    /// Validates `options_json` (the driver's `JSON.stringify(options)`) and builds the engine.
    #[wasm_bindgen(constructor)]
    pub fn new(options_json: &str, _seed: f64) -> Result<JsGuardCore, JsValue> {
        #[cfg(feature = "debug-panic")]
        console_error_panic_hook::set_once();
        let config = GuardConfig::from_json(options_json).map_err(|e| to_js(&e))?;
        let clock = PerformanceClock;
        Ok(JsGuardCore {
            config,
            clock,
            created_at: clock.now().0,
        })
    }

    /// Whether `name` is a configured category.
    #[wasm_bindgen(js_name = hasCategory)]
    pub fn has_category(&self, name: &str) -> bool {
        self.config.category(name).is_some()
    }

    /// A JSON snapshot of the guard's state.
    pub fn snapshot(&self) -> String {
        let now = self.clock.now();
        let mut w = JsonWriter::new();
        w.raw("{")
            .key("uptimeMs")
            .u64(now.since(crate::core::time::Millis(self.created_at)));
        w.key("wasmMemoryBytes").u64(wasm_memory_bytes());
        w.key("categories").raw("{");
        for c in &self.config.categories {
            w.key(&c.name).raw("{");
            match c.rate {
                Some(r) => {
                    w.key("limit")
                        .raw("{")
                        .key("requests")
                        .u64(u64::from(r.requests))
                        .key("perMs")
                        .u64(r.per_ms);
                    w.key("burst").u64(u64::from(r.burst)).raw("}");
                }
                None => {
                    w.key("limit").raw("null");
                }
            }
            match c.max_concurrent {
                Some(n) => w.key("maxConcurrent").u64(u64::from(n)),
                None => w.key("maxConcurrent").raw("null"),
            };
            w.raw("}");
        }
        w.raw("}}");
        w.out
    }
}
