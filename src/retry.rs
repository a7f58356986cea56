//! Pure retry policy: capped exponential backoff, each delay drawn from the upper half of its
//! step. Sleeping is the caller's job, so the policy is unit-tested without time passing. The
//! retries themselves are persisted (the outbox keeps each signal's attempts and next due
//! time), so there is no in-memory retry loop here.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The longest delay before retry number `attempt` (0-based): initial * 2^attempt, capped.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = 2f64.powi(attempt.min(60) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The delay before retry number `attempt`, using `unit` in [0, 1] as the random draw:
    /// see [`upper_half`].
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        upper_half(self.base_delay(attempt), unit)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, fastrand::f64())
    }
}

/// A uniformly random point of [d/2, d], `unit` in [0, 1] being the draw. Retries that failed
/// together (a fleet during an API outage) spread over half the delay, so they do not return
/// as a herd; ±10 % kept them within a fifth of it. The lower half is left out so a failing
/// endpoint is still tried no sooner than half the delay (the number of attempts per outage
/// stays that of the doubling).
pub fn upper_half(d: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        1.0
    };
    d.mul_f64(0.5 + 0.5 * unit)
}

/// `d` scaled by a factor in [1 - frac, 1 + frac]; `unit` is a draw in [0, 1).
pub fn jitter(d: Duration, frac: f64, unit: f64) -> Duration {
    let factor = 1.0 + frac * (2.0 * unit - 1.0);
    Duration::from_secs_f64((d.as_secs_f64() * factor).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let d: Vec<u64> = (0..6).map(|a| b.base_delay(a).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(b.base_delay(1000).as_secs(), 10);
    }

    #[test]
    fn a_delay_is_a_point_of_the_upper_half_of_its_step() {
        let b = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        };
        // attempt 6: the step is 128 s
        assert_eq!(b.delay_with(6, 0.0), Duration::from_secs(64));
        assert_eq!(b.delay_with(6, 0.5), Duration::from_secs(96));
        assert_eq!(b.delay_with(6, 1.0), Duration::from_secs(128));
        // nonsense draws stay within the bounds
        assert_eq!(b.delay_with(6, -3.0), Duration::from_secs(64));
        assert_eq!(b.delay_with(6, 7.0), Duration::from_secs(128));
        assert_eq!(b.delay_with(6, f64::NAN), Duration::from_secs(128));
        for attempt in 0..12 {
            for _ in 0..200 {
                let d = b.delay(attempt);
                let step = b.base_delay(attempt);
                assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn the_cap_bounds_the_delay_and_its_half_the_shortest() {
        let b = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        };
        for attempt in [8, 9, 40, u32::MAX] {
            assert_eq!(b.delay_with(attempt, 1.0), Duration::from_secs(300));
            assert_eq!(b.delay_with(attempt, 0.0), Duration::from_secs(150));
        }
    }

    /// Eight signals that failed in the same second (the fleet's heat-api outage) and keep
    /// failing: over the seven retries of about four minutes, how far apart do they end up?
    /// With ±10 % the eight last retries span about 24 s on average (10.5 s were measured);
    /// the upper half spreads them over about a minute.
    #[test]
    fn signals_that_failed_together_drift_apart() {
        let b = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        };
        let runs = 200;
        let mut spans = 0.0;
        for seed in 0..runs {
            let mut rng = fastrand::Rng::with_seed(seed);
            let times: Vec<f64> = (0..8)
                .map(|_| {
                    (0..7)
                        .map(|attempt| b.delay_with(attempt, rng.f64()).as_secs_f64())
                        .sum()
                })
                .collect();
            let (lo, hi) = times
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), t| (l.min(*t), h.max(*t)));
            spans += hi - lo;
        }
        let mean_span = spans / runs as f64;
        assert!(mean_span > 45.0, "mean span {mean_span:.1} s");
    }
}
