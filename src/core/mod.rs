//! Pure, clock-injected policy. Nothing here may name a browser crate (a test enforces it).

pub mod adaptive;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod defaults;
pub mod engine;
pub mod error;
pub mod heap;
pub mod json;
pub mod rate_limit;
pub mod report;
pub mod retry;
pub mod rng;
pub mod time;
pub mod upload;
pub mod window;

/// `v.remove(i)` (order kept) without its panic branch, whose formatted message keeps
/// `core::fmt` in the wasm: `None` when `i` is out of range. O(len), like `remove`.
pub(crate) fn remove_at<T>(v: &mut Vec<T>, i: usize) -> Option<T> {
    if i >= v.len() {
        return None;
    }
    let mut out = None;
    let mut k = 0usize;
    // In-place collect: the allocation is reused.
    *v = std::mem::take(v)
        .into_iter()
        .filter_map(|x| {
            let hit = k == i;
            k = k.wrapping_add(1);
            if hit {
                out = Some(x);
                None
            } else {
                Some(x)
            }
        })
        .collect();
    out
}
