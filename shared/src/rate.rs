//! Flood control both sides agree on: a token bucket and the server's
//! default rate. The server refuses lines beyond the rate with
//! `rate_limited`; the client paces its own sending with the same bucket
//! and the same numbers, so a default server never has to refuse it.

use std::time::{Duration, Instant};

/// How fast a client may send: `burst` lines back to back, then
/// `per_sec` lines a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Lines per second once the burst is spent.
    pub per_sec: f64,
    /// Lines that may be sent back to back.
    pub burst: u32,
}

/// The server's default: enough for a person typing and pasting a few
/// lines, far too little for a flood.
pub const DEFAULT_RATE: Rate = Rate {
    per_sec: 2.0,
    burst: 5,
};

/// A token bucket holding at most `burst` tokens, refilled at `per_sec`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> TokenBucket {
        let capacity = f64::from(rate.burst.max(1));
        TokenBucket {
            capacity,
            per_sec: rate.per_sec.max(0.0),
            tokens: capacity,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one; false means "not now".
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there (now, if one is); `None` if the
    /// bucket never refills.
    pub fn next_token_at(&self, now: Instant) -> Option<Instant> {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let tokens = self.tokens + elapsed.as_secs_f64() * self.per_sec;
        if tokens >= 1.0 {
            return Some(now);
        }
        if self.per_sec <= 0.0 {
            return None;
        }
        let wait = Duration::try_from_secs_f64((1.0 - tokens) / self.per_sec).ok()?;
        now.checked_add(wait)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_sec).min(self.capacity);
        self.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(DEFAULT_RATE, start);
        assert_eq!((0..5).filter(|_| bucket.try_take(start)).count(), 5);
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_millis(500)));
        assert!(!bucket.try_take(start + Duration::from_millis(500)));
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| bucket.try_take(later)).count(), 5);
    }

    #[test]
    fn the_next_token_is_due_when_the_rate_has_made_one() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(DEFAULT_RATE, start);
        assert_eq!(bucket.next_token_at(start), Some(start));
        while bucket.try_take(start) {}
        let due = bucket.next_token_at(start).unwrap();
        let wait = due - start;
        assert!(
            wait > Duration::from_millis(499) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(bucket.try_take(due));
        let stopped = TokenBucket::new(
            Rate {
                per_sec: 0.0,
                burst: 1,
            },
            start,
        );
        let mut stopped = stopped;
        assert!(stopped.try_take(start));
        assert_eq!(stopped.next_token_at(start), None);
    }
}
