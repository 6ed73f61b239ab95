//! Per-service circuit breakers: after `failure_threshold` consecutive failures a service fails
//! fast for `reset_timeout_ms`, then a few probes decide whether it closes again.
//!
//! ```
//! use resource_guard::core::breaker::{Admission, BreakerState, CircuitBreaker};
//! use resource_guard::core::config::BreakerSpec;
//! use resource_guard::core::time::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(0);
//! let spec = BreakerSpec { failure_threshold: 2, reset_timeout_ms: 30_000, half_open_probes: 1 };
//! let mut breaker = CircuitBreaker::new(spec);
//!
//! let b = &mut breaker;
//! b.record_failure(clock.now(), false);
//! let opened = b.record_failure(clock.now(), false).unwrap();
//! assert_eq!(opened.to, BreakerState::Open);
//! assert_eq!(b.admit(clock.now()).0, Admission::Rejected { retry_in_ms: 30_000 });
//!
//! clock.advance(30_000);
//! let (admission, _half_open) = b.admit(clock.now());
//! assert_eq!(admission, Admission::Allowed { probe: true });
//! b.record_success(clock.now(), true);
//! assert_eq!(b.state(clock.now()), BreakerState::Closed);
//! ```
//!
//! # States
//! `Closed { failures }` counts consecutive failures (a success resets it). `Open { until }`
//! rejects everything until `until`; the first [`CircuitBreaker::admit`] at or after it moves to
//! `HalfOpen { in_flight }`, which lets `half_open_probes` probes run at once. A probe success
//! closes the breaker, a probe failure opens it for another full `reset_timeout_ms`.
//!
//! Outcomes of requests admitted before a state change (`probe = false` while half-open or open)
//! are ignored, so a slow request sent before the break cannot close or reopen the circuit.
//! Probes still running when their half-open period ends stay counted until they report, so
//! there are never more than `half_open_probes` probes in flight.
//!
//! # Failure-rate mode
//! With a [`FailureRateSpec`] ([`CircuitBreaker::with_failure_rate`], option `breaker.failureRate`)
//! the closed state counts calls and failures over a sliding window instead of consecutive
//! failures (resilience4j's `failureRateThreshold` with `minimumNumberOfCalls`, cockatiel's
//! `SamplingBreaker`): the breaker opens when at least `minimum_calls` calls are in the window and
//! `failures / calls >= threshold`. The window is the last `window_calls` calls, or the last
//! `window_ms` in [`crate::core::window::BUCKETS`] buckets. It starts empty each time the breaker
//! closes; half-open probing is the same in both modes.
//!
//! The breaker never reads a clock: every transition takes `now` (ms). The engine keeps one per
//! service (with the service's retry budget) and prunes them when idle and fresh.

use super::config::{BreakerSpec, FailureRateSpec};
use super::time::Millis;
use super::window::{CountWindow, TimeWindow};

/// How long (ms) a request rejected while half-open (all probe slots taken) is told to wait:
/// 1000, or the reset timeout when that is shorter (at least 1).
pub const HALF_OPEN_RETRY_MS: u64 = 1000;

/// The public view of a breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; consecutive failures are counted.
    Closed,
    /// Requests fail fast until the reset timeout has passed.
    Open,
    /// A limited number of probes test the service.
    HalfOpen,
}

impl BreakerState {
    /// The name used in events and snapshots: `closed`, `open`, `halfOpen`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "halfOpen",
        }
    }
}

/// The answer to [`CircuitBreaker::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send it. `probe` is true for a half-open probe: report its outcome with `probe = true`.
    Allowed {
        /// Whether this request is a half-open probe.
        probe: bool,
    },
    /// Fail fast (`ERR_CIRCUIT_OPEN`).
    Rejected {
        /// Milliseconds until a request may be admitted again (at least 1).
        retry_in_ms: u64,
    },
}

/// A state change, emitted on every change (for `onBreak` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}

/// The state with its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Millis },
    HalfOpen { in_flight: u32 },
}

impl Inner {
    fn view(self) -> BreakerState {
        match self {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// The sliding window of the failure-rate mode.
#[derive(Clone, Debug)]
enum Sampler {
    Calls(CountWindow),
    Time(TimeWindow),
}

/// Failure-rate mode: its rule, its window and the time of the last call counted.
#[derive(Clone, Debug)]
struct RateMode {
    spec: FailureRateSpec,
    sampler: Sampler,
    last_at: Millis,
}

impl RateMode {
    fn new(spec: FailureRateSpec) -> Self {
        let sampler = if spec.window_calls > 0 {
            Sampler::Calls(CountWindow::new(spec.window_calls))
        } else {
            Sampler::Time(TimeWindow::new(spec.window_ms))
        };
        RateMode {
            spec,
            sampler,
            last_at: Millis(0),
        }
    }

    /// Counts one call; true when the window now says "open".
    fn record(&mut self, now: Millis, failed: bool) -> bool {
        self.last_at = now;
        match &mut self.sampler {
            Sampler::Calls(w) => w.record(failed),
            Sampler::Time(w) => w.add(now, 1, u32::from(failed)),
        }
        let (calls, failures) = self.counts(now);
        failed
            && calls >= self.spec.minimum_calls.max(1)
            && f64::from(failures) >= self.spec.threshold * f64::from(calls)
    }

    fn counts(&self, now: Millis) -> (u32, u32) {
        match &self.sampler {
            Sampler::Calls(w) => w.counts(),
            Sampler::Time(w) => w.counts(now),
        }
    }

    fn clear(&mut self) {
        match &mut self.sampler {
            Sampler::Calls(w) => w.clear(),
            Sampler::Time(w) => w.clear(),
        }
    }
}

/// One service's circuit breaker: consecutive failures, or a failure rate over a window.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    spec: BreakerSpec,
    inner: Inner,
    /// Probes admitted in an earlier half-open period that have not reported yet.
    stray_probes: u32,
    /// The failure-rate mode, when configured.
    rate: Option<RateMode>,
}

impl CircuitBreaker {
    /// A closed breaker with no failures. Out-of-range specs never panic: a threshold or probe
    /// count of 0 acts as 1.
    #[must_use]
    pub fn new(spec: BreakerSpec) -> Self {
        CircuitBreaker {
            spec,
            inner: Inner::Closed { failures: 0 },
            stray_probes: 0,
            rate: None,
        }
    }

    /// Switches the closed state to the failure-rate rule of `spec` (`None`: keep consecutive
    /// failures). A threshold outside `(0, 1]` acts as 1, a minimum of 0 calls as 1.
    #[must_use]
    pub fn with_failure_rate(mut self, spec: Option<FailureRateSpec>) -> Self {
        self.rate = spec.map(|mut s| {
            if !(s.threshold > 0.0 && s.threshold <= 1.0) {
                s.threshold = 1.0;
            }
            RateMode::new(s)
        });
        self
    }

    /// In failure-rate mode, `(calls, failures)` in the window at `now`.
    #[must_use]
    pub fn window_counts(&self, now: Millis) -> Option<(u32, u32)> {
        self.rate.as_ref().map(|r| r.counts(now))
    }

    /// The spec it was built with.
    #[must_use]
    pub fn spec(&self) -> BreakerSpec {
        self.spec
    }

    /// Asks to send one request at `now` (ms). An open breaker whose `until` has passed moves to
    /// half-open here and admits this request as the first probe. While half-open, requests
    /// beyond `half_open_probes` in flight are rejected with `retry_in_ms` =
    /// [`HALF_OPEN_RETRY_MS`] (or the reset timeout when shorter).
    pub fn admit(&mut self, now: Millis) -> (Admission, Option<Transition>) {
        match self.inner {
            Inner::Closed { .. } => (Admission::Allowed { probe: false }, None),
            Inner::Open { until } if now < until => (
                Admission::Rejected {
                    retry_in_ms: now.until(until),
                },
                None,
            ),
            Inner::Open { .. } => {
                if self.stray_probes >= self.probes() {
                    // Probes from the last half-open period are still out: wait for them.
                    let t = self.set(Inner::HalfOpen { in_flight: 0 });
                    return (
                        Admission::Rejected {
                            retry_in_ms: self.half_open_retry_ms(),
                        },
                        t,
                    );
                }
                let t = self.set(Inner::HalfOpen { in_flight: 1 });
                (Admission::Allowed { probe: true }, t)
            }
            Inner::HalfOpen { in_flight } => {
                if in_flight.saturating_add(self.stray_probes) >= self.probes() {
                    return (
                        Admission::Rejected {
                            retry_in_ms: self.half_open_retry_ms(),
                        },
                        None,
                    );
                }
                self.inner = Inner::HalfOpen {
                    in_flight: in_flight + 1,
                };
                (Admission::Allowed { probe: true }, None)
            }
        }
    }

    /// Reports a success at `now` (ms). Closed: resets the failure count. Half-open and
    /// `probe`: closes. A non-probe success while open or half-open was sent before the break
    /// and is ignored.
    pub fn record_success(&mut self, now: Millis, probe: bool) -> Option<Transition> {
        if probe {
            self.release_probe();
        }
        if let (Inner::Closed { .. }, Some(r)) = (self.inner, self.rate.as_mut()) {
            r.record(now, false);
            return None;
        }
        match self.inner {
            Inner::Closed { .. } => self.set(Inner::Closed { failures: 0 }),
            Inner::HalfOpen { .. } if probe => self.set(Inner::Closed { failures: 0 }),
            _ => None,
        }
    }

    /// Reports a failure at `now` (ms). Closed: counts it and opens for `reset_timeout_ms` at
    /// `failure_threshold`. Half-open and `probe`: reopens for a full `reset_timeout_ms`.
    /// Failures while open, and non-probe failures while half-open, are ignored.
    pub fn record_failure(&mut self, now: Millis, probe: bool) -> Option<Transition> {
        if probe {
            self.release_probe();
        }
        if let (Inner::Closed { .. }, Some(r)) = (self.inner, self.rate.as_mut()) {
            return if r.record(now, true) {
                self.open(now)
            } else {
                None
            };
        }
        match self.inner {
            Inner::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.spec.failure_threshold.max(1) {
                    self.open(now)
                } else {
                    self.set(Inner::Closed { failures })
                }
            }
            Inner::HalfOpen { .. } if probe => self.open(now),
            _ => None,
        }
    }

    /// Reports that a request ended without an outcome (aborted). A probe frees its half-open
    /// slot; nothing else changes.
    pub fn record_cancel(&mut self, probe: bool) {
        if probe {
            self.release_probe();
        }
    }

    /// The state at `now` (ms). An open breaker whose timeout has passed still reads `Open`
    /// until [`CircuitBreaker::admit`] moves it to half-open.
    #[must_use]
    pub fn state(&self, _now: Millis) -> BreakerState {
        self.inner.view()
    }

    /// Milliseconds from `now` until a request could be admitted: 0 when closed, or open past
    /// its timeout, or half-open with a free probe slot.
    #[must_use]
    pub fn retry_in_ms(&self, now: Millis) -> u64 {
        match self.inner {
            Inner::Closed { .. } => 0,
            Inner::Open { until } => now.until(until),
            Inner::HalfOpen { in_flight } => {
                if in_flight.saturating_add(self.stray_probes) >= self.probes() {
                    self.half_open_retry_ms()
                } else {
                    0
                }
            }
        }
    }

    /// Consecutive failures counted while closed (0 in the other states); in failure-rate mode,
    /// the failures in the window as of the last call.
    #[must_use]
    pub fn failures(&self) -> u32 {
        match (self.inner, &self.rate) {
            (Inner::Closed { .. }, Some(r)) => r.counts(r.last_at).1,
            (Inner::Closed { failures }, None) => failures,
            _ => 0,
        }
    }

    /// True when closed with 0 failures and no probe outstanding: indistinguishable from new,
    /// so it can be pruned. (Failure-rate mode: no failure in the window as of the last call;
    /// see [`CircuitBreaker::is_fresh_at`].)
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        self.is_fresh_at(self.rate.as_ref().map_or(Millis(0), |r| r.last_at))
    }

    /// [`CircuitBreaker::is_fresh`] at `now`: a time window's failures age out.
    #[must_use]
    pub fn is_fresh_at(&self, now: Millis) -> bool {
        matches!(self.inner, Inner::Closed { .. })
            && self.stray_probes == 0
            && match &self.rate {
                Some(r) => r.counts(now).1 == 0,
                None => self.inner == Inner::Closed { failures: 0 },
            }
    }

    fn probes(&self) -> u32 {
        self.spec.half_open_probes.max(1)
    }

    fn half_open_retry_ms(&self) -> u64 {
        HALF_OPEN_RETRY_MS.min(self.spec.reset_timeout_ms).max(1)
    }

    fn open(&mut self, now: Millis) -> Option<Transition> {
        // The window starts empty when the breaker closes again.
        if let Some(r) = self.rate.as_mut() {
            r.clear();
        }
        self.set(Inner::Open {
            until: now.plus(self.spec.reset_timeout_ms),
        })
    }

    /// Moves to `next`; probes of a half-open period that ends stay counted as strays.
    fn set(&mut self, next: Inner) -> Option<Transition> {
        let prev = self.inner;
        if let (Inner::HalfOpen { in_flight }, false) =
            (prev, matches!(next, Inner::HalfOpen { .. }))
        {
            self.stray_probes = self.stray_probes.saturating_add(in_flight);
        }
        self.inner = next;
        let (from, to) = (prev.view(), next.view());
        (from != to).then_some(Transition { from, to })
    }

    /// One probe reported: strays first (the sum is what bounds concurrency).
    fn release_probe(&mut self) {
        if self.stray_probes > 0 {
            self.stray_probes -= 1;
        } else if let Inner::HalfOpen { in_flight } = self.inner {
            self.inner = Inner::HalfOpen {
                in_flight: in_flight.saturating_sub(1),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(threshold: u32, reset: u64, probes: u32) -> BreakerSpec {
        BreakerSpec {
            failure_threshold: threshold,
            reset_timeout_ms: reset,
            half_open_probes: probes,
        }
    }

    #[test]
    fn zero_spec_values_act_as_one() {
        let mut b = CircuitBreaker::new(spec(0, 0, 0));
        assert!(b.record_failure(Millis(0), false).is_some());
        assert_eq!(b.admit(Millis(0)).0, Admission::Allowed { probe: true });
        assert_eq!(b.admit(Millis(0)).0, Admission::Rejected { retry_in_ms: 1 });
    }

    #[test]
    fn stray_probe_keeps_the_next_half_open_period_full() {
        let mut b = CircuitBreaker::new(spec(1, 100, 2));
        b.record_failure(Millis(0), false);
        assert_eq!(b.admit(Millis(100)).0, Admission::Allowed { probe: true });
        assert_eq!(b.admit(Millis(100)).0, Admission::Allowed { probe: true });
        b.record_failure(Millis(110), true); // reopens; the other probe is still out
        assert_eq!(b.stray_probes, 1);
        assert!(!b.is_fresh());
        assert_eq!(b.admit(Millis(210)).0, Admission::Allowed { probe: true });
        assert_eq!(
            b.admit(Millis(210)).0,
            Admission::Rejected { retry_in_ms: 100 }
        );
        b.record_cancel(true); // the stray reports
        assert_eq!(b.admit(Millis(211)).0, Admission::Allowed { probe: true });
    }

    #[test]
    fn probe_outcomes_after_close_count_as_normal_outcomes() {
        let mut b = CircuitBreaker::new(spec(1, 100, 2));
        b.record_failure(Millis(0), false);
        b.admit(Millis(100));
        b.admit(Millis(100));
        assert_eq!(
            b.record_success(Millis(101), true),
            Some(Transition {
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed
            })
        );
        assert!(!b.is_fresh());
        assert!(b.record_failure(Millis(102), true).is_some());
        assert_eq!(b.stray_probes, 0);
    }
}
