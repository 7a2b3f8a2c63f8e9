//! Who is in each room: the lobby from the welcome, other rooms from the
//! server's `/who` answer when we enter them, and every room kept up to
//! date by joins, leaves and renames. The user list (F2), the head count
//! and Tab completion read the room shown.
//!
//! Also who is a guest: everyone is in the lobby, and the welcome, every
//! join and every rename say whether that person's identity owns the
//! nickname, so anyone present who does not is shown as `~nick`.

use std::collections::{HashMap, HashSet};

use lanchat_shared::room_name::LOBBY;

/// The people of every room we know of, each list sorted ignoring case.
#[derive(Debug, Default)]
pub struct People {
    rooms: HashMap<String, Vec<String>>,
    /// Rooms whose `/who` the client asked for itself: the answer fills the
    /// list and is not shown, since the user did not ask.
    asked: HashSet<String>,
    /// The nicknames (lowercase) whose holder's identity owns them, as the
    /// server last said.
    owners: HashSet<String>,
    /// Those away (lowercase), with their messages when known.
    away: HashMap<String, String>,
    /// Who keeps order in each room (lowercase), from its last `/who` and
    /// the `role` events since.
    operators: HashMap<String, HashSet<String>>,
    /// The room of the last `/who` answer read, which its `Operators:`
    /// line is about.
    last_who: Option<String>,
}

impl People {
    /// The people in `room`, sorted ignoring case; empty if unknown.
    pub fn of(&self, room: &str) -> &[String] {
        self.rooms.get(room).map_or(&[], Vec::as_slice)
    }

    /// The lobby's people, as the welcome lists them; other rooms are
    /// forgotten until asked again, and so is who owns and who is away
    /// until [`People::mark`] says.
    pub fn welcome(&mut self, lobby: Vec<String>) {
        self.rooms.clear();
        self.asked.clear();
        self.owners.clear();
        self.away.clear();
        self.set(LOBBY, lobby);
    }

    /// Which of the people own their nicknames, and which are away (their
    /// messages unknown until asked), as the welcome says.
    pub fn mark(&mut self, owners: &[String], away: &[String]) {
        self.owners = owners
            .iter()
            .map(|nick| nick.to_ascii_lowercase())
            .collect();
        self.away = away
            .iter()
            .map(|nick| (nick.to_ascii_lowercase(), "away".to_owned()))
            .collect();
    }

    /// `nick` went away with `message`, or (`None`) came back.
    pub fn set_away(&mut self, nick: &str, message: Option<&str>) {
        let key = nick.to_ascii_lowercase();
        match message {
            Some(message) => self.away.insert(key, message.to_owned()),
            None => self.away.remove(&key),
        };
    }

    /// `nick`'s away message, if they are away.
    pub fn away(&self, nick: &str) -> Option<&str> {
        self.away
            .get(&nick.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Reads the `Away: bob (lunch), carol (away)` line of a `/who` answer;
    /// false if `line` is not one.
    pub fn read_away_line(&mut self, line: &str) -> bool {
        let Some(list) = line.strip_prefix("Away: ") else {
            return false;
        };
        for entry in list.split(", ") {
            if let Some((nick, message)) = entry.split_once(" (") {
                self.set_away(nick, Some(message.trim_end_matches(')')));
            }
        }
        true
    }

    /// True if `nick` is here and is a guest, or uses a nickname nobody
    /// owns: anyone could be using that name.
    pub fn is_guest(&self, nick: &str) -> bool {
        let here = self.of(LOBBY).iter().any(|u| u.eq_ignore_ascii_case(nick));
        here && !self.owners.contains(&nick.to_ascii_lowercase())
    }

    /// `nick` as shown: `~nick` for a guest (see [`People::is_guest`]).
    pub fn shown(&self, nick: &str) -> String {
        if self.is_guest(nick) {
            format!("~{nick}")
        } else {
            nick.to_owned()
        }
    }

    /// Notes whether `nick`'s identity owns it, as a join or rename says.
    pub fn set_owned(&mut self, nick: &str, owned: bool) {
        let key = nick.to_ascii_lowercase();
        if owned {
            self.owners.insert(key);
        } else {
            self.owners.remove(&key);
        }
    }

    /// Notes that the client asked for `room`'s people.
    pub fn asked_for(&mut self, room: &str) {
        self.asked.insert(room.to_owned());
    }

    /// Reads a `/who` answer (`Here in #dev (2): alice, bob`) into the
    /// room's list. True if the client asked for it, so it need not be
    /// shown.
    pub fn read_who(&mut self, text: &str, clean: impl Fn(&str) -> String) -> bool {
        let Some((room, names)) = parse_who(text) else {
            return false;
        };
        let names = names.iter().map(|name| clean(name)).collect();
        self.set(room, names);
        self.operators.remove(room);
        self.last_who = Some(room.to_owned());
        self.asked.remove(room)
    }

    /// Reads the `Operators: alice, bob` line of a `/who` answer, about the
    /// room of the answer's first line; false if `line` is not one.
    pub fn read_operators_line(&mut self, line: &str) -> bool {
        let (Some(list), Some(room)) = (line.strip_prefix("Operators: "), &self.last_who) else {
            return false;
        };
        let nicks = list.split(", ").map(str::to_ascii_lowercase).collect();
        self.operators.insert(room.clone(), nicks);
        true
    }

    /// True if `nick` keeps order in `room` (an operator or an admin), as
    /// its last `/who` said.
    pub fn is_operator(&self, room: &str, nick: &str) -> bool {
        self.operators
            .get(room)
            .is_some_and(|nicks| nicks.contains(&nick.to_ascii_lowercase()))
    }

    /// `nick` keeps order in `room` now (`operator`), or no longer does,
    /// as a `role` event says.
    pub fn set_operator(&mut self, room: &str, nick: &str, operator: bool) {
        let key = nick.to_ascii_lowercase();
        let operators = self.operators.entry(room.to_owned()).or_default();
        if operator {
            operators.insert(key);
        } else {
            operators.remove(&key);
        }
    }

    /// `nick` entered `room`.
    pub fn arrive(&mut self, room: &str, nick: &str) {
        let list = self.rooms.entry(room.to_owned()).or_default();
        if !list.iter().any(|u| u.eq_ignore_ascii_case(nick)) {
            list.push(nick.to_owned());
            sort(list);
        }
    }

    /// `nick` left `room` (the lobby: the server, so no longer away).
    pub fn leave(&mut self, room: &str, nick: &str) {
        if let Some(list) = self.rooms.get_mut(room) {
            list.retain(|u| !u.eq_ignore_ascii_case(nick));
        }
        // A role is the identity's: it comes back with them, in a `role`.
        if let Some(operators) = self.operators.get_mut(room) {
            operators.remove(&nick.to_ascii_lowercase());
        }
        if room == LOBBY {
            self.away.remove(&nick.to_ascii_lowercase());
        }
    }

    /// We left `room`: its people are no longer ours to know.
    pub fn forget(&mut self, room: &str) {
        self.rooms.remove(room);
        self.operators.remove(room);
    }

    /// `old` is now called `new`, in every room.
    pub fn rename(&mut self, old: &str, new: &str) {
        for list in self.rooms.values_mut() {
            for user in list.iter_mut() {
                if user.eq_ignore_ascii_case(old) {
                    new.clone_into(user);
                }
            }
            sort(list);
        }
        // A role belongs to the identity, which a new name keeps.
        let (old, new) = (old.to_ascii_lowercase(), new.to_ascii_lowercase());
        for operators in self.operators.values_mut() {
            if operators.remove(&old) {
                operators.insert(new.clone());
            }
        }
    }

    fn set(&mut self, room: &str, mut names: Vec<String>) {
        sort(&mut names);
        self.rooms.insert(room.to_owned(), names);
    }
}

fn sort(users: &mut [String]) {
    users.sort_by_key(|u| u.to_ascii_lowercase());
}

/// The room and names of the server's `/who` answer.
fn parse_who(text: &str) -> Option<(&str, Vec<&str>)> {
    let rest = text.strip_prefix("Here in #")?;
    let (room, rest) = rest.split_once(" (")?;
    let (_, names) = rest.split_once("): ")?;
    Some((room, names.split(", ").filter(|n| !n.is_empty()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_kept_by_who_answers_and_presence() {
        let mut people = People::default();
        people.welcome(vec!["bob".into(), "alice".into()]);
        assert_eq!(people.of(LOBBY), ["alice", "bob"]);
        people.asked_for("dev");
        assert!(people.read_who("Here in #dev (2): carol, alice", str::to_owned));
        assert!(
            !people.read_who("Here in #dev (1): alice", str::to_owned),
            "asked once, shown the next time"
        );
        people.arrive("dev", "Dave");
        people.rename("dave", "david");
        people.leave("dev", "ALICE");
        assert_eq!(people.of("dev"), ["david"]);
        assert!(!people.read_who("You are in #dev.", str::to_owned));
        people.forget("dev");
        assert!(people.of("dev").is_empty());
    }

    #[test]
    fn roles_follow_role_events_renames_and_leaves() {
        let mut people = People::default();
        people.welcome(vec!["alice".into(), "bob".into()]);
        people.arrive("dev", "alice");
        people.set_operator("dev", "Alice", true);
        assert!(people.is_operator("dev", "alice"));
        assert!(!people.is_operator(LOBBY, "alice"), "one room's role only");
        people.rename("alice", "ally");
        assert!(people.is_operator("dev", "ally") && !people.is_operator("dev", "alice"));
        people.set_operator("dev", "ally", false);
        assert!(!people.is_operator("dev", "ally"));
        people.set_operator("dev", "bob", true);
        people.leave("dev", "bob");
        assert!(!people.is_operator("dev", "bob"), "told again when back");
    }

    #[test]
    fn those_who_do_not_own_their_nickname_are_shown_as_guests() {
        let mut people = People::default();
        people.welcome(vec!["alice".into(), "bob".into()]);
        people.mark(&["Alice".into()], &[]);
        assert_eq!(
            (people.shown("alice"), people.shown("bob")),
            ("alice".into(), "~bob".into())
        );
        people.arrive(LOBBY, "carol");
        people.set_owned("carol", true);
        people.rename("bob", "bobby");
        people.set_owned("bobby", true);
        assert!(!people.is_guest("CAROL") && !people.is_guest("bobby"));
        people.leave(LOBBY, "carol");
        assert_eq!(people.shown("carol"), "carol", "not here: nothing known");
        people.arrive(LOBBY, "carol");
        people.set_owned("carol", false);
        assert!(people.is_guest("carol"), "a guest took the free nickname");
    }

    #[test]
    fn the_operators_line_of_a_who_answer_marks_that_rooms_operators() {
        let mut people = People::default();
        people.welcome(vec!["alice".into()]);
        assert!(
            !people.read_operators_line("Operators: alice"),
            "no room yet"
        );
        people.read_who("Here in #dev (2): alice, bob", str::to_owned);
        assert!(people.read_operators_line("Operators: Alice"));
        assert!(people.is_operator("dev", "alice") && !people.is_operator("dev", "bob"));
        assert!(!people.is_operator("lobby", "alice"), "per room");
        people.read_who("Here in #dev (2): alice, bob", str::to_owned);
        assert!(
            !people.is_operator("dev", "alice"),
            "a new answer starts over"
        );
    }
}
