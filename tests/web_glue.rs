//! Browser glue, in headless Chromium: the clocks tick, the guard's own memory is measured, and
//! the wasm surface turns bad options into typed error strings instead of panicking.
#![cfg(target_arch = "wasm32")]

use resource_guard::api::JsGuardCore;
use resource_guard::core::time::Clock;
use resource_guard::web::clock::{wall_ms, PerformanceClock};
use resource_guard::web::heap::wasm_memory_bytes;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn performance_clock_is_monotonic_and_wall_clock_is_epoch_ms() {
    let clock = PerformanceClock;
    let a = clock.now();
    let mut x = 0u64;
    for i in 0..200_000u64 {
        x = x.wrapping_add(i * i);
    }
    let b = clock.now();
    assert!(b >= a, "performance.now went backwards");
    assert!(x > 0);
    // 2020-01-01 .. 2100-01-01
    let w = wall_ms();
    assert!(
        w > 1_577_836_800_000 && w < 4_102_444_800_000,
        "Date.now() = {w}"
    );
}

#[wasm_bindgen_test]
fn wasm_memory_is_measured_in_whole_pages() {
    let bytes = wasm_memory_bytes();
    assert!(bytes >= 65_536);
    assert_eq!(bytes % 65_536, 0);
    let big: Vec<u8> = vec![1; 4 * 1024 * 1024];
    assert!(
        wasm_memory_bytes() >= bytes.max(4 * 1024 * 1024),
        "memory did not grow with a 4 MiB allocation"
    );
    drop(big);
}

#[wasm_bindgen_test]
fn bad_options_are_typed_errors_not_panics() {
    let err =
        JsGuardCore::new(r#"{"retry":{"baseDelayMs":500,"maxDelayMs":100}}"#, 1.0).unwrap_err();
    let s = err.as_string().expect("error crosses as a string");
    let mut parts = s.split('\n');
    assert_eq!(parts.next(), Some("ERR_INVALID_OPTION"));
    assert_eq!(
        parts.next(),
        Some("invalid option: retry.maxDelayMs must be >= retry.baseDelayMs")
    );
    assert_eq!(parts.nth(1), Some("retry.maxDelayMs"));
    for hostile in [
        "",
        "{",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]",
        "\"\\ud800\"",
        "1e400",
    ] {
        let _ = JsGuardCore::new(hostile, 1.0);
    }
    let ok = JsGuardCore::new("{}", 1.0).expect("defaults are valid");
    assert!(ok.snapshot().contains("\"api\""));
}
