//! The error-code table is shared by Rust and JavaScript: the wasm core sends codes as numbers
//! (`ErrorCode::as_u8`) and the driver names them from `CODES` in pkg-template/errors.js; the
//! TypeScript `ErrorCode` union documents them. This test fails when the lists drift apart
//! (issue 12).

use resource_guard::core::error::ErrorCode;
use std::fs;

fn quoted_codes(text: &str) -> Vec<String> {
    text.split('\'')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("ERR_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn js_codes_match_the_rust_codes_by_number() {
    let js = fs::read_to_string("pkg-template/errors.js").unwrap();
    let line = js
        .lines()
        .find(|l| l.starts_with("export const CODES = ["))
        .expect("errors.js exports CODES");
    let inner = &line[line.find('[').unwrap() + 1..line.rfind(']').unwrap()];
    // Slot 0 is a hole: codes start at 1.
    assert!(inner.starts_with(','), "CODES[0] must be empty: {inner}");
    let js_codes = quoted_codes(inner);
    let rust: Vec<(String, u8)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.as_u8()))
        .collect();
    assert_eq!(
        js_codes.len(),
        rust.len(),
        "JS {js_codes:?} vs Rust {rust:?}"
    );
    for (i, (name, n)) in rust.iter().enumerate() {
        assert_eq!(usize::from(*n), i + 1, "{name} is not numbered in order");
        assert_eq!(&js_codes[i], name, "CODES[{n}]");
    }
}

#[test]
fn the_typescript_union_names_every_code() {
    let dts = fs::read_to_string("pkg-template/index.d.ts").unwrap();
    let start = dts
        .find("export type ErrorCode =")
        .expect("index.d.ts has ErrorCode");
    let end = start + dts[start..].find(';').unwrap();
    let mut ts = quoted_codes(&dts[start..end]);
    let mut rust: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    ts.sort();
    rust.sort();
    assert_eq!(ts, rust);
}
