//! Timing policies of the daemon: per-resource exponential backoff with
//! jitter after retryable errors, and the jittered resync interval.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff: `base * 2^(attempt-1)`, capped at `max`, with "equal
/// jitter" (half of the delay fixed, half random) so that resources failing
/// together do not retry in lockstep, yet never retry sooner than half the
/// nominal delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// 1 s, 2 s, 4 s ... up to 5 minutes (before jitter). The SDK has already
    /// retried each call up to three times within a second or two; this is the
    /// slower, outer loop for failures that outlast that.
    pub const DEFAULT: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(300),
    };

    /// The nominal (unjittered) delay before retry number `attempt` (1 = the first retry).
    pub fn nominal(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exp)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The delay before retry number `attempt`: uniformly in `[nominal/2, nominal]`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let nominal = self.nominal(attempt);
        let half = nominal / 2;
        half + half.mul_f64(rng.random_range(0.0..=1.0))
    }
}

/// The jitter of the resync interval: ±10 %.
pub const RESYNC_JITTER: f64 = 0.1;

/// The resync interval, jittered by ±[`RESYNC_JITTER`] so that replicas
/// started together (or many daemons in one account) do not call AWS in step.
pub fn jittered(interval: Duration, rng: &mut impl Rng) -> Duration {
    interval.mul_f64(1.0 + rng.random_range(-RESYNC_JITTER..=RESYNC_JITTER))
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn nominal_delays_double_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let got: Vec<u64> = (1..=9).map(|a| b.nominal(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.nominal(0), Duration::from_secs(1));
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jittered_delays_stay_between_half_and_the_nominal_delay() {
        let mut rng = SmallRng::seed_from_u64(7);
        let b = Backoff::DEFAULT;
        for attempt in 1..=12 {
            let nominal = b.nominal(attempt);
            let delays: Vec<Duration> = (0..200).map(|_| b.delay(attempt, &mut rng)).collect();
            assert!(
                delays.iter().all(|d| *d >= nominal / 2 && *d <= nominal),
                "attempt {attempt}: {delays:?}"
            );
            // Jitter spreads them out rather than returning one value.
            let min = delays.iter().min().unwrap();
            let max = delays.iter().max().unwrap();
            assert!(
                *max - *min > nominal / 4,
                "attempt {attempt}: {min:?}..{max:?}"
            );
        }
    }

    #[test]
    fn resync_jitter_is_a_tenth_either_way() {
        let mut rng = SmallRng::seed_from_u64(1);
        let interval = Duration::from_secs(60);
        let got: Vec<Duration> = (0..500).map(|_| jittered(interval, &mut rng)).collect();
        assert!(got
            .iter()
            .all(|d| *d >= Duration::from_secs(54) && *d <= Duration::from_secs(66)));
        assert!(got.iter().any(|d| *d < Duration::from_secs(57)));
        assert!(got.iter().any(|d| *d > Duration::from_secs(63)));
    }
}
