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
    (1..=8).for_each(|id| up.add(id, 100));
    let log = drive(&mut up, &clock, accept_up_to(300));
    // 8 records: 821 B -> 413; 4: 417 B -> 413; 2: 215 B -> accepted.
    assert_eq!(
        log.sends
            .iter()
            .map(|b| b.body_bytes)
            .take(3)
            .collect::<Vec<_>>(),
        vec![821, 417, 215]
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
    assert_eq!(up.learned_max_bytes(), Some(215));
    assert!(
        log.events.contains(&UploadEvent::LearnedMaxBytes(410)),
        "half the refused size first"
    );
}

#[test]
fn the_learned_size_plans_later_batches_and_a_fresh_planner() {
    let clock = ManualClock::new(0);
    let mut up = UploadPlanner::new(cfg(), None);
    (1..=8).for_each(|id| up.add(id, 100));
    drive(&mut up, &clock, accept_up_to(300));
    let learned = up.learned_max_bytes();
    assert_eq!(learned, Some(215));
    (9..=14).for_each(|id| up.add(id, 100));
    let log = drive(&mut up, &clock, accept_up_to(300));
    assert_eq!(
        sizes(&log),
        vec![2, 2, 2],
        "no 413 once the size is learned"
    );

    let mut fresh = UploadPlanner::new(cfg(), learned);
    assert_eq!(fresh.effective_max_bytes(), 215);
    (1..=6).for_each(|id| fresh.add(id, 100));
    let log = drive(&mut fresh, &clock, accept_up_to(300));
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
    let log = drive(&mut up, &clock, |_| SendResult::NetworkError);
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
            assert_eq!(*status, 0);
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
    let mut answers = vec![status(500), SendResult::NetworkError, status(502)].into_iter();
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
