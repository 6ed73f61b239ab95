//! Rules of the upload planner, driven by a scripted transport loop.

use proptest::prelude::*;
use resource_guard::core::error::ErrorCode;
use resource_guard::core::rng::{SeqRng, SplitMix64};
use resource_guard::core::time::{Clock, ManualClock, Millis};
use resource_guard::core::upload::*;

#[derive(Debug, Default)]
struct Log {
    sends: Vec<Batch>,
    delivered: Vec<u64>,
    dead: Vec<(Vec<u64>, ErrorCode, u16)>,
    events: Vec<UploadEvent>,
}

/// Runs the driver loop until `Idle`: every send is answered at once by `server`; `Wait` moves
/// the clock to its deadline.
fn drive(
    up: &mut UploadPlanner,
    clock: &ManualClock,
    mut server: impl FnMut(&Batch) -> SendResult,
) -> Log {
    let mut rng = SplitMix64::new(9);
    let mut log = Log::default();
    for _ in 0..10_000 {
        match up.next_action(clock.now(), &mut rng) {
            Action::Send(b) => {
                let r = server(&b);
                log.sends.push(b.clone());
                for e in up.on_result(b.id, r, clock.now(), &mut rng) {
                    match &e {
                        UploadEvent::Delivered { record_ids, .. } => {
                            log.delivered.extend(record_ids)
                        }
                        UploadEvent::DeadLetter {
                            record_ids,
                            code,
                            last_status,
                        } => log.dead.push((record_ids.clone(), *code, *last_status)),
                        _ => {}
                    }
                    log.events.push(e);
                }
            }
            Action::DeadLetter {
                record_ids,
                code,
                last_status,
            } => log.dead.push((record_ids, code, last_status)),
            Action::Wait { until } => clock.set(until.0.max(clock.now().0)),
            Action::Idle => return log,
        }
    }
    panic!("driver loop did not settle");
}

fn accept_up_to(limit: u64) -> impl FnMut(&Batch) -> SendResult {
    move |b| {
        if b.body_bytes <= limit {
            SendResult::Ok
        } else {
            SendResult::Status {
                status: 413,
                retry_after_ms: None,
            }
        }
    }
}

fn status(status: u16) -> SendResult {
    SendResult::Status {
        status,
        retry_after_ms: None,
    }
}

fn cfg() -> UploadConfig {
    UploadConfig {
        max_batch_bytes: 10_000,
        concurrency: 1,
        ..UploadConfig::default()
    }
}

fn sizes(log: &Log) -> Vec<usize> {
    log.sends.iter().map(|b| b.record_ids.len()).collect()
}

#[test]
fn batches_fill_to_the_byte_limit_exactly_and_one_byte_over_splits() {
    let clock = ManualClock::new(0);
    // Three 20-byte records: body = 14 + 60 + 2 commas = 76 bytes.
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_batch_bytes: 76,
            ..cfg()
        },
        None,
    );
    (1..=3).for_each(|id| up.add(id, 20));
    let log = drive(&mut up, &clock, accept_up_to(u64::MAX));
    assert_eq!(sizes(&log), vec![3]);
    assert_eq!(log.sends[0].body_bytes, 76);

    let mut up = UploadPlanner::new(
        UploadConfig {
            max_batch_bytes: 75,
            ..cfg()
        },
        None,
    );
    (1..=3).for_each(|id| up.add(id, 20));
    let log = drive(&mut up, &clock, accept_up_to(u64::MAX));
    assert_eq!(sizes(&log), vec![2, 1]);
    assert_eq!(log.delivered, vec![1, 2, 3]);
}

#[test]
fn batches_respect_the_item_limit_and_record_order() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_batch_items: 2,
            ..cfg()
        },
        None,
    );
    for id in [5, 3, 1, 4, 2] {
        up.add(id, 10);
    }
    let log = drive(&mut up, &clock, accept_up_to(u64::MAX));
    let ids: Vec<Vec<u64>> = log.sends.iter().map(|b| b.record_ids.clone()).collect();
    assert_eq!(ids, vec![vec![1, 2], vec![3, 4], vec![5]]);
}

#[test]
fn a_413_halves_the_batch_until_accepted_with_new_keys() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    (1..=8).for_each(|id| up.add(id, 1000));
    let log = drive(&mut up, &clock, accept_up_to(3000));
    // 8 records: 8021 B -> 413; 4: 4017 B -> 413; 2: 2015 B -> accepted.
    assert_eq!(
        log.sends
            .iter()
            .map(|b| b.body_bytes)
            .take(3)
            .collect::<Vec<_>>(),
        vec![8021, 4017, 2015]
    );
    assert_eq!(sizes(&log), vec![8, 4, 2, 2, 4, 2, 2]);
    let mut delivered = log.delivered.clone();
    delivered.sort_unstable();
    assert_eq!(delivered, (1..=8).collect::<Vec<_>>());
    let mut seeds: Vec<u64> = log.sends.iter().map(|b| b.idempotency_seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(
        seeds.len(),
        log.sends.len(),
        "every split payload gets its own key"
    );
    assert!(log.dead.is_empty());
    assert_eq!(up.learned_max_bytes(), Some(2015));
    assert!(
        log.events.contains(&UploadEvent::LearnedMaxBytes(4010)),
        "half the refused size first"
    );
}

#[test]
fn the_learned_size_plans_later_batches_and_a_fresh_planner() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    (1..=8).for_each(|id| up.add(id, 1000));
    drive(&mut up, &clock, accept_up_to(3000));
    let learned = up.learned_max_bytes();
    assert_eq!(learned, Some(2015));
    (9..=14).for_each(|id| up.add(id, 1000));
    let log = drive(&mut up, &clock, accept_up_to(3000));
    assert_eq!(
        sizes(&log),
        vec![2, 2, 2],
        "no 413 once the size is learned"
    );

    let mut fresh = UploadPlanner::new(cfg(), learned);
    assert_eq!(fresh.effective_max_bytes(), 2015);
    (1..=6).for_each(|id| fresh.add(id, 1000));
    let log = drive(&mut fresh, &clock, accept_up_to(3000));
    assert_eq!(sizes(&log), vec![2, 2, 2]);
}

#[test]
fn a_lone_oversized_record_is_dead_lettered_as_payload_too_large() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    up.add(1, 100);
    up.add(2, 500);
    up.add(3, 100);
    let log = drive(&mut up, &clock, accept_up_to(300));
    assert_eq!(log.dead, vec![(vec![2], ErrorCode::PayloadTooLarge, 413)]);
    let mut delivered = log.delivered.clone();
    delivered.sort_unstable();
    assert_eq!(delivered, vec![1, 3]);

    // A record at least as large as a refused body is not sent again at all.
    up.add(4, 600);
    let log = drive(&mut up, &clock, accept_up_to(300));
    assert!(log.sends.is_empty());
    assert_eq!(log.dead, vec![(vec![4], ErrorCode::PayloadTooLarge, 413)]);
}

#[test]
fn a_retried_dead_letter_is_sent_alone_once_more_after_forget_refusals() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    up.add(1, 500);
    let log = drive(&mut up, &clock, accept_up_to(300));
    assert_eq!(log.dead, vec![(vec![1], ErrorCode::PayloadTooLarge, 413)]);
    // The endpoint now takes it; the driver puts the dead letter back (a new id) and forgets.
    up.forget_refusals();
    up.add(2, 500);
    let log = drive(&mut up, &clock, accept_up_to(1000));
    assert_eq!(sizes(&log), vec![1]);
    assert_eq!(log.delivered, vec![2]);
    assert!(log.dead.is_empty());
}

#[test]
fn a_409_is_retried_later_with_the_same_key() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    up.add(1, 10);
    let mut answers = vec![status(409), SendResult::Ok].into_iter();
    let log = drive(&mut up, &clock, |_| answers.next().unwrap());
    assert_eq!(log.sends.len(), 2);
    assert_eq!(log.sends[0].idempotency_seed, log.sends[1].idempotency_seed);
    assert_eq!((log.sends[0].attempts, log.sends[1].attempts), (1, 2));
    assert!(
        (750..=1250).contains(&clock.now().0),
        "one base delay with ±25 % jitter"
    );
    assert_eq!(log.delivered, vec![1]);
}

#[test]
fn a_422_and_other_client_errors_dead_letter_without_retry() {
    for code in [422, 400, 401, 403, 404, 410] {
        let clock = ManualClock::new(0);
        let mut up = UploadPlanner::new(cfg(), None);
        up.add(1, 10);
        let log = drive(&mut up, &clock, |_| status(code));
        assert_eq!(log.sends.len(), 1);
        assert_eq!(log.dead, vec![(vec![1], ErrorCode::RetriesExhausted, code)]);
        assert_eq!(up.stats().dead_lettered_records, 1);
    }
}

#[test]
fn a_429_with_a_hint_pauses_the_whole_queue_until_the_hint() {
    let mut rng = SeqRng::new(vec![0.5]);
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_batch_items: 1,
            concurrency: 2,
            ..cfg()
        },
        None,
    );
    up.add(1, 10);
    up.add(2, 10);
    let Action::Send(a) = up.next_action(Millis(0), &mut rng) else {
        panic!()
    };
    let ev = up.on_result(
        a.id,
        SendResult::Status {
            status: 429,
            retry_after_ms: Some(5000),
        },
        Millis(0),
        &mut rng,
    );
    assert!(ev.contains(&UploadEvent::PausedUntil(Millis(5000))));
    // Record 2 was never sent, but the whole queue waits.
    assert_eq!(
        up.next_action(Millis(4999), &mut rng),
        Action::Wait {
            until: Millis(5000)
        }
    );
    let Action::Send(b) = up.next_action(Millis(5000), &mut rng) else {
        panic!()
    };
    assert_eq!(
        (b.id, b.idempotency_seed, b.attempts),
        (a.id, a.idempotency_seed, 2)
    );
    let Action::Send(c) = up.next_action(Millis(5000), &mut rng) else {
        panic!()
    };
    assert_eq!(c.record_ids, vec![2]);
}

#[test]
fn a_503_with_a_hint_pauses_and_without_one_backs_off_per_batch() {
    let mut rng = SeqRng::new(vec![0.5]);
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_batch_items: 1,
            concurrency: 2,
            ..cfg()
        },
        None,
    );
    up.add(1, 10);
    up.add(2, 10);
    let Action::Send(a) = up.next_action(Millis(0), &mut rng) else {
        panic!()
    };
    let ev = up.on_result(a.id, status(503), Millis(0), &mut rng);
    assert_eq!(
        ev,
        vec![UploadEvent::RetryScheduled {
            batch: a.id,
            attempts: 1,
            status: 503,
            at: Millis(1000)
        }]
    );
    // Only that batch backs off: record 2 goes now.
    let Action::Send(b) = up.next_action(Millis(0), &mut rng) else {
        panic!()
    };
    assert_eq!(b.record_ids, vec![2]);
    let ev = up.on_result(
        b.id,
        SendResult::Status {
            status: 503,
            retry_after_ms: Some(200),
        },
        Millis(0),
        &mut rng,
    );
    assert!(ev.contains(&UploadEvent::PausedUntil(Millis(200))));
    assert_eq!(
        up.next_action(Millis(199), &mut rng),
        Action::Wait { until: Millis(200) }
    );
}

#[test]
fn backoff_doubles_up_to_the_cap_within_jitter_bounds() {
    let cfg = UploadConfig {
        base_delay_ms: 1000,
        max_delay_ms: 10_000,
        jitter: 0.25,
        ..cfg()
    };
    let mut exact = SeqRng::new(vec![0.5]);
    let mids: Vec<u64> = (1..=6)
        .map(|a| backoff_delay_ms(&cfg, a, &mut exact))
        .collect();
    assert_eq!(mids, vec![1000, 2000, 4000, 8000, 10_000, 10_000]);
    let mut low = SeqRng::new(vec![0.0]);
    assert_eq!(backoff_delay_ms(&cfg, 1, &mut low), 750);
    let mut rng = SplitMix64::new(3);
    for attempts in 1..=10u32 {
        let d = (1000u64 << (attempts - 1).min(20)).min(10_000);
        for _ in 0..500 {
            let got = backoff_delay_ms(&cfg, attempts, &mut rng);
            assert!(
                got >= d * 3 / 4 && got <= (d * 5 / 4).min(10_000),
                "attempt {attempts}: {got}"
            );
        }
    }
    // Through the planner: each RetryScheduled is at now + a bounded delay.
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_attempts: 6,
            ..cfg
        },
        None,
    );
    up.add(1, 10);
    let log = drive(&mut up, &clock, |_| status(500));
    assert_eq!(log.sends.len(), 6);
    let mut last_at = 0;
    for e in &log.events {
        if let UploadEvent::RetryScheduled {
            attempts,
            at,
            status,
            ..
        } = e
        {
            let d = (1000u64 << (attempts - 1)).min(10_000);
            let gap = at.0 - last_at;
            assert!(gap >= d * 3 / 4 && gap <= (d * 5 / 4).min(10_000));
            assert_eq!(*status, 500);
            last_at = at.0;
        }
    }
}

#[test]
fn max_attempts_dead_letters_with_the_last_status() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_attempts: 3,
            ..cfg()
        },
        None,
    );
    up.add(1, 10);
    let mut answers = vec![status(500), status(503), status(502)].into_iter();
    let log = drive(&mut up, &clock, |_| answers.next().unwrap());
    assert_eq!(log.sends.len(), 3);
    assert_eq!(log.dead, vec![(vec![1], ErrorCode::RetriesExhausted, 502)]);
    assert_eq!(up.stats().attempts, 3);
}

#[test]
fn an_expired_lease_returns_the_batch_unchanged() {
    let mut rng = SeqRng::new(vec![0.5]);
    let mut up = UploadPlanner::new(
        UploadConfig {
            lease_ms: 1000,
            ..cfg()
        },
        None,
    );
    up.add(1, 10);
    let Action::Send(a) = up.next_action(Millis(0), &mut rng) else {
        panic!()
    };
    assert_eq!(
        up.next_action(Millis(10), &mut rng),
        Action::Wait {
            until: Millis(1000)
        }
    );
    assert!(up.expire_leases(Millis(999)).is_empty());
    assert_eq!(up.stats().in_flight_batches, 1);
    assert_eq!(up.expire_leases(Millis(1000)), vec![a.id]);
    assert_eq!(up.stats().pending_records, 1);
    let Action::Send(b) = up.next_action(Millis(1000), &mut rng) else {
        panic!()
    };
    assert_eq!(
        (b.id, b.idempotency_seed, b.attempts),
        (a.id, a.idempotency_seed, 2)
    );
    // The first send answers late: it still counts, once.
    assert!(matches!(
        &up.on_result(a.id, SendResult::Ok, Millis(1001), &mut rng)[..],
        [UploadEvent::Delivered { .. }]
    ));
    assert!(up
        .on_result(b.id, SendResult::Ok, Millis(1002), &mut rng)
        .is_empty());
    assert_eq!(up.stats().sent_records, 1);
}

#[test]
fn a_restored_batch_keeps_its_key_and_waits_out_a_live_lease() {
    // Seeds are random (the driver seeds the rng from crypto.getRandomValues per session).
    let mut rng = SplitMix64::new(5);
    let mut before = UploadPlanner::new(
        UploadConfig {
            lease_ms: 1000,
            ..cfg()
        },
        None,
    );
    before.add(1, 10);
    before.add(2, 20);
    let Action::Send(a) = before.next_action(Millis(0), &mut rng) else {
        panic!()
    };
    let desc = before.batch_descriptor(a.id).unwrap();
    assert_eq!(desc.lease_until, Millis(1000));
    // The tab dies; a new one starts at 400 with the stored descriptor.
    let mut after = UploadPlanner::new(
        UploadConfig {
            lease_ms: 1000,
            ..cfg()
        },
        None,
    );
    let id = after.restore_batch(desc.clone(), Millis(400)).unwrap();
    after.add(1, 10); // the driver also lists the record: ignored, it is in the batch
    assert_eq!(
        after.next_action(Millis(999), &mut rng),
        Action::Wait {
            until: Millis(1000)
        }
    );
    let Action::Send(b) = after.next_action(Millis(1000), &mut rng) else {
        panic!()
    };
    assert_eq!(
        (
            b.id,
            b.record_ids.clone(),
            b.idempotency_seed,
            b.attempts,
            b.body_bytes
        ),
        (id, a.record_ids, a.idempotency_seed, 2, a.body_bytes)
    );

    // A descriptor overlapping tracked records is released with new keys.
    let mut other = UploadPlanner::new(cfg(), None);
    other.add(2, 20);
    assert_eq!(other.restore_batch(desc, Millis(5000)), None);
    let Action::Send(c) = other.next_action(Millis(5000), &mut rng) else {
        panic!()
    };
    assert_eq!(c.record_ids, vec![1, 2]);
    assert_ne!(c.idempotency_seed, a.idempotency_seed);
}

#[test]
fn driver_pauses_hold_everything() {
    let mut rng = SeqRng::new(vec![0.5]);
    let mut up = UploadPlanner::new(cfg(), None);
    up.add(1, 10);
    up.set_paused(PauseReason::Offline, true);
    up.set_paused(PauseReason::HeapLimit, true);
    assert_eq!(up.next_action(Millis(0), &mut rng), Action::Idle);
    up.set_paused(PauseReason::Offline, false);
    assert_eq!(up.next_action(Millis(0), &mut rng), Action::Idle);
    up.set_paused(PauseReason::HeapLimit, false);
    up.pause_until(Millis(50));
    assert_eq!(
        up.next_action(Millis(49), &mut rng),
        Action::Wait { until: Millis(50) }
    );
    assert!(matches!(
        up.next_action(Millis(50), &mut rng),
        Action::Send(_)
    ));
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    TooLarge,
    Conflict,
    Unprocessable,
    Throttled,
    Unavailable,
    ServerError,
    Network,
    Lost,
    LateOk,
    NotSent,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Ok),
        Just(Outcome::TooLarge),
        Just(Outcome::Conflict),
        Just(Outcome::Unprocessable),
        Just(Outcome::Throttled),
        Just(Outcome::Unavailable),
        Just(Outcome::ServerError),
        Just(Outcome::Network),
        Just(Outcome::Lost),
        Just(Outcome::LateOk),
        Just(Outcome::NotSent),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_record_ends_exactly_once_sent_or_dead_lettered(
        lens in prop::collection::vec(1u64..400, 1..40),
        script in prop::collection::vec(outcome(), 0..80),
        items in 1u32..6,
        concurrency in 1u32..4,
        seed in any::<u64>(),
    ) {
        let cfg = UploadConfig { max_batch_bytes: 1000, max_batch_items: items, concurrency, max_attempts: 4, lease_ms: 500, ..UploadConfig::default() };
        let mut up = UploadPlanner::new(cfg, None);
        let mut rng = SplitMix64::new(seed);
        let total = lens.len() as u64;
        for (i, len) in lens.iter().enumerate() {
            up.add(i as u64 + 1, *len);
        }
        let mut now = Millis(0);
        let mut outcomes = script.into_iter();
        let mut lost: Vec<BatchId> = Vec::new();
        let mut ends = vec![0u32; lens.len() + 1];
        let settle = |events: Vec<UploadEvent>, ends: &mut Vec<u32>| {
            for e in events {
                match e {
                    UploadEvent::Delivered { record_ids, .. } | UploadEvent::DeadLetter { record_ids, .. } => {
                        for id in record_ids { ends[id as usize] += 1; }
                    }
                    _ => {}
                }
            }
        };
        let mut idle = false;
        for _ in 0..20_000 {
            let s = up.stats();
            // Conservation: nothing lost or counted twice; memory bounded by the records.
            prop_assert_eq!(s.pending_records + s.in_flight_records + s.sent_records + s.dead_lettered_records, total);
            prop_assert!(u64::from(s.in_flight_batches) <= u64::from(concurrency));
            match up.next_action(now, &mut rng) {
                Action::Send(b) => {
                    prop_assert!(b.record_ids.len() <= items as usize);
                    prop_assert!(b.record_ids.len() == 1 || b.body_bytes <= 1000);
                    let result = match outcomes.next() {
                        None | Some(Outcome::Ok) => SendResult::Ok,
                        Some(Outcome::TooLarge) => SendResult::Status { status: 413, retry_after_ms: None },
                        Some(Outcome::Conflict) => SendResult::Status { status: 409, retry_after_ms: None },
                        Some(Outcome::Unprocessable) => SendResult::Status { status: 422, retry_after_ms: None },
                        Some(Outcome::Throttled) => SendResult::Status { status: 429, retry_after_ms: Some(700) },
                        Some(Outcome::Unavailable) => SendResult::Status { status: 503, retry_after_ms: None },
                        Some(Outcome::ServerError) => SendResult::Status { status: 500, retry_after_ms: None },
                        Some(Outcome::Network) => SendResult::NetworkError,
                        Some(Outcome::NotSent) => SendResult::NotSent { retry_in_ms: 300 },
                        Some(Outcome::Lost) => { lost.push(b.id); continue; }
                        Some(Outcome::LateOk) => {
                            // Answer an older lost send first (a late success), then fail this one.
                            if let Some(old) = lost.pop() {
                                let ev = up.on_result(old, SendResult::Ok, now, &mut rng);
                                settle(ev, &mut ends);
                            }
                            SendResult::NetworkError
                        }
                    };
                    let ev = up.on_result(b.id, result, now, &mut rng);
                    settle(ev, &mut ends);
                }
                Action::DeadLetter { record_ids, .. } => {
                    for id in record_ids { ends[id as usize] += 1; }
                }
                Action::Wait { until } => { prop_assert!(until > now); now = until; }
                Action::Idle => { idle = true; break; }
            }
        }
        prop_assert!(idle, "the planner settles");
        for (id, n) in ends.iter().enumerate().skip(1) {
            prop_assert_eq!(*n, 1, "record {} ended {} times", id, n);
        }
        let s = up.stats();
        prop_assert_eq!(s.sent_records + s.dead_lettered_records, total);
        prop_assert_eq!(s.pending_records + s.in_flight_records, 0);
    }
}

/// Sends `Ok` to every batch in flight, oldest first, via manual steps.
fn step(up: &mut UploadPlanner, now: u64, rng: &mut SeqRng) -> Action {
    up.next_action(Millis(now), rng)
}

// Issue 12 ("Being offline is not a failure of the data"): an hour without network loses
// nothing to the dead-letter store; the queue probes one batch at a time, backing off to the cap.
#[test]
fn an_hour_unreachable_uses_no_attempts_and_probes_one_batch_at_capped_intervals() {
    let clock = ManualClock::new(0);
    let cfg = UploadConfig {
        max_batch_items: 2,
        concurrency: 2,
        max_attempts: 2,
        base_delay_ms: 1000,
        max_delay_ms: 30_000,
        ..cfg()
    };
    let mut up = UploadPlanner::new(cfg, None);
    (1..=10).for_each(|id| up.add(id, 10));
    let hour = 3_600_000;
    let mut send_times = Vec::new();
    let log = drive(&mut up, &clock, |_| {
        send_times.push(clock.now().0);
        if clock.now().0 < hour {
            SendResult::NetworkError
        } else {
            SendResult::Ok
        }
    });
    assert!(log.dead.is_empty(), "nothing dead-lettered: {:?}", log.dead);
    let mut delivered = log.delivered.clone();
    delivered.sort_unstable();
    assert_eq!(delivered, (1..=10).collect::<Vec<_>>());
    // The first send and the probes: gaps double from base_delay_ms and stop at max_delay_ms.
    let gaps: Vec<u64> = send_times.windows(2).map(|w| w[1] - w[0]).collect();
    let probe_gaps: Vec<u64> = gaps.iter().copied().filter(|g| *g > 0).collect();
    assert_eq!(&probe_gaps[..6], &[1000, 2000, 4000, 8000, 16_000, 30_000]);
    assert!(
        probe_gaps.iter().all(|g| *g <= 30_000),
        "capped: {probe_gaps:?}"
    );
    assert!(
        probe_gaps.len() > 100,
        "kept probing for the hour: {}",
        probe_gaps.len()
    );
    assert_eq!(up.stats().attempts as usize, send_times.len());
}

#[test]
fn a_network_failure_uses_an_attempt_when_another_send_succeeded_meanwhile() {
    let mut rng = SeqRng::new(vec![0.5]);
    let cfg = UploadConfig {
        max_batch_items: 1,
        concurrency: 2,
        max_attempts: 1,
        ..cfg()
    };
    let mut up = UploadPlanner::new(cfg, None);
    up.add(1, 10);
    up.add(2, 10);
    let Action::Send(a) = step(&mut up, 0, &mut rng) else {
        panic!("send a")
    };
    let Action::Send(b) = step(&mut up, 0, &mut rng) else {
        panic!("send b")
    };
    assert!(matches!(
        &up.on_result(b.id, SendResult::Ok, Millis(5), &mut rng)[..],
        [UploadEvent::Delivered { .. }]
    ));
    let ev = up.on_result(a.id, SendResult::NetworkError, Millis(6), &mut rng);
    assert_eq!(
        ev,
        vec![UploadEvent::DeadLetter {
            record_ids: vec![1],
            code: ErrorCode::RetriesExhausted,
            last_status: 0
        }]
    );
    assert!(!up.is_unreachable());

    // The same failure with no success meanwhile gives the attempt back.
    let mut up = UploadPlanner::new(cfg, None);
    up.add(1, 10);
    let Action::Send(a) = step(&mut up, 0, &mut rng) else {
        panic!("send")
    };
    let ev = up.on_result(a.id, SendResult::NetworkError, Millis(6), &mut rng);
    assert!(
        matches!(
            &ev[..],
            [UploadEvent::RetryScheduled {
                attempts: 0,
                status: 0,
                ..
            }]
        ),
        "{ev:?}"
    );
    assert!(up.is_unreachable());
    // The probe waits base_delay_ms (1000): 1 ms early nothing, then the same batch.
    assert_eq!(
        step(&mut up, 1005, &mut rng),
        Action::Wait {
            until: Millis(1006)
        }
    );
    let Action::Send(again) = step(&mut up, 1006, &mut rng) else {
        panic!("probe")
    };
    assert_eq!(
        (again.idempotency_seed, again.attempts),
        (a.idempotency_seed, 1)
    );
    // Any HTTP answer ends the probing.
    up.on_result(again.id, status(500), Millis(1010), &mut rng);
    assert!(!up.is_unreachable());
}

#[test]
fn wake_probes_an_unreachable_endpoint_at_once() {
    let mut rng = SeqRng::new(vec![0.5]);
    let mut up = UploadPlanner::new(
        UploadConfig {
            concurrency: 2,
            max_batch_items: 1,
            ..cfg()
        },
        None,
    );
    up.add(1, 10);
    up.add(2, 10);
    let Action::Send(a) = step(&mut up, 0, &mut rng) else {
        panic!("send")
    };
    up.on_result(a.id, SendResult::NetworkError, Millis(0), &mut rng);
    assert_eq!(
        step(&mut up, 10, &mut rng),
        Action::Wait {
            until: Millis(1000)
        }
    );
    up.wake(Millis(10));
    assert!(matches!(step(&mut up, 10, &mut rng), Action::Send(_)));
    // One probe at a time although concurrency is 2.
    assert!(matches!(step(&mut up, 10, &mut rng), Action::Wait { .. }));
}

// Issue 12: an open breaker for the endpoint does not consume attempts.
#[test]
fn a_send_the_guard_did_not_make_uses_no_attempt_and_pauses_the_queue_capped() {
    let mut rng = SeqRng::new(vec![0.5]);
    let cfg = UploadConfig {
        max_attempts: 1,
        max_retry_after_ms: 60_000,
        ..cfg()
    };
    let mut up = UploadPlanner::new(cfg, None);
    up.add(1, 10);
    for round in 0..5u64 {
        let t = round * 5000;
        let Action::Send(b) = step(&mut up, t, &mut rng) else {
            panic!("send in round {round}")
        };
        assert_eq!(b.attempts, 1, "still the first attempt");
        up.on_result(
            b.id,
            SendResult::NotSent { retry_in_ms: 5000 },
            Millis(t),
            &mut rng,
        );
        assert_eq!(
            step(&mut up, t + 4999, &mut rng),
            Action::Wait {
                until: Millis(t + 5000)
            }
        );
    }
    assert_eq!(up.stats().dead_lettered_records, 0);
    assert_eq!(up.stats().attempts, 0, "no send counted");
    // A breaker that says "a day": the queue waits the cap.
    let Action::Send(b) = step(&mut up, 25_000, &mut rng) else {
        panic!("send")
    };
    up.on_result(
        b.id,
        SendResult::NotSent {
            retry_in_ms: 86_400_000,
        },
        Millis(25_000),
        &mut rng,
    );
    assert_eq!(
        step(&mut up, 25_001, &mut rng),
        Action::Wait {
            until: Millis(85_000)
        }
    );
}

// Issue 12: the uploader's pacing hints are capped like the request guard's (no 24-day pause).
#[test]
fn a_hint_beyond_max_retry_after_ms_waits_the_cap() {
    let mut rng = SeqRng::new(vec![0.5]);
    let cfg = UploadConfig {
        max_retry_after_ms: 60_000,
        ..cfg()
    };
    let mut up = UploadPlanner::new(cfg, None);
    up.add(1, 10);
    let Action::Send(b) = step(&mut up, 0, &mut rng) else {
        panic!("send")
    };
    let ev = up.on_result(
        b.id,
        SendResult::Status {
            status: 429,
            retry_after_ms: Some(24 * 86_400_000),
        },
        Millis(0),
        &mut rng,
    );
    assert!(
        ev.contains(&UploadEvent::PausedUntil(Millis(60_000))),
        "{ev:?}"
    );
    assert_eq!(
        step(&mut up, 59_999, &mut rng),
        Action::Wait {
            until: Millis(60_000)
        }
    );
    assert!(matches!(step(&mut up, 60_000, &mut rng), Action::Send(_)));
}

// Issue 12: the learned batch limit has a floor and can grow back.
#[test]
fn the_learned_limit_has_a_floor_and_grows_back_after_clean_deliveries() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    (1..=40).for_each(|id| up.add(id, 100));
    let log = drive(&mut up, &clock, accept_up_to(300));
    let learned: Vec<u64> = log
        .events
        .iter()
        .filter_map(|e| match e {
            UploadEvent::LearnedMaxBytes(b) => Some(*b),
            _ => None,
        })
        .collect();
    assert!(!learned.is_empty());
    assert!(
        learned.iter().all(|b| *b >= LEARNED_FLOOR_BYTES),
        "never below the floor: {learned:?}"
    );
    assert_eq!(log.delivered.len(), 40);

    // Grows by a quarter after LEARNED_GROWTH_AFTER deliveries in a row, up to max_batch_bytes.
    let one = UploadConfig {
        max_batch_items: 1,
        ..cfg()
    };
    let mut up = UploadPlanner::new(one, Some(4000));
    (1..=200).for_each(|id| up.add(id, 10));
    let log = drive(&mut up, &clock, |_| SendResult::Ok);
    let learned: Vec<u64> = log
        .events
        .iter()
        .filter_map(|e| match e {
            UploadEvent::LearnedMaxBytes(b) => Some(*b),
            _ => None,
        })
        .collect();
    assert_eq!(learned, vec![5000, 6250, 7812, 9765, 10_000]);
    let at: Vec<usize> = log
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, UploadEvent::LearnedMaxBytes(_)))
        .map(|(i, _)| i)
        .collect();
    // Each growth comes after 32 deliveries (one event per delivery plus the growth event).
    assert_eq!(&at[..2], &[32, 65]);
    assert_eq!(up.effective_max_bytes(), 10_000);
}

#[test]
fn only_full_batches_are_formed_while_more_records_are_stored() {
    let mut rng = SeqRng::new(vec![0.5]);
    let cfg = UploadConfig {
        max_batch_items: 5,
        ..cfg()
    };
    let mut up = UploadPlanner::new(cfg, None);
    up.set_more_stored(true);
    (1..=3).for_each(|id| up.add(id, 10));
    assert_eq!(up.window(), (3, 30, 0));
    assert_eq!(
        step(&mut up, 0, &mut rng),
        Action::Idle,
        "3 of 5: wait for the driver to read more"
    );
    (4..=6).for_each(|id| up.add(id, 10));
    let Action::Send(b) = step(&mut up, 0, &mut rng) else {
        panic!("a full batch")
    };
    assert_eq!(b.record_ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(up.window(), (1, 10, 1));
    up.on_result(b.id, SendResult::Ok, Millis(1), &mut rng);
    assert_eq!(step(&mut up, 1, &mut rng), Action::Idle);
    up.set_more_stored(false);
    let Action::Send(b) = step(&mut up, 1, &mut rng) else {
        panic!("the tail")
    };
    assert_eq!(b.record_ids, vec![6]);
    // A batch cut by the byte limit is full too.
    let mut up = UploadPlanner::new(
        UploadConfig {
            max_batch_bytes: 100,
            ..cfg
        },
        None,
    );
    up.set_more_stored(true);
    (1..=3).for_each(|id| up.add(id, 40));
    let Action::Send(b) = step(&mut up, 0, &mut rng) else {
        panic!("byte-full batch")
    };
    assert_eq!(b.record_ids, vec![1, 2]);
}
