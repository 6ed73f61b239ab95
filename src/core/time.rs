//! Time as plain numbers: the driver reads the clock, core only compares.
//!
//! ```
//! use resource_guard::core::time::{Clock, ManualClock, Millis};
//! let clock = ManualClock::new(1_000);
//! clock.advance(250);
//! assert_eq!(clock.now(), Millis(1_250));
//! ```

use std::cell::Cell;

/// The longest delay a browser timer accepts (`setTimeout` takes an `i32` of milliseconds).
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// A point in time or a duration in whole milliseconds on a monotonic clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + ms`, saturating at `u64::MAX`.
    #[must_use]
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`; 0 when `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Milliseconds from `self` until `later`; 0 when `later` has passed.
    #[must_use]
    pub fn until(self, later: Millis) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// Converts a JS number of milliseconds (possibly fractional, negative or NaN) to `Millis`,
    /// flooring and clamping to `0..=2^53`.
    #[must_use]
    pub fn from_f64(ms: f64) -> Millis {
        if ms.is_nan() || ms <= 0.0 {
            Millis(0)
        } else if ms >= 9_007_199_254_740_992.0 {
            Millis(9_007_199_254_740_992)
        } else {
            Millis(ms as u64)
        }
    }
}

/// A monotonic clock in milliseconds. Core never reads one; drivers and tests do.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Millis;
}

/// A clock that moves only when told to: the time source of every native timing test.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<u64>,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    #[must_use]
    pub fn new(start_ms: u64) -> Self {
        ManualClock {
            now: Cell::new(start_ms),
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get().saturating_add(ms));
    }

    /// Sets the clock to `ms` (may move backwards, to test that core tolerates it).
    pub fn set(&self, ms: u64) {
        self.now.set(ms);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        Millis(self.now.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_f64_floors_and_clamps_hostile_values() {
        assert_eq!(Millis::from_f64(12.9), Millis(12));
        assert_eq!(Millis::from_f64(-5.0), Millis(0));
        assert_eq!(Millis::from_f64(f64::NAN), Millis(0));
        assert_eq!(
            Millis::from_f64(f64::INFINITY),
            Millis(9_007_199_254_740_992)
        );
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Millis(u64::MAX).plus(1), Millis(u64::MAX));
        assert_eq!(Millis(5).since(Millis(9)), 0);
        assert_eq!(Millis(5).until(Millis(9)), 4);
    }
}
