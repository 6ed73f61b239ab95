//! Errors across the boundary: one wire text per error, turned into a `ResourceGuardError` by the
//! driver's one factory (pkg-template/errors.js). Shared by every capability's wasm module.

use crate::core::error::GuardError;
use crate::core::json::JsonWriter;
use wasm_bindgen::JsValue;

/// Errors cross the boundary as `"<CODE>\n<message>\n<detail>[\n<option path>]"`; the driver
/// turns them into `ResourceGuardError`s (one factory, in JS, keeps `core::fmt` out of the binary).
pub fn to_js(e: &GuardError) -> JsValue {
    JsValue::from_str(&error_text(e))
}

/// The wire text of an error (see [`to_js`]).
pub fn error_text(e: &GuardError) -> String {
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
    s
}
