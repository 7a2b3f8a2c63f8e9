//! Per-connection flood control: a token bucket for every line and a window
//! of recent bad lines.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` lines back to back, then `per_sec` lines a second.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub(crate) fn new(per_sec: f64, burst: u32, now: Instant) -> TokenBucket {
        let capacity = f64::from(burst.max(1));
        TokenBucket {
            capacity,
            per_sec: per_sec.max(0.0),
            tokens: capacity,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one; false means the line is refused.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts bad lines in a sliding window; holds at most `max` instants.
#[derive(Debug)]
pub(crate) struct BadLineWindow {
    max: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl BadLineWindow {
    pub(crate) fn new(max: usize, window: Duration) -> BadLineWindow {
        BadLineWindow {
            max: max.max(1),
            window,
            recent: VecDeque::new(),
        }
    }

    /// Records one bad line; true when that makes `max` within the window.
    pub(crate) fn record(&mut self, now: Instant) -> bool {
        while let Some(oldest) = self.recent.front() {
            if now.saturating_duration_since(*oldest) < self.window {
                break;
            }
            self.recent.pop_front();
        }
        if self.recent.len() == self.max {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() >= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 5, start);
        assert_eq!((0..5).filter(|_| bucket.try_take(start)).count(), 5);
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_millis(500)));
        assert!(!bucket.try_take(start + Duration::from_millis(500)));
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| bucket.try_take(later)).count(), 5);
    }

    #[test]
    fn bad_lines_trip_only_within_the_window() {
        let start = Instant::now();
        let mut window = BadLineWindow::new(3, Duration::from_secs(60));
        assert!(!window.record(start));
        assert!(!window.record(start + Duration::from_secs(1)));
        assert!(!window.record(start + Duration::from_secs(61)));
        assert!(!window.record(start + Duration::from_secs(62)));
        assert!(window.record(start + Duration::from_secs(63)));
    }
}
