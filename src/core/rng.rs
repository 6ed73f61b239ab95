//! Injected randomness for jitter and ids: a seeded PRNG in production, a scripted one in tests.
//!
//! ```
//! use resource_guard::core::rng::{Rng, SplitMix64};
//! let mut rng = SplitMix64::new(7);
//! let x = rng.next_f64();
//! assert!((0.0..1.0).contains(&x));
//! ```

/// A source of uniform numbers in `[0, 1)`.
pub trait Rng {
    /// The next number in `[0, 1)`.
    fn next_f64(&mut self) -> f64;
}

/// SplitMix64: tiny, fast and statistically fine for jitter (not for secrets).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed` (the driver seeds it from `crypto.getRandomValues`).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Rng for SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        // 53 random bits: exactly representable, uniform in [0, 1).
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Replays a fixed sequence (cycling), so jitter in tests is exact.
#[derive(Debug, Clone)]
pub struct SeqRng {
    values: Vec<f64>,
    next: usize,
}

impl SeqRng {
    /// Replays `values` in order, forever. An empty list always yields 0.5.
    #[must_use]
    pub fn new(values: Vec<f64>) -> Self {
        SeqRng { values, next: 0 }
    }
}

impl Rng for SeqRng {
    fn next_f64(&mut self) -> f64 {
        if self.values.is_empty() {
            return 0.5;
        }
        let v = self.values[self.next % self.values.len()];
        self.next = self.next.wrapping_add(1);
        // Not `clamp` (its panic branch pulls in formatting); NaN passes through as clamp did.
        if v < 0.0 {
            0.0
        } else if v > 0.999_999_999_999 {
            0.999_999_999_999
        } else {
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_stays_in_unit_interval_and_is_deterministic() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
    }

    #[test]
    fn seq_rng_cycles() {
        let mut r = SeqRng::new(vec![0.1, 0.9]);
        assert_eq!(r.next_f64(), 0.1);
        assert_eq!(r.next_f64(), 0.9);
        assert_eq!(r.next_f64(), 0.1);
    }
}
