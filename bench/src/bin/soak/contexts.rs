//! Context watchers: one socket per user watching `user{user_id}`, timing
//! each push from the start of the mutation that caused it, and refetching
//! on `invalidate` as a client would.

use crate::load::{Client, Shared};
use crate::stats::{Count, Kind};
use crate::ws::{self, Read, Ws, micros_since};
use std::sync::atomic::Ordering;

pub(crate) struct Watcher {
    /// Index into `Shared::pending`; the user id is one more.
    pub(crate) user: usize,
    next_id: u64,
}

impl Watcher {
    pub(crate) fn new(user: usize) -> Self {
        Self { user, next_id: 1 }
    }

    fn user_id(&self) -> u64 {
        self.user as u64 + 1
    }

    async fn push(&mut self, ws: &mut Ws, frame: &ws::Frame, shared: &Shared) -> anyhow::Result<()> {
        let kind = match frame.kind.as_str() {
            "invalidate" => Kind::Invalidate,
            "merge" => Kind::Merge,
            _ => return Ok(()),
        };
        if frame.user_id() != Some(self.user_id()) {
            shared.stats.note(Count::PushUnexpected, "a push for another user");
            return Ok(());
        }
        match shared.pending[self.user].swap(0, Ordering::AcqRel) {
            0 => shared.stats.add(Count::PushUnexpected, 1),
            start => shared.stats.record(kind, micros_since(start)),
        }
        if matches!(kind, Kind::Invalidate) {
            self.next_id += 1;
            let fetch = format!(
                r#"{{"type":"fetch","id":{},"context":"user","params":{{"user_id":{}}}}}"#,
                self.next_id,
                self.user_id()
            );
            ws::send(ws, fetch).await?;
        }
        Ok(())
    }
}

impl Client for Watcher {
    fn name(&self) -> String {
        format!("watcher of user {}", self.user_id())
    }

    async fn setup(&mut self, url: &str) -> anyhow::Result<Ws> {
        let mut ws = ws::connect(url).await?;
        ws::watch(&mut ws, self.user_id(), 1).await?;
        Ok(ws)
    }

    async fn run(&mut self, mut ws: Ws, shared: &Shared) -> anyhow::Result<()> {
        loop {
            match ws::read(&mut ws, shared.read_until).await? {
                Read::Idle => break,
                Read::Frame(frame) if frame.kind == "error" => {
                    shared.stats.note(Count::ServerErrors, &frame.describe_error());
                }
                Read::Frame(frame) => self.push(&mut ws, &frame, shared).await?,
            }
        }
        ws::close(ws).await;
        Ok(())
    }
}
