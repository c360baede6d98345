//! Login throttling: at most N failed logins per account and client address per window.
//!
//! A small in-memory table rather than the `governor` crate: governor meters every request (a
//! GCRA cell per call), while this limit counts only *failures*, forgets them on success, and
//! must report when the lock ends (`Retry-After`). That is a fixed window per key, about fifty
//! lines, with an injectable clock for tests. The table is per server node: behind a load
//! balancer with K nodes an attacker gets at most K x N tries per window, which is still slow
//! against argon2id; a shared table in the database is the step up if that matters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed-login counters keyed by (account, client address).
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    table: Mutex<HashMap<(String, IpAddr), Window>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while the key is locked out.
    pub fn check(&self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let table = self.table.lock().expect("limiter lock");
        match table.get(&(account.to_owned(), ip)) {
            Some(w) if w.failures >= self.max_failures => {
                let ends = w.started + self.window;
                if ends > now { Err(ends - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    /// Count a failed attempt.
    pub fn failed(&self, account: &str, ip: IpAddr, now: Instant) {
        let mut table = self.table.lock().expect("limiter lock");
        if table.len() >= SWEEP_AT {
            let window = self.window;
            table.retain(|_, w| w.started + window > now);
        }
        let w = table.entry((account.to_owned(), ip)).or_insert(Window {
            started: now,
            failures: 0,
        });
        if w.started + self.window <= now {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures += 1;
    }

    /// A successful login clears the key.
    pub fn succeeded(&self, account: &str, ip: IpAddr) {
        self.table
            .lock()
            .expect("limiter lock")
            .remove(&(account.to_owned(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_n_failures_until_the_window_ends() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a@x", ip, t0).is_ok());
            limiter.failed("a@x", ip, t0);
        }
        let wait = limiter
            .check("a@x", ip, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Other accounts and other addresses are not affected.
        assert!(limiter.check("b@x", ip, t0).is_ok());
        assert!(limiter.check("a@x", other, t0).is_ok());
        // The window ends.
        assert!(
            limiter
                .check("a@x", ip, t0 + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn success_clears_the_count() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        let ip: IpAddr = "::1".parse().unwrap();
        let t0 = Instant::now();
        limiter.failed("a@x", ip, t0);
        limiter.succeeded("a@x", ip);
        limiter.failed("a@x", ip, t0);
        assert!(limiter.check("a@x", ip, t0).is_ok());
    }
}
