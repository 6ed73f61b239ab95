//! Scheduler rules with a manual clock: window boundaries, priority order, the queue-full policy,
//! shared server hints, Retry-After versus backoff, retry budgets, breakers, bulkheads (slot
//! accounting on every path), deadlines, heap-limit degradation.

use proptest::prelude::*;
use resource_guard::core::config::GuardConfig;
use resource_guard::core::engine::{Engine, Output, Priority, Submit, Verdict};
use resource_guard::core::error::{ErrorCode, GuardError, ShedReason, TimeoutKind};
use resource_guard::core::heap::{HeapSample, HeapSource};
use resource_guard::core::rng::SeqRng;
use resource_guard::core::time::{Clock, ManualClock, Millis};

const SVC: &str = "https://api.example";

fn engine(json: &str) -> Engine<SeqRng> {
    Engine::new(
        GuardConfig::from_json(json).unwrap(),
        SeqRng::new(vec![0.5]),
    )
}

fn get(cat: u16) -> Submit<'static> {
    Submit::request(cat, Priority::Normal, SVC, "GET")
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

fn fails(outs: &[Output]) -> Vec<(u32, ErrorCode)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Fail { id, error } => Some((*id, error.code())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_queued_request_starts_exactly_when_the_window_frees_not_a_ms_earlier() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":2,"perMs":1000}}"#);
    for _ in 0..2 {
        assert!(e.submit(clock.now(), &get(0)).unwrap().started);
    }
    let third = e.submit(clock.now(), &get(0)).unwrap();
    assert!(!third.started);
    // The driver called fetch at 0: starts are stamped at now + 1 ms (whole-ms clock), so the
    // window frees at 1001.
    e.stamp_starts(clock.now());
    assert_eq!(e.next_wake(clock.now()), Some(Millis(1001)));
    clock.set(1000);
    e.poll(clock.now());
    assert!(starts(&mut e).is_empty(), "1 ms before the window frees");
    clock.set(1001);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![third.id]);
}

#[test]
fn a_burst_across_the_window_boundary_never_exceeds_the_limit() {
    // 1 start at 0, then 119 at 900: a fixed window would let 60 more through at 1000.
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":60,"perMs":1000}}"#);
    let mut start_times = vec![0u64];
    assert!(e.submit(clock.now(), &get(0)).unwrap().started);
    clock.set(900);
    for _ in 0..119 {
        if e.submit(clock.now(), &get(0)).unwrap().started {
            start_times.push(clock.now().0);
        }
    }
    while start_times.len() < 120 {
        let wake = e.next_wake(clock.now()).expect("work is waiting");
        clock.set(wake.0);
        e.poll(clock.now());
        for _ in starts(&mut e) {
            start_times.push(clock.now().0);
        }
    }
    for (i, &t) in start_times.iter().enumerate() {
        let in_window = start_times[..=i].iter().filter(|&&s| s + 1000 > t).count();
        assert!(
            in_window <= 60,
            "{in_window} starts in the window ending at {t}"
        );
    }
    // Ideal: 59 more at 900, the rest when the window frees (1001 for the first, 1901 for the
    // batch of 900, stamped +1 ms): the last start is at 1901, 1 ms after the ideal 1900.
    assert_eq!(*start_times.last().unwrap(), 1901);
}

#[test]
fn system_priority_overtakes_queued_low_and_fifo_holds_within_a_priority() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"categories":{"work":{"maxConcurrent":1}}}"#);
    let cat = e.category_id("work").unwrap();
    let first = e
        .submit(clock.now(), &Submit::job(cat, Priority::Normal))
        .unwrap();
    assert!(first.started);
    let low1 = e
        .submit(clock.now(), &Submit::job(cat, Priority::Low))
        .unwrap()
        .id;
    let low2 = e
        .submit(clock.now(), &Submit::job(cat, Priority::Low))
        .unwrap()
        .id;
    let system = e
        .submit(clock.now(), &Submit::job(cat, Priority::System))
        .unwrap()
        .id;
    let mut order = Vec::new();
    let mut running = first.id;
    for _ in 0..3 {
        e.done(clock.now(), running, true);
        let s = starts(&mut e);
        assert_eq!(s.len(), 1, "exactly one slot frees");
        running = s[0];
        order.push(running);
    }
    assert_eq!(order, vec![system, low1, low2]);
}

#[test]
fn a_full_queue_sheds_the_newest_lowest_priority_for_a_higher_one_else_rejects() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":1,"perMs":60000},"queue":{"maxDepth":2}}"#);
    e.submit(clock.now(), &get(0)).unwrap();
    let low_a = e
        .submit(clock.now(), &Submit::request(0, Priority::Low, SVC, "GET"))
        .unwrap()
        .id;
    let low_b = e
        .submit(clock.now(), &Submit::request(0, Priority::Low, SVC, "GET"))
        .unwrap()
        .id;
    // Another low: nothing lower to shed.
    let err = e
        .submit(clock.now(), &Submit::request(0, Priority::Low, SVC, "GET"))
        .unwrap_err();
    assert_eq!(err, GuardError::QueueFull { capacity: 2 });
    // A high one takes the newest low's place.
    let high = e
        .submit(clock.now(), &Submit::request(0, Priority::High, SVC, "GET"))
        .unwrap();
    assert!(!high.started);
    let outs = e.take_outputs();
    assert_eq!(fails(&outs), vec![(low_b, ErrorCode::Shed)]);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Shed {
            reason: ShedReason::QueueFull,
            ..
        }
    )));
    assert_ne!(low_a, low_b);
}

#[test]
fn a_retry_after_hint_is_exact_and_blocks_the_whole_category() {
    let clock = ManualClock::new(10_000);
    let mut e = engine(r#"{"rateLimit":{"requests":100,"perMs":1000},"retry":{"jitter":0.25}}"#);
    let a = e.submit(clock.now(), &get(0)).unwrap();
    let v = e.on_status(clock.now(), 0, a.id, 429, Some("2"), None);
    assert_eq!(
        v,
        Verdict::Retry { delay_ms: 2000 },
        "no jitter on a server hint"
    );
    // Another request now waits for the hint too instead of collecting its own 429.
    let b = e.submit(clock.now(), &get(0)).unwrap();
    assert!(!b.started);
    clock.set(11_999);
    e.poll(clock.now());
    assert!(starts(&mut e).is_empty(), "1 ms before the hint ends");
    clock.set(12_000);
    e.poll(clock.now());
    let s = starts(&mut e);
    assert!(s.contains(&a.id) && s.contains(&b.id), "{s:?}");
    assert_eq!(s[0], a.id, "the retry goes first: it was admitted earlier");
}

#[test]
fn backoff_grows_with_jitter_and_gives_up_after_max_retries_returning_the_last_response() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"retry":{"maxRetries":2,"baseDelayMs":100,"jitter":0}}"#);
    let a = e.submit(clock.now(), &get(0)).unwrap();
    assert_eq!(
        e.on_status(clock.now(), 0, a.id, 503, None, None),
        Verdict::Retry { delay_ms: 100 }
    );
    clock.advance(100);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![a.id]);
    assert_eq!(
        e.on_status(clock.now(), 0, a.id, 503, None, None),
        Verdict::Retry { delay_ms: 200 }
    );
    clock.advance(200);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![a.id]);
    assert_eq!(
        e.on_status(clock.now(), 0, a.id, 503, None, None),
        Verdict::Deliver
    );
    assert_eq!(e.live_tickets(), 0);
}

#[test]
fn network_failures_exhaust_into_err_retries_exhausted_and_unsafe_methods_rethrow() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"retry":{"maxRetries":1,"baseDelayMs":10,"jitter":0}}"#);
    let a = e.submit(clock.now(), &get(0)).unwrap();
    assert_eq!(
        e.on_network_error(clock.now(), 0, a.id, false),
        Verdict::Retry { delay_ms: 10 }
    );
    clock.advance(10);
    e.poll(clock.now());
    assert_eq!(starts(&mut e), vec![a.id]);
    assert_eq!(
        e.on_network_error(clock.now(), 0, a.id, false),
        Verdict::Fail(GuardError::RetriesExhausted {
            attempts: 2,
            last_status: 0
        })
    );
    let post = e
        .submit(
            clock.now(),
            &Submit::request(0, Priority::Normal, SVC, "POST"),
        )
        .unwrap();
    assert_eq!(
        e.on_network_error(clock.now(), 0, post.id, false),
        Verdict::Rethrow
    );
    let keyed = e
        .submit(
            clock.now(),
            &Submit {
                has_idempotency_key: true,
                ..Submit::request(0, Priority::Normal, SVC, "POST")
            },
        )
        .unwrap();
    assert!(matches!(
        e.on_network_error(clock.now(), 0, keyed.id, false),
        Verdict::Retry { .. }
    ));
}

#[test]
fn the_retry_budget_stops_a_retry_storm() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"rateLimit":{"requests":10000,"perMs":1000},"retry":{"baseDelayMs":1,"jitter":0,"budgetRatio":0.2,"budgetMinPerSec":0},"breaker":{"failureThreshold":1000}}"#,
    );
    let mut retried = 0;
    let mut gave_up = 0;
    for _ in 0..100 {
        let a = e.submit(clock.now(), &get(0)).unwrap();
        match e.on_status(clock.now(), 0, a.id, 503, None, None) {
            Verdict::Retry { .. } => retried += 1,
            Verdict::Deliver => gave_up += 1,
            v => panic!("{v:?}"),
        }
    }
    assert_eq!(retried, 20, "retries are at most 20% of requests");
    assert_eq!(gave_up, 80);
}

#[test]
fn a_breaker_opens_fails_fast_without_dispatch_half_opens_and_closes() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"retry":{"maxRetries":0},"breaker":{"failureThreshold":2,"resetTimeoutMs":500}}"#,
    );
    for _ in 0..2 {
        let a = e.submit(clock.now(), &get(0)).unwrap();
        assert_eq!(
            e.on_status(clock.now(), 0, a.id, 500, None, None),
            Verdict::Deliver
        );
    }
    clock.set(499);
    assert_eq!(
        e.submit(clock.now(), &get(0)).unwrap_err(),
        GuardError::CircuitOpen { retry_in_ms: 1 }
    );
    clock.set(500);
    let probe = e.submit(clock.now(), &get(0)).unwrap();
    assert!(probe.started, "half-open lets a probe through");
    assert!(
        matches!(
            e.submit(clock.now(), &get(0)),
            Err(GuardError::CircuitOpen { .. })
        ),
        "one probe at a time"
    );
    assert_eq!(
        e.on_status(clock.now(), 0, probe.id, 200, None, None),
        Verdict::Deliver
    );
    assert!(
        e.submit(clock.now(), &get(0)).unwrap().started,
        "closed again"
    );
    let transitions: Vec<_> = e
        .take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Breaker { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(transitions.len(), 3);
}

#[test]
fn a_deadline_fails_a_queued_request_exactly_when_it_passes() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":1,"perMs":60000}}"#);
    e.submit(clock.now(), &get(0)).unwrap();
    let late = e
        .submit(
            clock.now(),
            &Submit {
                deadline_ms: Some(300),
                ..get(0)
            },
        )
        .unwrap();
    clock.set(299);
    e.poll(clock.now());
    assert!(e.take_outputs().is_empty());
    clock.set(300);
    e.poll(clock.now());
    let outs = e.take_outputs();
    assert_eq!(
        outs,
        vec![Output::Fail {
            id: late.id,
            error: GuardError::Timeout {
                kind: TimeoutKind::Deadline
            }
        }]
    );
    assert_eq!(e.live_tickets(), 1);
}

#[test]
fn a_queue_timeout_frees_the_slot() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":1,"perMs":60000},"queue":{"timeoutMs":50}}"#);
    e.submit(clock.now(), &get(0)).unwrap();
    let w = e.submit(clock.now(), &get(0)).unwrap();
    clock.set(50);
    e.poll(clock.now());
    assert_eq!(fails(&e.take_outputs()), vec![(w.id, ErrorCode::Timeout)]);
}

#[test]
fn at_the_heap_limit_low_is_shed_and_normal_runs_at_half_rate_until_it_clears() {
    let clock = ManualClock::new(0);
    let mut e =
        engine(r#"{"rateLimit":{"requests":10,"perMs":1000},"heap":{"budgetBytes":1000000}}"#);
    let waiting_low = {
        // Fill the window so a low request waits, then hit the limit: it is shed.
        for _ in 0..10 {
            e.submit(clock.now(), &get(0)).unwrap();
        }
        e.submit(clock.now(), &Submit::request(0, Priority::Low, SVC, "GET"))
            .unwrap()
            .id
    };
    e.record_heap(HeapSample {
        used_bytes: 1_000_000,
        source: HeapSource::PerformanceMemory,
        at: clock.now(),
    });
    let outs = e.take_outputs();
    assert_eq!(fails(&outs), vec![(waiting_low, ErrorCode::Shed)]);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Heap(c) if c.to as u8 == 3)));
    assert_eq!(
        e.submit(clock.now(), &Submit::request(0, Priority::Low, SVC, "GET"))
            .unwrap_err(),
        GuardError::Shed {
            reason: ShedReason::HeapLimit
        }
    );
    // A new window: normal gets 5 (half of 10), high is not held back by the half rate.
    clock.set(2000);
    let normal_started = (0..8)
        .filter(|_| e.submit(clock.now(), &get(0)).unwrap().started)
        .count();
    assert_eq!(normal_started, 5);
    // The level clears (below 0.95 of the budget): the rest may go at the full rate.
    e.record_heap(HeapSample {
        used_bytes: 100_000,
        source: HeapSource::PerformanceMemory,
        at: clock.now(),
    });
    let started_after = starts(&mut e).len();
    assert_eq!(started_after, 3);
}

#[test]
fn bulkhead_never_exceeds_max_concurrent() {
    let clock = ManualClock::new(0);
    let mut e =
        engine(r#"{"categories":{"slow":{"maxConcurrent":2,"requests":1000,"perMs":1000}}}"#);
    let cat = e.category_id("slow").unwrap();
    let mut running: Vec<u32> = Vec::new();
    for _ in 0..50 {
        let a = e
            .submit(
                clock.now(),
                &Submit::request(cat, Priority::Normal, SVC, "GET"),
            )
            .unwrap();
        if a.started {
            running.push(a.id);
        }
        assert!(running.len() <= 2);
    }
    let mut done = 0;
    while let Some(id) = running.pop() {
        clock.advance(10);
        assert_eq!(
            e.on_status(clock.now(), 0, id, 200, None, None),
            Verdict::Deliver
        );
        done += 1;
        running.extend(starts(&mut e));
        assert!(running.len() <= 2, "{} in flight", running.len());
    }
    assert_eq!(done, 50);
    assert_eq!(e.live_tickets(), 0);
}

#[test]
fn dispose_frees_every_ticket_and_refuses_new_work() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":1,"perMs":60000}}"#);
    for _ in 0..5 {
        e.submit(clock.now(), &get(0)).unwrap();
    }
    assert_eq!(e.dispose().len(), 5);
    assert_eq!(e.live_tickets(), 0);
    assert_eq!(
        e.submit(clock.now(), &get(0)).unwrap_err(),
        GuardError::Disposed
    );
}

#[test]
fn services_stay_bounded_under_many_origins() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"rateLimit":{"requests":100000,"perMs":1000}}"#);
    for i in 0..5_000u32 {
        let svc = format!("https://s{i}.example");
        let a = e
            .submit(
                clock.now(),
                &Submit::request(0, Priority::Normal, &svc, "GET"),
            )
            .unwrap();
        e.on_status(clock.now(), 0, a.id, 200, None, None);
        clock.advance(1);
    }
    let snap = e.snapshot_json(clock.now());
    let services = snap.matches("\"breaker\":").count();
    assert!(services <= 256, "{services} services tracked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// No slot leaks after thousands of mixed outcomes: success, HTTP errors, network errors,
    /// timeouts, aborts, job completions; then the clock runs out every wait.
    #[test]
    fn no_slot_leaks_after_mixed_outcomes(ops in proptest::collection::vec((0u8..8, 0u8..4, 0u8..3), 1..400)) {
        let clock = ManualClock::new(0);
        let mut e = engine(r#"{"rateLimit":{"requests":50,"perMs":100},"categories":{"b":{"maxConcurrent":3}},"retry":{"baseDelayMs":5,"maxRetries":2},"breaker":{"failureThreshold":3,"resetTimeoutMs":50},"queue":{"maxDepth":50}}"#);
        let cats = [0u16, e.category_id("b").unwrap(), e.category_id("jobs").unwrap()];
        let mut running: Vec<(u32, u16)> = Vec::new();
        for (op, prio, c) in ops {
            clock.advance(u64::from(op));
            let cat = cats[c as usize];
            let svc = if cat == cats[2] { "" } else { SVC };
            if let Ok(a) = e.submit(clock.now(), &Submit::request(cat, Priority::from_u8(prio), svc, "GET")) {
                if a.started { running.push((a.id, cat)); }
            }
            e.poll(clock.now());
            for o in e.take_outputs() {
                if let Output::Start { id } = o { running.push((id, 0)); }
            }
            if let Some((id, _)) = running.pop() {
                match op {
                    0 => { e.on_status(clock.now(), 0, id, 200, None, None); }
                    1 => { e.on_status(clock.now(), 0, id, 503, None, None); }
                    2 => { e.on_network_error(clock.now(), 0, id, false); }
                    3 => { e.on_network_error(clock.now(), 0, id, true); }
                    4 => e.cancel(clock.now(), id, false),
                    5 => e.cancel(clock.now(), id, true),
                    6 => e.done(clock.now(), id, true),
                    _ => { e.on_status(clock.now(), 0, id, 429, Some("0"), None); }
                }
            }
        }
        // Finish everything still running, let every wait expire, finish again.
        for _ in 0..50 {
            for (id, _) in running.drain(..) {
                e.on_status(clock.now(), 0, id, 200, None, None);
            }
            clock.advance(1_000);
            e.poll(clock.now());
            for o in e.take_outputs() {
                if let Output::Start { id } = o { running.push((id, 0)); }
            }
        }
        prop_assert_eq!(e.live_tickets(), 0, "{}", e.snapshot_json(clock.now()));
        let snap = e.snapshot_json(clock.now());
        prop_assert!(!snap.contains("\"inFlight\":1") && !snap.contains("\"inFlight\":2") && !snap.contains("\"inFlight\":3"), "{}", snap);
    }
}

#[test]
fn a_network_failure_whose_backoff_would_pass_the_deadline_is_a_deadline_timeout() {
    let clock = ManualClock::new(0);
    let mut e = engine(r#"{"retry":{"baseDelayMs":500,"jitter":0}}"#);
    let a = e
        .submit(
            clock.now(),
            &Submit {
                deadline_ms: Some(400),
                ..get(0)
            },
        )
        .unwrap();
    clock.set(100);
    assert_eq!(
        e.on_network_error(clock.now(), 0, a.id, false),
        Verdict::Fail(GuardError::Timeout {
            kind: TimeoutKind::Deadline
        })
    );
    // With a status, the last response is delivered instead.
    let b = e
        .submit(
            clock.now(),
            &Submit {
                deadline_ms: Some(400),
                ..get(0)
            },
        )
        .unwrap();
    assert_eq!(
        e.on_status(clock.now(), 0, b.id, 503, None, None),
        Verdict::Deliver
    );
}

#[test]
fn per_service_breaker_settings_apply_and_other_services_use_the_default() {
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"retry":{"maxRetries":0},"breaker":{"failureThreshold":3,"services":{"https://fragile.example":{"failureThreshold":1,"resetTimeoutMs":300000}}}}"#,
    );
    let fragile = Submit::request(0, Priority::Normal, "https://fragile.example", "GET");
    let a = e.submit(clock.now(), &fragile).unwrap();
    e.on_status(clock.now(), 0, a.id, 503, None, None);
    assert_eq!(
        e.submit(clock.now(), &fragile).unwrap_err(),
        GuardError::CircuitOpen {
            retry_in_ms: 300_000
        }
    );
    // The default service needs three failures.
    for _ in 0..2 {
        let b = e.submit(clock.now(), &get(0)).unwrap();
        e.on_status(clock.now(), 0, b.id, 503, None, None);
    }
    assert!(
        e.submit(clock.now(), &get(0)).is_ok(),
        "two failures of three: still closed"
    );
}

#[test]
fn idle_fresh_services_are_forgotten_but_a_failing_one_is_kept() {
    use resource_guard::core::engine::SERVICE_IDLE_MS;
    let clock = ManualClock::new(0);
    let mut e =
        engine(r#"{"rateLimit":{"requests":100000,"perMs":1000},"retry":{"maxRetries":0}}"#);
    let bad = Submit::request(0, Priority::Normal, "https://failing.example", "GET");
    let a = e.submit(clock.now(), &bad).unwrap();
    e.on_status(clock.now(), 0, a.id, 503, None, None);
    for i in 0..70u32 {
        let svc = format!("https://s{i}.example");
        let a = e
            .submit(
                clock.now(),
                &Submit::request(0, Priority::Normal, &svc, "GET"),
            )
            .unwrap();
        e.on_status(clock.now(), 0, a.id, 200, None, None);
    }
    clock.advance(SERVICE_IDLE_MS);
    let a = e
        .submit(
            clock.now(),
            &Submit::request(0, Priority::Normal, "https://new.example", "GET"),
        )
        .unwrap();
    e.on_status(clock.now(), 0, a.id, 200, None, None);
    let snap = e.snapshot_json(clock.now());
    assert!(
        snap.contains("https://failing.example"),
        "a service with failures is not fresh: kept"
    );
    assert!(snap.contains("https://new.example"));
    assert!(
        !snap.contains("https://s1.example"),
        "idle fresh services are pruned"
    );
}

#[test]
fn a_queue_thousands_deep_drains_in_submit_order_and_frees_every_slot() {
    // 3,000 tickets span several chunks of the ticket table (390 tickets each): ids beyond the
    // first chunk start, answer and are freed like the first ones, and freed slots are reused.
    let clock = ManualClock::new(0);
    let mut e = engine(
        r#"{"rateLimit":{"requests":500,"perMs":1000},"queue":{"maxDepth":5000},"breaker":{"failureThreshold":1000}}"#,
    );
    let mut submitted = Vec::new();
    let mut started = Vec::new();
    for _ in 0..3_000 {
        let a = e.submit(clock.now(), &get(0)).unwrap();
        if a.started {
            started.push(a.id);
        }
        submitted.push(a.id);
    }
    assert_eq!(started.len(), 500);
    assert_eq!(e.live_tickets(), 3_000);
    let mut distinct = submitted.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3_000, "every ticket has its own id");
    while started.len() < 3_000 {
        // Answer what runs, then let the window move on.
        e.stamp_starts(clock.now());
        for &id in &started[started.len().saturating_sub(500)..] {
            e.on_status(clock.now(), 0, id, 200, None, None);
        }
        clock.advance(1001);
        e.poll(clock.now());
        started.extend(starts(&mut e));
    }
    assert_eq!(started, submitted, "FIFO across chunk boundaries");
    for &id in &started[2_500..] {
        e.on_status(clock.now(), 0, id, 200, None, None);
    }
    assert_eq!(e.live_tickets(), 0);
    // A new ticket takes a freed slot: nothing grows past the 3,000 slots already there.
    let again = e.submit(clock.now(), &get(0)).unwrap();
    assert!(
        again.id & 0xFFFFF < 3_000,
        "slot {} reused",
        again.id & 0xFFFFF
    );
    assert!(
        !submitted.contains(&again.id),
        "a reused slot gets a new generation"
    );
}
