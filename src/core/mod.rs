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
    let tail = v.get_mut(i..)?;
    // Bubble the element to the end (k < tail.len(): the swaps cannot fail), then pop it.
    for k in 1..tail.len() {
        tail.swap(k - 1, k);
    }
    if tail.is_empty() {
        return None;
    }
    v.pop()
}

#[cfg(test)]
mod tests {
    #[test]
    fn remove_at_is_remove_or_none() {
        for len in 0..5usize {
            for i in 0..6usize {
                let mut v: Vec<usize> = (0..len).collect();
                let mut want = v.clone();
                let got = super::remove_at(&mut v, i);
                let expected = (i < len).then(|| want.remove(i));
                assert_eq!((got, v), (expected, want), "len {len}, i {i}");
            }
        }
    }
}
