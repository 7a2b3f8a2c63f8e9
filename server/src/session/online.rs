//! Nicknames among several servers sharing Redis: a nickname in use on one
//! is taken on the others. Each claim goes through the store (see
//! `Store::claim_online`); a server alone skips it, its hub being the only
//! judge.

use std::sync::Arc;

use lanchat_shared::{ErrorCode, Nick};
use tracing::{info, warn};

use super::{Context, Next};
use crate::domain::{NickKey, SessionToken};
use crate::state::Shared;
use crate::store::{Elsewhere, Online, OnlineClaim};

/// Claims `nick` among the servers for a connection joining under
/// `session` (`owns`: its identity owns the nickname). `Err` is the
/// refusal, already answered: a connection of another server holds it.
pub(crate) async fn claim(
    ctx: &mut Context<'_>,
    nick: &Nick,
    session: &SessionToken,
    owns: bool,
) -> Result<(), Next> {
    if ctx.shared.config.redis.is_none() {
        return Ok(());
    }
    let claim = OnlineClaim {
        nick: NickKey::from(nick),
        spelled: nick.to_string(),
        session: session.clone(),
        identity: ctx.security.identity().cloned(),
        owns,
    };
    let claimed = ctx
        .shared
        .store
        .run(move |store, _| store.claim_online(&claim))
        .await;
    match claimed {
        Ok(Online::Ours) => Ok(()),
        Ok(Online::TakenFrom(server)) => {
            info!(%nick, %server, "nickname taken over from another server");
            Ok(())
        }
        Ok(Online::HeldBy(_)) => {
            let message = format!(
                "The nickname {nick} is taken (by someone on another server of this chat); try another."
            );
            Err(ctx.refuse(ErrorCode::NickTaken, message))
        }
        Err(error) => Err(ctx.refuse(ErrorCode::StoreUnavailable, error.explained())),
    }
}

/// Who holds `nick` on another server of the group, for a direct message:
/// the spelling and the identity. `None` for a server alone, or if the
/// store cannot say (the message is then refused as to nobody).
pub(crate) async fn elsewhere(shared: &Shared, nick: &str) -> Option<Elsewhere> {
    shared.config.redis.as_ref()?;
    let key = NickKey::of(nick);
    shared
        .store
        .run(move |store, _| store.online_elsewhere(&key))
        .await
        .ok()
        .flatten()
}

/// Frees `nick` among the servers, in the background, unless a connection
/// of this server holds it by then: its connection has left or renamed.
/// The look at the hub is made on the store thread, just before the
/// release, in order with claims (which go through the same thread), so a
/// connection that takes the nickname here meanwhile keeps it among the
/// servers too. Lost if the store cannot be reached; the nickname then
/// stays this server's until it stops (its lease runs out).
pub(crate) fn release(shared: &Shared, nick: &str) {
    if shared.config.redis.is_none() {
        return;
    }
    let key = NickKey::of(nick);
    let (store, hub) = (shared.store.clone(), Arc::clone(&shared.hub));
    tokio::spawn(async move {
        let released = store
            .run(move |store, _| match hub.online(key.as_str()) {
                Some(_) => Ok(()),
                None => store.release_online(&key),
            })
            .await;
        if let Err(error) = released {
            warn!(
                error = error.explained(),
                "could not free a nickname among the servers"
            );
        }
    });
}
