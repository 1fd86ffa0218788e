//! The topics one socket has joined, and `subscribe`, `send`, `unsubscribe`.

use super::Connection;
use crate::broker::Subject;
use crate::eager::{Work, contained};
use crate::limits::BudgetSlot;
use crate::node::{InFlight, Sent};
use crate::serial::Serial;
use crate::streams::Ask;
use mizan_channels::{ChannelEntry, Cx, Error, Subscription};
use mizan_protocol::{ErrorCode, Payload, Position, RequestId, ServerFrame};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Topic -> membership, for one socket.
#[derive(Default)]
pub(super) struct Subscriptions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Boxed: most sockets join one or two topics, and a map allocates
    /// room for several entries at once.
    topics: HashMap<Arc<str>, Box<Member>>,
    /// Set at teardown: a subscribe finishing later must not join.
    closed: bool,
}

/// One joined topic, and its place in the node's subscription budget.
struct Member {
    joined: Joined,
    _budget: BudgetSlot,
}

/// What a `send` to a joined topic needs: the params it was joined with
/// (typed, for `receive`, and as sent, to authorize it again when the
/// socket's user changes), its channel, and the ordered queue its `send`s
/// run through.
#[derive(Clone)]
struct Joined {
    subscription: Subscription,
    params: Payload,
    channel: ChannelEntry,
    sends: Arc<Serial>,
}

impl Subscriptions {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `subscribe`: runs the channel's checks (in a task of its own once they
/// have to wait), then joins, replying `subscribed` (and replaying what
/// `ask` asks for) under the topic's lock.
pub(super) fn subscribe(conn: &Arc<Connection>, id: RequestId, channel: &str, params: Payload, ask: Recovery) {
    let Some(entry) = conn.node.registry.channel(channel).cloned() else {
        let e = Error::not_found(format!("unknown channel `{}`", mizan_protocol::quote(channel)));
        conn.reply(&e.to_frame(Some(id)));
        return;
    };
    let max = conn.node.config.max_params_bytes;
    if params.get().len() > max {
        let e = Error::invalid_args(format!("subscription params may be at most {max} bytes of JSON"));
        conn.reply(&e.to_frame(Some(id)));
        return;
    }
    let job = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    let name = entry.name();
    conn.node.eager.run(|| Work::Join(name), async move {
        let conn = job;
        let _running = running;
        let joined = conn.node.guarded(entry.name(), entry.join(conn.cx(), &params)).await;
        // With a stream store, the topic's mirror is made live first (and
        // held until the socket has joined); a store that cannot be read
        // leaves the socket without a position, and the mirror tells it of
        // the gap once it is filled.
        let subject = joined.as_ref().ok().map(|s| Subject::Topic(Arc::clone(s.topic())));
        let (_hold, ready) = match &subject {
            Some(subject) => conn.node.ready(subject).await,
            None => (None, Ok(())),
        };
        if let (Some(subject), Err(error)) = (&subject, &ready) {
            tracing::warn!(%error, "joining a topic without its stream");
            conn.node.taint(subject);
        }
        // `add` tells the broker of a new topic: a broker's panic fails
        // this subscribe, nothing else.
        let added = contained(&conn.node.metrics, "a subscribe", async {
            joined.and_then(|subscription| add(&conn, id, subscription, params, entry, &ask))
        });
        let refusal = match added.await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_frame(Some(id)),
            Err(()) => Error::internal("the subscribe panicked").to_frame(Some(id)),
        };
        conn.reply(&refusal);
    });
}

/// What a `subscribe` asks to see before live messages (PROTOCOL.md
/// section 9).
#[derive(Debug, Clone, Default)]
pub(super) struct Recovery {
    /// Everything after this position.
    pub(super) since: Option<Position>,
    /// The last `history` kept messages.
    pub(super) history: Option<u32>,
}

impl Recovery {
    fn ask(&self) -> Ask<'_> {
        match (&self.since, self.history) {
            (Some(since), _) => Ask::Since(since),
            (None, Some(n)) => Ask::History(n),
            (None, None) => Ask::Live,
        }
    }
}

/// Records the membership, joins the hub and replies `subscribed` (with
/// the replay after it); joining a topic again only replaces the params.
/// Nothing when the socket is already torn down.
fn add(
    conn: &Connection,
    id: RequestId,
    subscription: Subscription,
    params: Payload,
    channel: ChannelEntry,
    recovery: &Recovery,
) -> Result<(), Error> {
    let config = &conn.node.config;
    let topic = Arc::clone(subscription.topic());
    if topic.len() > config.max_topic_bytes {
        return Err(Error::invalid_args(format!(
            "the topic would be {} bytes long; at most {} are allowed",
            topic.len(),
            config.max_topic_bytes
        )));
    }
    let keep = channel.history();
    let subscribed = |position, recovered| ServerFrame::Subscribed {
        id,
        topic: topic.to_string(),
        position,
        recovered,
    };
    let mut inner = conn.subscriptions.lock();
    if inner.closed {
        return Ok(());
    }
    let max = config.max_subscriptions_per_connection;
    if inner.topics.len() >= max && !inner.topics.contains_key(&topic) {
        return Err(Error::limit(format!("a socket may join at most {max} topics")));
    }
    let streams = conn.node.streams.as_deref();
    match inner.topics.entry(Arc::clone(&topic)) {
        Entry::Occupied(mut member) => {
            let joined = &mut member.get_mut().joined;
            if channel.presence() {
                // The member's info follows the params joined with now.
                crate::presence::join(&conn.node, &topic, conn.id, presence_member(conn, &subscription));
            }
            joined.subscription = subscription;
            joined.params = params;
            // Already live: it missed nothing of this epoch.
            let position = streams.and_then(|s| s.topics.position(&topic, keep).ok());
            let recovered = recovery
                .since
                .as_ref()
                .map(|since| position.as_ref().is_some_and(|p| p.follows(since)));
            conn.reply(&subscribed(position, recovered));
        }
        Entry::Vacant(slot) => {
            let budget = &conn.node.limits.subscriptions;
            let Some(budget) = budget.take() else {
                return Err(Error::limit(format!(
                    "this node holds {} subscriptions, its most: try again later",
                    budget.max()
                )));
            };
            let join = || conn.node.join_topic(slot.key(), conn.id, conn.outbox.clone());
            let joined = streams.map(|streams| {
                streams.topics.join(&topic, keep, recovery.ask(), |found| {
                    join();
                    conn.reply(&subscribed(Some(found.position), found.recovered));
                    for frame in found.replay {
                        conn.outbox.push(frame.clone());
                    }
                })
            });
            if !matches!(joined, Some(Ok(()))) {
                join();
                if joined.is_some() {
                    // A mirror that is not live: told of the gap later.
                    conn.node.taint(&Subject::Topic(Arc::clone(&topic)));
                }
                // Nothing is kept: nothing is replayed, and a client that
                // asked to recover is told what it shows is incomplete.
                conn.reply(&subscribed(None, recovery.since.as_ref().map(|_| false)));
            }
            if channel.presence() {
                crate::presence::join(&conn.node, &topic, conn.id, presence_member(conn, &subscription));
            }
            slot.insert(Box::new(Member {
                joined: Joined {
                    subscription,
                    params,
                    channel,
                    sends: Arc::default(),
                },
                _budget: budget,
            }));
        }
    }
    Ok(())
}

/// The channel's answer is encoded once and published; `ok` follows.
pub(super) fn send(conn: &Arc<Connection>, id: RequestId, topic: &str, data: Payload) {
    let Some(joined) = conn
        .subscriptions
        .lock()
        .topics
        .get(topic)
        .map(|member| member.joined.clone())
    else {
        conn.reply(&not_subscribed(id, topic));
        return;
    };
    let sends = Arc::clone(&joined.sends);
    let channel = joined.channel.name();
    let job_conn = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    let job = async move {
        let running = running;
        let conn = job_conn;
        let node = &conn.node;
        let topic = joined.subscription.topic();
        let sent = contained(&node.metrics, "a send", async {
            let received = joined.channel.receive(conn.cx(), &joined.subscription, &data);
            let answer = node.guarded(topic, received).await?;
            Ok::<_, Error>(answer.map(|data| node.publish_message(topic, data, joined.channel.history())))
        });
        let reply = match sent.await {
            // Through a stream store: the next send goes on while this one
            // waits for its offset; `ok` follows the store's answer.
            Ok(Ok(Some(Sent::Later(stored)))) => {
                tokio::spawn(async move {
                    let _running = running;
                    stored.await;
                    conn.reply(&ServerFrame::Ok { id, user: None });
                });
                return;
            }
            Ok(Ok(_)) => ServerFrame::Ok { id, user: None },
            Ok(Err(e)) => e.to_frame(Some(id)),
            Err(()) => Error::internal("the send panicked").to_frame(Some(id)),
        };
        conn.reply(&reply);
    };
    let node = &conn.node;
    let max = node.config.pending_sends_per_topic;
    if sends
        .push(Box::pin(job), max, (&node.eager, Work::Receive(channel), &node.metrics))
        .is_err()
    {
        let e = Error::limit(format!("too many pending sends to `{}`", mizan_protocol::quote(topic)));
        conn.reply(&e.to_frame(Some(id)));
    }
}

/// `unsubscribe`: leaves the topic.
pub(super) fn unsubscribe(conn: &Connection, id: RequestId, topic: &str) {
    let removed = conn.subscriptions.lock().topics.remove_entry(topic);
    match removed {
        Some((topic, _)) => {
            conn.node.leave_topic(&topic, conn.id);
            conn.reply(&ServerFrame::Ok { id, user: None });
        }
        None => conn.reply(&not_subscribed(id, topic)),
    }
}

/// Teardown: leaves every topic; later subscribes will not join.
pub(super) fn leave_all(conn: &Connection) {
    let mut inner = conn.subscriptions.lock();
    inner.closed = true;
    for (topic, _) in inner.topics.drain() {
        conn.node.leave_topic(&topic, conn.id);
    }
}

/// What joining each topic again as another identity gave: the new
/// membership, or why it is refused.
pub(super) type Verdicts = Vec<(Arc<str>, Result<Subscription, ErrorCode>)>;

/// Runs every joined topic's checks again (access level, `authorize`) for
/// `cx`'s identity, without changing anything yet.
pub(super) async fn recheck(conn: &Connection, cx: &Cx) -> Verdicts {
    let joined: Vec<(Arc<str>, Payload, ChannelEntry)> = conn
        .subscriptions
        .lock()
        .topics
        .iter()
        .map(|(topic, m)| (Arc::clone(topic), m.joined.params.clone(), m.joined.channel.clone()))
        .collect();
    let mut verdicts = Vec::with_capacity(joined.len());
    for (topic, params, channel) in joined {
        let verdict = match conn
            .node
            .guarded(channel.name(), channel.join(cx.clone(), &params))
            .await
        {
            // The group comes from the params alone, so this is the same
            // topic; anything else is refused rather than guessed at.
            Ok(subscription) if *subscription.topic() == topic => Ok(subscription),
            Ok(_) => Err(ErrorCode::Forbidden),
            Err(e) if cx.user().is_none() && e.code() == ErrorCode::Forbidden => Err(ErrorCode::Unauthenticated),
            Err(e) => Err(e.code()),
        };
        verdicts.push((topic, verdict));
    }
    verdicts
}

/// Applies [`recheck`]'s verdicts: a refused topic is left and the socket
/// told (`unsubscribed`); no message of it is queued to the socket after
/// that push. An allowed one keeps its membership with the params as the
/// channel decoded them for the new identity.
pub(super) fn apply(conn: &Connection, verdicts: Verdicts) {
    let mut inner = conn.subscriptions.lock();
    for (topic, verdict) in verdicts {
        match verdict {
            Ok(subscription) => {
                if let Some(member) = inner.topics.get_mut(&topic) {
                    if member.joined.channel.presence() {
                        // The member follows the identity (and the info
                        // computed for it): a leave and a join in the diff.
                        crate::presence::join(&conn.node, &topic, conn.id, presence_member(conn, &subscription));
                    }
                    member.joined.subscription = subscription;
                }
            }
            Err(code) => {
                if inner.topics.remove(&topic).is_some() {
                    conn.node.leave_topic(&topic, conn.id);
                    tracing::debug!(%topic, %code, "left a topic the socket's new identity may not join");
                    conn.reply(&ServerFrame::Unsubscribed {
                        topic: topic.to_string(),
                        code,
                    });
                }
            }
        }
    }
}

/// The socket's presence member in a topic it joined as `subscription`.
fn presence_member(conn: &Connection, subscription: &Subscription) -> mizan_protocol::Member {
    let user = conn.identity.user().map(|u| u.id.clone());
    mizan_protocol::Member::new(&*conn.session, user).with_info(subscription.member_info().cloned())
}

/// `presence` (answered at the next presence flush) and `presence_stats`
/// (at once, once the other nodes' members are known): only a subscriber
/// of the topic may ask, and only of a channel that tracks presence.
pub(super) fn presence(conn: &Arc<Connection>, id: RequestId, topic: &str, stats: bool) {
    let tracked = conn
        .subscriptions
        .lock()
        .topics
        .get_key_value(topic)
        .map(|(topic, member)| (Arc::clone(topic), member.joined.channel.clone()));
    let Some((topic, channel)) = tracked else {
        conn.reply(&not_subscribed(id, topic));
        return;
    };
    if !channel.presence() {
        let e = Error::not_found(format!("channel `{}` does not track presence", channel.name()));
        conn.reply(&e.to_frame(Some(id)));
        return;
    }
    crate::presence::ask(&conn.node, &topic, conn.id, id, conn.outbox.clone(), stats);
}

fn not_subscribed(id: RequestId, topic: &str) -> ServerFrame {
    Error::new(
        ErrorCode::NotSubscribed,
        format!("this socket has not joined `{}`", mizan_protocol::quote(topic)),
    )
    .to_frame(Some(id))
}
