//! Browser glue, in headless Chromium: the clocks tick, the guard's own memory is measured, and
//! the wasm surface turns bad options into typed error strings instead of panicking.
#![cfg(target_arch = "wasm32")]

use resource_guard::core::time::Clock;
use resource_guard::web::clock::{wall_ms, PerformanceClock};
use resource_guard::web::heap::wasm_memory_bytes;
use rg_guard::api::{JsGuardCore, Sink};
use wasm_bindgen::JsCast;
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

/// A sink that records what the core emits, as the JS driver does.
fn sink() -> (Sink, js_sys::Array) {
    let obj = make_sink();
    let log: js_sys::Array = js_sys::Reflect::get(&obj, &"log".into())
        .unwrap()
        .unchecked_into();
    (obj.unchecked_into::<Sink>(), log)
}

#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export function make_sink() { const log = []; return { log, push(k, id, a, b, s) { log.push([k, id, a, b, s]); } }; }"
)]
extern "C" {
    fn make_sink() -> wasm_bindgen::JsValue;
}

fn core(json: &str) -> Result<JsGuardCore, wasm_bindgen::JsValue> {
    JsGuardCore::new(
        json,
        7.0,
        sink().0,
        "https://app.example/page?secret=1",
        "test-agent",
    )
}

#[wasm_bindgen_test]
fn bad_options_are_typed_errors_not_panics() {
    let err = core(r#"{"retry":{"baseDelayMs":500,"maxDelayMs":100}}"#).unwrap_err();
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
        let _ = core(hostile);
    }
    let ok = core("{}").expect("defaults are valid");
    assert!(ok.snapshot().contains("\"api\""));
}

#[wasm_bindgen_test]
fn a_queued_request_starts_through_the_sink_after_poll() {
    let (sink, log) = sink();
    let mut c = JsGuardCore::new(
        r#"{"rateLimit":{"requests":1,"perMs":30}}"#,
        7.0,
        sink,
        "",
        "",
    )
    .unwrap();
    let api = c.category("api") as u32;
    let first = c.submit(api, 2, "https://a.example", 1, f64::NAN, f64::NAN, f64::NAN);
    assert_eq!(first % 2.0, 1.0, "the first request starts at once");
    let second = c.submit(api, 2, "https://a.example", 1, f64::NAN, f64::NAN, f64::NAN);
    assert_eq!(second % 2.0, 0.0, "the second waits for the window");
    assert_eq!(c.status((first / 2.0) as u32, 200, None, None), -1.0);
    let wake = c.poll();
    assert!(wake > 0.0, "a wake-up is scheduled");
    // Busy-wait past the window with the real clock (30 ms), then poll: the sink gets a start.
    let t0 = js_sys::Date::now();
    while js_sys::Date::now() - t0 < 40.0 {}
    c.poll();
    let starts: Vec<_> = log
        .iter()
        .filter(|e| js_sys::Array::from(e).get(0).as_f64() == Some(1.0))
        .collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(
        js_sys::Array::from(&starts[0]).get(1).as_f64(),
        Some((second / 2.0).floor())
    );
}

#[wasm_bindgen_test]
fn a_retry_after_header_is_read_from_the_wire_string() {
    let mut c = core("{}").unwrap();
    let api = c.category("api") as u32;
    let r = c.submit(api, 2, "https://a.example", 1, f64::NAN, f64::NAN, f64::NAN);
    let id = (r / 2.0) as u32;
    // An HTTP-date 3 s ahead of the browser's own wall clock.
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        js_sys::Date::now() + 3_000.0 + 999.0,
    ));
    let header: String = date.to_utc_string().into();
    let delay = c.status(id, 503, Some(header), None);
    assert!((2_000.0..=4_000.0).contains(&delay), "delay {delay}");
    let snap = c.snapshot();
    assert!(snap.contains("\"blockedForMs\":"), "{snap}");
}
