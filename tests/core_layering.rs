//! The layering rule of STYLE.md: `src/core/` is pure policy and never names a browser crate, so
//! it builds and tests on the host with a manual clock.

use std::fs;
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/core exists") {
        let path = entry.expect("readable").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_never_names_a_browser_crate_or_a_real_clock() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core"),
        &mut files,
    );
    assert!(files.len() >= 5, "src/core looks empty: {files:?}");
    let banned = [
        "wasm_bindgen",
        "js_sys",
        "web_sys",
        "gloo",
        "serde_wasm_bindgen",
        "crate::web",
        "crate::api",
        "Instant::now",
        "SystemTime::now",
    ];
    let mut offences = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).expect("utf-8 source");
        for b in banned {
            if text.contains(b) {
                offences.push(format!("{} names `{b}`", f.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}
