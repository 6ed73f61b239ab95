//! Rules of the retry policy: Retry-After authority, method safety, backoff shape, budget windows.

use proptest::prelude::*;
use resource_guard::core::config::{GuardConfig, RetryConfig};
use resource_guard::core::retry::{
    decide, parse_error_body, parse_http_date, parse_ratelimit, parse_retry_after,
    parse_x_ratelimit, rate_limit_headers, retry_after, Backoff, BodyHint, DelaySource, GiveUp,
    Outcome, RetryBudget, RetryDecision, RetryReason, RetryRequest,
};
use resource_guard::core::rng::{SeqRng, SplitMix64};
use resource_guard::core::time::{Clock, ManualClock, Millis};

/// 2023-11-14T22:13:20Z.
const WALL: u64 = 1_700_000_000_000;

fn cfg(json: &str) -> RetryConfig {
    GuardConfig::from_json(json).unwrap().retry
}

struct Harness {
    cfg: RetryConfig,
    backoff: Backoff,
    budget: RetryBudget,
    rng: SeqRng,
}

impl Harness {
    fn new(json: &str) -> Self {
        let cfg = cfg(json);
        Harness {
            backoff: Backoff::new(&cfg),
            budget: RetryBudget::new(1.0, 100, 10_000),
            rng: SeqRng::new(vec![0.9, 0.1]),
            cfg,
        }
    }

    fn decide(&mut self, req: &RetryRequest<'_>, outcome: &Outcome<'_>) -> RetryDecision {
        decide(
            &self.cfg,
            req,
            outcome,
            &mut self.backoff,
            &mut self.budget,
            &mut self.rng,
        )
    }
}

fn get() -> RetryRequest<'static> {
    RetryRequest {
        method: "GET",
        has_idempotency_key: false,
        retries_done: 0,
        now: Millis(0),
        now_wall_ms: WALL,
        deadline: None,
    }
}

fn status(status: u16, retry_after: Option<&str>) -> Outcome<'_> {
    Outcome::Status {
        status,
        retry_after,
        body: None,
    }
}

fn retry_after_ms(ms: u64, reason: RetryReason) -> RetryDecision {
    RetryDecision::Retry {
        delay_ms: ms,
        source: DelaySource::RetryAfter,
        reason,
    }
}

#[test]
fn retry_after_one_second_is_exact_despite_jitter() {
    let mut h = Harness::new(r#"{"retry":{"jitter":1}}"#);
    for _ in 0..5 {
        assert_eq!(
            h.decide(&get(), &status(503, Some("1"))),
            retry_after_ms(1_000, RetryReason::Status(503))
        );
    }
}

#[test]
fn retry_after_http_date_three_seconds_ahead() {
    let mut h = Harness::new("{}");
    // WALL is 22:13:20 exactly.
    let date = "Tue, 14 Nov 2023 22:13:23 GMT";
    assert_eq!(parse_http_date(date), Some(WALL + 3_000));
    assert_eq!(
        h.decide(&get(), &status(429, Some(date))),
        retry_after_ms(3_000, RetryReason::Status(429))
    );
}

#[test]
fn retry_after_past_date_means_now() {
    let mut h = Harness::new("{}");
    let d = h.decide(&get(), &status(503, Some("Sun, 06 Nov 1994 08:49:37 GMT")));
    assert_eq!(d, retry_after_ms(0, RetryReason::Status(503)));
}

#[test]
fn hint_over_max_retry_after_gives_up_and_one_ms_under_is_allowed() {
    let mut h = Harness::new(r#"{"retry":{"maxRetryAfterMs":5000}}"#);
    assert_eq!(
        h.decide(&get(), &status(429, Some("6"))),
        RetryDecision::GiveUp(GiveUp::HintTooLong {
            retry_after_ms: 6_000
        })
    );
    assert_eq!(
        h.decide(&get(), &status(429, Some("5"))),
        retry_after_ms(5_000, RetryReason::Status(429))
    );
    let over = BodyHint {
        retry_after_ms: Some(5_001),
        ..BodyHint::default()
    };
    let under = BodyHint {
        retry_after_ms: Some(4_999),
        ..BodyHint::default()
    };
    let with = |b| Outcome::Status {
        status: 503,
        retry_after: None,
        body: Some(b),
    };
    assert_eq!(
        h.decide(&get(), &with(&over)),
        RetryDecision::GiveUp(GiveUp::HintTooLong {
            retry_after_ms: 5_001
        })
    );
    assert_eq!(
        h.decide(&get(), &with(&under)),
        RetryDecision::Retry {
            delay_ms: 4_999,
            source: DelaySource::BodyHint,
            reason: RetryReason::Status(503)
        }
    );
}

#[test]
fn larger_of_header_and_body_hint_wins() {
    let mut h = Harness::new("{}");
    let body = parse_error_body(r#"{"error":{"retryAfterMs":2500}}"#);
    let o = |ra| Outcome::Status {
        status: 503,
        retry_after: Some(ra),
        body: Some(&body),
    };
    assert_eq!(
        h.decide(&get(), &o("2")),
        RetryDecision::Retry {
            delay_ms: 2_500,
            source: DelaySource::BodyHint,
            reason: RetryReason::Status(503)
        }
    );
    assert_eq!(
        h.decide(&get(), &o("3")),
        retry_after_ms(3_000, RetryReason::Status(503))
    );
}

#[test]
fn payload_too_large_is_retried_only_with_retry_after() {
    let mut h = Harness::new("{}");
    assert_eq!(h.decide(&get(), &status(413, None)), RetryDecision::Done);
    assert_eq!(
        h.decide(&get(), &status(413, Some("soon"))),
        RetryDecision::Done
    );
    assert_eq!(
        h.decide(&get(), &status(413, Some("2"))),
        retry_after_ms(2_000, RetryReason::Status(413))
    );
}

#[test]
fn conflict_is_left_to_the_upload_engine() {
    let mut h = Harness::new(r#"{"retry":{"statusCodes":[409,503]}}"#);
    assert_eq!(
        h.decide(&get(), &status(409, Some("1"))),
        RetryDecision::Done
    );
}

#[test]
fn success_and_other_statuses_are_delivered() {
    let mut h = Harness::new("{}");
    for s in [200, 204, 304, 400, 404, 422, 501] {
        assert_eq!(
            h.decide(&get(), &status(s, Some("1"))),
            RetryDecision::Done,
            "{s}"
        );
    }
}

#[test]
fn post_needs_an_idempotency_key() {
    let mut h = Harness::new(r#"{"retry":{"jitter":0}}"#);
    let post = RetryRequest {
        method: "POST",
        ..get()
    };
    assert_eq!(
        h.decide(&post, &status(503, None)),
        RetryDecision::GiveUp(GiveUp::MethodNotSafe)
    );
    assert_eq!(
        h.decide(&post, &Outcome::NetworkError),
        RetryDecision::GiveUp(GiveUp::MethodNotSafe)
    );
    let keyed = RetryRequest {
        has_idempotency_key: true,
        ..post
    };
    assert_eq!(
        h.decide(&keyed, &status(503, None)),
        RetryDecision::Retry {
            delay_ms: 1_000,
            source: DelaySource::Backoff,
            reason: RetryReason::Status(503)
        }
    );
    let patch = RetryRequest {
        method: "patch",
        has_idempotency_key: true,
        ..get()
    };
    assert!(matches!(
        h.decide(&patch, &Outcome::AttemptTimeout),
        RetryDecision::Retry {
            reason: RetryReason::Timeout,
            ..
        }
    ));
    let lower_get = RetryRequest {
        method: "get",
        ..get()
    };
    assert!(matches!(
        h.decide(&lower_get, &Outcome::NetworkError),
        RetryDecision::Retry {
            reason: RetryReason::Network,
            ..
        }
    ));
}

#[test]
fn server_says_no_beats_everything_retryable() {
    let mut h = Harness::new("{}");
    let body = parse_error_body(r#"{"error":{"code":"BAD","retryable":false}}"#);
    let o = Outcome::Status {
        status: 503,
        retry_after: Some("1"),
        body: Some(&body),
    };
    assert_eq!(
        h.decide(&get(), &o),
        RetryDecision::GiveUp(GiveUp::ServerSaysNo)
    );
}

#[test]
fn retries_exhausted_after_max_retries() {
    let mut h = Harness::new(r#"{"retry":{"maxRetries":2}}"#);
    let req = RetryRequest {
        retries_done: 2,
        ..get()
    };
    assert_eq!(
        h.decide(&req, &Outcome::NetworkError),
        RetryDecision::GiveUp(GiveUp::RetriesExhausted)
    );
    let req = RetryRequest {
        retries_done: 1,
        ..get()
    };
    assert!(matches!(
        h.decide(&req, &Outcome::NetworkError),
        RetryDecision::Retry { .. }
    ));
}

#[test]
fn backoff_sequence_without_jitter() {
    let mut h = Harness::new(r#"{"retry":{"jitter":0,"maxRetries":20}}"#);
    let got: Vec<u64> = (0..6)
        .map(|n| {
            match h.decide(
                &RetryRequest {
                    retries_done: n,
                    ..get()
                },
                &status(500, None),
            ) {
                RetryDecision::Retry {
                    delay_ms,
                    source: DelaySource::Backoff,
                    ..
                } => delay_ms,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(got, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
}

#[test]
fn jitter_stays_within_bounds() {
    let c = cfg(r#"{"retry":{"jitter":0.25}}"#);
    let mut b = Backoff::new(&c);
    let mut rng = SplitMix64::new(9);
    for n in 1..=8u32 {
        let nominal = b.nominal_ms(n);
        for _ in 0..2_000 {
            let d = b.delay_ms(n, &mut rng);
            assert!(
                d >= nominal * 3 / 4 && d <= (nominal * 5 / 4).min(10_000),
                "retry {n}: {d}"
            );
        }
    }
    assert_eq!(b.delay_ms(1, &mut SeqRng::new(vec![0.0])), 750);
}

#[test]
fn deadline_rules() {
    let mut h = Harness::new(r#"{"retry":{"jitter":0}}"#);
    let req = RetryRequest {
        now: Millis(10_000),
        deadline: Some(Millis(11_000)),
        ..get()
    };
    assert_eq!(
        h.decide(&req, &Outcome::NetworkError),
        RetryDecision::GiveUp(GiveUp::PastDeadline)
    );
    assert_eq!(
        h.decide(&req, &status(503, Some("1"))),
        RetryDecision::GiveUp(GiveUp::HintTooLong {
            retry_after_ms: 1_000
        })
    );
    let req = RetryRequest {
        deadline: Some(Millis(11_001)),
        ..req
    };
    assert!(matches!(
        h.decide(&req, &Outcome::NetworkError),
        RetryDecision::Retry {
            delay_ms: 1_000,
            ..
        }
    ));
}

#[test]
fn budget_refuses_the_21st_retry_and_recovers_after_the_window() {
    let c = cfg(r#"{"retry":{"jitter":0,"maxRetries":20}}"#);
    let mut backoff = Backoff::new(&c);
    let mut budget = RetryBudget::new(0.2, 0, 10_000);
    let mut rng = SeqRng::new(vec![]);
    let clock = ManualClock::new(0);
    for _ in 0..100 {
        budget.record_request(clock.now());
    }
    let mut attempt = |budget: &mut RetryBudget, now: Millis| {
        let req = RetryRequest { now, ..get() };
        decide(
            &c,
            &req,
            &Outcome::NetworkError,
            &mut backoff,
            budget,
            &mut rng,
        )
    };
    for i in 0..20 {
        clock.advance(10);
        assert!(
            matches!(
                attempt(&mut budget, clock.now()),
                RetryDecision::Retry { .. }
            ),
            "retry {i}"
        );
    }
    assert_eq!(
        attempt(&mut budget, clock.now()),
        RetryDecision::GiveUp(GiveUp::BudgetExhausted)
    );
    assert_eq!(budget.available(clock.now()), 0);
    // Everything happened in the first bucket [0, 1000): it leaves the window at 10 000 ms.
    clock.set(9_999);
    assert_eq!(
        attempt(&mut budget, clock.now()),
        RetryDecision::GiveUp(GiveUp::BudgetExhausted)
    );
    assert!(!budget.is_fresh(clock.now()));
    clock.advance(1);
    assert!(budget.is_fresh(clock.now()));
    budget.record_request(clock.now());
    budget.record_request(clock.now());
    budget.record_request(clock.now());
    budget.record_request(clock.now());
    budget.record_request(clock.now());
    assert!(matches!(
        attempt(&mut budget, clock.now()),
        RetryDecision::Retry { .. }
    ));
    assert_eq!(
        attempt(&mut budget, clock.now()),
        RetryDecision::GiveUp(GiveUp::BudgetExhausted)
    );
}

#[test]
fn budget_is_only_withdrawn_for_scheduled_retries() {
    let mut h = Harness::new("{}");
    h.budget = RetryBudget::new(0.0, 1, 1_000);
    assert_eq!(
        h.decide(
            &RetryRequest {
                method: "POST",
                ..get()
            },
            &Outcome::NetworkError
        ),
        RetryDecision::GiveUp(GiveUp::MethodNotSafe)
    );
    assert_eq!(
        h.decide(&get(), &status(429, Some("3600"))),
        RetryDecision::GiveUp(GiveUp::HintTooLong {
            retry_after_ms: 3_600_000
        })
    );
    assert_eq!(h.decide(&get(), &status(404, None)), RetryDecision::Done);
    assert_eq!(h.budget.available(Millis(0)), 1);
    assert!(matches!(
        h.decide(&get(), &Outcome::NetworkError),
        RetryDecision::Retry { .. }
    ));
    assert_eq!(
        h.decide(&get(), &Outcome::NetworkError),
        RetryDecision::GiveUp(GiveUp::BudgetExhausted)
    );
}

#[test]
fn server_hint_for_category_blocking() {
    use resource_guard::core::retry::server_hint_ms;
    let body = BodyHint {
        retry_after_ms: Some(4_000),
        ..BodyHint::default()
    };
    let o = Outcome::Status {
        status: 429,
        retry_after: Some("2"),
        body: Some(&body),
    };
    assert_eq!(server_hint_ms(&o, WALL), Some(4_000));
    assert_eq!(server_hint_ms(&status(503, Some("7")), WALL), Some(7_000));
    assert_eq!(server_hint_ms(&status(503, Some("junk")), WALL), None);
    assert_eq!(server_hint_ms(&status(301, Some("7")), WALL), None);
    assert_eq!(server_hint_ms(&Outcome::NetworkError, WALL), None);
}

// ---- property tests: every parser, on arbitrary input ----

/// Renders an IMF-fixdate by a naive calendar walk (independent of the parser's arithmetic).
fn imf_fixdate(secs: u64) -> String {
    const DAY: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut days = secs / 86_400;
    let wd = DAY[(days % 7) as usize];
    let mut y = 1970;
    loop {
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let len = if leap { 366 } else { 365 };
        if days < len {
            let mut m = 0;
            loop {
                let ml = [
                    31,
                    if leap { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ][m];
                if days < ml {
                    let t = secs % 86_400;
                    return format!(
                        "{wd}, {:02} {} {y:04} {:02}:{:02}:{:02} GMT",
                        days + 1,
                        MON[m],
                        t / 3600,
                        t / 60 % 60,
                        t % 60
                    );
                }
                days -= ml;
                m += 1;
            }
        }
        days -= len;
        y += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in any::<String>(), now in any::<u64>()) {
        let _ = parse_retry_after(&s, now);
        let _ = parse_http_date(&s);
        let _ = retry_after::parse_http_date_at(&s, now);
        if let Some(h) = parse_ratelimit(&s) {
            prop_assert!(h.reset_ms <= rate_limit_headers::MAX_RESET_MS);
        }
        if let Some(h) = parse_x_ratelimit(&s, Some(&s), now) {
            prop_assert!(h.reset_ms <= rate_limit_headers::MAX_RESET_MS);
        }
        let b = parse_error_body(&s);
        prop_assert!(b.code.map_or(0, |c| c.chars().count()) <= 64);
    }

    #[test]
    fn parsers_never_panic_on_header_like_strings(s in "[ \t0-9A-Za-z,;:=\"\\\\.-]{0,64}", now in any::<u64>()) {
        let _ = parse_retry_after(&s, now);
        let _ = parse_http_date(&s);
        if let Some(h) = parse_ratelimit(&s) {
            prop_assert!(h.reset_ms <= rate_limit_headers::MAX_RESET_MS);
        }
        let _ = parse_x_ratelimit(&s, None, now);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_retry_after(&s, 0);
        let _ = parse_ratelimit(&s);
        let _ = parse_error_body(&s);
    }

    #[test]
    fn http_dates_round_trip(secs in 0u64..253_402_300_800, now in 0u64..253_402_300_800_000) {
        let text = imf_fixdate(secs);
        prop_assert_eq!(parse_http_date(&text), Some(secs * 1000), "{}", text);
        prop_assert_eq!(parse_retry_after(&text, now), Some((secs * 1000).saturating_sub(now)));
    }

    #[test]
    fn delta_seconds_round_trip(secs in any::<u64>(), pad in "[ \t]{0,3}") {
        let text = format!("{pad}{secs}{pad}");
        prop_assert_eq!(parse_retry_after(&text, 123), Some(secs.saturating_mul(1000)));
    }

    #[test]
    fn structured_field_round_trip(items in proptest::collection::vec((any::<u32>(), 0u64..200_000), 1..6)) {
        let field = items.iter().enumerate().map(|(i, (r, t))| format!("\"p{i}\";r={r};t={t}")).collect::<Vec<_>>().join(", ");
        let h = parse_ratelimit(&field).unwrap();
        let min_r = items.iter().map(|(r, _)| *r).min().unwrap();
        let max_t = items.iter().filter(|(r, _)| *r == min_r).map(|(_, t)| *t).max().unwrap();
        prop_assert_eq!(h.remaining, min_r);
        prop_assert_eq!(h.reset_ms, (max_t * 1000).min(rate_limit_headers::MAX_RESET_MS));
    }

    #[test]
    fn error_body_round_trip(retryable in any::<Option<bool>>(), ms in any::<Option<u32>>(), code in "[A-Z_]{0,80}", nested in any::<bool>()) {
        let mut fields = Vec::new();
        if let Some(r) = retryable { fields.push(format!("\"retryable\":{r}")); }
        if let Some(m) = ms { fields.push(format!("\"retryAfterMs\":{m}")); }
        fields.push(format!("\"code\":\"{code}\""));
        let obj = format!("{{{}}}", fields.join(","));
        let text = if nested { format!("{{\"error\":{obj}}}") } else { obj };
        let h = parse_error_body(&text);
        prop_assert_eq!(h.retryable, retryable);
        prop_assert_eq!(h.retry_after_ms, ms.map(u64::from));
        prop_assert_eq!(h.code, Some(code.chars().take(64).collect::<String>()));
    }

    #[test]
    fn decide_is_total_and_bounded(status in 100u16..600, ra in proptest::option::of(".{0,40}"), retries in any::<u32>(), now in any::<u64>(), wall in any::<u64>(), deadline in proptest::option::of(any::<u64>()), seed in any::<u64>()) {
        let c = cfg("{}");
        let mut backoff = Backoff::new(&c);
        let mut budget = RetryBudget::new(0.2, 1, 10_000);
        let mut rng = SplitMix64::new(seed);
        let req = RetryRequest { method: "GET", has_idempotency_key: false, retries_done: retries, now: Millis(now), now_wall_ms: wall, deadline: deadline.map(Millis) };
        let o = Outcome::Status { status, retry_after: ra.as_deref(), body: None };
        if let RetryDecision::Retry { delay_ms, source, .. } = decide(&c, &req, &o, &mut backoff, &mut budget, &mut rng) {
            prop_assert!(delay_ms <= c.max_retry_after_ms.max(c.max_delay_ms));
            prop_assert!(source != DelaySource::BodyHint);
        }
    }
}
