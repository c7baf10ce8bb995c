//! The upload bandwidth cap (issue 13 part 6) for agents at home: a token
//! bucket that paces the bytes of every tus `PATCH` body, chunk by chunk,
//! so a large segment is spread over time instead of bursting at line
//! rate. The spool absorbs what the cap holds back (the backlog shows in
//! `/metrics` and the heartbeat).
//!
//! The rate is the lower of `--upload-rate` and the `upload_rate_kbit` RWS
//! sent with the recording's `start`; none of them (or 0) is unlimited.

use std::time::{Duration, Instant};

/// Converts a kbit/s cap (1 kbit = 1000 bits) to bytes per second; `None`
/// (or 0) is unlimited.
pub fn bytes_per_second(kbit: Option<u32>) -> Option<u64> {
    kbit.filter(|k| *k > 0)
        .map(|k| (u64::from(k) * 1000 / 8).max(1))
}

/// The lower of two optional caps (`None` is unlimited, 0 counts as none).
pub fn lower(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a.filter(|k| *k > 0), b.filter(|k| *k > 0)) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// How many bytes one paced chunk holds at `rate` bytes/s: about 1/8 s
/// of traffic, between 512 B and 64 KiB (small chunks keep the rate even;
/// not so small that a fast link spends its time waking up).
pub fn chunk_size(rate: u64) -> usize {
    usize::try_from((rate / 8).clamp(512, 64 << 10)).unwrap_or(64 << 10)
}

/// A token bucket in bytes. It may go into debt: a chunk larger than the
/// tokens at hand is sent after the wait [`Bucket::take`] returns, so the
/// long-run rate is exact whatever the chunk sizes.
#[derive(Debug)]
pub struct Bucket {
    rate: u64,
    /// Most tokens saved up while idle (the largest burst).
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A bucket filling at `rate` bytes/s (at least 1), full at `burst` bytes.
    pub fn new(rate: u64, burst: u64, now: Instant) -> Bucket {
        Bucket {
            rate: rate.max(1),
            capacity: burst as f64,
            tokens: burst as f64,
            last: now,
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Takes `n` bytes' worth of tokens; returns how long to wait before
    /// sending them (zero when the bucket had them).
    pub fn take(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.capacity);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate as f64)
        }
    }
}

/// The uploader's pacer: one bucket for all uploads, rebuilt when the cap
/// changes; no bucket when unlimited.
#[derive(Debug, Default)]
pub struct Pacer {
    bucket: Option<Bucket>,
}

impl Pacer {
    /// Sets the cap (bytes/s, `None`: unlimited); keeps the bucket's
    /// state when the rate is the same.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        match rate {
            None => self.bucket = None,
            Some(r) if self.bucket.as_ref().is_some_and(|b| b.rate() == r) => {}
            Some(r) => self.bucket = Some(Bucket::new(r, chunk_size(r) as u64, now)),
        }
    }

    /// The current cap in bytes/s.
    pub fn rate(&self) -> Option<u64> {
        self.bucket.as_ref().map(Bucket::rate)
    }

    /// The wait before sending `n` more bytes.
    pub fn take(&mut self, n: u64, now: Instant) -> Duration {
        match &mut self.bucket {
            Some(b) => b.take(n, now),
            None => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kbit_to_bytes_and_the_lower_cap() {
        assert_eq!(bytes_per_second(Some(200)), Some(25_000));
        assert_eq!(bytes_per_second(Some(0)), None);
        assert_eq!(bytes_per_second(None), None);
        assert_eq!(lower(Some(200), Some(100)), Some(100));
        assert_eq!(lower(Some(200), None), Some(200));
        assert_eq!(lower(None, Some(300)), Some(300));
        assert_eq!(lower(Some(0), Some(300)), Some(300));
        assert_eq!(lower(None, Some(0)), None);
        assert_eq!(bytes_per_second(Some(u32::MAX)), Some(536_870_911_875));
    }

    /// Sending 10 s worth of chunks on a simulated clock takes 10 s (the
    /// first burst aside), whatever the chunk size.
    #[test]
    fn long_run_rate_is_the_cap() {
        for chunk in [100u64, 3125, 50_000] {
            let start = Instant::now();
            let mut now = start;
            let mut b = Bucket::new(25_000, 3125, start);
            let mut sent = 0u64;
            while sent < 250_000 {
                now += b.take(chunk, now);
                sent += chunk;
            }
            let secs = now.duration_since(start).as_secs_f64();
            let expected = (sent - 3125) as f64 / 25_000.0;
            assert!(
                (secs - expected).abs() < 0.01,
                "chunk {chunk}: {secs} s, expected {expected}"
            );
        }
    }

    #[test]
    fn idle_time_saves_at_most_one_burst() {
        let start = Instant::now();
        let mut b = Bucket::new(1000, 500, start);
        assert_eq!(b.take(500, start), Duration::ZERO);
        let later = start + Duration::from_secs(60);
        assert_eq!(b.take(500, later), Duration::ZERO);
        assert_eq!(b.take(1000, later), Duration::from_secs(1));
    }

    #[test]
    fn pacer_unlimited_and_rate_change() {
        let now = Instant::now();
        let mut p = Pacer::default();
        assert_eq!(p.take(1 << 30, now), Duration::ZERO);
        p.set_rate(Some(1000), now);
        assert_eq!(p.rate(), Some(1000));
        assert!(p.take(3000, now) > Duration::from_secs(2));
        p.set_rate(None, now);
        assert_eq!(p.take(1 << 30, now), Duration::ZERO);
    }
}
