//! A sliding rate limiter for one category: never more than `requests` starts in any window of
//! `per_ms`, at most `burst` back to back, and no start while the server asked us to wait.
//!
//! ```
//! use resource_guard::core::config::RateSpec;
//! use resource_guard::core::rate_limit::{LimitReason, RateLimiter};
//! use resource_guard::core::time::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(0);
//! let mut limiter = RateLimiter::new(RateSpec { requests: 2, per_ms: 1_000, burst: 2 });
//! assert!(limiter.try_acquire(clock.now()).is_ok());
//! assert!(limiter.try_acquire(clock.now()).is_ok());
//! let denied = limiter.try_acquire(clock.now()).unwrap_err();
//! assert_eq!(denied.reason, LimitReason::Window);
//! assert_eq!(denied.wait_time_from(clock.now()), 1_000);
//! clock.advance(1_000);
//! assert!(limiter.try_acquire(clock.now()).is_ok());
//!
//! // A 429 with `Retry-After: 5` blocks every start for 5 000 ms.
//! limiter.block_until(clock.now().plus(5_000));
//! assert_eq!(limiter.check(clock.now()).unwrap_err().reason, LimitReason::ServerHint);
//! ```
//!
//! # Rules, all of which must allow a start
//! - **Window** (exact sliding log): a start at `t` is allowed when fewer than `requests` starts
//!   lie in the half-open window `(t - per_ms, t]`. The log keeps the last `requests` start times
//!   only, so memory is bounded by `requests` whatever the caller does. A fixed window would let
//!   `2 × requests` through around a boundary; GCRA alone with `burst = requests` lets
//!   `2 × requests - 1` through in one window. The log lets neither.
//! - **Burst** (GCRA, only when `burst < requests`): after `burst` back-to-back starts, starts are
//!   spaced `per_ms / requests` apart. The theoretical arrival time is kept as whole ms plus a
//!   remainder in `1/requests` ms, so fractional intervals (1000/60 ms) never drift.
//! - **ServerHint**: [`RateLimiter::block_until`] (Retry-After on 429/503).
//! - **Paced**: [`RateLimiter::pace`] (the `RateLimit` / `X-RateLimit-*` headers).
//!
//! A clock that steps backwards is read as the latest start time seen, so a glitch can only delay
//! starts, never add any.

use super::config::RateSpec;
use super::time::Millis;
use std::collections::VecDeque;

/// Which rule denied a start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReason {
    /// `requests` starts already lie in the sliding window of `per_ms` ms.
    Window,
    /// The burst is used up; starts are spaced `per_ms / requests` ms apart.
    Burst,
    /// The server asked to wait (Retry-After), see [`RateLimiter::block_until`].
    ServerHint,
    /// The server's advertised quota is used up until its reset, see [`RateLimiter::pace`].
    Paced,
}

/// A denied start: no start is allowed before `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotUntil {
    /// The earliest time (ms, same clock as `now`) at which a start is allowed, if nothing else
    /// happens in between.
    pub at: Millis,
    /// The rule that holds the start back longest.
    pub reason: LimitReason,
}

impl NotUntil {
    /// Milliseconds from `now` until [`NotUntil::at`]; 0 when it has passed.
    #[must_use]
    pub fn wait_time_from(&self, now: Millis) -> u64 {
        now.until(self.at)
    }
}

/// A time in ms plus `rem / n` of a ms (`rem < n`), so GCRA spacing is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Frac {
    ms: u64,
    rem: u64,
}

impl Frac {
    /// `ms / n` as whole ms plus remainder (`n >= 1`).
    fn ratio(ms: u64, n: u64) -> Frac {
        let n = n.max(1);
        Frac {
            ms: ms / n,
            rem: ms % n,
        }
    }

    fn add(self, other: Frac, n: u64) -> Frac {
        let rem = self.rem.saturating_add(other.rem);
        let (carry, rem) = if rem >= n { (1, rem - n) } else { (0, rem) };
        Frac {
            ms: self.ms.saturating_add(other.ms).saturating_add(carry),
            rem,
        }
    }

    /// `self - other`, saturating at zero.
    fn sub(self, other: Frac, n: u64) -> Frac {
        if self <= other {
            return Frac::default();
        }
        if self.rem >= other.rem {
            Frac {
                ms: self.ms - other.ms,
                rem: self.rem - other.rem,
            }
        } else {
            // self > other and self.rem < other.rem imply self.ms > other.ms.
            Frac {
                ms: self.ms - other.ms - 1,
                rem: self.rem + n - other.rem,
            }
        }
    }

    /// The first whole ms at or after this time.
    fn ceil(self) -> Millis {
        Millis(self.ms.saturating_add(u64::from(self.rem > 0)))
    }
}

/// The server's advertised quota: at most `remaining` more starts before `reset_at`.
#[derive(Clone, Copy, Debug)]
struct Pacing {
    remaining: u32,
    reset_at: Millis,
}

/// A sliding-window limiter with optional GCRA burst spacing and server hints. Memory: at most
/// `spec.requests` timestamps (8 bytes each).
#[derive(Clone, Debug)]
pub struct RateLimiter {
    spec: RateSpec,
    /// Start times (ms), oldest first, never more than `max(1, spec.requests)` of them.
    log: VecDeque<u64>,
    /// Requests per window after degradation: `max(1, requests × factor / 1000)`.
    eff_requests: u64,
    /// Burst after degradation, `1..=eff_requests`.
    eff_burst: u64,
    /// GCRA theoretical arrival time, in units of `1 / eff_requests` ms.
    tat: Frac,
    /// Retry-After block: no start before this time.
    server_block: Option<Millis>,
    pacing: Option<Pacing>,
}

impl RateLimiter {
    /// A limiter for `spec`. Out-of-range specs never panic: `requests = 0` acts as 1,
    /// `burst` is clamped to `1..=requests`, and `per_ms = 0` disables the limit.
    #[must_use]
    pub fn new(spec: RateSpec) -> Self {
        let mut limiter = RateLimiter {
            spec,
            log: VecDeque::new(),
            eff_requests: 1,
            eff_burst: 1,
            tat: Frac::default(),
            server_block: None,
            pacing: None,
        };
        limiter.apply_factor(1000);
        limiter
    }

    /// The spec the limiter was built with (unaffected by [`RateLimiter::set_rate_factor`]).
    #[must_use]
    pub fn spec(&self) -> RateSpec {
        self.spec
    }

    /// Whether a start is allowed at `now` (ms); does not consume it.
    ///
    /// # Errors
    /// [`NotUntil`] with the earliest allowed time and the rule that holds the start back longest.
    pub fn check(&self, now: Millis) -> Result<(), NotUntil> {
        // The raw `now`, not `effective_now`: a start logged later than `now` (a conservative
        // stamp) must never make a check optimistic.
        let mut worst: Option<NotUntil> = None;
        let mut consider = |at: Millis, reason: LimitReason| {
            // Ties go to the rule listed first (server hints before local rules).
            if at > now && !matches!(worst, Some(w) if w.at >= at) {
                worst = Some(NotUntil { at, reason });
            }
        };
        if let Some(until) = self.server_block {
            consider(until, LimitReason::ServerHint);
        }
        if let Some(p) = self.pacing {
            if p.remaining == 0 {
                consider(p.reset_at, LimitReason::Paced);
            }
        }
        if let Some(at) = self.window_free_at() {
            consider(at, LimitReason::Window);
        }
        if let Some(at) = self.burst_free_at() {
            consider(at, LimitReason::Burst);
        }
        match worst {
            None => Ok(()),
            Some(n) => Err(n),
        }
    }

    /// Records one start at `now` (ms). The caller checked first; an unchecked start is still
    /// recorded (it did happen), and the log still keeps at most `requests` entries.
    pub fn record_start(&mut self, now: Millis) {
        let now = self.effective_now(now);
        let cap = u64::from(self.spec.requests).max(1);
        while self.log.len() as u64 >= cap {
            self.log.pop_front();
        }
        self.log.push_back(now.0);

        let n = self.eff_requests;
        let start = Frac { ms: now.0, rem: 0 };
        let base = if self.tat > start { self.tat } else { start };
        self.tat = base.add(self.interval(), n);

        if let Some(p) = self.pacing.as_mut() {
            if now < p.reset_at {
                p.remaining = p.remaining.saturating_sub(1);
            }
        }
    }

    /// Moves the newest `count` logged starts to `to` if they are earlier (never earlier), for a
    /// driver that learns the real start time only after acting: a later stamp is always on the
    /// safe side of the window rule, measured where the requests really start. O(`count`).
    pub fn restamp_last(&mut self, count: usize, to: Millis) {
        for t in self.log.iter_mut().rev().take(count) {
            if *t < to.0 {
                *t = to.0;
            }
        }
    }

    /// [`RateLimiter::check`] then, when allowed, [`RateLimiter::record_start`].
    ///
    /// # Errors
    /// As [`RateLimiter::check`]; nothing is consumed then.
    pub fn try_acquire(&mut self, now: Millis) -> Result<(), NotUntil> {
        self.check(now)?;
        self.record_start(now);
        Ok(())
    }

    /// A server hint (Retry-After on 429/503): no start before `until` (ms). Keeps the later of
    /// an earlier block and this one.
    pub fn block_until(&mut self, until: Millis) {
        self.server_block = Some(self.server_block.map_or(until, |old| old.max(until)));
    }

    /// The server's quota headers (`RateLimit` / `X-RateLimit-*`): at most `remaining` more starts
    /// before `now + reset_ms` (ms). Once they are used, starts wait for the reset
    /// ([`LimitReason::Paced`]). Replaces any earlier pacing; `remaining = 0` blocks until the
    /// reset at once. Pacing ends at the reset.
    pub fn pace(&mut self, now: Millis, remaining: u32, reset_ms: u64) {
        self.pacing = Some(Pacing {
            remaining,
            reset_at: now.plus(reset_ms),
        });
    }

    /// Degrades the rate (heap pressure): `factor_permille / 1000` of the configured rate in the
    /// same window, at least 1 start per window; 1000 restores it. Values above 1000 act as 1000,
    /// so degradation never exceeds the configured rate. `burst` scales the same way.
    pub fn set_rate_factor(&mut self, factor_permille: u32) {
        self.apply_factor(factor_permille.min(1000));
    }

    /// Starts allowed per window after [`RateLimiter::set_rate_factor`] (snapshots, events).
    #[must_use]
    pub fn effective_requests(&self) -> u32 {
        u32::try_from(self.eff_requests).unwrap_or(u32::MAX)
    }

    /// Starts (count) in the window `(now - per_ms, now]`, for snapshots.
    #[must_use]
    pub fn starts_in_window(&self, now: Millis) -> u32 {
        let now = self.effective_now(now);
        let n = self
            .log
            .iter()
            .rev()
            .take_while(|&&s| s.saturating_add(self.spec.per_ms) > now.0)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The earliest time (ms) a start is allowed: `now` itself when one is allowed now.
    #[must_use]
    pub fn next_free_at(&self, now: Millis) -> Millis {
        match self.check(now) {
            Ok(()) => now,
            Err(n) => n.at,
        }
    }

    /// The end (ms) of an active server block or used-up pacing, if one is in force at `now`.
    #[must_use]
    pub fn blocked_until(&self, now: Millis) -> Option<Millis> {
        let now = self.effective_now(now);
        let hint = self.server_block.filter(|&u| u > now);
        let paced = self
            .pacing
            .filter(|p| p.remaining == 0 && p.reset_at > now)
            .map(|p| p.reset_at);
        match (hint, paced) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// `now`, or the latest recorded start if the clock stepped back behind it.
    fn effective_now(&self, now: Millis) -> Millis {
        match self.log.back() {
            Some(&last) if last > now.0 => Millis(last),
            _ => now,
        }
    }

    /// When the oldest of the last `eff_requests` starts leaves the window; `None` when fewer
    /// starts are logged.
    fn window_free_at(&self) -> Option<Millis> {
        let len = self.log.len() as u64;
        if len < self.eff_requests {
            return None;
        }
        let idx = usize::try_from(len - self.eff_requests).ok()?;
        self.log
            .get(idx)
            .map(|&s| Millis(s.saturating_add(self.spec.per_ms)))
    }

    /// The GCRA allowance: `tat - (burst - 1) × interval`, rounded up to whole ms.
    fn burst_free_at(&self) -> Option<Millis> {
        if self.eff_burst >= self.eff_requests {
            return None;
        }
        let n = self.eff_requests;
        let i = self.interval();
        // (burst - 1) × (ms + rem / n), computed without overflow of the remainder part.
        let k = self.eff_burst - 1;
        let rems = k.saturating_mul(i.rem);
        let tolerance = Frac {
            ms: k.saturating_mul(i.ms).saturating_add(rems / n),
            rem: rems % n,
        };
        Some(self.tat.sub(tolerance, n).ceil())
    }

    /// The GCRA emission interval `per_ms / eff_requests`.
    fn interval(&self) -> Frac {
        Frac::ratio(self.spec.per_ms, self.eff_requests)
    }

    fn apply_factor(&mut self, factor_permille: u32) {
        let requests = u64::from(self.spec.requests).max(1);
        let burst = u64::from(self.spec.burst).max(1).min(requests);
        let factor = u64::from(factor_permille);
        let new_n = (requests * factor / 1000).max(1);
        let new_burst = (burst * factor / 1000).max(1).min(new_n);
        let old_n = self.eff_requests.max(1);
        if new_n != old_n {
            // Re-express the remainder in 1/new_n ms, rounding up so no start comes early.
            // rem < old_n <= u32::MAX and new_n <= u32::MAX, so the product fits in u64.
            let scaled = self.tat.rem.saturating_mul(new_n);
            let rem = scaled / old_n + u64::from(scaled % old_n > 0);
            self.tat = if rem >= new_n {
                Frac {
                    ms: self.tat.ms.saturating_add(1),
                    rem: 0,
                }
            } else {
                Frac {
                    ms: self.tat.ms,
                    rem,
                }
            };
        }
        self.eff_requests = new_n;
        self.eff_burst = new_burst;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(requests: u32, per_ms: u64, burst: u32) -> RateSpec {
        RateSpec {
            requests,
            per_ms,
            burst,
        }
    }

    #[test]
    fn frac_arithmetic_carries_and_saturates() {
        let n = 60;
        let i = Frac::ratio(1000, n);
        assert_eq!(i, Frac { ms: 16, rem: 40 });
        let two = i.add(i, n);
        assert_eq!(two, Frac { ms: 33, rem: 20 });
        assert_eq!(two.ceil(), Millis(34));
        assert_eq!(two.sub(i, n), i);
        assert_eq!(i.sub(two, n), Frac::default());
        assert_eq!(
            Frac { ms: 5, rem: 0 }.sub(Frac { ms: 4, rem: 30 }, n),
            Frac { ms: 0, rem: 30 }
        );
        let big = Frac {
            ms: u64::MAX,
            rem: 59,
        };
        assert_eq!(big.add(i, n).ms, u64::MAX);
    }

    #[test]
    fn hostile_specs_do_not_panic() {
        for s in [
            spec(0, 0, 0),
            spec(0, 1000, 5),
            spec(1, u64::MAX, 0),
            spec(u32::MAX, u64::MAX, 1),
            spec(3, 0, 1),
        ] {
            let mut l = RateLimiter::new(s);
            for t in [0, 1, u64::MAX - 1, u64::MAX, 5] {
                let _ = l.try_acquire(Millis(t));
                l.record_start(Millis(t));
                let _ = l.next_free_at(Millis(t));
                let _ = l.starts_in_window(Millis(t));
            }
            l.set_rate_factor(0);
            l.set_rate_factor(u32::MAX);
            l.pace(Millis(u64::MAX), u32::MAX, u64::MAX);
            l.block_until(Millis(u64::MAX));
            let _ = l.check(Millis(0));
            let _ = l.blocked_until(Millis(0));
        }
    }

    #[test]
    fn zero_window_means_no_limit() {
        let mut l = RateLimiter::new(spec(1, 0, 1));
        for _ in 0..100 {
            assert!(l.try_acquire(Millis(7)).is_ok());
        }
    }

    #[test]
    fn log_never_exceeds_requests_entries() {
        let mut l = RateLimiter::new(spec(5, 1000, 5));
        for t in 0..100 {
            l.record_start(Millis(t));
        }
        assert_eq!(l.log.len(), 5);
        l.set_rate_factor(200);
        for t in 100..200 {
            l.record_start(Millis(t));
        }
        assert_eq!(l.log.len(), 5);
    }

    #[test]
    fn factor_change_rounds_remainder_up() {
        let mut l = RateLimiter::new(spec(60, 1000, 10));
        l.tat = Frac { ms: 10, rem: 1 };
        l.set_rate_factor(500);
        assert_eq!(l.eff_requests, 30);
        assert_eq!(l.tat, Frac { ms: 10, rem: 1 });
        l.tat = Frac { ms: 10, rem: 29 };
        l.set_rate_factor(1000);
        assert_eq!(l.tat, Frac { ms: 10, rem: 58 });
        l.tat = Frac { ms: 10, rem: 59 };
        l.set_rate_factor(10);
        assert_eq!((l.eff_requests, l.tat), (1, Frac { ms: 11, rem: 0 }));
    }
}
