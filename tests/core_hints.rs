//! Server hints belong to the (category, service) pair that sent them, every wait has a cap, and
//! the caller's own limits are not failures of the service (issue 12). Manual clock throughout.

use proptest::prelude::*;
use resource_guard::core::config::GuardConfig;
use resource_guard::core::defaults::PROBE_TIMEOUT_MS;
use resource_guard::core::engine::{Engine, Output, Priority, Submit, Verdict};
use resource_guard::core::error::{ErrorCode, GuardError, TimeoutKind};
use resource_guard::core::retry::BodyHint;
use resource_guard::core::rng::SeqRng;
use resource_guard::core::time::{Clock, ManualClock};
use std::collections::HashMap;

const APP: &str = "http://127.0.0.1:8080";
const THIRD: &str = "http://localhost:8080";

fn engine(json: &str) -> Engine<SeqRng> {
    Engine::new(
        GuardConfig::from_json(json).unwrap(),
        SeqRng::new(vec![0.5]),
    )
}

fn get(cat: u16, svc: &str) -> Submit<'_> {
    Submit::request(cat, Priority::Normal, svc, "GET")
}

fn starts(e: &mut Engine<SeqRng>) -> Vec<u32> {
    e.take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Start { id } => Some(id),
            _ => None,
        })
        .collect()
}

fn fails(outs: &[Output]) -> Vec<(u32, GuardError)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Fail { id, error } => Some((*id, error.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_429_from_a_third_party_never_delays_the_apps_own_origin() {
    let clock = ManualClock::new(1_000);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000}}"#);
    let t = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert_eq!(
        e.on_status(clock.now(), 0, t.id, 429, Some("5"), None),
        Verdict::Retry { delay_ms: 5_000 }
    );
    // The third party's next request waits for its hint (queued ahead of the app's request)...
    let t2 = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert!(!t2.started);
    // ...and the app's own origin, in the same category, starts at once.
    let app = e.submit(clock.now(), &get(0, APP)).unwrap();
    assert!(app.started, "one service's hint paced another service");
    clock.set(5_999);
    e.poll(clock.now());
    assert!(starts(&mut e).is_empty(), "1 ms before the hint ends");
    clock.set(6_000);
    e.poll(clock.now());
    assert_eq!(
        starts(&mut e),
        vec![t.id, t2.id],
        "the retry first, then in submit order"
    );
}

#[test]
fn a_category_with_one_service_is_held_whole_by_its_hint() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000}}"#);
    let a = e.submit(clock.now(), &get(0, APP)).unwrap();
    e.on_status(clock.now(), 0, a.id, 503, Some("2"), None);
    let b = e.submit(clock.now(), &get(0, APP)).unwrap();
    assert!(!b.started);
    assert!(e
        .snapshot_json(clock.now())
        .contains("\"blockedForMs\":2000"));
    clock.set(2_000);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![a.id, b.id]);
}

#[test]
fn parked_work_keeps_submit_order_and_other_services_overtake_it() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000},"retry":{"maxRetries":0}}"#);
    let a = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    e.on_status(clock.now(), 0, a.id, 429, Some("1"), None);
    let t1 = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    let t2 = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    let app = e.submit(clock.now(), &get(0, APP)).unwrap();
    let t3 = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert!(app.started && !t1.started && !t2.started && !t3.started);
    assert!(e.snapshot_json(clock.now()).contains("\"parked\":3"));
    clock.set(1_000);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![t1.id, t2.id, t3.id]);
}

#[test]
fn ratelimit_headers_pace_only_their_own_pair() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000}}"#);
    let a = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    // RateLimit: remaining=1, reset=10 s on the third party.
    e.on_pacing(clock.now(), a.id, 1, 10_000);
    e.on_status(clock.now(), 0, a.id, 200, None, None);
    assert!(
        e.submit(clock.now(), &get(0, THIRD)).unwrap().started,
        "one left"
    );
    let held = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert!(!held.started, "quota used up until the reset");
    assert!(e.submit(clock.now(), &get(0, APP)).unwrap().started);
    clock.set(9_999);
    e.poll(clock.now());
    assert!(starts(&mut e).is_empty());
    clock.set(10_000);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![held.id]);
}

#[test]
fn a_ratelimit_reset_beyond_the_cap_waits_at_most_max_retry_after() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"retry":{"maxRetryAfterMs":5000}}"#);
    let a = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    // X-RateLimit-Remaining: 0 with a reset a day away.
    e.on_pacing(clock.now(), a.id, 0, 86_400_000);
    e.on_status(clock.now(), 0, a.id, 200, None, None);
    let b = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert!(!b.started);
    clock.set(4_999);
    e.poll(clock.now());
    assert!(starts(&mut e).is_empty());
    clock.set(5_000);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![b.id], "capped at maxRetryAfterMs");
}

#[test]
fn a_hint_that_makes_the_guard_give_up_still_holds_its_pair_capped() {
    let clock = ManualClock::new(0);
    let mut e =
        engine(r#"{"rateLimit":{"requests":100,"perMs":1000},"retry":{"maxRetryAfterMs":3000}}"#);
    let a = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert_eq!(
        e.on_status(clock.now(), 0, a.id, 429, Some("86400"), None),
        Verdict::Fail(GuardError::RetryAfterTooLong {
            retry_after_ms: 86_400_000
        })
    );
    let b = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert!(!b.started, "the hint still informs the pair");
    assert!(e.submit(clock.now(), &get(0, APP)).unwrap().started);
    clock.set(3_000);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![b.id], "waits the cap, not a day");
}

#[test]
fn a_hint_on_a_request_that_was_not_retryable_still_holds_its_pair() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000}}"#);
    let post = e
        .submit(
            clock.now(),
            &Submit::request(0, Priority::Normal, THIRD, "POST"),
        )
        .unwrap();
    let body = BodyHint {
        retryable: None,
        retry_after_ms: Some(1_500),
        code: None,
    };
    // A POST without an Idempotency-Key is not retried; its 429 still paces the pair.
    assert!(matches!(
        e.on_status(clock.now(), 0, post.id, 429, None, Some(&body)),
        Verdict::Deliver | Verdict::Fail(_)
    ));
    let b = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    assert!(!b.started);
    clock.set(1_500);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![b.id]);
}

#[test]
fn a_deadline_shorter_than_its_pairs_hint_fails_at_once() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000}}"#);
    let a = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    e.on_status(clock.now(), 0, a.id, 503, Some("10"), None);
    let err = e
        .submit(
            clock.now(),
            &Submit {
                deadline_ms: Some(2_000),
                ..get(0, THIRD)
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        GuardError::RetryAfterTooLong {
            retry_after_ms: 10_000
        }
    );
    // With time enough, it waits.
    let ok = e
        .submit(
            clock.now(),
            &Submit {
                deadline_ms: Some(20_000),
                ..get(0, THIRD)
            },
        )
        .unwrap();
    assert!(!ok.started);
}

#[test]
fn a_probe_that_never_answers_counts_as_failed_after_its_timeout() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"retry":{"maxRetries":0},"breaker":{"failureThreshold":1,"resetTimeoutMs":100}}"#,
    );
    let a = e.submit(clock.now(), &get(0, APP)).unwrap();
    e.on_status(clock.now(), 0, a.id, 500, None, None);
    clock.set(100);
    let probe = e
        .submit(
            clock.now(),
            &Submit {
                attempt_timeout_ms: Some(500),
                ..get(0, APP)
            },
        )
        .unwrap();
    assert!(probe.started);
    clock.set(599);
    e.poll(clock.now());
    assert!(matches!(
        e.submit(clock.now(), &get(0, APP)),
        Err(GuardError::CircuitOpen { .. })
    ));
    clock.set(600);
    e.poll(clock.now());
    let reopened = e
        .take_outputs()
        .into_iter()
        .any(|o| matches!(o, Output::Breaker { to, .. } if to.as_str() == "open"));
    assert!(reopened, "the silent probe counted as failed");
    clock.set(700);
    let second = e.submit(clock.now(), &get(0, APP)).unwrap();
    assert!(second.started, "a later call may probe again");
    // The first probe's late answer no longer counts.
    e.on_status(clock.now(), 0, probe.id, 500, None, None);
    e.on_status(clock.now(), 0, second.id, 200, None, None);
    assert!(e
        .snapshot_json(clock.now())
        .contains("\"breaker\":\"closed\""));
}

#[test]
fn a_probe_without_timeout_is_bounded_by_the_default() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"retry":{"maxRetries":0},"breaker":{"failureThreshold":1,"resetTimeoutMs":100}}"#,
    );
    let a = e.submit(clock.now(), &get(0, APP)).unwrap();
    e.on_status(clock.now(), 0, a.id, 500, None, None);
    clock.set(100);
    assert!(e.submit(clock.now(), &get(0, APP)).unwrap().started);
    clock.set(100 + PROBE_TIMEOUT_MS - 1);
    e.poll(clock.now());
    assert!(
        e.submit(clock.now(), &get(0, APP)).is_err(),
        "still probing"
    );
    clock.set(100 + PROBE_TIMEOUT_MS);
    e.poll(clock.now());
    clock.set(200 + PROBE_TIMEOUT_MS);
    assert!(e.submit(clock.now(), &get(0, APP)).unwrap().started);
}

#[test]
fn the_callers_deadline_ending_an_attempt_is_not_a_failure_of_the_service() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"retry":{"maxRetries":0},"breaker":{"failureThreshold":1,"resetTimeoutMs":1000}}"#,
    );
    for _ in 0..3 {
        let a = e.submit(clock.now(), &get(0, APP)).unwrap();
        assert_eq!(
            e.on_deadline(clock.now(), a.id),
            Verdict::Fail(GuardError::Timeout {
                kind: TimeoutKind::Deadline
            })
        );
    }
    assert!(
        e.submit(clock.now(), &get(0, APP)).unwrap().started,
        "breaker stays closed"
    );
    assert_eq!(e.live_tickets(), 1);
    // A per-attempt timeout is the service being too slow: it does count.
    let b = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    e.on_network_error(clock.now(), 0, b.id, true);
    assert!(matches!(
        e.submit(clock.now(), &get(0, THIRD)),
        Err(GuardError::CircuitOpen { .. })
    ));
}

#[test]
fn a_deadline_ending_a_probe_frees_the_probe_slot_without_reopening() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"retry":{"maxRetries":0},"breaker":{"failureThreshold":1,"resetTimeoutMs":100}}"#,
    );
    let a = e.submit(clock.now(), &get(0, APP)).unwrap();
    e.on_status(clock.now(), 0, a.id, 500, None, None);
    clock.set(100);
    let probe = e.submit(clock.now(), &get(0, APP)).unwrap();
    e.on_deadline(clock.now(), probe.id);
    let next = e.submit(clock.now(), &get(0, APP)).unwrap();
    assert!(next.started, "the slot is free again at once");
}

#[test]
fn the_retry_budget_counts_first_attempts_only() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"rateLimit":{"requests":10000,"perMs":1000},"retry":{"baseDelayMs":1,"maxDelayMs":1,"jitter":0,"maxRetries":10,"budgetRatio":0.5,"budgetMinPerSec":0},"breaker":{"failureThreshold":1000}}"#,
    );
    let ids: Vec<u32> = (0..4)
        .map(|_| e.submit(clock.now(), &get(0, APP)).unwrap().id)
        .collect();
    let retried: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|&id| {
            matches!(
                e.on_status(clock.now(), 0, id, 503, None, None),
                Verdict::Retry { .. }
            )
        })
        .collect();
    assert_eq!(retried.len(), 2, "half of 4 original requests");
    clock.set(1);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), retried);
    // The retries' own sends must not top the budget up.
    for id in retried {
        assert_eq!(
            e.on_status(clock.now(), 0, id, 503, None, None),
            Verdict::Deliver
        );
    }
}

#[test]
fn a_queued_retry_gets_the_callers_queue_timeout_from_when_it_waits_again() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"rateLimit":{"requests":1,"perMs":10000},"queue":{"timeoutMs":1000},"retry":{"baseDelayMs":1,"maxDelayMs":1,"jitter":0}}"#,
    );
    let a = e.submit(clock.now(), &get(0, APP)).unwrap();
    assert!(a.started, "started at once: never waited in the queue");
    assert_eq!(
        e.on_status(clock.now(), 0, a.id, 503, None, None),
        Verdict::Retry { delay_ms: 1 }
    );
    clock.set(1);
    e.poll(clock.now()); // back in the queue; the window is full until 10 000
    clock.set(1_000);
    e.poll(clock.now());
    assert!(e.take_outputs().is_empty(), "its wait started at 1, not 0");
    clock.set(1_001);
    e.poll(clock.now());
    assert_eq!(
        fails(&e.take_outputs()),
        vec![(
            a.id,
            GuardError::Timeout {
                kind: TimeoutKind::Queue
            }
        )]
    );
    assert_eq!(e.live_tickets(), 0);
}

#[test]
fn a_parked_request_times_out_in_the_queue_like_any_other() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"queue":{"timeoutMs":500}}"#);
    let a = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    e.on_status(clock.now(), 0, a.id, 429, Some("30"), None);
    let b = e.submit(clock.now(), &get(0, THIRD)).unwrap();
    clock.set(500);
    e.poll(clock.now());
    let f = fails(&e.take_outputs());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, b.id);
    assert_eq!(f[0].1.code(), ErrorCode::Timeout);
}

const CAP: u64 = 5_000;
const SERVICES: [&str; 2] = [APP, THIRD];
const RETRY_AFTER: [&str; 9] = [
    "0",
    "1",
    "4",
    "3600",
    "99999999999999999999999",
    "-1",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Sun, 06 Nov 2994 08:49:37 GMT",
    "\u{0}garbage",
];

#[derive(Clone, Copy, Debug)]
struct Live {
    /// Pair: (category, service index).
    pair: (u16, usize),
    /// When it became ready to start (submit, or the end of its retry delay).
    ready: u64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random interleavings of two services in one category (plus a second category), hostile
    /// hints (Retry-After of every form and size, RateLimit quotas with absurd resets, JSON
    /// `retryAfterMs`), deadlines, attempt timeouts, aborts, probes left hanging: no start waits
    /// more than `maxRetryAfterMs` past the later of its ready time and its own pair's latest hint,
    /// and at the end no slot, ticket or probe is held (only the hanging requests stay live).
    #[test]
    fn hostile_compositions_never_hold_past_the_caps_or_leak(
        ops in proptest::collection::vec((0u8..14, 0u8..3, any::<u32>()), 1..300)
    ) {
        let clock = ManualClock::new(1_000_000);
        let mut e = engine(r#"{"rateLimit":{"requests":100000,"perMs":1000},"categories":{"other":{}},"retry":{"maxRetryAfterMs":5000,"maxDelayMs":1000,"baseDelayMs":10,"maxRetries":3,"budgetMinPerSec":1000},"breaker":{"failureThreshold":3,"resetTimeoutMs":2000}}"#);
        let other = e.category_id("other").unwrap();
        let mut live: HashMap<u32, Live> = HashMap::new();
        let mut running: Vec<u32> = Vec::new();
        let mut hung: Vec<u32> = Vec::new();
        let mut last_hint: HashMap<(u16, usize), u64> = HashMap::new();
        let check_starts = |e: &mut Engine<SeqRng>, now: u64, live: &HashMap<u32, Live>, running: &mut Vec<u32>, last_hint: &HashMap<(u16, usize), u64>| -> Result<(), TestCaseError> {
            for o in e.take_outputs() {
                if let Output::Start { id } = o {
                    if let Some(l) = live.get(&id) {
                        let from = l.ready.max(last_hint.get(&l.pair).copied().unwrap_or(0));
                        prop_assert!(now <= from + CAP + 1, "{} waited {} ms past its hint: {:?} hints {:?}", id, now - from, l, last_hint);
                    }
                    running.push(id);
                }
            }
            Ok(())
        };
        for (op, pick, arg) in ops {
            let now = clock.now().0;
            match op {
                0..=3 => {
                    let svc = (pick % 2) as usize;
                    let cat = if pick == 2 { other } else { 0 };
                    let mut req = get(cat, SERVICES[svc]);
                    if arg % 3 == 0 { req.deadline_ms = Some(u64::from(arg % 20_000) + 1); }
                    if arg % 2 == 0 { req.attempt_timeout_ms = Some(u64::from(arg % 4_000) + 1); }
                    if let Ok(a) = e.submit(clock.now(), &req) {
                        live.insert(a.id, Live { pair: (cat, svc), ready: now });
                        if a.started { running.push(a.id); }
                    }
                }
                4..=11 if !running.is_empty() => {
                    let id = running.swap_remove(arg as usize % running.len());
                    let pair = live.get(&id).map(|l| l.pair);
                    let v = match op {
                        4 => e.on_status(clock.now(), 0, id, 200, None, None),
                        5 => {
                            e.on_pacing(clock.now(), id, arg % 3, u64::from(arg).saturating_mul(1_000_003));
                            if let Some(p) = pair { last_hint.insert(p, now); }
                            e.on_status(clock.now(), 0, id, 200, None, None)
                        }
                        6 => {
                            if let Some(p) = pair { last_hint.insert(p, now); }
                            let ra = RETRY_AFTER[arg as usize % RETRY_AFTER.len()];
                            e.on_status(clock.now(), 1_700_000_000_000, id, 429, Some(ra), None)
                        }
                        7 => {
                            if let Some(p) = pair { last_hint.insert(p, now); }
                            let body = BodyHint { retryable: None, retry_after_ms: Some(u64::from(arg) * 7), code: None };
                            e.on_status(clock.now(), 0, id, 503, None, Some(&body))
                        }
                        8 => e.on_status(clock.now(), 0, id, 500, None, None),
                        9 => e.on_network_error(clock.now(), 0, id, arg % 2 == 0),
                        10 => e.on_deadline(clock.now(), id),
                        _ => { e.cancel(clock.now(), id, false); Verdict::Deliver }
                    };
                    match v {
                        Verdict::Retry { delay_ms } => {
                            if let Some(l) = live.get_mut(&id) { l.ready = now + delay_ms; }
                        }
                        _ => { live.remove(&id); }
                    }
                }
                12 if !running.is_empty() => {
                    // A request that never answers (no timeoutMs: the platform may hang forever).
                    let id = running.swap_remove(arg as usize % running.len());
                    live.remove(&id);
                    hung.push(id);
                }
                _ => {
                    // Time passes; the driver wakes whenever the engine asked to.
                    let target = clock.now().0 + u64::from(arg % 3_000);
                    while let Some(at) = e.next_wake(clock.now()).filter(|at| at.0 <= target && at.0 > clock.now().0) {
                        clock.set(at.0);
                        e.poll(clock.now());
                        check_starts(&mut e, clock.now().0, &live, &mut running, &last_hint)?;
                    }
                    clock.set(target);
                }
            }
            e.poll(clock.now());
            check_starts(&mut e, clock.now().0, &live, &mut running, &last_hint)?;
        }
        // Answer everything that runs, wake exactly when the engine asks (its next_wake), again
        // and again, so every wait is measured where it ends.
        for _ in 0..200 {
            for id in running.drain(..) {
                e.on_status(clock.now(), 0, id, 200, None, None);
                live.remove(&id);
            }
            match e.next_wake(clock.now()) {
                Some(at) if at > clock.now() => clock.set(at.0),
                Some(_) => {}
                None => clock.advance(1_000),
            }
            e.poll(clock.now());
            check_starts(&mut e, clock.now().0, &live, &mut running, &last_hint)?;
        }
        for id in running.drain(..) {
            e.on_status(clock.now(), 0, id, 200, None, None);
        }
        prop_assert_eq!(e.live_tickets() as usize, hung.len(), "{}", e.snapshot_json(clock.now()));
        // Hanging probes expire: every pair admits work again.
        clock.advance(PROBE_TIMEOUT_MS + 10_000);
        e.poll(clock.now());
        for cat in [0, other] {
            for svc in SERVICES {
                let a = e.submit(clock.now(), &get(cat, svc));
                prop_assert!(matches!(a, Ok(ref a) if a.started), "{:?} on {}: {}", a, svc, e.snapshot_json(clock.now()));
                if let Ok(a) = a { e.on_status(clock.now(), 0, a.id, 200, None, None); }
            }
        }
    }
}
