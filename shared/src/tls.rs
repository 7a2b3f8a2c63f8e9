//! A client's side of TLS: rustls, TLS 1.3 only, presenting an identity
//! if one is given, and accepting whatever key the server presents once
//! its handshake signature checks out. Whether that key is the right one
//! is the caller's decision, made on its [`Fingerprint`] before anything
//! is sent (pinned like ssh): there is no authority on a LAN to ask.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
pub use tokio_rustls::client::TlsStream;

use crate::Fingerprint;
use crate::keyfile::KeyFile;

/// Why a TLS connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The identity cannot be used as a client certificate.
    #[error("the identity cannot be used: {0}")]
    Identity(rustls::Error),
    /// The handshake failed (the server is not lanchat with TLS, say).
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    /// The handshake took too long.
    #[error("TLS handshake timed out")]
    TimedOut,
    /// The server presented no certificate we can read.
    #[error("the server presented no readable certificate")]
    NoServerKey,
}

/// A client configuration presenting `identity`, if any.
pub fn client_config(identity: Option<&KeyFile>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyServerKey {
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Identity)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        Some(keys) => builder
            .with_client_auth_cert(keys.chain.clone(), keys.key.clone_key())
            .map_err(TlsError::Identity)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Runs a TLS handshake on `stream` within `deadline`; returns the stream
/// and the fingerprint of the key the server presented.
pub async fn handshake(
    stream: TcpStream,
    config: Arc<rustls::ClientConfig>,
    deadline: Duration,
) -> Result<(TlsStream<TcpStream>, Fingerprint), TlsError> {
    // The name is not checked (the key is, by fingerprint); rustls needs one.
    let name = ServerName::try_from("lanchat").map_err(|_| TlsError::NoServerKey)?;
    let connecting = TlsConnector::from(config).connect(name, stream);
    let stream = tokio::time::timeout(deadline, connecting)
        .await
        .map_err(|_| TlsError::TimedOut)?
        .map_err(TlsError::Handshake)?;
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or(TlsError::NoServerKey)?;
    let key = Fingerprint::of_certificate(presented).map_err(|_| TlsError::NoServerKey)?;
    Ok((stream, key))
}

/// Trusts any server key whose handshake signature checks out: the
/// fingerprint is judged afterwards, by the caller.
#[derive(Debug)]
struct AnyServerKey {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServerKey {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
