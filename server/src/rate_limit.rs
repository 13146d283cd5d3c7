//! Request rate limits: keyed token buckets (GCRA, the `governor` crate), in memory.
//!
//! Each key (a username, an address, a device) gets a bucket of `burst` cells that refills
//! at an even rate: a phone clearing a backlog may push `burst` batches back to back, then
//! keeps going at the sustained rate. Several replicas each count their own, so the real limit is
//! `replicas × limit`; a limit at the reverse proxy is the tool beyond that.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::PushLimits;
use crate::error::ApiError;

/// Keys kept before idle ones are dropped (a flood of made-up usernames must not grow the
/// map without bound).
const MAX_KEYS: usize = 50_000;

/// One keyed limit; `None` inside means the limit is off (configured as 0).
pub struct Limiter {
    inner: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl Limiter {
    /// At most `burst` requests per key at once, refilled at `refill` cells per `per`;
    /// 0 for either turns the limit off.
    pub fn new(burst: u32, refill: u32, per: Duration) -> Self {
        let inner = NonZeroU32::new(burst)
            .zip(NonZeroU32::new(refill))
            .and_then(|(burst, refill)| {
                let quota = Quota::with_period(per / refill.get())?.allow_burst(burst);
                Some(DefaultKeyedRateLimiter::keyed(quota))
            });
        Limiter {
            inner,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one cell of the key's bucket; `Err(seconds)` to wait when it is empty.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        if limiter.len() > MAX_KEYS {
            // Full buckets carry no information: dropping them forgets nothing.
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// Limits on `POST /api/sync/push`, per user and per device (`client_id`).
pub struct PushGuard {
    per_user: Limiter,
    per_device: Limiter,
}

impl PushGuard {
    /// The guard for the configured limits.
    pub fn new(limits: &PushLimits) -> Self {
        let minute = Duration::from_secs(60);
        PushGuard {
            per_user: Limiter::new(limits.user_burst, limits.user_per_minute, minute),
            per_device: Limiter::new(limits.device_burst, limits.device_per_minute, minute),
        }
    }

    /// 429 `rate_limited` with `Retry-After` when this user or device pushes too often.
    pub fn check(&self, user_id: &str, client_id: &str) -> Result<(), ApiError> {
        // The device key includes the user so nobody can use up another's device budget.
        let device = format!("{user_id}/{client_id}");
        match self
            .per_device
            .check(&device)
            .and_then(|()| self.per_user.check(user_id))
        {
            Ok(()) => Ok(()),
            Err(wait) => Err(ApiError::too_many(
                "rate_limited",
                format!("同步过于频繁，请等待 {wait} 秒后再试；数据已保存在手机上，稍后会自动同步"),
                wait,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_other_keys_are_untouched() {
        let l = Limiter::new(3, 1, Duration::from_secs(600));
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        let wait = l.check("a").unwrap_err();
        assert!((1..=600).contains(&wait), "wait {wait}");
        assert!(l.check("b").is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let l = Limiter::new(0, 10, Duration::from_secs(60));
        for _ in 0..1000 {
            assert!(l.check("a").is_ok());
        }
    }

    #[test]
    fn push_device_limit_is_per_user_and_device() {
        let g = PushGuard::new(&PushLimits {
            device_burst: 2,
            device_per_minute: 1,
            user_burst: 100,
            user_per_minute: 100,
        });
        assert!(g.check("u1", "phone").is_ok());
        assert!(g.check("u1", "phone").is_ok());
        let e = g.check("u1", "phone").unwrap_err();
        assert_eq!(e.code(), "rate_limited");
        assert!(g.check("u1", "tablet").is_ok());
        assert!(
            g.check("u2", "phone").is_ok(),
            "another user's device of the same id"
        );
    }
}
