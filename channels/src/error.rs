//! Errors handlers return, and errors building a registry.

use mizan_protocol::{ErrorCode, RequestId, ServerFrame};
use std::fmt;
use std::panic::Location;

/// A handler's failure, answered to the client as an error frame.
///
/// Use the constructors to pick the code. Any `std::error::Error` converts
/// into an `internal` error with `?`: it is kept whole (its
/// [`source`](Self::source) chain too) and logged on the server, and the
/// client only sees "internal error".
///
/// ```
/// use mizan_channels::Error;
/// use mizan_protocol::ErrorCode;
///
/// fn parse(s: &str) -> Result<i64, Error> {
///     Ok(s.parse::<i64>()?) // ParseIntError -> internal
/// }
/// let e = parse("x").unwrap_err();
/// assert_eq!(e.code(), ErrorCode::Internal);
/// assert_eq!(e.public_message(), "internal error");
/// assert!(e.to_string().contains("invalid digit"));
/// assert!(e.source().unwrap().is::<std::num::ParseIntError>());
///
/// let e = Error::forbidden("only the owner may do that");
/// assert_eq!(e.public_message(), "only the owner may do that");
///
/// // Into any boxed error, for code that takes those.
/// let boxed: Box<dyn std::error::Error + Send + Sync> = e.into();
/// assert_eq!(boxed.to_string(), "forbidden: only the owner may do that");
/// ```
///
/// It is not itself a `std::error::Error`: with the blanket `From` that
/// makes `?` work on any error, it could not be (the two impls overlap at
/// `From<Error> for Error`). `anyhow::Error` and axum's `AppError` pattern
/// make the same trade; like them it converts into
/// `Box<dyn std::error::Error + Send + Sync>` and exposes its source.
pub struct Error {
    kind: Kind,
    details: Option<serde_json::Value>,
}

enum Kind {
    /// An error for the client: its code and the message it sees.
    Client { code: ErrorCode, message: String },
    /// The handler failed; the client sees "internal error".
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// The handler did not finish in time: `internal` on the wire, with a
    /// message that says so.
    Timeout(std::time::Duration),
}

/// The text of an internal error made from a message.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl Error {
    /// An error with a code and a message the client will see (an
    /// `internal` one's message is only logged).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let kind = match code {
            ErrorCode::Internal => Kind::Internal(Box::new(Message(message.into()))),
            code => Kind::Client {
                code,
                message: message.into(),
            },
        };
        Self { kind, details: None }
    }

    /// The handler did not finish within `limit`: `internal`, with a
    /// message that says so.
    pub fn timeout(limit: std::time::Duration) -> Self {
        Self {
            kind: Kind::Timeout(limit),
            details: None,
        }
    }

    /// The handler failed; `message` is logged, the client sees "internal error".
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, message.to_string())
    }

    /// Something named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The args or params are not acceptable.
    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgs, message)
    }

    /// A user is needed and there is none.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// The user may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// A limit was reached.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Limit, message)
    }

    /// Adds machine-readable details (sent to the client, except for `internal`).
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The protocol error code.
    pub fn code(&self) -> ErrorCode {
        match &self.kind {
            Kind::Client { code, .. } => *code,
            Kind::Internal(_) | Kind::Timeout(_) => ErrorCode::Internal,
        }
    }

    /// Whether the handler ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout(_))
    }

    /// The error an `internal` error was made from (what `?` converted).
    pub fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Internal(e) => Some(&**e),
            _ => None,
        }
    }

    /// The message the client sees.
    pub fn public_message(&self) -> std::borrow::Cow<'_, str> {
        match &self.kind {
            Kind::Client { message, .. } => message.as_str().into(),
            Kind::Internal(_) => "internal error".into(),
            Kind::Timeout(limit) => format!("the handler timed out after {limit:?}").into(),
        }
    }

    /// The error frame answering request `id`.
    pub fn to_frame(&self, id: Option<RequestId>) -> ServerFrame {
        let details = match self.kind {
            Kind::Client { .. } => self.details.clone(),
            _ => None,
        };
        ServerFrame::error_with_details(id, self.code(), self.public_message(), details)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(e: E) -> Self {
        Self {
            kind: Kind::Internal(Box::new(e)),
            details: None,
        }
    }
}

impl From<Error> for Box<dyn std::error::Error + Send + Sync> {
    fn from(e: Error) -> Self {
        match e.kind {
            Kind::Internal(source) => source,
            _ => Box::new(Message(e.to_string())),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Client { code, message } => write!(f, "{code}: {message}"),
            Kind::Internal(e) => {
                write!(f, "internal: {e}")?;
                let mut source = e.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Kind::Timeout(limit) => write!(f, "internal: the handler timed out after {limit:?}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a registry could not be built. Each variant names what clashed and
/// where it was declared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two registrations share a name.
    #[error("{kind} `{name}` is registered twice: at {first} and at {second}; rename one of them")]
    Duplicate {
        /// "function", "channel" or "form".
        kind: &'static str,
        /// The clashing name.
        name: String,
        /// Where the first one was declared.
        first: &'static Location<'static>,
        /// Where the second one was declared.
        second: &'static Location<'static>,
    },
    /// A name that cannot appear on the wire or in generated code.
    #[error(
        "{kind} name `{name}` (at {at}) is not valid: use 1-64 characters of a-z, 0-9 and `_`, starting with a letter"
    )]
    BadName {
        /// "function", "channel" or "form".
        kind: &'static str,
        /// The name.
        name: String,
        /// Where it was declared.
        at: &'static Location<'static>,
    },
    /// An `affects` target names nothing that can be invalidated.
    #[error("function `{function}` (at {at}) declares affects = \"{target}\", but {reason}")]
    AffectsTarget {
        /// The mutation.
        function: String,
        /// The target as written.
        target: String,
        /// Where the mutation was declared.
        at: &'static Location<'static>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A `merge` target is not a context with exactly one matching slot.
    #[error("function `{function}` (at {at}) declares merge = \"{target}\", but {reason}")]
    MergeTarget {
        /// The mutation.
        function: String,
        /// The target as written.
        target: String,
        /// Where the mutation was declared.
        at: &'static Location<'static>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Two functions of a context declare the same param with different types.
    #[error(
        "context `{context}`: functions `{first}` and `{second}` (at {at}) both take `{param}` but with different types; a context's functions must agree on each param's type"
    )]
    ParamTypes {
        /// The context.
        context: String,
        /// The param.
        param: String,
        /// The function that declared it first.
        first: String,
        /// The function that disagrees.
        second: String,
        /// Where the second was declared.
        at: &'static Location<'static>,
    },
    /// Some functions of a context are per-user and some are not.
    #[error(
        "context `{context}`: `{first}` {first_is} but `{second}` (at {at}) differs; mark every function of a per-user context `per_user`, or none"
    )]
    PerUserMismatch {
        /// The context.
        context: String,
        /// The first function of the context.
        first: String,
        /// "is marked per_user" or "is not".
        first_is: &'static str,
        /// The function that differs.
        second: String,
        /// Where it was declared.
        at: &'static Location<'static>,
    },
    /// A function of the `global` context takes args.
    #[error(
        "function `{function}` (at {at}) is in the `global` context, which takes no params; remove its args or use another context"
    )]
    GlobalWithParams {
        /// The function.
        function: String,
        /// Where it was declared.
        at: &'static Location<'static>,
    },
    /// A mutation's arg scopes a context param of another type: the
    /// entries it produces would never match a watcher's params.
    #[error(
        "function `{function}` (at {at}) scopes `{target}` by its arg `{param}`, which {types}: a watcher of {{\"{param}\": 1}} never matches {{\"{param}\": \"1\"}}, so nothing would be invalidated; give `{param}` the same type in both functions"
    )]
    ScopeTypes {
        /// The mutation.
        function: String,
        /// The declaration: `affects = "user"`.
        target: String,
        /// The arg and param name.
        param: String,
        /// The two types and the function declaring the param: "is a
        /// string, but the context's param `user_id` (declared by
        /// `user_profile` at src/app.rs:12:1) is an integer".
        types: String,
        /// Where the mutation was declared.
        at: &'static Location<'static>,
    },
    /// A mutation affects a context with params, takes none of them, and
    /// did not choose broad invalidation.
    #[error(
        "function `{function}` (at {at}) declares `{target}` but takes none of context `{context}`'s params ({params}), so every watcher of every `{context}` would refetch: name an arg like one of those params to scope it, or add `broad` to the attribute (`Function::broad()`) if that is what you mean"
    )]
    UnchosenBroad {
        /// The mutation.
        function: String,
        /// The declaration: `affects = "user"`.
        target: String,
        /// The context it resolves to.
        context: String,
        /// The context's params, comma-separated.
        params: String,
        /// Where the mutation was declared.
        at: &'static Location<'static>,
    },
    /// `broad` was given but every target is scoped (or has no params).
    #[error(
        "function `{function}` (at {at}) is marked `broad`, but each of its targets is scoped by its args or has no params: remove `broad`"
    )]
    NeedlessBroad {
        /// The mutation.
        function: String,
        /// Where it was declared.
        at: &'static Location<'static>,
    },
}
