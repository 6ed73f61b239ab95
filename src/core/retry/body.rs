//! Reads retry hints from a JSON error body (`retryable`, `retryAfterMs`, `code`).
//!
//! ```
//! use resource_guard::core::retry::body::parse_error_body;
//! let hint = parse_error_body(r#"{"error":{"code":"RATE_LIMITED","retryable":true,"retryAfterMs":1500}}"#);
//! assert_eq!(hint.retryable, Some(true));
//! assert_eq!(hint.retry_after_ms, Some(1500));
//! assert_eq!(hint.code.as_deref(), Some("RATE_LIMITED"));
//! assert_eq!(parse_error_body("<html>502</html>").retryable, None);
//! ```
//!
//! Fields are read from the top-level object first; any field missing there is looked up one level
//! down in an `error` object. Fields of the wrong type are ignored (treated as absent).

use crate::core::json::{parse, JsonWriter, Value};

/// Longest `code` kept, in characters: 64. Longer codes are truncated.
pub const MAX_CODE_CHARS: usize = 64;

/// Longest body examined, in bytes: 65 536. Longer bodies give an empty hint (the driver reads
/// at most 8 KiB anyway; this bounds the work on any input).
pub const MAX_BODY_BYTES: usize = 65_536;

/// Largest `retryAfterMs` represented exactly: 2^53 ms. Larger values are clamped to it (any hint
/// this long is rejected later by `maxRetryAfterMs`).
const MAX_HINT_MS: f64 = 9_007_199_254_740_992.0;

/// What a server's JSON error body says about retrying. All `None` for non-JSON bodies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyHint {
    /// `retryable`: `Some(false)` means never retry this request.
    pub retryable: Option<bool>,
    /// `retryAfterMs` (or `retry_after_ms`): a non-negative wait in ms, fraction floored.
    pub retry_after_ms: Option<u64>,
    /// `code`: the server's error code, at most [`MAX_CODE_CHARS`] characters; an integer code is
    /// rendered as its decimal digits.
    pub code: Option<String>,
}

/// Parses an error body; malformed JSON, a non-object or a body over [`MAX_BODY_BYTES`] gives
/// [`BodyHint::default()`] (all `None`).
#[must_use]
pub fn parse_error_body(text: &str) -> BodyHint {
    if text.len() > MAX_BODY_BYTES {
        return BodyHint::default();
    }
    let Ok(root @ Value::Obj(_)) = parse(text) else {
        return BodyHint::default();
    };
    let inner = root.get("error").filter(|v| matches!(v, Value::Obj(_)));
    BodyHint {
        retryable: lookup(&root, inner, |v| {
            v.get("retryable").and_then(Value::as_bool)
        }),
        retry_after_ms: lookup(&root, inner, retry_after),
        code: lookup(&root, inner, |v| v.get("code").and_then(code)),
    }
}

/// `f` on the top-level object, else on the `error` object.
fn lookup<T>(root: &Value, inner: Option<&Value>, f: impl Fn(&Value) -> Option<T>) -> Option<T> {
    f(root).or_else(|| inner.and_then(f))
}

fn retry_after(obj: &Value) -> Option<u64> {
    let n = obj
        .get("retryAfterMs")
        .and_then(Value::as_f64)
        .or_else(|| obj.get("retry_after_ms").and_then(Value::as_f64))?;
    // Numbers from the parser are finite; `as` floors and NaN cannot occur.
    (n >= 0.0).then(|| n.min(MAX_HINT_MS) as u64)
}

fn code(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.chars().take(MAX_CODE_CHARS).collect()),
        Value::Num(n) if n.fract() == 0.0 && n.abs() <= MAX_HINT_MS => {
            let mut w = JsonWriter::new();
            if *n < 0.0 {
                w.raw("-");
            }
            w.u64(n.abs() as u64);
            Some(w.out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_fields() {
        let h = parse_error_body(r#"{"retryable":false,"retryAfterMs":250.9,"code":429}"#);
        assert_eq!(
            h,
            BodyHint {
                retryable: Some(false),
                retry_after_ms: Some(250),
                code: Some("429".into())
            }
        );
        assert_eq!(
            parse_error_body(r#"{"retry_after_ms":7}"#).retry_after_ms,
            Some(7)
        );
        assert_eq!(
            parse_error_body(r#"{"code":-12}"#).code.as_deref(),
            Some("-12")
        );
    }

    #[test]
    fn top_level_wins_over_error_object() {
        let h = parse_error_body(r#"{"code":"TOP","error":{"code":"INNER","retryable":false}}"#);
        assert_eq!(h.code.as_deref(), Some("TOP"));
        assert_eq!(h.retryable, Some(false));
    }

    #[test]
    fn wrong_types_and_junk_are_absent() {
        let h = parse_error_body(r#"{"retryable":"no","retryAfterMs":-5,"code":1.5,"error":"x"}"#);
        assert_eq!(h, BodyHint::default());
        for s in ["", "null", "[1]", "{", "\"str\"", "{\"a\":1}x"] {
            assert_eq!(parse_error_body(s), BodyHint::default(), "{s:?}");
        }
        assert_eq!(
            parse_error_body(r#"{"retryAfterMs":1e300}"#).retry_after_ms,
            Some(9_007_199_254_740_992)
        );
    }

    #[test]
    fn code_is_truncated_by_chars() {
        let long = "é".repeat(100);
        let h = parse_error_body(&(String::from("{\"code\":\"") + &long + "\"}"));
        assert_eq!(h.code.map(|c| c.chars().count()), Some(MAX_CODE_CHARS));
    }

    #[test]
    fn oversized_bodies_are_not_examined() {
        let big =
            String::from("{\"retryable\":false,\"pad\":\"") + &"x".repeat(MAX_BODY_BYTES) + "\"}";
        assert_eq!(parse_error_body(&big), BodyHint::default());
    }
}
