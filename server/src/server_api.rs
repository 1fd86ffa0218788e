//! The server API (PROTOCOL.md section 11) from Rust: publish to a
//! channel, invalidate or merge into a context, from any task of the
//! server process, with no client involved. The pushes are the ones a
//! `send` or a mutation makes, through the same streams, on every node.

use crate::node::Node;
use mizan_channels::{Channel, Error};
use mizan_protocol::{InvalidateEntry, MergeEntry, Payload, Position, ServerFrame};
use std::sync::Arc;

/// A cloneable handle on a built node for code that is not a handler: a
/// background job, a webhook, a queue consumer. Get it with
/// [`Mizan::server_api`](crate::Mizan::server_api).
///
/// ```no_run
/// # use mizan_server::{Mizan, ServerApi};
/// # use mizan_server::protocol::InvalidateEntry;
/// # async fn job(api: ServerApi) -> Result<(), mizan_server::channels::Error> {
/// // Every watcher of `notifications`, on every node, refetches.
/// let offset = api.invalidate(InvalidateEntry::broad("notifications")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerApi {
    node: Arc<Node>,
}

impl std::fmt::Debug for ServerApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerApi").field("node", &self.node.id).finish()
    }
}

/// Where a published message went: its topic, and its position in the
/// topic's stream (none when there are no streams, or the stream store
/// was unreachable and it went out without one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// `"<channel>:<group>"`.
    pub topic: String,
    /// `epoch` and `offset`, at the top level in JSON.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

impl ServerApi {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    /// Publishes `message` to channel `C`'s topic for `params` (the group
    /// is the channel's own): every subscriber on every node receives it,
    /// as if a subscriber's `send` had made it. `not_found` when `C` is not
    /// registered.
    pub async fn publish<C: Channel>(
        &self,
        params: &C::Params,
        message: &C::ServerMessage,
    ) -> Result<Published, Error> {
        let entry = self.channel(C::NAME)?;
        let topic = entry
            .topic_of(params)
            .ok_or_else(|| Error::internal(format!("`{}` params of another type", C::NAME)))?;
        let data = Payload::from_value(message).map_err(Error::internal)?;
        Ok(self.send(topic, data, entry.history()).await)
    }

    /// [`publish`](Self::publish) with the channel named and the params and
    /// message as JSON (the HTTP server API): `not_found` for an unknown
    /// channel, `invalid_args` (saying where) when the params or the
    /// message do not match the channel's types.
    pub async fn publish_json(&self, channel: &str, params: &Payload, data: &Payload) -> Result<Published, Error> {
        let entry = self.channel(channel)?;
        let (topic, data) = entry.server_message(params, data)?;
        Ok(self.send(topic, data, entry.history()).await)
    }

    /// Publishes an invalidation of a context (scoped by its params, broad
    /// without, function-level with `fn`) to every matching watcher on
    /// every node. Returns its offset in the context's stream; `not_found`
    /// for an unknown context or a function that is not one of its slots.
    pub async fn invalidate(&self, entry: InvalidateEntry) -> Result<Option<u64>, Error> {
        self.check(&entry.context, entry.function.as_deref(), entry.params.as_ref())?;
        Ok(self
            .node
            .publish_context(&entry.context, |offset| {
                ServerFrame::Invalidate(entry.clone().at(offset))
            })
            .await)
    }

    /// Publishes a merge: `value` replaces the slot's value in every
    /// matching watcher's bundle, on every node. Returns its offset;
    /// `not_found` for an unknown context or slot; `invalid_args` for a
    /// per-user context's merge that names no user (it would splice one
    /// value into every user's screens).
    pub async fn merge(&self, entry: MergeEntry) -> Result<Option<u64>, Error> {
        self.check(&entry.context, Some(&entry.slot), entry.params.as_ref())?;
        let per_user = self
            .node
            .registry
            .context(&entry.context)
            .is_some_and(mizan_channels::Context::is_per_user);
        if per_user && entry.user.is_none() {
            return Err(Error::invalid_args(format!(
                "context `{}` is per-user: a merge into it names its user (`for_user`)",
                entry.context
            )));
        }
        Ok(self
            .node
            .publish_context(&entry.context, |offset| ServerFrame::Merge(entry.clone().at(offset)))
            .await)
    }

    fn channel(&self, name: &str) -> Result<&mizan_channels::ChannelEntry, Error> {
        self.node
            .registry
            .channel(name)
            .ok_or_else(|| Error::not_found(format!("unknown channel `{}`", mizan_protocol::quote(name))))
    }

    /// The context exists, `slot`, when given, is one of its functions,
    /// and every param is one of its params (a misspelt one would reach
    /// nobody: `invalid_args`).
    fn check(&self, context: &str, slot: Option<&str>, params: Option<&mizan_protocol::Params>) -> Result<(), Error> {
        let declared = self
            .node
            .registry
            .context(context)
            .ok_or_else(|| Error::not_found(format!("unknown context `{}`", mizan_protocol::quote(context))))?;
        if let Some(slot) = slot
            && !declared.slots().iter().any(|s| s == slot)
        {
            return Err(Error::not_found(format!(
                "context `{context}` has no function `{}`",
                mizan_protocol::quote(slot)
            )));
        }
        match params
            .into_iter()
            .flat_map(|p| p.keys())
            .find(|k| !declared.has_param(k))
        {
            Some(unknown) => Err(Error::invalid_args(format!(
                "context `{context}` has no param `{}`",
                mizan_protocol::quote(unknown)
            ))),
            None => Ok(()),
        }
    }

    async fn send(&self, topic: Arc<str>, data: Payload, keep: mizan_channels::History) -> Published {
        let position = self.node.publish_message(&topic, data, keep).position().await;
        Published {
            topic: topic.to_string(),
            position,
        }
    }
}
