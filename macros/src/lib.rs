//! `#[mizan::function]`: an ordinary async fn becomes a registered Mizan
//! server function.
//!
//! Use it through the `mizan` crate (`mizan::function`), whose docs have
//! examples; the generated code names `::mizan::__private`, so this crate
//! is not meant to be depended on directly.
//!
//! # Layout
//!
//! - `attr.rs`: the attribute's keys (`context`, `affects`, `merge`, `auth`, `rev`).
//! - `signature.rs`: the checks on the fn (`async`, `&Cx` first, plain
//!   named args) and the args it declares.
//! - `expand.rs`: the fn as written, and its declaration: a `const`, the
//!   args struct and the builder chain.

mod attr;
mod expand;
mod signature;

use proc_macro::TokenStream;

/// Declares an `async fn(cx: &Cx, args..) -> Result<T, Error>` a Mizan
/// server function: the fn stays as written (callable from Rust, e.g. in a
/// unit test), and beside it comes a `const` of type `FunctionDecl` named
/// like the fn in upper case (`user_profile` -> `USER_PROFILE`), to pass to
/// `Mizan::builder().functions([..])`.
///
/// Keys, all optional:
///
/// - `context = "name"`: a read function of that context.
/// - `affects = "target"` or `affects = ["a", "b"]`: contexts or context
///   functions a successful call makes stale.
/// - `merge = "context"` or `merge = ["a", "b"]`: contexts whose slot of the
///   same output type the result replaces.
/// - `auth = "public" | "user" | "staff" | "superuser"`, or a path to a
///   predicate `fn(Option<&User>, &serde_json::Value) -> bool`
///   (default: `"public"`).
/// - `rev = 2`: the function's revision (default 0), part of the bundle
///   cache's keys: bump it when a deploy changes what it returns.
///
/// The first parameter is the request context (`&Cx`); every other
/// parameter is a field of the call's JSON args object, named like the
/// parameter. Doc comments and `#[serde(..)]`/`#[schemars(..)]` attributes
/// on a parameter apply to that field.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    let item: syn::Item = syn::parse2(item)?;
    let mut item = match item {
        syn::Item::Fn(item) => item,
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "`#[mizan::function]` applies to an `async fn`, e.g. \
                 `async fn user_profile(cx: &Cx, user_id: i64) -> Result<Profile, Error>`",
            ));
        }
    };
    // Check both halves before giving up, so every mistake shows at once.
    let mut errors = Errors::default();
    let attr = attr::FunctionAttr::parse(attr).map_err(|e| errors.push(e));
    let args = signature::check(&mut item).map_err(|e| errors.push(e));
    let (vis, name) = (item.vis.clone(), item.sig.ident.clone());
    if let (Ok(attr), Ok(args)) = (attr, args) {
        match expand::expand(attr, item, args) {
            Ok(tokens) => return Ok(tokens),
            Err(e) => errors.push(e),
        }
    }
    Ok(errors.into_tokens(&vis, &name))
}

/// `allow`, `warn`, `deny`, `forbid` and `expect`.
fn is_lint_attr(attr: &syn::Attribute) -> bool {
    ["allow", "warn", "deny", "forbid", "expect"]
        .iter()
        .any(|lint| attr.path().is_ident(lint))
}

/// Collects several errors so the user sees them all in one build.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The errors, and a stand-in for the declaration so that code naming
    /// it (`.functions([..])`) reports nothing more.
    fn into_tokens(self, vis: &syn::Visibility, name: &syn::Ident) -> proc_macro2::TokenStream {
        let errors = self.0.map(syn::Error::into_compile_error);
        let channels = quote::quote!(::mizan::__private::mizan_channels);
        let decl = expand::decl_name(name);
        quote::quote! {
            #errors
            #vis const #decl: #channels::FunctionDecl = #channels::FunctionDecl::new(|| ::core::unreachable!());
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}
