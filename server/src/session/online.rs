//! Nicknames among several servers sharing Redis: a nickname in use on one
//! is taken on the others. Each claim goes through the store (see
//! `Store::claim_online`); a server alone skips it, its hub being the only
//! judge.

use lanchat_shared::{ErrorCode, Nick};
use tracing::{info, warn};

use super::{Context, Next};
use crate::domain::{ConnectionId, NickKey, SessionToken};
use crate::state::Shared;
use crate::store::{Elsewhere, Online, OnlineClaim, Store, StoreError};

/// Claims `nick` among the servers for a connection joining under
/// `session` (`owns`: its identity owns the nickname), which takes it from
/// its ghost on another server if `may_take_over` (a hello; a rename may
/// not). True if it was taken from such a ghost. `Err` is the refusal,
/// already answered: a connection of another server holds it.
pub(crate) async fn claim(
    ctx: &mut Context<'_>,
    nick: &Nick,
    (session, owns): (&SessionToken, bool),
    may_take_over: bool,
) -> Result<bool, Next> {
    if ctx.shared.config.redis.is_none() {
        return Ok(false);
    }
    let claim = claim_of(ctx, nick, (session, owns), may_take_over);
    let claimed = ctx
        .shared
        .store
        .run(move |store, _| store.claim_online(&claim))
        .await;
    match claimed {
        Ok(Online::Ours) => Ok(false),
        Ok(Online::TakenFrom(server)) => {
            info!(%nick, %server, "nickname taken over from another server");
            Ok(true)
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

/// Records that `connection` holds `nick` among the servers, now that the
/// hub took it (after [`claim`]): a release by an older connection of this
/// server (one that held the nickname before, leaving) then leaves it
/// alone. In the background; lost, the nickname is still this server's,
/// and freed when this server stops.
pub(crate) fn confirm(
    ctx: &Context<'_>,
    nick: &Nick,
    session: &SessionToken,
    owns: bool,
    connection: ConnectionId,
) {
    if ctx.shared.config.redis.is_none() {
        return;
    }
    let claim = claim_of(ctx, nick, (session, owns), false);
    in_background(
        ctx.shared,
        "could not record who holds a nickname among the servers",
        move |store| store.confirm_online(&claim, connection),
    );
}

/// Frees `nick` among the servers, in the background, if `connection`
/// still holds it there: its connection has left or renamed. A newer
/// connection of this server that took the nickname keeps it (the store
/// compares connections). Lost if the store cannot be reached; the
/// nickname then stays this server's until it stops (its lease runs out).
pub(crate) fn release(shared: &Shared, nick: &str, connection: ConnectionId) {
    if shared.config.redis.is_none() {
        return;
    }
    let key = NickKey::of(nick);
    in_background(
        shared,
        "could not free a nickname among the servers",
        move |store| store.release_online(&key, connection),
    );
}

/// What this connection claims of `nick` among the servers.
fn claim_of(
    ctx: &Context<'_>,
    nick: &Nick,
    (session, owns): (&SessionToken, bool),
    may_take_over: bool,
) -> OnlineClaim {
    OnlineClaim {
        nick: NickKey::from(nick),
        spelled: nick.to_string(),
        session: session.clone(),
        identity: ctx.security.identity().cloned(),
        owns,
        may_take_over,
    }
}

/// Runs `job` on the store thread without waiting for it; a failure is
/// logged as `failed`.
fn in_background(
    shared: &Shared,
    failed: &'static str,
    job: impl FnOnce(&mut dyn Store) -> Result<(), StoreError> + Send + 'static,
) {
    let store = shared.store.clone();
    tokio::spawn(async move {
        if let Err(error) = store.run(move |store, _| job(store)).await {
            warn!(error = error.explained(), "{failed}");
        }
    });
}
