//! Before a client is in: capability negotiation (`CAP`), `NICK`, `USER`
//! and `PASS`, which together become the session's hello.
//!
//! Registration follows Modern IRC: the hello is sent once both `NICK`
//! and `USER` came, and, if the client started negotiating capabilities,
//! once it said `CAP END`. A hello the session refuses (a nickname taken
//! or owned) leaves the client unregistered, to try another `NICK`.

use lanchat_shared::irc::{Message, from_irc_nick};

use super::{CAPABILITIES, Irc, Sasl, State};
use crate::request::{Hello, Request};

impl Irc {
    /// `CAP LS`, `REQ`, `LIST` and `END`.
    pub(super) fn cap(&self, state: &mut State, message: &Message) -> Request {
        let subcommand = message.param(0).unwrap_or_default().to_ascii_uppercase();
        let registered = state.me.is_some();
        let reply = match subcommand.as_str() {
            "LS" => {
                state.negotiating |= !registered;
                // Version 302 and later read values: the SASL mechanisms.
                let values = message.param(1).and_then(|v| v.parse::<u32>().ok()) >= Some(302);
                let list: Vec<&str> = CAPABILITIES
                    .iter()
                    .map(|&cap| {
                        if values && cap == "sasl" {
                            "sasl=EXTERNAL"
                        } else {
                            cap
                        }
                    })
                    .collect();
                self.cap_reply(state, "LS", &list.join(" "))
            }
            "REQ" => {
                state.negotiating |= !registered;
                self.cap_request(state, message.param(1).unwrap_or_default())
            }
            "LIST" => self.cap_reply(state, "LIST", &state.caps.enabled()),
            "END" => {
                let was = std::mem::take(&mut state.negotiating);
                return if was && !registered {
                    self.hello_if_ready(state)
                } else {
                    Request::Answer(Default::default())
                };
            }
            _ => {
                let shown = if subcommand.is_empty() {
                    "*"
                } else {
                    &subcommand
                };
                self.numeric(state, "410", &[shown, "Invalid CAP command"])
            }
        };
        Request::Answer(reply.into())
    }

    /// `CAP REQ`: all the capabilities asked for, or none (Modern IRC).
    fn cap_request(&self, state: &mut State, asked: &str) -> Vec<u8> {
        let changes: Vec<(&str, bool)> = asked
            .split_ascii_whitespace()
            .map(|cap| match cap.strip_prefix('-') {
                Some(name) => (name, false),
                None => (cap, true),
            })
            .collect();
        let mut caps = state.caps;
        let known = changes.iter().all(|(name, on)| match caps.flag(name) {
            Some(flag) => {
                *flag = *on;
                true
            }
            None => false,
        });
        if known && !changes.is_empty() {
            state.caps = caps;
            self.cap_reply(state, "ACK", asked.trim())
        } else {
            self.cap_reply(state, "NAK", asked.trim())
        }
    }

    fn cap_reply(&self, state: &State, subcommand: &str, list: &str) -> Vec<u8> {
        let message = Message::new("CAP")
            .with_source(&self.server)
            .with_param(state.target())
            .with_param(subcommand)
            .with_param(list);
        self.line(&message)
    }

    /// `PING TOKEN`, before registering or after: `PONG` with the token.
    pub(super) fn pong(&self, message: &Message) -> Request {
        let token = message.param(0).unwrap_or(&self.server);
        let pong = Message::new("PONG")
            .with_source(&self.server)
            .with_param(&self.server)
            .with_param(token);
        Request::Answer(self.line(&pong).into())
    }

    /// `AUTHENTICATE` (SASL): only EXTERNAL, which confirms the identity
    /// the client certificate already gave. It changes nothing else: a
    /// certificate is an identity with or without it.
    pub(super) fn authenticate(&self, state: &mut State, message: &Message) -> Request {
        let said = message.param(0).unwrap_or_default();
        let reply = match (state.sasl, said) {
            (Sasl::Done, _) => self.numeric(state, "907", &["You have already authenticated"]),
            (_, "*") => {
                state.sasl = Sasl::NotAsked;
                self.numeric(state, "906", &["SASL authentication aborted"])
            }
            (Sasl::NotAsked, mechanism) if mechanism.eq_ignore_ascii_case("EXTERNAL") => {
                match self.identity {
                    Some(_) => {
                        state.sasl = Sasl::Started;
                        self.line(&Message::new("AUTHENTICATE").with_param("+"))
                    }
                    None => self.sasl_failed(state, "no client certificate was presented"),
                }
            }
            (Sasl::NotAsked, _) => {
                let mut reply =
                    self.numeric(state, "908", &["EXTERNAL", "are available SASL mechanisms"]);
                reply.extend(self.sasl_failed(state, "only EXTERNAL is offered"));
                reply
            }
            (Sasl::Started, _) => self.sasl_done(state),
        };
        Request::Answer(reply.into())
    }

    fn sasl_failed(&self, state: &State, why: &str) -> Vec<u8> {
        self.numeric(
            state,
            "904",
            &[&format!("SASL authentication failed: {why}")],
        )
    }

    /// `900` (logged in as the key's fingerprint) and `903`.
    fn sasl_done(&self, state: &mut State) -> Vec<u8> {
        state.sasl = Sasl::Done;
        let account = self
            .identity
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let nick = state.wanted_nick.clone().unwrap_or_else(|| "*".to_owned());
        let mask = format!("{nick}!{nick}@lanchat");
        let words = format!("You are now logged in as {account}");
        let mut reply = self.numeric(state, "900", &[&mask, &account, &words]);
        reply.extend(self.numeric(state, "903", &["SASL authentication successful"]));
        reply
    }

    /// `NICK`, `USER` and `PASS` before registering; anything else is
    /// `451` (irssi sends `JOIN :` that early: an answer, not a bad line).
    pub(super) fn register(&self, state: &mut State, message: &Message) -> Request {
        let reply = match (message.command.as_str(), message.param(0)) {
            ("AUTHENTICATE", _) => return self.authenticate(state, message),
            ("NICK", Some(nick)) if !nick.is_empty() => {
                state.wanted_nick = Some(nick.to_owned());
                return self.hello_if_ready(state);
            }
            ("NICK", _) => self.numeric(state, "431", &["No nickname given"]),
            ("USER", _) if message.params.len() < 4 => {
                self.numeric(state, "461", &["USER", "Not enough parameters"])
            }
            ("USER", _) => {
                state.user_given = true;
                return self.hello_if_ready(state);
            }
            ("PASS", Some(password)) => {
                state.password = Some(password.to_owned());
                return Request::Answer(Default::default());
            }
            ("PASS", None) => self.numeric(state, "461", &["PASS", "Not enough parameters"]),
            _ => self.numeric(state, "451", &["You have not registered"]),
        };
        Request::Answer(reply.into())
    }

    /// The hello, once `NICK`, `USER` and the end of negotiation are in;
    /// `432` for a nickname lanchat cannot carry.
    fn hello_if_ready(&self, state: &mut State) -> Request {
        let Some(wanted) = state.wanted_nick.clone() else {
            return Request::Answer(Default::default());
        };
        if !state.user_given || state.negotiating {
            return Request::Answer(Default::default());
        }
        match from_irc_nick(&wanted) {
            Ok(nick) => Request::Hello(Hello {
                password: state.password.clone(),
                ..Hello::nick(nick.as_str())
            }),
            Err(error) => {
                let reason = format!("Erroneous nickname: {error}");
                Request::Answer(self.numeric(state, "432", &[&wanted, &reason]).into())
            }
        }
    }
}
