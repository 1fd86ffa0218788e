//! The attribute's arguments: `context`, `per_user`, `affects`, `merge`,
//! `broad`, `auth`, `rev` and `route`.

use crate::Errors;
use proc_macro2::Span;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Path, Token};

/// The keys the attribute accepts, in the order the docs list them.
const KEYS: &str = "`context`, `per_user`, `affects`, `merge`, `broad`, `auth`, `rev`, `route`";

/// The access levels `auth` accepts as a string.
const LEVELS: &str = "\"public\", \"user\", \"staff\", \"superuser\"";

/// What `#[mizan::function(...)]` declared.
#[derive(Default)]
pub(crate) struct FunctionAttr {
    /// `context = "name"`: the context this function reads for.
    pub(crate) context: Option<LitStr>,
    /// `per_user`: the context's data depends on who asks.
    pub(crate) per_user: Option<Span>,
    /// `affects = "target"` or `affects = ["a", "b"]`.
    pub(crate) affects: Vec<LitStr>,
    /// `merge = "context"` or `merge = ["a", "b"]`.
    pub(crate) merge: Vec<LitStr>,
    /// `broad`: what `affects`/`merge` cannot scope is broad on purpose.
    pub(crate) broad: Option<Span>,
    /// `auth = ...`, with the span of the key for duplicate errors.
    pub(crate) auth: Option<Auth>,
    /// `rev = N`: the function's revision, in the bundle cache's keys.
    pub(crate) rev: Option<syn::LitInt>,
    /// `route = "/path/{param}"`: a view-path function served there.
    pub(crate) route: Option<LitStr>,
}

/// Who may call the function.
pub(crate) enum Auth {
    /// A built-in level: the `Access` variant's name, spanned at the string.
    Level(&'static str, Span),
    /// A path to a predicate `fn(Option<&User>, &serde_json::Value) -> bool`.
    Custom(Path),
}

impl FunctionAttr {
    /// Parses the tokens between the attribute's parentheses, reporting
    /// every mistake at once.
    pub(crate) fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens)?;
        let mut attr = Self::default();
        let mut errors = Errors::default();
        for meta in metas {
            if let Err(e) = attr.add(meta) {
                errors.push(e);
            }
        }
        if let (Some(span), None) = (attr.per_user, &attr.context) {
            errors.push(syn::Error::new(
                span,
                "`per_user` marks a context function: add `context = \"...\"` (e.g. `context = \"me\", per_user`)",
            ));
        }
        if let Some(route) = &attr.route {
            let clash = [
                (attr.context.as_ref().map(LitStr::span), "`context`"),
                (attr.per_user, "`per_user`"),
                (attr.merge.first().map(LitStr::span), "`merge`"),
                (attr.rev.as_ref().map(syn::LitInt::span), "`rev`"),
            ];
            for (span, key) in clash {
                if let Some(span) = span {
                    errors.push(syn::Error::new(
                        span,
                        format!(
                            "{key} does not go with `route`: a view-path function answers with a response of its own \
                             (route = {:?}), not data a context or a merge could hold",
                            route.value()
                        ),
                    ));
                }
            }
        }
        if let (Some(span), true) = (attr.broad, attr.affects.is_empty() && attr.merge.is_empty()) {
            errors.push(syn::Error::new(
                span,
                "`broad` qualifies `affects`/`merge`: add the targets it makes broad (e.g. `affects = \"polls\", broad`)",
            ));
        }
        errors.finish(attr)
    }

    fn add(&mut self, meta: Meta) -> syn::Result<()> {
        let key = match meta.path().get_ident() {
            Some(key) => key.to_string(),
            None => return Err(unknown_key(meta.path())),
        };
        if !matches!(
            key.as_str(),
            "context" | "per_user" | "affects" | "merge" | "broad" | "auth" | "rev" | "route"
        ) {
            return Err(unknown_key(meta.path()));
        }
        if let Some((flag, example)) = match key.as_str() {
            "per_user" => Some((&mut self.per_user, "`context = \"me\", per_user`")),
            "broad" => Some((&mut self.broad, "`affects = \"polls\", broad`")),
            _ => None,
        } {
            return match meta {
                Meta::Path(path) => {
                    *flag = Some(path.span());
                    Ok(())
                }
                other => Err(syn::Error::new_spanned(
                    &other,
                    format!("`{key}` is a flag: write `{key}` alone, e.g. {example}"),
                )),
            };
        }
        let value = match meta {
            Meta::NameValue(nv) => nv.value,
            other => {
                return Err(syn::Error::new_spanned(
                    &other,
                    format!("`{key}` needs a value: write {}", example(&key)),
                ));
            }
        };
        match key.as_str() {
            "context" => {
                let name = name_value(&value, "context")?;
                if self.context.is_some() {
                    return Err(syn::Error::new(
                        value.span(),
                        "`context` is given twice: a function reads for at most one context \
                         (to make others stale, use `affects`)",
                    ));
                }
                self.context = Some(name);
            }
            "affects" => self.affects.extend(name_list(&value, "affects")?),
            "merge" => self.merge.extend(name_list(&value, "merge")?),
            "route" => {
                let route = string_literal(&value)
                    .filter(|r| r.value().starts_with('/'))
                    .ok_or_else(|| {
                        syn::Error::new_spanned(
                            &value,
                            "`route` takes the view's path, starting with `/`: `route = \"/profile/{id}\"`",
                        )
                    })?;
                if self.route.is_some() {
                    return Err(syn::Error::new(value.span(), "`route` is given twice"));
                }
                self.route = Some(route.clone());
            }
            "rev" => {
                if self.rev.is_some() {
                    return Err(syn::Error::new(value.span(), "`rev` is given twice"));
                }
                self.rev = Some(revision(&value)?);
            }
            _ => {
                let auth = auth(&value)?;
                if self.auth.is_some() {
                    return Err(syn::Error::new(value.span(), "`auth` is given twice"));
                }
                self.auth = Some(auth);
            }
        }
        Ok(())
    }
}

fn unknown_key(path: &Path) -> syn::Error {
    let shown = quote::ToTokens::to_token_stream(path).to_string().replace(' ', "");
    syn::Error::new_spanned(path, format!("unknown key `{shown}`; expected one of {KEYS}"))
}

fn example(key: &str) -> String {
    match key {
        "context" => "`context = \"user\"`".to_owned(),
        "auth" => "`auth = \"user\"`".to_owned(),
        "rev" => "`rev = 2`".to_owned(),
        "route" => "`route = \"/profile/{id}\"`".to_owned(),
        _ => format!("`{key} = \"user\"` or `{key} = [\"user\", \"notifications\"]`"),
    }
}

fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s),
        _ => None,
    }
}

/// A non-empty string literal naming a context or function.
fn name_value(value: &Expr, key: &str) -> syn::Result<LitStr> {
    let lit = string_literal(value).ok_or_else(|| {
        let what = if key == "context" {
            "`context` takes the context's name as a string: `context = \"user\"`"
        } else {
            "expected a string"
        };
        syn::Error::new_spanned(value, what)
    })?;
    if lit.value().is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`{key}` needs a name, not an empty string"),
        ));
    }
    Ok(lit.clone())
}

/// A string or an array of strings.
fn name_list(value: &Expr, key: &str) -> syn::Result<Vec<LitStr>> {
    let wrong = |span: &dyn quote::ToTokens| {
        syn::Error::new_spanned(
            span,
            format!(
                "`{key}` takes a context or function name, or a list of them: `{key} = \"user\"` or `{key} = [\"user\", \"notifications\"]`"
            ),
        )
    };
    match value {
        Expr::Array(array) => {
            let mut names = Vec::with_capacity(array.elems.len());
            for elem in &array.elems {
                if string_literal(elem).is_none() {
                    return Err(wrong(elem));
                }
                names.push(name_value(elem, key)?);
            }
            Ok(names)
        }
        _ if string_literal(value).is_some() => Ok(vec![name_value(value, key)?]),
        _ => Err(wrong(value)),
    }
}

/// A revision: an integer literal that fits a `u32`.
fn revision(value: &Expr) -> syn::Result<syn::LitInt> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Int(n), .. }) if n.suffix().is_empty() && n.base10_parse::<u32>().is_ok() => {
            Ok(n.clone())
        }
        _ => Err(syn::Error::new_spanned(
            value,
            "`rev` takes the function's revision, a whole number: `rev = 2`",
        )),
    }
}

fn auth(value: &Expr) -> syn::Result<Auth> {
    if let Some(lit) = string_literal(value) {
        let level = match lit.value().as_str() {
            "public" => "Public",
            "user" => "User",
            "staff" => "Staff",
            "superuser" => "Superuser",
            other => {
                return Err(syn::Error::new_spanned(
                    lit,
                    format!(
                        "unknown access level \"{other}\"; expected one of {LEVELS}, \
                         or a path to a predicate `fn(Option<&User>, &serde_json::Value) -> bool`"
                    ),
                ));
            }
        };
        return Ok(Auth::Level(level, lit.span()));
    }
    match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(Auth::Custom(p.path.clone())),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`auth` takes an access level ({LEVELS}) or a path to a predicate \
                 `fn(Option<&User>, &serde_json::Value) -> bool`, e.g. `auth = \"user\"` or `auth = is_owner`"
            ),
        )),
    }
}
