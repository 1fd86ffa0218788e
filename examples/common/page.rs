//! Serving an example's built web page (`web/dist/`, embedded at compile
//! time with `include_str!` by the example itself: `page::embedded!("todo")`).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

/// The three files of a Vite build with hashless names (see each example's
/// `web/vite.config.ts`): nothing else is served.
pub(crate) struct Page {
    pub(crate) index_html: &'static str,
    pub(crate) index_js: &'static str,
    pub(crate) index_css: &'static str,
}

impl Page {
    /// Adds `/`, `/assets/index.js` and `/assets/index.css` to `router`.
    /// `no-cache`: a browser revalidates them, so a rebuilt server never
    /// runs an old script.
    pub(crate) fn route(self, router: axum::Router) -> axum::Router {
        fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
            ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")], body)
        }
        let Page {
            index_html,
            index_js,
            index_css,
        } = self;
        router
            .route("/", get(move || async move { Html(index_html) }))
            .route(
                "/assets/index.js",
                get(move || async move { asset("text/javascript; charset=utf-8", index_js) }),
            )
            .route(
                "/assets/index.css",
                get(move || async move { asset("text/css; charset=utf-8", index_css) }),
            )
    }
}

/// The built page of example `$name` (`examples/$name/web/dist/`,
/// docs/client.md, "The example pages"), embedded at compile time.
macro_rules! embedded {
    ($name:literal) => {
        page::Page {
            index_html: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/",
                $name,
                "/web/dist/index.html"
            )),
            index_js: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/",
                $name,
                "/web/dist/assets/index.js"
            )),
            index_css: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/",
                $name,
                "/web/dist/assets/index.css"
            )),
        }
    };
}
pub(crate) use embedded;
