//! Throttles retries per service, gRPC style: retries may add only a fraction of the requests.
//!
//! ```
//! use resource_guard::core::retry::budget::RetryBudget;
//! use resource_guard::core::time::Millis;
//! // 20 % of requests, at least 1 retry per second, over 10 s.
//! let mut budget = RetryBudget::new(0.2, 1, 10_000);
//! let now = Millis(0);
//! for _ in 0..100 {
//!     budget.record_request(now);
//! }
//! assert_eq!(budget.available(now), 20);
//! assert!(budget.try_withdraw(now));
//! assert_eq!(budget.available(now), 19);
//! ```
//!
//! A retry is allowed while the retries counted in the window are fewer than
//! `max(min_per_sec · window_s, ratio · requests in the window)`. Counts live in [`BUCKETS`]
//! fixed time buckets of `window_ms / 10` each (bounded memory, like tower's `TpsBudget`), so an
//! event stops counting `window_ms` after the start of its bucket: between `window_ms - bucket`
//! and `window_ms` after it happened.

use crate::core::time::Millis;

/// Time buckets per window: 10.
pub const BUCKETS: usize = 10;

/// Shortest window, ms: 10 (one ms per bucket). Shorter windows are raised to it.
pub const MIN_WINDOW_MS: u64 = BUCKETS as u64;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// `now / bucket_ms` of the time this bucket counts for.
    index: u64,
    requests: u32,
    retries: u32,
}

/// Retry throttling for one service. Memory is fixed: [`BUCKETS`] counters.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u32,
    /// Non-zero by type: the divisions below carry no division-by-zero panic.
    bucket_ms: std::num::NonZeroU64,
    buckets: [Bucket; BUCKETS],
    /// Latest time seen, so a clock that steps back cannot resurrect or wipe counts.
    latest: u64,
}

impl RetryBudget {
    /// A budget allowing retries up to `ratio` (fraction, e.g. 0.2; NaN or negative → 0) of the
    /// requests, but always `min_per_sec` retries per second, counted over `window_ms` (at least
    /// [`MIN_WINDOW_MS`], rounded down to a multiple of [`BUCKETS`] ms).
    #[must_use]
    pub fn new(ratio: f64, min_per_sec: u32, window_ms: u64) -> Self {
        RetryBudget {
            ratio: if ratio > 0.0 { ratio } else { 0.0 },
            min_per_sec,
            bucket_ms: std::num::NonZeroU64::new(window_ms.max(MIN_WINDOW_MS) / BUCKETS as u64)
                .unwrap_or(std::num::NonZeroU64::MIN),
            buckets: [Bucket::default(); BUCKETS],
            latest: 0,
        }
    }

    /// The window actually used, ms (a multiple of [`BUCKETS`]).
    #[must_use]
    pub fn window_ms(&self) -> u64 {
        self.bucket_ms.get() * BUCKETS as u64
    }

    /// Counts one original request (not a retry) sent at `now`.
    pub fn record_request(&mut self, now: Millis) {
        self.with_current(now, |b| b.requests = b.requests.saturating_add(1));
    }

    /// Takes one retry from the budget at `now`; `false` (and nothing counted) when none is left.
    pub fn try_withdraw(&mut self, now: Millis) -> bool {
        if self.available(now) == 0 {
            return false;
        }
        self.with_current(now, |b| b.retries = b.retries.saturating_add(1));
        true
    }

    /// Retries still allowed in the window at `now` (for snapshots).
    #[must_use]
    pub fn available(&self, now: Millis) -> u32 {
        let (requests, retries) = self.totals(now);
        let floor = f64::from(self.min_per_sec) * self.window_ms() as f64 / 1000.0;
        // The epsilon keeps 0.2 · 100 (20.000000000000004 or 19.99…) at exactly 20.
        let limit = (floor.max(self.ratio * requests as f64) + 1e-9) as u64;
        u32::try_from(limit.saturating_sub(retries)).unwrap_or(u32::MAX)
    }

    /// `true` when nothing counts in the window at `now`, so the budget equals a new one and the
    /// owner may drop it.
    #[must_use]
    pub fn is_fresh(&self, now: Millis) -> bool {
        self.totals(now) == (0, 0)
    }

    fn index(&self, now: Millis) -> u64 {
        now.0.max(self.latest) / self.bucket_ms
    }

    /// (requests, retries) in the window ending at `now`.
    fn totals(&self, now: Millis) -> (u64, u64) {
        let cur = self.index(now);
        let live = |b: &&Bucket| b.index <= cur && cur - b.index < BUCKETS as u64;
        self.buckets.iter().filter(live).fold((0, 0), |(q, r), b| {
            (q + u64::from(b.requests), r + u64::from(b.retries))
        })
    }

    /// Applies `f` to the bucket for `now`, recycling the slot if it holds an older bucket.
    fn with_current(&mut self, now: Millis, f: impl FnOnce(&mut Bucket)) {
        let index = self.index(now);
        self.latest = self.latest.max(now.0);
        let slot = usize::try_from(index % BUCKETS as u64).unwrap_or(0);
        if let Some(b) = self.buckets.get_mut(slot) {
            if b.index != index {
                *b = Bucket {
                    index,
                    requests: 0,
                    retries: 0,
                };
            }
            f(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_allows_min_per_sec_without_requests() {
        let mut b = RetryBudget::new(0.2, 1, 10_000);
        assert_eq!(b.available(Millis(0)), 10);
        for _ in 0..10 {
            assert!(b.try_withdraw(Millis(5)));
        }
        assert!(!b.try_withdraw(Millis(5)));
        assert!(!b.is_fresh(Millis(5)));
        assert!(b.is_fresh(Millis(10_000)));
    }

    #[test]
    fn clock_stepping_back_keeps_counts() {
        let mut b = RetryBudget::new(1.0, 0, 1_000);
        b.record_request(Millis(5_000));
        b.record_request(Millis(100));
        assert_eq!(b.available(Millis(100)), 2);
        assert_eq!(b.available(Millis(5_999)), 2);
        assert_eq!(b.available(Millis(6_000)), 0);
    }

    #[test]
    fn degenerate_parameters_do_not_panic() {
        let mut b = RetryBudget::new(f64::NAN, u32::MAX, 0);
        assert_eq!(b.window_ms(), 10);
        b.record_request(Millis(u64::MAX));
        assert!(b.try_withdraw(Millis(u64::MAX)));
        let b = RetryBudget::new(f64::INFINITY, 0, u64::MAX);
        assert_eq!(b.available(Millis(0)), 0);
    }
}
