//! `lanchat-bench`: flags in, a report out. The work is in the library.

use std::time::Duration;

use clap::Parser;
use lanchat_bench::{Options, Protocol, run};

/// Load generator for lanchat (and IRC, for comparison).
#[derive(Debug, Parser)]
#[command(name = "lanchat-bench", about)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7878")]
    server: std::net::SocketAddr,
    /// Protocol to speak.
    #[arg(long, value_enum, default_value_t = Protocol::Lanchat)]
    protocol: Protocol,
    /// Clients to connect.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many of them send.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds, not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds to wait for deliveries in flight after the last send.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 100)]
    text_bytes: usize,
    /// Clients that never read (taken from the end).
    #[arg(long, default_value_t = 0)]
    non_readers: usize,
    /// Only connect and hold the connections, to weigh them.
    #[arg(long)]
    idle: bool,
    /// Seconds that connecting every client may take.
    #[arg(long, default_value_t = 300.0)]
    connect_timeout: f64,
    /// Idle runs: seconds to keep the connections open after weighing.
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// The server's pid, for CPU and memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A second server sharing the first's rooms (lanchat servers on one
    /// Redis): every other client connects there.
    #[arg(long)]
    also_server: Option<std::net::SocketAddr>,
    /// Another process to report the CPU of (a second server, Redis);
    /// repeatable.
    #[arg(long = "watch-pid")]
    watch_pids: Vec<u32>,
    /// A name for this run in the report.
    #[arg(long, default_value = "run")]
    label: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Nickname prefix.
    #[arg(long, default_value = "b")]
    nick_prefix: String,
    /// Speak TLS to the server (lanchat's port, or ngircd's SSL port).
    #[arg(long)]
    tls: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = Options {
        server: args.server,
        protocol: args.protocol,
        clients: args.clients,
        senders: args.senders,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        drain: Duration::from_secs_f64(args.drain),
        text_bytes: args.text_bytes,
        non_readers: args.non_readers,
        idle: args.idle,
        hold: Duration::from_secs_f64(args.hold),
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        server_pid: args.server_pid,
        also_server: args.also_server,
        watch_pids: args.watch_pids.clone(),
        progress: !args.json,
        nick_prefix: args.nick_prefix,
        tls: args.tls,
    };
    let report = run(&options).await?;
    if args.json {
        println!("{}", report.to_json(&args.label, args.protocol, &options));
        return Ok(());
    }
    let optional = |value: Option<f64>, unit: &str| {
        value.map_or("n/a".to_owned(), |v| format!("{v:.1}{unit}"))
    };
    println!(
        "{} against {} ({:?}): {} clients, {} senders, {} msg/s",
        args.label, args.server, args.protocol, args.clients, args.senders, args.rate
    );
    let rss = report
        .server_rss_kib
        .map_or("n/a".to_owned(), |v| format!("{v} KiB"));
    println!("  connect time           {:.2} s", report.connect_secs);
    if args.idle {
        println!("  server RSS             {rss}");
        println!(
            "  RSS per connection     {}",
            optional(report.rss_per_connection, " bytes")
        );
        return Ok(());
    }
    println!("  sent (measured)        {}", report.sent);
    println!("  deliveries expected    {}", report.expected);
    println!(
        "  deliveries received    {}  (missing {})",
        report.received,
        report.missing()
    );
    println!("  deliveries/s           {:.0}", report.deliveries_per_sec);
    println!(
        "  latency p50/p99/p99.9  {} / {} / {} µs (max {} µs)",
        report.p50_us, report.p99_us, report.p999_us, report.max_us
    );
    println!("  send lag p99           {} µs", report.send_lag_p99_us);
    println!(
        "  server CPU             {}",
        optional(report.server_cpu_pct, " %")
    );
    println!("  server RSS             {rss}");
    for (pid, cpu) in args.watch_pids.iter().zip(&report.watched_cpu_pct) {
        println!("  CPU of pid {pid:<10}  {cpu:.1} %");
    }
    println!(
        "  segments per delivery  {}",
        report
            .segments_per_delivery
            .map_or("n/a".to_owned(), |v| format!("{v:.4}"))
    );
    Ok(())
}
