//! Login attempt limits per username and per client address (token buckets, see
//! [`crate::rate_limit`]).
//!
//! Every attempt counts, right or wrong: a bucket cannot be peeked without being used, and
//! a limit on all attempts also bounds the argon2 work one address can ask of the server.
//! The per-username limit caps password guessing against one account from any number of
//! addresses; the per-address limit caps spraying many usernames from one address, and is
//! larger because a township office's workers may all sit behind one NAT address.

use std::time::Duration;

use crate::config::LoginLimits;
use crate::rate_limit::Limiter;

/// Says when a login attempt must wait.
pub struct LoginGuard {
    per_user: Limiter,
    per_ip: Limiter,
}

impl LoginGuard {
    /// A guard with the configured limits.
    pub fn new(limits: LoginLimits) -> Self {
        let window = Duration::from_secs(limits.window_secs.max(1));
        LoginGuard {
            per_user: Limiter::new(
                limits.max_attempts_per_user,
                limits.max_attempts_per_user,
                window,
            ),
            per_ip: Limiter::new(
                limits.max_attempts_per_ip,
                limits.max_attempts_per_ip,
                window,
            ),
        }
    }

    /// Counts an attempt; `Err(seconds)` when this username or address must wait first.
    pub fn check(&self, username: &str, ip: &str) -> Result<(), u64> {
        self.per_user
            .check(&username.to_lowercase())
            .and_then(|()| self.per_ip.check(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> LoginGuard {
        LoginGuard::new(LoginLimits {
            max_attempts_per_user: 3,
            max_attempts_per_ip: 5,
            window_secs: 60,
        })
    }

    #[test]
    fn blocks_a_username_after_its_limit() {
        let g = guard();
        for _ in 0..3 {
            assert!(g.check("wang", "1.1.1.1").is_ok());
        }
        let wait = g.check("WANG", "2.2.2.2").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(g.check("li", "2.2.2.2").is_ok());
    }

    #[test]
    fn blocks_an_address_across_usernames() {
        let g = guard();
        for i in 0..5 {
            assert!(g.check(&format!("user{i}"), "9.9.9.9").is_ok());
        }
        assert!(g.check("someone", "9.9.9.9").is_err());
        assert!(g.check("someone", "8.8.8.8").is_ok());
    }
}
