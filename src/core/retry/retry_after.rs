//! Parses the `Retry-After` header (RFC 9110 §10.2.3) into a delay in milliseconds from now.
//!
//! ```
//! use resource_guard::core::retry::retry_after::{parse_http_date, parse_retry_after};
//! let now_wall_ms = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
//! assert_eq!(now_wall_ms, 784_111_777_000);
//! assert_eq!(parse_retry_after("120", now_wall_ms), Some(120_000));
//! assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now_wall_ms), Some(3_000));
//! assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now_wall_ms), Some(0));
//! assert_eq!(parse_retry_after("soon", now_wall_ms), None);
//! ```
//!
//! Both forms are accepted: delta-seconds (digits only, surrounding spaces/tabs ignored, huge values
//! saturate) and an HTTP-date in any of its three forms (IMF-fixdate, obsolete RFC 850 and ANSI C
//! asctime). Day and month names are matched ASCII case-insensitively; the day name is not checked
//! against the date (RFC 9110 does not ask recipients to). Day-of-month is validated against the
//! month and leap years, hours must be `< 24`, minutes `< 60`, seconds `<= 60` (a leap second).

use super::text::{digits_u64, trim_ows};

const MS_PER_DAY: u64 = 86_400_000;
const SECS_PER_DAY: i64 = 86_400;

/// The delay in ms from `now_wall_ms` (ms since the Unix epoch) that a `Retry-After` value asks
/// for: delta-seconds × 1000 (saturating at `u64::MAX`), or the HTTP-date minus now, `Some(0)` when
/// the date has passed. `None` when the value is malformed.
///
/// Two-digit RFC 850 years are read relative to `now_wall_ms` as RFC 9110 §5.6.7 requires (see
/// [`parse_http_date_at`]).
#[must_use]
pub fn parse_retry_after(value: &str, now_wall_ms: u64) -> Option<u64> {
    let v = trim_ows(value.as_bytes());
    if v.first().is_some_and(u8::is_ascii_digit) {
        return digits_u64(v).map(|secs| secs.saturating_mul(1000));
    }
    let secs = date_secs(v, Some(now_wall_ms))?;
    if secs <= 0 {
        return Some(0);
    }
    // At most year 9999 (~2.5e11 s): the product cannot overflow.
    Some(
        (secs as u64)
            .saturating_mul(1000)
            .saturating_sub(now_wall_ms),
    )
}

/// An HTTP-date (any of the three forms) as ms since the Unix epoch; `None` when malformed or
/// before 1970.
///
/// Without a clock, a two-digit RFC 850 year `yy` is read POSIX-style: 69–99 → 19yy, 00–68 →
/// 20yy. Use [`parse_http_date_at`] for the exact RFC 9110 rule.
#[must_use]
pub fn parse_http_date(value: &str) -> Option<u64> {
    to_epoch_ms(date_secs(trim_ows(value.as_bytes()), None)?)
}

/// Like [`parse_http_date`], but a two-digit RFC 850 year that would lie more than 50 years after
/// the year of `now_wall_ms` (ms since the Unix epoch) is taken from the previous century, and one
/// 50 or more years before it from the next (RFC 9110 §5.6.7).
#[must_use]
pub fn parse_http_date_at(value: &str, now_wall_ms: u64) -> Option<u64> {
    to_epoch_ms(date_secs(trim_ows(value.as_bytes()), Some(now_wall_ms))?)
}

fn to_epoch_ms(secs: i64) -> Option<u64> {
    u64::try_from(secs).ok().map(|s| s.saturating_mul(1000))
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (H. Hinnant's `days_from_civil`).
/// `m` is 1..=12 and `d` 1..=31; valid for any year an HTTP-date can carry.
#[must_use]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // 0..=399
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian year containing day `days` since 1970-01-01 (inverse of
/// [`days_from_civil`], year only).
fn year_from_days(days: i64) -> i64 {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10) // January and February belong to the next year
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const DAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];

fn month(s: &[u8]) -> Option<u32> {
    (1u32..)
        .zip(MONTHS)
        .find(|(_, m)| s.eq_ignore_ascii_case(&m[..]))
        .map(|(i, _)| i)
}

fn short_day(s: &[u8]) -> Option<()> {
    DAYS.iter()
        .any(|d| d.get(..3).is_some_and(|d| s.eq_ignore_ascii_case(d)))
        .then_some(())
}

fn long_day(s: &[u8]) -> Option<()> {
    DAYS.iter().any(|d| s.eq_ignore_ascii_case(d)).then_some(())
}

fn lit(v: &[u8], at: usize, want: &[u8]) -> Option<()> {
    (v.get(at..at.checked_add(want.len())?)? == want).then_some(())
}

fn num(v: &[u8], at: usize, len: usize) -> Option<u32> {
    let n = digits_u64(v.get(at..at.checked_add(len)?)?)?;
    u32::try_from(n).ok()
}

/// `HH:MM:SS` at `at` → seconds into the day.
fn time_of_day(v: &[u8], at: usize) -> Option<i64> {
    let (h, m, s) = (num(v, at, 2)?, num(v, at + 3, 2)?, num(v, at + 6, 2)?);
    lit(v, at + 2, b":")?;
    lit(v, at + 5, b":")?;
    (h < 24 && m < 60 && s <= 60).then_some(i64::from(h * 3600 + m * 60 + s))
}

/// Seconds since the epoch (negative before 1970) of an already trimmed HTTP-date.
fn date_secs(v: &[u8], now_wall_ms: Option<u64>) -> Option<i64> {
    let (y, m, d, t) = if v.get(3) == Some(&b',') {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        if v.len() != 29 {
            return None;
        }
        short_day(v.get(..3)?)?;
        lit(v, 3, b", ")?;
        lit(v, 7, b" ")?;
        lit(v, 11, b" ")?;
        lit(v, 16, b" ")?;
        lit(v, 25, b" GMT")?;
        (
            i64::from(num(v, 12, 4)?),
            month(v.get(8..11)?)?,
            num(v, 5, 2)?,
            time_of_day(v, 17)?,
        )
    } else if v.get(3) == Some(&b' ') {
        // asctime: "Sun Nov  6 08:49:37 1994" (day is "DD" or " D")
        if v.len() != 24 {
            return None;
        }
        short_day(v.get(..3)?)?;
        lit(v, 7, b" ")?;
        lit(v, 10, b" ")?;
        lit(v, 19, b" ")?;
        let d = if v.get(8) == Some(&b' ') {
            num(v, 9, 1)?
        } else {
            num(v, 8, 2)?
        };
        (
            i64::from(num(v, 20, 4)?),
            month(v.get(4..7)?)?,
            d,
            time_of_day(v, 11)?,
        )
    } else {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        let comma = v.iter().position(|&b| b == b',')?;
        long_day(v.get(..comma)?)?;
        let r = v.get(comma..)?;
        if r.len() != 24 {
            return None;
        }
        lit(r, 0, b", ")?;
        lit(r, 4, b"-")?;
        lit(r, 8, b"-")?;
        lit(r, 11, b" ")?;
        lit(r, 20, b" GMT")?;
        let yy = i64::from(num(r, 9, 2)?);
        (
            two_digit_year(yy, now_wall_ms),
            month(r.get(5..8)?)?,
            num(r, 2, 2)?,
            time_of_day(r, 12)?,
        )
    };
    if d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) * SECS_PER_DAY + t)
}

/// RFC 9110 §5.6.7: the year ending in `yy` that is at most 50 years in the future of now and
/// less than 50 years in its past; without a clock, POSIX's 1969–2068.
fn two_digit_year(yy: i64, now_wall_ms: Option<u64>) -> i64 {
    let Some(now) = now_wall_ms else {
        return if yy >= 69 { 1900 + yy } else { 2000 + yy };
    };
    let current = year_from_days(i64::try_from(now / MS_PER_DAY).unwrap_or(i64::MAX / 2));
    let mut y = current - current.rem_euclid(100) + yy;
    if y > current + 50 {
        y -= 100;
    } else if y <= current - 50 {
        y += 100;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_6_1994: u64 = 784_111_777_000;

    #[test]
    fn all_three_forms_agree() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  sun, 06 nov 1994 08:49:37 GMT\t",
        ] {
            assert_eq!(parse_http_date(s), Some(NOV_6_1994), "{s}");
            assert_eq!(
                parse_http_date_at(s, 1_700_000_000_000),
                Some(NOV_6_1994),
                "{s}"
            );
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }

    #[test]
    fn calendar_is_validated() {
        assert!(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").is_some());
        assert!(parse_http_date("Wed, 29 Feb 2023 00:00:00 GMT").is_none());
        assert!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT").is_some());
        assert!(parse_http_date("Mon, 29 Feb 1900 00:00:00 GMT").is_none());
        assert!(parse_http_date("Mon, 31 Apr 2024 00:00:00 GMT").is_none());
        assert!(parse_http_date("Mon, 00 Apr 2024 00:00:00 GMT").is_none());
        assert!(parse_http_date("Mon, 01 Apr 2024 24:00:00 GMT").is_none());
        assert!(parse_http_date("Mon, 01 Apr 2024 23:60:00 GMT").is_none());
        assert!(parse_http_date("Mon, 01 Apr 2024 23:59:61 GMT").is_none());
        assert!(parse_http_date("Mon, 01 Apr 2024 23:59:60 GMT").is_some());
        assert!(parse_http_date("Mon, 01 Foo 2024 00:00:00 GMT").is_none());
        assert!(parse_http_date("Mon, 01 Apr 2024 00:00:00 UTC").is_none());
        assert!(parse_http_date("Xyz, 01 Apr 2024 00:00:00 GMT").is_none());
        assert!(parse_http_date("Sun Nov 6  08:49:37 1994").is_none());
    }

    #[test]
    fn two_digit_years_follow_rfc_9110() {
        let in_2025 = parse_http_date("Wed, 01 Jan 2025 00:00:00 GMT").unwrap();
        let y = |s: &str, now| {
            parse_http_date_at(s, now).map(|ms| year_from_days((ms / MS_PER_DAY) as i64))
        };
        assert_eq!(y("Friday, 01-Jan-94 00:00:00 GMT", in_2025), Some(1994));
        assert_eq!(y("Monday, 01-Jan-75 00:00:00 GMT", in_2025), Some(2075)); // exactly 50 years ahead
        assert_eq!(y("Monday, 01-Jan-76 00:00:00 GMT", in_2025), Some(1976));
        let in_2099 = days_from_civil(2099, 6, 1) as u64 * MS_PER_DAY;
        assert_eq!(y("Monday, 01-Jan-10 00:00:00 GMT", in_2099), Some(2110));
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000i64..3_000_000).step_by(997) {
            let y = year_from_days(days);
            assert!(
                days_from_civil(y, 1, 1) <= days && days < days_from_civil(y + 1, 1, 1),
                "{days}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 5 ", 0), Some(5000));
        assert_eq!(parse_retry_after("0", 0), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(u64::MAX)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOV_6_1994),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", NOV_6_1994),
            Some(0)
        );
        for bad in ["", " ", "-1", "1.5", "5s", "+5", "1 2"] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
        }
    }
}
