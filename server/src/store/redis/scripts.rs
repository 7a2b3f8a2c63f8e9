//! The Lua scripts that change shared state in one step. Redis runs a
//! script alone, so what a script checks still holds when it writes: two
//! servers cannot give out the same id, or the same nickname to two
//! owners. Keys are named inside the scripts, which is fine for one Redis
//! server (not for Redis Cluster, which lanchat does not support).
//!
//! Numbers are formatted with `%d`: Lua's own `tostring` switches to
//! exponents above 10^14, which would make ids that do not parse.

use redis::Script;

/// Adds message `id` of `history` to the log (entry id `<id>-0`, the
/// history named in it, so a log reader never publishes another's) and to its room's
/// stream or its identities' direct-message streams, and keeps its retry
/// key: the one way both [`APPEND`] and [`IMPORT`] write a message.
const ADD_ENTRY: &str = r"
local function add_entry(history, id, ts, body, origin, room, party_a, party_b, retry)
  local entry = string.format('%d-0', id)
  redis.call('XADD', 'lanchat:log', entry, 't', ts, 'm', body, 'o', origin, 'h', history)
  local streams = {}
  -- A room message names its sender's identity too; only a direct
  -- message belongs in the direct-message streams.
  if room ~= '' then
    streams[#streams + 1] = 'lanchat:room:' .. room
  else
    if party_a ~= '' then streams[#streams + 1] = 'lanchat:dm:' .. party_a end
    if party_b ~= '' and party_b ~= party_a then streams[#streams + 1] = 'lanchat:dm:' .. party_b end
  end
  for _, stream in ipairs(streams) do
    redis.call('XADD', stream, entry, 't', ts, 'm', body)
    redis.call('SADD', 'lanchat:streams', stream)
  end
  if retry ~= '' then
    redis.call('SET', 'lanchat:retry:' .. retry, string.format('%d', id), 'EX', RETRY_SECONDS)
    redis.call('ZADD', 'lanchat:retries', id, retry)
  end
end
";

/// Stores a batch of messages: each gets the next id from
/// `lanchat:next_id` and is appended, with that id as its entry id
/// (`<id>-0`), to the log of every message and to its room's stream or the
/// direct-message streams of its two identities. A message whose retry key
/// (`<retry scope> <client_id>`) names a message still in the log is not
/// stored again.
///
/// `ARGV[1]` is the highest id the calling server has seen and `ARGV[2]`
/// the name of the history it serves. A counter below that id or below
/// the log's newest entry, or another name (or none), means Redis lost
/// data or was replaced, and the script refuses rather than give ids out
/// again. Then seven arguments a message: time, body, origin
/// (`<server>:<connection>`, or empty), room, the two identities (either
/// may be empty) and the retry key (empty for none).
///
/// Returns one `{id, old body}` pair a message: the old body empty for a
/// message stored now, the stored body for a retry.
const APPEND: &str = r"
local seen = tonumber(ARGV[1])
local counter = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
local newest = redis.call('XREVRANGE', 'lanchat:log', '+', '-', 'COUNT', 1)[1]
if newest then seen = math.max(seen, tonumber(string.match(newest[1], '^%d+'))) end
if counter < seen then
  return redis.error_reply('LANCHAT_LOST Redis lost messages: its id counter is ' ..
    string.format('%d', counter) .. ' but ids up to ' ..
    string.format('%d', seen) .. ' were given out; refusing to give them out again')
end
if redis.call('GET', 'lanchat:history_id') ~= ARGV[2] then
  return redis.error_reply('LANCHAT_LOST Redis lost messages: it no longer holds the history ' ..
    ARGV[2] .. ' this server serves; restart the server to serve what Redis holds now')
end
local out = {}
for i = 3, #ARGV, 7 do
  local ts, body, origin, room = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local party_a, party_b, retry = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local old = nil
  if retry ~= '' then
    local id = redis.call('GET', 'lanchat:retry:' .. retry)
    if id then
      local found = redis.call('XRANGE', 'lanchat:log', id .. '-0', id .. '-0')
      if #found > 0 then
        local fields = found[1][2]
        for f = 1, #fields, 2 do
          if fields[f] == 'm' then old = {tonumber(id), fields[f + 1]} end
        end
      end
    end
  end
  if old then
    out[#out + 1] = old
  else
    local id = redis.call('INCR', 'lanchat:next_id')
    add_entry(ARGV[2], id, ts, body, origin, room, party_a, party_b, retry)
    out[#out + 1] = {id, ''}
  end
end
return out
";

/// Copies messages of history `ARGV[1]` with the ids they already have
/// (`--migrate-from`), in groups of eight arguments: id, then [`APPEND`]'s
/// seven. Raises the
/// counter to the highest id copied. Ids must come in increasing order,
/// above any in the log (Redis refuses a lower entry id, and the copy
/// stops there with an error).
const IMPORT: &str = r"
local highest = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
for i = 2, #ARGV, 8 do
  local id, ts, body, origin, room = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local party_a, party_b, retry = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  add_entry(ARGV[1], id, ts, body, origin, room, party_a, party_b, retry)
  if id > highest then highest = id end
end
redis.call('SET', 'lanchat:next_id', string.format('%d', highest))
return highest
";

/// How long a retry key is kept: a client retries within seconds or
/// minutes of losing its connection; a week bounds what the keys take.
pub(super) const RETRY_SECONDS: u64 = 7 * 86_400;

/// The highest id retention does not keep (0 if none), what retention
/// removed already (`lanchat:pruned_through`) and the counter, as
/// `{floor, pruned_through, counter}`.
///
/// `ARGV[1]`: keep only the newest this many (`-1`: no limit). `ARGV[2]`:
/// keep only messages stamped at or after this time (`-1`: no limit). Ids
/// are given out without gaps and timestamps grow with ids (the servers
/// stamp both, from clocks that agree), so the age limit is found by a
/// binary search over ids: at most about sixty steps, however long the log.
const FLOOR: &str = r"
local counter = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
local pruned = tonumber(redis.call('GET', 'lanchat:pruned_through') or '0')
local keep, cutoff = tonumber(ARGV[1]), tonumber(ARGV[2])
local floor = 0
if keep >= 0 and counter > keep then floor = counter - keep end
if cutoff >= 0 then
  -- The first id stamped at or after the cutoff lies in (low, high].
  local low, high = pruned, counter + 1
  while high - low > 1 do
    local mid = math.floor((low + high) / 2)
    local entry = redis.call('XRANGE', 'lanchat:log', string.format('%d-0', mid), '+', 'COUNT', 1)[1]
    local young = false
    if entry then
      local fields = entry[2]
      for f = 1, #fields, 2 do
        if fields[f] == 't' then young = tonumber(fields[f + 1]) >= cutoff end
      end
    else
      young = true
    end
    if young then high = mid else low = mid end
  end
  if high - 1 > floor then floor = high - 1 end
end
if floor > counter then floor = counter end
return {floor, pruned, counter}
";

/// Where a resume starts: the id of the (`ARGV[3]` + 1)-th newest entry
/// in (`ARGV[1]`, `ARGV[2]`] of the streams in `KEYS` together, or 0 if
/// there are no more than `ARGV[3]`. A merge of the streams from their
/// newest ends, a chunk at a time, that returns one number: the entries
/// stay in Redis, however long the resume.
const RESUME_START: &str = r"
local after, up_to, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local chunk = 256
local heads = {}
local function refill(s)
  local head = heads[s]
  local entries = redis.call('XREVRANGE', KEYS[s], head.before, string.format('(%d-0', after), 'COUNT', chunk)
  head.ids, head.at = {}, 1
  for i, entry in ipairs(entries) do head.ids[i] = tonumber(string.match(entry[1], '^%d+')) end
  if #entries < chunk then
    head.done = true
  else
    head.before = string.format('(%d-0', head.ids[#head.ids])
  end
end
for s = 1, #KEYS do
  heads[s] = {before = up_to, done = false}
  refill(s)
end
local taken = 0
while true do
  local best, from = nil, nil
  for s = 1, #KEYS do
    local head = heads[s]
    if head.at > #head.ids and not head.done then refill(s) end
    local id = head.ids[head.at]
    if id and (not best or id > best) then best, from = id, s end
  end
  if not best then return 0 end
  taken = taken + 1
  if taken > limit then return best end
  heads[from].at = heads[from].at + 1
end
";

/// Removes from the log every message at or below `ARGV[1]` that every
/// live server's log reader has read (each keeps its place, the last entry
/// it read, in `lanchat:reader:<server>`, for a lease), and the retry keys of up to ten
/// thousand messages at or below it (the rest at the next pass, or when
/// their week is up), and records that the history before it is gone;
/// returns how many left the log. A reader that lags holds the log (not
/// the history) back by its lag; one that stops lets it go a lease later.
const TRIM_LOG: &str = r"
local floor = tonumber(ARGV[1])
local min_id, min_n = floor + 1, 0
for _, server in ipairs(redis.call('SMEMBERS', 'lanchat:servers')) do
  local at = redis.call('GET', 'lanchat:reader:' .. server)
  if at then
    -- Everything up to `<id>-<n>` was read: `<id>-<n + 1>` may not be.
    local id, n = string.match(at, '^(%d+)-?(%d*)$')
    id, n = tonumber(id), (tonumber(n) or 0) + 1
    if id and (id < min_id or (id == min_id and n < min_n)) then min_id, min_n = id, n end
  end
end
local removed = redis.call('XTRIM', 'lanchat:log', 'MINID', string.format('%d-%d', min_id, min_n))
local retries = redis.call('ZRANGEBYSCORE', 'lanchat:retries', '-inf', floor, 'LIMIT', 0, 10000)
for _, retry in ipairs(retries) do
  redis.call('DEL', 'lanchat:retry:' .. retry)
  redis.call('ZREM', 'lanchat:retries', retry)
end
local pruned = tonumber(redis.call('GET', 'lanchat:pruned_through') or '0')
if floor > pruned then redis.call('SET', 'lanchat:pruned_through', string.format('%d', floor)) end
return removed
";

/// Deletes from the log up to `ARGV[1]` entries between messages
/// (`<id>-<n>` with `n` above 0: changes of who is where, takeovers, bans)
/// that every live server's log reader has read (nothing while one has
/// not said where it stands), going on from where the
/// last pass stopped (`lanchat:events_trimmed`); returns how many. Such
/// an entry is for the servers running when it was written (one that
/// starts later reads the records instead), so without this a log with
/// no new messages would grow with every coming and going. Messages stay,
/// for retention to trim.
const TRIM_EVENTS: &str = r"
local function position(entry)
  local id, n = string.match(entry, '^(%d+)-?(%d*)$')
  return tonumber(id), tonumber(n) or 0
end
local upto_id, upto_n = nil, nil
for _, server in ipairs(redis.call('SMEMBERS', 'lanchat:servers')) do
  local at = redis.call('GET', 'lanchat:reader:' .. server)
  -- A server whose reader has not said where it stands (it is starting,
  -- or stalled) may still need every entry.
  if not at then return 0 end
  local id, n = position(at)
  if not id then return 0 end
  if not upto_id or id < upto_id or (id == upto_id and n < upto_n) then
    upto_id, upto_n = id, n
  end
end
if not upto_id then return 0 end
local from = redis.call('GET', 'lanchat:events_trimmed')
if not from or not string.match(from, '^%d+%-%d+$') then from = '0-0' end
local entries = redis.call('XRANGE', 'lanchat:log', '(' .. from,
  string.format('%d-%d', upto_id, upto_n), 'COUNT', tonumber(ARGV[1]))
local removed, last = 0, nil
for _, entry in ipairs(entries) do
  if not string.match(entry[1], '-0$') then
    redis.call('XDEL', 'lanchat:log', entry[1])
    removed = removed + 1
  end
  last = entry[1]
end
if last then redis.call('SET', 'lanchat:events_trimmed', last) end
return removed
";

/// Removes from the streams in `KEYS` every message at or below `ARGV[1]`,
/// and forgets streams left empty. In one script, so that a message
/// appended between the trim and the removal cannot be lost with its
/// stream.
const TRIM_STREAMS: &str = r"
local min = string.format('%d-0', ARGV[1] + 1)
for _, key in ipairs(KEYS) do
  redis.call('XTRIM', key, 'MINID', min)
  if redis.call('XLEN', key) == 0 then
    redis.call('DEL', key)
    redis.call('SREM', 'lanchat:streams', key)
  end
end
return #KEYS
";

/// Reads who may claim nickname `ARGV[1]` (its key) for identity
/// `ARGV[2]` at time `ARGV[3]`, ownerships used before `ARGV[4]` having
/// lapsed. Returns `{'already', 0, 0}` (and records the use),
/// `{'theirs', 0, 0}`, or
/// `{'free', owned by the identity, owned by anyone}` after forgetting up
/// to a thousand lapsed ownerships.
const CLAIM_CHECK: &str = r"
local key, identity, now, cutoff = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local owner = redis.call('HMGET', 'lanchat:owner:' .. key, 'identity', 'last_used')
if owner[1] and tonumber(owner[2]) >= cutoff then
  if owner[1] == identity then
    redis.call('HSET', 'lanchat:owner:' .. key, 'last_used', now)
    redis.call('ZADD', 'lanchat:owners', now, key)
    return {'already', 0, 0}
  end
  return {'theirs', 0, 0}
end
local lapsed = redis.call('ZRANGEBYSCORE', 'lanchat:owners', '-inf', string.format('(%d', cutoff), 'LIMIT', 0, 1000)
for _, old in ipairs(lapsed) do
  local was = redis.call('HGET', 'lanchat:owner:' .. old, 'identity')
  if was then redis.call('SREM', 'lanchat:owned:' .. was, old) end
  redis.call('DEL', 'lanchat:owner:' .. old)
  redis.call('ZREM', 'lanchat:owners', old)
end
return {'free', redis.call('SCARD', 'lanchat:owned:' .. identity), redis.call('ZCARD', 'lanchat:owners')}
";

/// Makes identity `ARGV[2]` the owner of nickname key `ARGV[1]` (spelled
/// `ARGV[3]`) at time `ARGV[4]`, unless someone took it since
/// [`CLAIM_CHECK`] (ownerships used before `ARGV[5]` lapsed) or the
/// identity owns `ARGV[6]` or everyone `ARGV[7]` by now: the limits are
/// checked again here, since another server may have claimed in between.
/// Returns `'new'`, `'already'`, `'theirs'` or `'atlimit'`.
const CLAIM_TAKE: &str = r"
local key, identity, nick, now, cutoff = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local owner = redis.call('HMGET', 'lanchat:owner:' .. key, 'identity', 'last_used')
if owner[1] and tonumber(owner[2]) >= cutoff then
  if owner[1] == identity then return 'already' end
  return 'theirs'
end
if redis.call('SCARD', 'lanchat:owned:' .. identity) >= tonumber(ARGV[6])
    or redis.call('ZCARD', 'lanchat:owners') >= tonumber(ARGV[7]) then
  return 'atlimit'
end
if owner[1] then redis.call('SREM', 'lanchat:owned:' .. owner[1], key) end
redis.call('HSET', 'lanchat:owner:' .. key, 'identity', identity, 'nick', nick, 'last_used', now)
redis.call('ZADD', 'lanchat:owners', now, key)
redis.call('SADD', 'lanchat:owned:' .. identity, key)
return 'new'
";

/// Frees nickname key `ARGV[1]`, if `ARGV[2]` (empty: anyone) owns it;
/// returns 1 if it was owned and is free now.
const RELEASE: &str = r"
local key, by = ARGV[1], ARGV[2]
local owner = redis.call('HGET', 'lanchat:owner:' .. key, 'identity')
if not owner or (by ~= '' and owner ~= by) then return 0 end
redis.call('DEL', 'lanchat:owner:' .. key)
redis.call('ZREM', 'lanchat:owners', key)
redis.call('SREM', 'lanchat:owned:' .. owner, key)
return 1
";

/// Records room `ARGV[1]` if it is new and fewer than `ARGV[3]` rooms are,
/// with `ARGV[2]` (empty: none) as its first operator; returns 1 if it was
/// new.
const FOUND_ROOM: &str = r"
local room, founder, most = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('SISMEMBER', 'lanchat:rooms', room) == 1 then return 0 end
if redis.call('SCARD', 'lanchat:rooms') >= most then return 0 end
redis.call('SADD', 'lanchat:rooms', room)
if founder ~= '' then redis.call('RPUSH', 'lanchat:ops:' .. room, founder) end
return 1
";

/// Gives (`ARGV[3]` = `give`, while the room has fewer than `ARGV[4]`),
/// takes (`take`, unless it is the last) or takes even the last
/// (`take-last`) room `ARGV[1]`'s operator role of identity `ARGV[2]`;
/// returns 1 if that changed anything.
const SET_OPERATOR: &str = r"
local key, identity, change, most = 'lanchat:ops:' .. ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local has = redis.call('LPOS', key, identity)
if change == 'give' then
  if has or redis.call('LLEN', key) >= most then return 0 end
  redis.call('RPUSH', key, identity)
  return 1
end
if not has then return 0 end
if change == 'take' and redis.call('LLEN', key) <= 1 then return 0 end
redis.call('LREM', key, 0, identity)
return 1
";

/// Claims nickname key `ARGV[1]` for server `ARGV[2]`'s connection under
/// session `ARGV[3]`, of identity `ARGV[4]` (`-` for a guest), which owns
/// the nickname if `ARGV[5]` is `1`, spelled `ARGV[6]`, in `lanchat:online`
/// (key to `<server> <session> <identity> <owns> <spelling> <connection>`,
/// which other servers read to send direct messages; the connection is `-`
/// until [`CONFIRM_ONLINE`] names it) and the server's set
/// `lanchat:online:<server>`.
///
/// Returns `{'ours', ''}` if the nickname was free, is this server's (its
/// hub decides, and the holder's record stays until the newcomer is
/// confirmed), or was held by a server that was reaped; `{'taken',
/// server}` if a connection of a live `server` had it under the same
/// session, or of the same owner, and `ARGV[9]` is `1` (a hello may take a
/// nickname over, a rename may not), which is then told (a `reclaim` entry
/// in the log naming that connection, of history `ARGV[7]`, at time
/// `ARGV[8]`) to close it; `{'held', server}` otherwise.
const CLAIM_ONLINE: &str = r"
local key, server, session, identity, owns, spelled = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local function take()
  redis.call('HSET', 'lanchat:online', key,
    table.concat({server, session, identity, owns, spelled, '-'}, ' '))
  redis.call('SADD', 'lanchat:online:' .. server, key)
end
local held = redis.call('HGET', 'lanchat:online', key)
if not held then
  take()
  return {'ours', ''}
end
local holder, their_session, their_identity, their_owns, _, their_connection =
  string.match(held, '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+)')
if holder == server then return {'ours', ''} end
if not holder or redis.call('SISMEMBER', 'lanchat:servers', holder) == 0 then
  if holder then redis.call('SREM', 'lanchat:online:' .. holder, key) end
  take()
  return {'ours', ''}
end
local same_owner = owns == '1' and their_owns == '1' and identity ~= '-' and their_identity == identity
if ARGV[9] == '1' and (their_session == session or same_owner) then
  redis.call('SREM', 'lanchat:online:' .. holder, key)
  take()
  local counter = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
  redis.call('XADD', 'lanchat:log', string.format('%d-*', counter), 't', ARGV[8],
    'k', 'reclaim', 'n', key, 's', holder, 'c', their_connection, 'h', ARGV[7])
  return {'taken', holder}
end
return {'held', holder}
";

/// Records that connection `ARGV[7]` (`<server>:<id>`) of server `ARGV[2]`
/// holds nickname key `ARGV[1]` now that the hub took it (`ARGV[3]` to
/// `ARGV[6]` as in [`CLAIM_ONLINE`]), unless another server took it in the
/// meantime; returns 1 if recorded.
const CONFIRM_ONLINE: &str = r"
local key, server = ARGV[1], ARGV[2]
local held = redis.call('HGET', 'lanchat:online', key)
if held and string.match(held, '^(%S+)') ~= server then return 0 end
redis.call('HSET', 'lanchat:online', key,
  table.concat({server, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]}, ' '))
redis.call('SADD', 'lanchat:online:' .. server, key)
return 1
";

/// Frees nickname key `ARGV[1]` if connection `ARGV[3]` of server `ARGV[2]`
/// holds it: a newer connection of the same server, confirmed or about to
/// be, keeps it.
const RELEASE_ONLINE: &str = r"
local key, server, connection = ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('HGET', 'lanchat:online', key)
if not held then
  redis.call('SREM', 'lanchat:online:' .. server, key)
  return 1
end
local holder, their_connection = string.match(held, '^(%S+) %S+ %S+ %S+ %S+ (%S+)')
if holder ~= server then
  redis.call('SREM', 'lanchat:online:' .. server, key)
elseif their_connection == connection then
  redis.call('HDEL', 'lanchat:online', key)
  redis.call('SREM', 'lanchat:online:' .. server, key)
end
return 1
";

/// Frees the nicknames in `ARGV[2..]` if server `ARGV[1]` holds them, and
/// forgets them from its list; returns how many it held.
const RELEASE_ORPHANS: &str = r"
local server, freed = ARGV[1], 0
for i = 2, #ARGV do
  local held = redis.call('HGET', 'lanchat:online', ARGV[i])
  if held and string.match(held, '^(%S+)') == server then
    redis.call('HDEL', 'lanchat:online', ARGV[i])
    freed = freed + 1
  end
  redis.call('SREM', 'lanchat:online:' .. server, ARGV[i])
end
return freed
";

/// Renews server `ARGV[1]`'s lease for `ARGV[2]` milliseconds. Servers
/// named after `ARGV[5]` (how many) were seen without a lease at the last
/// renewal: those still without one are reaped (their nicknames freed,
/// their members gone, each told once in the log of history `ARGV[3]` at
/// time `ARGV[4]` by a `presence` entry of no server, the server
/// forgotten). Returns `{lapsed, reaped, missing}`: `lapsed` 1
/// if this server's own lease had run out, or it had been reaped (it must
/// not go on as if it held its nicknames); `missing`, the servers without
/// a lease now, to name at the next renewal. Two renewals apart, so a
/// server that renews a little late is never taken for dead; Redis runs
/// the script alone, so a dead server is reaped once.
const KEEP_LEASE: &str = r"
local server, lease_ms, history, now, suspects = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local had = redis.call('SET', 'lanchat:lease:' .. server, '1', 'PX', lease_ms, 'GET')
local known = redis.call('SADD', 'lanchat:servers', server) == 0
local lapsed = 0
if not had or not known then lapsed = 1 end
local reaped = {}
for i = 1, suspects do
  local other = ARGV[5 + i]
  if other ~= server and redis.call('EXISTS', 'lanchat:lease:' .. other) == 0
      and redis.call('SISMEMBER', 'lanchat:servers', other) == 1 then
    for _, key in ipairs(redis.call('SMEMBERS', 'lanchat:online:' .. other)) do
      local held = redis.call('HGET', 'lanchat:online', key)
      if held and string.match(held, '^(%S+)') == other then
        redis.call('HDEL', 'lanchat:online', key)
      end
    end
    redis.call('DEL', 'lanchat:online:' .. other)
    local presence = redis.call('HGETALL', 'lanchat:presence')
    for j = 1, #presence, 2 do
      if string.match(presence[j + 1], '^(%S+)') == other then
        redis.call('HDEL', 'lanchat:presence', presence[j])
        local counter = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
        redis.call('XADD', 'lanchat:log', string.format('%d-*', counter), 'h', history, 't', now,
          'k', 'presence', 's', '', 'n', presence[j])
      end
    end
    redis.call('HDEL', 'lanchat:presence_seq', other)
    redis.call('SREM', 'lanchat:servers', other)
    reaped[#reaped + 1] = other
  end
end
local missing = {}
for _, other in ipairs(redis.call('SMEMBERS', 'lanchat:servers')) do
  if other ~= server and redis.call('EXISTS', 'lanchat:lease:' .. other) == 0 then
    missing[#missing + 1] = other
  end
end
return {lapsed, reaped, missing}
";

/// Records a change of who is where made by server `ARGV[3]`'s hub (see
/// `PresenceChange`: nickname key `ARGV[4]`, once `ARGV[5]`, arrived if
/// `ARGV[6]` is 1, the member `ARGV[7]`, empty if gone, the events
/// `ARGV[8]`) in `lanchat:presence`, where servers that start later read
/// who is where, and appends it to the log of history `ARGV[1]` at time
/// `ARGV[2]`. `ARGV[9]` numbers the change among this server's: one not
/// newer than the last it wrote is a retry of one that Redis ran though
/// its answer was lost, and is dropped (returns 0). So are every change
/// of a server that is not one of the group (it was reaped, and its
/// members' leaving told); an arrival at a nickname that another server
/// holds now (it took the member over since); and any other change about
/// a nickname whose record is not this server's (the same, or this server
/// was reaped).
const PRESENCE: &str = r"
local history, now, server, key, was, arrived, member, events =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if redis.call('SISMEMBER', 'lanchat:servers', server) == 0 then return 0 end
local number = tonumber(ARGV[9])
if number <= (tonumber(redis.call('HGET', 'lanchat:presence_seq', server)) or 0) then return 0 end
redis.call('HSET', 'lanchat:presence_seq', server, ARGV[9])
if key ~= '' then
  local checked, record = key, 'lanchat:presence'
  if was ~= '' then checked = was end
  if arrived == '1' then record = 'lanchat:online' end
  local held = redis.call('HGET', record, checked)
  if not held or string.match(held, '^(%S+)') ~= server then return 0 end
  if was ~= '' then redis.call('HDEL', 'lanchat:presence', was) end
  if member == '' then
    redis.call('HDEL', 'lanchat:presence', key)
  else
    redis.call('HSET', 'lanchat:presence', key, server .. ' ' .. member)
  end
end
local counter = tonumber(redis.call('GET', 'lanchat:next_id') or '0')
redis.call('XADD', 'lanchat:log', string.format('%d-*', counter), 'h', history, 't', now,
  'k', 'presence', 's', server, 'n', key, 'x', was, 'p', member, 'e', events)
return 1
";

/// Every script, loaded once per connection by its digest.
#[derive(Debug)]
pub(super) struct Scripts {
    pub(super) append: Script,
    pub(super) import: Script,
    pub(super) floor: Script,
    pub(super) resume_start: Script,
    pub(super) trim_log: Script,
    pub(super) trim_streams: Script,
    pub(super) claim_check: Script,
    pub(super) claim_take: Script,
    pub(super) release: Script,
    pub(super) found_room: Script,
    pub(super) set_operator: Script,
    pub(super) claim_online: Script,
    pub(super) confirm_online: Script,
    pub(super) release_online: Script,
    pub(super) keep_lease: Script,
    pub(super) presence: Script,
    pub(super) trim_events: Script,
    pub(super) release_orphans: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        let add_entry = ADD_ENTRY.replace("RETRY_SECONDS", &RETRY_SECONDS.to_string());
        Scripts {
            append: Script::new(&format!("{add_entry}{APPEND}")),
            import: Script::new(&format!("{add_entry}{IMPORT}")),
            floor: Script::new(FLOOR),
            resume_start: Script::new(RESUME_START),
            trim_log: Script::new(TRIM_LOG),
            trim_streams: Script::new(TRIM_STREAMS),
            claim_check: Script::new(CLAIM_CHECK),
            claim_take: Script::new(CLAIM_TAKE),
            release: Script::new(RELEASE),
            found_room: Script::new(FOUND_ROOM),
            set_operator: Script::new(SET_OPERATOR),
            claim_online: Script::new(CLAIM_ONLINE),
            confirm_online: Script::new(CONFIRM_ONLINE),
            release_online: Script::new(RELEASE_ONLINE),
            keep_lease: Script::new(KEEP_LEASE),
            presence: Script::new(PRESENCE),
            trim_events: Script::new(TRIM_EVENTS),
            release_orphans: Script::new(RELEASE_ORPHANS),
        }
    }
}
