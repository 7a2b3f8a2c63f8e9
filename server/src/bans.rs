//! Bans: who is kept out of a room, or of the whole server, until when.
//!
//! A ban names an identity (a key's fingerprint), a network (an address,
//! or an address and a prefix length: `10.0.0.0/24`) — everyone from
//! there — or the guests of a network (`~10.0.0.7`, shown with the `~`
//! that marks guests everywhere). A ban placed on a nickname someone holds
//! bans what is behind it: their identity, or for a guest the guests of
//! their address, so people with keys behind the same address (a shared
//! Wi-Fi, one NAT) are not kept out with them. Bans are kept in the database and in memory
//! ([`BanList`]), checked at `hello` (the server's) and at every entry to
//! a room (the room's), and a timed one ends by itself: an expired ban
//! matches nothing, and is forgotten when the list is next changed.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use lanchat_shared::Fingerprint;

/// Bans kept at most, server-wide: each is a row and an entry checked at
/// every hello, so their number is bounded like everything else.
pub const MAX_BANS: usize = 10_000;
/// Bans one room may have. Anyone with a key can found a room and ban
/// from it, so one room must not use up what the others and the server's
/// admins need.
pub const MAX_ROOM_BANS: usize = 500;
/// Of [`MAX_BANS`], those only the server's own bans may use.
const KEPT_FOR_SERVER_BANS: usize = 1_000;

/// What a ban keeps out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BanTarget {
    /// Anyone proving this key.
    Identity(Fingerprint),
    /// Anyone connecting from this network.
    Network(Network),
    /// Guests (connections without a key) from this network.
    Guests(Network),
}

/// An address and how many of its leading bits a client's must share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// The network of one address.
    pub fn of(address: IpAddr) -> Network {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        Network { address, prefix }
    }

    /// Reads `10.0.0.7`, `10.0.0.0/24`, `fd00::/8`.
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let most = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(most);
        (prefix <= most).then_some(Network { address, prefix })
    }

    /// True if `client` is in this network. An IPv4 client seen on an
    /// IPv6 socket (`::ffff:10.0.0.7`) is taken as the IPv4 address it is.
    pub fn covers(&self, client: IpAddr) -> bool {
        match (self.address.to_canonical(), client.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let single = if self.address.is_ipv4() { 32 } else { 128 };
        if self.prefix == single {
            write!(f, "{}", self.address)
        } else {
            write!(f, "{}/{}", self.address, self.prefix)
        }
    }
}

impl BanTarget {
    /// Reads a fingerprint or a network, as `/ban` and the database spell
    /// them.
    pub fn parse(text: &str) -> Option<BanTarget> {
        if let Ok(key) = Fingerprint::parse(text) {
            return Some(BanTarget::Identity(key));
        }
        match text.strip_prefix('~') {
            Some(guests) => Network::parse(guests).map(BanTarget::Guests),
            None => Network::parse(text).map(BanTarget::Network),
        }
    }

    /// True if a client with `identity` (if any) connecting from `address`
    /// is this.
    pub fn matches(&self, identity: Option<&Fingerprint>, address: IpAddr) -> bool {
        match self {
            BanTarget::Identity(key) => identity == Some(key),
            BanTarget::Network(network) => network.covers(address),
            BanTarget::Guests(network) => identity.is_none() && network.covers(address),
        }
    }
}

impl std::fmt::Display for BanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanTarget::Identity(key) => write!(f, "{key}"),
            BanTarget::Network(network) => write!(f, "{network}"),
            BanTarget::Guests(network) => write!(f, "~{network}"),
        }
    }
}

/// One ban.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// The room it keeps out of; `None` for the whole server.
    pub room: Option<String>,
    /// Whom.
    pub target: BanTarget,
    /// When it ends, in Unix milliseconds; `None` for good.
    pub until_ms: Option<u64>,
    /// Why, as given.
    pub reason: Option<String>,
    /// The nickname of whoever placed it.
    pub by: String,
    /// When, in Unix milliseconds.
    pub at_ms: u64,
}

impl Ban {
    /// True while it lasts.
    pub fn in_force(&self, now_ms: u64) -> bool {
        self.until_ms.is_none_or(|until| until > now_ms)
    }

    /// How the ban is told to whom it keeps out, and in `/bans`.
    pub fn describe(&self, now_ms: u64) -> String {
        self.describe_as(&self.target.to_string(), now_ms)
    }

    /// The same, naming its target `who` (`mallory (SHA256:...)`, when it
    /// was placed on a nickname).
    pub fn describe_as(&self, who: &str, now_ms: u64) -> String {
        let place = match &self.room {
            Some(room) => format!("#{room}"),
            None => "this server".to_owned(),
        };
        let how_long = match self.until_ms {
            None => "for good".to_owned(),
            Some(until) => format!("for {} more", spoken(until.saturating_sub(now_ms) / 1000)),
        };
        let why = self
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        format!(
            "{who} is banned from {place} {how_long} (by {}){why}",
            self.by
        )
    }
}

/// A duration in seconds, said the way people say one: `2 h 5 min`.
pub fn spoken(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds.div_ceil(60)),
        3600..86_400 => with_rest(seconds / 3600, "h", (seconds % 3600) / 60, "min"),
        _ => with_rest(seconds / 86_400, "d", (seconds % 86_400) / 3600, "h"),
    }
}

/// `2 h 5 min`, or `2 h` when the rest is nothing.
fn with_rest(whole: u64, unit: &str, rest: u64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{whole} {unit}")
    } else {
        format!("{whole} {unit} {rest} {rest_unit}")
    }
}

/// Reads `30s`, `10m`, `2h`, `7d` (a number and a unit) as seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let number: u64 = text.get(..text.len() - unit.len_utf8())?.parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    number.checked_mul(scale).filter(|&seconds| seconds > 0)
}

/// The bans in force, as the database holds them, kept in memory so a
/// hello or a join does not wait on the store.
#[derive(Debug, Default)]
pub struct BanList {
    bans: Mutex<Vec<Ban>>,
}

impl BanList {
    /// The list, from what the database had at start.
    pub fn new(bans: Vec<Ban>) -> BanList {
        BanList {
            bans: Mutex::new(bans),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Ban>> {
        self.bans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ban of `room` (`None`: the server) that keeps this client out,
    /// if one does.
    pub fn keeping_out(
        &self,
        room: Option<&str>,
        identity: Option<&Fingerprint>,
        address: IpAddr,
        now_ms: u64,
    ) -> Option<Ban> {
        self.lock()
            .iter()
            .find(|ban| {
                ban.room.as_deref() == room
                    && ban.in_force(now_ms)
                    && ban.target.matches(identity, address)
            })
            .cloned()
    }

    /// The bans of `room` (`None`: the server) in force.
    pub fn of(&self, room: Option<&str>, now_ms: u64) -> Vec<Ban> {
        self.lock()
            .iter()
            .filter(|ban| ban.room.as_deref() == room && ban.in_force(now_ms))
            .cloned()
            .collect()
    }

    /// Adds `ban` (replacing one of the same place and target), or says
    /// why not: the room has [`MAX_ROOM_BANS`], or the list is full even
    /// without the expired ones (with room kept for the server's bans).
    pub fn add(&self, ban: Ban, now_ms: u64) -> Result<(), String> {
        let mut bans = self.lock();
        bans.retain(|old| {
            old.in_force(now_ms) && !(old.room == ban.room && old.target == ban.target)
        });
        if let Some(room) = &ban.room {
            let here = bans
                .iter()
                .filter(|b| b.room.as_ref() == Some(room))
                .count();
            if here >= MAX_ROOM_BANS {
                return Err(format!(
                    "#{room} has {MAX_ROOM_BANS} bans, the most a room may have."
                ));
            }
            if bans.len() >= MAX_BANS - KEPT_FOR_SERVER_BANS {
                return Err("The server keeps no more room bans; ask an admin.".to_owned());
            }
        }
        if bans.len() >= MAX_BANS {
            return Err(format!("The server keeps at most {MAX_BANS} bans."));
        }
        bans.push(ban);
        Ok(())
    }

    /// Lifts the ban of `target` from `room`; true if there was one.
    pub fn remove(&self, room: Option<&str>, target: &BanTarget) -> bool {
        let mut bans = self.lock();
        let before = bans.len();
        bans.retain(|ban| !(ban.room.as_deref() == room && ban.target == *target));
        bans.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_cover_their_addresses_and_no_others() {
        let lan = Network::parse("10.1.2.0/24").unwrap();
        assert!(lan.covers(ip("10.1.2.200")));
        assert!(!lan.covers(ip("10.1.3.1")));
        assert!(!lan.covers(ip("::1")));
        let one = Network::parse("192.168.0.7").unwrap();
        assert!(one.covers(ip("192.168.0.7")) && !one.covers(ip("192.168.0.8")));
        assert!(Network::parse("0.0.0.0/0").unwrap().covers(ip("8.8.8.8")));
        let v6 = Network::parse("fd00::/8").unwrap();
        assert!(v6.covers(ip("fd12::1")) && !v6.covers(ip("fe80::1")));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "alice",
            "10.0.0/8",
            "1.2.3.4/x",
        ] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
        assert_eq!(lan.to_string(), "10.1.2.0/24");
        assert_eq!(one.to_string(), "192.168.0.7");
    }

    #[test]
    fn a_guests_ban_keeps_out_guests_only_and_reads_back_as_written() {
        let key = Fingerprint::of_public_key(b"someone");
        let guests = BanTarget::parse("~10.0.0.7").unwrap();
        assert!(guests.matches(None, ip("10.0.0.7")));
        assert!(
            !guests.matches(Some(&key), ip("10.0.0.7")),
            "a key is not a guest"
        );
        let everyone = BanTarget::parse("10.0.0.7").unwrap();
        assert!(everyone.matches(Some(&key), ip("10.0.0.7")));
        for text in ["~10.0.0.7", "10.0.0.0/8", key.as_str()] {
            assert_eq!(BanTarget::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("10m"), Some(600));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("7d"), Some(604_800));
        for bad in ["", "h", "0m", "2w", "-1h", "spam", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_timed_ban_ends_by_itself_and_a_list_is_bounded() {
        let key = Fingerprint::of_public_key(b"mallory");
        let ban = Ban {
            room: Some("dev".into()),
            target: BanTarget::Identity(key.clone()),
            until_ms: Some(2_000),
            reason: None,
            by: "alice".into(),
            at_ms: 1_000,
        };
        let list = BanList::default();
        assert!(list.add(ban, 1_000).is_ok());
        let address = ip("10.0.0.1");
        assert!(
            list.keeping_out(Some("dev"), Some(&key), address, 1_999)
                .is_some()
        );
        assert!(
            list.keeping_out(None, Some(&key), address, 1_999).is_none(),
            "a room's only"
        );
        assert!(
            list.keeping_out(Some("dev"), Some(&key), address, 2_000)
                .is_none(),
            "over"
        );
        for n in 0..MAX_BANS {
            let guest =
                BanTarget::Network(Network::of(IpAddr::from([10, 9, (n / 256) as u8, n as u8])));
            let ban = Ban {
                room: None,
                target: guest,
                until_ms: None,
                reason: None,
                by: "admin".into(),
                at_ms: 0,
            };
            let _ = list.add(ban, 3_000);
        }
        let one_more = Ban {
            room: None,
            target: BanTarget::Identity(key),
            until_ms: None,
            reason: None,
            by: "admin".into(),
            at_ms: 0,
        };
        assert!(list.add(one_more, 3_000).is_err(), "full");
    }
}
