//! The presence tasks of a node, holding it weakly (they stop with it):
//!
//! - the **ticker**: a flush every `presence_interval`, and beside a store
//!   a heartbeat every quarter of `presence_ttl` (or at once after an
//!   outage: [`super::catch_up`]);
//! - the **writer**: sends what the ticker hands it to the store, in
//!   order, so one slow store call never delays a local diff; whatever
//!   could not be written is said again, whole, at the next heartbeat;
//! - **reads** of the other nodes' members, one at a time per topic.

use super::Presence;
use crate::broker::presence::{PresenceStore, Update};
use crate::broker::store::StoreError;
use crate::node::Node;
use futures_util::future::BoxFuture;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// Batches of work waiting for the writer, at most; past it, the topics
/// concerned are written again at the next heartbeat.
const WRITES_QUEUED: usize = 64;

/// Reads of one topic in a row (the n-th after n × [`RETRY_FIRST`])
/// before the next heartbeat tries again.
const READ_ATTEMPTS: u32 = 3;

/// The first wait before writing again after a failure.
const RETRY_FIRST: Duration = Duration::from_millis(100);

/// What the writer sends to the store.
enum Write {
    Updates(Vec<Update>),
    Beat(Vec<(Arc<str>, bool)>),
}

/// Starts the node's presence tasks (once).
pub(crate) fn start(node: &Arc<Node>) {
    if node.presence.running.swap(true, Ordering::AcqRel) {
        return;
    }
    let writer = node.presence.store.as_ref().map(|store| {
        let (queue, writes) = mpsc::channel(WRITES_QUEUED);
        tokio::spawn(write(Arc::downgrade(node), Arc::clone(store), writes));
        queue
    });
    tokio::spawn(tick(Arc::downgrade(node), writer));
}

/// The ticker (see the module docs).
async fn tick(node: Weak<Node>, writer: Option<mpsc::Sender<Write>>) {
    let (every, beat_every, beat_now) = match node.upgrade() {
        Some(node) => (
            // A zero interval would make the timer panic.
            node.config.presence_interval.max(Duration::from_millis(1)),
            (node.config.presence_ttl / 4).max(Duration::from_millis(1)),
            Arc::clone(&node.presence.beat_now),
        ),
        None => return,
    };
    let mut flushes = tokio::time::interval(every);
    flushes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats = tokio::time::interval(beat_every);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let beat = tokio::select! {
            _ = flushes.tick() => false,
            _ = beats.tick() => true,
            () = beat_now.notified() => true,
        };
        let Some(node) = node.upgrade() else { return };
        let presence = &node.presence;
        let updates = presence.flush(&node.hub);
        let Some(writer) = &writer else { continue };
        if !updates.is_empty() {
            hand(presence, writer, updates);
        }
        if beat {
            heartbeat(&node, writer);
        }
    }
}

/// Hands `updates` to the writer; when it is too far behind, their topics
/// are written again whole at the next heartbeat.
fn hand(presence: &Presence, writer: &mpsc::Sender<Write>, updates: Vec<Update>) {
    if let Err(refused) = writer.try_send(Write::Updates(updates))
        && let Write::Updates(updates) = refused.into_inner()
    {
        tracing::warn!(
            topics = updates.len(),
            "presence writes are behind: written again at the next heartbeat"
        );
        for update in updates {
            presence.lost(&update.topic);
        }
    }
}

/// The resets pending, the refresh of every topic, and reads of the topics
/// whose last read failed.
fn heartbeat(node: &Arc<Node>, writer: &mpsc::Sender<Write>) {
    let presence = &node.presence;
    let mut resets = Vec::new();
    let mut beat = Vec::with_capacity(presence.topics.len());
    let mut unread = Vec::new();
    for mut t in presence.topics.iter_mut() {
        let topic = Arc::clone(t.key());
        if let Some(news) = t.pending_reset() {
            resets.push(Update {
                topic: Arc::clone(&topic),
                news,
            });
        }
        if t.read_failed() {
            unread.push(Arc::clone(&topic));
        }
        beat.push((topic, t.has_written()));
    }
    if !resets.is_empty() {
        hand(presence, writer, resets);
    }
    if writer.try_send(Write::Beat(beat)).is_err() {
        tracing::warn!("presence writes are behind: this heartbeat is skipped");
    }
    for topic in unread {
        read(node, topic, None);
    }
}

/// The writer (see the module docs). After a failure it waits (from
/// [`RETRY_FIRST`], doubling up to a heartbeat) and asks for a heartbeat,
/// which writes again what was lost.
async fn write(node: Weak<Node>, store: Arc<dyn PresenceStore>, mut writes: mpsc::Receiver<Write>) {
    let mut retry = RETRY_FIRST;
    while let Some(work) = writes.recv().await {
        let Some(ttl) = node.upgrade().map(|n| n.config.presence_ttl) else {
            return;
        };
        let (topics, answers): (Vec<Arc<str>>, Result<Vec<bool>, StoreError>) = match work {
            Write::Updates(updates) => {
                let topics = updates.iter().map(|u| Arc::clone(&u.topic)).collect();
                let answers = store
                    .update(updates, ttl)
                    .await
                    .map(|answers| answers.iter().map(Result::is_ok).collect());
                (topics, answers)
            }
            Write::Beat(beat) => {
                let topics = beat.iter().map(|(topic, _)| Arc::clone(topic)).collect();
                (topics, store.refresh(beat, ttl).await)
            }
        };
        let Some(strong) = node.upgrade() else { return };
        let failed = match answers {
            Ok(answers) => {
                let mut failed = false;
                for (topic, kept) in topics.iter().zip(answers) {
                    if !kept {
                        strong.presence.lost(topic);
                        failed = true;
                    }
                }
                failed
            }
            Err(error) => {
                tracing::debug!(%error, topics = topics.len(), "presence could not be written: written again soon");
                for topic in &topics {
                    strong.presence.lost(topic);
                }
                true
            }
        };
        if !failed {
            retry = RETRY_FIRST;
            continue;
        }
        let (beat_every, beat_now) = (
            (strong.config.presence_ttl / 4).max(RETRY_FIRST),
            Arc::clone(&strong.presence.beat_now),
        );
        drop(strong);
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(beat_every);
        beat_now.notify_one();
    }
}

/// Reads the other nodes' members of `topic` (after `listening`, when the
/// node just started listening), unless a read is under way.
pub(super) fn read(node: &Arc<Node>, topic: Arc<str>, listening: Option<BoxFuture<'static, Result<(), StoreError>>>) {
    let Some(store) = node.presence.store.clone() else {
        return;
    };
    let started = listening.is_some() || node.presence.topics.get_mut(&topic).is_some_and(|mut t| t.begin_read());
    if !started {
        return;
    }
    let node = Arc::downgrade(node);
    tokio::spawn(async move {
        if let Some(listening) = listening
            && let Err(error) = listening.await
        {
            tracing::warn!(%error, %topic, "not hearing a presence topic's news: its members may lag");
        }
        for attempt in 1..=READ_ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(RETRY_FIRST * (attempt - 1)).await;
            }
            let read = store.read(&topic).await;
            if let Err(error) = &read {
                tracing::debug!(%error, %topic, attempt, "reading a presence topic failed");
            }
            let Some(node) = node.upgrade() else { return };
            let Some(mut t) = node.presence.topics.get_mut(&topic) else {
                return;
            };
            let again = t.end_read(&node.id, read.ok()) == super::topic::Heard::Reread;
            if !again || attempt == READ_ATTEMPTS || !t.begin_read() {
                return;
            }
        }
    });
}
