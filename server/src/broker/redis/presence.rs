//! The presence store in Redis (`wire::presence_keys` names the keys):
//! per topic, a sorted set of the nodes with members there, each scored by
//! the time (Redis's clock) after which it counts as gone, a hash per node
//! of its members (session → member JSON, and its last news' `seq`), and
//! a channel of the nodes' news.
//!
//! - **Update** (one script per topic, a pipeline per flush): writes the
//!   node's joins and leaves (or, for a reset, its whole list), pushes its
//!   deadline back, and publishes the news. A node left with no members
//!   leaves the set and its hash is deleted.
//! - **Refresh** (the heartbeat, a pipeline per beat): pushes the node's
//!   deadline back and its keys' expiry; then sweeps: every node whose
//!   deadline passed leaves the set, its hash is deleted, and
//!   `{"kind":"gone","node":…}` is published, once, by whichever node swept
//!   it (the script is atomic).
//! - **Read**: every node's hash of the topic.
//!
//! Keys expire the presence TTL after their last write, so nothing outlives
//! a cluster of nodes that all stopped.

use super::connection::within;
use super::scripts::{self, failed, millis, number, text, unreachable};
use super::{Shared, Wanted, wire};
use crate::broker::presence::{News, NodeMembers, PresenceStore, Update};
use crate::broker::store::StoreError;
use ::redis::{Cmd, Script, Value};
use futures_util::future::BoxFuture;
use mizan_protocol::Member;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// KEYS: nodes, own members. ARGV: node, key TTL (ms), deadline (ms from
/// now), channel, envelope, `r` (reset) or `d`, seq, joins, then
/// (session, member) per join, then the sessions that left.
const UPDATE_SOURCE: &str = r"
local nodes, members = KEYS[1], KEYS[2]
if ARGV[6] == 'r' then redis.call('DEL', members) end
local i = 9
for _ = 1, tonumber(ARGV[8]) do
  redis.call('HSET', members, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', members, ARGV[i])
  i = i + 1
end
redis.call('HSET', members, '~seq', ARGV[7])
if redis.call('HLEN', members) <= 1 then
  redis.call('DEL', members)
  redis.call('ZREM', nodes, ARGV[1])
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('PEXPIRE', members, ARGV[2])
  redis.call('ZADD', nodes, now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', nodes, ARGV[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

static UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(UPDATE_SOURCE));

/// [`UPDATE`] on a cluster: the channel is `KEYS[3]`, `SPUBLISH`ed.
static UPDATE_SHARDED: LazyLock<Script> = LazyLock::new(|| scripts::sharded(UPDATE_SOURCE, "'PUBLISH', ARGV[4],"));

/// KEYS: nodes, own members. ARGV: node, key TTL, deadline, channel,
/// origin line, members key prefix, members key suffix, `1` when the node
/// has members here. Returns 0 when they vanished.
const REFRESH_SOURCE: &str = r#"
local nodes, members = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kept = 1
if ARGV[8] == '1' then
  if redis.call('EXISTS', members) == 1 then
    redis.call('PEXPIRE', members, ARGV[2])
    redis.call('ZADD', nodes, now + tonumber(ARGV[3]), ARGV[1])
    redis.call('PEXPIRE', nodes, ARGV[2])
  else
    kept = 0
  end
end
for _, node in ipairs(redis.call('ZRANGEBYSCORE', nodes, '-inf', now)) do
  redis.call('ZREM', nodes, node)
  redis.call('DEL', ARGV[6] .. node .. ARGV[7])
  redis.call('PUBLISH', ARGV[4], ARGV[5] .. '{"kind":"gone","node":"' .. node .. '"}')
end
return kept
"#;

static REFRESH: LazyLock<Script> = LazyLock::new(|| Script::new(REFRESH_SOURCE));

/// [`REFRESH`] on a cluster: the channel is `KEYS[3]`, `SPUBLISH`ed.
static REFRESH_SHARDED: LazyLock<Script> = LazyLock::new(|| scripts::sharded(REFRESH_SOURCE, "'PUBLISH', ARGV[4],"));

/// KEYS: nodes. ARGV: members key prefix and suffix. Returns (node,
/// [field, value]*)*.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for _, node in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(out, node)
  table.insert(out, redis.call('HGETALL', ARGV[1] .. node .. ARGV[2]))
end
return out
",
    )
});

/// The presence store of a [`RedisBroker`](super::RedisBroker)'s node.
pub(super) struct RedisPresence {
    shared: Arc<Shared>,
    wake: mpsc::Sender<()>,
}

impl RedisPresence {
    pub(super) fn new(shared: Arc<Shared>, wake: mpsc::Sender<()>) -> Self {
        Self { shared, wake }
    }

    /// This node's id and `<id>\n`, the start of its messages.
    fn origin(&self) -> (String, String) {
        let node = self.shared.node.get().map_or_else(String::new, ToString::to_string);
        let line = format!("{node}\n");
        (node, line)
    }

    fn update_call(&self, update: &Update, ttl: Duration) -> Option<Cmd> {
        let keys = self.shared.names.presence_keys(&update.topic);
        let (node, origin) = self.origin();
        let (ttl, deadline) = times(ttl);
        let envelope = format!("{origin}{}", serde_json::to_string(&update.news).ok()?);
        let (kind, seq, joins, leaves): (&str, u64, &[Member], &[Member]) = match &update.news {
            News::Diff { seq, joins, leaves } => ("d", *seq, joins, leaves),
            News::Reset { seq, members } => ("r", *seq, members, &[]),
            News::Gone { .. } => return None,
        };
        let members = keys.members_of(&node);
        let mut call = if self.shared.names.cluster() {
            scripts::call(&UPDATE_SHARDED, &[&keys.nodes, &members, &keys.channel])
        } else {
            scripts::call(&UPDATE, &[&keys.nodes, &members])
        };
        call.arg(node)
            .arg(ttl)
            .arg(deadline)
            .arg(&keys.channel)
            .arg(envelope)
            .arg(kind)
            .arg(seq)
            .arg(joins.len());
        for member in joins {
            call.arg(&member.session).arg(serde_json::to_string(member).ok()?);
        }
        for member in leaves {
            call.arg(&member.session);
        }
        Some(call)
    }
}

/// The key TTL and the deadline a write or a refresh sets, in ms, for a
/// presence TTL of `ttl`: a node that stops refreshing (every quarter of
/// it) is swept once half of it passed, so within three quarters.
fn times(ttl: Duration) -> (u64, u64) {
    let ttl = millis(ttl).max(4);
    (ttl, ttl / 2)
}

/// A script's answer as 1 (done, kept) or 0.
fn flag(answer: ::redis::RedisResult<Value>) -> Result<bool, StoreError> {
    match answer {
        Ok(value) => Ok(number(&value) == Some(1)),
        Err(e) => Err(StoreError(e.to_string())),
    }
}

impl PresenceStore for RedisPresence {
    fn update(
        &self,
        updates: Vec<Update>,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<Result<(), StoreError>>, StoreError>> {
        let calls: Option<Vec<Cmd>> = updates.iter().map(|u| self.update_call(u, ttl)).collect();
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let calls = calls.ok_or_else(|| StoreError("an update was not a diff or a reset".to_owned()))?;
            let script = if shared.names.cluster() {
                &*UPDATE_SHARDED
            } else {
                &*UPDATE
            };
            let answers = scripts::pipeline(&shared, script, &calls).await?;
            Ok(answers.into_iter().map(|a| flag(a).map(drop)).collect())
        })
    }

    fn refresh(
        &self,
        topics: Vec<(Arc<str>, bool)>,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<bool>, StoreError>> {
        let (node, origin) = self.origin();
        let (ttl, deadline) = times(ttl);
        let calls: Vec<Cmd> = topics
            .iter()
            .map(|(topic, own)| {
                let keys = self.shared.names.presence_keys(topic);
                let members = keys.members_of(&node);
                let mut call = if self.shared.names.cluster() {
                    scripts::call(&REFRESH_SHARDED, &[&keys.nodes, &members, &keys.channel])
                } else {
                    scripts::call(&REFRESH, &[&keys.nodes, &members])
                };
                call.arg(&node)
                    .arg(ttl)
                    .arg(deadline)
                    .arg(&keys.channel)
                    .arg(&origin)
                    .arg(&keys.members_before)
                    .arg(&keys.members_after)
                    .arg(if *own { "1" } else { "0" });
                call
            })
            .collect();
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let script = if shared.names.cluster() {
                &*REFRESH_SHARDED
            } else {
                &*REFRESH
            };
            let answers = scripts::pipeline(&shared, script, &calls).await?;
            Ok(answers.into_iter().map(|a| flag(a).unwrap_or(true)).collect())
        })
    }

    fn read(&self, topic: &str) -> BoxFuture<'static, Result<Vec<NodeMembers>, StoreError>> {
        let keys = self.shared.names.presence_keys(topic);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let mut conn = shared.commands().ok_or_else(unreachable)?;
            let mut invocation = READ.prepare_invoke();
            invocation
                .key(&keys.nodes)
                .arg(&keys.members_before)
                .arg(&keys.members_after);
            let value: Value = within(shared.config.command_timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|e| failed(&shared, e))?;
            nodes(value).ok_or_else(|| StoreError("Redis answered a presence read with something else".to_owned()))
        })
    }

    fn listen(&self, topic: &Arc<str>) -> BoxFuture<'static, Result<(), StoreError>> {
        let channel = self.shared.names.presence_keys(topic).channel;
        let wanted = Wanted::Presence(Arc::clone(topic));
        self.shared.want(&self.wake, channel.clone(), Some(wanted));
        Box::pin(self.shared.heard_soon(channel))
    }

    fn unlisten(&self, topic: &Arc<str>) {
        let channel = self.shared.names.presence_keys(topic).channel;
        self.shared.want(&self.wake, channel, None);
    }
}

/// `(node, [field, value]*)*`; members that do not parse are skipped.
fn nodes(value: Value) -> Option<Vec<NodeMembers>> {
    let Value::Array(items) = value else { return None };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let Some(node) = items.next() {
        let node = text(node)?;
        let Value::Array(fields) = items.next()? else {
            return None;
        };
        let mut seq = 0;
        let mut members = Vec::with_capacity(fields.len() / 2);
        let mut fields = fields.into_iter();
        while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
            let (field, value) = (text(field)?, text(value)?);
            if field == wire::SEQ_FIELD {
                seq = value.parse().ok()?;
            } else if let Ok(member) = serde_json::from_str::<Member>(&value) {
                members.push(member);
            }
        }
        out.push(NodeMembers { node, seq, members });
    }
    Some(out)
}
