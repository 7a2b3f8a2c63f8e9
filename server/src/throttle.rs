//! A window of recent bad lines, after too many of which a connection is
//! closed. (The token bucket for every line is `lanchat_shared::rate`'s,
//! which the client paces itself with.)

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

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
