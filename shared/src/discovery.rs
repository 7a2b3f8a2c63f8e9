//! LAN discovery over UDP, on the same port number as the chat's TCP port.
//!
//! A client broadcasts a [`probe`]; every server that hears it answers with
//! a [`DiscoveryReply`] to the sender. A probe is padded to
//! [`MIN_PROBE_BYTES`] and a reply is always shorter, so a server can never
//! be used to amplify traffic towards a forged sender.

use serde::{Deserialize, Serialize};

/// A server ignores datagrams shorter than this.
pub const MIN_PROBE_BYTES: usize = 256;

/// Most bytes a server name takes in a reply, as JSON (escapes included).
/// The rest of a reply takes at most 180 bytes (every number at its
/// largest, and the 50-byte key fingerprint), so every reply stays under
/// [`MIN_PROBE_BYTES`]; a count of characters would not, since one
/// character can take up to 6 bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// The probe a client sends: a JSON object with `type` `discover`, padded
/// with spaces to [`MIN_PROBE_BYTES`].
pub fn probe() -> Vec<u8> {
    let mut probe = br#"{"type":"discover","version":1}"#.to_vec();
    probe.resize(MIN_PROBE_BYTES, b' ');
    probe
}

/// True if `datagram` is a probe a server should answer.
pub fn is_probe(datagram: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: String,
    }
    datagram.len() >= MIN_PROBE_BYTES
        && serde_json::from_slice::<Probe>(datagram).is_ok_and(|p| p.kind == "discover")
}

/// A server's answer to a probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryReply {
    /// Always `"here"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The server's name (its `--name`), sanitised, at most
    /// [`MAX_NAME_BYTES`] as JSON.
    pub name: String,
    /// The TCP port to connect to, at the address the reply came from.
    pub port: u16,
    /// How many people are in the room.
    pub users: usize,
    /// Protocol version.
    pub version: u32,
    /// Random per server run, so a server heard on two addresses (loopback
    /// and LAN) is listed once.
    pub id: u64,
    /// The server's TLS key (see [`crate::Fingerprint`]), so a client can
    /// show it before connecting. Absent from servers older than TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl DiscoveryReply {
    /// A reply, with the name sanitised (a client shows it) and cut to
    /// [`MAX_NAME_BYTES`].
    pub fn new(
        name: &str,
        port: u16,
        users: usize,
        id: u64,
        fingerprint: &crate::Fingerprint,
    ) -> DiscoveryReply {
        DiscoveryReply {
            kind: "here".to_owned(),
            name: within_budget(&crate::sanitize_text(name)),
            port,
            users,
            version: crate::limits::PROTOCOL_VERSION,
            id,
            fingerprint: Some(fingerprint.to_string()),
        }
    }

    /// The reply as one datagram. Serialising these fields cannot fail; an
    /// empty datagram is never sent.
    pub fn to_datagram(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a datagram as a reply; anything else is `None`.
    pub fn parse(datagram: &[u8]) -> Option<DiscoveryReply> {
        serde_json::from_slice::<DiscoveryReply>(datagram)
            .ok()
            .filter(|reply| reply.kind == "here")
    }
}

/// The longest start of `name` whose JSON form fits [`MAX_NAME_BYTES`].
fn within_budget(name: &str) -> String {
    let mut used = 0;
    let mut kept = String::new();
    for c in name.chars() {
        // The JSON string of one character, less its two quotes.
        let cost = serde_json::to_string(&c).map_or(6, |json| json.len() - 2);
        if used + cost > MAX_NAME_BYTES {
            break;
        }
        used += cost;
        kept.push(c);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_recognised_and_short_ones_ignored() {
        assert!(is_probe(&probe()));
        assert!(!is_probe(br#"{"type":"discover","version":1}"#), "unpadded");
        let mut other = br#"{"type":"other"}"#.to_vec();
        other.resize(MIN_PROBE_BYTES, b' ');
        assert!(!is_probe(&other));
    }

    #[test]
    fn a_reply_is_always_smaller_than_a_probe() {
        // Two bytes a character, four, escaped quotes, and escapes that
        // would take six bytes each if the controls were kept.
        for name in [
            "é".repeat(500),
            "😀".repeat(48),
            "\"\\".repeat(100),
            "\u{1}\u{7f}x".repeat(100),
        ] {
            let key = crate::Fingerprint::of_public_key(b"any key");
            let longest = DiscoveryReply::new(&name, u16::MAX, usize::MAX, u64::MAX, &key);
            let datagram = longest.to_datagram();
            assert!(datagram.len() < MIN_PROBE_BYTES, "{} bytes", datagram.len());
            assert_eq!(DiscoveryReply::parse(&datagram), Some(longest));
        }
        assert_eq!(DiscoveryReply::parse(&probe()), None);
    }

    #[test]
    fn a_name_is_sanitised_and_kept_whole_when_it_fits() {
        let key = crate::Fingerprint::of_public_key(b"any key");
        let reply = DiscoveryReply::new("attic \u{1b}[31mred", 7878, 1, 1, &key);
        assert_eq!(reply.name, "attic red");
        assert_eq!(reply.fingerprint.as_deref(), Some(key.as_str()));
        assert_eq!(DiscoveryReply::new("ok", 1, 1, 1, &key).name, "ok");
    }
}
