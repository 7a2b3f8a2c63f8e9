//! What every task of a running server shares.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::allow::AllowList;
use crate::bans::BanList;
use crate::budget::AddressBudget;
use crate::domain::Clock;
use crate::hub::Hub;
use crate::store::StoreHandle;
use crate::tls::ServerTls;

/// The running chat, as every connection task sees it.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The limits and settings, checked at open.
    pub(crate) config: Config,
    /// Who is here and the fan-out of everything that happens.
    pub(crate) hub: Arc<Hub>,
    /// The way to the store thread.
    pub(crate) store: StoreHandle,
    /// Names the history that message ids count in (see `SqliteStore::history_id`).
    pub(crate) history_id: String,
    /// The rustls server configuration and the server key's fingerprint.
    pub(crate) tls: ServerTls,
    /// Each address's budget of new nickname ownerships.
    pub(crate) claims: Arc<AddressBudget>,
    /// The identities that alone may connect (`--allow`), if limited.
    pub(crate) allow: Option<Arc<AllowList>>,
    /// Which rooms are private, and who is invited into them.
    pub(crate) privacy: Arc<crate::session::privacy::RoomPrivacy>,
    /// The bans in force (kept in the store too).
    pub(crate) bans: Arc<BanList>,
    /// Who may not speak in which room, until when: kept in memory only,
    /// as a mute is for the moment (a restart lifts them).
    pub(crate) mutes: BanList,
    /// Each address's budget of wrong server passwords.
    pub(crate) wrong_passwords: AddressBudget,
    /// Where message timestamps come from.
    pub(crate) clock: Clock,
    /// Cancelled once, when shutdown begins; every task watches it.
    pub(crate) shutdown: CancellationToken,
}
