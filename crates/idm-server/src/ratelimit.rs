//! Token buckets keyed by source address or account name, in memory.
//!
//! A limit that resets when the server restarts is acceptable here: the durable defence against
//! guessing is the per-account lockout kept in the store; these buckets only keep one client
//! from monopolising the argon2 workers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter<K> {
    burst: f64,
    refill_per_sec: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

/// Entries kept before idle full buckets are dropped.
const SWEEP_AT: usize = 100_000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(burst: u32, refill_secs: f64) -> Self {
        RateLimiter {
            burst: f64::from(burst),
            refill_per_sec: if refill_secs > 0.0 {
                1.0 / refill_secs
            } else {
                f64::INFINITY
            },
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has a token left, without taking it: attempts are checked with this
    /// before any work, and only failures take a token ([`RateLimiter::check`]).
    pub fn allows(&self, key: &K, now: Instant) -> bool {
        let Ok(map) = self.buckets.lock() else {
            return false;
        };
        match map.get(key) {
            None => true,
            Some((tokens, at)) => {
                tokens + now.saturating_duration_since(*at).as_secs_f64() * self.refill_per_sec
                    >= 1.0
            }
        }
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub fn check(&self, key: &K, now: Instant) -> bool {
        let Ok(mut map) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; failing open here would drop the limit,
            // failing closed would lock everyone out. Refuse: it is the safe side.
            return false;
        };
        if map.len() > SWEEP_AT {
            let (burst, rate) = (self.burst, self.refill_per_sec);
            map.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = map.entry(key.clone()).or_insert((self.burst, now));
        let refilled = (*tokens
            + now.saturating_duration_since(*at).as_secs_f64() * self.refill_per_sec)
            .min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let r = RateLimiter::new(3, 1.0);
        let t = Instant::now();
        assert!(r.check(&"a", t));
        assert!(r.check(&"a", t));
        assert!(r.check(&"a", t));
        assert!(!r.check(&"a", t));
        assert!(r.check(&"b", t));
        assert!(r.check(&"a", t + Duration::from_millis(1100)));
        assert!(!r.check(&"a", t + Duration::from_millis(1200)));
    }

    #[test]
    fn allows_peeks_without_taking() {
        let r = RateLimiter::new(2, 10.0);
        let t = Instant::now();
        for _ in 0..5 {
            assert!(r.allows(&"a", t));
        }
        assert!(r.check(&"a", t));
        assert!(r.allows(&"a", t));
        assert!(r.check(&"a", t));
        assert!(!r.allows(&"a", t));
        assert!(r.allows(&"b", t));
        assert!(r.allows(&"a", t + Duration::from_secs(11)));
    }
}
