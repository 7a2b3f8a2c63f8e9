//! What the server process costs, read from /proc (Linux), and how many
//! TCP segments it sent, from `ss` (iproute2).

use std::process::Command;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug)]
pub struct ProcessSample {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Clock ticks per second.
    pub ticks_per_sec: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
}

impl ProcessSample {
    /// Reads the counters of process `pid`.
    pub fn read(pid: u32) -> anyhow::Result<ProcessSample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| {
            fields
                .get(n)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        let cpu_ticks = field(11) + field(12);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(ProcessSample {
            cpu_ticks,
            ticks_per_sec: clock_ticks(),
            rss_kib,
        })
    }

    /// CPU seconds used between `earlier` and this sample.
    pub fn cpu_seconds_since(&self, earlier: &ProcessSample) -> f64 {
        self.cpu_ticks.saturating_sub(earlier.cpu_ticks) as f64 / self.ticks_per_sec.max(1) as f64
    }
}

/// `getconf CLK_TCK`, or the usual 100; asked once.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(ask_clock_ticks)
}

fn ask_clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// TCP segments carrying data sent so far by the server's established
/// connections on `port` (`data_segs_out` in `ss -ti`), or `None` without
/// `ss`. On loopback a write up to the MSS (32 KiB or more) leaves as one
/// segment, so this counts the server's socket writes, whatever system
/// call made them: /proc's `syscw` misses `send(2)`, which Rust's standard
/// library (and so tokio) uses for sockets.
pub fn data_segments_sent(port: u16) -> Option<u64> {
    let filter = format!("( sport = :{port} )");
    let output = Command::new("ss")
        .args(["-tinH", "state", "established", &filter])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    Some(sum_data_segments(&String::from_utf8_lossy(&output.stdout)))
}

/// Adds up every `data_segs_out:N` in `ss -ti` output.
fn sum_data_segments(ss_output: &str) -> u64 {
    ss_output
        .split_whitespace()
        .filter_map(|field| field.strip_prefix("data_segs_out:"))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_segments_are_summed_over_sockets() {
        let output = "0 0 127.0.0.1:7979 127.0.0.1:39220\n\t bbr mss:32768 bytes_sent:500 segs_out:9 segs_in:7 data_segs_out:5 lastsnd:20\n\
                      0 0 127.0.0.1:7979 127.0.0.1:39222\n\t cubic segs_out:4 data_segs_out:3 data_segs_in:2\n";
        assert_eq!(sum_data_segments(output), 8);
        assert_eq!(sum_data_segments(""), 0);
    }
}
