//! The topics one socket has joined, and `subscribe`, `send`, `unsubscribe`.

use super::Connection;
use crate::eager::{Work, contained};
use crate::limits::BudgetSlot;
use crate::node::InFlight;
use crate::serial::Serial;
use mizan_channels::{ChannelEntry, Cx, Error, Subscription};
use mizan_protocol::{ErrorCode, Payload, RequestId, ServerFrame};
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
/// have to wait), then joins.
pub(super) fn subscribe(conn: &Arc<Connection>, id: RequestId, channel: &str, params: Payload, recovering: bool) {
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
        // `add` tells the broker of a new topic: a broker's panic fails
        // this subscribe, nothing else.
        let added = contained(&conn.node.metrics, "a subscribe", async {
            joined.and_then(|subscription| add(&conn, subscription, params, entry))
        });
        let reply = match added.await {
            Ok(Ok(Some(topic))) => ServerFrame::Subscribed {
                id,
                topic: topic.to_string(),
                position: None,
                // Nothing is replayed: what the client shows is incomplete.
                recovered: recovering.then_some(false),
            },
            Ok(Ok(None)) => return,
            Ok(Err(e)) => e.to_frame(Some(id)),
            Err(()) => Error::internal("the subscribe panicked").to_frame(Some(id)),
        };
        conn.reply(&reply);
    });
}

/// Records the membership and joins the hub; joining a topic again only
/// replaces the params. `None` when the socket is already torn down.
fn add(
    conn: &Connection,
    subscription: Subscription,
    params: Payload,
    channel: ChannelEntry,
) -> Result<Option<Arc<str>>, Error> {
    let config = &conn.node.config;
    let topic = Arc::clone(subscription.topic());
    if topic.len() > config.max_topic_bytes {
        return Err(Error::invalid_args(format!(
            "the topic would be {} bytes long; at most {} are allowed",
            topic.len(),
            config.max_topic_bytes
        )));
    }
    let mut inner = conn.subscriptions.lock();
    if inner.closed {
        return Ok(None);
    }
    let max = config.max_subscriptions_per_connection;
    if inner.topics.len() >= max && !inner.topics.contains_key(&topic) {
        return Err(Error::limit(format!("a socket may join at most {max} topics")));
    }
    match inner.topics.entry(Arc::clone(&topic)) {
        Entry::Occupied(mut member) => {
            let joined = &mut member.get_mut().joined;
            joined.subscription = subscription;
            joined.params = params;
        }
        Entry::Vacant(slot) => {
            let budget = &conn.node.limits.subscriptions;
            let Some(budget) = budget.take() else {
                return Err(Error::limit(format!(
                    "this node holds {} subscriptions, its most: try again later",
                    budget.max()
                )));
            };
            conn.node.join_topic(slot.key(), conn.id, conn.outbox.clone());
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
    Ok(Some(topic))
}

/// `send`: queued behind this socket's earlier sends to the same topic.
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
        let _running = running;
        let conn = job_conn;
        let node = &conn.node;
        let topic = joined.subscription.topic();
        let sent = contained(&node.metrics, "a send", async {
            let received = joined.channel.receive(conn.cx(), &joined.subscription, &data);
            let answer = node.guarded(topic, received).await?;
            if let Some(data) = answer {
                let frame = ServerFrame::Message {
                    topic: topic.to_string(),
                    data,
                    offset: None,
                };
                node.publish_topic(topic, frame.encode().into());
            }
            Ok::<_, Error>(())
        });
        let reply = match sent.await {
            Ok(Ok(())) => ServerFrame::Ok { id, user: None },
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

fn not_subscribed(id: RequestId, topic: &str) -> ServerFrame {
    Error::new(
        ErrorCode::NotSubscribed,
        format!("this socket has not joined `{}`", mizan_protocol::quote(topic)),
    )
    .to_frame(Some(id))
}
