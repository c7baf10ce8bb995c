//! Password checks with bounded cost (threat model rule 4).
//!
//! An argon2id verification costs 19 MiB and tens of milliseconds, and a
//! stranger can ask for one with every request. So verifications run on a
//! small fixed set of worker threads fed by a short bounded queue: when the
//! queue is full the caller gets [`Busy`] at once (answered 503 with
//! `Retry-After`) instead of another thread and another 19 MiB. Dedicated
//! threads (not `spawn_blocking`) also keep the allocator's per-thread
//! arenas, and so the memory argon2 leaves behind, to the pool's size.
//!
//! Honest API clients send the same Basic credentials on every call; a
//! short cache of verified credentials spares them argon2 each time. It is
//! keyed by HMAC-SHA-256 of user and password under a key drawn at start
//! (the password itself is never kept), and an entry holds only for the
//! stored hash it was verified against: a changed password (directory
//! re-import, here or by another process) no longer matches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::directory::verify_password;

/// The queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// One verification waiting for a worker.
struct Job {
    password: String,
    hash: String,
    answer: oneshot::Sender<bool>,
}

/// A cached verification: which stored hash it matched, and until when.
struct Verified {
    stored: [u8; 32],
    until: Instant,
}

/// Fixed argon2 workers, a bounded queue, and the verified-credential cache.
pub struct PasswordPool {
    queue: mpsc::Sender<Job>,
    key: [u8; 64],
    ttl: Duration,
    cache_max: usize,
    cache: Mutex<HashMap<[u8; 32], Verified>>,
}

impl PasswordPool {
    /// Starts `workers` threads (at least one) behind a queue of `queue`
    /// waiting checks; verified credentials are remembered for `ttl` (zero:
    /// not at all), at most `cache_max` of them.
    pub fn new(workers: usize, queue: usize, ttl: Duration, cache_max: usize) -> PasswordPool {
        let (tx, rx) = mpsc::channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                // The other workers (or none: then every check answers Busy) carry on.
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        PasswordPool {
            queue: tx,
            key: std::array::from_fn(|_| rand::random()),
            ttl,
            cache_max,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Does `password` match the argon2id PHC string `hash`? [`Busy`] when
    /// the queue is full (nothing was hashed).
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, Busy> {
        let (answer, rx) = oneshot::channel();
        let job = Job {
            password: password.to_string(),
            hash: hash.to_string(),
            answer,
        };
        self.queue.try_send(job).map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }

    /// Was this user and password verified against `stored_hash` within the TTL?
    pub fn cached(&self, user: &str, password: &str, stored_hash: &str) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let key = self.cache_key(user, password);
        let stored = digest(stored_hash);
        let mut cache = self.cache();
        match cache.get(&key) {
            Some(v) if v.until > Instant::now() => v.stored == stored,
            Some(_) => {
                cache.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Remembers a successful verification.
    pub fn remember(&self, user: &str, password: &str, stored_hash: &str) {
        if self.ttl.is_zero() || self.cache_max == 0 {
            return;
        }
        let key = self.cache_key(user, password);
        let now = Instant::now();
        let mut cache = self.cache();
        if cache.len() >= self.cache_max {
            cache.retain(|_, v| v.until > now);
        }
        if cache.len() < self.cache_max {
            cache.insert(
                key,
                Verified {
                    stored: digest(stored_hash),
                    until: now + self.ttl,
                },
            );
        }
    }

    /// Forgets every cached credential (the directory was re-imported).
    pub fn forget_all(&self) {
        self.cache().clear();
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Verified>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// HMAC-SHA-256 of the length-prefixed user name and the password, so
    /// `("a:b", "c")` and `("a", "b:c")` differ.
    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        // A key of HMAC-SHA-256's block size: the infallible constructor.
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new((&self.key).into());
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// One worker: takes the next job until the pool is dropped.
fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let mut rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.blocking_recv()
        };
        let Some(job) = job else { return };
        // The asker may have gone (client disconnected): skip the work.
        if job.answer.is_closed() {
            continue;
        }
        let ok = verify_password(&job.password, &job.hash);
        let _ = job.answer.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_answers_busy_and_the_cache_follows_the_stored_hash() {
        let hash = crate::directory::hash_password("right").unwrap_or_default();
        let pool = PasswordPool::new(1, 1, Duration::from_secs(60), 10);
        assert_eq!(pool.verify("right", &hash).await, Ok(true));
        assert_eq!(pool.verify("wrong", &hash).await, Ok(false));
        // Many at once: the one worker and the one queue slot take two, the rest are Busy.
        let checks: Vec<_> = (0..8).map(|_| pool.verify("wrong", &hash)).collect();
        let answers = futures_util::future::join_all(checks).await;
        assert!(answers.contains(&Err(Busy)), "{answers:?}");
        assert!(!pool.cached("u", "right", &hash));
        pool.remember("u", "right", &hash);
        assert!(pool.cached("u", "right", &hash));
        assert!(!pool.cached("u", "wrong", &hash));
        assert!(!pool.cached("u", "right", "another stored hash"));
        pool.forget_all();
        assert!(!pool.cached("u", "right", &hash));
    }
}
