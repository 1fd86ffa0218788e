//! What a mutation affects: `affects` and `merge` targets resolved once,
//! when the registry is built, into the entries a call produces.

use crate::context::Context;
use crate::error::BuildError;
use crate::function::Function;
use mizan_protocol::{InvalidateEntry, MergeEntry, Params, Payload};
use std::collections::HashMap;

/// A mutation's resolved targets. Which args scope which target was worked
/// out at build time; a call only picks their values out of its args.
///
/// ```
/// use mizan_channels::{Cx, Error, Function, Registry};
/// use mizan_protocol::{InvalidateEntry, Payload};
/// # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
/// #[derive(Deserialize, JsonSchema)] struct ById { user_id: i64 }
/// #[derive(Deserialize, JsonSchema)] struct Rename { user_id: i64, name: String }
///
/// let profile = Function::new("user_profile", |_cx: Cx, a: ById| async move { Ok::<_, Error>(a.user_id) })
///     .context("user");
/// let update = Function::new("update_profile", |_cx: Cx, _a: Rename| async move { Ok::<_, Error>(true) })
///     .affects("user");
/// let registry = Registry::builder().function(profile).function(update).build().unwrap();
///
/// let effects = registry.effects("update_profile").unwrap();
/// assert!(effects.needs_args());
/// let args = serde_json::json!({"user_id": 5, "name": "Ann"});
/// let (invalidate, merge) = effects.entries(args.as_object().unwrap(), &Payload::empty_object(), None);
/// assert_eq!(serde_json::to_string(&invalidate).unwrap(), r#"[{"context":"user","params":{"user_id":5}}]"#);
/// assert!(merge.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Effects {
    invalidate: Vec<Target>,
    merge: Vec<Target>,
    /// Whether any target is scoped (else the args need not be parsed).
    scoped: bool,
}

/// One resolved target.
#[derive(Debug, Clone)]
struct Target {
    context: String,
    /// The function (slot) of a function-level invalidation, or the slot of
    /// a merge.
    slot: Option<String>,
    /// The mutation's args that are params of the context, sorted.
    scope: Vec<String>,
    /// Whether the context is per-user (entries carry the caller).
    per_user: bool,
}

impl Effects {
    /// Whether the function affects nothing.
    pub fn is_empty(&self) -> bool {
        self.invalidate.is_empty() && self.merge.is_empty()
    }

    /// Whether [`entries`](Self::entries) reads the args (some target is
    /// scoped); when not, the args need not be parsed for it.
    pub fn needs_args(&self) -> bool {
        self.scoped
    }

    /// The entries of one successful call with `args` (parsed; any map
    /// when [`needs_args`](Self::needs_args) is false) returning `output`.
    ///
    /// `caller` is the id of the calling user. Entries for a per-user
    /// context carry it as their audience, so they reach only that user's
    /// watchers. A merge into a per-user context by a caller without a user
    /// is never pushed: it becomes a broad invalidation (no data travels).
    pub fn entries(
        &self,
        args: &Params,
        output: &Payload,
        caller: Option<&str>,
    ) -> (Vec<InvalidateEntry>, Vec<MergeEntry>) {
        let audience = |t: &Target| if t.per_user { caller.map(str::to_owned) } else { None };
        let mut invalidate: Vec<InvalidateEntry> = self
            .invalidate
            .iter()
            .map(|t| {
                InvalidateEntry::broad(t.context.clone())
                    .with_function(t.slot.clone())
                    .with_params(t.params(args))
                    .for_user(audience(t))
            })
            .collect();
        let mut merge = Vec::with_capacity(self.merge.len());
        // A merge is scoped by what the handler returned where it says
        // (a field named like a scoping param), not by the args as sent.
        let returned = match self.merge.iter().any(|t| !t.scope.is_empty()) {
            true => output.parse::<serde_json::Value>().ok(),
            false => None,
        };
        let returned = returned.as_ref().and_then(serde_json::Value::as_object);
        for t in &self.merge {
            if t.per_user && caller.is_none() {
                invalidate.push(InvalidateEntry::broad(&t.context));
                continue;
            }
            merge.push(
                MergeEntry::new(t.context.clone(), t.slot.clone().unwrap_or_default(), output.clone())
                    .with_params(t.merge_params(args, returned))
                    .for_user(audience(t)),
            );
        }
        (invalidate, merge)
    }
}

impl Target {
    /// A merge entry's scope: each scoping param from the output when it
    /// has a field of that name (logged when the args said otherwise),
    /// else from the args.
    fn merge_params(&self, args: &Params, output: Option<&Params>) -> Option<Params> {
        let params: Params = self
            .scope
            .iter()
            .filter_map(|name| {
                let sent = args.get(name);
                let returned = output.and_then(|o| o.get(name));
                if let (Some(sent), Some(returned)) = (sent, returned)
                    && sent != returned
                {
                    tracing::warn!(
                        context = %self.context, param = %name, %sent, %returned,
                        "a merge's args and output disagree: it is scoped by the output"
                    );
                }
                returned.or(sent).map(|v| (name.clone(), v.clone()))
            })
            .collect();
        (!params.is_empty()).then_some(params)
    }

    /// The entry's scope: the scoping args present in this call; `None`
    /// (broad) when there are none.
    fn params(&self, args: &Params) -> Option<Params> {
        let params: Params = self
            .scope
            .iter()
            .filter_map(|name| args.get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        (!params.is_empty()).then_some(params)
    }
}

/// Resolves every function's `affects` and `merge` against the contexts.
///
/// A target names a context when a context has that name, else a context
/// function (function-level). Merge targets must be contexts with exactly
/// one slot of the mutation's output type.
pub(crate) fn resolve(
    functions: &HashMap<String, Function>,
    contexts: &HashMap<String, Context>,
) -> Result<HashMap<String, Effects>, BuildError> {
    let mut all = HashMap::new();
    for function in functions.values() {
        let mut effects = Effects::default();
        let mut unscoped = false;
        for target in function.affects_targets() {
            let (context, slot) = affected(function, target, functions, contexts)?;
            let scope = scope(function, "affects", target, context, functions, &mut unscoped)?;
            effects.invalidate.push(Target {
                scope,
                context: context.name().to_owned(),
                slot,
                per_user: context.is_per_user(),
            });
        }
        for target in function.merge_targets() {
            let context = contexts.get(target).ok_or_else(|| BuildError::MergeTarget {
                function: function.name().to_owned(),
                target: target.clone(),
                at: function.declared_at(),
                reason: match functions.get(target).and_then(Function::context_name) {
                    Some(owner) => format!("it is a function; merge names a context: write merge = \"{owner}\""),
                    None => format!("no context is named `{target}` (known: {})", known(contexts)),
                },
            })?;
            let scope = scope(function, "merge", target, context, functions, &mut unscoped)?;
            effects.merge.push(Target {
                scope,
                context: context.name().to_owned(),
                slot: Some(merge_slot(function, context, functions)?),
                per_user: context.is_per_user(),
            });
        }
        if function.is_broad() && !unscoped {
            return Err(BuildError::NeedlessBroad {
                function: function.name().to_owned(),
                at: function.declared_at(),
            });
        }
        effects.scoped = effects
            .invalidate
            .iter()
            .chain(&effects.merge)
            .any(|t| !t.scope.is_empty());
        all.insert(function.name().to_owned(), effects);
    }
    Ok(all)
}

/// The context (and function, for a function-level target) `target` names.
fn affected<'a>(
    function: &Function,
    target: &str,
    functions: &HashMap<String, Function>,
    contexts: &'a HashMap<String, Context>,
) -> Result<(&'a Context, Option<String>), BuildError> {
    if let Some(context) = contexts.get(target) {
        return Ok((context, None));
    }
    let unknown = |reason: String| BuildError::AffectsTarget {
        function: function.name().to_owned(),
        target: target.to_owned(),
        at: function.declared_at(),
        reason,
    };
    let named = functions.get(target).ok_or_else(|| {
        unknown(format!(
            "no context or function has that name (contexts: {})",
            known(contexts)
        ))
    })?;
    let owner = named.context_name().ok_or_else(|| {
        unknown(format!(
            "function `{target}` belongs to no context: give it `context = \"...\"`, or name a context"
        ))
    })?;
    Ok((&contexts[owner], Some(target.to_owned())))
}

/// The one slot of `context` whose output type is `function`'s.
fn merge_slot(
    function: &Function,
    context: &Context,
    functions: &HashMap<String, Function>,
) -> Result<String, BuildError> {
    let (output, type_name) = function.output_type();
    let slots: Vec<&String> = context
        .slots()
        .iter()
        .filter(|slot| functions[slot.as_str()].output_type().0 == output)
        .collect();
    match slots.as_slice() {
        [slot] => Ok((*slot).clone()),
        [] => Err(BuildError::MergeTarget {
            function: function.name().to_owned(),
            target: context.name().to_owned(),
            at: function.declared_at(),
            reason: format!(
                "no function of context `{}` returns `{type_name}`; merge replaces the slot whose function returns the mutation's output type",
                context.name()
            ),
        }),
        several => Err(BuildError::MergeTarget {
            function: function.name().to_owned(),
            target: context.name().to_owned(),
            at: function.declared_at(),
            reason: format!(
                "several functions of context `{}` return `{type_name}` ({}); give them distinct output types, or invalidate instead",
                context.name(),
                several.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// The mutation's args that are params of `context`: each of the same JSON
/// type as the param (else its entries would never match a watcher), and
/// at least one unless the context has no params or the function chose
/// `broad` (which `unscoped` records).
fn scope(
    function: &Function,
    key: &'static str,
    target: &str,
    context: &Context,
    functions: &HashMap<String, Function>,
    unscoped: &mut bool,
) -> Result<Vec<String>, BuildError> {
    let mut scope = Vec::new();
    for arg in function.args() {
        let Some((schema, declared_by)) = context.param(&arg.name) else {
            continue;
        };
        if json_type(&arg.schema) != json_type(schema) {
            return Err(BuildError::ScopeTypes {
                function: function.name().to_owned(),
                target: format!("{key} = \"{target}\""),
                param: arg.name.clone(),
                types: format!(
                    "is {}, but the context's param `{}` (declared by `{declared_by}` at {}) is {}",
                    describe(&arg.schema),
                    arg.name,
                    functions[declared_by].declared_at(),
                    describe(schema)
                ),
                at: function.declared_at(),
            });
        }
        scope.push(arg.name.clone());
    }
    let mut params = context.param_names().peekable();
    if scope.is_empty() && params.peek().is_some() {
        *unscoped = true;
        if !function.is_broad() {
            let params: Vec<&str> = params.collect();
            return Err(BuildError::UnchosenBroad {
                function: function.name().to_owned(),
                target: format!("{key} = \"{target}\""),
                context: context.name().to_owned(),
                params: params.join(", "),
                at: function.declared_at(),
            });
        }
    }
    Ok(scope)
}

/// A schema with what does not change which JSON values it admits for
/// matching (`format`: `int32` and `int64` are both JSON integers;
/// descriptions and titles) left out.
fn json_type(schema: &serde_json::Value) -> serde_json::Value {
    match schema {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "format" | "description" | "title" | "minimum" | "maximum"))
            .map(|(k, v)| (k.clone(), json_type(v)))
            .collect(),
        other => other.clone(),
    }
}

/// A short name for a schema's type, for build errors: `a string`,
/// `an integer`, `a Ref`, or the schema itself.
fn describe(schema: &serde_json::Value) -> String {
    let article = |t: &str| {
        if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        }
    };
    match (schema.get("type"), schema.get("$ref")) {
        (Some(serde_json::Value::String(t)), _) => format!("{} {t}", article(t)),
        (_, Some(serde_json::Value::String(r))) => {
            let name = r.rsplit('/').next().unwrap_or(r);
            format!("a `{name}`")
        }
        _ => format!("`{schema}`"),
    }
}

fn known(contexts: &HashMap<String, Context>) -> String {
    let mut names: Vec<&str> = contexts.keys().map(String::as_str).collect();
    names.sort_unstable();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
