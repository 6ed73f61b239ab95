//! Size discipline (STYLE.md §0, issue 13 "Load only what you use"): the policy code in
//! `src/core/` avoids the patterns that pull library code into the wasm. Each one below was
//! measured: `clamp` kept `u64`'s `Debug` formatting alive through its `min > max` panic message,
//! and one `sort_unstable` brought ~1.8 KB gzip of library sort. A source check is deterministic
//! and takes milliseconds; it cannot see what the optimiser keeps, so `twiggy` stays the way to
//! measure (see the diet notes in issue 13).

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
