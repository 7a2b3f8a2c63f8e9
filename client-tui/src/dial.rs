//! How each connection to the server is made: TLS presenting the user's
//! identity and accepting only the server key settled before full screen
//! (see [`crate::secure`]), or plain TCP when the user asked for it
//! (`--plain`). The connection task dials through this on every
//! reconnect, so a server whose key changed while the client ran is
//! refused exactly as one that had changed before it started.

use std::sync::Arc;
use std::time::Duration;

use lanchat_shared::Fingerprint;
use lanchat_shared::keyfile::KeyFile;
use lanchat_shared::tls::{TlsError, handshake_pinned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The half of a connection the client reads from.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The half of a connection the client writes to.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// How connections are protected.
#[derive(Debug, Clone)]
pub enum Security {
    /// Plain TCP: anyone on the network can read it, and the server takes
    /// the client for a guest.
    Plain,
    /// TLS, presenting `identity`, to a server that must present
    /// `server_key`.
    Tls {
        /// The user's key and certificate.
        identity: Arc<KeyFile>,
        /// The key the server must present.
        server_key: Fingerprint,
        /// Why that key is trusted.
        trusted: Trusted,
    },
}

/// Why a server key is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trusted {
    /// It is pinned in `known_servers`.
    Pinned,
    /// It is the key of the room this process hosts.
    OwnRoom,
}

/// What the user is shown about how the connection is protected, in the
/// status bar and `/info`: [`Security`] without the private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Plain TCP (`--plain`).
    Plain,
    /// TLS with a verified server key.
    Encrypted {
        /// The server's key.
        server_key: Fingerprint,
        /// Why it is trusted.
        trusted: Trusted,
        /// The user's own identity, as the server sees it.
        identity: Fingerprint,
    },
}

impl Security {
    /// What the user is shown of it.
    pub fn protection(&self) -> Protection {
        match self {
            Security::Plain => Protection::Plain,
            Security::Tls {
                identity,
                server_key,
                trusted,
            } => Protection::Encrypted {
                server_key: server_key.clone(),
                trusted: *trusted,
                identity: identity.fingerprint.clone(),
            },
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// Not now: the server is down, slow, or not speaking TLS. Worth
    /// another try later.
    Failed(String),
    /// The server presented another key than the one trusted. Nothing was
    /// sent to it, and trying again cannot help.
    KeyChanged {
        /// The key trusted.
        pinned: Fingerprint,
        /// The key presented.
        presented: Fingerprint,
    },
}

/// A TCP connection to `address` within `deadline` (no Nagle delay: chat
/// lines are small and wanted at once), or why not, in words.
pub async fn connect(address: &str, deadline: Duration) -> Result<TcpStream, String> {
    match timeout(deadline, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(error)) => Err(format!("could not connect to {address}: {error}")),
        Err(_) => Err(format!("no answer from {address}")),
    }
}

/// Dials `address`, protected as `security` says, within `deadline` for
/// the TCP connection and again for the TLS handshake.
pub async fn dial(
    address: &str,
    security: &Security,
    deadline: Duration,
) -> Result<(Reader, Writer), DialError> {
    let stream = connect(address, deadline)
        .await
        .map_err(DialError::Failed)?;
    let (identity, pinned) = match security {
        Security::Plain => {
            let (read, write) = stream.into_split();
            return Ok((Box::new(read), Box::new(write)));
        }
        Security::Tls {
            identity,
            server_key,
            ..
        } => (identity, server_key),
    };
    match handshake_pinned(stream, Some(identity), pinned, deadline).await {
        Ok(stream) => {
            let (read, write) = tokio::io::split(stream);
            Ok((Box::new(read), Box::new(write)))
        }
        Err(TlsError::KeyChanged { presented }) => Err(DialError::KeyChanged {
            pinned: pinned.clone(),
            presented,
        }),
        Err(error) => Err(DialError::Failed(format!(
            "no TLS connection with {address}: {error}"
        ))),
    }
}
