//! Rules of the sliding rate limiter, driven by a `ManualClock`.

use proptest::prelude::*;
use resource_guard::core::config::RateSpec;
use resource_guard::core::rate_limit::{LimitReason, NotUntil, RateLimiter};
use resource_guard::core::time::{Clock, ManualClock, Millis};

fn spec(requests: u32, per_ms: u64, burst: u32) -> RateSpec {
    RateSpec {
        requests,
        per_ms,
        burst,
    }
}

/// The most starts found in any half-open window `(t - per_ms, t]` (starts sorted).
fn max_in_any_window(starts: &[u64], per_ms: u64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for (hi, &t) in starts.iter().enumerate() {
        while starts[lo] + per_ms <= t {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Acquires `count` starts as fast as the limiter allows, jumping the clock to each `NotUntil`.
fn run_as_fast_as_allowed(
    limiter: &mut RateLimiter,
    clock: &ManualClock,
    count: usize,
) -> Vec<u64> {
    let mut starts = Vec::with_capacity(count);
    while starts.len() < count {
        match limiter.try_acquire(clock.now()) {
            Ok(()) => starts.push(clock.now().0),
            Err(n) => {
                assert!(n.at > clock.now());
                clock.set(n.at.0);
            }
        }
    }
    starts
}

fn acquire_n(limiter: &mut RateLimiter, now: Millis, n: usize) -> usize {
    (0..n).filter(|_| limiter.try_acquire(now).is_ok()).count()
}

#[test]
fn denies_one_start_beyond_requests_until_the_oldest_leaves_the_window() {
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    assert_eq!(acquire_n(&mut l, clock.now(), 60), 60);
    assert_eq!(
        l.try_acquire(clock.now()),
        Err(NotUntil {
            at: Millis(1000),
            reason: LimitReason::Window
        })
    );
    clock.set(999);
    assert_eq!(
        l.check(clock.now()).unwrap_err().reason,
        LimitReason::Window
    );
    clock.advance(1);
    assert!(l.try_acquire(clock.now()).is_ok());
}

#[test]
fn three_hundred_starts_at_sixty_per_second_never_exceed_sixty_per_window_and_end_at_4000_ms() {
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    let starts = run_as_fast_as_allowed(&mut l, &clock, 300);
    assert_eq!(max_in_any_window(&starts, 1000), 60);
    assert_eq!(starts.last(), Some(&4000));
}

#[test]
fn a_burst_just_before_a_boundary_cannot_double_the_rate() {
    // A fixed window [0, 1000) + [1000, 2000) would let 1 + 59 + 60 starts through 900..1000.
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    let mut starts = Vec::new();
    assert!(l.try_acquire(clock.now()).is_ok());
    starts.push(0);
    clock.set(900);
    for _ in 0..119 {
        if l.try_acquire(clock.now()).is_ok() {
            starts.push(clock.now().0);
        }
    }
    assert_eq!(starts.len(), 60);
    clock.set(999);
    assert_eq!(
        l.check(clock.now()).unwrap_err(),
        NotUntil {
            at: Millis(1000),
            reason: LimitReason::Window
        }
    );
    clock.set(1000);
    for _ in 0..119 {
        if l.try_acquire(clock.now()).is_ok() {
            starts.push(clock.now().0);
        }
    }
    assert_eq!(starts.len(), 61, "only the start at 0 has left the window");
    assert_eq!(l.check(clock.now()).unwrap_err().at, Millis(1900));
    assert!(max_in_any_window(&starts, 1000) <= 60);
}

#[test]
fn after_the_burst_starts_are_spaced_per_ms_over_requests() {
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 10));
    assert_eq!(acquire_n(&mut l, clock.now(), 10), 10);
    // The 11th start is due at 1000/60 = 16.67 ms: denied at 16, allowed at 17.
    clock.set(16);
    assert_eq!(
        l.check(clock.now()),
        Err(NotUntil {
            at: Millis(17),
            reason: LimitReason::Burst
        })
    );
    clock.set(17);
    assert!(l.try_acquire(clock.now()).is_ok());
    clock.set(33);
    assert_eq!(l.check(clock.now()).unwrap_err().at, Millis(34));
    clock.set(34);
    assert!(l.try_acquire(clock.now()).is_ok());
}

#[test]
fn burst_spacing_has_no_cumulative_drift_over_600_starts() {
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 10));
    let starts = run_as_fast_as_allowed(&mut l, &clock, 600);
    for (k, &t) in starts.iter().enumerate() {
        // Each second opens with a burst of 10 (the window held starts back while GCRA credit
        // accrued), then starts follow at ceil(j * 1000 / 60) ms: exact, never drifting.
        let k = k as u64;
        let j = (k % 60).saturating_sub(9);
        let want = 1000 * (k / 60) + (j * 1000).div_ceil(60);
        assert_eq!(t, want, "start {k}");
    }
    assert_eq!(starts.last(), Some(&9834));
    assert_eq!(max_in_any_window(&starts, 1000), 60);
}

#[test]
fn block_until_denies_every_start_before_the_hint_and_allows_at_it() {
    let clock = ManualClock::new(100);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.block_until(Millis(5000));
    assert_eq!(l.blocked_until(clock.now()), Some(Millis(5000)));
    clock.set(4999);
    assert_eq!(
        l.try_acquire(clock.now()),
        Err(NotUntil {
            at: Millis(5000),
            reason: LimitReason::ServerHint
        })
    );
    assert_eq!(
        l.check(clock.now())
            .unwrap_err()
            .wait_time_from(clock.now()),
        1
    );
    clock.set(5000);
    assert!(l.try_acquire(clock.now()).is_ok());
    assert_eq!(l.blocked_until(clock.now()), None);
}

#[test]
fn block_until_keeps_the_later_of_old_and_new() {
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.block_until(Millis(5000));
    l.block_until(Millis(3000));
    assert_eq!(l.blocked_until(Millis(0)), Some(Millis(5000)));
    l.block_until(Millis(7000));
    assert_eq!(l.next_free_at(Millis(0)), Millis(7000));
}

#[test]
fn pace_allows_remaining_starts_then_blocks_until_the_reset() {
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.pace(clock.now(), 2, 10_000);
    assert_eq!(l.blocked_until(clock.now()), None);
    assert_eq!(acquire_n(&mut l, clock.now(), 5), 2);
    assert_eq!(
        l.check(clock.now()),
        Err(NotUntil {
            at: Millis(10_000),
            reason: LimitReason::Paced
        })
    );
    assert_eq!(l.blocked_until(clock.now()), Some(Millis(10_000)));
    clock.set(9999);
    assert_eq!(l.check(clock.now()).unwrap_err().reason, LimitReason::Paced);
    clock.set(10_000);
    assert_eq!(
        acquire_n(&mut l, clock.now(), 60),
        60,
        "pacing ends at the reset"
    );
}

#[test]
fn pace_with_zero_remaining_blocks_until_the_reset_with_reason_paced() {
    let clock = ManualClock::new(500);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.pace(clock.now(), 0, 2000);
    clock.set(2499);
    assert_eq!(
        l.check(clock.now()),
        Err(NotUntil {
            at: Millis(2500),
            reason: LimitReason::Paced
        })
    );
    clock.set(2500);
    assert!(l.try_acquire(clock.now()).is_ok());
}

#[test]
fn a_later_pace_replaces_the_earlier_one() {
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.pace(Millis(0), 0, 10_000);
    l.pace(Millis(10), 3, 1000);
    assert_eq!(acquire_n(&mut l, Millis(10), 5), 3);
    assert_eq!(l.blocked_until(Millis(10)), Some(Millis(1010)));
}

#[test]
fn the_later_of_server_hint_and_window_decides_the_wait() {
    let mut l = RateLimiter::new(spec(1, 1000, 1));
    assert!(l.try_acquire(Millis(0)).is_ok());
    l.block_until(Millis(400));
    assert_eq!(
        l.check(Millis(0)).unwrap_err(),
        NotUntil {
            at: Millis(1000),
            reason: LimitReason::Window
        }
    );
    l.block_until(Millis(1500));
    assert_eq!(
        l.check(Millis(0)).unwrap_err(),
        NotUntil {
            at: Millis(1500),
            reason: LimitReason::ServerHint
        }
    );
}

#[test]
fn rate_factor_admits_the_reduced_rate_in_the_same_window_and_1000_restores() {
    let clock = ManualClock::new(0);
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.set_rate_factor(500);
    assert_eq!(acquire_n(&mut l, clock.now(), 60), 30);
    clock.set(999);
    assert!(l.check(clock.now()).is_err());
    clock.set(1000);
    assert_eq!(acquire_n(&mut l, clock.now(), 60), 30);
    l.set_rate_factor(1000);
    assert_eq!(
        acquire_n(&mut l, clock.now(), 60),
        30,
        "back to 60 in the window"
    );
    assert_eq!(l.spec(), spec(60, 1000, 60));
}

#[test]
fn rate_factor_never_drops_below_one_start_per_window() {
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    l.set_rate_factor(0);
    assert_eq!(acquire_n(&mut l, Millis(0), 10), 1);
    assert_eq!(l.check(Millis(999)).unwrap_err().at, Millis(1000));
    assert!(l.check(Millis(1000)).is_ok());
}

#[test]
fn restoring_the_rate_factor_does_not_forget_starts_in_the_window() {
    let mut l = RateLimiter::new(spec(60, 1000, 60));
    assert_eq!(acquire_n(&mut l, Millis(0), 60), 60);
    l.set_rate_factor(100);
    l.set_rate_factor(1000);
    assert_eq!(l.check(Millis(999)).unwrap_err().at, Millis(1000));
}

#[test]
fn a_clock_stepping_back_never_allows_extra_starts() {
    let clock = ManualClock::new(1000);
    let mut l = RateLimiter::new(spec(2, 1000, 2));
    assert_eq!(acquire_n(&mut l, clock.now(), 2), 2);
    clock.set(10);
    assert_eq!(l.check(clock.now()).unwrap_err().at, Millis(2000));
    clock.set(1999);
    assert!(l.check(clock.now()).is_err());
    clock.set(2000);
    assert_eq!(acquire_n(&mut l, clock.now(), 5), 2);
}

#[test]
fn starts_in_window_counts_the_half_open_window() {
    let mut l = RateLimiter::new(spec(10, 1000, 10));
    acquire_n(&mut l, Millis(0), 3);
    acquire_n(&mut l, Millis(500), 2);
    assert_eq!(l.starts_in_window(Millis(999)), 5);
    assert_eq!(l.starts_in_window(Millis(1000)), 2);
    assert_eq!(l.starts_in_window(Millis(1500)), 0);
    assert_eq!(l.next_free_at(Millis(1500)), Millis(1500));
}

#[derive(Clone, Debug)]
enum Op {
    Arrive(u64),
    Block(u64),
    Pace(u32, u64),
    Factor(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u64..400).prop_map(Op::Arrive),
        1 => (0u64..3000).prop_map(Op::Block),
        1 => (0u32..5, 0u64..3000).prop_map(|(r, ms)| Op::Pace(r, ms)),
        1 => prop_oneof![Just(1000u32), 0u32..1200].prop_map(Op::Factor),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_arrivals_never_exceed_requests_starts_in_any_window(
        requests in 1u32..12,
        per_ms in 1u64..2000,
        burst_pick in 0u32..12,
        gaps in prop::collection::vec(0u64..300, 1..250),
    ) {
        let burst = 1 + burst_pick % requests;
        let mut l = RateLimiter::new(spec(requests, per_ms, burst));
        let mut t = 0;
        let mut starts = Vec::new();
        for g in gaps {
            t += g;
            if l.try_acquire(Millis(t)).is_ok() {
                starts.push(t);
            }
        }
        prop_assert!(max_in_any_window(&starts, per_ms) <= requests as usize);
        // GCRA: any run of k starts spans at least (k - burst) emission intervals.
        let (n, w, b) = (u128::from(requests), u128::from(per_ms), u128::from(burst));
        for i in 0..starts.len() {
            for j in i..starts.len() {
                let k = (j - i + 1) as u128;
                if k > b {
                    prop_assert!((k - b) * w <= u128::from(starts[j] - starts[i]) * n);
                }
            }
        }
    }

    #[test]
    fn a_denied_start_is_allowed_at_not_until_and_not_one_ms_earlier(
        requests in 1u32..12,
        per_ms in 1u64..2000,
        burst_pick in 0u32..12,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let burst = 1 + burst_pick % requests;
        let clock = ManualClock::new(0);
        let mut l = RateLimiter::new(spec(requests, per_ms, burst));
        let mut starts = Vec::new();
        for o in ops {
            match o {
                Op::Arrive(gap) => {
                    clock.advance(gap);
                    let now = clock.now();
                    match l.try_acquire(now) {
                        Ok(()) => starts.push(now.0),
                        Err(n) => {
                            prop_assert!(n.at > now);
                            let probe = l.clone();
                            prop_assert!(probe.check(n.at).is_ok(), "denied at {:?} until {:?}", now, n);
                            prop_assert!(probe.check(Millis(n.at.0 - 1)).is_err());
                            prop_assert_eq!(l.next_free_at(now), n.at);
                        }
                    }
                }
                Op::Block(ms) => l.block_until(clock.now().plus(ms)),
                Op::Pace(r, ms) => l.pace(clock.now(), r, ms),
                Op::Factor(f) => l.set_rate_factor(f),
            }
            prop_assert!(l.starts_in_window(clock.now()) <= requests);
        }
        prop_assert!(max_in_any_window(&starts, per_ms) <= requests as usize);
    }

    #[test]
    fn a_jittery_clock_never_panics_nor_breaks_the_window(
        requests in 1u32..8,
        per_ms in 1u64..1000,
        steps in prop::collection::vec(-60i64..200, 1..250),
    ) {
        let mut l = RateLimiter::new(spec(requests, per_ms, requests));
        let mut t: i64 = 100;
        let mut recorded = Vec::new();
        let mut high = 0u64;
        for s in steps {
            t = (t + s).max(0);
            if l.try_acquire(Millis(t as u64)).is_ok() {
                // A start is recorded at the later of now and the last start.
                high = high.max(t as u64);
                recorded.push(high);
            }
        }
        prop_assert!(max_in_any_window(&recorded, per_ms) <= requests as usize);
    }
}
