//! View-path functions (`docs/forms.md`, "View-path functions"): a function
//! served at a route of its own that answers with any axum response (an
//! HTML page, a fragment for htmx), its declared affects published like a
//! mutation's and named in the response's `X-Mizan-Invalidate` header, since
//! there is no JSON body to carry them.
//!
//! Its args come from the route's path params, the query string and an
//! `application/x-www-form-urlencoded` body (what an HTML form posts),
//! decoded together as one urlencoded string, so `id=5` fills an `i64`.

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use mizan_channels::{Access, Cx, Error, Function};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A view's args, decoded and ready to run: the args as JSON (for access
/// checks and the scope of its affects), and the handler's run.
pub(crate) struct Prepared {
    pub(crate) args: serde_json::Map<String, serde_json::Value>,
    pub(crate) run: Box<dyn FnOnce(Cx) -> BoxFuture<'static, Result<Response, Error>> + Send>,
}

/// Decodes a view's urlencoded args.
pub(crate) type Prepare = Arc<dyn Fn(&str) -> Result<Prepared, Error> + Send + Sync>;

/// A view-path function: see the module docs.
///
/// ```
/// use axum::response::Html;
/// use mizan_server::{Mizan, View};
/// use mizan_server::channels::{Cx, Error};
///
/// #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
/// struct Page { id: i64 }
///
/// let page = View::new("profile_page", "/profile/{id}", |_cx: Cx, page: Page| async move {
///     Ok::<_, Error>(Html(format!("<h1>Profile {}</h1>", page.id)))
/// });
/// assert_eq!(page.route(), "/profile/{id}");
/// let app = Mizan::builder().view(page).build().unwrap();
/// # let _ = app;
/// ```
#[must_use]
pub struct View {
    /// Its declaration in the registry: name, route, access, affects.
    pub(crate) decl: Function,
    pub(crate) prepare: Prepare,
}

impl View {
    /// The view `name` served at `route` (an axum path: `/profile/{id}`,
    /// for GET and POST) by `handler`.
    #[track_caller]
    pub fn new<A, R, F, Fut>(name: impl Into<String>, route: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + Serialize + JsonSchema + Send + 'static,
        R: IntoResponse + 'static,
        F: Fn(Cx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        let name = name.into();
        let served = format!("`{name}` is a view: it is served at its route");
        let decl = Function::new(name, move |_: Cx, _: A| {
            let served = served.clone();
            async move { Err::<(), _>(Error::not_found(served)) }
        })
        .route(route);
        let handler = Arc::new(handler);
        let prepare: Prepare = Arc::new(move |encoded: &str| {
            let args: A =
                serde_urlencoded::from_str(encoded).map_err(|e| Error::invalid_args(format!("invalid args: {e}")))?;
            let json = match serde_json::to_value(&args).map_err(Error::internal)? {
                serde_json::Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            let handler = Arc::clone(&handler);
            let run = Box::new(move |cx: Cx| -> BoxFuture<'static, Result<Response, Error>> {
                Box::pin(async move { handler(cx, args).await.map(IntoResponse::into_response) })
            });
            Ok(Prepared { args: json, run })
        });
        Self { decl, prepare }
    }

    /// Declares what a successful request makes stale (as
    /// [`Function::affects`]).
    pub fn affects(mut self, target: impl Into<String>) -> Self {
        self.decl = self.decl.affects(target);
        self
    }

    /// Makes its unscoped affects broad on purpose (as [`Function::broad`]).
    pub fn broad(mut self) -> Self {
        self.decl = self.decl.broad();
        self
    }

    /// Who may request it (default: everyone).
    pub fn access(mut self, access: Access) -> Self {
        self.decl = self.decl.access(access);
        self
    }

    /// Describes it.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.decl = self.decl.describe(description);
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.decl.name()
    }

    /// Its route.
    pub fn route(&self) -> &str {
        self.decl.route_path().unwrap_or_default()
    }
}

/// A view as the router mounts it.
#[derive(Clone)]
pub(crate) struct Mounted {
    pub(crate) name: Arc<str>,
    pub(crate) route: String,
    pub(crate) prepare: Prepare,
}

impl Mounted {
    pub(crate) fn of(view: &View) -> Self {
        Self {
            name: view.name().into(),
            route: view.route().to_owned(),
            prepare: Arc::clone(&view.prepare),
        }
    }
}

/// Why the views' routes cannot be mounted: not an absolute path, two views
/// at one route, a route under the base path or at an endpoint the
/// settings mount, or one axum refuses.
pub(crate) fn check_routes(views: &[Mounted], config: &crate::ServerConfig) -> Result<(), String> {
    let endpoints = [
        config.health_path.path(),
        config.ready_path.path(),
        config.metrics_path.path(),
    ];
    for (i, view) in views.iter().enumerate() {
        let (name, route) = (&view.name, view.route.as_str());
        if !route.starts_with('/') {
            return Err(format!("view `{name}`: its route `{route}` must start with `/`"));
        }
        if views[..i].iter().any(|other| other.route == route) {
            return Err(format!("view `{name}`: another view is served at `{route}`"));
        }
        let base = config.base_path.trim_end_matches('/');
        if route == base || route.starts_with(&format!("{base}/")) || endpoints.contains(&Some(route)) {
            return Err(format!("view `{name}`: `{route}` is one of Mizan's own endpoints"));
        }
        let mounted = std::panic::catch_unwind(|| {
            let _ = axum::Router::<()>::new().route(route, axum::routing::any(|| async {}));
        });
        if mounted.is_err() {
            return Err(format!(
                "view `{name}`: axum cannot route `{route}` (see the message above)"
            ));
        }
    }
    Ok(())
}

/// A view declared by `#[mizan::function(route = "...")]`: a `const` that
/// builds the [`View`] when registered (`MizanBuilder::views`).
#[derive(Debug, Clone, Copy)]
pub struct ViewDecl(fn() -> View);

impl ViewDecl {
    /// Wraps the function that builds the view.
    pub const fn new(build: fn() -> View) -> Self {
        Self(build)
    }
}

impl From<ViewDecl> for View {
    fn from(decl: ViewDecl) -> Self {
        (decl.0)()
    }
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("name", &self.name())
            .field("route", &self.route())
            .finish_non_exhaustive()
    }
}
