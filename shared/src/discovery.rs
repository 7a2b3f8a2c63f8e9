//! LAN discovery over UDP, on the same port number as the chat's TCP port.
//!
//! A client broadcasts a [`probe`]; every server that hears it answers with
//! a [`DiscoveryReply`] to the sender. A probe is padded to
//! [`MIN_PROBE_BYTES`] and a reply is always shorter, so a server can never
//! be used to amplify traffic towards a forged sender.

use serde::{Deserialize, Serialize};

/// A server ignores datagrams shorter than this.
pub const MIN_PROBE_BYTES: usize = 256;

/// Longest server name put in a reply, in characters, which keeps every
/// reply well under [`MIN_PROBE_BYTES`].
pub const MAX_NAME_CHARS: usize = 48;

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
    /// The server's name (its `--name`), at most [`MAX_NAME_CHARS`].
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
}

impl DiscoveryReply {
    /// A reply, with the name cut to [`MAX_NAME_CHARS`].
    pub fn new(name: &str, port: u16, users: usize, id: u64) -> DiscoveryReply {
        DiscoveryReply {
            kind: "here".to_owned(),
            name: name.chars().take(MAX_NAME_CHARS).collect(),
            port,
            users,
            version: crate::limits::PROTOCOL_VERSION,
            id,
        }
    }

    /// The reply as one datagram.
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
        let longest = DiscoveryReply::new(&"é".repeat(500), u16::MAX, usize::MAX, u64::MAX);
        assert!(longest.to_datagram().len() < MIN_PROBE_BYTES);
        assert_eq!(DiscoveryReply::parse(&longest.to_datagram()), Some(longest));
        assert_eq!(DiscoveryReply::parse(&probe()), None);
    }
}
