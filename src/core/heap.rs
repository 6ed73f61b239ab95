//! Heap pressure levels with hysteresis, honest about how good each memory reading is, plus a
//! sliding count of long tasks and the (optionally Poisson) sampling interval.
//!
//! ```
//! use resource_guard::core::config::HeapConfig;
//! use resource_guard::core::heap::{HeapGuard, HeapLevel, HeapSample, HeapSource};
//! use resource_guard::core::time::Millis;
//!
//! let cfg = HeapConfig {
//!     budget_bytes: 50 * 1024 * 1024,
//!     sample_interval_ms: 30_000,
//!     warning: 0.7,
//!     critical: 0.9,
//!     limit: 1.0,
//!     hysteresis: 0.05,
//!     randomize: false,
//!     long_task_threshold: 5,
//!     long_task_window_ms: 10_000,
//! };
//! let mut guard = HeapGuard::new(cfg);
//! let sample = HeapSample { used_bytes: 48_000_000, source: HeapSource::WasmMemory, at: Millis(30_000) };
//! let (reading, change) = guard.record(sample);
//! assert_eq!(reading.level, HeapLevel::Critical);
//! assert!(reading.precise);
//! assert_eq!(change.map(|c| (c.from, c.to)), Some((HeapLevel::Normal, HeapLevel::Critical)));
//! assert_eq!(guard.next_sample_delay_ms(0.5), 30_000);
//! ```
//!
//! # Levels
//! Each level `L` has an enter threshold `enter(L) = ceil(fraction(L) × budget_bytes)` bytes and
//! a clear threshold `clear(L) = ceil((fraction(L) − hysteresis) × budget_bytes)` bytes (at least
//! 1 byte, so that an empty heap always clears). A sample enters the highest level whose enter
//! threshold it meets (possibly jumping several levels). The current level is left downward only
//! when a sample is below its clear threshold; the new level is then the highest level whose
//! enter threshold the sample still meets. A value hovering ±1 byte around a boundary therefore
//! never flaps.
//!
//! # Honesty of a reading
//! * `precise` is true only for [`HeapSource::MeasureUserAgentSpecificMemory`] and
//!   [`HeapSource::WasmMemory`], and never when `quantized`.
//! * `quantized` (only ever for [`HeapSource::PerformanceMemory`]): the last
//!   [`QUANTIZED_RUN`] `performance.memory` readings (this one included) are all identical, or
//!   all multiples of [`QUANTIZED_GRID_BYTES`]. Chromium without `--enable-precise-memory-info`
//!   rounds `usedJSHeapSize` up to one of 100 buckets (3 significant digits, from 10 MB; every
//!   bucket is a multiple of 100 000 bytes) and refreshes the value only every 20 minutes. A
//!   precise heap lands on that grid by chance with probability 10⁻⁵ per reading.
//! * `stale`: the previous reading came from the same source with the same value.
//!
//! A [`HeapSource::Unsupported`] sample carries no measurement: it leaves the level as it is and
//! never reports a change.
//!
//! # One source drives the level
//! Readings rank by trust: a precise `performance.memory` (3; synchronous, so the freshest), then
//! `measureUserAgentSpecificMemory` and wasm memory (2), then an imprecise `performance.memory`
//! (1; bucketed or not yet proven). A reading moves the level only when no reading of a higher
//! rank was recorded within the hold ([`HeapGuard::hold_ms`]: [`PRECISE_HOLD_INTERVALS`] sample
//! intervals, at least [`PRECISE_HOLD_MIN_MS`]); otherwise it is returned with the level as it
//! stands and `drives: false`. So while `measureUserAgentSpecificMemory` drives, the bucketed
//! `performance.memory` between its results cannot pull the level back and forth (which reran
//! cleanups, issue 12); and when the better source stops answering, the next one takes over
//! after the hold instead of the level freezing. Without a better source, an imprecise reading
//! drives: it is the best one available, and the reading says what it is.

use std::collections::VecDeque;

use super::config::HeapConfig;
use super::defaults as d;
use super::json::JsonWriter;
use super::time::{Millis, MAX_TIMER_MS};

/// `performance.memory` readings compared by the quantisation heuristic: 3.
pub const QUANTIZED_RUN: usize = 3;
/// Grid of Chromium's coarse `performance.memory` buckets: 100 000 bytes.
pub const QUANTIZED_GRID_BYTES: u64 = 100_000;
/// A reading of a higher rank keeps lower ranks from driving for this many sample intervals: 3.
pub const PRECISE_HOLD_INTERVALS: u64 = 3;
/// The shortest hold, ms (`measureUserAgentSpecificMemory` resolves only at a later garbage
/// collection, which Chromium forces after ~20 s): 60 000.
pub const PRECISE_HOLD_MIN_MS: u64 = 60_000;
/// Largest long-task threshold honoured (the ring holds this many timestamps): 10 000.
pub const MAX_LONG_TASK_THRESHOLD: u32 = 10_000;

/// Heap pressure, ordered from none to over budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum HeapLevel {
    /// Below the warning threshold (or cleared from it).
    Normal = 0,
    /// At or above `warning` × budget (default 0.7).
    Warning = 1,
    /// At or above `critical` × budget (default 0.9).
    Critical = 2,
    /// At or above `limit` × budget (default 1.0).
    Limit = 3,
}

impl HeapLevel {
    /// All levels, lowest first.
    pub const ALL: [HeapLevel; 4] = [
        HeapLevel::Normal,
        HeapLevel::Warning,
        HeapLevel::Critical,
        HeapLevel::Limit,
    ];

    /// The JS name: `normal`, `warning`, `critical` or `limit`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HeapLevel::Normal => "normal",
            HeapLevel::Warning => "warning",
            HeapLevel::Critical => "critical",
            HeapLevel::Limit => "limit",
        }
    }
}

/// Where a memory figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HeapSource {
    /// No memory API is available; `used_bytes` means nothing.
    Unsupported = 0,
    /// `performance.measureUserAgentSpecificMemory()` (precise, resolves at a later GC).
    MeasureUserAgentSpecificMemory = 1,
    /// `performance.memory.usedJSHeapSize` (Chromium; coarse unless the page runs with
    /// `--enable-precise-memory-info`).
    PerformanceMemory = 2,
    /// `WebAssembly.Memory` buffer size of this module (precise, but only the wasm heap).
    WasmMemory = 3,
}

impl HeapSource {
    /// Maps the driver's number (the discriminant) back; unknown numbers are `Unsupported`.
    #[must_use]
    pub fn from_u8(n: u8) -> HeapSource {
        match n {
            1 => HeapSource::MeasureUserAgentSpecificMemory,
            2 => HeapSource::PerformanceMemory,
            3 => HeapSource::WasmMemory,
            _ => HeapSource::Unsupported,
        }
    }

    /// The JS name: `measureUserAgentSpecificMemory`, `performance.memory`, `wasm` or `unsupported`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HeapSource::Unsupported => "unsupported",
            HeapSource::MeasureUserAgentSpecificMemory => "measureUserAgentSpecificMemory",
            HeapSource::PerformanceMemory => "performance.memory",
            HeapSource::WasmMemory => "wasm",
        }
    }
}

/// One raw measurement as the driver took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapSample {
    /// Bytes in use.
    pub used_bytes: u64,
    /// Which API produced it.
    pub source: HeapSource,
    /// When it was taken (for `measureUserAgentSpecificMemory`: when the promise resolved).
    pub at: Millis,
}

/// A measurement with its level and an honest label of its quality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapReading {
    /// Bytes in use, as measured.
    pub used_bytes: u64,
    /// Which API produced it.
    pub source: HeapSource,
    /// True only for byte-exact sources that are not quantized (see the module docs).
    pub precise: bool,
    /// When it was taken.
    pub sampled_at: Millis,
    /// The level after this reading.
    pub level: HeapLevel,
    /// The value looks bucketed by the browser (see the module docs).
    pub quantized: bool,
    /// The same source reported the same value last time.
    pub stale: bool,
    /// This reading moved (or held) the level: no more trusted source was recorded within the
    /// hold (see the module docs).
    pub drives: bool,
}

impl HeapReading {
    /// Writes `"usedBytes", "source", "precise", "quantized", "stale", "drives", "level"` members (the
    /// object's braces are the caller's), as the snapshot and `sampleHeap()` report them.
    pub fn write_fields(&self, w: &mut JsonWriter) {
        w.key("usedBytes")
            .u64(self.used_bytes)
            .key("source")
            .str(self.source.as_str());
        w.key("precise")
            .bool(self.precise)
            .key("quantized")
            .bool(self.quantized);
        w.key("stale")
            .bool(self.stale)
            .key("drives")
            .bool(self.drives)
            .key("level")
            .str(self.level.as_str());
    }
}

/// A level transition, for the `heap` event and `onCleanup` listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    /// Level before.
    pub from: HeapLevel,
    /// Level after.
    pub to: HeapLevel,
    /// Bytes in use that caused it.
    pub used_bytes: u64,
    /// When the sample was taken.
    pub at: Millis,
}

impl LevelChange {
    /// Writes the `level`, `previous` and `usedBytes` members (the braces are the caller's), as
    /// the `heap` event and the heap report both carry them.
    pub fn write_fields(&self, w: &mut JsonWriter) {
        w.key("level")
            .str(self.to.as_str())
            .key("previous")
            .str(self.from.as_str());
        w.key("usedBytes").u64(self.used_bytes);
    }
}

/// Main-thread pressure: `count` long tasks within the last `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongTaskBreach {
    /// Long tasks counted in the window (= the threshold).
    pub count: u32,
    /// The window, ms.
    pub window_ms: u64,
    /// Summed duration of the counted tasks, ms (saturating).
    pub total_ms: u64,
    /// When the breaching task was observed.
    pub at: Millis,
}

/// Heap level evaluator and long-task counter. Holds O(threshold) memory.
#[derive(Clone, Debug)]
pub struct HeapGuard {
    cfg: HeapConfig,
    /// Enter thresholds in bytes, indexed by level (`[0]` unused, 0).
    enter: [u64; 4],
    /// Clear thresholds in bytes, indexed by level (`[0]` unused, 0).
    clear: [u64; 4],
    level: HeapLevel,
    last: Option<HeapReading>,
    /// When a reading of each rank (index) was last recorded.
    rank_at: [Option<Millis>; 4],
    /// Last `performance.memory` values, oldest first.
    pm_history: VecDeque<u64>,
    /// `(start, duration_ms)` of the newest long tasks, at most `threshold`.
    long_tasks: VecDeque<(Millis, u64)>,
    long_task_threshold: u32,
    long_task_armed: bool,
}

/// `ceil(frac × budget)` in f64, clamped to `0..=u64::MAX` (NaN and negatives give 0).
fn frac_bytes(frac: f64, budget: u64) -> u64 {
    let x = frac * budget as f64;
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        // `as` saturates at u64::MAX.
        x.ceil() as u64
    }
}

fn sane_frac(x: f64, default: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        default
    }
}

impl HeapGuard {
    /// A guard at [`HeapLevel::Normal`]. Out-of-range settings (a zero budget, NaN or
    /// non-positive fractions, negative hysteresis, a zero threshold) are replaced by the nearest
    /// sane value instead of panicking; thresholds are forced to be non-decreasing.
    #[must_use]
    pub fn new(cfg: HeapConfig) -> Self {
        let budget = cfg.budget_bytes.max(1);
        let fracs = [
            0.0,
            sane_frac(cfg.warning, d::HEAP_WARNING),
            sane_frac(cfg.critical, d::HEAP_CRITICAL),
            sane_frac(cfg.limit, d::HEAP_LIMIT),
        ];
        let h = if cfg.hysteresis.is_finite() && cfg.hysteresis > 0.0 {
            cfg.hysteresis
        } else {
            0.0
        };
        let mut enter = [0u64; 4];
        let mut clear = [0u64; 4];
        for i in 1..4 {
            enter[i] = frac_bytes(fracs[i], budget).max(1).max(enter[i - 1]);
            clear[i] = frac_bytes(fracs[i] - h, budget).max(1).min(enter[i]);
        }
        let threshold = cfg.long_task_threshold.max(1).min(MAX_LONG_TASK_THRESHOLD);
        HeapGuard {
            cfg,
            enter,
            clear,
            level: HeapLevel::Normal,
            last: None,
            rank_at: [None; 4],
            pm_history: VecDeque::with_capacity(QUANTIZED_RUN),
            long_tasks: VecDeque::new(),
            long_task_threshold: threshold,
            long_task_armed: true,
        }
    }

    /// Bytes at or above which `level` is entered (0 for `Normal`).
    #[must_use]
    pub fn enter_bytes(&self, level: HeapLevel) -> u64 {
        self.enter[level as usize]
    }

    /// Bytes below which `level` is left downward (0 for `Normal`).
    #[must_use]
    pub fn clear_bytes(&self, level: HeapLevel) -> u64 {
        self.clear[level as usize]
    }

    /// The highest level whose enter threshold `used_bytes` meets.
    #[must_use]
    pub fn entered_level(&self, used_bytes: u64) -> HeapLevel {
        let mut l = HeapLevel::Normal;
        for lv in &HeapLevel::ALL[1..] {
            if used_bytes >= self.enter[*lv as usize] {
                l = *lv;
            }
        }
        l
    }

    /// Records one sample: labels it, moves the level (see the module docs) and returns the
    /// reading plus the transition, if any.
    pub fn record(&mut self, sample: HeapSample) -> (HeapReading, Option<LevelChange>) {
        let used = sample.used_bytes;
        let stale = matches!(self.last, Some(r) if r.source == sample.source && r.used_bytes == used)
            && sample.source != HeapSource::Unsupported;
        let mut quantized = false;
        // `performance.memory` earns `precise` only by behaving precisely: the last
        // QUANTIZED_RUN readings all moved and none sits on the bucket grid (Chromium with
        // precise memory info, or a site-isolated renderer).
        let mut moving = false;
        if sample.source == HeapSource::PerformanceMemory {
            if self.pm_history.len() == QUANTIZED_RUN {
                self.pm_history.pop_front();
            }
            self.pm_history.push_back(used);
            if self.pm_history.len() == QUANTIZED_RUN {
                let first = self.pm_history[0];
                let all_same = self.pm_history.iter().all(|&v| v == first);
                let on_grid = self
                    .pm_history
                    .iter()
                    .all(|&v| v % QUANTIZED_GRID_BYTES == 0);
                quantized = all_same || on_grid;
                moving = self
                    .pm_history
                    .iter()
                    .zip(self.pm_history.iter().skip(1))
                    .all(|(a, b)| a != b)
                    && self
                        .pm_history
                        .iter()
                        .all(|&v| v % QUANTIZED_GRID_BYTES != 0);
            }
        }
        let precise = match sample.source {
            HeapSource::MeasureUserAgentSpecificMemory | HeapSource::WasmMemory => true,
            HeapSource::PerformanceMemory => moving && !quantized,
            HeapSource::Unsupported => false,
        };

        let rank: usize = match sample.source {
            HeapSource::Unsupported => 0,
            HeapSource::PerformanceMemory if !precise => 1,
            HeapSource::PerformanceMemory => 3,
            _ => 2,
        };
        let hold = self.hold_ms();
        let drives = rank > 0
            && self
                .rank_at
                .iter()
                .skip(rank + 1)
                .flatten()
                .all(|t| sample.at.since(*t) >= hold);
        if let Some(t) = self.rank_at.get_mut(rank) {
            *t = Some(t.map_or(sample.at, |t| t.max(sample.at)));
        }
        let from = self.level;
        if drives {
            let entered = self.entered_level(used);
            if entered > from || (from != HeapLevel::Normal && used < self.clear[from as usize]) {
                self.level = entered;
            }
        }
        let reading = HeapReading {
            used_bytes: used,
            source: sample.source,
            precise,
            sampled_at: sample.at,
            level: self.level,
            quantized,
            stale,
            drives,
        };
        self.last = Some(reading);
        let change = (self.level != from).then_some(LevelChange {
            from,
            to: self.level,
            used_bytes: used,
            at: sample.at,
        });
        (reading, change)
    }

    /// How long a reading keeps less trusted sources from driving the level, ms:
    /// `max(PRECISE_HOLD_INTERVALS × sample_interval_ms, PRECISE_HOLD_MIN_MS)`.
    #[must_use]
    pub fn hold_ms(&self) -> u64 {
        self.cfg
            .sample_interval_ms
            .saturating_mul(PRECISE_HOLD_INTERVALS)
            .max(PRECISE_HOLD_MIN_MS)
    }

    /// The current level.
    #[must_use]
    pub fn level(&self) -> HeapLevel {
        self.level
    }

    /// The last reading, if any sample was recorded.
    #[must_use]
    pub fn last(&self) -> Option<HeapReading> {
        self.last
    }

    /// Records a long task that started at `now` and lasted `duration_ms`. Returns a breach when
    /// the count within `long_task_window_ms` (a task at `t` counts while `now − t <
    /// window`) reaches `long_task_threshold`. After a breach the counter is disarmed; it re-arms
    /// only once a full window has passed without any long task, so persisting pressure is
    /// reported once, not for every further task.
    pub fn record_long_task(&mut self, now: Millis, duration_ms: u64) -> Option<LongTaskBreach> {
        if !self.long_task_armed && self.long_tasks_in_window(now) == 0 {
            self.long_task_armed = true;
        }
        if self.long_tasks.len() >= self.long_task_threshold as usize {
            self.long_tasks.pop_front();
        }
        self.long_tasks.push_back((now, duration_ms));
        let count = self.long_tasks_in_window(now);
        if self.long_task_armed && count >= self.long_task_threshold {
            self.long_task_armed = false;
            let window = self.cfg.long_task_window_ms;
            let total_ms = self
                .long_tasks
                .iter()
                .filter(|(t, _)| now.since(*t) < window)
                .fold(0u64, |acc, (_, ms)| acc.saturating_add(*ms));
            return Some(LongTaskBreach {
                count,
                window_ms: window,
                total_ms,
                at: now,
            });
        }
        None
    }

    /// Long tasks within the window ending at `now`, capped at the threshold (only that many
    /// are remembered).
    #[must_use]
    pub fn long_tasks_in_window(&self, now: Millis) -> u32 {
        let window = self.cfg.long_task_window_ms;
        self.long_tasks
            .iter()
            .filter(|(t, _)| now.since(*t) < window)
            .count() as u32
    }

    /// Delay until the next sample, ms. Without `randomize`: `sample_interval_ms`. With it: an
    /// exponential draw `−ln(1 − u) × sample_interval_ms` (a Poisson process, as advised for
    /// `measureUserAgentSpecificMemory` to defeat timing side channels), clamped to
    /// `[mean / 10, mean × 10]`. `u` is uniform in `[0, 1)`; NaN or out-of-range values are
    /// clamped into it. The result never exceeds [`MAX_TIMER_MS`].
    #[must_use]
    pub fn next_sample_delay_ms(&self, u: f64) -> u64 {
        let mean = self.cfg.sample_interval_ms;
        if !self.cfg.randomize {
            return mean.min(MAX_TIMER_MS);
        }
        let u = if u.is_nan() {
            0.5
        } else {
            u.max(0.0).min(1.0 - f64::EPSILON)
        };
        let draw = -(1.0 - u).ln() * mean as f64;
        let lo = mean / 10;
        let hi = mean.saturating_mul(10);
        // `as` saturates; the clamp bounds are integers so the draw cannot escape them.
        (draw as u64).max(lo).min(hi).min(MAX_TIMER_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HeapConfig {
        HeapConfig {
            budget_bytes: 1_000_000,
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

    #[test]
    fn thresholds_are_exact_for_round_budgets() {
        let g = HeapGuard::new(cfg());
        assert_eq!(
            [
                g.enter_bytes(HeapLevel::Warning),
                g.enter_bytes(HeapLevel::Critical),
                g.enter_bytes(HeapLevel::Limit)
            ],
            [700_000, 900_000, 1_000_000]
        );
        assert_eq!(
            [
                g.clear_bytes(HeapLevel::Warning),
                g.clear_bytes(HeapLevel::Critical),
                g.clear_bytes(HeapLevel::Limit)
            ],
            [650_000, 850_000, 950_000]
        );
    }

    #[test]
    fn hostile_config_is_sanitised() {
        let mut c = cfg();
        c.budget_bytes = 0;
        c.warning = f64::NAN;
        c.critical = -1.0;
        c.limit = 0.1;
        c.hysteresis = f64::INFINITY;
        c.long_task_threshold = 0;
        let mut g = HeapGuard::new(c);
        let (r, _) = g.record(HeapSample {
            used_bytes: u64::MAX,
            source: HeapSource::WasmMemory,
            at: Millis(0),
        });
        assert_eq!(r.level, HeapLevel::Limit);
        assert!(g.record_long_task(Millis(0), 60).is_some());
    }

    #[test]
    fn unsupported_samples_leave_the_level_alone() {
        let mut g = HeapGuard::new(cfg());
        let (r, ch) = g.record(HeapSample {
            used_bytes: 5_000_000,
            source: HeapSource::Unsupported,
            at: Millis(1),
        });
        assert_eq!(
            (r.level, ch, r.precise, r.stale),
            (HeapLevel::Normal, None, false, false)
        );
    }

    #[test]
    fn source_round_trips_through_its_number() {
        for s in [
            HeapSource::Unsupported,
            HeapSource::MeasureUserAgentSpecificMemory,
            HeapSource::PerformanceMemory,
            HeapSource::WasmMemory,
        ] {
            assert_eq!(HeapSource::from_u8(s as u8), s);
        }
        assert_eq!(HeapSource::from_u8(200), HeapSource::Unsupported);
    }
}
