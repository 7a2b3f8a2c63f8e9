//! The server password (`--password`): a shared secret asked for before a
//! client may join. JSON clients send it as `password` in `hello`; a
//! plain-text client is asked for it on the line after its nickname.
//!
//! A wrong password is answered with `bad_password`; the third on one
//! connection closes it, and an address that keeps guessing
//! ([`WRONG_PASSWORDS`]) is turned away at once for a while. Passwords are
//! compared by their SHA-256 digests, byte by byte without stopping early,
//! so the time taken says nothing about how much of a guess was right.

use std::time::Instant;

use lanchat_shared::{ErrorCode, Rate, ServerMsg};
use sha2::{Digest, Sha256};

use super::{Context, LeaveReason, Next};
use crate::dialect::PasswordComes;
use crate::request::Hello;

/// Wrong passwords one connection may send; the next closes it.
const TRIES_PER_CONNECTION: u32 = 3;

/// Wrong passwords one address may send: ten, then one a minute.
pub(crate) const WRONG_PASSWORDS: Rate = Rate {
    per_sec: 1.0 / 60.0,
    burst: 10,
};

/// What a `hello` comes to at the password gate.
#[derive(Debug)]
pub(crate) enum Gate {
    /// No password is needed, or this one is right: go on with the hello.
    Pass(Hello),
    /// The client was answered (asked, or told it was wrong); the hello,
    /// if a plain-text client will send the password on the next line.
    Answered(Next, Option<Hello>),
}

/// Checks `hello` against the server's password. `wrong` counts this
/// connection's wrong passwords so far.
pub(crate) fn check(ctx: &mut Context<'_>, hello: Hello, wrong: &mut u32) -> Gate {
    let Some(expected) = ctx.shared.config.password.as_ref() else {
        return Gate::Pass(hello);
    };
    let Some(given) = hello.password.as_deref() else {
        return ask(ctx, hello);
    };
    if same_secret(given, expected.expose()) {
        return Gate::Pass(hello);
    }
    *wrong += 1;
    let address_may_guess = ctx
        .shared
        .wrong_passwords
        .try_take(ctx.peer, Instant::now());
    if *wrong >= TRIES_PER_CONNECTION || !address_may_guess {
        let message = "Wrong password too many times; closing the connection.";
        let _ = ctx.refuse(ErrorCode::BadPassword, message);
        return Gate::Answered(Next::End(LeaveReason::BadPassword), None);
    }
    let next = ctx.refuse(ErrorCode::BadPassword, "Wrong password; try again.");
    Gate::Answered(next, retry(ctx, hello))
}

/// Asks for the password: a plain-text client on its next line, a JSON
/// client in its `hello`.
fn ask(ctx: &mut Context<'_>, hello: Hello) -> Gate {
    match ctx.dialect().password_comes() {
        PasswordComes::OnItsOwnLine => {
            let prompt = "This server needs a password: type it and press Enter.";
            Gate::Answered(ctx.reply(ServerMsg::info(prompt)), Some(hello))
        }
        PasswordComes::InHello => {
            let message = "This server needs a password: send it as \"password\" in hello.";
            Gate::Answered(ctx.refuse(ErrorCode::BadPassword, message), None)
        }
        PasswordComes::WithPass => {
            let message = "This server needs a password: give it with PASS before NICK \
                           (irssi: /connect HOST PORT PASSWORD).";
            Gate::Answered(ctx.refuse(ErrorCode::BadPassword, message), None)
        }
    }
}

/// The hello to complete with the next line, for a plain-text client.
fn retry(ctx: &Context<'_>, hello: Hello) -> Option<Hello> {
    let again = Hello {
        password: None,
        ..hello
    };
    (ctx.dialect().password_comes() == PasswordComes::OnItsOwnLine).then_some(again)
}

/// Compares two secrets in time that depends on neither.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0_u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        assert!(same_secret("hunter2", "hunter2"));
        assert!(!same_secret("hunter2", "hunter3"));
        assert!(!same_secret("", "hunter2"));
        assert!(!same_secret("hunter2 ", "hunter2"));
    }
}
