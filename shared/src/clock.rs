//! How a message's server timestamp is shown to people, the same way in
//! the server's plain-text lines and in the client.

use chrono::{Local, TimeZone};

/// `HH:MM` in the local time zone for a Unix-millisecond timestamp, or
/// `--:--` for one no calendar can show.
pub fn clock_time(unix_millis: u64) -> String {
    i64::try_from(unix_millis)
        .ok()
        .and_then(|ms| Local.timestamp_millis_opt(ms).single())
        .map_or_else(|| "--:--".to_owned(), |t| t.format("%H:%M").to_string())
}

/// A Unix-millisecond timestamp in UTC as IRCv3's `server-time` writes it,
/// `2026-12-01T18:04:05.123Z`; the epoch for one no calendar can show.
pub fn utc_time(unix_millis: u64) -> String {
    let time = i64::try_from(unix_millis)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default();
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_is_what_server_time_asks_for() {
        assert_eq!(utc_time(1_764_612_245_123), "2025-12-01T18:04:05.123Z");
        assert_eq!(utc_time(u64::MAX), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_timestamp_is_hours_and_minutes_and_nonsense_is_dashes() {
        let shown = clock_time(1_700_000_000_000);
        assert_eq!(shown.len(), 5);
        assert_eq!(&shown[2..3], ":");
        assert_eq!(clock_time(u64::MAX), "--:--");
    }
}
