//! Buffers: one conversation each — a room, or the direct messages with one
//! person — with its own scrollback and its own unread and mention counts.

use lanchat_shared::room_name::LOBBY;

use crate::scrollback::{Entry, Scrollback};

/// Which conversation a buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BufferName {
    /// A room, by name (without `#`).
    Room(String),
    /// Direct messages with this nickname.
    Direct(String),
}

impl BufferName {
    /// The lobby, everyone's first room.
    pub fn lobby() -> BufferName {
        BufferName::Room(LOBBY.to_owned())
    }

    /// How the buffer is shown: `lobby`, `#dev`, `@bob`.
    pub fn label(&self) -> String {
        match self {
            BufferName::Room(room) if room == LOBBY => room.clone(),
            BufferName::Room(room) => format!("#{room}"),
            BufferName::Direct(nick) => format!("@{nick}"),
        }
    }

    /// True if both name the same conversation (nicknames ignore case).
    pub fn same(&self, other: &BufferName) -> bool {
        match (self, other) {
            (BufferName::Room(a), BufferName::Room(b)) => a == b,
            (BufferName::Direct(a), BufferName::Direct(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

/// Which way [`Buffers::cycle`] moves through the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The buffer after the shown one (Ctrl-N).
    Next,
    /// The buffer before the shown one (Ctrl-P).
    Previous,
}

/// One conversation.
#[derive(Debug)]
pub struct Buffer {
    /// Which conversation.
    pub name: BufferName,
    /// What was said in it.
    pub scrollback: Scrollback,
    /// Lines that arrived while another buffer was shown.
    pub unread: usize,
    /// Of those, lines that mention the user.
    pub mentions: usize,
}

/// The buffers, in the order they were opened, and which one is shown.
#[derive(Debug)]
pub struct Buffers {
    list: Vec<Buffer>,
    active: usize,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers {
            list: vec![Buffer::new(BufferName::lobby())],
            active: 0,
        }
    }
}

impl Buffer {
    fn new(name: BufferName) -> Buffer {
        Buffer {
            name,
            scrollback: Scrollback::default(),
            unread: 0,
            mentions: 0,
        }
    }
}

impl Buffers {
    /// All buffers, in order.
    pub fn all(&self) -> &[Buffer] {
        &self.list
    }

    /// The index of the shown buffer.
    pub fn active_index(&self) -> usize {
        self.active
    }

    /// The shown buffer.
    pub fn active(&self) -> &Buffer {
        &self.list[self.active]
    }

    /// The shown buffer, to change.
    pub fn active_mut(&mut self) -> &mut Buffer {
        &mut self.list[self.active]
    }

    /// The index of the buffer for `name`, opening it if needed.
    pub fn open(&mut self, name: BufferName) -> usize {
        if let Some(index) = self.list.iter().position(|b| b.name.same(&name)) {
            return index;
        }
        self.list.push(Buffer::new(name));
        self.list.len() - 1
    }

    /// Shows buffer `index` (if it exists): its counts are read now.
    pub fn show(&mut self, index: usize) {
        if index < self.list.len() && index != self.active {
            self.list[self.active].scrollback.clear_marker();
            self.active = index;
            let buffer = &mut self.list[index];
            buffer.unread = 0;
            buffer.mentions = 0;
        }
    }

    /// Shows the next or previous buffer, wrapping around the ends.
    pub fn cycle(&mut self, direction: Direction) {
        let count = self.list.len();
        let next = match direction {
            Direction::Next => (self.active + 1) % count,
            Direction::Previous => (self.active + count - 1) % count,
        };
        self.show(next);
    }

    /// Closes the buffer for `name`; the lobby stays.
    pub fn close(&mut self, name: &BufferName) {
        if name.same(&BufferName::lobby()) {
            return;
        }
        if let Some(index) = self.list.iter().position(|b| b.name.same(name)) {
            if index == self.active {
                self.show(0);
            }
            self.list.remove(index);
            if self.active > index {
                self.active -= 1;
            }
        }
    }

    /// Adds a line to buffer `index`. In a buffer not being shown it counts
    /// as unread, and the "new messages" marker goes before the first one.
    pub fn push(&mut self, index: usize, entry: Entry, mention: bool) {
        let shown = index == self.active;
        let Some(buffer) = self.list.get_mut(index) else {
            return;
        };
        if shown {
            buffer.scrollback.push(entry);
        } else {
            buffer.scrollback.push_unseen(entry);
            buffer.unread += 1;
            buffer.mentions += usize::from(mention);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrollback::EntryKind;

    fn line(text: &str) -> Entry {
        Entry {
            time: "12:00".into(),
            kind: EntryKind::Info,
            text: text.into(),
        }
    }

    #[test]
    fn lines_in_hidden_buffers_count_as_unread_until_shown() {
        let mut buffers = Buffers::default();
        let dev = buffers.open(BufferName::Room("dev".into()));
        assert_eq!(
            buffers.open(BufferName::Room("dev".into())),
            dev,
            "opened once"
        );
        buffers.push(dev, line("a"), false);
        buffers.push(dev, line("b"), true);
        assert_eq!(
            (buffers.all()[dev].unread, buffers.all()[dev].mentions),
            (2, 1)
        );
        buffers.show(dev);
        assert_eq!(buffers.active().name.label(), "#dev");
        assert_eq!((buffers.active().unread, buffers.active().mentions), (0, 0));
        buffers.push(dev, line("c"), true);
        assert_eq!(buffers.active().unread, 0, "shown lines are read");
    }

    #[test]
    fn cycling_wraps_and_closing_keeps_the_lobby() {
        let mut buffers = Buffers::default();
        buffers.open(BufferName::Room("dev".into()));
        let bob = buffers.open(BufferName::Direct("Bob".into()));
        assert_eq!(
            buffers.open(BufferName::Direct("bob".into())),
            bob,
            "nicknames ignore case"
        );
        buffers.cycle(Direction::Previous);
        assert_eq!(buffers.active().name.label(), "@Bob");
        buffers.cycle(Direction::Next);
        assert_eq!(buffers.active().name.label(), "lobby");
        buffers.show(bob);
        buffers.close(&BufferName::Direct("bob".into()));
        assert_eq!(buffers.active().name.label(), "lobby");
        buffers.close(&BufferName::lobby());
        assert_eq!(buffers.all().len(), 2);
    }
}
