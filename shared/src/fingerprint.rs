//! Key fingerprints, in the form OpenSSH prints: `SHA256:` followed by the
//! unpadded standard base64 of the SHA-256 of the key's DER-encoded
//! SubjectPublicKeyInfo. Other tools compute the same string (for a
//! certificate file: `openssl x509 -pubkey -noout | openssl pkey -pubin
//! -outform DER | openssl dgst -sha256 -binary | base64 | tr -d =`), so
//! people can compare what lanchat shows with what they see elsewhere.
//!
//! A certificate's fingerprint is its public key's: a certificate made
//! again for the same key (a new validity period) keeps its fingerprint.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

/// The prefix that names the hash.
const PREFIX: &str = "SHA256:";

/// Base64 characters of a SHA-256 digest without padding: 32 bytes take 43.
const DIGEST_CHARS: usize = 43;

/// A key's fingerprint; always in the form above.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

/// The SHA-256 digest of a whole DER certificate in hex, as weechat's
/// `tls_fingerprint` takes it (unlike the key's fingerprint, it changes
/// when the certificate is made again for the same key).
pub fn certificate_hex(cert_der: &[u8]) -> String {
    Sha256::digest(cert_der)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Why a certificate has no fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an X.509 certificate in DER: {0}")]
pub struct NotACertificate(String);

/// Why a string is not a fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is SHA256: followed by 43 base64 characters (as ssh-keygen -l prints it)")]
pub struct BadFingerprint;

impl Fingerprint {
    /// The fingerprint of a DER-encoded SubjectPublicKeyInfo.
    pub fn of_public_key(spki_der: &[u8]) -> Fingerprint {
        let digest = Sha256::digest(spki_der);
        Fingerprint(format!("{PREFIX}{}", STANDARD_NO_PAD.encode(digest)))
    }

    /// The fingerprint of a DER-encoded certificate's public key.
    pub fn of_certificate(cert_der: &[u8]) -> Result<Fingerprint, NotACertificate> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|error| NotACertificate(error.to_string()))?;
        Ok(Fingerprint::of_public_key(cert.public_key().raw))
    }

    /// The same digest of the key in upper-case hex, a colon between
    /// bytes, as irssi shows a server's public key and its
    /// `-tls_pinned_pubkey` takes it.
    pub fn colon_hex(&self) -> String {
        let digest = self.0.strip_prefix(PREFIX).unwrap_or_default();
        let bytes = STANDARD_NO_PAD.decode(digest).unwrap_or_default();
        let hex: Vec<String> = bytes.iter().map(|byte| format!("{byte:02X}")).collect();
        hex.join(":")
    }

    /// Reads a fingerprint someone wrote (in a file of allowed identities,
    /// say); surrounding spaces are ignored.
    pub fn parse(text: &str) -> Result<Fingerprint, BadFingerprint> {
        let text = text.trim();
        let digest = text.strip_prefix(PREFIX).ok_or(BadFingerprint)?;
        let decoded = STANDARD_NO_PAD.decode(digest).map_err(|_| BadFingerprint)?;
        if digest.len() != DIGEST_CHARS || decoded.len() != 32 {
            return Err(BadFingerprint);
        }
        Ok(Fingerprint(text.to_owned()))
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hex_forms_are_what_irc_clients_pin() {
        // SHA-256 of the empty input, a well-known digest.
        let empty_hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(certificate_hex(b""), empty_hex);
        let irssi = Fingerprint::of_public_key(b"").colon_hex();
        assert_eq!(irssi.len(), 32 * 3 - 1);
        assert_eq!(irssi.replace(':', "").to_ascii_lowercase(), empty_hex);
        assert!(irssi.starts_with("E3:B0:C4:"));
    }

    #[test]
    fn a_fingerprint_is_sha256_of_the_key_in_unpadded_base64() {
        // SHA-256 of the empty input, a well-known digest.
        let empty = Fingerprint::of_public_key(b"");
        assert_eq!(
            empty.as_str(),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(Fingerprint::parse(empty.as_str()), Ok(empty.clone()));
        assert_eq!(Fingerprint::parse(&format!("  {empty}\n")), Ok(empty));
    }

    #[test]
    fn only_the_full_form_parses() {
        for bad in [
            "",
            "SHA256:",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "MD5:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF!",
        ] {
            assert_eq!(Fingerprint::parse(bad), Err(BadFingerprint), "{bad:?}");
        }
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(Fingerprint::of_certificate(b"\x30\x03\x02\x01").is_err());
        assert!(Fingerprint::of_certificate(&[0xff; 64]).is_err());
    }
}
