//! Questions a client may ask: who is here, which rooms there are, which
//! commands there are.

use lanchat_shared::ServerMsg;
use lanchat_shared::command::{self, Scope};

use super::{Context, Member, Next};

/// `/who`: everyone in `room`, or in the current room.
pub(crate) fn who(ctx: &mut Context<'_>, member: &Member, room: Option<&str>) -> Next {
    let room = room.unwrap_or(member.current_room.as_str()).to_owned();
    let users = ctx.shared.hub.users(&room);
    let text = format!("Here in #{room} ({}): {}", users.len(), users.join(", "));
    ctx.reply(ServerMsg::info(text))
}

/// `/rooms`: every room with its head count, the client's own starred.
pub(crate) fn rooms(ctx: &mut Context<'_>, member: &Member) -> Next {
    let mine = member.membership.view().rooms();
    let list: Vec<String> = ctx
        .shared
        .hub
        .rooms()
        .into_iter()
        .map(|(name, count)| {
            let star = if mine.contains(&name) { "*" } else { "" };
            format!("#{name}{star} ({count})")
        })
        .collect();
    let text = format!("Rooms (* = yours): {}", list.join(", "));
    ctx.reply(ServerMsg::info(text))
}

/// `/help`: the commands the server carries out.
pub(crate) fn help(ctx: &mut Context<'_>) -> Next {
    ctx.reply(ServerMsg::info(help_text()))
}

fn help_text() -> String {
    let mut text = "Commands:".to_owned();
    for line in command::help_lines(Scope::Server) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}
