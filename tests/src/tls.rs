//! TLS for test clients: lanchat's own client-side TLS (`lanchat_shared::
//! tls`), which reports the server's key instead of judging it; a test
//! checks the fingerprint itself.

use lanchat_shared::Fingerprint;
use lanchat_shared::keyfile::KeyFile;
use lanchat_shared::tls::{TlsStream, client_config};
use tokio::net::TcpStream;

use crate::TIMEOUT;

/// Runs a TLS handshake on `stream`, presenting `identity` if given;
/// returns the stream and the fingerprint of the key the server presented.
pub async fn handshake(
    stream: TcpStream,
    identity: Option<&KeyFile>,
) -> (TlsStream<TcpStream>, Fingerprint) {
    let config = client_config(identity).expect("a usable identity");
    lanchat_shared::tls::handshake(stream, config, TIMEOUT)
        .await
        .expect("TLS handshake")
}
