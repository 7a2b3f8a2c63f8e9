//! `lanchat-bench`: opens N real TCP clients against a running server, has
//! S of them send at an aggregate rate R paced by the clock, and has every
//! client read continuously.
//!
//! Each payload carries its *intended* send time, so a stall anywhere (in
//! the generator, the kernel or the server) shows up as latency instead of
//! silently lowering the rate. Latency is measured at every receiver into
//! HDR histograms. Only deliveries to clients other than the sender count,
//! because IRC does not echo a message to its sender and lanchat does.
//!
//! The same workload runs against lanchat (JSON lines) and IRC (for ngircd).

#![forbid(unsafe_code)]

pub mod procfs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::{sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::procfs::ProcessSample;

/// The protocol the generator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// lanchat's JSON lines.
    Lanchat,
    /// IRC, all clients in one channel.
    Irc,
}

/// One benchmark run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server.
    pub server: SocketAddr,
    /// What it speaks.
    pub protocol: Protocol,
    /// Clients connected.
    pub clients: usize,
    /// Of those, how many send (the first `senders`).
    pub senders: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// How long to wait after the last send for deliveries in flight.
    pub drain: Duration,
    /// Payload length in bytes.
    pub text_bytes: usize,
    /// Clients that connect and never read (the last ones).
    pub non_readers: usize,
    /// Only connect and hold the connections (memory per connection).
    pub idle: bool,
    /// Longest connecting every client may take. A server whose joins slow
    /// down as its room grows would otherwise keep a run going for many
    /// minutes (ngircd with 10,000 clients in one channel).
    pub connect_timeout: Duration,
    /// In an idle run, how long to go on holding the connections after
    /// weighing the server, so that a heap profiler can look at it.
    pub hold: Duration,
    /// The server's process id, for CPU and memory from /proc.
    pub server_pid: Option<u32>,
    /// A second server sharing the first's rooms (several lanchat servers
    /// on one Redis): every other client connects there.
    pub also_server: Option<SocketAddr>,
    /// More processes whose CPU the run reports (a second server, Redis).
    pub watch_pids: Vec<u32>,
    /// Print a progress line every second on standard error.
    pub progress: bool,
    /// Nickname prefix, so parallel runs do not collide.
    pub nick_prefix: String,
    /// Speak TLS (any server key is accepted: the run measures cost, not
    /// trust).
    pub tls: bool,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Messages sent during the measured time.
    pub sent: u64,
    /// Deliveries that should have happened (to every reading client but
    /// the sender).
    pub expected: u64,
    /// Deliveries that did happen.
    pub received: u64,
    /// Deliveries per second of measured time.
    pub deliveries_per_sec: f64,
    /// Latency percentiles and maximum, microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Time to connect and join every client.
    pub connect_secs: f64,
    /// How late the generator sent (after the intended time), 99th
    /// percentile over the measured sends, microseconds: large when the
    /// generator itself cannot keep up, which then shows as latency too.
    pub send_lag_p99_us: u64,
    /// Server CPU during the measured time, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server resident memory at the end, KiB.
    pub server_rss_kib: Option<u64>,
    /// CPU of each of `Options::watch_pids` over the measured time, in
    /// percent of one core, in that order.
    pub watched_cpu_pct: Vec<f64>,
    /// Server memory per connection (idle runs), bytes.
    pub rss_per_connection: Option<f64>,
    /// TCP data segments the server sent per delivery, from the start of
    /// sending to the end of the run (warm-up included): its socket
    /// writes, on loopback. `None` without `ss`.
    pub segments_per_delivery: Option<f64>,
}

impl Report {
    /// Deliveries that never arrived.
    pub fn missing(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// The report as JSON, for scripts.
    pub fn to_json(&self, label: &str, protocol: Protocol, options: &Options) -> serde_json::Value {
        serde_json::json!({
            "workload": label,
            "protocol": format!("{protocol:?}").to_lowercase(),
            "tls": options.tls,
            "clients": options.clients,
            "senders": options.senders,
            "rate": options.rate,
            "sent": self.sent,
            "expected": self.expected,
            "received": self.received,
            "missing": self.missing(),
            "deliveries_per_sec": self.deliveries_per_sec,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
            "max_us": self.max_us,
            "connect_secs": self.connect_secs,
            "send_lag_p99_us": self.send_lag_p99_us,
            "server_cpu_pct": self.server_cpu_pct,
            "server_rss_kib": self.server_rss_kib,
            "rss_per_connection": self.rss_per_connection,
            "segments_per_delivery": self.segments_per_delivery,
            "watch_pids": options.watch_pids,
            "watched_cpu_pct": self.watched_cpu_pct,
        })
    }
}

/// One connected client.
/// A client's halves, plain TCP or TLS alike.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

struct Client {
    reader: BufReader<ReadHalf>,
    writer: Arc<Mutex<WriteHalf>>,
}

/// Connects and joins at most this many clients at once, so the server's
/// accept backlog is not the thing being measured. ngircd listens with a
/// backlog of 10: with 200 at once, connections beyond it were dropped by
/// the kernel and retried by TCP after 1, 3, 7, 15 and 31 seconds, so
/// ngircd seemed unable to take more than a few hundred clients.
const CONNECTING_AT_ONCE: usize = 8;
/// Longest a connect and join may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one benchmark.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    if options.senders > options.clients
        || options.non_readers >= options.clients.max(1) && !options.idle
    {
        bail!("need senders <= clients and at least one reading client");
    }
    let baseline = options
        .server_pid
        .and_then(|pid| ProcessSample::read(pid).ok());
    // Every client starts reading the moment it has joined, as a real one
    // does: the join announcements of ten thousand clients are a lot of
    // traffic, and a client that did not read them would be cut off as a
    // slow consumer.
    let epoch = Instant::now();
    let readers_count = options.clients - options.non_readers;
    let shared = Arc::new(ReaderShared {
        epoch,
        warmup_end_ns: AtomicU64::new(u64::MAX),
        stop: CancellationToken::new(),
        progress: AtomicU64::new(0),
        all_deliveries: AtomicU64::new(0),
    });
    let connect_start = Instant::now();
    let (writers, reading, held) = connect_all(options, readers_count, &shared).await?;
    let connect_secs = connect_start.elapsed().as_secs_f64();
    let mut report = Report {
        connect_secs,
        ..Report::default()
    };

    if options.idle {
        // Let the server settle, then weigh it.
        sleep(Duration::from_secs(2)).await;
        if let (Some(pid), Some(before)) = (options.server_pid, baseline) {
            let after = ProcessSample::read(pid)?;
            report.server_rss_kib = Some(after.rss_kib);
            let grown = after.rss_kib.saturating_sub(before.rss_kib) as f64 * 1024.0;
            report.rss_per_connection = Some(grown / options.clients as f64);
        }
        sleep(options.hold).await;
        shared.stop.cancel();
        drop(held);
        return Ok(report);
    }

    // Sampled before sending starts and after it ends, never during: `ss`
    // over ten thousand sockets takes a while on the generator's core.
    let segments_before = procfs::data_segments_sent(options.server.port());
    let started = epoch.elapsed() + START_DELAY;
    let warmup_end = started + options.warmup;
    shared
        .warmup_end_ns
        .store(warmup_end.as_nanos() as u64, Ordering::Relaxed);
    let sample_start = Arc::new(std::sync::Mutex::new(None));
    let watched_start = Arc::new(std::sync::Mutex::new(Vec::new()));
    let pacing = tokio::spawn(send_paced(
        options.clone(),
        writers,
        epoch,
        started,
        Arc::clone(&sample_start),
        Arc::clone(&watched_start),
    ));
    if options.progress {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::select! {
                    () = shared.stop.cancelled() => break,
                    () = sleep(Duration::from_secs(1)) => {
                        let done = shared.progress.load(Ordering::Relaxed);
                        eprint!("\r{:>5.1} s  {done:>12} deliveries ", start.elapsed().as_secs_f64());
                    }
                }
            }
            eprintln!();
        });
    }
    let (sent, lag) = pacing.await.context("the pacing task failed")??;
    report.send_lag_p99_us = lag.value_at_quantile(0.99);
    let end_sample = options
        .server_pid
        .and_then(|pid| ProcessSample::read(pid).ok());
    let watched_end: Vec<Option<ProcessSample>> = options
        .watch_pids
        .iter()
        .map(|pid| ProcessSample::read(*pid).ok())
        .collect();
    sleep(options.drain).await;
    let segments_after = procfs::data_segments_sent(options.server.port());
    shared.stop.cancel();

    let mut latency = latency_histogram()?;
    for reader in reading {
        let (received, histogram) = reader.await.context("a reader failed")?;
        report.received += received;
        latency.add(histogram).context("merging histograms")?;
    }
    drop(held);
    report.sent = sent;
    report.expected = sent * (readers_count as u64 - 1);
    report.deliveries_per_sec = report.received as f64 / options.duration.as_secs_f64();
    report.p50_us = latency.value_at_quantile(0.5);
    report.p99_us = latency.value_at_quantile(0.99);
    report.p999_us = latency.value_at_quantile(0.999);
    report.max_us = latency.max();
    let start_sample = *sample_start
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let (Some(start), Some(end)) = (start_sample, end_sample) {
        let seconds = options.duration.as_secs_f64();
        report.server_cpu_pct = Some(end.cpu_seconds_since(&start) / seconds * 100.0);
        report.server_rss_kib = Some(end.rss_kib);
    }
    let watched_start = watched_start
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    report.watched_cpu_pct = watched_start
        .iter()
        .zip(&watched_end)
        .map(|(start, end)| match (start, end) {
            (Some(start), Some(end)) => {
                end.cpu_seconds_since(start) / options.duration.as_secs_f64() * 100.0
            }
            _ => f64::NAN,
        })
        .collect();
    let all_deliveries = shared.all_deliveries.load(Ordering::Relaxed);
    if let (Some(before), Some(after)) = (segments_before, segments_after)
        && all_deliveries > 0
    {
        report.segments_per_delivery =
            Some(after.saturating_sub(before) as f64 / all_deliveries as f64);
    }
    Ok(report)
}

/// Sending starts this long after the clients are ready.
const START_DELAY: Duration = Duration::from_millis(200);

/// What every reader shares.
struct ReaderShared {
    /// Stamps are nanoseconds since this instant.
    epoch: Instant,
    /// Deliveries sent before this (ns since `epoch`) are warm-up.
    warmup_end_ns: AtomicU64,
    /// Cancelled to end the run.
    stop: CancellationToken,
    /// Deliveries counted so far, for the progress line.
    progress: AtomicU64,
    /// Every delivery of a stamped message to a client other than its
    /// sender, warm-up included.
    all_deliveries: AtomicU64,
}

type Readers = Vec<tokio::task::JoinHandle<(u64, Histogram<u64>)>>;
type Writers = Vec<Arc<Mutex<WriteHalf>>>;

/// Connects every client, starting each reader as soon as its client has
/// joined. Returns the senders' write halves, the readers, and the clients
/// that never read.
async fn connect_all(
    options: &Options,
    readers_count: usize,
    shared: &Arc<ReaderShared>,
) -> anyhow::Result<(Writers, Readers, Vec<Client>)> {
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let joins: Vec<_> = (0..options.clients)
        .map(|index| {
            let gate = Arc::clone(&gate);
            let nick = format!("{}{index}", options.nick_prefix);
            let server = match options.also_server {
                Some(second) if index % 2 == 1 => second,
                _ => options.server,
            };
            let (protocol, idle, tls) = (options.protocol, options.idle, options.tls);
            let shared = Arc::clone(shared);
            let reads = index < readers_count;
            tokio::spawn(async move {
                let client = {
                    let _permit = gate.acquire_owned().await;
                    timeout(JOIN_TIMEOUT, connect(server, protocol, &nick, idle, tls))
                        .await
                        .map_err(|_| {
                            anyhow::anyhow!("client {nick}: no welcome within {JOIN_TIMEOUT:?}")
                        })??
                };
                let writer = Arc::clone(&client.writer);
                if !reads {
                    return Ok::<_, anyhow::Error>((writer, None, Some(client)));
                }
                let reader = tokio::spawn(read_deliveries(
                    client,
                    index,
                    protocol,
                    shared,
                    latency_histogram()?,
                ));
                Ok((writer, Some(reader), None))
            })
        })
        .collect();
    let mut writers = Vec::with_capacity(options.senders);
    let mut readers = Vec::with_capacity(readers_count);
    let mut held = Vec::new();
    let deadline = tokio::time::Instant::now() + options.connect_timeout;
    let total = joins.len();
    for (index, join) in joins.into_iter().enumerate() {
        let Ok(joined) = tokio::time::timeout_at(deadline, join).await else {
            bail!(
                "only {index} of {total} clients had joined after {:?}",
                options.connect_timeout
            );
        };
        let (writer, reader, client) = joined.context("a connecting task failed")??;
        if index < options.senders {
            writers.push(writer);
        }
        readers.extend(reader);
        held.extend(client);
    }
    Ok((writers, readers, held))
}

/// Connects and joins one client. An IRC client joins `#bench` unless the
/// run is `idle`: ngircd's join is linear in the channel's size, and it
/// took more than 500 s to join 10,000 clients to one channel (6,559 were
/// in), so idle IRC clients are only registered. A lanchat client is
/// always in the lobby once it has said hello.
async fn connect(
    server: SocketAddr,
    protocol: Protocol,
    nick: &str,
    idle: bool,
    tls: bool,
) -> anyhow::Result<Client> {
    let stream = TcpStream::connect(server)
        .await
        .with_context(|| format!("connecting {nick}"))?;
    stream.set_nodelay(true)?;
    let (read, mut write) = halves(stream, tls).await?;
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut line = String::new();
    match protocol {
        Protocol::Lanchat => {
            write
                .write_all(format!("{{\"type\":\"hello\",\"nick\":\"{nick}\"}}\n").as_bytes())
                .await?;
            wait_for(
                &mut reader,
                &mut line,
                |l| l.contains("\"history_end\""),
                nick,
            )
            .await?;
        }
        Protocol::Irc => {
            write
                .write_all(format!("NICK {nick}\r\nUSER {nick} 0 * :bench\r\n").as_bytes())
                .await?;
            wait_for(&mut reader, &mut line, |l| l.contains(" 001 "), nick).await?;
            if !idle {
                write.write_all(b"JOIN #bench\r\n").await?;
                wait_for(&mut reader, &mut line, |l| l.contains(" 366 "), nick).await?;
            }
        }
    }
    Ok(Client {
        reader,
        writer: Arc::new(Mutex::new(write)),
    })
}

/// The stream's halves, after a TLS handshake if `tls`.
async fn halves(stream: TcpStream, tls: bool) -> anyhow::Result<(ReadHalf, WriteHalf)> {
    if !tls {
        let (read, write) = stream.into_split();
        return Ok((Box::new(read), Box::new(write)));
    }
    let config = lanchat_shared::tls::client_config(None)?;
    let (stream, _) = lanchat_shared::tls::handshake(stream, config, JOIN_TIMEOUT).await?;
    let (read, write) = tokio::io::split(stream);
    Ok((Box::new(read), Box::new(write)))
}

async fn wait_for(
    reader: &mut BufReader<ReadHalf>,
    line: &mut String,
    done: impl Fn(&str) -> bool,
    nick: &str,
) -> anyhow::Result<()> {
    loop {
        line.clear();
        if reader.read_line(line).await? == 0 {
            bail!("{nick}: the server closed the connection while joining: last line {line:?}");
        }
        if line.contains("\"error\"") || line.starts_with("ERROR") {
            bail!("{nick}: refused: {}", line.trim());
        }
        if done(line) {
            return Ok(());
        }
    }
}

/// Sends `rate` messages a second for warm-up plus duration, round-robin
/// over the senders, each stamped with its intended send time. Returns how
/// many were sent in the measured time, and how late they were sent.
async fn send_paced(
    options: Options,
    writers: Writers,
    epoch: Instant,
    started: Duration,
    sample_start: Arc<std::sync::Mutex<Option<ProcessSample>>>,
    watched_start: Arc<std::sync::Mutex<Vec<Option<ProcessSample>>>>,
) -> anyhow::Result<(u64, Histogram<u64>)> {
    let mut lag = latency_histogram()?;
    let start = epoch + started;
    let warmup_end = start + options.warmup;
    let total = ((options.warmup + options.duration).as_secs_f64() * options.rate) as u64;
    let interval = 1.0 / options.rate;
    let padding = "x".repeat(options.text_bytes.saturating_sub(24));
    let mut measured = 0;
    let mut sampled = false;
    for k in 0..total {
        let intended = start + Duration::from_secs_f64(k as f64 * interval);
        wait_until(intended).await;
        if !sampled && intended >= warmup_end {
            sampled = true;
            if let Some(pid) = options.server_pid {
                *sample_start
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    ProcessSample::read(pid).ok();
            }
            *watched_start
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = options
                .watch_pids
                .iter()
                .map(|pid| ProcessSample::read(*pid).ok())
                .collect();
        }
        let sender = (k as usize) % writers.len().max(1);
        let stamp = (intended - epoch).as_nanos();
        let text = format!("t={stamp} s={sender} {padding}");
        let line = match options.protocol {
            Protocol::Lanchat => format!("{{\"type\":\"say\",\"text\":\"{text}\"}}\n"),
            Protocol::Irc => format!("PRIVMSG #bench :{text}\r\n"),
        };
        let Some(writer) = writers.get(sender) else {
            break;
        };
        writer
            .lock()
            .await
            .write_all(line.as_bytes())
            .await
            .context("sending")?;
        if intended >= warmup_end {
            measured += 1;
            let late = intended.elapsed().as_micros();
            let _ = lag.record(u64::try_from(late).unwrap_or(u64::MAX).max(1));
        }
    }
    Ok((measured, lag))
}

/// Waits until `instant` precisely: tokio's timer has millisecond
/// granularity, which would add up to a millisecond to every measured
/// latency, so the last millisecond is spent yielding (readers on this
/// thread keep running; the generator has a core of its own).
async fn wait_until(instant: Instant) {
    let coarse = instant
        .checked_sub(Duration::from_millis(1))
        .unwrap_or(instant);
    if coarse > Instant::now() {
        sleep_until(coarse.into()).await;
    }
    while Instant::now() < instant {
        tokio::task::yield_now().await;
    }
}

/// Bytes a reader asks the socket for at least, per read.
const READ_AT_LEAST: usize = 16 * 1024;

/// Reads until stopped; returns (deliveries counted, their latencies).
///
/// This loop is most of the generator's work at W2 (1.5 million deliveries
/// a second on one core), so it parses lines where they were read instead
/// of copying each out, finds the stamp with `memchr`, and reads the clock
/// and the shared counters once per read rather than once per line: every
/// line of one read arrived by the moment that read returned.
async fn read_deliveries(
    client: Client,
    index: usize,
    protocol: Protocol,
    shared: Arc<ReaderShared>,
    mut histogram: Histogram<u64>,
) -> (u64, Histogram<u64>) {
    let Client { reader, writer } = client;
    // Whatever the join left buffered is read first.
    let mut buffer = Vec::with_capacity(READ_AT_LEAST * 4);
    buffer.extend_from_slice(reader.buffer());
    let mut socket = reader.into_inner();
    let stop = shared.stop.cancelled();
    tokio::pin!(stop);
    let mut received = 0;
    loop {
        let now_ns = shared.epoch.elapsed().as_nanos() as u64;
        let warmup_end_ns = shared.warmup_end_ns.load(Ordering::Relaxed);
        let (mut counted, mut all) = (0, 0);
        let mut consumed = 0;
        for end in memchr::memchr_iter(b'\n', &buffer) {
            let line = &buffer[consumed..=end];
            consumed = end + 1;
            if protocol == Protocol::Irc && line.starts_with(b"PING") {
                let pong = [b"PONG".as_slice(), &line[4..]].concat();
                let _ = writer.lock().await.write_all(&pong).await;
                continue;
            }
            let Some((sent_ns, sender)) = parse_stamp(line) else {
                continue;
            };
            // Deliveries to the sender itself (lanchat's echo) do not count.
            if sender == index {
                continue;
            }
            all += 1;
            if sent_ns < warmup_end_ns {
                continue;
            }
            let _ = histogram.record((now_ns.saturating_sub(sent_ns) / 1000).max(1));
            counted += 1;
        }
        buffer.drain(..consumed);
        received += counted;
        shared.all_deliveries.fetch_add(all, Ordering::Relaxed);
        shared.progress.fetch_add(counted, Ordering::Relaxed);
        buffer.reserve(READ_AT_LEAST);
        let read = tokio::select! {
            biased;
            () = &mut stop => break,
            read = socket.read_buf(&mut buffer) => read,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    (received, histogram)
}

/// Latencies from 1 µs to 60 s with three significant digits.
fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).context("creating a latency histogram")
}

/// Finds `t=<ns> s=<sender>` in a delivered line.
pub fn parse_stamp(line: &[u8]) -> Option<(u64, usize)> {
    // '=' is rare in a line, so looking for it first is quicker than
    // looking for the pair (and `memmem::find` builds a searcher per call).
    let at = memchr::memchr_iter(b'=', line).find(|&at| at > 0 && line[at - 1] == b't')?;
    let rest = &line[at + 1..];
    let (sent, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(b" s=")?;
    let (sender, _) = leading_number(rest)?;
    Some((sent, usize::try_from(sender).ok()?))
}

fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let number = bytes[..digits].iter().try_fold(0u64, |number, digit| {
        number.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    Some((number, &bytes[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_in_both_protocols() {
        let json = br#"{"type":"message","id":3,"ts":1,"from":"b2","text":"t=123456 s=2 xxxx","room":"lobby"}"#;
        assert_eq!(parse_stamp(json), Some((123_456, 2)));
        let irc = b":b2!~b2@localhost PRIVMSG #bench :t=99 s=0 xx\r\n";
        assert_eq!(parse_stamp(irc), Some((99, 0)));
        assert_eq!(parse_stamp(b":server 001 b1 :Welcome"), None);
    }
}
