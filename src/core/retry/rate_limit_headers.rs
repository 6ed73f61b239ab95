//! Parses server pacing headers (`RateLimit`, `X-RateLimit-*`) into a [`RateLimitHint`].
//!
//! ```
//! use resource_guard::core::retry::rate_limit_headers::{parse_ratelimit, parse_x_ratelimit, RateLimitHint};
//! // IETF draft structured field: the most restrictive item wins.
//! let h = parse_ratelimit(r#""default";r=50;t=30, "burst";r=2;t=1"#);
//! assert_eq!(h, Some(RateLimitHint { remaining: 2, reset_ms: 1_000 }));
//! // Older draft form.
//! assert_eq!(parse_ratelimit("limit=100, remaining=0, reset=30"), Some(RateLimitHint { remaining: 0, reset_ms: 30_000 }));
//! // GitHub style: reset as Unix epoch seconds.
//! let now_wall_ms = 1_700_000_000_000;
//! let h = parse_x_ratelimit("0", Some("1700000042"), now_wall_ms);
//! assert_eq!(h, Some(RateLimitHint { remaining: 0, reset_ms: 42_000 }));
//! ```
//!
//! Parsing is strict about syntax (a structured field that fails to parse is ignored as a whole,
//! RFC 8941 §4.2) and lenient about content: unknown keys and parameters are skipped, and an item
//! without `r` contributes nothing. `reset_ms` is capped at [`MAX_RESET_MS`].

use super::text::{digits_u64, seconds_to_ms, trim_ows};

/// Longest reset honoured: 86 400 000 ms (24 h). Longer values are capped to it.
pub const MAX_RESET_MS: u64 = 86_400_000;

/// `reset_ms` when the server sends a remaining count but no reset: 1000 ms. Short on purpose: a
/// server that omits the reset gives no basis for a long stall, and backoff still applies on
/// failures.
pub const DEFAULT_RESET_MS: u64 = 1_000;

/// `X-RateLimit-Reset` values above this many seconds (10^9, i.e. after 2001-09-09 as a timestamp,
/// or ~31 years as a delta) are Unix epoch seconds; smaller ones are delta seconds.
pub const EPOCH_SECONDS_THRESHOLD: u64 = 1_000_000_000;

/// What the server says about its quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitHint {
    /// Requests left in the current window (saturates at `u32::MAX`).
    pub remaining: u32,
    /// Milliseconds from now until the quota resets, at most [`MAX_RESET_MS`].
    pub reset_ms: u64,
}

impl RateLimitHint {
    fn new(remaining: u64, reset_ms: Option<u64>) -> Self {
        RateLimitHint {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_ms: reset_ms.unwrap_or(DEFAULT_RESET_MS).min(MAX_RESET_MS),
        }
    }

    /// The more restrictive of two hints: fewer remaining, then the later reset.
    fn min(self, other: Option<Self>) -> Self {
        match other {
            Some(o)
                if (o.remaining, u64::MAX - o.reset_ms)
                    < (self.remaining, u64::MAX - self.reset_ms) =>
            {
                o
            }
            _ => self,
        }
    }
}

/// Parses a `RateLimit` header: the IETF draft structured field (`"default";r=50;t=30`, items
/// separated by commas, `r` = remaining, `t` = seconds until reset) or the older draft form
/// (`limit=100, remaining=50, reset=30`, reset in seconds). Several items → the most restrictive
/// (smallest `remaining`, then longest reset). A missing reset → [`DEFAULT_RESET_MS`].
///
/// Returns `None` when the field is malformed (bad syntax, negative or fractional `r`/`t`/
/// `remaining`/`reset`) or carries no remaining count.
#[must_use]
pub fn parse_ratelimit(value: &str) -> Option<RateLimitHint> {
    let mut c = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    let mut best: Option<RateLimitHint> = None;
    let (mut old_remaining, mut old_reset) = (None, None);
    c.ows();
    while c.peek().is_some() {
        if c.peek() == Some(b'"') {
            c.string()?;
            let (r, t) = c.params()?;
            if let Some(r) = r {
                best = Some(RateLimitHint::new(r, t.map(|t| t.saturating_mul(1000))).min(best));
            }
        } else {
            let key = c.token()?;
            if c.peek() == Some(b'=') {
                // Older draft: `key=value` dictionary members.
                c.bump();
                if key.eq_ignore_ascii_case(b"remaining") {
                    old_remaining = Some(c.integer()?);
                } else if key.eq_ignore_ascii_case(b"reset") {
                    old_reset = Some(c.integer()?);
                } else {
                    c.bare_value()?;
                }
                c.params()?;
            } else {
                let (r, t) = c.params()?;
                if let Some(r) = r {
                    best = Some(RateLimitHint::new(r, t.map(|t| t.saturating_mul(1000))).min(best));
                }
            }
        }
        c.ows();
        match c.peek() {
            None => break,
            Some(b',') => {
                c.bump();
                c.ows();
                c.peek()?; // a trailing comma is a syntax error
            }
            Some(_) => return None,
        }
    }
    if let Some(r) = old_remaining {
        best = Some(RateLimitHint::new(r, old_reset.map(|t| t.saturating_mul(1000))).min(best));
    }
    best
}

/// Parses `X-RateLimit-Remaining` (a non-negative integer) and the optional `X-RateLimit-Reset`
/// (seconds, fraction allowed: delta seconds, or Unix epoch seconds when above
/// [`EPOCH_SECONDS_THRESHOLD`], measured against `now_wall_ms`, ms since the epoch; a past epoch
/// gives 0). Without a reset, `reset_ms` is [`DEFAULT_RESET_MS`].
///
/// Returns `None` when either value is malformed.
#[must_use]
pub fn parse_x_ratelimit(
    remaining: &str,
    reset: Option<&str>,
    now_wall_ms: u64,
) -> Option<RateLimitHint> {
    let r = digits_u64(trim_ows(remaining.as_bytes()))?;
    let reset_ms = match reset {
        None => None,
        Some(s) => {
            let (secs, ms) = seconds_to_ms(trim_ows(s.as_bytes()))?;
            Some(if secs > EPOCH_SECONDS_THRESHOLD {
                ms.saturating_sub(now_wall_ms)
            } else {
                ms
            })
        }
    };
    Some(RateLimitHint::new(r, reset_ms))
}

/// A structured-field scanner over bytes; every method returns `None` on a syntax error.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) {
        self.i = self.i.saturating_add(1);
    }

    fn ows(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.bump();
        }
    }

    /// A token or key: visible ASCII up to a delimiter; at least one byte.
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if !(0x21..=0x7e).contains(&b) || matches!(b, b',' | b';' | b'=' | b'"' | b'(' | b')') {
                break;
            }
            self.bump();
        }
        let t = self.s.get(start..self.i)?;
        (!t.is_empty()).then_some(t)
    }

    /// An sf-string, quotes and escapes included; its content is not needed.
    fn string(&mut self) -> Option<()> {
        self.bump(); // opening quote
        loop {
            match self.peek()? {
                b'\\' => {
                    self.bump();
                    self.peek()?;
                    self.bump();
                }
                b'"' => {
                    self.bump();
                    return Some(());
                }
                _ => self.bump(),
            }
        }
    }

    /// A non-negative integer (saturating); decimals and negatives are malformed for our keys.
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
        }
        digits_u64(self.s.get(start..self.i)?)
    }

    /// Any other value: an sf-string or a bare item (token, number, `?1`, `:bytes:`).
    fn bare_value(&mut self) -> Option<()> {
        if self.peek() == Some(b'"') {
            self.string()
        } else if self.peek() == Some(b':') {
            // A byte sequence: base64 (which may hold '=') between colons.
            self.bump();
            while self.peek()? != b':' {
                self.bump();
            }
            self.bump();
            Some(())
        } else {
            self.token().map(|_| ())
        }
    }

    /// `;key[=value]` parameters → (`r`, `t`), the last of each winning.
    fn params(&mut self) -> Option<(Option<u64>, Option<u64>)> {
        let (mut r, mut t) = (None, None);
        loop {
            self.ows();
            if self.peek() != Some(b';') {
                return Some((r, t));
            }
            self.bump();
            self.ows();
            let key = self.token()?;
            if self.peek() != Some(b'=') {
                continue; // a boolean parameter
            }
            self.bump();
            match key {
                b"r" => r = Some(self.integer()?),
                b"t" => t = Some(self.integer()?),
                _ => self.bare_value()?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(remaining: u32, reset_ms: u64) -> Option<RateLimitHint> {
        Some(RateLimitHint {
            remaining,
            reset_ms,
        })
    }

    #[test]
    fn structured_field_items() {
        assert_eq!(parse_ratelimit(r#""default";r=50;t=30"#), h(50, 30_000));
        assert_eq!(parse_ratelimit("default;r=50;t=30"), h(50, 30_000));
        assert_eq!(
            parse_ratelimit(r#""a,b;c";r=5;t=1 , "day";r=5;t=3600"#),
            h(5, 3_600_000)
        );
        assert_eq!(parse_ratelimit(r#""x";r=7"#), h(7, DEFAULT_RESET_MS));
        assert_eq!(
            parse_ratelimit(r#""x";pk=:AbC=:;r=7;t=2;q="s;t=9""#),
            h(7, 2_000)
        );
        assert_eq!(parse_ratelimit(r#""x";t=2"#), None);
        assert_eq!(
            parse_ratelimit(r#""x";r=99999999999;t=999999999999"#),
            h(u32::MAX, MAX_RESET_MS)
        );
    }

    #[test]
    fn older_draft_form() {
        assert_eq!(
            parse_ratelimit("limit=100, remaining=50, reset=30"),
            h(50, 30_000)
        );
        assert_eq!(parse_ratelimit("Remaining=3"), h(3, DEFAULT_RESET_MS));
        assert_eq!(
            parse_ratelimit("limit=100;w=60, remaining=0, reset=5"),
            h(0, 5_000)
        );
        assert_eq!(parse_ratelimit("limit=100"), None);
    }

    #[test]
    fn malformed_fields_are_ignored_whole() {
        for bad in [
            "",
            "  ",
            r#""x";r=-1"#,
            r#""x";r=1.5"#,
            r#""x";r=5,"#,
            r#""x;r=5"#,
            "remaining=abc",
            "a b",
            r#""x";r="#,
            "é;r=1",
        ] {
            assert_eq!(parse_ratelimit(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn x_ratelimit_delta_and_epoch() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_x_ratelimit(" 10 ", Some("30"), now), h(10, 30_000));
        assert_eq!(parse_x_ratelimit("10", Some("1.25"), now), h(10, 1_250));
        assert_eq!(
            parse_x_ratelimit("10", Some("1700000001.5"), now),
            h(10, 1_500)
        );
        assert_eq!(parse_x_ratelimit("10", Some("1600000000"), now), h(10, 0));
        assert_eq!(
            parse_x_ratelimit("10", Some("1000000000"), now),
            h(10, MAX_RESET_MS)
        ); // delta, capped
        assert_eq!(parse_x_ratelimit("10", None, now), h(10, DEFAULT_RESET_MS));
        assert_eq!(parse_x_ratelimit("-1", None, now), None);
        assert_eq!(parse_x_ratelimit("1", Some("soon"), now), None);
    }
}
