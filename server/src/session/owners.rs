//! Owned nicknames. The first identity (TLS client key) to use a nickname
//! owns it; afterwards any other identity, and any guest, is refused it
//! with `nick_owned` and may try another. Guests use any nickname nobody
//! owns and never own one.
//!
//! A new key costs nothing, so owning is bounded: an identity owns at most
//! `max_owned_nicks`, an ownership its owner leaves unused for
//! `owned_nick_lapse` lapses, and new ownerships from one address are
//! rate-limited ([`NEW_OWNERSHIPS`]). An identity past a bound still uses
//! the nickname, unowned, and is told why.

use std::sync::Arc;
use std::time::Instant;

use lanchat_shared::{ErrorCode, Nick, Rate};

use super::{Context, Next};
use crate::domain::NickKey;
use crate::store::{Claimed, NickClaim};

/// New ownerships one address may make: three at once, then one every 20
/// minutes. Enough for a person choosing a name; far too few to squat.
pub(crate) const NEW_OWNERSHIPS: Rate = Rate {
    per_sec: 1.0 / 1200.0,
    burst: 3,
};

/// What using a nickname comes to for this connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Standing {
    /// The connection's identity owns the nickname.
    pub(crate) owns: bool,
    /// Something to tell the client once it has the nickname.
    pub(crate) notice: Option<String>,
}

/// May this connection use `nick`? Claims it for the connection's identity
/// if nobody owns it and the bounds allow. `Err` is the refusal, already
/// answered.
pub(crate) async fn standing(ctx: &mut Context<'_>, nick: &Nick) -> Result<Standing, Next> {
    let config = &ctx.shared.config;
    let unused_ms = duration_ms(config.owned_nick_lapse);
    let key = NickKey::from(nick);
    let Some(identity) = ctx.security.identity().cloned() else {
        let owner = ctx
            .shared
            .store
            .run(move |store, now| store.owner_of(&key, unused_ms, now))
            .await;
        return match owner {
            Ok(Some(_)) => Err(refuse_owned(
                ctx,
                format!(
                    "The nickname {nick} belongs to someone (it is bound to their key); guests cannot use it. Try another."
                ),
            )),
            Ok(None) => Ok(Standing {
                owns: false,
                notice: None,
            }),
            Err(error) => Err(ctx.refuse(ErrorCode::StoreUnavailable, error.explained())),
        };
    };
    let claim = NickClaim {
        nick: nick.to_string(),
        identity,
        max_owned: config.max_owned_nicks,
        unused_ms,
    };
    let max_owned = claim.max_owned;
    let (budget, address) = (Arc::clone(&ctx.shared.claims), ctx.peer);
    // The address's budget is spent only on a new ownership, inside the
    // store's decision, so an owner coming back costs nothing.
    let mut may_add = move || budget.try_take(address, Instant::now());
    let claimed = ctx
        .shared
        .store
        .run(move |store, now| store.claim_nick(&claim, &mut may_add, now))
        .await;
    let notice = match claimed {
        Ok(Claimed::New) => Some(format!(
            "You now own the nickname {nick}: nobody else can use it. /release gives it up."
        )),
        Ok(Claimed::Already) => None,
        Ok(Claimed::Theirs) => {
            let message = format!(
                "The nickname {nick} belongs to someone else (it is bound to their key). Try another."
            );
            return Err(refuse_owned(ctx, message));
        }
        Ok(Claimed::AtLimit) => Some(format!(
            "You use {nick} without owning it: you own {max_owned} nicknames already (/release one to own this)."
        )),
        Ok(Claimed::NotNow) => Some(format!(
            "You use {nick} without owning it: too many nicknames were claimed from your address lately."
        )),
        Err(error) => return Err(ctx.refuse(ErrorCode::StoreUnavailable, error.explained())),
    };
    let owns = matches!(claimed, Ok(Claimed::New | Claimed::Already));
    Ok(Standing { owns, notice })
}

fn refuse_owned(ctx: &mut Context<'_>, message: String) -> Next {
    ctx.refuse(ErrorCode::NickOwned, message)
}

/// `/release [NICK]`: the identity gives up one of its nicknames.
pub(crate) async fn release(ctx: &mut Context<'_>, current: &str, named: Option<&str>) -> Next {
    let Some(identity) = ctx.security.identity().cloned() else {
        let message = "Guests own no nicknames; connect over TLS with your key to own one.";
        return ctx.refuse(ErrorCode::BadRequest, message.to_owned());
    };
    let nick = named.unwrap_or(current).to_owned();
    let key = NickKey::of(&nick);
    let released = ctx
        .shared
        .store
        .run(move |store, _| store.release_nick(&key, Some(&identity)))
        .await;
    match released {
        Ok(true) => ctx.reply(lanchat_shared::ServerMsg::info(format!(
            "You no longer own {nick}; anyone may take it when it is free."
        ))),
        Ok(false) => ctx.refuse(ErrorCode::BadRequest, format!("You do not own {nick}.")),
        Err(error) => ctx.refuse(ErrorCode::StoreUnavailable, error.explained()),
    }
}

fn duration_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
