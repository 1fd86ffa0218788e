//! One presence topic on one node: its members (this node's sockets and
//! the other nodes'), the batch of changes waiting for the local
//! subscribers, and this node's news waiting for the store. No I/O:
//! `mod.rs` drives it.

use crate::broker::presence::{News, NodeMembers};
use crate::hub::ConnId;
use crate::outbox::Outbox;
use mizan_protocol::{Member, RequestId, ServerFrame};
use std::collections::{HashMap, HashSet};

/// See the module docs.
pub(super) struct Topic {
    /// This node's sockets.
    local: HashMap<ConnId, Member>,
    /// The other nodes' members, by node.
    remote: HashMap<String, Remote>,
    /// Sockets per signed-in user, every node's, for `presence_stats`.
    users: HashMap<String, usize>,
    /// Every node's sockets.
    sessions: usize,
    batch: Batch,
    out: Out,
    /// `presence` and `presence_stats` requests waiting for the next flush
    /// (or, for the stats, for the topic to be ready).
    asking: Vec<Asker>,
    /// The other nodes' members were read once (at once without a store):
    /// until then requests wait.
    ready: bool,
    /// While the other nodes' members are being read, their news waits
    /// here.
    reading: Option<Vec<(String, News)>>,
    /// The last read failed, or news was missed after it: read again.
    unread: bool,
    /// Beside a store: this node's news is kept for it.
    shared: bool,
}

/// Another node's members, as its news told them.
#[derive(Default)]
struct Remote {
    seq: u64,
    members: HashMap<String, Member>,
}

/// The changes since the last flush, for the local subscribers.
#[derive(Default)]
struct Batch {
    joins: Vec<Member>,
    leaves: Vec<Member>,
    /// The local sockets that joined: not sent this batch's diff.
    joiners: Vec<ConnId>,
}

/// This node's news for the store.
#[derive(Default)]
struct Out {
    /// Of the last news made.
    seq: u64,
    /// Its first news (a reset) was made.
    started: bool,
    /// Whether the store holds what the news said is unknown: the next
    /// news is a reset.
    reset: bool,
    joins: Vec<Member>,
    leaves: Vec<Member>,
}

/// A request waiting for a flush.
pub(super) struct Asker {
    pub(super) conn: ConnId,
    pub(super) id: RequestId,
    pub(super) outbox: Outbox,
    /// `presence_stats` rather than `presence`.
    pub(super) stats: bool,
}

/// What a flush hands on.
#[derive(Default)]
pub(super) struct Flushed {
    /// The diff for the local subscribers, and who does not get it.
    pub(super) diff: Option<(ServerFrame, HashSet<ConnId>)>,
    /// The answers to the requests that waited.
    pub(super) answers: Vec<(Outbox, ServerFrame)>,
    /// This node's news for the store.
    pub(super) news: Option<News>,
}

/// What hearing another node's news needs next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Heard {
    /// Nothing more.
    Done,
    /// A news was missed: read the topic again.
    Reread,
}

impl Batch {
    fn add(&mut self, member: Member) {
        match self.leaves.iter().position(|m| *m == member) {
            Some(at) => {
                self.leaves.swap_remove(at);
            }
            None => self.joins.push(member),
        }
    }

    fn remove(&mut self, member: Member) {
        match self.joins.iter().position(|m| m.session == member.session) {
            Some(at) => {
                self.joins.swap_remove(at);
            }
            None => self.leaves.push(member),
        }
    }
}

impl Out {
    fn join(&mut self, member: &Member) {
        if self.started && !self.reset {
            self.joins.push(member.clone());
        }
    }

    fn leave(&mut self, member: &Member) {
        if !self.started || self.reset {
            return;
        }
        match self.joins.iter().position(|m| m.session == member.session) {
            Some(at) => {
                self.joins.swap_remove(at);
            }
            None => self.leaves.push(member.clone()),
        }
    }

    fn reset_news(&mut self, local: &HashMap<ConnId, Member>) -> News {
        self.started = true;
        self.reset = false;
        self.joins.clear();
        self.leaves.clear();
        self.seq += 1;
        News::Reset {
            seq: self.seq,
            members: local.values().cloned().collect(),
        }
    }

    /// The news of this flush: the first one is a reset; a pending reset
    /// waits for the heartbeat, unless nothing is left to say.
    fn take(&mut self, local: &HashMap<ConnId, Member>) -> Option<News> {
        if !self.started {
            return (!local.is_empty()).then(|| self.reset_news(local));
        }
        if self.reset {
            return local.is_empty().then(|| self.reset_news(local));
        }
        if self.joins.is_empty() && self.leaves.is_empty() {
            return None;
        }
        self.seq += 1;
        Some(News::Diff {
            seq: self.seq,
            joins: std::mem::take(&mut self.joins),
            leaves: std::mem::take(&mut self.leaves),
        })
    }
}

impl Topic {
    /// A topic with no members; `shared` beside a store (other nodes'
    /// members are read before requests are answered, and this node's
    /// news is kept for the store).
    pub(super) fn new(shared: bool) -> Self {
        Self {
            local: HashMap::new(),
            remote: HashMap::new(),
            users: HashMap::new(),
            sessions: 0,
            batch: Batch::default(),
            out: Out::default(),
            asking: Vec::new(),
            ready: !shared,
            reading: None,
            unread: false,
            shared,
        }
    }

    fn added(&mut self, member: Member) {
        self.sessions += 1;
        if let Some(user) = &member.user {
            *self.users.entry(user.clone()).or_default() += 1;
        }
        self.batch.add(member);
    }

    fn removed(&mut self, member: Member) {
        self.sessions -= 1;
        if let Some(user) = &member.user
            && let Some(n) = self.users.get_mut(user)
        {
            *n -= 1;
            if *n == 0 {
                self.users.remove(user);
            }
        }
        self.batch.remove(member);
    }

    /// This node's socket `conn` joined as `member` (again: it is
    /// `member` now, for another identity).
    pub(super) fn join(&mut self, conn: ConnId, member: Member) {
        if self.local.get(&conn) == Some(&member) {
            return;
        }
        match self.local.insert(conn, member.clone()) {
            Some(old) => {
                // Still a member: it is sent the change like everyone.
                if self.shared {
                    self.out.leave(&old);
                }
                self.removed(old);
            }
            None => self.batch.joiners.push(conn),
        }
        if self.shared {
            self.out.join(&member);
        }
        self.added(member);
    }

    /// This node's socket `conn` left (a no-op when it was not a member).
    pub(super) fn leave(&mut self, conn: ConnId) {
        self.asking.retain(|a| a.conn != conn);
        self.batch.joiners.retain(|c| *c != conn);
        let Some(member) = self.local.remove(&conn) else { return };
        if self.shared {
            self.out.leave(&member);
        }
        self.removed(member);
    }

    /// Whether this node has no socket here, nor a request waiting.
    pub(super) fn is_abandoned(&self) -> bool {
        self.local.is_empty() && self.asking.is_empty()
    }

    /// Whether this node has members written in the store.
    pub(super) fn has_written(&self) -> bool {
        self.out.started && !self.out.reset && !self.local.is_empty()
    }

    /// `(sessions, distinct users)`, once ready.
    pub(super) fn stats(&self) -> Option<(u64, u64)> {
        self.ready.then_some((self.sessions as u64, self.users.len() as u64))
    }

    /// Whether the other nodes' members must be read again.
    pub(super) fn read_failed(&self) -> bool {
        self.unread && self.reading.is_none()
    }

    /// Queues a request for the next flush.
    pub(super) fn ask(&mut self, asker: Asker) {
        self.asking.push(asker);
    }

    /// The store may not hold what this node said: say it all again at the
    /// next heartbeat.
    pub(super) fn lost(&mut self) {
        self.out.reset = true;
    }

    /// The reset a heartbeat sends, when one is pending.
    pub(super) fn pending_reset(&mut self) -> Option<News> {
        (self.out.started && self.out.reset).then(|| self.out.reset_news(&self.local))
    }

    /// Every member, every node's.
    fn members(&self) -> Vec<Member> {
        let remote = self.remote.values().flat_map(|r| r.members.values());
        self.local.values().chain(remote).cloned().collect()
    }

    /// The batch's diff, the answers to the waiting requests (once ready)
    /// and this node's news.
    pub(super) fn flush(&mut self, topic: &str) -> Flushed {
        let mut flushed = Flushed::default();
        let batch = std::mem::take(&mut self.batch);
        if !batch.joins.is_empty() || !batch.leaves.is_empty() {
            let asking = self.asking.iter().filter(|a| !a.stats).map(|a| a.conn);
            let not_to = batch.joiners.iter().copied().chain(asking).collect();
            let frame = ServerFrame::PresenceDiff {
                topic: topic.to_owned(),
                joins: batch.joins,
                leaves: batch.leaves,
            };
            flushed.diff = Some((frame, not_to));
        }
        if self.ready && !self.asking.is_empty() {
            let members = self.asking.iter().any(|a| !a.stats).then(|| self.members());
            for asker in self.asking.drain(..) {
                let answer = match (asker.stats, &members) {
                    (false, Some(members)) => ServerFrame::Presence {
                        id: asker.id,
                        topic: topic.to_owned(),
                        members: members.clone(),
                    },
                    _ => ServerFrame::PresenceStats {
                        id: asker.id,
                        topic: topic.to_owned(),
                        sessions: self.sessions as u64,
                        users: self.users.len() as u64,
                    },
                };
                flushed.answers.push((asker.outbox, answer));
            }
        }
        if self.shared {
            flushed.news = self.out.take(&self.local);
        }
        flushed
    }

    /// Another node's news (`origin` sent it; `own` is this node).
    pub(super) fn hear(&mut self, own: &str, origin: &str, news: News) -> Heard {
        let from = match &news {
            News::Gone { node } if node == own => {
                // Swept while alive (too slow to refresh): say it all again.
                self.out.reset = true;
                return Heard::Done;
            }
            News::Gone { node } => node.clone(),
            _ if origin == own => return Heard::Done,
            _ => origin.to_owned(),
        };
        match &mut self.reading {
            Some(waiting) => {
                waiting.push((from, news));
                Heard::Done
            }
            None => self.apply(from, news),
        }
    }

    /// Applies one node's news to what is known of its members.
    fn apply(&mut self, node: String, news: News) -> Heard {
        match news {
            News::Gone { .. } => self.replace(&node, 0, Vec::new()),
            News::Reset { seq, members } => self.replace(&node, seq, members),
            News::Diff { seq, joins, leaves } => {
                let Some(remote) = self.remote.get_mut(&node) else {
                    return Heard::Reread;
                };
                if seq != remote.seq + 1 {
                    return if seq <= remote.seq { Heard::Done } else { Heard::Reread };
                }
                remote.seq = seq;
                let mut gone = Vec::new();
                for member in &leaves {
                    gone.extend(remote.members.remove(&member.session));
                }
                for member in &joins {
                    gone.extend(remote.members.insert(member.session.clone(), member.clone()));
                }
                for member in gone {
                    self.removed(member);
                }
                for member in joins {
                    self.added(member);
                }
                if self.remote.get(&node).is_some_and(|r| r.members.is_empty()) {
                    self.remote.remove(&node);
                }
                Heard::Done
            }
        }
    }

    /// `node`'s members are `members` now, as of its news `seq`.
    fn replace(&mut self, node: &str, seq: u64, members: Vec<Member>) -> Heard {
        let old = self.remote.remove(node).unwrap_or_default().members;
        let now: HashMap<String, Member> = members.into_iter().map(|m| (m.session.clone(), m)).collect();
        for member in old.values() {
            if now.get(&member.session) != Some(member) {
                self.removed(member.clone());
            }
        }
        for member in now.values() {
            if old.get(&member.session) != Some(member) {
                self.added(member.clone());
            }
        }
        if !now.is_empty() {
            self.remote.insert(node.to_owned(), Remote { seq, members: now });
        }
        Heard::Done
    }

    /// Starts reading the other nodes' members; `false` when a read is
    /// already under way.
    pub(super) fn begin_read(&mut self) -> bool {
        if self.reading.is_some() {
            return false;
        }
        self.reading = Some(Vec::new());
        true
    }

    /// The read ended with every node's members (`None`: it failed, and
    /// what is known stays). The news heard meanwhile is applied after
    /// it; the topic is ready from now on.
    pub(super) fn end_read(&mut self, own: &str, read: Option<Vec<NodeMembers>>) -> Heard {
        let waiting = self.reading.take().unwrap_or_default();
        self.ready = true;
        let mut heard = Heard::Done;
        if let Some(nodes) = read {
            let listed: HashSet<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
            let unlisted: Vec<String> = self
                .remote
                .keys()
                .filter(|n| !listed.contains(n.as_str()))
                .cloned()
                .collect();
            for node in unlisted {
                self.replace(&node, 0, Vec::new());
            }
            for node in nodes.into_iter().filter(|n| n.node != own) {
                self.replace(&node.node, node.seq, node.members);
            }
        } else {
            heard = Heard::Reread;
        }
        for (node, news) in waiting {
            if self.apply(node, news) == Heard::Reread {
                heard = Heard::Reread;
            }
        }
        self.unread = heard == Heard::Reread;
        heard
    }
}

#[cfg(test)]
mod tests;
