//! Changing nickname.

use lanchat_shared::{ErrorCode, Nick};
use tracing::info;

use super::{Context, LeaveReason, Member, Next, online, owners};
use crate::domain::NickKey;
use crate::hub::Refusal;

/// Takes the nickname `wanted`; everyone sharing a room hears of it (the
/// client too, by the `nick` event).
pub(crate) async fn rename(ctx: &mut Context<'_>, member: &mut Member, wanted: &str) -> Next {
    let new = match Nick::parse(wanted) {
        Ok(new) => new,
        Err(error) => return ctx.refuse(ErrorCode::NickInvalid, format!("{error}.")),
    };
    let standing = match owners::standing(ctx, &new).await {
        Ok(standing) => standing,
        Err(refused) => return refused,
    };
    let holder = (&member.token, standing.owns);
    if let Err(refused) = online::claim(ctx, &new, holder, false).await {
        return refused;
    }
    // Messages sent under the old nickname are published under it, echo
    // included, before anyone hears of the new one.
    ctx.settle().await;
    match member.membership.rename(new.clone(), standing.owns) {
        Ok(old) => {
            info!(%old, %new, owner = standing.owns, "renamed");
            let connection = member.membership.connection();
            online::confirm(ctx, &new, &member.token, standing.owns, connection);
            // A change of case only is the same nickname, still held.
            if NickKey::of(&old) != NickKey::from(&new) {
                online::release(ctx.shared, &old, connection);
            }
            ctx.save_session(member);
            match standing.notice {
                Some(notice) => ctx.reply(lanchat_shared::ServerMsg::info(notice)),
                None => Next::Read,
            }
        }
        // Taken here, by a connection of this server, which keeps the
        // nickname among the servers.
        Err(Refusal::NickTaken) => ctx.refuse(
            ErrorCode::NickTaken,
            format!("The nickname {new} is taken."),
        ),
        // A newer connection has this session; this one is being closed.
        Err(_reclaimed) => Next::End(LeaveReason::Reclaimed),
    }
}
