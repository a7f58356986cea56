//! Pure retry policy: capped exponential backoff with jitter. Sleeping is the caller's job,
//! so the policy is unit-tested without time passing. The retries themselves are persisted
//! (the outbox keeps each signal's attempts and next due time), so there is no in-memory
//! retry loop here.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter].
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.1,
        }
    }
}

impl Backoff {
    /// The un-jittered delay before retry number `attempt` (0-based): initial * 2^attempt, capped.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = 2f64.powi(attempt.min(60) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The delay with jitter applied, using `unit` in [0, 1) as the random draw.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        jitter(self.base_delay(attempt), self.jitter, unit)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, fastrand::f64())
    }
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
            jitter: 0.0,
        };
        let d: Vec<u64> = (0..6).map(|a| b.base_delay(a).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(b.base_delay(1000).as_secs(), 10);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let d = Duration::from_secs(10);
        assert_eq!(jitter(d, 0.1, 0.0), Duration::from_secs(9));
        assert_eq!(jitter(d, 0.1, 0.5), Duration::from_secs(10));
        assert!(jitter(d, 0.1, 0.999_999) <= Duration::from_secs(11));
        for _ in 0..1000 {
            let j = Backoff::default().delay(3);
            assert!(j >= Duration::from_secs_f64(7.2) && j <= Duration::from_secs_f64(8.8));
        }
    }
}
