#![allow(clippy::needless_range_loop)] // per-minute curves read best by minute index
//! Adaptive throttling (issue 17) with a manual clock: SRE client-side throttling per service and
//! the adaptive rate per category, each alone and composed by the engine, through simulated
//! one-hour outages whose per-minute curves (requests sent, requests shed) are asserted.

use resource_guard::core::adaptive::{AdaptiveRate, ClientThrottle};
use resource_guard::core::config::{AdaptiveSpec, GuardConfig, RateSpec};
use resource_guard::core::engine::{Engine, Output, Priority, Submit, Verdict};
use resource_guard::core::error::{GuardError, ShedReason};
use resource_guard::core::rate_limit::RateLimiter;
use resource_guard::core::rng::{Rng, SplitMix64};
use resource_guard::core::time::{Clock, ManualClock, Millis};

const SPEC: AdaptiveSpec = AdaptiveSpec {
    k: 2.0,
    window_ms: 120_000,
    min_rate: 0.1,
};
const MIN: u64 = 60_000;
const SVC: &str = "https://api.example";

/// Minutes 0..10 healthy, 10..70 down (one hour), 70..100 healthy again.
fn down(minute: u64) -> bool {
    (10..70).contains(&minute)
}

#[test]
fn sre_throttling_sheds_almost_everything_during_an_hour_long_outage_and_recovers_after() {
    // One request per second; the backend accepts all of them except during the outage.
    let clock = ManualClock::new(0);
    let mut sre = ClientThrottle::new(SPEC);
    let mut rng = SplitMix64::new(17);
    let mut sent = [0u32; 100];
    let mut shed = [0u32; 100];
    for s in 0..100 * 60 {
        clock.set(s * 1000);
        let now = clock.now();
        let m = (s / 60) as usize;
        if sre.should_reject(now, || rng.next_f64()) {
            shed[m] += 1;
            continue;
        }
        sre.record_request(now);
        sent[m] += 1;
        if !down(m as u64) {
            sre.record_accept(now);
        }
    }
    eprintln!("sre sent {:?}\nsre shed {:?}", sent, shed);
    // Healthy: nothing is shed locally.
    for m in 0..10 {
        assert_eq!((sent[m], shed[m]), (60, 0), "minute {m}");
    }
    // The first outage minute: nothing is shed while the window's accepts (the two healthy
    // minutes before) outweigh half the requests; the second minute sheds part.
    assert_eq!((sent[10], shed[10]), (60, 0));
    assert!(shed[11] > 10 && shed[11] < 55, "minute 11: {}", shed[11]);
    // Once the accepts have slid out: p ≈ requests/(requests+1), a trickle goes out.
    for m in 13..70 {
        assert!(sent[m] <= 4, "minute {m}: sent {}", sent[m]);
        assert!(shed[m] >= 56, "minute {m}: shed {}", shed[m]);
    }
    let trickle: u32 = sent[13..70].iter().sum();
    assert!(
        (10..=60).contains(&trickle),
        "the backend still sees probes: {trickle}"
    );
    // Recovery: what gets through is accepted, so p falls; the curve rises monotonically (per
    // two minutes, allowing the draw's noise) and is back to the full rate within 6 minutes.
    assert!(sent[71] > sent[70]);
    for m in (70..76).step_by(2) {
        assert!(
            sent[m + 2] + sent[m + 3] >= sent[m] + sent[m + 1],
            "minute {m}"
        );
    }
    for m in 76..100 {
        assert_eq!((sent[m], shed[m]), (60, 0), "minute {m}");
    }
}

#[test]
fn sre_throttling_never_rejects_while_at_most_half_is_shed_by_the_backend() {
    // K = 2: p stays 0 while accepts >= requests / 2.
    let mut sre = ClientThrottle::new(SPEC);
    let mut draws = 0;
    for s in 0..600u64 {
        let now = Millis(s * 1000);
        assert!(!sre.should_reject(now, || {
            draws += 1;
            0.0
        }));
        sre.record_request(now);
        if s % 2 == 0 {
            sre.record_accept(now);
        }
    }
    assert_eq!(draws, 0, "a healthy service consumes no randomness");
    // One more unaccepted request than that tips it over.
    let mut sre = ClientThrottle::new(SPEC);
    for _ in 0..3 {
        sre.record_request(Millis(0));
    }
    sre.record_accept(Millis(0));
    assert!((sre.reject_probability(Millis(0)) - 0.25).abs() < 1e-12);
    assert!(sre.should_reject(Millis(0), || 0.249));
    // The local rejection counts as a request: (4 - 2) / 5.
    assert!((sre.reject_probability(Millis(0)) - 0.4).abs() < 1e-12);
    assert!(!sre.should_reject(Millis(0), || 0.4));
}

/// A category of 60 per minute with more demand than that (2 per second), whose backend answers
/// 429 during the outage: requests sent per minute.
fn rate_curve() -> Vec<u32> {
    let clock = ManualClock::new(0);
    let mut limiter = RateLimiter::new(RateSpec {
        requests: 60,
        per_ms: MIN,
        burst: 60,
    });
    let mut rate = AdaptiveRate::new(SPEC, MIN);
    let mut sent = vec![0u32; 100];
    for step in 0..100 * 120 {
        clock.set(step * 500);
        let now = clock.now();
        if let Some(p) = rate.take_change(now) {
            limiter.set_rate_factor(p);
        }
        if limiter.try_acquire(now).is_err() {
            continue;
        }
        let m = (now.0 / MIN) as usize;
        sent[m] += 1;
        if down(m as u64) {
            rate.on_throttled(now);
        }
    }
    sent
}

#[test]
fn the_adaptive_rate_drops_to_its_floor_during_a_throttling_outage_and_climbs_back_to_the_ceiling()
{
    let sent = rate_curve();
    eprintln!("rate sent {:?}", sent);
    for m in 0..10 {
        assert_eq!(
            sent[m], 60,
            "minute {m}: the configured rate is the ceiling"
        );
    }
    // Throttled from minute 10: the window still holds the last minute's 60 starts, so nothing
    // goes out until they slide out; from then on the floor (0.1 × 60 = 6 per minute) holds.
    for m in 12..70 {
        assert!(sent[m] <= 6, "minute {m}: {}", sent[m]);
        assert!(
            sent[m] >= 5,
            "minute {m}: the floor keeps probing ({})",
            sent[m]
        );
    }
    // After the outage the curve rises (CUBIC: slow near the old maximum, then faster) and is
    // back at the ceiling within three minutes, never above it.
    assert!(sent[71] > sent[70], "{:?}", &sent[68..76]);
    assert!(sent[72] >= 30, "{:?}", &sent[68..76]);
    for m in 73..100 {
        assert_eq!(sent[m], 60, "minute {m}: {:?}", &sent[68..76]);
    }
    assert!(sent.iter().all(|&n| n <= 60));
}

#[test]
fn one_throttling_answer_costs_thirty_percent_and_recovers_in_about_a_window() {
    let mut r = AdaptiveRate::new(SPEC, MIN);
    r.on_throttled(Millis(0));
    assert_eq!(r.permille(Millis(0)), 700);
    // CUBIC: K = ∛(1 · 0.3 / 0.4) ≈ 0.909 windows back to W_max = 1.
    let k_ms = (0.75f64).cbrt() * MIN as f64;
    // W(t) = 1 − 0.3·(1 − t/K)³: fast at first, then flat near the old maximum (concave part).
    assert_eq!(r.permille(Millis((k_ms * 0.1) as u64)), 781);
    assert_eq!(r.permille(Millis((k_ms * 0.5) as u64)), 962);
    assert_eq!(r.permille(Millis(k_ms as u64 + 1)), 1000);
    // A short window recovers faster, on its own time scale.
    let mut fast = AdaptiveRate::new(SPEC, 1000);
    fast.on_throttled(Millis(0));
    assert_eq!(fast.permille(Millis(1000)), 1000);
}

/// The engine with both mechanisms on, 60 per minute, no retries: one `normal` request a second
/// and one `system` request every ten seconds; the backend answers 503 with `Retry-After: 1`
/// during the outage. Returns (sent, shed) per minute.
fn engine_curve() -> (Vec<u32>, Vec<u32>) {
    let clock = ManualClock::new(0);
    let cfg = GuardConfig::from_json(
        r#"{"adaptive":{},"retry":{"maxRetries":0},"queue":{"timeoutMs":5000},"breaker":{"failureThreshold":1000}}"#,
    )
    .unwrap();
    let mut e = Engine::new(cfg, SplitMix64::new(5));
    let mut sent = vec![0u32; 100];
    let mut shed = vec![0u32; 100];
    let mut running: Vec<u32> = Vec::new();
    for s in 0..100 * 60u64 {
        clock.set(s * 1000);
        let now = clock.now();
        let m = (s / 60) as usize;
        e.poll(now);
        let mut subs = vec![Priority::Normal];
        if s % 10 == 0 {
            subs.push(Priority::System);
        }
        for p in subs {
            match e.submit(now, &Submit::request(0, p, SVC, "GET")) {
                Ok(a) if a.started => running.push(a.id),
                Ok(_) => {}
                Err(GuardError::Shed {
                    reason: ShedReason::Adaptive,
                }) => {
                    assert_ne!(p, Priority::System, "system is never shed adaptively");
                    shed[m] += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        for o in e.take_outputs() {
            if let Output::Start { id } = o {
                running.push(id);
            }
        }
        e.stamp_starts(now);
        // Answer everything that started this second.
        for id in std::mem::take(&mut running) {
            sent[m] += 1;
            let v = if down(m as u64) {
                e.on_status(now.plus(20), 0, id, 503, Some("1"), None)
            } else {
                e.on_status(now.plus(20), 0, id, 200, None, None)
            };
            assert_eq!(v, Verdict::Deliver);
        }
        for o in e.take_outputs() {
            if let Output::Start { id } = o {
                running.push(id);
            }
        }
    }
    (sent, shed)
}

#[test]
fn the_engine_sheds_and_slows_a_service_through_an_hour_long_outage_and_recovers() {
    let (sent, shed) = engine_curve();
    eprintln!("engine sent {:?}\nengine shed {:?}", sent, shed);
    // Healthy: 60 normal + 6 system per minute exceed 60 per minute only by what the queue holds.
    for m in 0..10 {
        assert_eq!(shed[m], 0, "minute {m}");
        assert!(sent[m] >= 59, "minute {m}: {}", sent[m]);
    }
    // During the outage: almost everything is shed locally and the backend sees a trickle (the
    // system requests plus the few the SRE draw lets through, paced by the reduced rate).
    for m in 13..70 {
        assert!(shed[m] >= 50, "minute {m}: shed {}", shed[m]);
        assert!(sent[m] <= 12, "minute {m}: sent {}", sent[m]);
        assert!(
            sent[m] >= 2,
            "minute {m}: the backend is still probed ({})",
            sent[m]
        );
    }
    // Recovery: shedding ends and the send rate is back within four minutes (66 asked per
    // minute against a limit of 60: the queue's timeouts take the rest).
    assert!(sent[71] > sent[69]);
    for m in 74..100 {
        assert_eq!(shed[m], 0, "minute {m}: {:?}", &shed[68..80]);
        assert!(sent[m] >= 58, "minute {m}: {:?}", &sent[68..80]);
    }
}

#[test]
fn adaptive_state_shows_in_the_snapshot_and_is_off_by_default() {
    let mut off = Engine::new(GuardConfig::from_json("{}").unwrap(), SplitMix64::new(1));
    let a = off
        .submit(Millis(0), &Submit::request(0, Priority::Normal, SVC, "GET"))
        .unwrap();
    off.on_status(Millis(1), 0, a.id, 429, None, None);
    let snap = off.snapshot_json(Millis(2));
    assert!(
        snap.contains(r#""effectiveRate":{"requests":60,"perMs":60000,"factor":1}"#),
        "{snap}"
    );
    assert!(!snap.contains(r#""adaptive":"#));

    let cfg = GuardConfig::from_json(r#"{"adaptive":{},"retry":{"maxRetries":0}}"#).unwrap();
    let mut on = Engine::new(cfg, SplitMix64::new(1));
    let a = on
        .submit(Millis(0), &Submit::request(0, Priority::Normal, SVC, "GET"))
        .unwrap();
    on.on_status(Millis(1), 0, a.id, 429, None, None);
    assert_eq!(on.effective_rate(0), Some((42, 60_000)));
    let snap = on.snapshot_json(Millis(1));
    assert!(
        snap.contains(r#""effectiveRate":{"requests":42,"perMs":60000,"factor":0.7}"#),
        "{snap}"
    );
    assert!(
        snap.contains(r#""adaptive":{"requests":1,"accepts":0,"rejectProbability":0.5}"#),
        "{snap}"
    );
}

#[test]
fn a_burst_still_in_flight_is_not_a_refusal() {
    // Regression (found by the demo's burst of 500): requests counted when sent made 20 attempts
    // in flight look like 20 refusals, and the rest of the burst was shed locally.
    let cfg = GuardConfig::from_json(r#"{"adaptive":{},"rateLimit":{"requests":20,"perMs":1000}}"#)
        .unwrap();
    let mut e = Engine::new(cfg, SplitMix64::new(3));
    let mut ids = Vec::new();
    for _ in 0..500 {
        let a = e
            .submit(Millis(0), &Submit::request(0, Priority::Low, SVC, "GET"))
            .expect("never shed while nothing was answered");
        if a.started {
            ids.push(a.id);
        }
    }
    assert_eq!(ids.len(), 20);
    // Answers arrive: accepted ones keep the probability at 0; refusals raise it.
    for id in ids.drain(..10) {
        e.on_status(Millis(50), 0, id, 200, None, None);
    }
    for id in ids.drain(..) {
        e.on_status(Millis(60), 0, id, 503, None, None);
    }
    let snap = e.snapshot_json(Millis(60));
    assert!(
        snap.contains(r#""adaptive":{"requests":20,"accepts":10,"rejectProbability":0}"#),
        "{snap}"
    );
}

mod hostile {
    use super::*;
    use proptest::prelude::*;
    use resource_guard::core::breaker::CircuitBreaker;
    use resource_guard::core::config::{BreakerSpec, FailureRateSpec};

    proptest! {
        /// Any sequence of times (also backwards) and answers: probabilities stay in [0, 1), the
        /// adaptive rate within [minRate, 1], nothing panics.
        #[test]
        fn adaptive_state_stays_in_range(
            steps in proptest::collection::vec((0u64..200_000, 0u8..4, any::<bool>()), 1..300),
            k in 1.0f64..100.0,
            window_ms in 1u64..10_000_000,
            min_rate in 0.001f64..1.0,
            per_ms in 0u64..5_000_000,
        ) {
            let spec = AdaptiveSpec { k, window_ms, min_rate };
            let mut sre = ClientThrottle::new(spec);
            let mut rate = AdaptiveRate::new(spec, per_ms);
            let mut t = 0u64;
            for (dt, what, back) in steps {
                t = if back { t.saturating_sub(dt) } else { t.saturating_add(dt) };
                let now = Millis(t);
                match what {
                    0 => sre.record_request(now),
                    1 => sre.record_accept(now),
                    2 => { let _ = sre.should_reject(now, || 0.5); }
                    _ => { rate.on_throttled(now); }
                }
                let p = sre.reject_probability(now);
                prop_assert!((0.0..1.0).contains(&p), "p = {}", p);
                let f = rate.factor(now);
                prop_assert!(f >= min_rate - 1e-12 && f <= 1.0, "factor {}", f);
                if let Some(pm) = rate.take_change(now) {
                    prop_assert!(pm <= 1000);
                }
            }
        }

        /// A failure-rate breaker never opens with fewer calls in its window than the minimum,
        /// nor while the failure rate is below the threshold.
        #[test]
        fn failure_rate_breaker_respects_minimum_and_threshold(
            outcomes in proptest::collection::vec(any::<bool>(), 1..400),
            threshold in 0.05f64..1.0,
            minimum in 1u32..50,
            calls in 1u32..100,
        ) {
            let spec = BreakerSpec { failure_threshold: 5, reset_timeout_ms: 1000, half_open_probes: 1 };
            let rate = FailureRateSpec { threshold, minimum_calls: minimum, window_calls: calls, window_ms: 0 };
            let mut b = CircuitBreaker::new(spec).with_failure_rate(Some(rate));
            let mut recent: Vec<bool> = Vec::new();
            for failed in outcomes {
                recent.push(failed);
                if recent.len() > calls as usize {
                    recent.remove(0);
                }
                let tr = if failed { b.record_failure(Millis(0), false) } else { b.record_success(Millis(0), false) };
                if tr.is_some() {
                    let n = recent.len() as u32;
                    let f = recent.iter().filter(|&&x| x).count() as f64;
                    prop_assert!(n >= minimum, "opened with {} calls", n);
                    prop_assert!(f >= threshold * f64::from(n), "opened at {}/{}", f, n);
                    break;
                }
            }
        }
    }
}
