//! Protection that adapts to the backend: SRE client-side throttling per service and an adaptive
//! (CUBIC-like) rate per category. Both are small values driven with `now`; the engine composes
//! them (see `engine.rs` "# Order").
//!
//! ```
//! use resource_guard::core::adaptive::{AdaptiveRate, ClientThrottle};
//! use resource_guard::core::config::AdaptiveSpec;
//! use resource_guard::core::time::Millis;
//!
//! let spec = AdaptiveSpec { k: 2.0, window_ms: 120_000, min_rate: 0.1 };
//! let mut sre = ClientThrottle::new(spec);
//! for _ in 0..10 { sre.record_request(Millis(0)); }          // ten sent, none accepted
//! assert!((sre.reject_probability(Millis(0)) - 10.0 / 11.0).abs() < 1e-9);
//!
//! let mut rate = AdaptiveRate::new(spec, 60_000);
//! assert!(rate.on_throttled(Millis(0)));                      // a 429: the rate drops...
//! assert_eq!(rate.permille(Millis(0)), 700);
//! assert_eq!(rate.permille(Millis(600_000)), 1000);           // ...and recovers to the ceiling
//! ```
//!
//! # Client-side throttling (Google SRE book, "Handling Overload")
//! Over a sliding window (`windowMs`, default 2 minutes) each service counts *requests* (attempts
//! whose outcome is known, counted when it is, plus requests rejected locally) and *accepts* (answers that were not 429/503 and not a
//! network failure or attempt timeout). A new request is rejected locally with probability
//! `max(0, (requests - K·accepts) / (requests + 1))`. With `K = 2` nothing is rejected until the
//! backend sheds more than half of what it gets; during a full outage almost everything is
//! rejected locally, yet a trickle still reaches the backend and sees it recover.
//!
//! # Adaptive rate (AWS SDK adaptive retry mode, TCP CUBIC)
//! A throttling answer (429, or 503 with a hint) multiplies the category's rate by
//! [`crate::core::defaults::ADAPTIVE_BETA`] (at most once per
//! [`crate::core::defaults::ADAPTIVE_DECREASE_GUARD_MS`], so a volley of answers to requests sent
//! together counts once), never below `minRate` of the configured rate. Then it grows back along
//! `W(t) = C·(t − K)³ + W_max`, `K = ∛(W_max·(1 − β)/C)`, with `W` the fraction of the configured
//! rate and `t` counted in windows of the category (its `perMs`, at most one minute), so a
//! category recovers on its own time scale: about one window back to `W_max`, about two from the
//! floor to the configured rate, which is always the ceiling.

use super::config::AdaptiveSpec;
use super::defaults as d;
use super::time::Millis;
use super::window::TimeWindow;

/// Per-service SRE client-side throttle.
#[derive(Clone, Debug)]
pub struct ClientThrottle {
    k: f64,
    window: TimeWindow,
}

impl ClientThrottle {
    /// A throttle with nothing counted.
    #[must_use]
    pub fn new(spec: AdaptiveSpec) -> Self {
        ClientThrottle {
            k: spec.k,
            window: TimeWindow::new(spec.window_ms),
        }
    }

    /// The probability that a new request is rejected at `now`, in `[0, 1)`.
    #[must_use]
    pub fn reject_probability(&self, now: Millis) -> f64 {
        let (requests, accepts) = self.window.counts(now);
        let r = f64::from(requests);
        let p = (r - self.k * f64::from(accepts)) / (r + 1.0);
        if p > 0.0 {
            p
        } else {
            0.0
        }
    }

    /// Decides a new request with `u` uniform in `[0, 1)`: true to reject it locally (it then
    /// counts as a request, as in the SRE formula). `u` is drawn only when the probability is
    /// positive, so a healthy service never consumes randomness.
    pub fn should_reject(&mut self, now: Millis, draw: impl FnOnce() -> f64) -> bool {
        let p = self.reject_probability(now);
        if p > 0.0 && draw() < p {
            self.window.add(now, 1, 0);
            return true;
        }
        false
    }

    /// An attempt's outcome came at `now` (counted then, so attempts in flight do not count).
    pub fn record_request(&mut self, now: Millis) {
        self.window.add(now, 1, 0);
    }

    /// An attempt's answer was accepted by the backend at `now`.
    pub fn record_accept(&mut self, now: Millis) {
        self.window.add(now, 0, 1);
    }

    /// `(requests, accepts)` in the window (snapshot).
    #[must_use]
    pub fn counts(&self, now: Millis) -> (u32, u32) {
        self.window.counts(now)
    }

    /// True when nothing is counted (prunable).
    #[must_use]
    pub fn is_fresh(&self, now: Millis) -> bool {
        self.window.is_empty(now)
    }
}

/// Whether an answer counts as accepted by the backend (SRE): anything but 429, 503, a network
/// failure (`0`) or an attempt timeout (`1`).
#[must_use]
pub fn is_accept(status: u16) -> bool {
    !matches!(status, 0 | 1 | 429 | 503)
}

/// Whether an answer is a throttling answer that lowers the adaptive rate: 429, or 503 with a
/// server hint (Retry-After or a JSON `retryAfterMs`).
#[must_use]
pub fn is_throttling(status: u16, has_hint: bool) -> bool {
    status == 429 || (status == 503 && has_hint)
}

/// A category's adaptive rate, as a fraction of its configured rate.
#[derive(Clone, Debug)]
pub struct AdaptiveRate {
    min: f64,
    /// Time unit of the curve, ms (the category's window, at most a minute).
    unit_ms: f64,
    /// The fraction just before the last decrease.
    w_max: f64,
    /// When the last decrease happened; `None`: never (full rate).
    since: Option<Millis>,
    /// The permille last handed to the rate limiter.
    applied: u32,
}

impl AdaptiveRate {
    /// At the configured rate; `per_ms` is the category's window.
    #[must_use]
    pub fn new(spec: AdaptiveSpec, per_ms: u64) -> Self {
        let unit = if per_ms > d::ADAPTIVE_MAX_UNIT_MS {
            d::ADAPTIVE_MAX_UNIT_MS
        } else {
            per_ms.max(1)
        };
        AdaptiveRate {
            min: if spec.min_rate > 0.0 && spec.min_rate <= 1.0 {
                spec.min_rate
            } else {
                d::ADAPTIVE_MIN_RATE
            },
            unit_ms: unit as f64,
            w_max: 1.0,
            since: None,
            applied: 1000,
        }
    }

    /// The fraction of the configured rate in force at `now`, in `[minRate, 1]`.
    #[must_use]
    pub fn factor(&self, now: Millis) -> f64 {
        let Some(since) = self.since else { return 1.0 };
        let t = now.since(since) as f64 / self.unit_ms;
        let c = d::ADAPTIVE_CUBIC_C;
        let k = (self.w_max * (1.0 - d::ADAPTIVE_BETA) / c).cbrt();
        let x = t - k;
        let w = c * x * x * x + self.w_max;
        if w >= 1.0 {
            1.0
        } else if w <= self.min {
            self.min
        } else {
            w
        }
    }

    /// [`AdaptiveRate::factor`] in thousandths (what the rate limiter takes).
    #[must_use]
    pub fn permille(&self, now: Millis) -> u32 {
        (self.factor(now) * 1000.0 + 0.5) as u32
    }

    /// A throttling answer at `now`: lowers the rate by β unless it was lowered within the
    /// decrease guard. Returns whether it dropped.
    pub fn on_throttled(&mut self, now: Millis) -> bool {
        if let Some(s) = self.since {
            if now.since(s) < d::ADAPTIVE_DECREASE_GUARD_MS {
                return false;
            }
        }
        self.w_max = self.factor(now);
        self.since = Some(now);
        true
    }

    /// The permille to hand to the rate limiter when it changed since the last call (cheap at the
    /// full rate: no arithmetic until a throttling answer).
    pub fn take_change(&mut self, now: Millis) -> Option<u32> {
        let since = self.since?;
        let p = self.permille(now);
        if p >= 1000 && now.since(since) > 0 {
            self.since = None; // back at the ceiling: forget the curve
        }
        if p == self.applied {
            return None;
        }
        self.applied = p;
        Some(p)
    }

    /// True at the full rate (nothing to remember).
    #[must_use]
    pub fn is_full(&self, now: Millis) -> bool {
        self.factor(now) >= 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AdaptiveSpec {
        AdaptiveSpec {
            k: 2.0,
            window_ms: 120_000,
            min_rate: 0.1,
        }
    }

    #[test]
    fn volleys_count_once_and_the_floor_holds() {
        let mut r = AdaptiveRate::new(spec(), 60_000);
        assert!(r.on_throttled(Millis(0)));
        assert!(!r.on_throttled(Millis(999)));
        assert!(r.on_throttled(Millis(1000)));
        for i in 2..100 {
            r.on_throttled(Millis(i * 1000));
        }
        assert_eq!(r.permille(Millis(99_000)), 100);
    }

    #[test]
    fn accepts_and_throttling_answers() {
        assert!(is_accept(200) && is_accept(500) && is_accept(404));
        assert!(!is_accept(429) && !is_accept(503) && !is_accept(0) && !is_accept(1));
        assert!(is_throttling(429, false) && is_throttling(503, true));
        assert!(!is_throttling(503, false) && !is_throttling(500, true));
    }
}
