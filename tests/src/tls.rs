//! TLS for test clients: rustls, accepting whatever key the server
//! presents (a test checks the fingerprint itself, as lanchat's own client
//! checks it against the key it pinned), and presenting an identity when
//! the test gives one.

use std::sync::Arc;

use lanchat_shared::Fingerprint;
use lanchat_shared::keyfile::KeyFile;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::TIMEOUT;

/// A client configuration presenting `identity`, if any.
pub fn client_config(identity: Option<&KeyFile>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyServerKey {
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 is supported")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        Some(keys) => builder
            .with_client_auth_cert(keys.chain.clone(), keys.key.clone_key())
            .expect("a usable identity"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Runs a TLS handshake on `stream`; returns the stream and the
/// fingerprint of the key the server presented.
pub async fn handshake(
    stream: TcpStream,
    identity: Option<&KeyFile>,
) -> (TlsStream<TcpStream>, Fingerprint) {
    let connector = TlsConnector::from(client_config(identity));
    let name = ServerName::try_from("lanchat").expect("a valid name");
    let stream = tokio::time::timeout(TIMEOUT, connector.connect(name, stream))
        .await
        .expect("TLS handshake within the time-out")
        .expect("TLS handshake");
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("the server presents a certificate");
    let key = Fingerprint::of_certificate(presented).expect("a readable certificate");
    (stream, key)
}

/// Trusts any server key whose handshake signature checks out.
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
