//! A client's side of TLS: rustls, TLS 1.3 only, presenting an identity
//! if one is given. There is no authority on a LAN to ask whether a key is
//! the server's, so keys are pinned like ssh's: [`handshake`] accepts any
//! key whose handshake signature checks out and reports its
//! [`Fingerprint`] for the caller to judge, and [`handshake_pinned`]
//! accepts only the key pinned before and ends the handshake, before the
//! client has sent its certificate or anything else, on any other.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
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
    /// The server presented a key other than the one pinned for it.
    #[error("the server presented key {presented}, not the one pinned for it")]
    KeyChanged {
        /// The key it presented.
        presented: Fingerprint,
    },
}

/// A client configuration presenting `identity`, if any, that accepts any
/// server key (see [`handshake`]).
pub fn client_config(identity: Option<&KeyFile>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    config_with(identity, Arc::new(ServerKeyCheck::new(None)))
}

fn config_with(
    identity: Option<&KeyFile>,
    verifier: Arc<ServerKeyCheck>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
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

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Runs a TLS handshake on `stream` within `deadline`; returns the stream
/// and the fingerprint of the key the server presented, whatever it is.
pub async fn handshake(
    stream: TcpStream,
    config: Arc<rustls::ClientConfig>,
    deadline: Duration,
) -> Result<(TlsStream<TcpStream>, Fingerprint), TlsError> {
    let stream = connect(stream, config, deadline).await?;
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or(TlsError::NoServerKey)?;
    let key = Fingerprint::of_certificate(presented).map_err(|_| TlsError::NoServerKey)?;
    Ok((stream, key))
}

/// Runs a TLS handshake on `stream` within `deadline`, presenting
/// `identity` if any, that succeeds only if the server presents the key
/// `pinned`. On any other key it fails with [`TlsError::KeyChanged`]
/// before the client's certificate is sent: TLS 1.3 has the client check
/// the server's key before it sends its own.
pub async fn handshake_pinned(
    stream: TcpStream,
    identity: Option<&KeyFile>,
    pinned: &Fingerprint,
    deadline: Duration,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let check = Arc::new(ServerKeyCheck::new(Some(pinned.clone())));
    let config = config_with(identity, Arc::clone(&check))?;
    match connect(stream, config, deadline).await {
        Err(error) => Err(check
            .refused()
            .map_or(error, |presented| TlsError::KeyChanged { presented })),
        Ok(stream) => Ok(stream),
    }
}

async fn connect(
    stream: TcpStream,
    config: Arc<rustls::ClientConfig>,
    deadline: Duration,
) -> Result<TlsStream<TcpStream>, TlsError> {
    // The name is not checked (the key is, by fingerprint); rustls needs one.
    let name = ServerName::try_from("lanchat").map_err(|_| TlsError::NoServerKey)?;
    let connecting = TlsConnector::from(config).connect(name, stream);
    tokio::time::timeout(deadline, connecting)
        .await
        .map_err(|_| TlsError::TimedOut)?
        .map_err(TlsError::Handshake)
}

/// Checks the server's key against a pin, if there is one, and otherwise
/// trusts any key whose handshake signature checks out (the caller judges
/// its fingerprint afterwards). Signatures are always checked: a server
/// must prove it holds the key it presents.
#[derive(Debug)]
struct ServerKeyCheck {
    algorithms: WebPkiSupportedAlgorithms,
    pinned: Option<Fingerprint>,
    /// The key presented, when it was refused for not being the pinned
    /// one: the handshake's error does not carry it.
    refused: Mutex<Option<Fingerprint>>,
}

impl ServerKeyCheck {
    fn new(pinned: Option<Fingerprint>) -> ServerKeyCheck {
        ServerKeyCheck {
            algorithms: provider().signature_verification_algorithms,
            pinned,
            refused: Mutex::new(None),
        }
    }

    fn refused(&self) -> Option<Fingerprint> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ServerCertVerifier for ServerKeyCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pinned) = &self.pinned else {
            return Ok(ServerCertVerified::assertion());
        };
        let presented = Fingerprint::of_certificate(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if presented == *pinned {
            return Ok(ServerCertVerified::assertion());
        }
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(presented);
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
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
