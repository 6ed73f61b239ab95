//! The layering rule of STYLE.md: `src/core/` is pure policy and never names a browser crate, so
//! it builds and tests on the host with a manual clock.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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

/// One wasm per capability (issue 13): a `#[wasm_bindgen]` export in the shared rlib would be
/// exported (and kept) by every capability's wasm, so the rlib (src/core, src/web) only imports
/// from JS (`extern` blocks); each file of src/api/ is compiled by exactly one thin crate in
/// crates/, and the cache's and the uploader's crates compile nothing of the request guard's.
#[test]
fn each_wasm_export_lives_in_one_capability_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut shared = Vec::new();
    rust_files(&root.join("src/core"), &mut shared);
    rust_files(&root.join("src/web"), &mut shared);
    for f in &shared {
        let text = fs::read_to_string(f).expect("utf-8 source");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("#[wasm_bindgen") {
                // Only imports: the next item must be an `extern "C"` block (or another attribute
                // of one, or an item inside one).
                let next = lines[i + 1..]
                    .iter()
                    .find(|n| !n.starts_with("#[") && !n.starts_with("///"))
                    .copied()
                    .unwrap_or("");
                let inside_extern = lines[..i]
                    .iter()
                    .rev()
                    .find(|p| p.starts_with("extern \"C\"") || *p == &"}")
                    .is_some_and(|p| p.starts_with("extern"));
                assert!(
                    next.starts_with("extern \"C\"") || inside_extern,
                    "{}:{}: a #[wasm_bindgen] export in the shared rlib",
                    f.display(),
                    i + 1
                );
            }
        }
    }
    let lib = fs::read_to_string(root.join("src/lib.rs")).expect("src/lib.rs");
    assert!(
        !lib.contains("mod api"),
        "src/lib.rs must not compile src/api (each capability crate does)"
    );
    let mut api = Vec::new();
    rust_files(&root.join("src/api"), &mut api);
    let crates: Vec<(String, String)> = ["guard-wasm", "cache-wasm", "upload-wasm"]
        .iter()
        .map(|c| {
            (
                c.to_string(),
                fs::read_to_string(root.join("crates").join(c).join("src/lib.rs"))
                    .expect("crate lib.rs"),
            )
        })
        .collect();
    for f in &api {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let users: Vec<&str> = crates
            .iter()
            .filter(|(_, t)| t.contains(&format!("src/api/{name}\"")))
            .map(|(c, _)| c.as_str())
            .collect();
        // mod.rs (the guard's surface) may declare submodules of its own; a file it declares is
        // compiled through it, by the guard's crate.
        let through_guard = name != "mod.rs"
            && fs::read_to_string(root.join("src/api/mod.rs"))
                .is_ok_and(|m| m.contains(&format!("mod {};", name.trim_end_matches(".rs"))));
        assert_eq!(users.len() + usize::from(through_guard), 1, "src/api/{name} is compiled by {users:?} (guard through mod.rs: {through_guard}); it must be exactly one crate");
    }
    for (c, t) in &crates[1..] {
        assert!(
            !t.contains("src/api/mod.rs"),
            "{c} compiles the request guard's surface"
        );
    }
}

// Size discipline (STYLE.md §0, issue 13 "Load only what you use"): the policy code in
// `src/core/` avoids the patterns that pull library code into the wasm. Each one below was
// measured: `clamp` kept `u64`'s `Debug` formatting alive through its `min > max` panic message,
// and one `sort_unstable` brought ~1.8 KB gzip of library sort. A source check is deterministic
// and takes milliseconds; it cannot see what the optimiser keeps, so `twiggy` stays the way to
// measure (see the diet notes in issue 13).

/// The non-test code of a file, comments dropped: everything before its first `#[cfg(test)]`.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_owned()))
        .collect()
}

const BANNED: [(&str, &str); 12] = [
    (
        ".clamp(",
        "use max/min: clamp's panic branch formats its bounds",
    ),
    (".sort(", "keep the order incrementally or use cache::order"),
    (
        ".sort_unstable",
        "keep the order incrementally or use cache::order",
    ),
    (
        ".sort_by",
        "keep the order incrementally or use cache::order",
    ),
    (
        "format!(",
        "no core::fmt: write with json::JsonWriter or push_str",
    ),
    (
        "write!(",
        "no core::fmt: write with json::JsonWriter or push_str",
    ),
    (".to_string()", "no core::fmt: to_owned / JsonWriter::u64"),
    (
        ".remove(0)",
        "a formatted panic branch: pop_front, remove_at or iterate",
    ),
    (
        ".insert(0,",
        "a formatted panic branch: push + rotate, or a VecDeque",
    ),
    (
        ".unwrap()",
        "typed errors, or unwrap_or on a path that cannot fail",
    ),
    (
        ".expect(",
        "typed errors, or unwrap_or on a path that cannot fail",
    ),
    ("panic!(", "never a panic reachable from hostile input"),
];

#[test]
fn core_policy_code_avoids_patterns_that_pull_in_library_code() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core"),
        &mut files,
    );
    assert!(files.len() >= 5, "src/core looks empty: {files:?}");
    let mut offences = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).expect("utf-8 source");
        for (n, line) in code_lines(&text) {
            for (pat, why) in BANNED {
                if line.contains(pat) {
                    offences.push(format!("{}:{n}: `{pat}`: {why}", f.display()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "size patterns in src/core:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_sees_code_and_skips_comments_and_tests() {
    let src =
        "let a = x.clamp(1, 2); // y.sort()\n/// z.unwrap()\n#[cfg(test)]\nfn t() { v.sort(); }\n";
    let lines = code_lines(src);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].1.contains(".clamp("));
    assert!(!lines
        .iter()
        .any(|(_, l)| l.contains("sort") || l.contains("unwrap")));
}
