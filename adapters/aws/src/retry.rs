//! Retry policy for calls the SDK's own retry does not cover well: Cost Explorer throttling
//! (its limits are low and every call costs money, so attempts are bounded and spaced out) and
//! DynamoDB `UnprocessedItems` (a successful response that still left work undone).
//!
//! Backoff is exponential with **full jitter** (a uniformly random wait between zero and the
//! exponential cap), which spreads retries of many concurrent Lambdas instead of having them hit
//! the API again in lockstep.

use std::time::Duration;

/// Bounded exponential backoff with full jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Total attempts, the first one included (at least 1).
    pub max_attempts: u32,
    /// Cap of the first wait; doubles after every attempt.
    pub base: Duration,
    /// Upper bound of any one wait.
    pub max_delay: Duration,
}

impl Default for Backoff {
    /// 8 attempts, waits capped at 200 ms, 400 ms, ... 20 s: about a minute in the worst case,
    /// well inside a Lambda timeout.
    fn default() -> Self {
        Backoff {
            max_attempts: 8,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl Backoff {
    /// The cap of the wait after failed attempt `attempt` (1-based): `min(max_delay, base * 2^(attempt-1))`.
    pub fn cap(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A random wait in `[0, cap(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self.cap(attempt).as_micros().min(u64::MAX as u128) as u64;
        Duration::from_micros(fastrand::u64(0..=cap))
    }

    /// Sleeps for [`Backoff::delay`] on the tokio timer.
    pub async fn sleep(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }
}

/// AWS error codes that mean "slow down" (or, for Cost Explorer's `LimitExceededException`,
/// "too many requests right now"): worth retrying after a wait.
pub fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "LimitExceededException"
            | "ProvisionedThroughputExceededException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_double_and_stop_at_the_maximum() {
        let b = Backoff {
            max_attempts: 40,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(b.cap(1), Duration::from_millis(100));
        assert_eq!(b.cap(2), Duration::from_millis(200));
        assert_eq!(b.cap(4), Duration::from_millis(800));
        assert_eq!(b.cap(5), Duration::from_secs(1));
        assert_eq!(b.cap(39), Duration::from_secs(1));
        for attempt in 1..40 {
            assert!(b.delay(attempt) <= b.cap(attempt));
        }
    }

    #[test]
    fn full_jitter_spreads_the_waits() {
        let b = Backoff {
            max_attempts: 3,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(1),
        };
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| b.delay(1)).collect();
        assert!(waits.len() > 40, "waits are random, not one fixed value");
    }

    #[test]
    fn throttling_codes() {
        assert!(is_throttling_code("ThrottlingException"));
        assert!(is_throttling_code("LimitExceededException"));
        assert!(is_throttling_code("ProvisionedThroughputExceededException"));
        assert!(!is_throttling_code("ValidationException"));
        assert!(!is_throttling_code("ConditionalCheckFailedException"));
    }
}
