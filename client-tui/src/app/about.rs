//! What the client says about the connection's protection: `/info`, and
//! why it stopped dialling. Plain text from `&App`, so each is tested
//! without a terminal.

use lanchat_shared::{ErrorCode, sanitize_text};

use super::{App, Connection};
use crate::dial::{Protection, Trusted};
use crate::event::Stop;
use crate::trust::key_changed_warning;

/// `/info`: the server, how we are connected to it, and who we are to it.
pub(super) fn info(app: &App) -> String {
    let server = match &app.server_name {
        Some(name) => format!("Server: {name} at {}", app.server),
        None => format!("Server: {}", app.server),
    };
    let state = match &app.connection {
        Connection::Online => "online",
        Connection::Connecting { .. } => "connecting",
        Connection::Offline { .. } => "offline, will reconnect",
        Connection::Ended => "the room has ended",
        Connection::Stopped(_) => "no longer connecting (see above)",
    };
    let (connection, you) = match &app.protection {
        Protection::Plain => (
            "Connection: plain TCP (--plain), not encrypted: anyone on the network can read \
             it, and the server takes you for a guest."
                .to_owned(),
            format!(
                "You: {}, a guest: you have no identity on this connection.",
                app.nick
            ),
        ),
        Protection::Encrypted {
            server_key,
            trusted,
            identity,
        } => {
            let why = match trusted {
                Trusted::Pinned => "the key you trusted when you first joined (in known_servers)",
                Trusted::OwnRoom => "the key of the room you host here",
            };
            let owning = if app.owns_nick {
                "your identity owns this nickname: nobody else can use it"
            } else {
                "your identity does not own this nickname"
            };
            (
                format!(
                    "Connection: encrypted (TLS 1.3); the server's key is {server_key}, {why}."
                ),
                format!("You: {}; your identity is {identity}; {owning}.", app.nick),
            )
        }
    };
    format!("{server} ({state})\n{connection}\n{you}")
}

/// Why the client stopped dialling, and what the user can do about it.
pub(super) fn stopped(app: &App, stop: &Stop) -> String {
    let (code, message) = match stop {
        Stop::KeyChanged { pinned, presented } => {
            let warning = key_changed_warning(&app.server, pinned, presented);
            return format!("{warning} Ctrl-C quits.");
        }
        Stop::Refused { code, message } => (code, sanitize_text(message)),
    };
    let way_out = match (code, &app.protection) {
        (ErrorCode::BadPassword, _) => {
            "Start lanchat again with --password (or LANCHAT_PASSWORD set) to give the server's \
             password."
                .to_owned()
        }
        (ErrorCode::NotAllowed, Protection::Encrypted { identity, .. }) => format!(
            "Your identity is {identity} (`lanchat --fingerprint` prints it): the server's \
             operator can add it to the server's --allow file."
        ),
        (ErrorCode::NotAllowed, Protection::Plain) => {
            "Over plain TCP you are a guest, and an allow list admits no guests: join without \
             --plain."
                .to_owned()
        }
        (ErrorCode::TlsRequired, _) => {
            "Start lanchat without --plain: it connects with TLS by default.".to_owned()
        }
        _ => String::new(),
    };
    format!("{message} {way_out} The client no longer connects; Ctrl-C quits.")
}
