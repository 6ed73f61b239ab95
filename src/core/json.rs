//! A small, bounded JSON reader and writer for hostile input (options, server error bodies,
//! stored records) without serde or `core::fmt`, both of which would dominate the wasm binary.
//!
//! ```
//! use resource_guard::core::json::{parse, Value};
//! let v = parse(r#"{"retryable": false, "retryAfterMs": 1500}"#).unwrap();
//! assert_eq!(v.get("retryable"), Some(&Value::Bool(false)));
//! assert_eq!(v.get("retryAfterMs").and_then(Value::as_f64), Some(1500.0));
//! ```
//!
//! Limits: at most [`MAX_DEPTH`] nesting levels and [`MAX_NODES`] values; callers cap the input
//! length (the driver reads at most a few KiB of a body). Anything else is a [`JsonError`], never
//! a panic.

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Most values (of any kind) accepted in one document.
pub const MAX_NODES: usize = 20_000;

/// A parsed JSON value. Objects keep their keys in order; `get` returns the last duplicate, as
/// `JSON.parse` does.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number (always finite).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object.
    Obj(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object (the last one if duplicated).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number, if this is one.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// Why a document was rejected; `at` is the byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// Parses one JSON document (RFC 8259) with the limits above.
///
/// # Errors
/// Malformed input, trailing data, nesting deeper than [`MAX_DEPTH`] or more than [`MAX_NODES`]
/// values.
pub fn parse(input: &str) -> Result<Value, JsonError> {
    let mut p = Parser {
        src: input,
        s: input.as_bytes(),
        i: 0,
        nodes: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing data"));
    }
    Ok(v)
}

struct Parser<'a> {
    /// The input as text: runs of plain characters are copied from it without re-validating.
    src: &'a str,
    s: &'a [u8],
    i: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError { at: self.i, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.s.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err("too many values"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Num),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Obj(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a key"));
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth)?;
            members.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Obj(members));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Arr(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            v = v * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain bytes at once (the input is valid UTF-8: it came as &str).
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The run ends before an ASCII byte (or at the end): a char boundary, so `get` succeeds.
            out.push_str(
                self.src
                    .get(start..self.i)
                    .ok_or_else(|| self.err("invalid UTF-8"))?,
            );
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unexpected end"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or_else(|| self.err("lone surrogate"))?);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn digits(&mut self, mantissa: &mut u64, sig: &mut u32, dropped: &mut i32) -> usize {
        let start = self.i;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if *sig < 19 {
                *mantissa = *mantissa * 10 + u64::from(c - b'0');
                if *mantissa != 0 {
                    *sig += 1;
                }
            } else {
                *dropped += 1;
            }
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<f64, JsonError> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let (mut m, mut sig, mut dropped) = (0u64, 0u32, 0i32);
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else if self.digits(&mut m, &mut sig, &mut dropped) == 0 {
            return Err(self.err("invalid number"));
        }
        let mut exp: i32 = dropped;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let mut frac_dropped = 0;
            let before = sig;
            let n = self.digits(&mut m, &mut sig, &mut frac_dropped);
            if n == 0 {
                return Err(self.err("invalid number"));
            }
            // Digits kept after the point shift the exponent down.
            let kept = n as i32 - frac_dropped;
            let _ = before;
            exp -= kept;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            let eneg = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let mut e: i32 = 0;
            let start = self.i;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                e = e.saturating_mul(10).saturating_add(i32::from(c - b'0'));
                self.i += 1;
            }
            if self.i == start {
                return Err(self.err("invalid number"));
            }
            exp = exp.saturating_add(if eneg { -e } else { e });
        }
        let v = to_f64(m, exp);
        if !v.is_finite() {
            return Err(self.err("number out of range"));
        }
        Ok(if neg { -v } else { v })
    }
}

/// `m * 10^exp`, exact (correctly rounded) when `m < 2^53` and `|exp| <= 22`, close otherwise.
fn to_f64(m: u64, exp: i32) -> f64 {
    const P: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    if m == 0 {
        return 0.0;
    }
    let mut v = m as f64;
    let mut e = exp;
    while e > 22 {
        v *= 1e22;
        e -= 22;
        if v.is_infinite() {
            return v;
        }
    }
    while e < -22 {
        v /= 1e22;
        e += 22;
        if v == 0.0 {
            return 0.0;
        }
    }
    // -22 <= e <= 22 here; `get` keeps the (unreachable) panic branch out of the wasm.
    let p = |i: i32| P.get(i as usize).copied().unwrap_or(1e22);
    if e >= 0 {
        v * p(e)
    } else {
        v / p(-e)
    }
}

/// Appends JSON text to a `String` without `core::fmt`.
#[derive(Debug, Default)]
pub struct JsonWriter {
    /// The text written so far.
    pub out: String,
}

impl JsonWriter {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        JsonWriter { out: String::new() }
    }

    /// Writes raw JSON punctuation or pre-encoded text.
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.out.push_str(s);
        self
    }

    /// Writes `s` as a JSON string literal.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.out.push_str("\\u00");
                    self.out.push(HEX[(c as usize) >> 4] as char);
                    self.out.push(HEX[(c as usize) & 15] as char);
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
        self
    }

    /// Writes `"key":` (with a leading comma unless it opens the object).
    pub fn key(&mut self, k: &str) -> &mut Self {
        if !self.out.ends_with('{') && !self.out.ends_with('[') {
            self.out.push(',');
        }
        self.str(k);
        self.out.push(':');
        self
    }

    /// Writes an unsigned integer.
    pub fn u64(&mut self, mut n: u64) -> &mut Self {
        // Digits from the right; u64::MAX has 20, so `get` never misses (no panic branch).
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i = i.saturating_sub(1);
            if let Some(b) = buf.get_mut(i) {
                *b = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &b in buf.get(i..).unwrap_or(&[]) {
            self.out.push(b as char);
        }
        self
    }

    /// Writes a number: integers exactly, others with three decimals; non-finite as `null`.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        if !v.is_finite() {
            return self.raw("null");
        }
        if v < 0.0 {
            self.out.push('-');
        }
        let a = v.abs();
        if a >= 9.0e15 {
            return self.u64(a as u64);
        }
        let scaled = (a * 1000.0 + 0.5) as u64;
        self.u64(scaled / 1000);
        let frac = scaled % 1000;
        if frac != 0 {
            self.out.push('.');
            let digits = [frac / 100, (frac / 10) % 10, frac % 10];
            // Without trailing zeros; frac != 0, so at least the first digit stays.
            let end = if frac % 10 != 0 {
                3
            } else if frac % 100 != 0 {
                2
            } else {
                1
            };
            for d in digits.iter().take(end) {
                self.out.push((b'0' + *d as u8) as char);
            }
        }
        self
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.raw(if b { "true" } else { "false" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_documents() {
        let v = parse(
            r#" {"a": [1, -2.5e1, 0.7, "x\u00e9\ud83d\ude00\n"], "b": {"c": null}, "d": true} "#,
        )
        .unwrap();
        let a = v.get("a").unwrap();
        assert_eq!(
            a,
            &Value::Arr(vec![
                Value::Num(1.0),
                Value::Num(-25.0),
                Value::Num(0.7),
                Value::Str("xé😀\n".into())
            ])
        );
        assert_eq!(v.get("b").unwrap().get("c"), Some(&Value::Null));
        assert_eq!(v.get("d").and_then(Value::as_bool), Some(true));
    }

    #[test]
    fn numbers_round_like_javascript_for_config_values() {
        for (s, want) in [
            ("0.25", 0.25),
            ("0.7", 0.7),
            ("0.9", 0.9),
            ("52428800", 52_428_800.0),
            ("1e3", 1000.0),
            ("12345678901234567890123", 1.2345678901234568e22),
            ("1.5E-3", 0.0015),
        ] {
            assert_eq!(parse(s).unwrap(), Value::Num(want), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_and_hostile_input() {
        for s in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01x",
            "1.",
            "-",
            "\"\\ud800\"",
            "nul",
            "1 2",
            "1e999",
            "\"a\u{1}\"",
        ] {
            assert!(parse(s).is_err(), "{s:?} should fail");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep).unwrap_err().reason, "nested too deeply");
        let ok_deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok_deep).is_ok());
        let many = "[".to_owned() + &"0,".repeat(MAX_NODES) + "0]";
        assert_eq!(parse(&many).unwrap_err().reason, "too many values");
    }

    #[test]
    fn duplicate_keys_take_the_last_value() {
        assert_eq!(
            parse(r#"{"a":1,"a":2}"#).unwrap().get("a"),
            Some(&Value::Num(2.0))
        );
    }

    #[test]
    fn writer_round_trips_through_the_parser() {
        let mut w = JsonWriter::new();
        w.raw("{")
            .key("s")
            .str("q\"\\\u{1}é")
            .key("n")
            .u64(18_446_744_073_709_551_615)
            .key("f")
            .f64(-1.25)
            .key("b")
            .bool(true)
            .raw("}");
        let v = parse(&w.out).unwrap();
        assert_eq!(v.get("s").and_then(Value::as_str), Some("q\"\\\u{1}é"));
        assert_eq!(v.get("f").and_then(Value::as_f64), Some(-1.25));
        assert_eq!(w.out.matches(',').count(), 3);
    }
}
