//! Byte-level helpers shared by the header parsers: no `str::parse`, no `core::fmt`, no panics.

/// `s` without leading and trailing optional whitespace (space and horizontal tab, RFC 9110 OWS).
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let mut a = s;
    while let [b' ' | b'\t', rest @ ..] = a {
        a = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = a {
        a = rest;
    }
    a
}

/// A run of ASCII digits as a `u64`, saturating at `u64::MAX`; `None` if empty or not all digits.
pub(crate) fn digits_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(n)
}

/// `digits[.digits]` seconds → `(whole seconds, milliseconds)`, saturating; fraction digits past
/// the third are ignored (truncated to whole ms). `None` if malformed.
pub(crate) fn seconds_to_ms(s: &[u8]) -> Option<(u64, u64)> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (s.get(..dot)?, Some(s.get(dot + 1..)?)),
        None => (s, None),
    };
    let secs = digits_u64(int)?;
    let mut ms = secs.saturating_mul(1000);
    if let Some(frac) = frac {
        digits_u64(frac)?; // at least one digit, digits only
        let mut scale = 100;
        for &b in frac.iter().take(3) {
            ms = ms.saturating_add(u64::from(b - b'0') * scale);
            scale /= 10;
        }
    }
    Some((secs, ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_ows() {
        assert_eq!(trim_ows(b" \t 12 \t"), b"12");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b"\n1"), b"\n1");
    }

    #[test]
    fn digits_saturate_and_reject_junk() {
        assert_eq!(digits_u64(b"0042"), Some(42));
        assert_eq!(digits_u64(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(digits_u64(b""), None);
        assert_eq!(digits_u64(b"-1"), None);
        assert_eq!(digits_u64(b"1 2"), None);
    }

    #[test]
    fn fractional_seconds_truncate_to_ms() {
        assert_eq!(seconds_to_ms(b"1.5"), Some((1, 1500)));
        assert_eq!(seconds_to_ms(b"2.0019"), Some((2, 2001)));
        assert_eq!(seconds_to_ms(b"3"), Some((3, 3000)));
        assert_eq!(seconds_to_ms(b"3."), None);
        assert_eq!(seconds_to_ms(b".5"), None);
        assert_eq!(seconds_to_ms(b"1.2.3"), None);
    }
}
