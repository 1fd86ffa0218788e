//! The registry: every function and channel, validated once.

use crate::channel::{Channel, ChannelEntry};
use crate::context::{Context, build_contexts};
use crate::cx::Cx;
use crate::effects::{Effects, resolve};
use crate::error::{BuildError, Error};
use crate::form::{Form, FormSchema};
use crate::function::Function;
use mizan_protocol::{Params, Payload};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::Arc;

/// Everything an application registered, looked up by name. Built once by
/// [`RegistryBuilder::build`], read-only afterwards.
#[derive(Debug, Default)]
pub struct Registry {
    functions: HashMap<String, Function>,
    channels: Arc<HashMap<&'static str, ChannelEntry>>,
    contexts: HashMap<String, Context>,
    effects: HashMap<String, Effects>,
    forms: Vec<(String, FormSchema)>,
}

impl Registry {
    /// Starts a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// A function by name.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }

    /// A channel by name.
    pub fn channel(&self, name: &str) -> Option<&ChannelEntry> {
        self.channels.get(name)
    }

    /// Every channel by name, shared (for [`Cx::with_emitter`]).
    pub(crate) fn channel_map(&self) -> Arc<HashMap<&'static str, ChannelEntry>> {
        Arc::clone(&self.channels)
    }

    /// A context by name.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.get(name)
    }

    /// What a successful call of function `name` affects.
    pub fn effects(&self, name: &str) -> Option<&Effects> {
        self.effects.get(name)
    }

    /// The bundle of context `name` for `params` (see [`Context::bundle`]).
    pub async fn bundle(&self, cx: Cx, name: &str, params: &Params) -> Result<Payload, Error> {
        let context = self
            .contexts
            .get(name)
            .ok_or_else(|| Error::not_found(format!("unknown context `{}`", mizan_protocol::quote(name))))?;
        context.bundle(&self.functions, cx, params).await
    }

    /// Whether `cx`'s user may read context `name` with `params` (see
    /// [`Context::check_access`]).
    pub fn check_context_access(&self, cx: &Cx, name: &str, params: &Params) -> Result<(), Error> {
        let context = self
            .contexts
            .get(name)
            .ok_or_else(|| Error::not_found(format!("unknown context `{}`", mizan_protocol::quote(name))))?;
        context.check_access(&self.functions, cx, params)
    }

    /// Every context, sorted by name.
    pub fn contexts(&self) -> Vec<&Context> {
        let mut all: Vec<_> = self.contexts.values().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Every channel, sorted by name.
    pub fn channels(&self) -> Vec<&ChannelEntry> {
        let mut all: Vec<_> = self.channels.values().collect();
        all.sort_by_key(|c| c.name());
        all
    }

    /// Every form's name and description, sorted by name.
    pub fn forms(&self) -> Vec<(&str, &FormSchema)> {
        self.forms
            .iter()
            .map(|(name, schema)| (name.as_str(), schema))
            .collect()
    }

    /// Every function, sorted by name.
    pub fn functions(&self) -> Vec<&Function> {
        let mut all: Vec<_> = self.functions.values().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

impl std::fmt::Debug for ChannelEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelEntry")
            .field("name", &self.name())
            .field("declared_at", &self.declared_at())
            .finish_non_exhaustive()
    }
}

/// Collects functions and channels; [`build`](Self::build) validates them.
///
/// ```
/// use mizan_channels::{BuildError, Cx, Error, Function, Registry};
/// # let f = || Function::new("ping", |_cx: Cx, _: serde_json::Value| async { Ok::<_, Error>("pong") });
/// let err = Registry::builder().function(f()).function(f()).build().unwrap_err();
/// assert!(matches!(err, BuildError::Duplicate { kind: "function", .. }));
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct RegistryBuilder {
    functions: Vec<Function>,
    channels: Vec<ChannelEntry>,
    forms: Vec<Form>,
}

impl RegistryBuilder {
    /// Adds a function (a [`Function`], or a [`FunctionDecl`](crate::FunctionDecl)
    /// made by `#[mizan::function]`).
    pub fn function(mut self, function: impl Into<Function>) -> Self {
        self.functions.push(function.into());
        self
    }

    /// Adds several functions.
    pub fn functions<F: Into<Function>>(mut self, functions: impl IntoIterator<Item = F>) -> Self {
        self.functions.extend(functions.into_iter().map(Into::into));
        self
    }

    /// Adds a form: its three functions `F.schema`, `F.validate`,
    /// `F.submit` (see [`Form`]).
    pub fn form(mut self, form: Form) -> Self {
        self.forms.push(form);
        self
    }

    /// Adds a channel.
    #[track_caller]
    pub fn channel<C: Channel>(mut self, channel: C) -> Self {
        self.channels.push(ChannelEntry::new(channel));
        self
    }

    /// Adds a presence channel whose members carry info (see
    /// [`MemberInfo`](crate::MemberInfo)).
    #[track_caller]
    pub fn channel_with_member_info<C: crate::MemberInfo>(mut self, channel: C) -> Self {
        self.channels.push(ChannelEntry::with_member_info(channel));
        self
    }

    /// Validates names and builds the registry.
    pub fn build(self) -> Result<Registry, BuildError> {
        let mut registry = Registry::default();
        let mut functions = self.functions;
        for form in self.forms {
            // A form registered twice: its functions are duplicates.
            check_name("form", form.name(), form.declared_at())?;
            let name = form.name().to_owned();
            let (schema, parts) = form.into_parts();
            registry.forms.push((name, schema));
            functions.extend(parts);
        }
        registry.forms.sort_by(|a, b| a.0.cmp(&b.0));
        for f in functions {
            // A form's functions are `<form>.<part>`, the form's name checked.
            if !f.is_form_part() {
                check_name("function", f.name(), f.declared_at())?;
            }
            if let Some(first) = registry.functions.get(f.name()) {
                return Err(duplicate("function", f.name(), first.declared_at(), f.declared_at()));
            }
            registry.functions.insert(f.name().to_owned(), f);
        }
        let mut channels = HashMap::new();
        for c in self.channels {
            check_name("channel", c.name(), c.declared_at())?;
            if let Some(first) = channels.get(c.name()).map(ChannelEntry::declared_at) {
                return Err(duplicate("channel", c.name(), first, c.declared_at()));
            }
            channels.insert(c.name(), c);
        }
        registry.channels = Arc::new(channels);
        for context in registry.functions.values().filter_map(Function::context_name) {
            check_name(
                "context",
                context,
                registry.functions[context_owner(&registry, context)].declared_at(),
            )?;
        }
        registry.contexts = build_contexts(&registry.functions)?;
        registry.effects = resolve(&registry.functions, &registry.contexts)?;
        Ok(registry)
    }
}

fn duplicate(
    kind: &'static str,
    name: &str,
    first: &'static Location<'static>,
    second: &'static Location<'static>,
) -> BuildError {
    BuildError::Duplicate {
        kind,
        name: name.to_owned(),
        first,
        second,
    }
}

/// The first function (by name) declaring `context`, for error locations.
fn context_owner<'a>(registry: &'a Registry, context: &str) -> &'a str {
    registry
        .functions
        .values()
        .filter(|f| f.context_name() == Some(context))
        .map(Function::name)
        .min()
        .unwrap_or_default()
}

/// Names travel on the wire and become identifiers in generated code.
fn check_name(kind: &'static str, name: &str, at: &'static Location<'static>) -> Result<(), BuildError> {
    let mut chars = name.chars();
    let ok = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BuildError::BadName {
            kind,
            name: name.to_owned(),
            at,
        })
    }
}
