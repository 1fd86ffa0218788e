//! Contexts: named groups of read functions that share params, and their
//! bundles.

use crate::cx::Cx;
use crate::error::{BuildError, Error};
use crate::function::{Args, Function};
use futures_util::future::try_join_all;
use mizan_protocol::{Params, Payload};
use std::collections::{BTreeMap, HashMap};

/// The context that takes no params, fetched once per page.
pub const GLOBAL: &str = "global";

/// A context: its slots (the names of its functions) and its params (the
/// union of their args).
#[derive(Debug, Clone)]
pub struct Context {
    name: String,
    per_user: bool,
    slots: Vec<String>,
    /// Each slot's revision ([`Function::rev`]), in slot order.
    revisions: Vec<u32>,
    /// Param name -> (its JSON Schema, the first function declaring it).
    params: BTreeMap<String, (serde_json::Value, String)>,
}

impl Context {
    /// The context's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its slots, sorted: the function names that make up its bundle.
    pub fn slots(&self) -> &[String] {
        &self.slots
    }

    /// Its slots with their revisions ([`Function::rev`]), in slot order:
    /// what a cached bundle was computed by.
    pub fn slot_revisions(&self) -> impl Iterator<Item = (&str, u32)> {
        self.slots
            .iter()
            .map(String::as_str)
            .zip(self.revisions.iter().copied())
    }

    /// Whether its data depends on who asks (see [`Function::per_user`]).
    pub fn is_per_user(&self) -> bool {
        self.per_user
    }

    /// Whether `name` is one of its params.
    pub fn has_param(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// The JSON Schema of param `name`, and the function that declared it
    /// first.
    pub(crate) fn param(&self, name: &str) -> Option<(&serde_json::Value, &str)> {
        self.params.get(name).map(|(schema, first)| (schema, first.as_str()))
    }

    /// Its param names, sorted.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.keys().map(String::as_str)
    }

    /// Computes the bundle for `params`: every slot's function called with
    /// the params it declares, concurrently; `{slot: value}` in slot order.
    /// A param the context does not have is `invalid_args`; a member
    /// function's access check or args decoding failing fails the bundle.
    pub async fn bundle(
        &self,
        functions: &HashMap<String, Function>,
        cx: Cx,
        params: &Params,
    ) -> Result<Payload, Error> {
        self.check_params(params)?;
        // Each slot's args are handed over parsed (never written out and
        // read back); each output is copied into the bundle as the text it
        // was encoded to, without being parsed again.
        let calls = self.slots.iter().map(|slot| {
            let function = &functions[slot];
            function.call(cx.clone(), Args::Parsed(&slot_args(function, params)))
        });
        let values = try_join_all(calls).await?;
        let data = serde_json::value::to_raw_value(&Slots(&self.slots, &values)).map_err(Error::internal)?;
        Ok(Payload::from(data))
    }

    /// Whether `cx`'s user may read this context with `params`: every
    /// slot's access check, without running anything (used when a
    /// watcher's user changes). Per-user contexts need a user.
    pub fn check_access(&self, functions: &HashMap<String, Function>, cx: &Cx, params: &Params) -> Result<(), Error> {
        if self.per_user && cx.user().is_none() {
            return Err(Error::unauthenticated(format!(
                "context `{}` is per-user: it needs a signed-in user",
                self.name
            )));
        }
        self.slots
            .iter()
            .try_for_each(|slot| functions[slot].check_access(cx, Args::Parsed(&slot_args(&functions[slot], params))))
    }

    fn check_params(&self, params: &Params) -> Result<(), Error> {
        let Some(unknown) = params.keys().find(|k| !self.has_param(k)) else {
            return Ok(());
        };
        let known: Vec<&str> = self.param_names().collect();
        Err(Error::invalid_args(format!(
            "context `{}` has no param `{}` (its params: {})",
            self.name,
            mizan_protocol::quote(unknown),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )))
    }

    /// The JSON Schema of its params object.
    pub fn params_schema(&self) -> serde_json::Value {
        let properties: serde_json::Map<String, serde_json::Value> = self
            .params
            .iter()
            .map(|(name, (schema, _))| (name.clone(), schema.clone()))
            .collect();
        serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": self.params.keys().collect::<Vec<_>>(),
        })
    }
}

/// The args a slot's function is called with: the params it declares.
fn slot_args(function: &Function, params: &Params) -> serde_json::Value {
    let args: Params = function
        .arg_names()
        .filter_map(|name| params.get(name).map(|v| (name.to_owned(), v.clone())))
        .collect();
    serde_json::Value::Object(args)
}

/// A bundle's `{slot: value}`, written from the slots' encoded outputs.
struct Slots<'a>(&'a [String], &'a [Payload]);

impl serde::Serialize for Slots<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (slot, value) in self.0.iter().zip(self.1) {
            map.serialize_entry(slot, value)?;
        }
        map.end()
    }
}

/// Groups context functions into contexts and checks that they agree.
pub(crate) fn build_contexts(functions: &HashMap<String, Function>) -> Result<HashMap<String, Context>, BuildError> {
    let mut members: Vec<&Function> = functions.values().filter(|f| f.context_name().is_some()).collect();
    members.sort_by(|a, b| a.name().cmp(b.name()));
    let mut contexts: HashMap<String, Context> = HashMap::new();
    for function in members {
        let name = function.context_name().unwrap_or_default();
        if name == GLOBAL && function.arg_names().next().is_some() {
            return Err(BuildError::GlobalWithParams {
                function: function.name().to_owned(),
                at: function.declared_at(),
            });
        }
        let context = contexts.entry(name.to_owned()).or_insert_with(|| Context {
            name: name.to_owned(),
            per_user: function.is_per_user(),
            slots: Vec::new(),
            revisions: Vec::new(),
            params: BTreeMap::new(),
        });
        if context.per_user != function.is_per_user() {
            let marked = |per_user| if per_user { "is marked per_user" } else { "is not" };
            return Err(BuildError::PerUserMismatch {
                context: name.to_owned(),
                first: context.slots[0].clone(),
                first_is: marked(context.per_user),
                second: function.name().to_owned(),
                at: function.declared_at(),
            });
        }
        context.slots.push(function.name().to_owned());
        context.revisions.push(function.revision());
        for arg in function.args() {
            match context.params.get(&arg.name) {
                Some((schema, first)) if *schema != arg.schema => {
                    return Err(BuildError::ParamTypes {
                        context: name.to_owned(),
                        param: arg.name.clone(),
                        first: first.clone(),
                        second: function.name().to_owned(),
                        at: function.declared_at(),
                    });
                }
                Some(_) => {}
                None => {
                    context
                        .params
                        .insert(arg.name.clone(), (arg.schema.clone(), function.name().to_owned()));
                }
            }
        }
    }
    Ok(contexts)
}
