//! Breach reporter rules (native, ManualClock).

use proptest::prelude::*;
use resource_guard::core::json::{parse, JsonWriter, Value};
use resource_guard::core::report::{
    Breach, ReportBatch, ReportKind, Reporter, DEDUPE_WINDOW_MS, KEEPALIVE_QUOTA_BYTES,
    MAX_KEPT_BYTES, MAX_PENDING, MAX_RESTORE_BYTES,
};
use resource_guard::core::retry::retry_after::parse_http_date;
use resource_guard::core::time::{Clock, ManualClock, Millis};

const URL: &str = "https://app.example/dash?user=42#tab";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126";

fn reporter(max_per_minute: u32, max_batch_bytes: usize) -> Reporter {
    Reporter::new(
        max_per_minute,
        10_000,
        max_batch_bytes,
        URL.into(),
        UA.into(),
        false,
    )
}

fn body(used: u64) -> String {
    let mut w = JsonWriter::new();
    w.raw("{")
        .key("level")
        .str("critical")
        .key("used_bytes")
        .u64(used)
        .raw("}");
    w.out
}

fn breach(kind: ReportKind, key: &str, at: Millis) -> Breach {
    Breach {
        kind,
        key: key.into(),
        body_json: body(48_000_000),
        at,
    }
}

fn items(batch: &ReportBatch) -> Vec<Value> {
    match parse(&batch.json).expect("batch is JSON") {
        Value::Arr(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

fn count_of(item: &Value) -> f64 {
    item.get("body")
        .and_then(|b| b.get("count"))
        .and_then(Value::as_f64)
        .unwrap()
}

#[test]
fn produced_json_has_exactly_the_documented_fields() {
    let clock = ManualClock::new(5_000);
    let mut r = reporter(6, 60_000);
    r.push(breach(
        ReportKind::Breaker,
        "breaker:https://api.example",
        clock.now(),
    ));
    clock.advance(10_000);
    let b = r.poll(clock.now()).unwrap();
    assert_eq!(b.count, 1);
    let v = items(&b);
    let Value::Obj(members) = &v[0] else { panic!() };
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["type", "age", "url", "user_agent", "body"]);
    assert_eq!(
        v[0].get("type").and_then(Value::as_str),
        Some("resource-guard-breaker")
    );
    assert_eq!(v[0].get("age").and_then(Value::as_f64), Some(10_000.0));
    assert_eq!(
        v[0].get("url").and_then(Value::as_str),
        Some("https://app.example/dash")
    );
    assert_eq!(v[0].get("user_agent").and_then(Value::as_str), Some(UA));
    let body = v[0].get("body").unwrap();
    assert_eq!(body.get("level").and_then(Value::as_str), Some("critical"));
    assert_eq!(
        body.get("used_bytes").and_then(Value::as_f64),
        Some(48_000_000.0)
    );
    assert_eq!(count_of(&v[0]), 1.0);
    assert_eq!(
        b.json,
        r#"[{"type":"resource-guard-breaker","age":10000,"url":"https://app.example/dash","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/126","body":{"level":"critical","used_bytes":48000000,"count":1}}]"#
    );
}

#[test]
fn every_kind_has_its_type_string() {
    let want = [
        (ReportKind::Heap, "resource-guard-heap"),
        (ReportKind::LongTask, "resource-guard-longtask"),
        (ReportKind::Shed, "resource-guard-shed"),
        (ReportKind::Breaker, "resource-guard-breaker"),
        (ReportKind::DeadLetter, "resource-guard-dead-letter"),
    ];
    let mut r = reporter(6, 60_000);
    for (i, (k, _)) in want.iter().enumerate() {
        r.push(breach(*k, &i.to_string(), Millis(0)));
    }
    let v = items(&r.poll(Millis(10_000)).unwrap());
    for (item, (_, t)) in v.iter().zip(want) {
        assert_eq!(item.get("type").and_then(Value::as_str), Some(t));
    }
}

#[test]
fn url_query_and_fragment_are_stripped_unless_kept() {
    let mut kept = Reporter::new(6, 0, 60_000, URL.into(), UA.into(), true);
    kept.push(breach(ReportKind::Shed, "shed", Millis(0)));
    let v = items(&kept.poll(Millis(0)).unwrap());
    assert_eq!(v[0].get("url").and_then(Value::as_str), Some(URL));
    let mut stripped = Reporter::new(
        6,
        0,
        60_000,
        "https://a.example/x#frag".into(),
        UA.into(),
        false,
    );
    stripped.push(breach(ReportKind::Shed, "shed", Millis(0)));
    let v = items(&stripped.poll(Millis(0)).unwrap());
    assert_eq!(
        v[0].get("url").and_then(Value::as_str),
        Some("https://a.example/x")
    );
}

#[test]
fn flush_interval_counts_from_the_first_pending_breach() {
    let clock = ManualClock::new(1_000);
    let mut r = reporter(6, 60_000);
    assert_eq!(r.next_wake(clock.now()), None);
    r.push(breach(ReportKind::Heap, "a", clock.now()));
    clock.advance(5_000);
    r.push(breach(ReportKind::Heap, "b", clock.now()));
    assert_eq!(r.next_wake(clock.now()), Some(Millis(11_000)));
    assert!(r.poll(Millis(10_999)).is_none());
    let b = r.poll(Millis(11_000)).unwrap();
    assert_eq!(b.count, 2);
    assert_eq!(r.next_wake(Millis(11_000)), None);
}

#[test]
fn dedupes_while_pending() {
    let mut r = reporter(6, 60_000);
    for t in 0..5 {
        r.push(breach(ReportKind::Heap, "heap:critical", Millis(t)));
    }
    r.push(breach(ReportKind::Heap, "heap:limit", Millis(6)));
    assert_eq!(r.pending_len(), 2);
    assert_eq!(r.stats().deduped, 4);
    let b = r.poll(Millis(10_000)).unwrap();
    let v = items(&b);
    assert_eq!((count_of(&v[0]), count_of(&v[1])), (5.0, 1.0));
    // age counts from the first occurrence
    assert_eq!(v[0].get("age").and_then(Value::as_f64), Some(10_000.0));
}

#[test]
fn dedupes_while_persisting_until_one_ms_after_the_window() {
    let clock = ManualClock::new(0);
    let mut r = reporter(6, 60_000);
    r.push(breach(ReportKind::Heap, "heap:critical", clock.now()));
    clock.advance(10_000);
    let b = r.poll(clock.now()).unwrap();
    // In flight: repeats are suppressed, not queued.
    r.push(breach(ReportKind::Heap, "heap:critical", clock.now()));
    assert_eq!(r.pending_len(), 0);
    clock.advance(100);
    let sent_at = clock.now();
    r.on_sent(b.id, sent_at);
    assert_eq!(r.stats().sent, 1);
    // 1 ms before the window ends: still suppressed.
    r.push(breach(
        ReportKind::Heap,
        "heap:critical",
        sent_at.plus(DEDUPE_WINDOW_MS - 1),
    ));
    assert_eq!(r.pending_len(), 0);
    assert_eq!(r.stats().deduped, 2);
    // At the window's end it is reported again, carrying the 2 suppressed repeats.
    r.push(breach(
        ReportKind::Heap,
        "heap:critical",
        sent_at.plus(DEDUPE_WINDOW_MS),
    ));
    assert_eq!(r.pending_len(), 1);
    let b = r.poll(sent_at.plus(DEDUPE_WINDOW_MS + 10_000)).unwrap();
    assert_eq!(count_of(&items(&b)[0]), 3.0);
}

#[test]
fn batches_stay_under_the_byte_quota() {
    let max = 2_000;
    let mut r = reporter(100, max);
    for i in 0..40 {
        r.push(breach(ReportKind::Shed, &i.to_string(), Millis(0)));
    }
    let mut t = 10_000;
    let mut total = 0;
    while let Some(b) = r.poll(Millis(t)) {
        assert!(b.json.len() <= max, "{} > {max}", b.json.len());
        assert_eq!(items(&b).len(), b.count);
        // greedy: the next report would not have fitted
        assert!(
            b.json.len() + 230 > max || r.pending_len() == 0,
            "{}",
            b.json.len()
        );
        total += b.count;
        r.on_sent(b.id, Millis(t));
        t += 1;
    }
    assert_eq!((total, r.pending_len()), (40, 0));
}

#[test]
fn full_batch_is_sent_without_waiting_for_the_interval() {
    let mut r = reporter(6, 1_000);
    for i in 0..4 {
        r.push(breach(ReportKind::Shed, &i.to_string(), Millis(0)));
    }
    assert!(
        r.poll(Millis(1)).is_none(),
        "4 reports (~870 bytes) do not fill 1 000 bytes"
    );
    r.push(breach(ReportKind::Shed, "4", Millis(0)));
    assert!(
        r.poll(Millis(1)).is_some(),
        "estimated ≥ one batch: due at once"
    );
}

#[test]
fn oversized_report_is_truncated_not_blocking() {
    let mut r = reporter(6, 1_000);
    let mut w = JsonWriter::new();
    w.raw("{").key("detail").str(&"x".repeat(5_000)).raw("}");
    r.push(Breach {
        kind: ReportKind::DeadLetter,
        key: "dl".into(),
        body_json: w.out,
        at: Millis(0),
    });
    r.push(breach(ReportKind::Shed, "shed", Millis(0)));
    let b = r.poll(Millis(10_000)).unwrap();
    assert!(b.json.len() <= 1_000);
    let v = items(&b);
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0].get("type").and_then(Value::as_str),
        Some("resource-guard-dead-letter")
    );
    assert_eq!(
        v[0].get("url").and_then(Value::as_str),
        Some("https://app.example/dash")
    );
    let body = v[0].get("body").unwrap();
    assert_eq!(
        body,
        &Value::Obj(vec![
            ("count".into(), Value::Num(1.0)),
            ("truncated".into(), Value::Bool(true))
        ])
    );
}

#[test]
fn unsendable_report_is_dropped() {
    // A user agent longer than a whole batch: not even the minimal report fits.
    let mut r = Reporter::new(6, 0, 600, URL.into(), "u".repeat(700), false);
    r.push(breach(ReportKind::Shed, "shed", Millis(0)));
    assert!(r.poll(Millis(0)).is_none());
    assert_eq!((r.pending_len(), r.stats().dropped), (0, 1));
}

#[test]
fn own_rate_limit_holds_the_seventh_batch_until_the_first_leaves_the_window() {
    let clock = ManualClock::new(100_000);
    let mut r = Reporter::new(6, 0, 60_000, URL.into(), UA.into(), false);
    let first = clock.now();
    for i in 0..6 {
        r.push(breach(ReportKind::Shed, &i.to_string(), clock.now()));
        let b = r.poll(clock.now()).expect("within the limit");
        r.on_sent(b.id, clock.now());
        clock.advance(1_000);
    }
    r.push(breach(ReportKind::Shed, "7", clock.now()));
    assert!(r.poll(clock.now()).is_none());
    assert_eq!(r.next_wake(clock.now()), Some(first.plus(60_000)));
    assert!(r.poll(first.plus(59_999)).is_none());
    assert!(r.poll(first.plus(60_000)).is_some());
}

#[test]
fn retry_after_is_honoured_exactly() {
    let clock = ManualClock::new(0);
    let mut r = reporter(6, 60_000);
    r.push(breach(ReportKind::Heap, "heap:critical", clock.now()));
    clock.advance(10_000);
    let b = r.poll(clock.now()).unwrap();
    r.push(breach(ReportKind::Heap, "heap:critical", clock.now())); // suppressed while in flight
    r.on_failed(b.id, clock.now(), Some(7_000));
    assert_eq!(r.pending_len(), 1);
    assert_eq!(r.next_wake(clock.now()), Some(Millis(17_000)));
    assert!(r.poll(Millis(16_999)).is_none());
    assert!(
        r.flush_all(Millis(16_999)).is_empty(),
        "page hide respects the server's backoff"
    );
    let again = r.poll(Millis(17_000)).unwrap();
    let v = items(&again);
    assert_eq!(
        count_of(&v[0]),
        2.0,
        "the repeat suppressed in flight is carried"
    );
    assert_eq!(v[0].get("age").and_then(Value::as_f64), Some(17_000.0));
}

#[test]
fn backoff_without_a_hint_doubles_from_one_second_to_sixty() {
    let mut r = Reporter::new(600, 0, 60_000, URL.into(), UA.into(), false);
    r.push(breach(ReportKind::Heap, "h", Millis(0)));
    let mut now = Millis(0);
    for want in [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000] {
        let b = r.poll(now).unwrap();
        r.on_failed(b.id, now, None);
        assert!(r.poll(now.plus(want - 1)).is_none(), "{want}");
        now = now.plus(want);
    }
    let b = r.poll(now).unwrap();
    r.on_sent(b.id, now);
    r.push(breach(ReportKind::Heap, "other", now));
    let b = r.poll(now).unwrap();
    r.on_failed(b.id, now, None);
    assert!(r.poll(now.plus(999)).is_none());
    assert!(
        r.poll(now.plus(1_000)).is_some(),
        "success resets the backoff"
    );
}

#[test]
fn flush_all_respects_the_keepalive_quota_and_batch_size() {
    let mut r = Reporter::new(6, 10_000, 20_000, URL.into(), UA.into(), false);
    for i in 0..MAX_PENDING {
        let mut w = JsonWriter::new();
        w.raw("{").key("pad").str(&"p".repeat(800)).raw("}");
        r.push(Breach {
            kind: ReportKind::Shed,
            key: i.to_string(),
            body_json: w.out,
            at: Millis(0),
        });
    }
    let batches = r.flush_all(Millis(1));
    assert!(batches.len() >= 3);
    let total: usize = batches.iter().map(|b| b.json.len()).sum();
    assert!(total <= KEEPALIVE_QUOTA_BYTES, "{total}");
    assert!(batches.iter().all(|b| b.json.len() <= 20_000));
    let sent: usize = batches.iter().map(|b| b.count).sum();
    assert!(r.pending_len() > 0 && sent + r.pending_len() == MAX_PENDING);
    // What is left can be persisted and restored on the next page.
    let left = r.pending_len();
    let saved = r.drain_pending_json(Millis(2));
    assert_eq!(r.pending_len(), 0);
    let mut next = Reporter::new(
        6,
        10_000,
        20_000,
        "https://app.example/other".into(),
        UA.into(),
        false,
    );
    next.restore_pending_json(&saved, Millis(50));
    assert_eq!(next.pending_len(), left);
}

#[test]
fn pending_store_is_bounded_and_drops_the_oldest() {
    let mut r = reporter(6, 60_000);
    for i in 0..(MAX_PENDING + 25) {
        r.push(breach(ReportKind::Shed, &i.to_string(), Millis(i as u64)));
    }
    assert_eq!(r.pending_len(), MAX_PENDING);
    assert_eq!(r.stats().dropped, 25);
    let saved = r.drain_pending_json(Millis(1_000));
    let Value::Arr(v) = parse(&saved).unwrap() else {
        panic!()
    };
    assert_eq!(v[0].get("key").and_then(Value::as_str), Some("25"));
}

#[test]
fn drain_and_restore_round_trip_keeps_key_count_age_url_and_body() {
    let mut r = reporter(6, 60_000);
    for t in [0, 1, 2] {
        r.push(breach(ReportKind::Heap, "heap:critical", Millis(t)));
    }
    let saved = r.drain_pending_json(Millis(4_000));
    let mut next = Reporter::new(
        6,
        10_000,
        60_000,
        "https://app.example/next".into(),
        UA.into(),
        false,
    );
    next.restore_pending_json(&saved, Millis(5_000));
    next.push(breach(ReportKind::Heap, "heap:critical", Millis(5_100)));
    assert_eq!(next.pending_len(), 1);
    assert!(
        next.poll(Millis(14_999)).is_none(),
        "restored items wait a flush interval from the restore"
    );
    let b = next.poll(Millis(15_000)).unwrap();
    let v = items(&b);
    assert_eq!(count_of(&v[0]), 4.0);
    assert_eq!(
        v[0].get("url").and_then(Value::as_str),
        Some("https://app.example/dash")
    );
    // age 4 000 at save + 10 000 since the restore
    assert_eq!(v[0].get("age").and_then(Value::as_f64), Some(14_000.0));
    assert_eq!(
        v[0].get("body")
            .and_then(|b| b.get("used_bytes"))
            .and_then(Value::as_f64),
        Some(48_000_000.0)
    );
}

#[test]
fn restore_accepts_only_well_formed_items() {
    let mut r = reporter(6, 60_000);
    let hostile = r#"[
        {"type":"resource-guard-heap","age":5,"body":{"count":3,"x":1}},
        {"type":"resource-guard-nope","body":{}},
        {"type":"resource-guard-shed","body":[]},
        {"type":"resource-guard-shed"},
        {"type":"resource-guard-shed","age":-7,"key":"","body":{"count":"lots"}},
        {"type":"resource-guard-breaker","age":1e300,"key":"b","url":"https://x.example/?secret=1","body":{"count":-4}},
        7, null, "x", []
    ]"#;
    r.restore_pending_json(hostile, Millis(1_000));
    let saved = r.drain_pending_json(Millis(1_000));
    let Value::Arr(v) = parse(&saved).unwrap() else {
        panic!()
    };
    assert_eq!(v.len(), 3);
    assert_eq!(
        v[0].get("key").and_then(Value::as_str),
        Some("resource-guard-heap")
    );
    assert_eq!(
        (count_of(&v[0]), v[0].get("age").and_then(Value::as_f64)),
        (3.0, Some(5.0))
    );
    assert_eq!(
        (count_of(&v[1]), v[1].get("age").and_then(Value::as_f64)),
        (1.0, Some(0.0))
    );
    assert_eq!(
        v[2].get("url").and_then(Value::as_str),
        Some("https://x.example/")
    );
    assert_eq!(
        v[2].get("age").and_then(Value::as_f64),
        Some(1_000.0),
        "age capped by the clock"
    );
    for junk in ["", "{}", "[", "nul", &"[".repeat(100)] {
        r.restore_pending_json(junk, Millis(0));
    }
    assert_eq!(r.pending_len(), 0);
}

#[test]
fn restore_respects_the_bound() {
    let mut text = String::from("[");
    for i in 0..(MAX_PENDING + 50) {
        if i > 0 {
            text.push(',');
        }
        text.push_str(r#"{"type":"resource-guard-shed","key":"k"#);
        text.push_str(&i.to_string());
        text.push_str(r#"","body":{}}"#);
    }
    text.push(']');
    let mut r = reporter(6, 60_000);
    r.push(breach(ReportKind::Heap, "current", Millis(0)));
    r.restore_pending_json(&text, Millis(0));
    assert_eq!(r.pending_len(), MAX_PENDING);
    assert_eq!(
        r.stats().dropped,
        51,
        "the oldest restored items go first; the current one stays"
    );
    let saved = r.drain_pending_json(Millis(0));
    assert!(saved.contains("\"current\""));
}

proptest! {
    #[test]
    fn restore_from_hostile_json_never_panics(text in ".{0,400}", now in any::<u64>()) {
        let mut r = reporter(6, 60_000);
        r.restore_pending_json(&text, Millis(now));
        prop_assert!(r.pending_len() <= MAX_PENDING);
        let out = r.drain_pending_json(Millis(now));
        prop_assert!(parse(&out).is_ok());
    }

    #[test]
    fn restore_of_structured_junk_never_panics(
        items in prop::collection::vec((
            prop::sample::select(vec!["resource-guard-heap", "resource-guard-shed", "x", ""]),
            any::<f64>(),
            ".{0,20}",
            prop::sample::select(vec!["{}", "[]", "1", "{\"count\":1e308}", "{\"count\":0.5,\"a\":[{\"b\":null}]}", "{\"truncated\":true}", "\"s\""]),
        ), 0..30),
        now in any::<u64>(),
    ) {
        let mut text = String::from("[");
        for (i, (t, age, key, body)) in items.iter().enumerate() {
            if i > 0 { text.push(','); }
            let mut w = JsonWriter::new();
            w.raw("{").key("type").str(t).key("age").f64(*age).key("key").str(key).key("body").raw(body).raw("}");
            text.push_str(&w.out);
        }
        text.push(']');
        let mut r = reporter(6, 600);
        r.restore_pending_json(&text, Millis(now));
        for b in r.flush_all(Millis(now)) {
            prop_assert!(b.json.len() <= 600);
            prop_assert!(parse(&b.json).is_ok());
        }
    }

    #[test]
    fn batches_are_valid_json_under_quota_for_any_input(
        breaches in prop::collection::vec((0u8..5, "[a-c]{1,2}", ".{0,300}", 0u64..100_000), 0..80),
        max in 512usize..4_000,
        steps in prop::collection::vec((0u64..20_000, 0u8..3, prop::option::of(0u64..5_000)), 0..30),
    ) {
        let kinds = [ReportKind::Heap, ReportKind::LongTask, ReportKind::Shed, ReportKind::Breaker, ReportKind::DeadLetter];
        let mut r = Reporter::new(6, 1_000, max, URL.into(), UA.into(), false);
        for (k, key, body, at) in &breaches {
            r.push(Breach { kind: kinds[*k as usize], key: key.clone(), body_json: body.clone(), at: Millis(*at) });
        }
        let mut now = Millis(0);
        for (dt, action, retry) in steps {
            now = now.plus(dt);
            if let Some(b) = r.poll(now) {
                prop_assert!(b.json.len() <= max);
                let Ok(Value::Arr(v)) = parse(&b.json) else { return Err(TestCaseError::fail("not an array")) };
                prop_assert_eq!(v.len(), b.count);
                match action {
                    0 => r.on_sent(b.id, now),
                    1 => r.on_failed(b.id, now, retry),
                    _ => {}
                }
            }
            prop_assert!(r.pending_len() <= MAX_PENDING);
            if let Some(w) = r.next_wake(now) { prop_assert!(w >= now); }
        }
        let total: usize = r.flush_all(now).iter().map(|b| b.json.len()).sum();
        prop_assert!(total <= KEEPALIVE_QUOTA_BYTES);
    }
}

fn parse_arr(text: &str) -> Vec<Value> {
    match parse(text).expect("kept text is JSON") {
        Value::Arr(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

fn keys_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.get("key").and_then(Value::as_str).unwrap().to_owned())
        .collect()
}

// Issue 12: what one hide keeps is merged with what an earlier hide (or another tab with the
// same endpoint) kept, never overwritten.
#[test]
fn kept_reports_are_merged_with_what_is_kept_already() {
    let mut tab_a = reporter(6, 60_000);
    tab_a.push(breach(ReportKind::Heap, "heap:critical", Millis(0)));
    tab_a.push(breach(ReportKind::Shed, "shed:api", Millis(10)));
    let first = tab_a.keep_json("", Millis(1_000));
    assert_eq!(tab_a.pending_len(), 0);

    let mut tab_b = Reporter::new(
        6,
        10_000,
        60_000,
        "https://app.example/other".into(),
        UA.into(),
        false,
    );
    tab_b.push(breach(ReportKind::Heap, "heap:critical", Millis(500)));
    tab_b.push(breach(
        ReportKind::Breaker,
        "breaker:https://api.example",
        Millis(600),
    ));
    let merged = tab_b.keep_json(&first, Millis(2_000));
    let v = parse_arr(&merged);
    let mut keys = keys_of(&v);
    keys.sort();
    assert_eq!(
        keys,
        ["breaker:https://api.example", "heap:critical", "shed:api"]
    );
    let heap = v
        .iter()
        .find(|i| i.get("key").and_then(Value::as_str) == Some("heap:critical"))
        .unwrap();
    assert_eq!(
        count_of(heap),
        2.0,
        "the same key from both hides is one report, counted twice"
    );
    assert_eq!(
        heap.get("age").and_then(Value::as_f64),
        Some(1_500.0),
        "age from the earliest: tab B's own, at 500 ms of its clock"
    );
    let shed = v
        .iter()
        .find(|i| i.get("key").and_then(Value::as_str) == Some("shed:api"))
        .unwrap();
    assert_eq!(
        shed.get("url").and_then(Value::as_str),
        Some("https://app.example/dash"),
        "the page it came from"
    );

    // A hide with nothing new keeps what was kept.
    let mut idle = reporter(6, 60_000);
    assert_eq!(
        keys_of(&parse_arr(&idle.keep_json(&merged, Millis(3_000)))).len(),
        3
    );

    // The next page load takes all of it back.
    let mut next = reporter(6, 60_000);
    next.restore_pending_json(&merged, Millis(4_000));
    assert_eq!(next.pending_len(), 3);
}

// Issue 12: the kept amount stays bounded however often pages hide with full queues.
#[test]
fn kept_reports_stay_within_max_kept_bytes_newest_first() {
    assert!(
        MAX_KEPT_BYTES < MAX_RESTORE_BYTES,
        "what is kept is always read back"
    );
    let big = |i: u64| {
        let mut w = JsonWriter::new();
        w.raw("{")
            .key("i")
            .u64(i)
            .key("pad")
            .str(&"x".repeat(2_000))
            .raw("}");
        w.out
    };
    let mut kept = String::new();
    let mut seq = 0u64;
    for hide in 0..5u64 {
        let mut r = reporter(6, 60_000);
        for _ in 0..MAX_PENDING {
            seq += 1;
            r.push(Breach {
                kind: ReportKind::Shed,
                key: format!("k{seq}"),
                body_json: big(seq),
                at: Millis(hide * 1_000),
            });
        }
        kept = r.keep_json(&kept, Millis(hide * 1_000 + 500));
        assert!(
            kept.len() <= MAX_KEPT_BYTES,
            "hide {hide}: {} bytes",
            kept.len()
        );
        assert!(r.stats().dropped > 0, "what does not fit is counted");
    }
    let v = parse_arr(&kept);
    let keys = keys_of(&v);
    assert!(keys.contains(&format!("k{seq}")), "the newest is kept");
    assert!(!keys.contains(&"k1".to_owned()), "the oldest went first");
    // Reports kept whole come last (newest); older ones may be cut to their count.
    let last = v.last().unwrap();
    assert_eq!(
        last.get("body")
            .and_then(|b| b.get("i"))
            .and_then(Value::as_f64),
        Some(seq as f64)
    );
    // And the next page reads it all back.
    let mut next = reporter(6, 60_000);
    next.restore_pending_json(&kept, Millis(10_000));
    assert_eq!(next.pending_len(), v.len().min(MAX_PENDING));
}

// Issue 12: one Retry-After parser for the whole package; the report response's raw header
// goes to the core.
#[test]
fn a_report_responses_retry_after_header_is_read_by_the_core_parser() {
    let wall = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
    for (header, want_ms) in [
        (Some("120"), 120_000u64),
        (Some(" 7 "), 7_000),
        (Some("Sun, 06 Nov 1994 08:50:07 GMT"), 30_000),
        (Some("Sunday, 06-Nov-94 08:49:47 GMT"), 10_000),
        (Some("Sun Nov  6 08:49:42 1994"), 5_000),
        (Some("soon"), 1_000), // malformed: the computed backoff (1 s)
        (Some("1.5"), 1_000),
        (None, 1_000),
    ] {
        let clock = ManualClock::new(0);
        let mut r = reporter(6, 60_000);
        r.push(breach(ReportKind::Heap, "heap:critical", clock.now()));
        clock.advance(10_000);
        let b = r.poll(clock.now()).unwrap();
        r.on_failed_retry_after(b.id, clock.now(), header, wall);
        let until = clock.now().plus(want_ms);
        assert!(
            r.poll(Millis(until.0 - 1)).is_none(),
            "{header:?}: not 1 ms early"
        );
        assert!(r.poll(until).is_some(), "{header:?}: at {want_ms} ms");
    }
}
