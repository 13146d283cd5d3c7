//! Argon2id password hashes. Hashing costs tens of milliseconds of CPU and 19 MiB of memory
//! on purpose, so callers run these through [`run`]: on a few threads of their own, never on
//! an async worker.

use std::sync::{Arc, LazyLock, Mutex, mpsc};

use crate::error::{ApiError, ApiResult};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A job for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Threads that run every hash and check ([`hashing_threads`]). Each argon2 hash
/// holds 19 MiB (the OWASP memory cost). On actix's blocking pool (hundreds of threads) a
/// burst of logins — 200 phones at a training day's start — hashed on as many threads at
/// once, each with its own allocator arena that kept its 19 MiB afterwards (measured: server
/// RSS 611 MiB after 200 logins; 440 MiB with the concurrency limited but threads still
/// varying). A few fixed threads bound both; more at once would not finish sooner, hashing
/// is CPU-bound.
static HASHERS: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..hashing_threads() {
        let queue = Arc::clone(&queue);
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(job) = job else { break };
                    // A panicking job drops its reply sender (the caller gets an error);
                    // the thread lives on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    jobs
});

/// One hashing thread per core, at least 2 and at most 8 (150 MiB of argon2 memory).
fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// Runs a hash or a check on the hashing threads and waits for it without blocking the
/// async worker.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(f());
    });
    HASHERS
        .send(job)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("password hashing threads are gone")))?;
    answer
        .await
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("password hashing failed")))
}

/// Hashes a password as a PHC string (argon2id, OWASP default parameters).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored hash; a malformed hash counts as a mismatch.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as a real check when the username does not exist, so response
/// times do not reveal which usernames are valid.
pub fn verify_dummy(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("fangzha-dummy-password").unwrap_or_default());
    let _ = verify(password, &DUMMY);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[actix_web::test]
    async fn at_most_one_hash_per_core_runs_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                actix_web::rt::spawn(run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("hashing thread");
        }
        let limit = hashing_threads();
        // On actix's blocking pool all 24 would overlap.
        let most = most.load(Ordering::SeqCst);
        assert!(most <= limit, "{most} hashes ran at once, limit {limit}");
        assert!(most >= 2, "hashes ran one by one");
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("anything", "not-a-hash"));
        assert_ne!(h, hash("correct horse battery").unwrap(), "salted");
    }
}
