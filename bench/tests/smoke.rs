//! The benchmark, tiny, against a real in-process server: a smoke test that
//! it runs and counts correctly. No timing is asserted.

use std::time::Duration;

use lanchat_bench::{Options, Protocol, run};
use lanchat_tests::redis::RedisServer;
use lanchat_tests::{TestServer, relaxed_config, sharing};

#[tokio::test]
async fn a_tiny_run_delivers_every_message_to_every_other_client_over_tcp_and_tls() {
    let server = TestServer::with_config(relaxed_config()).await;
    for tls in [false, true] {
        tiny_run(&server, tls).await;
    }
}

#[tokio::test]
async fn a_run_across_two_servers_sharing_redis_counts_every_delivery() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let first = TestServer::with_config(sharing(&redis)).await;
    let second = TestServer::with_config(sharing(&redis)).await;
    let options = Options {
        also_server: Some(second.addr()),
        watch_pids: vec![std::process::id()],
        ..tiny_options(&first, false)
    };
    let report = run(&options).await.expect("the run completes");
    assert_eq!(report.sent, 50);
    // Half the clients are on each server; each hears every other's.
    assert_eq!(report.received, 50 * 3, "nothing missing across servers");
    assert_eq!(report.watched_cpu_pct.len(), 1);
}

fn tiny_options(server: &TestServer, tls: bool) -> Options {
    Options {
        server: server.addr(),
        protocol: Protocol::Lanchat,
        clients: 4,
        senders: 2,
        rate: 50.0,
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(200),
        drain: Duration::from_millis(500),
        text_bytes: 100,
        non_readers: 0,
        idle: false,
        hold: Duration::ZERO,
        connect_timeout: Duration::from_secs(30),
        server_pid: Some(std::process::id()),
        progress: false,
        nick_prefix: if tls { "tls".into() } else { "tcp".into() },
        tls,
        also_server: None,
        watch_pids: Vec::new(),
    }
}

async fn tiny_run(server: &TestServer, tls: bool) {
    let options = tiny_options(server, tls);
    let report = run(&options).await.expect("the run completes");
    assert_eq!(report.sent, 50, "one second at 50 msg/s");
    assert_eq!(report.expected, 50 * 3, "each to the three other clients");
    assert_eq!(report.received, report.expected, "nothing missing");
    assert!(report.p50_us > 0 && report.max_us >= report.p99_us);
    assert!(report.server_rss_kib.is_some());
}
