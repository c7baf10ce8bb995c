//! One throttle of failed logins for every way in (HTTP Basic on any route,
//! the console's login form, SRS session open): threat model rule 4.
//!
//! Failures are counted on three keys, each forgotten after
//! [`WINDOW`] without a new failure:
//!
//! * **address and user**: after `free` failures that address waits before
//!   it may try that name again, doubling from [`FIRST_DELAY`] up to
//!   `max_delay`; even the right password waits (it is what a guesser sends
//!   last).
//! * **address** (any user): the same after `4 × free` failures, so one
//!   address cannot spray passwords over many names.
//! * **user** (any address): after `4 × free` failures the name waits, but
//!   at most `user_max_delay` (short), and only for addresses that have
//!   failed for it: a stranger cannot lock the real user out, and the
//!   right password from an address that has not failed still works.
//!
//! A refused attempt is not verified and not counted, so waiting ends.
//! Addresses are IPv4, or the /64 of IPv6 (one host holds a whole /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures older than this (without a newer one) are forgotten.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The first back-off once a key has used its free failures.
pub const FIRST_DELAY: Duration = Duration::from_secs(5);
/// Keys tracked at most: beyond it, forgotten keys and then keys that are
/// not waiting are dropped, and if all are waiting no new key is added.
const MAX_KEYS: usize = 100_000;
/// Longest user name kept as a key (longer names share their prefix's key).
const MAX_NAME: usize = 256;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    AddrUser(IpAddr, String),
    Addr(IpAddr),
    User(String),
}

struct Failures {
    count: u32,
    last: Instant,
    until: Option<Instant>,
}

/// Settings of the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures per address and user before back-off (×4 per address, per user).
    pub free: u32,
    /// Longest back-off of an address.
    pub max_delay: Duration,
    /// Longest back-off of a user name (for addresses that failed for it).
    pub user_max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            free: 5,
            max_delay: Duration::from_secs(60),
            user_max_delay: Duration::from_secs(10),
        }
    }
}

/// The failure counters.
pub struct Throttle {
    policy: Policy,
    keys: Mutex<HashMap<Key, Failures>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when `addr` must wait before trying `user` again.
    pub fn check(&self, addr: IpAddr, user: &str) -> Result<(), Duration> {
        let addr = normalise(addr);
        let user = name(user);
        let now = Instant::now();
        let keys = self.keys();
        let wait = |k: &Key| {
            keys.get(k)
                .and_then(|f| f.until)
                .and_then(|u| u.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        let pair = Key::AddrUser(addr, user.to_string());
        let failed_here = keys.get(&pair).is_some_and(|f| fresh(f, now));
        let mut longest = [wait(&pair), wait(&Key::Addr(addr))]
            .into_iter()
            .flatten()
            .max();
        if failed_here && let Some(w) = wait(&Key::User(user.to_string())) {
            longest = longest.max(Some(w));
        }
        match longest {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt of `addr` for `user`.
    pub fn failed(&self, addr: IpAddr, user: &str) {
        let addr = normalise(addr);
        let user = name(user);
        let now = Instant::now();
        let p = self.policy;
        let wide = p.free.saturating_mul(4);
        let mut keys = self.keys();
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, f| fresh(f, now));
            if keys.len() >= MAX_KEYS {
                keys.retain(|_, f| f.until.is_some_and(|u| u > now));
            }
        }
        for (key, free, max) in [
            (Key::AddrUser(addr, user.to_string()), p.free, p.max_delay),
            (Key::Addr(addr), wide, p.max_delay),
            (Key::User(user.to_string()), wide, p.user_max_delay),
        ] {
            // Still full of waiting keys (a very wide botnet): new keys are
            // not tracked; the password pool still bounds what they cost.
            if keys.len() >= MAX_KEYS && !keys.contains_key(&key) {
                continue;
            }
            let f = keys.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                until: None,
            });
            if !fresh(f, now) {
                *f = Failures {
                    count: 0,
                    last: now,
                    until: None,
                };
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
            if f.count >= free {
                f.until = Some(now + backoff(f.count - free, max));
            }
        }
    }

    /// The right password: this address's failures for this user are forgotten
    /// (not the address's or the user's: a guesser's own account must not
    /// reset them).
    pub fn succeeded(&self, addr: IpAddr, user: &str) {
        let key = Key::AddrUser(normalise(addr), name(user).to_string());
        self.keys().remove(&key);
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// [`FIRST_DELAY`] doubled `extra` times, at most `max`.
fn backoff(extra: u32, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(extra.min(20)).unwrap_or(u32::MAX);
    FIRST_DELAY.checked_mul(factor).unwrap_or(max).min(max)
}

fn fresh(f: &Failures, now: Instant) -> bool {
    now.saturating_duration_since(f.last) < WINDOW
}

fn name(user: &str) -> &str {
    match user.char_indices().nth(MAX_NAME) {
        Some((i, _)) => &user[..i],
        None => user,
    }
}

/// IPv4 (also when mapped into IPv6), or the /64 of an IPv6 address.
fn normalise(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn a_guessing_address_waits_the_real_user_elsewhere_does_not() {
        let t = Throttle::new(Policy::default());
        let (stranger, agent) = (ip("10.0.0.9"), ip("10.0.0.1"));
        for _ in 0..4 {
            assert_eq!(t.check(stranger, "agent1"), Ok(()));
            t.failed(stranger, "agent1");
        }
        t.failed(stranger, "agent1");
        assert!(t.check(stranger, "agent1").is_err());
        assert_eq!(t.check(stranger, "agent2"), Ok(()));
        assert_eq!(t.check(agent, "agent1"), Ok(()));
    }

    #[test]
    fn the_user_key_waits_only_failed_addresses_and_only_briefly() {
        let t = Throttle::new(Policy::default());
        for i in 0..40u8 {
            t.failed(IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, i)), "agent1");
        }
        let wait = t.check(ip("10.1.0.1"), "agent1");
        assert!(
            wait.is_err_and(|w| w <= Duration::from_secs(10)),
            "{wait:?}"
        );
        assert_eq!(t.check(ip("10.2.0.1"), "agent1"), Ok(()));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(0, max), Duration::from_secs(5));
        assert_eq!(backoff(1, max), Duration::from_secs(10));
        assert_eq!(backoff(4, max), max);
        assert_eq!(backoff(u32::MAX, max), max);
    }
}
