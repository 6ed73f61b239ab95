//! Heap level, honesty and long-task rules (native, ManualClock).

use proptest::prelude::*;
use resource_guard::core::config::HeapConfig;
use resource_guard::core::heap::{
    HeapGuard, HeapLevel, HeapSample, HeapSource, LevelChange, PRECISE_HOLD_INTERVALS,
    PRECISE_HOLD_MIN_MS, QUANTIZED_GRID_BYTES,
};
use resource_guard::core::time::{Clock, ManualClock, Millis};

const BUDGET: u64 = 1_000_000;

fn cfg() -> HeapConfig {
    HeapConfig {
        budget_bytes: BUDGET,
        sample_interval_ms: 30_000,
        warning: 0.7,
        critical: 0.9,
        limit: 1.0,
        hysteresis: 0.05,
        randomize: false,
        long_task_threshold: 5,
        long_task_window_ms: 10_000,
    }
}

fn wasm(used: u64, clock: &ManualClock) -> HeapSample {
    clock.advance(1_000);
    HeapSample {
        used_bytes: used,
        source: HeapSource::WasmMemory,
        at: clock.now(),
    }
}

/// Records `used` and asserts the resulting level.
fn step(g: &mut HeapGuard, clock: &ManualClock, used: u64, want: HeapLevel) -> Option<LevelChange> {
    let (r, ch) = g.record(wasm(used, clock));
    assert_eq!(r.level, want, "at {used} bytes");
    assert_eq!(g.level(), want);
    ch
}

#[test]
fn walks_up_one_byte_before_and_at_each_enter_threshold() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    assert_eq!(step(&mut g, &clock, 699_999, HeapLevel::Normal), None);
    let ch = step(&mut g, &clock, 700_000, HeapLevel::Warning).unwrap();
    assert_eq!(
        (ch.from, ch.to, ch.used_bytes, ch.at),
        (
            HeapLevel::Normal,
            HeapLevel::Warning,
            700_000,
            Millis(2_000)
        )
    );
    assert_eq!(step(&mut g, &clock, 899_999, HeapLevel::Warning), None);
    assert!(step(&mut g, &clock, 900_000, HeapLevel::Critical).is_some());
    assert_eq!(step(&mut g, &clock, 999_999, HeapLevel::Critical), None);
    assert!(step(&mut g, &clock, 1_000_000, HeapLevel::Limit).is_some());
}

#[test]
fn walks_down_only_below_threshold_minus_hysteresis() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    step(&mut g, &clock, 1_000_000, HeapLevel::Limit);
    // limit clears below 0.95: at 950_000 it holds, at 949_999 it falls to critical.
    assert_eq!(step(&mut g, &clock, 950_000, HeapLevel::Limit), None);
    let ch = step(&mut g, &clock, 949_999, HeapLevel::Critical).unwrap();
    assert_eq!((ch.from, ch.to), (HeapLevel::Limit, HeapLevel::Critical));
    assert_eq!(step(&mut g, &clock, 850_000, HeapLevel::Critical), None);
    assert!(step(&mut g, &clock, 849_999, HeapLevel::Warning).is_some());
    assert_eq!(step(&mut g, &clock, 650_000, HeapLevel::Warning), None);
    assert!(step(&mut g, &clock, 649_999, HeapLevel::Normal).is_some());
    assert_eq!(step(&mut g, &clock, 0, HeapLevel::Normal), None);
}

#[test]
fn drop_from_limit_lands_on_the_highest_level_still_entered() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    step(&mut g, &clock, 1_200_000, HeapLevel::Limit);
    let ch = step(&mut g, &clock, 800_000, HeapLevel::Warning).unwrap();
    assert_eq!((ch.from, ch.to), (HeapLevel::Limit, HeapLevel::Warning));
    step(&mut g, &clock, 1_000_000, HeapLevel::Limit);
    step(&mut g, &clock, 10, HeapLevel::Normal);
}

#[test]
fn jumps_straight_from_normal_to_limit() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    let ch = step(&mut g, &clock, 1_000_000, HeapLevel::Limit).unwrap();
    assert_eq!((ch.from, ch.to), (HeapLevel::Normal, HeapLevel::Limit));
}

#[test]
fn does_not_flap_around_the_critical_boundary() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    step(&mut g, &clock, 800_000, HeapLevel::Warning);
    let mut changes = 0;
    for i in 0..100 {
        let used = if i % 2 == 0 { 900_001 } else { 899_999 };
        let (r, ch) = g.record(wasm(used, &clock));
        changes += usize::from(ch.is_some());
        assert_eq!(r.level, HeapLevel::Critical);
    }
    assert_eq!(changes, 1, "one entry into critical, then steady");
    // And the same from above: hovering at 900_000 ± 1 never leaves critical.
    for used in [900_000, 899_999, 900_001, 899_999] {
        step(&mut g, &clock, used, HeapLevel::Critical);
    }
}

#[test]
fn precise_only_for_exact_sources() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    for (source, precise) in [
        (HeapSource::MeasureUserAgentSpecificMemory, true),
        (HeapSource::WasmMemory, true),
        (HeapSource::PerformanceMemory, false),
        (HeapSource::Unsupported, false),
    ] {
        clock.advance(1);
        let (r, _) = g.record(HeapSample {
            used_bytes: 123_457,
            source,
            at: clock.now(),
        });
        assert_eq!(r.precise, precise, "{source:?}");
        assert!(!r.quantized);
    }
}

fn pm(g: &mut HeapGuard, clock: &ManualClock, used: u64) -> (bool, bool, bool) {
    clock.advance(30_000);
    let (r, _) = g.record(HeapSample {
        used_bytes: used,
        source: HeapSource::PerformanceMemory,
        at: clock.now(),
    });
    (r.quantized, r.stale, r.precise)
}

#[test]
fn detects_quantised_performance_memory_by_repetition() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    assert_eq!(pm(&mut g, &clock, 512_345), (false, false, false));
    assert_eq!(
        pm(&mut g, &clock, 512_345),
        (false, true, false),
        "2 identical: stale, not yet quantized"
    );
    assert_eq!(
        pm(&mut g, &clock, 512_345),
        (true, true, false),
        "3 identical: quantized"
    );
    assert_eq!(
        pm(&mut g, &clock, 512_346),
        (false, false, false),
        "values move again"
    );
}

#[test]
fn detects_quantised_performance_memory_by_grid() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    // Chromium bucket values: 10 000 000, 10 500 000, 11 000 000 (3 significant digits).
    assert!(!pm(&mut g, &clock, 10_000_000).0);
    assert!(!pm(&mut g, &clock, 10_500_000).0);
    assert_eq!(pm(&mut g, &clock, 11_000_000), (true, false, false));
    // One byte off the grid breaks the run.
    assert!(!pm(&mut g, &clock, 11_000_000 + 1).0);
    assert_eq!(QUANTIZED_GRID_BYTES, 100_000);
}

#[test]
fn quantised_readings_still_drive_the_level() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    for _ in 0..3 {
        pm(&mut g, &clock, 900_000);
    }
    assert_eq!(
        g.last().map(|r| (r.level, r.quantized)),
        Some((HeapLevel::Critical, true))
    );
}

fn tasks(g: &mut HeapGuard, clock: &ManualClock, at: &[u64]) -> Vec<bool> {
    at.iter()
        .map(|&t| {
            clock.set(t);
            g.record_long_task(clock.now(), 80).is_some()
        })
        .collect()
}

#[test]
fn long_task_breach_at_exactly_threshold_inside_window() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    // 4 tasks (threshold − 1): nothing.
    assert_eq!(tasks(&mut g, &clock, &[0, 1_000, 2_000, 3_000]), [false; 4]);
    assert_eq!(g.long_tasks_in_window(Millis(3_000)), 4);
    // The 5th at 9 999 ms: the first (at 0) is 9 999 ms old, still inside the 10 000 ms window.
    clock.set(9_999);
    let b = g.record_long_task(clock.now(), 120).unwrap();
    assert_eq!(
        (b.count, b.window_ms, b.total_ms, b.at),
        (5, 10_000, 4 * 80 + 120, Millis(9_999))
    );
}

#[test]
fn long_task_no_breach_when_first_falls_out_one_ms_later() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    assert_eq!(
        tasks(&mut g, &clock, &[0, 1_000, 2_000, 3_000, 10_000]),
        [false; 5]
    );
    assert_eq!(g.long_tasks_in_window(Millis(10_000)), 4);
    assert_eq!(g.long_tasks_in_window(Millis(9_999)), 5);
}

#[test]
fn long_task_breach_is_not_repeated_while_pressure_persists() {
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    let got = tasks(&mut g, &clock, &[0, 1, 2, 3, 4, 5, 6, 5_000, 9_000, 12_000]);
    assert_eq!(
        got,
        [false, false, false, false, true, false, false, false, false, false]
    );
    // Re-arms only after a full window without tasks: last task at 12 000.
    assert_eq!(
        tasks(&mut g, &clock, &[21_999]),
        [false],
        "12 000 still in window: stays disarmed"
    );
    // Now the window of the task at 21 999 must clear: next at 31 999 re-arms (count before = 0).
    assert_eq!(
        tasks(&mut g, &clock, &[31_999, 32_000, 32_001, 32_002]),
        [false; 4]
    );
    assert_eq!(tasks(&mut g, &clock, &[32_003]), [true]);
}

#[test]
fn long_task_memory_is_bounded_by_the_threshold() {
    let mut g = HeapGuard::new(cfg());
    for t in 0..100_000u64 {
        let _ = g.record_long_task(Millis(t), 51);
    }
    assert_eq!(g.long_tasks_in_window(Millis(100_000)), 5);
}

#[test]
fn poisson_delays_stay_within_clamp_bounds() {
    let mut c = cfg();
    c.randomize = true;
    let g = HeapGuard::new(c);
    assert_eq!(
        g.next_sample_delay_ms(0.0),
        3_000,
        "clamped up to mean / 10"
    );
    assert_eq!(
        g.next_sample_delay_ms(0.999_999_999),
        300_000,
        "clamped down to mean × 10"
    );
    // −ln(1 − (1 − e⁻¹)) = 1: the mean itself.
    let u = 1.0 - (-1.0f64).exp();
    assert!((29_999..=30_000).contains(&g.next_sample_delay_ms(u)));
    for u in [f64::NAN, -1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY] {
        let d = g.next_sample_delay_ms(u);
        assert!((3_000..=300_000).contains(&d), "{u} -> {d}");
    }
    // The sample mean of many draws is close to the configured mean (clamping aside).
    let n = 10_000;
    let sum: u64 = (0..n)
        .map(|i| g.next_sample_delay_ms((i as f64 + 0.5) / n as f64))
        .sum();
    let mean = sum / n;
    assert!((28_000..=32_000).contains(&mean), "{mean}");
}

#[test]
fn fixed_interval_without_randomize() {
    let g = HeapGuard::new(cfg());
    assert_eq!(g.next_sample_delay_ms(0.0), 30_000);
    assert_eq!(g.next_sample_delay_ms(0.99), 30_000);
}

/// Reference: the highest level whose enter threshold `used` meets.
fn entered(used: u64) -> HeapLevel {
    match used {
        u if u >= 1_000_000 => HeapLevel::Limit,
        u if u >= 900_000 => HeapLevel::Critical,
        u if u >= 700_000 => HeapLevel::Warning,
        _ => HeapLevel::Normal,
    }
}

fn clear(level: HeapLevel) -> u64 {
    match level {
        HeapLevel::Normal => 0,
        HeapLevel::Warning => 650_000,
        HeapLevel::Critical => 850_000,
        HeapLevel::Limit => 950_000,
    }
}

proptest! {
    #[test]
    fn level_is_consistent_with_thresholds_and_hysteresis(samples in prop::collection::vec(0u64..1_300_000, 1..200)) {
        let mut g = HeapGuard::new(cfg());
        let mut prev = HeapLevel::Normal;
        for (i, used) in samples.into_iter().enumerate() {
            let (r, ch) = g.record(HeapSample { used_bytes: used, source: HeapSource::WasmMemory, at: Millis(i as u64) });
            let l = r.level;
            // Never below what the value enters, never held below its clear threshold.
            prop_assert!(l >= entered(used));
            prop_assert!(l == HeapLevel::Normal || used >= clear(l));
            // Above the entered level only by staying where it was.
            if l > entered(used) { prop_assert_eq!(l, prev); }
            prop_assert_eq!(ch.is_some(), l != prev);
            prev = l;
        }
    }

    #[test]
    fn never_panics_on_arbitrary_samples(
        budget in any::<u64>(),
        fr in prop::array::uniform3(any::<f64>()),
        h in any::<f64>(),
        threshold in any::<u32>(),
        window in any::<u64>(),
        interval in any::<u64>(),
        samples in prop::collection::vec((any::<u64>(), 0u8..5, any::<u64>()), 0..50),
        u in any::<f64>(),
    ) {
        let c = HeapConfig { budget_bytes: budget, sample_interval_ms: interval, warning: fr[0], critical: fr[1], limit: fr[2], hysteresis: h, randomize: true, long_task_threshold: threshold, long_task_window_ms: window };
        let mut g = HeapGuard::new(c);
        for (used, src, at) in samples {
            let (r, _) = g.record(HeapSample { used_bytes: used, source: HeapSource::from_u8(src), at: Millis(at) });
            prop_assert!(r.level >= g.entered_level(used) || !r.drives);

            let _ = g.record_long_task(Millis(at), used);
            let _ = g.long_tasks_in_window(Millis(used));
        }
        prop_assert!(g.next_sample_delay_ms(u) <= 2_147_483_647);
    }
}

#[test]
fn performance_memory_is_precise_only_when_it_moves_off_the_bucket_grid() {
    use resource_guard::core::config::GuardConfig;
    use resource_guard::core::heap::{HeapGuard, HeapSample, HeapSource};
    use resource_guard::core::time::Millis;
    let cfg = GuardConfig::from_json("{}").unwrap().heap;
    let read = |values: &[u64]| {
        let mut g = HeapGuard::new(cfg);
        let mut last = None;
        for (i, &v) in values.iter().enumerate() {
            last = Some(
                g.record(HeapSample {
                    used_bytes: v,
                    source: HeapSource::PerformanceMemory,
                    at: Millis(i as u64),
                })
                .0,
            );
        }
        last.unwrap()
    };
    // Too few readings to tell: imprecise.
    assert!(!read(&[1_234_567, 1_334_561]).precise);
    // Moving, off the grid: Chromium with precise memory info.
    let r = read(&[1_234_567, 1_334_561, 1_434_577]);
    assert!(r.precise && !r.quantized);
    // Stuck: the default, rarely refreshed value.
    let r = read(&[1_234_567, 1_234_567, 1_234_567]);
    assert!(!r.precise && r.quantized);
    // On the 100 kB bucket grid.
    let r = read(&[1_200_000, 1_300_000, 1_400_000]);
    assert!(!r.precise && r.quantized);
    // One repeat among moving values: not proven precise.
    assert!(!read(&[1_234_567, 1_234_567, 1_434_577]).precise);
}

fn sample(
    g: &mut HeapGuard,
    clock: &ManualClock,
    source: HeapSource,
    used: u64,
) -> (HeapLevel, bool, Option<LevelChange>) {
    let (r, ch) = g.record(HeapSample {
        used_bytes: used,
        source,
        at: clock.now(),
    });
    (r.level, r.drives, ch)
}

// Issue 12: while measureUserAgentSpecificMemory drives the level, the bucketed
// performance.memory read between its results must not pull it back (levels flapped and
// cleanups reran).
#[test]
fn bucketed_performance_memory_does_not_drive_while_measure_memory_does() {
    use HeapSource::{MeasureUserAgentSpecificMemory as Uas, PerformanceMemory as Pm};
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    let mut changes = Vec::new();
    for _ in 0..5 {
        clock.advance(1_000);
        let (level, drives, ch) = sample(&mut g, &clock, Uas, 800_000);
        assert!(drives);
        assert_eq!(level, HeapLevel::Warning);
        changes.extend(ch);
        for _ in 0..3 {
            clock.advance(1_000);
            // Chromium's coarse value: far below warning, on the bucket grid, never moving.
            let (level, drives, ch) = sample(&mut g, &clock, Pm, 100_000);
            assert!(!drives);
            assert_eq!((level, ch), (HeapLevel::Warning, None));
        }
    }
    assert_eq!(
        changes.len(),
        1,
        "one entry into warning, no flapping: {changes:?}"
    );
    assert_eq!(
        g.last().map(|r| (r.source, r.precise, r.drives)),
        Some((Pm, false, false))
    );
}

#[test]
fn the_hold_is_three_intervals_and_at_least_a_minute() {
    let g = HeapGuard::new(cfg());
    assert_eq!(g.hold_ms(), 90_000);
    assert_eq!(PRECISE_HOLD_INTERVALS, 3);
    let mut c = cfg();
    c.sample_interval_ms = 50;
    assert_eq!(HeapGuard::new(c).hold_ms(), PRECISE_HOLD_MIN_MS);
}

// When the better source stops answering, the next one takes over after the hold: one ms
// before it the bucketed reading is still ignored, at it the reading drives.
#[test]
fn a_lower_source_drives_again_once_the_hold_has_passed() {
    use HeapSource::{MeasureUserAgentSpecificMemory as Uas, PerformanceMemory as Pm};
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    clock.advance(1_000);
    sample(&mut g, &clock, Uas, 800_000);
    clock.advance(g.hold_ms() - 1);
    assert_eq!(sample(&mut g, &clock, Pm, 100_000).0, HeapLevel::Warning);
    clock.advance(1);
    let (level, drives, ch) = sample(&mut g, &clock, Pm, 100_000);
    assert!(drives);
    assert_eq!(level, HeapLevel::Normal);
    assert_eq!(
        ch.map(|c| (c.from, c.to)),
        Some((HeapLevel::Warning, HeapLevel::Normal))
    );
    // A new measurement takes the lead again at once.
    clock.advance(1_000);
    assert_eq!(sample(&mut g, &clock, Uas, 800_000).0, HeapLevel::Warning);
    clock.advance(1_000);
    assert!(!sample(&mut g, &clock, Pm, 100_000).1);
}

// A precise performance.memory (synchronous, so fresher) outranks a late
// measureUserAgentSpecificMemory result, which describes an older heap.
#[test]
fn precise_performance_memory_outranks_measure_memory() {
    use HeapSource::{MeasureUserAgentSpecificMemory as Uas, PerformanceMemory as Pm};
    let clock = ManualClock::new(0);
    let mut g = HeapGuard::new(cfg());
    for v in [500_001, 500_123, 500_457] {
        clock.advance(1_000);
        sample(&mut g, &clock, Pm, v);
    }
    assert!(g.last().is_some_and(|r| r.precise && r.drives));
    clock.advance(1_000);
    let (level, drives, ch) = sample(&mut g, &clock, Uas, 950_000);
    assert_eq!((level, drives, ch), (HeapLevel::Normal, false, None));
    clock.advance(1_000);
    assert_eq!(sample(&mut g, &clock, Pm, 910_001).0, HeapLevel::Critical);
}
