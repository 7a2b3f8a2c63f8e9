//! What the server process costs, read from /proc (Linux).

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
    /// Write system calls so far (`syscw` in /proc/PID/io), if readable.
    pub write_syscalls: Option<u64>,
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
        let write_syscalls = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find(|l| l.starts_with("syscw:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            });
        Ok(ProcessSample {
            cpu_ticks,
            ticks_per_sec: clock_ticks(),
            rss_kib,
            write_syscalls,
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
