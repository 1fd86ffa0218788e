//! The stream store in Redis: each stream is a hash holding its epoch and
//! last offset and a capped Redis Stream of its kept events (`wire.rs`
//! names the keys), and every publish or read is one Lua script, so that
//! no two nodes ever give out the same offset and a read sees one
//! consistent moment.
//!
//! - **Append**: queued in call order (bounded) and sent by the appender
//!   task in pipelines of up to `publish_batch` scripts, so that a topic's
//!   appends reach Redis in the order they were made without one round
//!   trip each. The script takes the next offset (a new epoch when the hash is gone:
//!   `FLUSHALL`, eviction, a restart without persistence), keep the event
//!   (`XADD … MAXLEN ~ size`, the key expiring after the history's TTL),
//!   and `PUBLISH` the envelope with the frame completed by its offset.
//! - **Read**: the position and the kept events after an offset, no older
//!   than the TTL, at most the history's size. A hash whose offset is
//!   behind what the reader already saw in the same epoch lost writes (a
//!   restore from an old snapshot, a failover): the read starts a new
//!   epoch, so no offset is handed out twice.

use super::connection::{Failure, within};
use super::scripts::{self, bytes, failed, millis, number, text, unreachable};
use super::{Shared, wire};
use crate::broker::Subject;
use crate::broker::store::{Append, Entry, Read, Snapshot, StoreError, StreamStore};
use ::redis::{Script, Value};
use futures_util::future::BoxFuture;
use mizan_channels::History;
use mizan_protocol::Position;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// A topic's position outlives its history by this much, at least, once
/// nobody publishes to it: a later subscriber with an old `since` still
/// hears "nothing missed" within it. Contexts' positions never expire.
const TOPIC_POSITION_TTL: Duration = Duration::from_secs(24 * 3600);

/// The append script; its cluster variant (`APPEND_SHARDED`) takes the
/// channel as `KEYS[3]` and `SPUBLISH`es.
const APPEND_SOURCE: &str = r"
local meta, hist = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'e')
local last = 0
if epoch then
  last = tonumber(redis.call('HGET', meta, 'o') or '0')
else
  epoch = ARGV[5]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'e', epoch, 'o', 0)
end
local offset = last + 1
local frame = ARGV[4] .. offset .. '}'
local size = tonumber(ARGV[6])
if size > 0 then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('XADD', hist, 'MAXLEN', '~', size, '0-' .. offset, 'f', frame, 's', ARGV[3], 't', ms)
  redis.call('PEXPIRE', hist, ARGV[7])
end
redis.call('HSET', meta, 'o', offset)
if tonumber(ARGV[8]) > 0 then
  redis.call('PEXPIRE', meta, ARGV[8])
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. epoch .. ' ' .. offset .. '\n' .. ARGV[3] .. '\n' .. frame)
return {epoch, offset}
";

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND_SOURCE));

static APPEND_SHARDED: LazyLock<Script> = LazyLock::new(|| scripts::sharded(APPEND_SOURCE, "'PUBLISH', ARGV[1],"));

static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local meta, hist = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'e')
local offset = tonumber(redis.call('HGET', meta, 'o') or '0')
if (not epoch) or (epoch == ARGV[2] and offset < tonumber(ARGV[3])) then
  epoch = ARGV[1]
  offset = 0
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'e', epoch, 'o', 0)
end
if tonumber(ARGV[7]) > 0 then
  redis.call('PEXPIRE', meta, ARGV[7])
end
local out = {epoch, offset}
local size = tonumber(ARGV[5])
local after = tonumber(ARGV[4])
if size > 0 and after < offset then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local oldest = ms - tonumber(ARGV[6])
  local first = math.max(after + 1, offset - size + 1)
  for _, row in ipairs(redis.call('XRANGE', hist, '0-' .. first, '+')) do
    local f, s, t = '', '', 0
    local fields = row[2]
    for i = 1, #fields, 2 do
      local k = fields[i]
      if k == 'f' then f = fields[i + 1] elseif k == 's' then s = fields[i + 1] elseif k == 't' then t = tonumber(fields[i + 1]) end
    end
    if t >= oldest then
      table.insert(out, string.sub(row[1], 3))
      table.insert(out, f)
      table.insert(out, s)
      table.insert(out, ms - t)
    end
  end
end
return out
",
    )
});

/// The stream store of a [`RedisBroker`](super::RedisBroker)'s node.
pub(super) struct RedisStreams {
    shared: Arc<Shared>,
    appends: mpsc::Sender<Queued>,
}

/// An append waiting for the appender task: its script call and where the
/// position goes.
pub(super) struct Queued {
    call: ::redis::Cmd,
    reply: oneshot::Sender<Result<Position, StoreError>>,
}

impl RedisStreams {
    pub(super) fn new(shared: Arc<Shared>, appends: mpsc::Sender<Queued>) -> Self {
        Self { shared, appends }
    }

    /// The publishing connection, or why there is none.
    fn conn(&self) -> Result<super::connection::Conn, StoreError> {
        self.shared.commands().ok_or_else(unreachable)
    }
}

/// The appender task: sends queued appends in pipelines, in queue order,
/// until the broker is dropped.
pub(super) async fn run_appender(
    shared: Arc<Shared>,
    mut queue: mpsc::Receiver<Queued>,
    mut stop: watch::Receiver<()>,
) {
    let max = shared.config.publish_batch;
    let mut batch = Vec::with_capacity(max.min(1024));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            queued = queue.recv() => match queued {
                Some(queued) => batch.push(queued),
                None => return,
            },
        }
        while batch.len() < max {
            match queue.try_recv() {
                Ok(queued) => batch.push(queued),
                Err(_) => break,
            }
        }
        send_batch(&shared, &mut batch).await;
    }
}

/// Sends `batch` as one pipeline and answers every append in it.
async fn send_batch(shared: &Shared, batch: &mut Vec<Queued>) {
    let calls: Vec<::redis::Cmd> = batch.iter().map(|queued| queued.call.clone()).collect();
    let script = if shared.names.cluster() {
        &*APPEND_SHARDED
    } else {
        &*APPEND
    };
    let answers = match scripts::pipeline(shared, script, &calls).await {
        Ok(answers) => answers,
        Err(e) => {
            for queued in batch.drain(..) {
                let _ = queued.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    for (queued, answer) in batch.drain(..).zip(answers) {
        let answer = answer
            .map_err(|e| StoreError(Failure::Redis(e).to_string()))
            .and_then(|value| ::redis::from_redis_value::<(String, u64)>(value).map_err(|e| StoreError(e.to_string())))
            .map(|(epoch, offset)| Position::new(epoch, offset));
        let _ = queued.reply.send(answer);
    }
}

/// How long a stream's position hash lives after its last use (0: ever).
fn position_ttl(subject: &Subject, keep: History) -> u64 {
    match subject {
        Subject::Topic(_) => millis(TOPIC_POSITION_TTL.max(keep.ttl)),
        Subject::Context(_) => 0,
    }
}

/// A fresh epoch.
fn new_epoch() -> String {
    format!("{:016x}", fastrand::u64(..))
}

impl StreamStore for RedisStreams {
    fn append(&self, append: Append) -> BoxFuture<'static, Result<Position, StoreError>> {
        let names = &self.shared.names;
        let [meta, hist] = names.stream_keys(&append.subject);
        let channel = names.channel(&append.subject);
        let origin = self.shared.node.get().map_or_else(String::new, |n| format!("{n}\n"));
        let mut call = if names.cluster() {
            scripts::call(&APPEND_SHARDED, &[&meta, &hist, &channel])
        } else {
            scripts::call(&APPEND, &[&meta, &hist])
        };
        call.arg(channel)
            .arg(origin)
            .arg(wire::scope_line(append.scope.as_deref()))
            .arg(append.head)
            .arg(new_epoch())
            .arg(if append.keep.is_kept() { append.keep.size } else { 0 })
            .arg(millis(append.keep.ttl).max(1))
            .arg(position_ttl(&append.subject, append.keep));
        // Queued now, in call order: appends reach Redis in that order.
        let (reply, answer) = oneshot::channel();
        let queued = match self.shared.commands() {
            None => Err(unreachable()),
            Some(_) => self
                .appends
                .try_send(Queued { call, reply })
                .map_err(|_| StoreError("the Redis append queue is full".to_owned())),
        };
        let limit = self.shared.config.command_timeout * 2;
        Box::pin(async move {
            queued?;
            match tokio::time::timeout(limit, answer).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(StoreError("the Redis broker stopped".to_owned())),
                Err(_) => Err(StoreError(format!("no offset within {limit:?}"))),
            }
        })
    }

    fn read(&self, read: Read) -> BoxFuture<'static, Result<Snapshot, StoreError>> {
        let keys = self.shared.names.stream_keys(&read.subject);
        let limit = self.shared.config.command_timeout;
        let conn = self.conn();
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let mut conn = conn?;
            let (known_epoch, known_offset) = read.known.map_or((String::new(), 0), |p| (p.epoch, p.offset));
            let mut invocation = READ.prepare_invoke();
            invocation
                .key(&keys[0])
                .key(&keys[1])
                .arg(new_epoch())
                .arg(known_epoch)
                .arg(known_offset)
                .arg(read.after)
                .arg(if read.keep.is_kept() { read.keep.size } else { 0 })
                .arg(millis(read.keep.ttl))
                .arg(position_ttl(&read.subject, read.keep));
            let value: Value = within(limit, invocation.invoke_async(&mut conn))
                .await
                .map_err(|e| failed(&shared, e))?;
            snapshot(value).ok_or_else(|| StoreError("Redis answered a stream read with something else".to_owned()))
        })
    }

    fn listening(&self, subject: &Subject) -> BoxFuture<'static, Result<(), StoreError>> {
        let channel = self.shared.names.channel(subject);
        Box::pin(self.shared.heard_soon(channel))
    }
}

/// `[epoch, offset, (offset, frame, scope, age in ms)*]`.
fn snapshot(value: Value) -> Option<Snapshot> {
    let Value::Array(items) = value else { return None };
    let mut items = items.into_iter();
    let epoch = text(items.next()?)?;
    let offset = number(&items.next()?)?;
    let mut entries = Vec::new();
    while let Some(at) = items.next() {
        let offset = text(at)?.parse().ok()?;
        let frame = bytes(items.next()?)?;
        let scope = bytes(items.next()?)?;
        let age = number(&items.next()?)?;
        entries.push(Entry {
            offset,
            frame,
            scope: serde_json::from_slice(&scope).ok(),
            age: Duration::from_millis(age),
        });
    }
    Some(Snapshot {
        position: Position::new(epoch, offset),
        entries,
    })
}
