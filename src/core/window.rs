//! Sliding windows of two counters (calls and the ones that count: accepts, failures), by time
//! (fixed buckets) or by the last N calls. Used by adaptive throttling and failure-rate breakers.
//!
//! ```
//! use resource_guard::core::window::TimeWindow;
//! use resource_guard::core::time::Millis;
//! let mut w = TimeWindow::new(120_000);
//! w.add(Millis(0), 1, 0);
//! w.add(Millis(5_000), 1, 1);
//! assert_eq!(w.counts(Millis(5_000)), (2, 1));
//! assert_eq!(w.counts(Millis(200_000)), (0, 0));       // both slid out
//! ```
//!
//! A time window is [`BUCKETS`] buckets of `window_ms / BUCKETS` each (like cockatiel's
//! `SamplingBreaker` and gRPC's load reports): memory is fixed, and a call counts for between
//! `window_ms - bucket` and `window_ms` after it happened. No clock is read: every call takes `now`.

use std::collections::VecDeque;

use super::time::Millis;

/// Buckets per time window: 12 (a 2-minute window moves in 10-second steps).
pub const BUCKETS: usize = 12;
/// Longest count-based window: 10 000 calls (one bit each in spirit; a byte each here).
pub const MAX_WINDOW_CALLS: u32 = 10_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    /// `now / bucket_ms` of the bucket's period.
    epoch: u64,
    total: u32,
    marked: u32,
}

/// Calls and marked calls over the last `window_ms` (bucketed).
#[derive(Clone, Debug)]
pub struct TimeWindow {
    /// Non-zero by type: the divisions below carry no division-by-zero panic.
    bucket_ms: std::num::NonZeroU64,
    buckets: [Bucket; BUCKETS],
}

impl TimeWindow {
    /// A window of `window_ms` (at least [`BUCKETS`] ms).
    #[must_use]
    pub fn new(window_ms: u64) -> Self {
        TimeWindow {
            bucket_ms: std::num::NonZeroU64::new(window_ms / BUCKETS as u64)
                .unwrap_or(std::num::NonZeroU64::MIN),
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    /// The window's length, ms.
    #[must_use]
    pub fn window_ms(&self) -> u64 {
        self.bucket_ms.get() * BUCKETS as u64
    }

    /// Adds `total` calls of which `marked` counted, at `now`.
    pub fn add(&mut self, now: Millis, total: u32, marked: u32) {
        let epoch = now.0 / self.bucket_ms;
        let i = (epoch % BUCKETS as u64) as usize;
        if let Some(b) = self.buckets.get_mut(i) {
            if b.epoch != epoch {
                *b = Bucket {
                    epoch,
                    total: 0,
                    marked: 0,
                };
            }
            b.total = b.total.saturating_add(total);
            b.marked = b.marked.saturating_add(marked);
        }
    }

    /// `(calls, marked)` in the window ending at `now`.
    #[must_use]
    pub fn counts(&self, now: Millis) -> (u32, u32) {
        let epoch = now.0 / self.bucket_ms;
        let mut t = 0u32;
        let mut m = 0u32;
        for b in &self.buckets {
            if b.epoch <= epoch && b.epoch + (BUCKETS as u64) > epoch {
                t = t.saturating_add(b.total);
                m = m.saturating_add(b.marked);
            }
        }
        (t, m)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }

    /// True when nothing is counted at `now` (the owner is indistinguishable from new).
    #[must_use]
    pub fn is_empty(&self, now: Millis) -> bool {
        self.counts(now) == (0, 0)
    }
}

/// Calls and marked calls over the last `size` calls.
#[derive(Clone, Debug)]
pub struct CountWindow {
    size: u32,
    calls: VecDeque<bool>,
    marked: u32,
}

impl CountWindow {
    /// The last `size` calls (1..=[`MAX_WINDOW_CALLS`]; out of range values are brought in).
    #[must_use]
    pub fn new(size: u32) -> Self {
        CountWindow {
            size: if size > MAX_WINDOW_CALLS {
                MAX_WINDOW_CALLS
            } else {
                size.max(1)
            },
            calls: VecDeque::new(),
            marked: 0,
        }
    }

    /// Records one call; `marked` says whether it counts.
    pub fn record(&mut self, marked: bool) {
        if self.calls.len() >= self.size as usize {
            if let Some(true) = self.calls.pop_front() {
                self.marked = self.marked.saturating_sub(1);
            }
        }
        self.calls.push_back(marked);
        if marked {
            self.marked += 1;
        }
    }

    /// `(calls, marked)` in the window.
    #[must_use]
    pub fn counts(&self) -> (u32, u32) {
        (self.calls.len() as u32, self.marked)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.calls.clear();
        self.marked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_slides_out_after_one_window() {
        let mut w = TimeWindow::new(12_000); // 1 s buckets
        w.add(Millis(500), 1, 1);
        assert_eq!(w.counts(Millis(11_999)), (1, 1));
        assert_eq!(w.counts(Millis(12_000)), (0, 0));
        // A bucket reused by a later period starts from zero.
        w.add(Millis(12_100), 1, 0);
        assert_eq!(w.counts(Millis(12_100)), (1, 0));
    }

    #[test]
    fn count_window_keeps_the_last_calls() {
        let mut w = CountWindow::new(3);
        for m in [true, true, false, false] {
            w.record(m);
        }
        assert_eq!(w.counts(), (3, 1));
        w.record(false);
        assert_eq!(w.counts(), (3, 0));
        let mut z = CountWindow::new(0);
        z.record(true);
        assert_eq!(z.counts(), (1, 1));
    }
}
