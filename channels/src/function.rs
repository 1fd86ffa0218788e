//! Server functions: typed async handlers, and their erased form.

use crate::BoxFuture;
use crate::access::Access;
use crate::cx::Cx;
use crate::error::Error;
use mizan_protocol::Payload;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

type Handler = dyn Fn(Cx, Args<'_>) -> Result<BoxFuture<Result<Payload, Error>>, Error> + Send + Sync;

/// A call's args: the JSON text as received, or already parsed (when the
/// server needed them parsed anyway, for a custom access predicate or to
/// scope what the call affects, or when it built them, for a bundle's
/// slot), so that they are never parsed twice.
#[derive(Debug, Clone, Copy)]
pub enum Args<'a> {
    /// The JSON object as text.
    Text(&'a Payload),
    /// The JSON object, parsed.
    Parsed(&'a serde_json::Value),
}
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The args of a function that takes none: accepts `{}` (and ignores any
/// fields).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, serde::Serialize, JsonSchema)]
pub struct NoArgs {}

/// A server function: a name, an access level, and an async handler from a
/// typed args object to a typed output.
///
/// ```
/// use mizan_channels::{Access, Cx, Error, Function};
/// # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
/// #[derive(Deserialize, JsonSchema)] struct Args { a: i64, b: i64 }
///
/// let add = Function::new("add", |_cx: Cx, Args { a, b }| async move { Ok::<_, Error>(a + b) })
///     .access(Access::User);
/// assert_eq!(add.name(), "add");
/// ```
#[derive(Clone)]
pub struct Function {
    name: String,
    access: Access,
    declared_at: &'static Location<'static>,
    args_schema: SchemaFn,
    output_schema: SchemaFn,
    handler: Arc<Handler>,
    args: Vec<Arg>,
    output_type: (TypeId, &'static str),
    context: Option<String>,
    per_user: bool,
    affects: Vec<String>,
    merge: Vec<String>,
    broad: bool,
    description: Option<String>,
    rev: u32,
    /// One of a form's three functions (`<form>.<part>`).
    form_part: bool,
    /// For a view-path function, its route: served there over HTTP only.
    route: Option<String>,
}

/// One named argument: a field of the args object, and its JSON Schema
/// (compared across the functions of a context).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub(crate) name: String,
    pub(crate) schema: serde_json::Value,
}

/// A function declared with `#[mizan::function]`: a constant that builds
/// the [`Function`] when the registry is assembled.
///
/// ```
/// use mizan_channels::{Cx, Error, Function, FunctionDecl, NoArgs, Registry};
/// const PING: FunctionDecl = FunctionDecl::new(|| {
///     Function::new("ping", |_cx: Cx, _: NoArgs| async { Ok::<_, Error>("pong") })
/// });
/// let registry = Registry::builder().functions([PING]).build().unwrap();
/// assert!(registry.function("ping").is_some());
/// ```
#[derive(Clone, Copy)]
pub struct FunctionDecl(fn() -> Function);

impl fmt::Debug for FunctionDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // What it declares is known once built.
        f.debug_tuple("FunctionDecl").field(&(self.0)().name()).finish()
    }
}

impl FunctionDecl {
    /// Wraps the function that builds the declaration.
    pub const fn new(build: fn() -> Function) -> Self {
        Self(build)
    }
}

impl From<FunctionDecl> for Function {
    fn from(decl: FunctionDecl) -> Self {
        (decl.0)()
    }
}

impl Function {
    /// A public function named `name` running `handler`. The args arrive as
    /// the JSON object of the call, decoded into `A`; the output `O` is
    /// encoded once into the reply.
    #[track_caller]
    pub fn new<A, O, F, Fut>(name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(Cx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Error>> + Send + 'static,
    {
        let name = name.into();
        let fn_name = name.clone();
        let handler = move |cx: Cx, args: Args<'_>| -> Result<BoxFuture<Result<Payload, Error>>, Error> {
            let args: A = decode_args(&fn_name, args)?;
            let fut = handler(cx, args);
            Ok(Box::pin(async move {
                let output = fut.await?;
                Payload::from_value(&output).map_err(Error::internal)
            }))
        };
        Self {
            name,
            access: Access::Public,
            declared_at: Location::caller(),
            args_schema: |g| g.subschema_for::<A>(),
            output_schema: |g| g.subschema_for::<O>(),
            handler: Arc::new(handler),
            args: args_of::<A>(),
            output_type: (TypeId::of::<O>(), std::any::type_name::<O>()),
            context: None,
            per_user: false,
            affects: Vec::new(),
            merge: Vec::new(),
            broad: false,
            description: None,
            rev: 0,
            form_part: false,
            route: None,
        }
    }

    /// Makes it a read function of context `context`: its name becomes a
    /// slot of the context's bundle, its args the context's params.
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Marks its context as per-user: its data depends on who asks. Every
    /// function of the context must say so. A per-user context needs a
    /// signed-in user, and what mutations report about it reaches only the
    /// watchers of the user who made the change (see `docs/security.md`).
    #[must_use]
    pub fn per_user(mut self) -> Self {
        self.per_user = true;
        self
    }

    /// Declares that a successful call makes `target` stale: a context
    /// name, or the name of a context function (a function-level entry).
    /// May be given several times.
    #[must_use]
    pub fn affects(mut self, target: impl Into<String>) -> Self {
        self.affects.push(target.into());
        self
    }

    /// Declares that a successful call's output replaces the slot of
    /// context `context` whose function has the same output type. May be
    /// given several times.
    #[must_use]
    pub fn merge(mut self, context: impl Into<String>) -> Self {
        self.merge.push(context.into());
        self
    }

    /// Makes broad on purpose what its `affects` and `merge` cannot scope.
    ///
    /// A target context with params, none of which this function takes as
    /// an arg of the same name, can only be invalidated broadly: every
    /// watcher of that context refetches, whatever its params. That is
    /// refused when the registry is built unless the function says so
    /// here, since it is most often a misnamed arg (`id` for `poll_id`).
    ///
    /// ```
    /// use mizan_channels::{BuildError, Cx, Error, Function, NoArgs, Registry};
    /// # use schemars::JsonSchema; use serde::Deserialize;
    /// #[derive(Deserialize, JsonSchema)] struct ById { poll_id: u64 }
    /// let poll = || Function::new("poll", |_cx: Cx, a: ById| async move { Ok::<_, Error>(a.poll_id) }).context("poll");
    /// let reset = || Function::new("reset_all", |_cx: Cx, _: NoArgs| async { Ok::<_, Error>(()) }).affects("poll");
    ///
    /// let err = Registry::builder().function(poll()).function(reset()).build().unwrap_err();
    /// assert!(matches!(err, BuildError::UnchosenBroad { .. }));
    /// assert!(Registry::builder().function(poll()).function(reset().broad()).build().is_ok());
    /// ```
    #[must_use]
    pub fn broad(mut self) -> Self {
        self.broad = true;
        self
    }

    /// Declares the function's revision (0 when not declared). The bundle
    /// cache keys a context's bundles by the revisions of all its
    /// functions: bump it when what the function returns for the same
    /// params changes with a deploy (a new field, a fixed query), and every
    /// bundle cached by the old code, in memory or in a Redis shared with
    /// nodes still running it, is out of reach.
    ///
    /// ```
    /// use mizan_channels::{Cx, Error, Function, NoArgs};
    /// let f = Function::new("profile", |_: Cx, _: NoArgs| async { Ok::<_, Error>(1) })
    ///     .context("user")
    ///     .rev(2);
    /// assert_eq!(f.revision(), 2);
    /// ```
    #[must_use]
    pub fn rev(mut self, rev: u32) -> Self {
        self.rev = rev;
        self
    }

    /// Describes it (the `#[mizan::function]` attribute passes the doc
    /// comment): the manifest carries it, and the generated client shows
    /// it as the hook's JSDoc.
    #[must_use]
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        let description = description.into();
        self.description = (!description.trim().is_empty()).then_some(description);
        self
    }

    /// Sets who may call it.
    #[must_use]
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was declared (for build errors).
    pub fn declared_at(&self) -> &'static Location<'static> {
        self.declared_at
    }

    /// Who may call it.
    pub fn access_level(&self) -> &Access {
        &self.access
    }

    /// The context it reads for, if it is a context function.
    pub fn context_name(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// Whether its context is per-user.
    pub fn is_per_user(&self) -> bool {
        self.per_user
    }

    /// The declared `affects` targets.
    pub fn affects_targets(&self) -> &[String] {
        &self.affects
    }

    /// The declared `merge` targets.
    pub fn merge_targets(&self) -> &[String] {
        &self.merge
    }

    /// Whether what it cannot scope is broad on purpose (see [`broad`](Self::broad)).
    pub fn is_broad(&self) -> bool {
        self.broad
    }

    /// Makes it the declaration of a view-path function served at `route`
    /// (an axum path, e.g. `/profile/{id}`) by the server's `View`, which
    /// runs the handler: it is then not callable as a function, and not in
    /// the manifest's functions.
    #[must_use]
    pub fn route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// Its route, for a view-path function (see [`route`](Self::route)).
    pub fn route_path(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// Marks it one of a form's functions, named `<form>.<part>`.
    pub(crate) fn form_part(mut self) -> Self {
        self.form_part = true;
        self
    }

    /// Whether it is one of a form's functions (see [`crate::Form`]).
    pub fn is_form_part(&self) -> bool {
        self.form_part
    }

    /// Says it was declared at `location` (a form's functions: where the
    /// form was).
    pub(crate) fn at(mut self, location: &'static Location<'static>) -> Self {
        self.declared_at = location;
        self
    }

    /// Its revision (see [`rev`](Self::rev)); 0 unless declared.
    pub fn revision(&self) -> u32 {
        self.rev
    }

    /// Its description, if any (see [`describe`](Self::describe)).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The names of its args (the fields of its args object), sorted.
    pub fn arg_names(&self) -> impl Iterator<Item = &str> {
        self.args.iter().map(|a| a.name.as_str())
    }

    pub(crate) fn args(&self) -> &[Arg] {
        &self.args
    }

    /// The output type's identity and name (merge slots are found by it).
    pub(crate) fn output_type(&self) -> (TypeId, &'static str) {
        self.output_type
    }

    /// The JSON Schema of the args, with definitions collected in `generator`.
    pub fn args_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.args_schema)(generator)
    }

    /// The JSON Schema of the output, with definitions collected in `generator`.
    pub fn output_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.output_schema)(generator)
    }

    /// Checks access, decodes the args and runs the handler. Access is
    /// checked before the args are decoded, so a caller who may not call the
    /// function learns nothing about its args.
    pub fn call(&self, cx: Cx, args: Args<'_>) -> BoxFuture<Result<Payload, Error>> {
        let started = self.check_access(&cx, args).and_then(|()| (self.handler)(cx, args));
        match started {
            Ok(fut) => fut,
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    /// Whether a call needs its args parsed before it runs (a custom
    /// access predicate reads them).
    pub fn needs_parsed_args(&self) -> bool {
        self.access.needs_args()
    }

    /// Whether `cx`'s user may call it with `args` (its access level),
    /// without running it.
    pub fn check_access(&self, cx: &Cx, args: Args<'_>) -> Result<(), Error> {
        if !self.access.needs_args() {
            return self.access.check(cx.user(), &serde_json::Value::Null);
        }
        match args {
            Args::Parsed(json) => self.access.check(cx.user(), json),
            Args::Text(text) => {
                let json = text
                    .parse()
                    .map_err(|e| Error::invalid_args(format!("args are not valid JSON: {e}")))?;
                self.access.check(cx.user(), &json)
            }
        }
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("access", &self.access)
            .field("declared_at", &self.declared_at)
            .field("context", &self.context)
            .field("per_user", &self.per_user)
            .field("affects", &self.affects)
            .field("merge", &self.merge)
            .field("broad", &self.broad)
            .finish_non_exhaustive()
    }
}

/// The named fields of an args type, from its JSON Schema.
fn args_of<A: JsonSchema>() -> Vec<Arg> {
    let schema = crate::manifest::generator(true).into_root_schema_for::<A>();
    let mut args: Vec<Arg> = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, schema)| Arg {
                    name: name.clone(),
                    schema: schema.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    args.sort_by(|a, b| a.name.cmp(&b.name));
    args
}

/// Decodes args into `T`, naming the failing path in the error.
pub(crate) fn decode_args<T: DeserializeOwned>(what: &str, args: Args<'_>) -> Result<T, Error> {
    // The plain decoder first: tracking the path costs on every call, and
    // is only needed to explain a failure.
    let text = match args {
        Args::Text(text) => match serde_json::from_str(text.get()) {
            Ok(value) => return Ok(value),
            Err(_) => std::borrow::Cow::Borrowed(text.get()),
        },
        Args::Parsed(json) => match T::deserialize(json) {
            Ok(value) => return Ok(value),
            Err(_) => std::borrow::Cow::Owned(json.to_string()),
        },
    };
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let reason = mizan_protocol::without_position(&e.into_inner().to_string()).to_owned();
        Error::invalid_args(format!("invalid args for `{what}` at `{path}`: {reason}"))
            .with_details(serde_json::json!({ "path": path, "reason": reason }))
    })
}
