//! The engine's hooks for adaptive throttling (`adaptive`) and failure-rate breakers: kept apart
//! from the scheduler so that `engine.rs` only calls them (see `core::adaptive` for the rules).
//!
//! Where they sit in the order of `engine.rs`: SRE client-side throttling right after the
//! breaker check in `submit` (new requests only: retries are governed by the retry budget;
//! `system` priority is exempt); every attempt's outcome counts as a request (when it is known,
//! so a burst in flight does not look like a refusal), may count as an accept and may lower the
//! category's adaptive rate; the adaptive rate is handed
//! to the category's rate limiter before it is asked (submit, pump).

use super::super::adaptive::{is_accept, is_throttling, ClientThrottle};
use super::super::error::{GuardError, ShedReason};
use super::super::json::JsonWriter;
use super::super::retry::{self, Outcome};
use super::super::rng::Rng;
use super::super::time::Millis;
use super::{Category, Engine, Priority, Service};

impl<R: Rng> Engine<R> {
    /// The SRE throttle of a new service (`None` when off).
    pub(super) fn new_client_throttle(&self) -> Option<ClientThrottle> {
        self.cfg.adaptive.map(ClientThrottle::new)
    }

    /// SRE client-side throttling of a new request: `Some(ERR_SHED adaptive)` to reject it.
    pub(super) fn adaptive_shed(
        &mut self,
        cat: u16,
        service: u32,
        priority: Priority,
        now: Millis,
    ) -> Option<GuardError> {
        if priority == Priority::System || service == 0 {
            return None;
        }
        let s = self
            .services
            .get_mut(service as usize - 1)
            .and_then(Option::as_mut)?;
        let t = s.throttle.as_mut()?;
        let rng = &mut self.rng;
        if !t.should_reject(now, || rng.next_f64()) {
            return None;
        }
        self.shed_breach(cat, priority, ShedReason::Adaptive, now);
        Some(GuardError::Shed {
            reason: ShedReason::Adaptive,
        })
    }

    /// An attempt's outcome: SRE accepts, and throttling answers lower the category's rate.
    pub(super) fn adaptive_outcome(
        &mut self,
        cat: u16,
        service: u32,
        outcome: &Outcome<'_>,
        now_wall_ms: u64,
        now: Millis,
    ) {
        if self.cfg.adaptive.is_none() {
            return;
        }
        let status = match outcome {
            Outcome::Status { status, .. } => *status,
            Outcome::NetworkError => 0,
            Outcome::AttemptTimeout => 1,
        };
        // Counted when the answer is known, not when sent: a burst still in flight is not a
        // backend refusing it (Envoy's admission control counts the same way).
        let accepted = is_accept(status);
        if let Some(t) = self.svc(service).and_then(|s| s.throttle.as_mut()) {
            t.record_request(now);
            if accepted {
                t.record_accept(now);
            }
        }
        if accepted {
            return;
        }
        let hint = status == 503 && retry::server_hint_ms(outcome, now_wall_ms).is_some();
        if is_throttling(status, hint) {
            if let Some(c) = self.categories.get_mut(cat as usize) {
                if let Some(a) = c.adaptive.as_mut() {
                    a.on_throttled(now);
                }
                Self::apply_adaptive_rate(c, now);
            }
        }
    }

    /// Hands the category's adaptive rate to its limiter when it changed.
    pub(super) fn apply_adaptive_rate(c: &mut Category, now: Millis) {
        if let (Some(a), Some(l)) = (c.adaptive.as_mut(), c.limiter.as_mut()) {
            if let Some(p) = a.take_change(now) {
                l.set_rate_factor(p);
            }
        }
    }

    /// The rate in force for category `cat`: `(starts per window, window ms)`, after adaptation.
    #[must_use]
    pub fn effective_rate(&self, cat: u16) -> Option<(u32, u64)> {
        let l = self.categories.get(cat as usize)?.limiter.as_ref()?;
        Some((l.effective_requests(), l.spec().per_ms))
    }

    /// Snapshot fields of a category: `"effectiveRate":{"requests","perMs","factor"}` (null
    /// without a rate limit).
    pub(super) fn write_adaptive_category(c: &Category, now: Millis, w: &mut JsonWriter) {
        w.key("effectiveRate");
        match &c.limiter {
            Some(l) => {
                let factor = c.adaptive.as_ref().map_or(1.0, |a| a.factor(now));
                w.raw("{")
                    .key("requests")
                    .u64(u64::from(l.effective_requests()))
                    .key("perMs")
                    .u64(l.spec().per_ms)
                    .key("factor")
                    .f64(factor)
                    .raw("}");
            }
            None => {
                w.raw("null");
            }
        }
    }

    /// Snapshot fields of a service: the failure-rate window (`"window":{"calls","failures"}`)
    /// and the SRE counts (`"adaptive":{"requests","accepts","rejectProbability"}`), when on.
    pub(super) fn write_adaptive_service(s: &Service, now: Millis, w: &mut JsonWriter) {
        if let Some((calls, failures)) = s.breaker.window_counts(now) {
            w.key("window")
                .raw("{")
                .key("calls")
                .u64(u64::from(calls))
                .key("failures")
                .u64(u64::from(failures))
                .raw("}");
        }
        if let Some(t) = &s.throttle {
            let (requests, accepts) = t.counts(now);
            w.key("adaptive")
                .raw("{")
                .key("requests")
                .u64(u64::from(requests))
                .key("accepts")
                .u64(u64::from(accepts))
                .key("rejectProbability")
                .f64(t.reject_probability(now))
                .raw("}");
        }
    }
}
