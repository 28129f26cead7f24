//! Warnings the request path repeats: during an outage every read that falls back and every
//! write whose copy fails has the same thing to say, thousands of times a second. Each kind is
//! logged once per interval, with how many like it were held back since its last line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of repeated warning is logged at most.
pub(crate) const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Decides which repeated warnings are logged.
#[derive(Debug)]
pub(crate) struct WarningLimiter {
    interval: Duration,
    kinds: Mutex<HashMap<&'static str, Held>>,
}

#[derive(Debug)]
struct Held {
    logged_at: Instant,
    held_back: u64,
}

impl WarningLimiter {
    pub(crate) fn new(interval: Duration) -> WarningLimiter {
        WarningLimiter { interval, kinds: Mutex::new(HashMap::new()) }
    }

    /// `Some(held_back)` when a warning of `kind` is to be logged now, with how many were held
    /// back since the last one; `None` when this one is held back.
    pub(crate) fn admit(&self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut kinds = self.kinds.lock().unwrap_or_else(|poison| poison.into_inner());
        match kinds.get_mut(kind) {
            Some(held) if now.duration_since(held.logged_at) < self.interval => {
                held.held_back += 1;
                None
            }
            Some(held) => {
                let held_back = std::mem::take(&mut held.held_back);
                held.logged_at = now;
                Some(held_back)
            }
            None => {
                kinds.insert(kind, Held { logged_at: now, held_back: 0 });
                Some(0)
            }
        }
    }
}

impl Default for WarningLimiter {
    fn default() -> Self {
        WarningLimiter::new(WARNING_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_kind_with_the_count_held_back() {
        let limiter = WarningLimiter::new(Duration::from_millis(200));
        assert_eq!(limiter.admit("read failed"), Some(0));
        assert_eq!(limiter.admit("read failed"), None);
        assert_eq!(limiter.admit("read failed"), None);
        assert_eq!(limiter.admit("read timed out"), Some(0), "each kind has its own interval");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limiter.admit("read failed"), Some(2));
        assert_eq!(limiter.admit("read failed"), None);
    }
}
