//! Failed-login limits per username and per client address (fixed window, in memory).
//! Several replicas each count their own; the per-username limit still bounds guessing to
//! `replicas × limit` tries per window, which is what a proxy-level limit is for beyond that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LoginLimits;

/// Counts failed logins and says when to refuse.
pub struct LoginGuard {
    limits: LoginLimits,
    counts: Mutex<HashMap<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    failures: u32,
    started: Instant,
}

impl LoginGuard {
    /// A guard with the configured limits.
    pub fn new(limits: LoginLimits) -> Self {
        LoginGuard {
            limits,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` when this username or address must wait before trying again.
    pub fn check(&self, username: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let window = Duration::from_secs(self.limits.window_secs);
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let blocked = |key: String, max: u32| {
            counts
                .get(&key)
                .filter(|w| w.failures >= max && now.duration_since(w.started) < window)
                .map(|w| (window - now.duration_since(w.started)).as_secs().max(1))
        };
        match blocked(user_key(username), self.limits.max_failures_per_user)
            .or_else(|| blocked(ip_key(ip), self.limits.max_failures_per_ip))
        {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, ip: &str) {
        let now = Instant::now();
        let window = Duration::from_secs(self.limits.window_secs);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            counts.retain(|_, w| now.duration_since(w.started) < window);
        }
        for key in [user_key(username), ip_key(ip)] {
            let entry = counts.entry(key).or_insert(Window {
                failures: 0,
                started: now,
            });
            if now.duration_since(entry.started) >= window {
                *entry = Window {
                    failures: 0,
                    started: now,
                };
            }
            entry.failures += 1;
        }
    }

    /// Clears the username's count after a successful login.
    pub fn succeeded(&self, username: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.remove(&user_key(username));
    }
}

fn user_key(username: &str) -> String {
    format!("u:{}", username.to_lowercase())
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> LoginGuard {
        LoginGuard::new(LoginLimits {
            max_failures_per_user: 3,
            max_failures_per_ip: 5,
            window_secs: 60,
        })
    }

    #[test]
    fn blocks_a_username_after_its_limit() {
        let g = guard();
        for _ in 0..3 {
            assert!(g.check("wang", "1.1.1.1").is_ok());
            g.failed("wang", "1.1.1.1");
        }
        let wait = g.check("WANG", "2.2.2.2").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(g.check("li", "2.2.2.2").is_ok());
    }

    #[test]
    fn blocks_an_address_across_usernames() {
        let g = guard();
        for i in 0..5 {
            g.failed(&format!("user{i}"), "9.9.9.9");
        }
        assert!(g.check("someone", "9.9.9.9").is_err());
        assert!(g.check("someone", "8.8.8.8").is_ok());
    }

    #[test]
    fn success_resets_the_username() {
        let g = guard();
        g.failed("wang", "1.1.1.1");
        g.failed("wang", "1.1.1.1");
        g.succeeded("wang");
        g.failed("wang", "1.1.1.1");
        assert!(g.check("wang", "3.3.3.3").is_ok());
    }
}
