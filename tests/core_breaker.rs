//! Rules of the per-service circuit breakers, driven by a `ManualClock`.

use proptest::prelude::*;
use resource_guard::core::breaker::{Admission, BreakerState, CircuitBreaker, Transition};
use resource_guard::core::config::BreakerSpec;
use resource_guard::core::time::{Clock, ManualClock, Millis};

fn spec(threshold: u32, reset: u64, probes: u32) -> BreakerSpec {
    BreakerSpec {
        failure_threshold: threshold,
        reset_timeout_ms: reset,
        half_open_probes: probes,
    }
}

const ALLOWED: Admission = Admission::Allowed { probe: false };
const PROBE: Admission = Admission::Allowed { probe: true };

fn t(from: BreakerState, to: BreakerState) -> Option<Transition> {
    Some(Transition { from, to })
}

/// A breaker (threshold 5, reset 60 000 ms, `probes` probes) opened at `clock.now()`.
fn opened(clock: &ManualClock, probes: u32) -> CircuitBreaker {
    let mut b = CircuitBreaker::new(spec(5, 60_000, probes));
    for _ in 0..5 {
        b.record_failure(clock.now(), false);
    }
    assert_eq!(b.state(clock.now()), BreakerState::Open);
    b
}

#[test]
fn opens_exactly_at_the_failure_threshold() {
    let clock = ManualClock::new(0);
    let mut b = CircuitBreaker::new(spec(5, 60_000, 1));
    for _ in 0..4 {
        assert_eq!(b.record_failure(clock.now(), false), None);
    }
    assert_eq!(b.state(clock.now()), BreakerState::Closed);
    assert_eq!(b.failures(), 4);
    assert_eq!(b.admit(clock.now()), (ALLOWED, None));
    assert_eq!(
        b.record_failure(clock.now(), false),
        t(BreakerState::Closed, BreakerState::Open)
    );
    assert_eq!(b.state(clock.now()), BreakerState::Open);
}

#[test]
fn a_success_while_closed_resets_the_consecutive_failure_count() {
    let clock = ManualClock::new(0);
    let mut b = CircuitBreaker::new(spec(3, 1000, 1));
    b.record_failure(clock.now(), false);
    b.record_failure(clock.now(), false);
    assert_eq!(b.record_success(clock.now(), false), None);
    assert_eq!(b.failures(), 0);
    assert!(b.is_fresh());
    b.record_failure(clock.now(), false);
    b.record_failure(clock.now(), false);
    assert_eq!(b.state(clock.now()), BreakerState::Closed);
}

#[test]
fn fails_fast_while_open_with_the_time_left_as_retry_in_ms() {
    let clock = ManualClock::new(1000);
    let mut b = opened(&clock, 1);
    assert_eq!(
        b.admit(clock.now()),
        (
            Admission::Rejected {
                retry_in_ms: 60_000
            },
            None
        )
    );
    clock.advance(30_000);
    assert_eq!(
        b.admit(clock.now()),
        (
            Admission::Rejected {
                retry_in_ms: 30_000
            },
            None
        )
    );
    assert_eq!(b.retry_in_ms(clock.now()), 30_000);
}

#[test]
fn is_still_open_1_ms_before_the_reset_and_half_opens_at_it() {
    let clock = ManualClock::new(1000);
    let mut b = opened(&clock, 1);
    clock.set(60_999);
    assert_eq!(
        b.admit(clock.now()),
        (Admission::Rejected { retry_in_ms: 1 }, None)
    );
    clock.set(61_000);
    assert_eq!(
        b.state(clock.now()),
        BreakerState::Open,
        "reads Open until admit"
    );
    assert_eq!(b.retry_in_ms(clock.now()), 0);
    assert_eq!(
        b.admit(clock.now()),
        (PROBE, t(BreakerState::Open, BreakerState::HalfOpen))
    );
    assert_eq!(b.state(clock.now()), BreakerState::HalfOpen);
}

#[test]
fn only_half_open_probes_probes_are_admitted_at_once() {
    let clock = ManualClock::new(0);
    let mut b = opened(&clock, 2);
    clock.set(60_000);
    assert_eq!(b.admit(clock.now()).0, PROBE);
    assert_eq!(b.admit(clock.now()), (PROBE, None));
    assert_eq!(
        b.admit(clock.now()),
        (Admission::Rejected { retry_in_ms: 1000 }, None)
    );
    assert_eq!(b.retry_in_ms(clock.now()), 1000);
}

#[test]
fn half_open_rejection_waits_the_reset_timeout_when_shorter_than_1000_ms() {
    let mut b = CircuitBreaker::new(spec(1, 250, 1));
    b.record_failure(Millis(0), false);
    assert_eq!(b.admit(Millis(250)).0, PROBE);
    assert_eq!(
        b.admit(Millis(250)).0,
        Admission::Rejected { retry_in_ms: 250 }
    );
}

#[test]
fn a_probe_success_closes_the_breaker() {
    let clock = ManualClock::new(0);
    let mut b = opened(&clock, 1);
    clock.set(60_000);
    b.admit(clock.now());
    clock.advance(120);
    assert_eq!(
        b.record_success(clock.now(), true),
        t(BreakerState::HalfOpen, BreakerState::Closed)
    );
    assert_eq!(b.admit(clock.now()), (ALLOWED, None));
    assert!(b.is_fresh());
}

#[test]
fn a_probe_failure_reopens_for_a_full_reset_timeout() {
    let clock = ManualClock::new(0);
    let mut b = opened(&clock, 1);
    clock.set(60_000);
    b.admit(clock.now());
    clock.set(60_500);
    assert_eq!(
        b.record_failure(clock.now(), true),
        t(BreakerState::HalfOpen, BreakerState::Open)
    );
    assert_eq!(b.retry_in_ms(clock.now()), 60_000);
    clock.set(120_499);
    assert_eq!(
        b.admit(clock.now()).0,
        Admission::Rejected { retry_in_ms: 1 }
    );
    clock.set(120_500);
    assert_eq!(
        b.admit(clock.now()),
        (PROBE, t(BreakerState::Open, BreakerState::HalfOpen))
    );
}

#[test]
fn a_cancelled_probe_frees_its_half_open_slot() {
    let clock = ManualClock::new(0);
    let mut b = opened(&clock, 1);
    clock.set(60_000);
    assert_eq!(b.admit(clock.now()).0, PROBE);
    assert!(matches!(b.admit(clock.now()).0, Admission::Rejected { .. }));
    b.record_cancel(true);
    assert_eq!(b.state(clock.now()), BreakerState::HalfOpen);
    assert_eq!(b.admit(clock.now()), (PROBE, None));
}

#[test]
fn outcomes_of_requests_sent_before_the_break_are_ignored() {
    let clock = ManualClock::new(0);
    let mut b = opened(&clock, 1);
    assert_eq!(b.record_success(clock.now(), false), None);
    assert_eq!(b.state(clock.now()), BreakerState::Open);
    clock.set(60_000);
    b.admit(clock.now());
    assert_eq!(b.record_success(clock.now(), false), None);
    assert_eq!(b.record_failure(clock.now(), false), None);
    b.record_cancel(false);
    assert_eq!(b.state(clock.now()), BreakerState::HalfOpen);
    assert!(
        matches!(b.admit(clock.now()).0, Admission::Rejected { .. }),
        "the probe is still out"
    );
}

#[derive(Clone, Debug)]
enum Event {
    Admit,
    /// Finish the outstanding request at this index (modulo) with success / failure / cancel.
    Finish(usize, u8),
    Advance(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => Just(Event::Admit),
        4 => (0usize..64, 0u8..3).prop_map(|(i, k)| Event::Finish(i, k)),
        2 => prop_oneof![0u64..50, 0u64..3000].prop_map(Event::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_event_sequences_never_panic_nor_exceed_half_open_probes_in_flight(
        threshold in 0u32..5,
        reset in 0u64..2000,
        probes in 0u32..4,
        events in prop::collection::vec(event(), 1..300),
    ) {
        let clock = ManualClock::new(0);
        let mut b = CircuitBreaker::new(spec(threshold, reset, probes));
        let max_probes = probes.max(1) as usize;
        let mut outstanding: Vec<bool> = Vec::new();
        for e in events {
            let before = b.state(clock.now());
            let transition = match e {
                Event::Admit => {
                    let (a, tr) = b.admit(clock.now());
                    match a {
                        Admission::Allowed { probe } => outstanding.push(probe),
                        Admission::Rejected { retry_in_ms } => prop_assert!(retry_in_ms >= 1),
                    }
                    tr
                }
                Event::Finish(i, kind) => {
                    if outstanding.is_empty() {
                        None
                    } else {
                        let probe = outstanding.remove(i % outstanding.len());
                        match kind {
                            0 => b.record_success(clock.now(), probe),
                            1 => b.record_failure(clock.now(), probe),
                            _ => { b.record_cancel(probe); None }
                        }
                    }
                }
                Event::Advance(ms) => { clock.advance(ms); None }
            };
            let after = b.state(clock.now());
            match transition {
                Some(tr) => {
                    prop_assert_eq!(tr.from, before);
                    prop_assert_eq!(tr.to, after);
                    prop_assert_ne!(tr.from, tr.to);
                }
                None => prop_assert_eq!(before, after),
            }
            let probes_out = outstanding.iter().filter(|&&p| p).count();
            prop_assert!(probes_out <= max_probes, "{} probes in flight", probes_out);
            if b.is_fresh() {
                prop_assert_eq!(after, BreakerState::Closed);
            }
        }
    }
}

// ---- failure-rate mode (issue 17) ----------------------------------------------------------

use resource_guard::core::config::{FailureRateSpec, GuardConfig};
use resource_guard::core::engine::{Engine, Priority, Submit};
use resource_guard::core::error::GuardError;
use resource_guard::core::rng::SeqRng;

fn rate_spec(
    threshold: f64,
    minimum_calls: u32,
    window_calls: u32,
    window_ms: u64,
) -> FailureRateSpec {
    FailureRateSpec {
        threshold,
        minimum_calls,
        window_calls,
        window_ms,
    }
}

#[test]
fn failure_rate_mode_opens_exactly_at_the_threshold_once_minimum_calls_are_in() {
    let now = Millis(0);
    let mut b =
        CircuitBreaker::new(spec(5, 60_000, 1)).with_failure_rate(Some(rate_spec(0.5, 10, 10, 0)));
    // Nine consecutive failures: the consecutive rule (5) would have opened; too few calls here.
    for _ in 0..9 {
        assert_eq!(b.record_failure(now, false), None);
    }
    assert_eq!(b.window_counts(now), Some((9, 9)));
    // Success dilutes: the 10 most recent calls are 8 failures and 2 successes after this...
    let mut b =
        CircuitBreaker::new(spec(5, 60_000, 1)).with_failure_rate(Some(rate_spec(0.5, 10, 10, 0)));
    for _ in 0..5 {
        b.record_success(now, false);
    }
    for _ in 0..4 {
        assert_eq!(b.record_failure(now, false), None); // 4 of 9
    }
    // ...the tenth call, a failure, makes 5 of 10 = 0.5: open.
    assert_eq!(
        b.record_failure(now, false),
        t(BreakerState::Closed, BreakerState::Open)
    );
    // Probing is the same as in consecutive mode, and the window starts empty after closing.
    assert_eq!(b.admit(Millis(60_000)).0, PROBE);
    b.record_success(Millis(60_001), true);
    assert_eq!(b.state(Millis(60_001)), BreakerState::Closed);
    assert_eq!(b.window_counts(Millis(60_001)), Some((0, 0)));
    assert!(b.is_fresh());
}

#[test]
fn a_time_window_forgets_old_failures() {
    let mut b = CircuitBreaker::new(spec(5, 60_000, 1))
        .with_failure_rate(Some(rate_spec(0.5, 4, 0, 12_000)));
    for i in 0..3 {
        b.record_failure(Millis(i * 100), false);
    }
    assert!(!b.is_fresh_at(Millis(11_000)));
    // 12 s later they have slid out: one more failure is 1 of 1 call, below the minimum.
    assert!(b.is_fresh_at(Millis(12_000)));
    assert_eq!(b.record_failure(Millis(12_000), false), None);
    assert_eq!(b.window_counts(Millis(12_000)), Some((1, 1)));
}

/// Ten calls a second for ten minutes against a backend that fails in bursts of 5 out of every
/// 25 calls (20 %) in minutes 2..5 and always in minutes 5..7. Returns (sent, rejected) per
/// minute for a breaker.
fn breaker_curve(mut b: CircuitBreaker) -> (Vec<u32>, Vec<u32>) {
    let mut sent = vec![0u32; 10];
    let mut rejected = vec![0u32; 10];
    let mut n = 0u64;
    for step in 0..10 * 600u64 {
        let now = Millis(step * 100);
        let m = (step / 600) as usize;
        match b.admit(now).0 {
            Admission::Rejected { .. } => rejected[m] += 1,
            Admission::Allowed { probe } => {
                sent[m] += 1;
                n += 1;
                let fails = match m {
                    2..=4 => n % 25 < 5,
                    5 | 6 => true,
                    _ => false,
                };
                if fails {
                    b.record_failure(now, probe);
                } else {
                    b.record_success(now, probe);
                }
            }
        }
    }
    (sent, rejected)
}

#[test]
fn a_failure_rate_breaker_rides_out_a_partial_outage_and_opens_on_a_full_one() {
    let rate = CircuitBreaker::new(spec(5, 10_000, 1))
        .with_failure_rate(Some(rate_spec(0.5, 20, 0, 30_000)));
    let (sent, rejected) = breaker_curve(rate);
    // 20 % failures never open it: every call goes out in minutes 0..5.
    for m in 0..5 {
        assert_eq!((sent[m], rejected[m]), (600, 0), "minute {m}");
    }
    // The full outage opens it once half the 30 s window failed: the window held 20 % failures,
    // so that takes about 11 s (60 − 2t + 10t = 150 of 300 calls); afterwards only a probe per
    // reset timeout (10 s) reaches the backend.
    assert!((100..=120).contains(&sent[5]), "minute 5: {}", sent[5]);
    assert!(rejected[5] >= 480, "minute 5: {}", rejected[5]);
    assert_eq!(sent[6], 6, "one probe per 10 s");
    // The first probe after the outage closes it: minute 7 loses at most one reset timeout.
    assert!(sent[7] >= 500, "minute 7: {}", sent[7]);
    for m in 8..10 {
        assert_eq!((sent[m], rejected[m]), (600, 0), "minute {m}");
    }

    // The consecutive rule (5 in a row) opens on every burst of the partial outage instead.
    let (sent, rejected) = breaker_curve(CircuitBreaker::new(spec(5, 10_000, 1)));
    for m in 2..5 {
        assert!(
            rejected[m] > 300,
            "minute {m}: consecutive rejects {}",
            rejected[m]
        );
        assert!(sent[m] < 300, "minute {m}");
    }
}

#[test]
fn the_engine_applies_failure_rate_mode_per_service() {
    let cfg = GuardConfig::from_json(
        r#"{"rateLimit":{"requests":1000,"perMs":1000},"retry":{"maxRetries":0},
            "breaker":{"services":{"https://rate":{"failureRate":0.5,"minimumCalls":10,"windowCalls":10}}}}"#,
    )
    .unwrap();
    let mut e = Engine::new(cfg, SeqRng::new(vec![0.5]));
    let run = |e: &mut Engine<SeqRng>, svc: &'static str, status: u16| match e
        .submit(Millis(0), &Submit::request(0, Priority::Normal, svc, "GET"))
    {
        Ok(a) => {
            e.on_status(Millis(0), 0, a.id, status, None, None);
            true
        }
        Err(GuardError::CircuitOpen { .. }) => false,
        Err(other) => panic!("{other:?}"),
    };
    // Five failures open the default (consecutive) breaker...
    for _ in 0..5 {
        assert!(run(&mut e, "https://plain", 500));
    }
    assert!(!run(&mut e, "https://plain", 200));
    // ...but not the failure-rate one, which needs 10 calls and half of them failed.
    for _ in 0..5 {
        assert!(run(&mut e, "https://rate", 200));
    }
    for _ in 0..5 {
        assert!(run(&mut e, "https://rate", 500));
    }
    assert!(!run(&mut e, "https://rate", 200));
    let snap = e.snapshot_json(Millis(0));
    assert!(
        snap.contains(r#""window":{"calls":0,"failures":0}"#),
        "{snap}"
    );
}
