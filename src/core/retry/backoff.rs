//! Computes the jittered exponential delay before each retry from a [`RetryConfig`].
//!
//! ```
//! use resource_guard::core::config::GuardConfig;
//! use resource_guard::core::retry::backoff::Backoff;
//! use resource_guard::core::rng::SeqRng;
//! let cfg = GuardConfig::from_json(r#"{"retry":{"jitter":0}}"#).unwrap().retry;
//! let mut backoff = Backoff::new(&cfg);
//! let mut rng = SeqRng::new(vec![0.5]);
//! let delays: Vec<u64> = (1..=5).map(|n| backoff.delay_ms(n, &mut rng)).collect();
//! assert_eq!(delays, [1000, 2000, 4000, 8000, 10000]);
//! ```
//!
//! The un-jittered delay before retry `n` (1-based) is `base · multiplier^(n-1)`, capped at `max`;
//! it saturates at `max` for any `n`, so huge retry counts cannot overflow. Jitter then depends on
//! [`JitterKind`]:
//! - `Proportional`: uniform in `delay ± jitter·delay`, clamped to `[0, max]`.
//! - `Full`: uniform in `[0, delay]` (the `jitter` fraction is not used).
//! - `Decorrelated` (AWS): uniform in `[base, previous·3]`, capped at `max`; the exponential
//!   formula is not used, and retry `n <= 1` restarts the chain from `base`.

use crate::core::config::{JitterKind, RetryConfig};
use crate::core::rng::Rng;

/// Backoff state for one request's retries (only `Decorrelated` jitter remembers anything).
#[derive(Clone, Debug)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
    multiplier: f64,
    jitter: f64,
    kind: JitterKind,
    /// The previous decorrelated delay, ms.
    prev_ms: u64,
}

impl Backoff {
    /// A backoff from `cfg` (`base_delay_ms`, `max_delay_ms`, `multiplier`, `jitter`,
    /// `jitter_kind`). Values a validated config cannot hold are sanitised rather than rejected:
    /// a multiplier below 1 or NaN acts as 1, jitter is clamped to `[0, 1]` (NaN → 0), and a base
    /// above the max is lowered to it.
    #[must_use]
    pub fn new(cfg: &RetryConfig) -> Self {
        let base_ms = cfg.base_delay_ms.min(cfg.max_delay_ms);
        Backoff {
            base_ms,
            max_ms: cfg.max_delay_ms,
            multiplier: if cfg.multiplier >= 1.0 {
                cfg.multiplier
            } else {
                1.0
            },
            jitter: if cfg.jitter >= 0.0 {
                cfg.jitter.min(1.0)
            } else {
                0.0
            },
            kind: cfg.jitter_kind,
            prev_ms: base_ms,
        }
    }

    /// Forgets the decorrelated chain (as if no retry had happened yet).
    pub fn reset(&mut self) {
        self.prev_ms = self.base_ms;
    }

    /// The un-jittered delay before retry `retry` (1-based; 0 counts as 1), in ms, at most
    /// `max_delay_ms`.
    #[must_use]
    pub fn nominal_ms(&self, retry: u32) -> u64 {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let d = self.base_ms as f64 * self.multiplier.powi(exp);
        // Overflow gives +inf, which is not < max; `as` would saturate anyway.
        if d < self.max_ms as f64 {
            d as u64
        } else {
            self.max_ms
        }
    }

    /// The delay before retry `retry` (1-based), in ms, in `[0, max_delay_ms]`, drawing one number
    /// from `rng` (none when the jitter cannot change the result).
    pub fn delay_ms(&mut self, retry: u32, rng: &mut dyn Rng) -> u64 {
        match self.kind {
            JitterKind::Proportional => {
                let d = self.nominal_ms(retry) as f64;
                if self.jitter == 0.0 {
                    return d as u64;
                }
                let j = (2.0 * unit(rng) - 1.0) * self.jitter * d;
                clamp_ms(d + j, 0, self.max_ms)
            }
            JitterKind::Full => clamp_ms(unit(rng) * self.nominal_ms(retry) as f64, 0, self.max_ms),
            JitterKind::Decorrelated => {
                if retry <= 1 {
                    self.reset();
                }
                let hi = self
                    .prev_ms
                    .saturating_mul(3)
                    .min(self.max_ms)
                    .max(self.base_ms);
                let d = self.base_ms as f64 + unit(rng) * (hi - self.base_ms) as f64;
                self.prev_ms = clamp_ms(d.round(), self.base_ms, hi);
                self.prev_ms
            }
        }
    }
}

/// The next random number, forced into `[0, 1]` whatever the `Rng` returns (NaN → 0.5).
fn unit(rng: &mut dyn Rng) -> f64 {
    let u = rng.next_f64();
    if u.is_nan() {
        0.5
    } else {
        u.max(0.0).min(1.0)
    }
}

fn clamp_ms(x: f64, lo: u64, hi: u64) -> u64 {
    // `as` floors, saturates and maps NaN to 0.
    (x as u64).max(lo).min(hi.max(lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::GuardConfig;
    use crate::core::rng::{SeqRng, SplitMix64};

    fn cfg(json: &str) -> RetryConfig {
        GuardConfig::from_json(json).unwrap().retry
    }

    #[test]
    fn huge_retry_counts_saturate_at_max() {
        let mut b = Backoff::new(&cfg(r#"{"retry":{"jitter":0,"multiplier":10}}"#));
        let mut rng = SeqRng::new(vec![]);
        assert_eq!(b.delay_ms(u32::MAX, &mut rng), 10_000);
        assert_eq!(b.nominal_ms(0), 1_000);
    }

    #[test]
    fn proportional_bounds() {
        let mut b = Backoff::new(&cfg(r#"{"retry":{"jitter":0.5}}"#));
        assert_eq!(b.delay_ms(1, &mut SeqRng::new(vec![0.0])), 500);
        assert_eq!(
            b.delay_ms(1, &mut SeqRng::new(vec![0.999_999_999_999])),
            1_499
        );
        // At the cap the upper half is clamped to max.
        assert_eq!(b.delay_ms(9, &mut SeqRng::new(vec![0.999])), 10_000);
        assert_eq!(b.delay_ms(9, &mut SeqRng::new(vec![0.0])), 5_000);
    }

    #[test]
    fn full_jitter_spans_zero_to_delay() {
        let mut b = Backoff::new(&cfg(r#"{"retry":{"jitterKind":"full"}}"#));
        assert_eq!(b.delay_ms(2, &mut SeqRng::new(vec![0.0])), 0);
        assert_eq!(b.delay_ms(2, &mut SeqRng::new(vec![0.5])), 1_000);
    }

    #[test]
    fn decorrelated_stays_in_base_to_max_and_restarts() {
        let mut b = Backoff::new(&cfg(r#"{"retry":{"jitterKind":"decorrelated"}}"#));
        let mut rng = SplitMix64::new(3);
        let mut prev = 1_000;
        for n in 1..50 {
            let d = b.delay_ms(n, &mut rng);
            assert!((1_000..=10_000).contains(&d) && d <= prev * 3, "{n}: {d}");
            prev = d;
        }
        assert!(b.delay_ms(1, &mut SeqRng::new(vec![0.999_999_999_999])) <= 3_000);
    }

    #[test]
    fn hostile_rng_values_are_clamped() {
        struct Bad(f64);
        impl Rng for Bad {
            fn next_f64(&mut self) -> f64 {
                self.0
            }
        }
        for kind in ["proportional", "full", "decorrelated"] {
            let mut b = Backoff::new(&cfg(&(String::from(
                r#"{"retry":{"jitter":1,"jitterKind":""#,
            ) + kind
                + "\"}}")));
            for v in [f64::NAN, -1.0, 7.0, f64::INFINITY] {
                assert!(b.delay_ms(3, &mut Bad(v)) <= 10_000);
            }
        }
    }
}
