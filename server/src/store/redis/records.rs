//! What Redis keeps besides messages: sessions, owned nicknames, rooms and
//! bans, with the same limits as the SQLite store's.

use std::collections::HashMap;

use lanchat_shared::Fingerprint;
use serde::{Deserialize, Serialize};

use super::Link;
use super::scripts::Scripts;
use crate::store::{
    Ban, BanTarget, Claimed, MAX_ROOM_OPERATORS, NickClaim, NickKey, OperatorChange, Privacy,
    RoomRecord, SessionRecord, SessionToken, StoreError, Topic,
};

/// Sessions unused for this long are forgotten at the next retention pass
/// (as in SQLite).
const SESSION_DAYS: u64 = 30;
/// Sessions kept at most, the most recently used.
const MAX_SESSIONS: u64 = 100_000;
/// Nicknames owned at most, server-wide.
const MAX_OWNERS: u64 = 100_000;
/// Rooms recorded at most.
const MAX_ROOMS: u64 = 100_000;
/// Streams trimmed by one script call: retention visits every room's and
/// identity's stream, a few hundred at a time, so Redis never runs one
/// long script.
const TRIM_BATCH: usize = 256;

pub(super) fn save_session(
    link: &mut Link,
    session: &SessionRecord,
    now_ms: u64,
) -> Result<(), StoreError> {
    let key = format!("lanchat:session:{}", session.token.as_str());
    let identity = session
        .identity
        .as_ref()
        .map_or_else(String::new, Fingerprint::to_string);
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("HSET")
        .arg(&key)
        .arg("nick")
        .arg(&session.nick)
        .arg("rooms")
        .arg(session.rooms.join(","))
        .arg("identity")
        .arg(identity)
        .ignore()
        .cmd("ZADD")
        .arg("lanchat:sessions")
        .arg(now_ms)
        .arg(session.token.as_str())
        .ignore();
    link.run("cannot save the session", |c| pipe.query::<()>(c))
}

pub(super) fn load_session(
    link: &mut Link,
    token: &SessionToken,
) -> Result<Option<SessionRecord>, StoreError> {
    let key = format!("lanchat:session:{}", token.as_str());
    let fields: HashMap<String, String> = link.read("cannot read the session", |c| {
        redis::cmd("HGETALL").arg(&key).query(c)
    })?;
    let Some(nick) = fields.get("nick") else {
        return Ok(None);
    };
    let rooms = fields.get("rooms").map_or("", String::as_str);
    Ok(Some(SessionRecord {
        token: token.clone(),
        nick: nick.clone(),
        rooms: SessionRecord::rooms_from(rooms),
        identity: fields
            .get("identity")
            .and_then(|identity| Fingerprint::parse(identity).ok()),
    }))
}

/// Forgets sessions unused for [`SESSION_DAYS`], and the least recently
/// used beyond [`MAX_SESSIONS`], a thousand at a time until none is left.
pub(super) fn forget_sessions(link: &mut Link, now_ms: u64) -> Result<(), StoreError> {
    while forget_some_sessions(link, now_ms)? {}
    Ok(())
}

/// Forgets up to a thousand sessions of each kind; true if it forgot any.
fn forget_some_sessions(link: &mut Link, now_ms: u64) -> Result<bool, StoreError> {
    let doing = "cannot forget old sessions";
    let cutoff = now_ms.saturating_sub(SESSION_DAYS * 86_400_000);
    let mut old: Vec<String> = link.run(doing, |c| {
        redis::cmd("ZRANGEBYSCORE")
            .arg("lanchat:sessions")
            .arg("-inf")
            .arg(format!("({cutoff}"))
            .arg("LIMIT")
            .arg(0)
            .arg(1000)
            .query(c)
    })?;
    let count: u64 = link.run(doing, |c| {
        redis::cmd("ZCARD").arg("lanchat:sessions").query(c)
    })?;
    let beyond = count.saturating_sub(MAX_SESSIONS).min(1000);
    if beyond > 0 {
        let oldest: Vec<String> = link.run(doing, |c| {
            redis::cmd("ZRANGE")
                .arg("lanchat:sessions")
                .arg(0)
                .arg(beyond - 1)
                .query(c)
        })?;
        old.extend(oldest);
    }
    if old.is_empty() {
        return Ok(false);
    }
    let mut pipe = redis::pipe();
    for token in &old {
        pipe.cmd("DEL")
            .arg(format!("lanchat:session:{token}"))
            .ignore();
        pipe.cmd("ZREM").arg("lanchat:sessions").arg(token).ignore();
    }
    link.run(doing, |c| pipe.query::<()>(c))?;
    Ok(true)
}

/// Trims every room's and identity's stream to what retention keeps.
pub(super) fn trim_streams(
    link: &mut Link,
    scripts: &Scripts,
    floor: u64,
) -> Result<(), StoreError> {
    let doing = "cannot apply retention";
    let mut cursor: u64 = 0;
    loop {
        let (next, streams): (u64, Vec<String>) = link.run(doing, |c| {
            redis::cmd("SSCAN")
                .arg("lanchat:streams")
                .arg(cursor)
                .arg("COUNT")
                .arg(TRIM_BATCH)
                .query(c)
        })?;
        if !streams.is_empty() {
            let mut invocation = scripts.trim_streams.prepare_invoke();
            for stream in &streams {
                invocation.key(stream);
            }
            invocation.arg(floor);
            link.run(doing, |c| invocation.invoke::<u64>(c))?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The owner of `nick`, unless its ownership was last used before
/// `cutoff_ms`.
pub(super) fn owner_of(
    link: &mut Link,
    nick: &NickKey,
    cutoff_ms: u64,
) -> Result<Option<Fingerprint>, StoreError> {
    let (identity, last_used): (Option<String>, Option<u64>) =
        link.read("cannot read who owns the nickname", |c| {
            redis::cmd("HMGET")
                .arg(format!("lanchat:owner:{}", nick.as_str()))
                .arg("identity")
                .arg("last_used")
                .query(c)
        })?;
    Ok(identity
        .filter(|_| last_used.is_some_and(|used| used >= cutoff_ms))
        .and_then(|identity| Fingerprint::parse(&identity).ok()))
}

pub(super) fn claim_nick(
    link: &mut Link,
    scripts: &Scripts,
    claim: &NickClaim,
    may_add: &mut dyn FnMut() -> bool,
    now_ms: u64,
) -> Result<Claimed, StoreError> {
    let doing = "cannot record who owns the nickname";
    let key = NickKey::of(&claim.nick);
    let cutoff = now_ms.saturating_sub(claim.unused_ms);
    let mut check = scripts.claim_check.prepare_invoke();
    check
        .arg(key.as_str())
        .arg(claim.identity.as_str())
        .arg(now_ms)
        .arg(cutoff);
    let (state, owned, total): (String, u64, u64) = link.run(doing, |c| check.invoke(c))?;
    match state.as_str() {
        "already" => return Ok(Claimed::Already),
        "theirs" => return Ok(Claimed::Theirs),
        _ => {}
    }
    if owned >= claim.max_owned as u64 || total >= MAX_OWNERS {
        return Ok(Claimed::AtLimit);
    }
    if !may_add() {
        return Ok(Claimed::NotNow);
    }
    let mut take = scripts.claim_take.prepare_invoke();
    take.arg(key.as_str())
        .arg(claim.identity.as_str())
        .arg(&claim.nick)
        .arg(now_ms)
        .arg(cutoff)
        .arg(claim.max_owned)
        .arg(MAX_OWNERS);
    let taken: String = link.run(doing, |c| take.invoke(c))?;
    Ok(match taken.as_str() {
        "new" => Claimed::New,
        "already" => Claimed::Already,
        "atlimit" => Claimed::AtLimit,
        _ => Claimed::Theirs,
    })
}

pub(super) fn release_nick(
    link: &mut Link,
    scripts: &Scripts,
    nick: &NickKey,
    by: Option<&Fingerprint>,
) -> Result<bool, StoreError> {
    let mut release = scripts.release.prepare_invoke();
    release
        .arg(nick.as_str())
        .arg(by.map_or("", Fingerprint::as_str));
    let released: u64 = link.run("cannot give the nickname up", |c| release.invoke(c))?;
    Ok(released > 0)
}

pub(super) fn room(link: &mut Link, room: &str) -> Result<RoomRecord, StoreError> {
    let doing = "cannot read the room's operators and topic";
    let mut pipe = redis::pipe();
    pipe.cmd("HGETALL")
        .arg(format!("lanchat:roominfo:{room}"))
        .cmd("LRANGE")
        .arg(format!("lanchat:ops:{room}"))
        .arg(0)
        .arg(-1);
    let (info, operators): (HashMap<String, String>, Vec<String>) =
        link.read(doing, |c| pipe.query(c))?;
    let topic = info.get("topic").map(|text| Topic {
        text: text.clone(),
        by: info.get("topic_by").cloned().unwrap_or_default(),
        at_ms: info
            .get("topic_at")
            .and_then(|at| at.parse().ok())
            .unwrap_or(0),
    });
    Ok(RoomRecord {
        operators: operators
            .iter()
            .filter_map(|identity| Fingerprint::parse(identity).ok())
            .collect(),
        topic,
        privacy: Privacy {
            private: info.get("private").is_some_and(|p| p == "1"),
            key: info.get("key").cloned(),
        },
    })
}

pub(super) fn found_room(
    link: &mut Link,
    scripts: &Scripts,
    room: &str,
    founder: Option<&Fingerprint>,
) -> Result<bool, StoreError> {
    let mut found = scripts.found_room.prepare_invoke();
    found
        .arg(room)
        .arg(founder.map_or("", Fingerprint::as_str))
        .arg(MAX_ROOMS);
    let new: u64 = link.run("cannot record the room", |c| found.invoke(c))?;
    Ok(new > 0)
}

pub(super) fn set_operator(
    link: &mut Link,
    scripts: &Scripts,
    room: &str,
    identity: &Fingerprint,
    change: OperatorChange,
) -> Result<bool, StoreError> {
    let change = match change {
        OperatorChange::Give => "give",
        OperatorChange::Take => "take",
        OperatorChange::TakeEvenTheLast => "take-last",
    };
    let mut set = scripts.set_operator.prepare_invoke();
    set.arg(room)
        .arg(identity.as_str())
        .arg(change)
        .arg(MAX_ROOM_OPERATORS);
    let changed: u64 = link.run("cannot change the room's operators", |c| set.invoke(c))?;
    Ok(changed > 0)
}

/// What else changes with a room's record, in the same transaction.
#[derive(Default)]
struct RoomChange<'a> {
    /// Adds the room to, or removes it from, a set (`SADD`/`SREM`, the set).
    listed: Option<(&'a str, &'a str)>,
    /// Tells the other servers (an entry in the log with these fields).
    told: Option<(&'a Told<'a>, &'a [(&'a str, &'a str)])>,
}

/// Records `room` (as setting its topic or privacy does in SQLite), sets
/// `fields` of its record and clears `clear`, with `change`, all at once.
fn set_room_fields(
    link: &mut Link,
    doing: &str,
    room: &str,
    fields: &[(&str, String)],
    clear: &[&str],
    change: RoomChange<'_>,
) -> Result<(), StoreError> {
    let key = format!("lanchat:roominfo:{room}");
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("SADD")
        .arg("lanchat:rooms")
        .arg(room)
        .ignore();
    if !fields.is_empty() {
        pipe.cmd("HSET").arg(&key);
        for (field, value) in fields {
            pipe.arg(*field).arg(value);
        }
        pipe.ignore();
    }
    if !clear.is_empty() {
        pipe.cmd("HDEL").arg(&key).arg(clear).ignore();
    }
    if let Some((command, set)) = change.listed {
        pipe.cmd(command).arg(set).arg(room).ignore();
    }
    if let Some((told, event)) = change.told {
        told.tell(&mut pipe, event);
    }
    link.run(doing, |c| pipe.query::<()>(c))
}

pub(super) fn set_topic(link: &mut Link, room: &str, topic: &Topic) -> Result<(), StoreError> {
    let fields = [
        ("topic", topic.text.clone()),
        ("topic_by", topic.by.clone()),
        ("topic_at", topic.at_ms.to_string()),
    ];
    set_room_fields(
        link,
        "cannot set the room's topic",
        room,
        &fields,
        &[],
        RoomChange::default(),
    )
}

pub(super) fn set_privacy(
    link: &mut Link,
    told: &Told<'_>,
    room: &str,
    privacy: &Privacy,
) -> Result<(), StoreError> {
    let doing = "cannot change who may enter the room";
    let flag = if privacy.private { "1" } else { "0" };
    let listed = (
        if privacy.private { "SADD" } else { "SREM" },
        "lanchat:private",
    );
    let event = [("k", "privacy"), ("r", room), ("p", flag)];
    let change = RoomChange {
        listed: Some(listed),
        told: Some((told, &event)),
    };
    match &privacy.key {
        Some(key) => {
            let fields = [("private", flag.to_owned()), ("key", key.clone())];
            set_room_fields(link, doing, room, &fields, &[], change)
        }
        None => {
            let fields = [("private", flag.to_owned())];
            set_room_fields(link, doing, room, &fields, &["key"], change)
        }
    }
}

pub(super) fn private_rooms(link: &mut Link) -> Result<Vec<String>, StoreError> {
    link.run("cannot read which rooms are private", |c| {
        redis::cmd("SMEMBERS").arg("lanchat:private").query(c)
    })
}

pub(super) fn topics(
    link: &mut Link,
    rooms: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for room in rooms {
        pipe.cmd("HGET")
            .arg(format!("lanchat:roominfo:{room}"))
            .arg("topic");
    }
    let topics: Vec<Option<String>> =
        link.read("cannot read the rooms' topics", |c| pipe.query(c))?;
    Ok(rooms
        .iter()
        .zip(topics)
        .filter_map(|(room, topic)| Some((room.clone(), topic.filter(|t| !t.is_empty())?)))
        .collect())
}

/// A ban as Redis keeps it: the value of its field in `lanchat:bans`.
#[derive(Debug, Serialize, Deserialize)]
struct BanRecord {
    room: Option<String>,
    target: String,
    until_ms: Option<u64>,
    reason: Option<String>,
    by: String,
    at_ms: u64,
}

/// The field of a ban in `lanchat:bans`: its place and target.
fn ban_field(room: Option<&str>, target: &BanTarget) -> String {
    format!("{} {target}", room.unwrap_or_default())
}

/// Every ban kept, expired ones deleted as of `now_ms`.
pub(super) fn load_bans(link: &mut Link, now_ms: u64) -> Result<Vec<Ban>, StoreError> {
    let doing = "cannot read the bans";
    let all: HashMap<String, String> = link.run(doing, |c| {
        redis::cmd("HGETALL").arg("lanchat:bans").query(c)
    })?;
    let mut bans = Vec::new();
    let mut expired = Vec::new();
    for (field, value) in all {
        let Ok(record) = serde_json::from_str::<BanRecord>(&value) else {
            continue;
        };
        if record.until_ms.is_some_and(|until| until <= now_ms) {
            expired.push(field);
            continue;
        }
        // A target this version cannot read is skipped, not fatal.
        let Some(target) = BanTarget::parse(&record.target) else {
            continue;
        };
        bans.push(Ban {
            room: record.room,
            target,
            until_ms: record.until_ms,
            reason: record.reason,
            by: record.by,
            at_ms: record.at_ms,
        });
    }
    if !expired.is_empty() {
        link.run(doing, |c| {
            redis::cmd("HDEL")
                .arg("lanchat:bans")
                .arg(&expired)
                .query::<()>(c)
        })?;
    }
    // Several servers each keep to the cap as they add; should the hash
    // hold more, the newest are the ones kept.
    bans.sort_by_key(|ban| std::cmp::Reverse(ban.at_ms));
    bans.truncate(crate::bans::MAX_BANS);
    Ok(bans)
}

pub(super) fn add_ban(link: &mut Link, told: &Told<'_>, ban: &Ban) -> Result<(), StoreError> {
    // Expired bans go as new ones come, as in SQLite.
    load_bans(link, ban.at_ms)?;
    let value = ban_json(ban)?;
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("HSET")
        .arg("lanchat:bans")
        .arg(ban_field(ban.room.as_deref(), &ban.target))
        .arg(&value)
        .ignore();
    told.tell(&mut pipe, &[("k", "ban"), ("b", &value)]);
    link.run("cannot keep the ban", |c| pipe.query::<()>(c))
}

pub(super) fn remove_ban(
    link: &mut Link,
    told: &Told<'_>,
    room: Option<&str>,
    target: &BanTarget,
) -> Result<(), StoreError> {
    let target_text = target.to_string();
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("HDEL")
        .arg("lanchat:bans")
        .arg(ban_field(room, target))
        .ignore();
    let fields = [
        ("k", "unban"),
        ("r", room.unwrap_or_default()),
        ("g", &target_text),
    ];
    told.tell(&mut pipe, &fields);
    link.run("cannot lift the ban", |c| pipe.query::<()>(c))
}

/// A ban as the `lanchat:bans` hash and the log carry it.
pub(super) fn ban_json(ban: &Ban) -> Result<String, StoreError> {
    let record = BanRecord {
        room: ban.room.clone(),
        target: ban.target.to_string(),
        until_ms: ban.until_ms,
        reason: ban.reason.clone(),
        by: ban.by.clone(),
        at_ms: ban.at_ms,
    };
    serde_json::to_string(&record)
        .map_err(|error| StoreError::caused_by("cannot keep the ban", error))
}

/// The ban `json` names, if this version can read it.
pub(super) fn ban_from_json(json: &str) -> Option<Ban> {
    let record: BanRecord = serde_json::from_str(json).ok()?;
    Some(Ban {
        room: record.room,
        target: BanTarget::parse(&record.target)?,
        until_ms: record.until_ms,
        reason: record.reason,
        by: record.by,
        at_ms: record.at_ms,
    })
}

/// What tells the other servers of a change in the same step as the
/// change: an entry in the log (between messages, as `<id>-<n>`) that
/// every server's log reader applies.
/// Tells every server to put `nick` out of `room` for `reason`.
pub(super) fn tell_put_out(
    link: &mut Link,
    told: &Told<'_>,
    nick: &str,
    room: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let mut pipe = redis::pipe();
    let fields = [("k", "putout"), ("n", nick), ("r", room), ("w", reason)];
    told.tell(&mut pipe, &fields);
    link.run("cannot tell the other servers of the kick", |c| {
        pipe.query::<()>(c)
    })
}

pub(super) struct Told<'a> {
    /// The history the server serves, named in the entry.
    pub(super) history: &'a str,
}

impl Told<'_> {
    /// Adds to `pipe` the entry with `fields`, after the last message.
    fn tell(&self, pipe: &mut redis::Pipeline, fields: &[(&str, &str)]) {
        pipe.cmd("EVAL")
            .arg(TELL)
            .arg(0)
            .arg(self.history)
            .arg(crate::domain::Clock::system().now_millis());
        for (field, value) in fields {
            pipe.arg(*field).arg(*value);
        }
        pipe.ignore();
    }
}

/// Appends an entry of history `ARGV[1]` stamped `ARGV[2]` with the
/// field-value pairs that follow, right after the last message (`<id>-*`).
/// Sent whole (`EVAL`, which Redis caches) rather than by digest, since it
/// runs inside a transaction, where an unknown digest could not be retried.
const TELL: &str = r"
local counter = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
local entry = {'XADD', 'lanchat:log', string.format('%d-*', counter), 'h', ARGV[1], 't', ARGV[2]}
for i = 3, #ARGV do entry[#entry + 1] = ARGV[i] end
return redis.call(unpack(entry))
";
