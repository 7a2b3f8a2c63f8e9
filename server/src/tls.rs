//! TLS on the chat port: the server's key, the rustls configuration, and
//! the client certificates that become identities.
//!
//! The server asks every TLS client for a certificate but requires none: a
//! client without one is a guest. Any certificate is accepted whose
//! handshake signature proves that the client holds its key — there is no
//! certificate authority on a LAN, so a self-signed certificate is normal,
//! and who the client is is its key's [`Fingerprint`], not a name someone
//! signed. Only TLS 1.3 is offered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lanchat_shared::Fingerprint;
use lanchat_shared::fingerprint::certificate_hex;
use lanchat_shared::keyfile::{self, KeyFile, KeyFileError, Origin};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tracing::info;

use crate::config::{Config, DbLocation, TlsKeys};

/// The key file's name beside the database.
pub const KEY_FILE_NAME: &str = "server-identity.pem";

/// What accepting TLS needs, made once at open.
#[derive(Clone)]
pub(crate) struct ServerTls {
    /// How a handshake is accepted on a connection whose first byte said
    /// TLS, once its ClientHello has been read.
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// The server's key, as people compare it.
    pub(crate) fingerprint: Fingerprint,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The key or certificate file cannot be read or made.
    #[error("TLS key: {0}")]
    KeyFile(#[from] KeyFileError),
    /// rustls refused the key or certificate (e.g. they do not match).
    #[error("TLS key {cert} and {key} cannot be used: {problem}")]
    Unusable {
        /// The certificate's file.
        cert: PathBuf,
        /// The key's file.
        key: PathBuf,
        /// rustls's words.
        problem: String,
    },
}

impl ServerTls {
    /// Loads (or makes, see [`TlsKeys`]) the server's key and logs its
    /// fingerprint.
    pub(crate) fn open(config: &Config) -> Result<ServerTls, TlsSetupError> {
        let (keys, cert_path, key_path) = match (&config.tls_keys, &config.db) {
            (TlsKeys::Files { cert, key }, _) => {
                (keyfile::load(cert, key)?, cert.clone(), key.clone())
            }
            (TlsKeys::BesideDatabase, DbLocation::File(db)) => {
                let path = db.parent().unwrap_or(Path::new(".")).join(KEY_FILE_NAME);
                let (keys, origin) = keyfile::load_or_create(&path)?;
                if origin == Origin::Created {
                    info!(path = %path.display(), "made a new TLS key");
                }
                (keys, path.clone(), path)
            }
            (TlsKeys::BesideDatabase, DbLocation::Memory) => {
                info!("database in memory: a new TLS key for this run only");
                let here = PathBuf::from("(in memory)");
                (keyfile::ephemeral()?, here.clone(), here)
            }
        };
        let fingerprint = keys.fingerprint.clone();
        // What IRC clients pin: irssi the key's digest, weechat the
        // certificate's, both in hex.
        let certificate = keys.chain.first().map(|cert| certificate_hex(cert));
        let server_config = server_config(keys).map_err(|error| TlsSetupError::Unusable {
            cert: cert_path,
            key: key_path,
            problem: error.to_string(),
        })?;
        info!(
            %fingerprint,
            irssi_tls_pinned_pubkey = fingerprint.colon_hex(),
            weechat_tls_fingerprint = certificate.unwrap_or_default(),
            "TLS key fingerprint"
        );
        Ok(ServerTls {
            config: Arc::new(server_config),
            fingerprint,
        })
    }
}

fn server_config(keys: KeyFile) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyClientKey::new(&provider));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(keys.chain, keys.key)?;
    // Session tickets would only spare a reconnecting client one round
    // trip on a LAN, and each costs the server work and memory.
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The fingerprint of the certificate a TLS client presented, if any.
pub(crate) fn peer_identity(connection: &rustls::ServerConnection) -> Option<Fingerprint> {
    let first = connection.peer_certificates()?.first()?;
    Fingerprint::of_certificate(first).ok()
}

/// Accepts any client certificate that can be read, once the handshake
/// proves the client holds its key (see the module doc).
#[derive(Debug)]
struct AnyClientKey {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientKey {
    fn new(provider: &CryptoProvider) -> AnyClientKey {
        AnyClientKey {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for AnyClientKey {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Validity dates and issuers mean nothing without an authority;
        // what matters is that the key can be named.
        Fingerprint::of_certificate(end_entity)
            .map(|_| ClientCertVerified::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))
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
