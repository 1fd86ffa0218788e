//! The topics one socket has joined, and `subscribe`, `send`, `unsubscribe`.

use super::Connection;
use crate::eager::run_or_spawn;
use crate::node::InFlight;
use crate::serial::Serial;
use mizan_channels::{ChannelEntry, Error, Subscription};
use mizan_protocol::{Payload, RequestId, ServerFrame};
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
    topics: HashMap<Arc<str>, Box<Joined>>,
    /// Set at teardown: a subscribe finishing later must not join.
    closed: bool,
}

/// One joined topic: the params it was joined with, its channel, and the
/// ordered queue its `send`s run through.
#[derive(Clone)]
struct Joined {
    subscription: Subscription,
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
pub(super) fn subscribe(conn: &Arc<Connection>, id: RequestId, channel: &str, params: Payload) {
    let Some(entry) = conn.node.registry.channel(channel).cloned() else {
        conn.reply(&Error::not_found(format!("unknown channel `{channel}`")).to_frame(Some(id)));
        return;
    };
    let conn = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    run_or_spawn(async move {
        let _running = running;
        let joined = conn.node.guarded(entry.name(), entry.join(conn.cx(), &params)).await;
        let reply = match joined.and_then(|subscription| add(&conn, subscription, entry)) {
            Ok(Some(topic)) => ServerFrame::Subscribed {
                id,
                topic: topic.to_string(),
            },
            Ok(None) => return,
            Err(e) => e.to_frame(Some(id)),
        };
        conn.reply(&reply);
    });
}

/// Records the membership and joins the hub; joining a topic again only
/// replaces the params. `None` when the socket is already torn down.
fn add(conn: &Connection, subscription: Subscription, channel: ChannelEntry) -> Result<Option<Arc<str>>, Error> {
    let mut inner = conn.subscriptions.lock();
    if inner.closed {
        return Ok(None);
    }
    let topic = Arc::clone(subscription.topic());
    let max = conn.node.config.max_subscriptions_per_connection;
    if inner.topics.len() >= max && !inner.topics.contains_key(&topic) {
        return Err(Error::limit(format!("a socket may join at most {max} topics")));
    }
    match inner.topics.entry(Arc::clone(&topic)) {
        Entry::Occupied(mut joined) => joined.get_mut().subscription = subscription,
        Entry::Vacant(slot) => {
            conn.node.join_topic(slot.key(), conn.id, conn.outbox.clone());
            slot.insert(Box::new(Joined {
                subscription,
                channel,
                sends: Arc::default(),
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
        .map(|joined| Joined::clone(joined))
    else {
        conn.reply(&not_subscribed(id, topic));
        return;
    };
    let sends = Arc::clone(&joined.sends);
    let job_conn = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    let job = async move {
        let _running = running;
        let conn = job_conn;
        let topic = joined.subscription.topic();
        let received = joined.channel.receive(conn.cx(), &joined.subscription, &data);
        match conn.node.guarded(topic, received).await {
            Ok(answer) => {
                if let Some(data) = answer {
                    let frame = ServerFrame::Message {
                        topic: topic.to_string(),
                        data,
                    };
                    conn.node.publish_topic(topic, frame.encode().into());
                }
                conn.reply(&ServerFrame::Ok { id, user: None });
            }
            Err(e) => conn.reply(&e.to_frame(Some(id))),
        }
    };
    if sends
        .push(Box::pin(job), conn.node.config.pending_sends_per_topic)
        .is_err()
    {
        conn.reply(&Error::limit(format!("too many pending sends to `{topic}`")).to_frame(Some(id)));
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

fn not_subscribed(id: RequestId, topic: &str) -> ServerFrame {
    Error::new(
        mizan_protocol::ErrorCode::NotSubscribed,
        format!("this socket has not joined `{topic}`"),
    )
    .to_frame(Some(id))
}
