//! Client certificates a TLS handshake cannot accept: a chain far larger
//! than any real one, and keys that rustls (with the ring provider) cannot
//! verify. Each ends that handshake clearly and promptly, admits nobody
//! under a key the server could not check, and leaves everyone else
//! chatting.

#![allow(clippy::panic)] // A test fails by panicking.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use lanchat_server::Config;
use lanchat_shared::keyfile::{self, KeyFile};
use lanchat_shared::tls::{TlsError, client_config, handshake};
use lanchat_shared::{ClientMsg, ErrorCode, ServerMsg};
use lanchat_tests::{TIMEOUT, TestClient, TestServer, read_until, relaxed_config};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::process::Child;
use tokio::task::JoinHandle;

/// A handshake deadline far beyond [`TIMEOUT`]: a refusal that arrives
/// within a test's time-out was the server's decision, not its deadline.
const DISTANT_DEADLINE: Duration = Duration::from_secs(60);

/// The largest handshake message rustls takes (its `MAX_HANDSHAKE_SIZE`,
/// 64 KiB less a byte): it refuses a longer one as soon as the message's
/// header announces the length, and buffers at most this much while
/// joining one from records.
const RUSTLS_HANDSHAKE_MESSAGE_LIMIT: usize = 0xffff;

/// The size of the hostile chain: real chains are a few KiB, and TLS
/// allows a handshake message of up to 16 MiB.
const HUGE_CHAIN: usize = 4 << 20;

/// Most bytes of the hostile chain the server may take in before it says
/// no: rustls's limit, plus what the kernel buffers on the way (the
/// server's receive buffer, and the relay's send buffer, see
/// [`CountingRelay`]). A server that read the chain whole would take in
/// all of [`HUGE_CHAIN`].
const MOST_READ_BEFORE_REFUSING: u64 = 1 << 20;

/// The send buffer of the relay's socket towards the server, set so that
/// the kernel cannot grow it.
const RELAY_SEND_BUFFER: u32 = 32 * 1024;

#[tokio::test]
async fn a_huge_client_certificate_chain_is_refused_after_a_bounded_read_and_disturbs_nobody() {
    let config = Config {
        tls_handshake_timeout: DISTANT_DEADLINE,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    let mut carol = server
        .join_with_key("carol", &keyfile::ephemeral().unwrap())
        .await;
    for client in [&mut alice, &mut bob] {
        assert!(matches!(client.recv().await, ServerMsg::Join { nick, .. } if nick == "carol"));
    }

    // What the server holds for a handshake cannot be seen from outside,
    // but what it reads can: it cannot hold more of the chain than it took
    // in. (The server runs in this process, beside the client that makes
    // the chain, so the process's memory would say nothing.)
    let relay = CountingRelay::start(server.addr()).await;
    let ending = refusal_of(relay.addr, &presenting_chain_of(HUGE_CHAIN)).await;
    let read = relay.forwarded().await;
    assert!(
        read < MOST_READ_BEFORE_REFUSING,
        "the server took in {read} bytes of a {HUGE_CHAIN}-byte chain before refusing it \
         ({ending:?})"
    );

    alice.say("after the huge chain").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(client.recv_chat().await.2, "after the huge chain");
        client.expect_alive().await;
    }
}

#[tokio::test]
async fn a_chain_just_over_rustls_limit_ends_in_a_clear_close_not_a_corrupt_record() {
    let config = Config {
        tls_handshake_timeout: DISTANT_DEADLINE,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let mut alice = server.join("alice").await;
    // Small enough for the kernel to take all of it, so the client has
    // sent its whole certificate and reads the server's answer: what it
    // reads must be TLS (an alert) or the end of the connection, which
    // lanchat's client reports as such, and not bytes its TLS cannot parse.
    let over_the_limit = presenting_chain_of(RUSTLS_HANDSHAKE_MESSAGE_LIMIT + 8 * 1024);
    refusal_of(server.addr(), &over_the_limit).await;
    alice.expect_alive().await;
}

#[tokio::test]
async fn a_certificate_whose_key_rustls_cannot_verify_is_refused_with_an_alert() {
    let config = Config {
        tls_handshake_timeout: DISTANT_DEADLINE,
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    let (mut alice, mut bob) = server.join_two("alice", "bob").await;
    let (guest, _) = TestClient::connect_tls_raw(server.addr(), None).await;
    let mut carol = guest.joined("carol").await;
    for client in [&mut alice, &mut bob] {
        assert!(matches!(client.recv().await, ServerMsg::Join { nick, .. } if nick == "carol"));
    }

    // openssl signs with these keys by schemes the server offers (ECDSA
    // P-256, RSA-PSS), so it sends the certificates; ring cannot use the
    // keys to check the signature: webpki reads only named curves, and
    // ring takes RSA keys of 2048 to 8192 bits. (openssl itself refuses a
    // 1024-bit key at its default security level.)
    let dir = tempfile::tempdir().unwrap();
    let unverifiable: [(&str, &[&str], &[&str]); 2] = [
        (
            "explicit-curve",
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-pkeyopt",
                "ec_param_enc:explicit",
            ],
            &[],
        ),
        (
            "rsa1024",
            &["-newkey", "rsa:1024"],
            &["-cipher", "DEFAULT@SECLEVEL=0"],
        ),
    ];
    for (name, key_options, client_options) in unverifiable {
        let identity = openssl_identity(dir.path(), name, key_options);
        let mut openssl = s_client(server.addr(), &identity, client_options);
        // Its input stays open: openssl must stop because the server ended
        // the handshake, not because it had nothing more to send.
        let _input = openssl.stdin.take();
        let output = tokio::time::timeout(TIMEOUT, openssl.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{name}: not refused within {TIMEOUT:?}"))
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // rustls answers a CertificateVerify it cannot check with
        // decrypt_error, whatever the reason.
        assert!(said.contains("alert decrypt error"), "{name}: {said}");
        assert!(!said.contains(r#""type":"greeting""#), "{name}: {said}");
    }

    carol.say("after the unverifiable keys").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(client.recv_chat().await.2, "after the unverifiable keys");
        client.expect_alive().await;
    }
}

/// Keys of types the server offers no signature scheme for: ECDSA P-521,
/// Ed448, brainpool (ring verifies none of them).
const KEYS_WITHOUT_A_SCHEME: [(&str, &[&str]); 3] = [
    (
        "p521",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp521r1"],
    ),
    ("ed448", &["-newkey", "ed448"]),
    (
        "brainpool",
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:brainpoolP256r1",
        ],
    ),
];

/// A key of a type the server offers a scheme for (and ring verifies).
const P256: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

#[tokio::test]
async fn a_key_the_server_offers_no_scheme_for_is_withheld_and_its_client_is_a_guest() {
    let server = TestServer::start().await;
    let mut alice = server.join("alice").await;
    let dir = tempfile::tempdir().unwrap();
    // The server's CertificateRequest lists the schemes it can verify; a
    // client whose key fits none sends no certificate (RFC 8446, 4.4.2),
    // so the server never sees the key and serves a guest, as it serves
    // any client without a certificate. The P-256 key, which fits, shows
    // that openssl does present a certificate when it can.
    let control = ("p256", &P256[..]);
    for (name, key_options) in KEYS_WITHOUT_A_SCHEME.into_iter().chain([control]) {
        let identity = openssl_identity(dir.path(), name, key_options);
        let expected = (name == "p256").then(|| fingerprint_of(&identity));
        let mut openssl = s_client(server.addr(), &identity, &["-quiet"]);
        let mut input = openssl.stdin.take().expect("piped stdin");
        let mut lines = BufReader::new(openssl.stdout.take().expect("piped stdout")).lines();
        read_until(&mut lines, r#""type":"greeting""#).await;
        input
            .write_all(format!("{name}\n").as_bytes())
            .await
            .unwrap();
        read_until(&mut lines, &format!("Welcome, {name}!")).await;
        assert!(matches!(alice.recv().await, ServerMsg::Join { nick, .. } if nick == name));
        alice
            .send(&ClientMsg::Whois {
                nick: name.to_owned(),
            })
            .await;
        match alice.recv().await {
            ServerMsg::Whois {
                identity,
                encrypted,
                ..
            } => {
                assert!(encrypted, "{name}");
                assert_eq!(identity, expected, "{name}");
            }
            other => panic!("{name}: expected whois, got {other:?}"),
        }
        drop(openssl);
        alice.expect_leave(name).await;
    }
}

#[tokio::test]
async fn a_listed_key_the_server_offers_no_scheme_for_is_not_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let (name, key_options) = KEYS_WITHOUT_A_SCHEME[0];
    let withheld = openssl_identity(dir.path(), name, key_options);
    let p256 = openssl_identity(dir.path(), "p256", &P256);
    let allow = dir.path().join("allow");
    let listed = format!(
        "{} {name}\n{} p256\n",
        fingerprint_of(&withheld),
        fingerprint_of(&p256)
    );
    std::fs::write(&allow, listed).unwrap();
    let config = Config {
        allow_file: Some(allow),
        ..relaxed_config()
    };
    let server = TestServer::with_config(config).await;
    // The client withholds the key (see above), so even on the list it
    // comes as a guest, and a guest is told why it is turned away before
    // anything else; the listed P-256 key is admitted.
    for (identity, first) in [
        (withheld, ErrorCode::NotAllowed.as_str()),
        (p256, "greeting"),
    ] {
        let mut openssl = s_client(server.addr(), &identity, &["-quiet"]);
        let _input = openssl.stdin.take();
        let mut lines = BufReader::new(openssl.stdout.take().expect("piped stdout")).lines();
        let line = tokio::time::timeout(TIMEOUT, lines.next_line())
            .await
            .expect("a line within the time-out")
            .expect("readable output")
            .expect("a line before the end");
        assert!(line.contains(first), "{line}");
    }
}

/// A key file whose chain is its own certificate repeated until the chain
/// is `size` bytes: thousands of certificates in one Certificate message.
fn presenting_chain_of(size: usize) -> KeyFile {
    let identity = keyfile::ephemeral().expect("a new key");
    let copies = size.div_ceil(identity.chain[0].len());
    KeyFile {
        chain: vec![identity.chain[0].clone(); copies],
        ..identity
    }
}

/// How a server ended a TLS connection, as the client saw it.
#[derive(Debug)]
enum Ending {
    /// With a TLS alert.
    Alert,
    /// By closing (or resetting) the connection without one.
    Closed,
}

impl Ending {
    /// How the connection ended, from the error the client read; panics if
    /// it was neither an alert nor a close but bytes the client's TLS could
    /// not make sense of, which a person would be told as a broken server.
    fn of(error: &io::Error) -> Ending {
        match error.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Ending::Closed,
            _ if error.to_string().contains("received fatal alert") => Ending::Alert,
            _ => panic!("neither an alert nor a close: {error}"),
        }
    }
}

/// Runs a TLS handshake presenting `identity` and reads what follows;
/// returns how the server ended the connection. Panics if the server
/// served it instead (sent any line), ended it unclearly (see
/// [`Ending::of`]), or took longer than [`TIMEOUT`].
async fn refusal_of(addr: SocketAddr, identity: &KeyFile) -> Ending {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let config = client_config(Some(identity)).expect("rustls sends any chain");
    let mut stream = match handshake(stream, config, TIMEOUT).await {
        Ok((stream, _)) => stream,
        Err(TlsError::Handshake(error)) => return Ending::of(&error),
        Err(other) => panic!("the handshake was neither refused nor done: {other}"),
    };
    // In TLS 1.3 the client's side of the handshake is done once it has
    // sent its certificate, before the server has read it: the server's
    // answer comes as the first read.
    let mut served = Vec::new();
    let ended = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut served))
        .await
        .expect("the server ends the connection within the time-out");
    assert!(
        served.is_empty(),
        "served: {}",
        String::from_utf8_lossy(&served)
    );
    match ended {
        Ok(_) => Ending::Closed,
        Err(error) => Ending::of(&error),
    }
}

/// A TCP relay between one client and the server that counts the bytes it
/// forwards to the server. Its socket towards the server has a small, fixed
/// send buffer, so once the server stops reading the count stops growing:
/// it is what the server read, plus its receive buffer, plus this one.
struct CountingRelay {
    addr: SocketAddr,
    forwarding: JoinHandle<u64>,
}

impl CountingRelay {
    async fn start(server: SocketAddr) -> CountingRelay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let forwarding = tokio::spawn(async move {
            let (client, _) = listener.accept().await.expect("the client connects");
            let upstream = TcpSocket::new_v4().expect("a socket");
            upstream
                .set_send_buffer_size(RELAY_SEND_BUFFER)
                .expect("set SO_SNDBUF");
            let upstream = upstream
                .connect(server)
                .await
                .expect("connect to the server");
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = upstream.into_split();
            let back = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                let _ = to_client.shutdown().await;
            });
            let mut forwarded = 0;
            let mut chunk = vec![0; 16 * 1024];
            // Until the client stops, or the server takes no more bytes
            // (it closed, and the write fails).
            while let Ok(read @ 1..) = from_client.read(&mut chunk).await {
                if to_server.write_all(&chunk[..read]).await.is_err() {
                    break;
                }
                forwarded += read as u64;
            }
            drop(to_server);
            let _ = back.await;
            forwarded
        });
        CountingRelay { addr, forwarding }
    }

    /// The bytes forwarded to the server, once the relay is done.
    async fn forwarded(self) -> u64 {
        tokio::time::timeout(TIMEOUT, self.forwarding)
            .await
            .expect("the relay ends with the connection")
            .expect("the relay did not panic")
    }
}

/// Runs the `openssl` command line, which CI installs; a machine without
/// it fails here rather than skipping what these tests check.
fn openssl(args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command line runs (CI installs it)");
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
    output
}

/// A self-signed certificate and its key, made by `openssl req` with the
/// key options `key_options`, as `NAME.pem` and `NAME.key` in `dir`.
fn openssl_identity(dir: &Path, name: &str, key_options: &[&str]) -> [String; 2] {
    let cert = dir.join(format!("{name}.pem")).display().to_string();
    let key = dir.join(format!("{name}.key")).display().to_string();
    let subject = format!("/CN={name}");
    let mut args = vec!["req", "-x509", "-nodes", "-days", "1", "-subj", &subject];
    args.extend_from_slice(key_options);
    args.extend_from_slice(&["-keyout", &key, "-out", &cert]);
    openssl(&args);
    [cert, key]
}

/// The fingerprint of the key in `identity`, as whois and `--allow` name
/// it.
fn fingerprint_of(identity: &[String; 2]) -> String {
    let [cert, key] = identity;
    keyfile::load(Path::new(cert), Path::new(key))
        .expect("a certificate and key lanchat can read")
        .fingerprint
        .to_string()
}

/// Starts `openssl s_client` against `addr`, presenting `identity`, with
/// its input and output piped; it is killed when dropped.
fn s_client(addr: SocketAddr, identity: &[String; 2], options: &[&str]) -> Child {
    let [cert, key] = identity;
    tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-cert",
            cert,
            "-key",
            key,
        ])
        .args(options)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the openssl command line runs (CI installs it)")
}
