//! Buffers: one conversation each — a room, or the direct messages with one
//! person — with its own scrollback and its own unread and mention counts.

use std::collections::HashMap;

use chrono::NaiveDate;
use lanchat_shared::room_name::LOBBY;

use crate::scrollback::{Entry, EntryKind, Scrollback};

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

    /// The buffer's name where read marks are kept: `#dev`, `@bob`, lower
    /// case, since nicknames ignore case.
    pub fn key(&self) -> String {
        match self {
            BufferName::Room(room) => format!("#{room}"),
            BufferName::Direct(nick) => format!("@{}", nick.to_ascii_lowercase()),
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

/// How much a line matters to someone looking at another buffer, as in
/// weechat's hotlist: comings and goings are low and not unread, messages
/// are unread, mentions and direct messages are highlights (bell, `!`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Activity {
    /// Nothing new, or only what was read before (history seen already,
    /// our own lines, the client's notices).
    #[default]
    None,
    /// Joins, parts and nickname changes.
    Low,
    /// Something somebody said.
    Message,
    /// A mention of our nickname, or a direct message to us.
    Highlight,
}

/// Whether scrolling past the top of a buffer may fetch more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// The server may have older messages.
    Maybe,
    /// A page was asked for and has not come.
    Asked,
    /// An empty page came: this is the oldest the server keeps.
    None,
}

/// A line on its way into a buffer, with what the buffer needs to know
/// beside the entry itself.
#[derive(Debug)]
pub struct Arrival {
    /// The line as it will be shown.
    pub entry: Entry,
    /// How much it matters if the buffer is not shown.
    pub activity: Activity,
    /// Its local calendar day, for the day-change lines.
    pub day: NaiveDate,
    /// The server's message id, for a message: remembered as read once
    /// the buffer is shown, so the same history does not count next time.
    pub id: Option<u64>,
}

/// One conversation.
#[derive(Debug)]
pub struct Buffer {
    /// Which conversation.
    pub name: BufferName,
    /// `name.key()`, made once: it is looked up for every message.
    key: String,
    /// What was said in it.
    pub scrollback: Scrollback,
    /// The most that happened while another buffer was shown.
    pub activity: Activity,
    /// Messages that arrived while another buffer was shown.
    pub unread: usize,
    /// Of those, mentions and direct messages.
    pub highlights: usize,
    /// The newest message id in it, which becomes its read mark when it is
    /// shown.
    newest_id: Option<u64>,
    /// The oldest message id in it: where a page of older history ends.
    pub oldest_id: Option<u64>,
    /// Whether the server has older history for it, as far as we know.
    pub older: Older,
    /// The day of its last line: a line from another day is preceded by
    /// a day-change line.
    last_day: Option<NaiveDate>,
}

/// The buffers, in the order they were opened, which one is shown, and the
/// newest message id read in each (by [`BufferName::key`]).
#[derive(Debug)]
pub struct Buffers {
    list: Vec<Buffer>,
    active: usize,
    /// Read marks: a message at or below its buffer's mark was read before
    /// (perhaps in an earlier run) and neither counts nor rings.
    read: HashMap<String, u64>,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers::with_read_marks(HashMap::new())
    }
}

impl Buffer {
    fn new(name: BufferName) -> Buffer {
        Buffer {
            key: name.key(),
            name,
            scrollback: Scrollback::default(),
            activity: Activity::None,
            unread: 0,
            highlights: 0,
            newest_id: None,
            oldest_id: None,
            older: Older::Maybe,
            last_day: None,
        }
    }
}

impl Buffers {
    /// The lobby, and a buffer for each room that was open in an earlier
    /// run (each room open then has a mark, 0 if nothing was read), with
    /// the read marks of that run.
    pub fn with_read_marks(read: HashMap<String, u64>) -> Buffers {
        let mut rooms: Vec<&str> = read
            .keys()
            .filter_map(|key| key.strip_prefix('#'))
            .collect();
        rooms.sort_unstable();
        let mut buffers = Buffers {
            list: vec![Buffer::new(BufferName::lobby())],
            active: 0,
            read: HashMap::new(),
        };
        for room in rooms {
            buffers.open(BufferName::Room(room.to_owned()));
        }
        buffers.read = read;
        buffers
    }

    /// The marks to keep for the next run: each direct conversation's,
    /// and each open room's (0 if nothing was read), so the rooms open now
    /// are open next time; a room closed is forgotten.
    pub fn marks_to_keep(&self) -> HashMap<String, u64> {
        let mut keep: HashMap<String, u64> = self
            .read
            .iter()
            .filter(|(key, _)| key.starts_with('@'))
            .map(|(key, &id)| (key.clone(), id))
            .collect();
        for buffer in self
            .list
            .iter()
            .filter(|b| matches!(b.name, BufferName::Room(_)))
        {
            let key = buffer.name.key();
            let mark = self.read.get(&key).copied().unwrap_or(0);
            keep.insert(key, mark);
        }
        keep
    }

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

    /// The newest message id read in each buffer, to keep for next time.
    pub fn read_marks(&self) -> &HashMap<String, u64> {
        &self.read
    }

    /// True if message `id` in `name` was read before.
    pub fn was_read(&self, name: &BufferName, id: u64) -> bool {
        self.read.get(&name.key()).is_some_and(|&mark| id <= mark)
    }

    /// The index of the buffer for `name`, opening it if needed.
    pub fn open(&mut self, name: BufferName) -> usize {
        if let Some(index) = self.find(&name) {
            return index;
        }
        self.list.push(Buffer::new(name));
        self.list.len() - 1
    }

    /// The index of the buffer for `name`, if it is open.
    pub fn find(&self, name: &BufferName) -> Option<usize> {
        self.list.iter().position(|b| b.name.same(name))
    }

    /// Shows buffer `index` (if it exists): what is in it is read now.
    pub fn show(&mut self, index: usize) {
        if index < self.list.len() && index != self.active {
            self.list[self.active].scrollback.clear_marker();
            self.active = index;
            let buffer = &mut self.list[index];
            buffer.activity = Activity::None;
            buffer.unread = 0;
            buffer.highlights = 0;
            self.mark_read(index);
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

    /// The next buffer after the shown one, wrapping, with the most
    /// activity (highlights first, then messages, then comings and goings),
    /// if any has some.
    pub fn next_active(&self) -> Option<usize> {
        let count = self.list.len();
        let order = (1..count).map(|step| (self.active + step) % count);
        let best = order.max_by_key(|&i| (self.list[i].activity, std::cmp::Reverse(i)))?;
        (self.list[best].activity > Activity::None).then_some(best)
    }

    /// Closes the buffer for `name`; the lobby stays.
    pub fn close(&mut self, name: &BufferName) {
        if name.same(&BufferName::lobby()) {
            return;
        }
        if let Some(index) = self.find(name) {
            if index == self.active {
                self.show(0);
            }
            self.list.remove(index);
            if self.active > index {
                self.active -= 1;
            }
        }
    }

    /// The direct messages with `old` are now with `new` (who renamed), if
    /// no buffer for `new` is open already.
    pub fn rename(&mut self, old: &BufferName, new: BufferName) {
        if self.find(&new).is_some() {
            return;
        }
        if let Some(index) = self.find(old) {
            self.list[index].key = new.key();
            self.list[index].name = new;
        }
    }

    /// Adds a line to buffer `index`, after a day-change line if it is from
    /// another day than the line before. In a buffer not being shown it
    /// counts by its activity, and the "new messages" marker goes before the
    /// first message; a message read before counts for nothing. True if the
    /// line is new to the user (not a message read before).
    pub fn push(&mut self, index: usize, arrival: Arrival) -> bool {
        let shown = index == self.active;
        let Arrival {
            entry,
            mut activity,
            day,
            id,
        } = arrival;
        let Some(buffer) = self.list.get_mut(index) else {
            return false;
        };
        let read_before = id.is_some_and(|id| self.read.get(&buffer.key).is_some_and(|&m| id <= m));
        if read_before {
            activity = Activity::None;
        }
        if buffer.last_day.is_some_and(|last| last != day) {
            buffer.scrollback.push(day_change(day));
        }
        buffer.last_day = Some(day);
        buffer.newest_id = buffer.newest_id.max(id);
        buffer.oldest_id = match (buffer.oldest_id, id) {
            (Some(oldest), Some(id)) => Some(oldest.min(id)),
            (oldest, id) => oldest.or(id),
        };
        if shown || activity < Activity::Message {
            buffer.scrollback.push(entry);
        } else {
            buffer.scrollback.push_unseen(entry);
            buffer.unread += 1;
            buffer.highlights += usize::from(activity == Activity::Highlight);
        }
        if !shown {
            buffer.activity = buffer.activity.max(activity);
        } else if id.is_some() {
            self.mark_read(index);
        }
        !read_before
    }

    /// Whether buffer `index` may have older history to fetch.
    pub fn set_older(&mut self, index: usize, older: Older) {
        if let Some(buffer) = self.list.get_mut(index) {
            buffer.older = older;
        }
    }

    /// Puts a page of older history before everything in buffer `index`,
    /// `oldest` being its smallest id.
    pub fn prepend(&mut self, index: usize, page: Vec<Entry>, oldest: Option<u64>) {
        let Some(buffer) = self.list.get_mut(index) else {
            return;
        };
        buffer.oldest_id = match (buffer.oldest_id, oldest) {
            (Some(had), Some(new)) => Some(had.min(new)),
            (had, new) => had.or(new),
        };
        buffer.scrollback.prepend(page);
    }

    /// Everything in buffer `index` is read.
    fn mark_read(&mut self, index: usize) {
        let buffer = &self.list[index];
        let Some(newest) = buffer.newest_id else {
            return;
        };
        // Looked up before inserting: this runs for every message shown,
        // and a new key is made only once per buffer.
        match self.read.get_mut(&buffer.key) {
            Some(mark) => *mark = (*mark).max(newest),
            None => {
                self.read.insert(buffer.key.clone(), newest);
            }
        }
    }
}

/// The line that says a new day began, before its first line.
fn day_change(day: NaiveDate) -> Entry {
    Entry {
        time: String::new(),
        kind: EntryKind::Day,
        text: day.format("%A %-d %B %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn june(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, day).expect("a real day")
    }

    /// A line of `activity` on 2 June, with message id `id`.
    fn line(text: &str, activity: Activity, id: Option<u64>) -> Arrival {
        Arrival {
            entry: Entry {
                time: "12:00".into(),
                kind: EntryKind::Info,
                text: text.into(),
            },
            activity,
            day: june(2),
            id,
        }
    }

    fn counts(buffers: &Buffers, index: usize) -> (Activity, usize, usize) {
        let buffer = &buffers.all()[index];
        (buffer.activity, buffer.unread, buffer.highlights)
    }

    #[test]
    fn only_messages_count_as_unread_and_highlights_stand_out_until_shown() {
        let mut buffers = Buffers::default();
        let dev = buffers.open(BufferName::Room("dev".into()));
        assert_eq!(
            buffers.open(BufferName::Room("dev".into())),
            dev,
            "opened once"
        );
        buffers.push(dev, line("bob joined", Activity::Low, None));
        buffers.push(dev, line("bob left", Activity::Low, None));
        assert_eq!(counts(&buffers, dev), (Activity::Low, 0, 0));
        buffers.push(dev, line("a", Activity::Message, Some(1)));
        buffers.push(dev, line("alice?", Activity::Highlight, Some(2)));
        assert_eq!(counts(&buffers, dev), (Activity::Highlight, 2, 1));
        buffers.show(dev);
        assert_eq!(buffers.active().name.label(), "#dev");
        assert_eq!(counts(&buffers, dev), (Activity::None, 0, 0));
        buffers.push(dev, line("c", Activity::Highlight, Some(3)));
        assert_eq!(counts(&buffers, dev), (Activity::None, 0, 0), "shown: read");
        assert_eq!(buffers.read_marks().get("#dev"), Some(&3));
    }

    #[test]
    fn messages_read_before_count_for_nothing() {
        let marks = HashMap::from([("@carol".to_owned(), 7)]);
        let mut buffers = Buffers::with_read_marks(marks);
        let carol = buffers.open(BufferName::Direct("Carol".into()));
        for id in 5..=7 {
            buffers.push(carol, line("old", Activity::Highlight, Some(id)));
        }
        assert!(buffers.was_read(&BufferName::Direct("CAROL".into()), 7));
        assert_eq!(counts(&buffers, carol), (Activity::None, 0, 0));
        buffers.push(carol, line("new", Activity::Highlight, Some(8)));
        assert_eq!(counts(&buffers, carol), (Activity::Highlight, 1, 1));
        assert_eq!(buffers.read_marks().get("@carol"), Some(&7), "not read yet");
        buffers.show(carol);
        assert_eq!(buffers.read_marks().get("@carol"), Some(&8));
    }

    #[test]
    fn a_line_from_another_day_follows_a_day_change_line() {
        let mut buffers = Buffers::default();
        buffers.push(0, line("monday", Activity::Message, Some(1)));
        buffers.push(0, line("still monday", Activity::Message, Some(2)));
        let tuesday = Arrival {
            day: june(3),
            ..line("tuesday", Activity::Message, Some(3))
        };
        buffers.push(0, tuesday);
        let texts = buffers.active().scrollback.visible_texts(80, 10);
        assert_eq!(
            texts,
            ["monday", "still monday", "Tuesday 3 June 2025", "tuesday"]
        );
    }

    #[test]
    fn the_next_active_buffer_is_the_most_active_after_the_shown_one() {
        let mut buffers = Buffers::default();
        let dev = buffers.open(BufferName::Room("dev".into()));
        let ops = buffers.open(BufferName::Room("ops".into()));
        let bob = buffers.open(BufferName::Direct("bob".into()));
        assert_eq!(buffers.next_active(), None, "nothing happened");
        buffers.push(dev, line("joined", Activity::Low, None));
        buffers.push(ops, line("hi", Activity::Message, Some(1)));
        buffers.push(bob, line("psst", Activity::Highlight, Some(2)));
        assert_eq!(buffers.next_active(), Some(bob));
        buffers.show(bob);
        assert_eq!(buffers.next_active(), Some(ops));
        buffers.show(ops);
        assert_eq!(buffers.next_active(), Some(dev));
        buffers.show(dev);
        assert_eq!(buffers.next_active(), None);
    }

    #[test]
    fn a_conversation_follows_its_partners_new_nickname() {
        let mut buffers = Buffers::default();
        let bob = buffers.open(BufferName::Direct("bob".into()));
        buffers.rename(
            &BufferName::Direct("BOB".into()),
            BufferName::Direct("robert".into()),
        );
        assert_eq!(buffers.all()[bob].name.label(), "@robert");
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

    #[test]
    fn the_rooms_open_now_are_open_next_time_and_closed_ones_are_forgotten() {
        let mut buffers = Buffers::default();
        let dev = buffers.open(BufferName::Room("dev".into()));
        buffers.open(BufferName::Room("ops".into()));
        buffers.push(dev, line("hi", Activity::Message, Some(4)));
        buffers.show(dev);
        let bob = buffers.open(BufferName::Direct("Bob".into()));
        buffers.push(bob, line("psst", Activity::Highlight, Some(5)));
        buffers.show(bob);
        buffers.close(&BufferName::Room("ops".into()));
        let kept = buffers.marks_to_keep();
        let expected = HashMap::from([
            ("#lobby".to_owned(), 0),
            ("#dev".to_owned(), 4),
            ("@bob".to_owned(), 5),
        ]);
        assert_eq!(kept, expected);
        let next = Buffers::with_read_marks(kept);
        let labels: Vec<String> = next.all().iter().map(|b| b.name.label()).collect();
        assert_eq!(labels, ["lobby", "#dev"]);
    }
}
