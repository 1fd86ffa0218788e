//! Channels: typed pub/sub topics with authorization and a receive handler.

use crate::BoxFuture;
use crate::access::Access;
use crate::cx::Cx;
use crate::error::Error;
use crate::function::{Args, decode_args};
use mizan_protocol::Payload;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

/// A channel: clients subscribe with `Params`, the channel puts them in a
/// group (one topic per group), and messages clients send are handled by
/// `receive`, whose answer is broadcast to the topic.
///
/// ```
/// use mizan_channels::{Channel, Cx, Error};
/// # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
/// #[derive(Deserialize, JsonSchema)] struct RoomParams { room: String }
/// #[derive(Deserialize, JsonSchema)] struct Say { text: String }
/// #[derive(Serialize, Deserialize, JsonSchema)] struct Said { text: String, user: Option<String> }
///
/// struct Chat;
/// impl Channel for Chat {
///     const NAME: &'static str = "chat";
///     type Params = RoomParams;
///     type ClientMessage = Say;
///     type ServerMessage = Said;
///
///     async fn authorize(&self, cx: &Cx, p: &RoomParams) -> bool {
///         !p.room.starts_with("staff-") || cx.user().is_some_and(|u| u.staff)
///     }
///     fn group(&self, p: &RoomParams) -> String {
///         format!("chat_{}", p.room)
///     }
///     async fn receive(&self, cx: &Cx, _p: &RoomParams, m: Say) -> Result<Option<Said>, Error> {
///         Ok(Some(Said { text: m.text, user: cx.user().map(|u| u.id.clone()) }))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Mizan channel",
    label = "implement `mizan_channels::Channel` for `{Self}`",
    note = "a channel needs `const NAME`, the types `Params`, `ClientMessage` and `ServerMessage`, and `fn group`"
)]
pub trait Channel: Send + Sync + 'static {
    /// The channel's name, the first half of its topics (`"<NAME>:<group>"`).
    const NAME: &'static str;
    /// What a client subscribes with.
    type Params: DeserializeOwned + JsonSchema + Send + Sync + 'static;
    /// What a client sends to the topic.
    type ClientMessage: DeserializeOwned + JsonSchema + Send + 'static;
    /// What subscribers receive (decoded too: the server API checks what
    /// other processes publish against it).
    type ServerMessage: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    /// The messages each topic keeps for recovery and for `history` on
    /// join (PROTOCOL.md section 9): none unless the channel says so.
    const HISTORY: History = History::NONE;
    /// Whether the channel's topics track presence (PROTOCOL.md section
    /// 10): who is subscribed, with `presence`, `presence_stats` and
    /// batched `presence_diff` pushes. Off unless the channel says so.
    const PRESENCE: bool = false;

    /// The access level checked before `authorize` (default: public).
    fn access(&self) -> Access {
        Access::Public
    }

    /// Whether the caller may join with these params; runs on every
    /// subscribe. `false` answers `forbidden`.
    fn authorize(&self, cx: &Cx, params: &Self::Params) -> impl Future<Output = bool> + Send {
        let _ = (cx, params);
        async { true }
    }

    /// The group these params belong to. Params with the same group share
    /// a topic.
    fn group(&self, params: &Self::Params) -> String;

    /// Handles a message a subscriber sent. `Some(msg)` is broadcast to the
    /// topic (the sender included); `None` broadcasts nothing.
    fn receive(
        &self,
        cx: &Cx,
        params: &Self::Params,
        message: Self::ClientMessage,
    ) -> impl Future<Output = Result<Option<Self::ServerMessage>, Error>> + Send;
}

/// A presence channel whose members carry info computed from the
/// subscriber (a display name, say), typed in the manifest and the
/// generated client. Register it with
/// [`RegistryBuilder::channel_with_member_info`](crate::RegistryBuilder::channel_with_member_info).
///
/// ```
/// use mizan_channels::{Channel, Cx, Error, MemberInfo, Registry};
/// # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
/// # #[derive(Deserialize, JsonSchema)] struct Room { room: String }
/// # #[derive(Serialize, Deserialize, JsonSchema)] struct Text { text: String }
/// struct Chat;
/// impl Channel for Chat {
///     const NAME: &'static str = "chat";
///     const PRESENCE: bool = true;
///     type Params = Room;
///     type ClientMessage = Text;
///     type ServerMessage = Text;
///     fn group(&self, p: &Room) -> String { p.room.clone() }
///     async fn receive(&self, _cx: &Cx, _p: &Room, m: Text) -> Result<Option<Text>, Error> { Ok(Some(m)) }
/// }
///
/// #[derive(Serialize, JsonSchema)]
/// struct Who { name: String }
///
/// impl MemberInfo for Chat {
///     type Info = Who;
///     fn member_info(&self, cx: &Cx, _p: &Room) -> Who {
///         Who { name: cx.user().map_or("guest".into(), |u| u.id.clone()) }
///     }
/// }
///
/// let registry = Registry::builder().channel_with_member_info(Chat).build().unwrap();
/// assert!(registry.manifest().channels["chat"].member_info.is_some());
/// ```
pub trait MemberInfo: Channel {
    /// What each member carries, as its `info`.
    type Info: Serialize + JsonSchema + Send + 'static;

    /// The info of a subscriber joining with `params`; computed once per
    /// join.
    fn member_info(&self, cx: &Cx, params: &Self::Params) -> Self::Info;
}

/// A socket's membership of a topic: the topic and the params it joined
/// with (handed back to `receive`).
#[derive(Clone)]
pub struct Subscription {
    topic: Arc<str>,
    params: Arc<dyn Any + Send + Sync>,
    member_info: Option<Payload>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The topic, `"<channel>:<group>"`.
    pub fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    /// What this subscriber's presence member carries, for a channel with
    /// [`MemberInfo`] (computed once, when it joined).
    pub fn member_info(&self) -> Option<&Payload> {
        self.member_info.as_ref()
    }
}

type JoinFn = dyn Fn(Cx, &Payload) -> BoxFuture<Result<Subscription, Error>> + Send + Sync;
type ReceiveFn = dyn Fn(Cx, &Subscription, &Payload) -> BoxFuture<Result<Option<Payload>, Error>> + Send + Sync;
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;
type GroupFn = dyn Fn(&dyn Any) -> Option<String> + Send + Sync;
type PublishFn = dyn Fn(&Payload, &Payload) -> Result<(Arc<str>, Payload), Error> + Send + Sync;

/// A registered channel with its types erased, as the server drives it.
#[derive(Clone)]
pub struct ChannelEntry {
    name: &'static str,
    access: Access,
    declared_at: &'static Location<'static>,
    join: Arc<JoinFn>,
    receive: Arc<ReceiveFn>,
    group: Arc<GroupFn>,
    publish: Arc<PublishFn>,
    schemas: [SchemaFn; 3],
    history: History,
    presence: bool,
    /// The schema of its members' info, for a channel with [`MemberInfo`].
    member_info: Option<SchemaFn>,
}

/// Computes a subscriber's member info (see [`MemberInfo`]).
type InfoFn<C> = fn(&C, &Cx, &<C as Channel>::Params) -> Option<Payload>;

/// What a channel's topics keep: the last `size` messages of each topic,
/// each for at most `ttl`.
///
/// ```
/// use mizan_channels::History;
/// use std::time::Duration;
/// const CHAT: History = History::keep(100, Duration::from_secs(300));
/// assert!(CHAT.is_kept() && !History::NONE.is_kept());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Messages kept per topic, at most.
    pub size: usize,
    /// How long each is kept, at most.
    pub ttl: std::time::Duration,
}

impl History {
    /// Nothing kept.
    pub const NONE: History = History::keep(0, std::time::Duration::ZERO);

    /// The last `size` messages of each topic, each for at most `ttl`.
    pub const fn keep(size: usize, ttl: std::time::Duration) -> Self {
        Self { size, ttl }
    }

    /// Whether anything is kept.
    pub const fn is_kept(&self) -> bool {
        self.size > 0 && !self.ttl.is_zero()
    }
}

impl ChannelEntry {
    /// Erases a channel.
    #[track_caller]
    pub fn new<C: Channel>(channel: C) -> Self {
        Self::erase(channel, None)
    }

    /// Erases a channel whose presence members carry info (see
    /// [`MemberInfo`]); its topics track presence whatever
    /// [`Channel::PRESENCE`] says.
    #[track_caller]
    pub fn with_member_info<C: MemberInfo>(channel: C) -> Self {
        let info: InfoFn<C> = |channel, cx, params| Payload::from_value(&channel.member_info(cx, params)).ok();
        let mut entry = Self::erase(channel, Some(info));
        entry.presence = true;
        entry.member_info = Some(SchemaGenerator::subschema_for::<C::Info>);
        entry
    }

    #[track_caller]
    fn erase<C: Channel>(channel: C, info: Option<InfoFn<C>>) -> Self {
        let channel = Arc::new(channel);
        let access = channel.access();
        let joiner = Arc::clone(&channel);
        let join_access = access.clone();
        let join = move |cx: Cx, params: &Payload| -> BoxFuture<Result<Subscription, Error>> {
            let json = match join_access.needs_args() {
                true => params.parse().unwrap_or_default(),
                false => serde_json::Value::Null,
            };
            let checked = join_access.check(cx.user(), &json);
            let params: Result<C::Params, Error> = decode_args(C::NAME, Args::Text(params));
            let channel = Arc::clone(&joiner);
            Box::pin(async move {
                checked?;
                let params = params?;
                if !channel.authorize(&cx, &params).await {
                    return Err(Error::forbidden(format!(
                        "not allowed to join this `{}` topic",
                        C::NAME
                    )));
                }
                let topic = format!("{}:{}", C::NAME, channel.group(&params));
                let member_info = info.and_then(|info| info(&channel, &cx, &params));
                Ok(Subscription {
                    topic: topic.into(),
                    params: Arc::new(params),
                    member_info,
                })
            })
        };
        let grouper = Arc::clone(&channel);
        let group = move |params: &dyn Any| -> Option<String> {
            let params = params.downcast_ref::<C::Params>()?;
            Some(format!("{}:{}", C::NAME, grouper.group(params)))
        };
        let publisher = Arc::clone(&channel);
        let publish = move |params: &Payload, data: &Payload| -> Result<(Arc<str>, Payload), Error> {
            let params: C::Params = decode_args(C::NAME, Args::Text(params))?;
            let message: C::ServerMessage = decode_args(C::NAME, Args::Text(data))?;
            let topic = format!("{}:{}", C::NAME, publisher.group(&params));
            Ok((topic.into(), Payload::from_value(&message).map_err(Error::internal)?))
        };
        let receive = move |cx: Cx, sub: &Subscription, data: &Payload| -> BoxFuture<Result<Option<Payload>, Error>> {
            let message: Result<C::ClientMessage, Error> = decode_args(C::NAME, Args::Text(data));
            let params = Arc::clone(&sub.params);
            let channel = Arc::clone(&channel);
            Box::pin(async move {
                let message = message?;
                let params = params
                    .downcast_ref::<C::Params>()
                    .ok_or_else(|| Error::internal(format!("subscription params are not `{}` params", C::NAME)))?;
                match channel.receive(&cx, params, message).await? {
                    Some(out) => Payload::from_value(&out).map(Some).map_err(Error::internal),
                    None => Ok(None),
                }
            })
        };
        Self {
            name: C::NAME,
            access,
            declared_at: Location::caller(),
            join: Arc::new(join),
            receive: Arc::new(receive),
            group: Arc::new(group),
            publish: Arc::new(publish),
            schemas: [
                |g| g.subschema_for::<C::Params>(),
                |g| g.subschema_for::<C::ClientMessage>(),
                |g| g.subschema_for::<C::ServerMessage>(),
            ],
            history: C::HISTORY,
            presence: C::PRESENCE,
            member_info: None,
        }
    }

    /// What its topics keep (see [`Channel::HISTORY`]).
    pub fn history(&self) -> History {
        self.history
    }

    /// Whether its topics track presence (see [`Channel::PRESENCE`]).
    pub fn presence(&self) -> bool {
        self.presence
    }

    /// The channel's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where it was registered (for build errors).
    pub fn declared_at(&self) -> &'static Location<'static> {
        self.declared_at
    }

    /// The channel's access level.
    pub fn access_level(&self) -> &Access {
        &self.access
    }

    /// Checks access, decodes the params, runs `authorize` and computes the
    /// topic.
    pub fn join(&self, cx: Cx, params: &Payload) -> BoxFuture<Result<Subscription, Error>> {
        (self.join)(cx, params)
    }

    /// The topic of `params` (which must be this channel's `Params`; `None`
    /// otherwise), for messages the server publishes itself.
    pub fn topic_of(&self, params: &dyn Any) -> Option<Arc<str>> {
        (self.group)(params).map(Into::into)
    }

    /// For a message another process publishes: decodes the params and the
    /// message as this channel's types (`invalid_args`, saying where, when
    /// they do not match) and gives the topic and the message re-encoded.
    pub fn server_message(&self, params: &Payload, data: &Payload) -> Result<(Arc<str>, Payload), Error> {
        (self.publish)(params, data)
    }

    /// Decodes a client message and runs `receive` with the params the
    /// socket joined with. `Some` is the encoded server message to broadcast.
    pub fn receive(&self, cx: Cx, sub: &Subscription, data: &Payload) -> BoxFuture<Result<Option<Payload>, Error>> {
        (self.receive)(cx, sub, data)
    }

    /// The JSON Schemas of the params and the client message (what the
    /// server reads), with definitions collected in `generator`.
    pub fn input_schemas(&self, generator: &mut SchemaGenerator) -> [Schema; 2] {
        [(self.schemas[0])(generator), (self.schemas[1])(generator)]
    }

    /// The JSON Schema of the server message (what the server writes).
    pub fn output_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.schemas[2])(generator)
    }

    /// The JSON Schema of its presence members' info (see [`MemberInfo`]).
    pub fn member_info_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        self.member_info.map(|schema| schema(generator))
    }
}
