//! What a connection runs over — plain TCP or TLS — told apart by the
//! first byte the client sends, on the one port.
//!
//! A TLS client speaks first (its ClientHello starts with the handshake
//! record type, 0x16), while the plain protocol lets the server speak first
//! (the greeting). So a new connection waits [`FIRST_BYTE_WAIT`] for a
//! first byte: 0x16 starts a TLS handshake; any other byte, or none in that
//! time, is plain TCP, greeted at once. A plain client that sends at once
//! is answered at once; one that waits for the greeting gets it that much
//! later. No plain client's first line can start with 0x16 by design (it
//! is a control character); one that does is told so and closed.
//!
//! On the IRC port the client speaks first either way (registration), so
//! there is nothing to greet and no reason to guess early: it waits for
//! the first byte as long as a TLS handshake may take (within the hello
//! deadline). A TLS client that
//! sets up its side only after connecting is told apart all the same
//! (hexchat loads the system's CA certificates then, which took longer
//! than [`FIRST_BYTE_WAIT`] in a test; it was taken for plain IRC before).

use std::io;
use std::time::Duration;

use lanchat_shared::{ErrorCode, Fingerprint};
use rustls::server::Acceptor;
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::listener::{Port, refusal_line};
use crate::state::Shared;
use crate::tls::{self, ServerTls};

/// How long a new connection waits for the client's first byte before it
/// is taken for plain TCP and greeted.
pub(crate) const FIRST_BYTE_WAIT: Duration = Duration::from_millis(200);

/// The TLS record type that starts every ClientHello.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How long a farewell to a client that will be closed may take to write.
const FAREWELL_TIMEOUT: Duration = Duration::from_millis(500);

/// The reading half of a connection.
#[derive(Debug)]
pub(crate) enum Source {
    /// Plain TCP: the reader can wait for readiness without a buffer.
    Plain(OwnedReadHalf),
    /// TLS: records are read and decrypted by rustls.
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

/// The writing half of a connection, whichever transport it is.
pub(crate) type Sink = Box<dyn AsyncWrite + Send + Unpin>;

/// Whether a connection is encrypted, and who the client proved to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// Plain TCP: readable by anyone on the network path.
    Plain,
    /// TLS, with the fingerprint of the client's certificate if it sent one
    /// (without one it is a guest).
    Tls {
        /// The key the client proved it holds.
        identity: Option<Fingerprint>,
    },
}

impl Security {
    /// The identity the client proved, if it did.
    pub(crate) fn identity(&self) -> Option<&Fingerprint> {
        match self {
            Security::Tls { identity } => identity.as_ref(),
            Security::Plain => None,
        }
    }
}

impl std::fmt::Display for Security {
    /// For the log: how the client is connected and, if it is, as whom.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Plain => f.write_str("plain TCP"),
            Security::Tls { identity: None } => f.write_str("TLS, guest"),
            Security::Tls {
                identity: Some(identity),
            } => write!(f, "TLS, {identity}"),
        }
    }
}

/// A connection ready to carry lines.
pub(crate) struct Transport {
    pub(crate) source: Source,
    pub(crate) sink: Sink,
    pub(crate) security: Security,
}

/// Why a connection ended before it could carry lines.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotOpened {
    /// The client closed (or failed) before sending anything.
    #[error("gone before its first byte: {0}")]
    Gone(io::Error),
    /// The first byte said TLS but no ClientHello followed; the client
    /// was told in a plain line.
    #[error("not a TLS handshake: {0}")]
    NotTls(io::Error),
    /// The client speaks TLS but its handshake failed (rustls's alert, if
    /// it had one, told the client why).
    #[error("TLS handshake failed: {0}")]
    HandshakeFailed(io::Error),
    /// The TLS handshake took longer than `tls_handshake_timeout`.
    #[error("TLS handshake timed out")]
    HandshakeTimedOut,
    /// Plain TCP with `require_tls`; the client was told how to connect.
    #[error("plain TCP refused: TLS is required")]
    PlainRefused,
    /// Not on the `--allow` list; the client was told.
    #[error("not on the allow list ({0})")]
    NotAllowed(Security),
}

/// Waits for the first byte, sets up plain TCP or TLS, and lets through
/// only what the server admits (`--require-tls`, `--allow`); whoever is
/// turned away is told why in one line.
pub(crate) async fn open(
    stream: TcpStream,
    shared: &Shared,
    port: Port,
) -> Result<Transport, NotOpened> {
    // The IRC port waits no longer than the hello deadline either, which
    // counts from the accept, a moment ago.
    let first_byte_wait = match port {
        Port::Main => FIRST_BYTE_WAIT,
        Port::Irc => shared
            .config
            .tls_handshake_timeout
            .min(shared.config.hello_timeout),
    };
    let transport = if first_byte_says_tls(&stream, first_byte_wait).await? {
        // Boxed, and so on the heap only while it runs: a future is as
        // large as its largest state, and the handshake's (rustls's whole
        // connection, over a kilobyte) would otherwise be part of every
        // connection's task for its whole life, plain or TLS.
        Box::pin(handshake(
            stream,
            &shared.tls,
            shared.config.tls_handshake_timeout,
            port,
        ))
        .await?
    } else if shared.config.require_tls {
        refuse_plain(stream, port).await;
        return Err(NotOpened::PlainRefused);
    } else {
        let (read, write) = stream.into_split();
        Transport {
            source: Source::Plain(read),
            sink: Box::new(write),
            security: Security::Plain,
        }
    };
    match &shared.allow {
        Some(allow) if !allow.admits(transport.security.identity()) => {
            let message = "This server admits only the keys on its list, and yours is not one \
                           (a guest has none); ask its operator to add your fingerprint.";
            farewell(transport.sink, port, ErrorCode::NotAllowed, message).await;
            Err(NotOpened::NotAllowed(transport.security))
        }
        _ => Ok(transport),
    }
}

async fn first_byte_says_tls(stream: &TcpStream, wait: Duration) -> Result<bool, NotOpened> {
    let mut first = [0u8; 1];
    match timeout(wait, stream.peek(&mut first)).await {
        Err(_quiet) => Ok(false),
        Ok(Ok(0)) => Err(NotOpened::Gone(io::ErrorKind::UnexpectedEof.into())),
        Ok(Ok(_)) => Ok(first[0] == TLS_HANDSHAKE_RECORD),
        Ok(Err(error)) => Err(NotOpened::Gone(error)),
    }
}

async fn handshake(
    stream: TcpStream,
    tls: &ServerTls,
    deadline: Duration,
    port: Port,
) -> Result<Transport, NotOpened> {
    // One deadline for both halves: the ClientHello, then the rest.
    let deadline = Instant::now() + deadline;
    let mut hello = LazyConfigAcceptor::new(Acceptor::default(), stream);
    let started = match timeout_at(deadline, &mut hello).await {
        Err(_stalled) => return Err(NotOpened::HandshakeTimedOut),
        Ok(Err(error)) => {
            // No ClientHello: whatever sent the 0x16 does not speak TLS,
            // and may be a person who can read a line.
            if let Some(stream) = hello.take_io() {
                let message = "This connection began like a TLS handshake (byte 0x16) but is \
                               not one; for plain text, connect again and start with a nickname.";
                farewell(stream, port, ErrorCode::BadRequest, message).await;
            }
            return Err(NotOpened::NotTls(error));
        }
        Ok(Ok(started)) => started,
    };
    let accepting = started.into_stream(tls.config.clone()).into_fallible();
    match timeout_at(deadline, accepting).await {
        Err(_stalled) => Err(NotOpened::HandshakeTimedOut),
        // The client speaks TLS: rustls has sent it an alert saying why,
        // if it had one, and a plain line now would reach its TLS as a
        // corrupt record. The connection closes as the stream is dropped.
        Ok(Err((error, _stream))) => Err(NotOpened::HandshakeFailed(error)),
        Ok(Ok(stream)) => {
            let identity = tls::peer_identity(stream.get_ref().1);
            let (read, write) = tokio::io::split(stream);
            Ok(Transport {
                source: Source::Tls(read),
                sink: Box::new(write),
                security: Security::Tls { identity },
            })
        }
    }
}

async fn refuse_plain(stream: TcpStream, port: Port) {
    let address = stream
        .local_addr()
        .map_or_else(|_| "HOST:PORT".to_owned(), |addr| addr.to_string());
    let message = match port {
        Port::Main => format!(
            "This server takes encrypted connections only. Connect with lanchat (it uses TLS), \
             or for plain text over TLS: openssl s_client -quiet -connect {address}"
        ),
        Port::Irc => "This server takes encrypted connections only: connect to this port \
                      with TLS (irssi: /connect -tls; weechat: -tls)."
            .to_owned(),
    };
    farewell(stream, port, ErrorCode::TlsRequired, &message).await;
}

/// Writes one error line to a client about to be closed, and closes.
async fn farewell(mut stream: impl AsyncWrite + Unpin, port: Port, code: ErrorCode, message: &str) {
    let line = refusal_line(port, code, message);
    let _ = timeout(FAREWELL_TIMEOUT, async {
        stream.write_all(&line).await?;
        stream.shutdown().await
    })
    .await;
}
