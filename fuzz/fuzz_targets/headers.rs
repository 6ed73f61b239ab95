//! Fuzzes every retry header/body parser: none may panic, and results stay within their bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resource_guard::core::retry::{body, rate_limit_headers, retry_after};

fuzz_target!(|s: &str| {
    let now_wall_ms = 1_700_000_000_000;
    let _ = retry_after::parse_retry_after(s, now_wall_ms);
    let _ = retry_after::parse_http_date(s);
    let _ = retry_after::parse_http_date_at(s, now_wall_ms);
    if let Some(h) = rate_limit_headers::parse_ratelimit(s) {
        assert!(h.reset_ms <= rate_limit_headers::MAX_RESET_MS);
    }
    // Split the input so both header arguments get arbitrary text.
    let (remaining, reset) = s.split_once('\n').unwrap_or((s, ""));
    for reset in [None, Some(reset)] {
        if let Some(h) = rate_limit_headers::parse_x_ratelimit(remaining, reset, now_wall_ms) {
            assert!(h.reset_ms <= rate_limit_headers::MAX_RESET_MS);
        }
    }
    let hint = body::parse_error_body(s);
    assert!(hint.code.map_or(0, |c| c.chars().count()) <= body::MAX_CODE_CHARS);
});
