//! What a server sharing Redis with others does with what its log reader
//! reads: messages and takeovers go to the hub, as on a server alone; the
//! changes every server keeps in memory (bans, private rooms) are applied
//! here as the server that made them applied them, so a ban placed through
//! one server puts out and keeps out on all of them.

use std::sync::Arc;

use lanchat_shared::Fingerprint;

use crate::bans::BanList;
use crate::domain::{Clock, ConnectionId, NickKey, StoredMessage};
use crate::hub::Hub;
use crate::session::banning::enforce_ban;
use crate::session::privacy::RoomPrivacy;
use crate::store::{Publish, SharedChange, SharedPresence};

/// The log reader's publisher for a server in a group.
#[derive(Debug)]
pub(crate) struct GroupPublisher {
    pub(crate) hub: Arc<Hub>,
    pub(crate) bans: Arc<BanList>,
    pub(crate) privacy: Arc<RoomPrivacy>,
    pub(crate) admins: Vec<Fingerprint>,
    pub(crate) clock: Clock,
}

impl Publish for GroupPublisher {
    fn publish_committed(&mut self, committed: &[StoredMessage]) {
        self.hub.publish_committed(committed);
    }

    fn taken_over(&mut self, nick: &NickKey, connection: ConnectionId) {
        self.hub.taken_over(nick, connection);
    }

    fn fell_behind(&mut self) {
        self.hub.fell_behind();
    }

    fn presence(&mut self, change: &SharedPresence) {
        self.hub.apply_shared(change);
    }

    fn presence_stale(&mut self) -> bool {
        self.hub.take_presence_stale()
    }

    fn presence_again(&mut self, members: &[SharedPresence]) {
        self.hub.replace_remote(members);
    }

    fn presence_again_later(&mut self) {
        self.hub.mark_presence_stale();
    }

    /// Applied by the server that made the change too, a second time,
    /// which changes nothing: adding a ban replaces the same one, and
    /// those it keeps out are out already.
    fn changed(&mut self, change: &SharedChange) {
        match change {
            SharedChange::Banned(ban) => {
                // A room at its most bans here keeps the ones it has; the
                // ban is in Redis all the same, and holds after a restart.
                let _ = self.bans.add(ban.clone(), self.clock.now_millis());
                enforce_ban(&self.hub, &self.admins, ban);
            }
            SharedChange::Unbanned { room, target } => {
                self.bans.remove(room.as_deref(), target);
            }
            SharedChange::Privacy { room, private } => self.privacy.set(room, *private),
            // Only the server the one kicked is connected to has them.
            SharedChange::PutOut { nick, room, reason } => {
                self.hub.put_out(nick, room, reason);
            }
        }
    }
}
