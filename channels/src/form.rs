//! Forms (PROTOCOL.md section 13): a struct whose field rules are written
//! once, as `garde` attributes, which `garde` checks on the server and
//! `schemars` turns into the JSON Schema the generated client's Zod checks
//! in the browser; a [`Form`] makes it the three functions `F.schema`,
//! `F.validate` and `F.submit` (`docs/forms.md`).
//!
//! - `fields.rs`: the fields' descriptions (`F.schema`), read from the
//!   struct's JSON Schema, in declaration order.
//! - `rules.rs`: checking fields by their rules, any subset of them.

mod fields;
mod rules;

use crate::access::Access;
use crate::cx::Cx;
use crate::error::Error;
use crate::function::{Function, NoArgs};
use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::{Arc, OnceLock};

pub use fields::{FieldKind, FieldSpec};
pub use rules::Errors;

/// Fields as a client sends them: a JSON object.
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// A server-side check of one field's value (a rule only the server can
/// check, e.g. "already registered"): `Ok(Some(message))` when it fails.
type Check = Arc<dyn Fn(Cx, serde_json::Value) -> BoxFuture<'static, Result<Option<String>, Error>> + Send + Sync>;

/// A form: see the module docs.
///
/// ```
/// use mizan_channels::{Cx, Error, Form, Registry};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, schemars::JsonSchema, garde::Validate)]
/// struct Contact {
///     #[garde(length(chars, min = 1, max = 100))]
///     name: String,
///     #[garde(email)]
///     email: String,
/// }
///
/// #[derive(Serialize, schemars::JsonSchema)]
/// struct Sent { sent: bool }
///
/// let form = Form::new("contact", |_cx: Cx, contact: Contact| async move {
///     let _ = contact.name;
///     Ok::<_, Error>(Sent { sent: true })
/// })
/// .title("Contact us")
/// .submit_label("Send");
/// let registry = Registry::builder().form(form).build().unwrap();
/// assert!(registry.function("contact.submit").is_some());
/// assert_eq!(registry.forms()[0].1.fields[1].name, "email");
/// ```
#[must_use]
pub struct Form {
    name: String,
    title: Option<String>,
    submit_label: Option<String>,
    labels: BTreeMap<String, String>,
    kinds: BTreeMap<String, FieldKind>,
    checks: Vec<(String, Check)>,
    fields: fn() -> Vec<FieldSpec>,
    rules: fn(&Fields, &[FieldSpec]) -> Errors,
    /// `F.submit`, whose handler finds the form's checker here once the
    /// registry is built.
    submit: Function,
    checker: Arc<OnceLock<Arc<Checker>>>,
    access: Access,
    declared_at: &'static Location<'static>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("name", &self.name)
            .field("declared_at", &self.declared_at)
            .finish_non_exhaustive()
    }
}

/// A form's description: the `F.schema` answer, and the manifest's entry.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FormSchema {
    /// Its title.
    pub title: String,
    /// The submit button's label.
    pub submit_label: String,
    /// Its fields, in declaration order.
    pub fields: Vec<FieldSpec>,
}

/// The `F.validate` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Validation {
    /// Whether every field reported is valid.
    pub valid: bool,
    /// The messages of each invalid field reported.
    pub errors: Errors,
}

impl Form {
    /// The form `name` over the struct `T`, submitted to `submit` once every
    /// field passes its rules and checks. Its title defaults to the name,
    /// its submit label to "Submit", each label to the field's name
    /// (`first_name`: "First name").
    #[track_caller]
    pub fn new<T, O, F, Fut>(name: impl Into<String>, submit: F) -> Self
    where
        T: DeserializeOwned + JsonSchema + garde::Validate<Context = ()> + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(Cx, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Error>> + Send + 'static,
    {
        let name = name.into();
        let checker: Arc<OnceLock<Arc<Checker>>> = Arc::default();
        let found = Arc::clone(&checker);
        let submit = Arc::new(submit);
        let handler = move |cx: Cx, sent: Submitted<T>| {
            let (checker, submit) = (found.get().cloned(), Arc::clone(&submit));
            async move {
                let checker = checker.ok_or_else(|| Error::internal("a form used outside its registry"))?;
                let errors = checker.errors(&cx, &sent.fields, true).await?;
                match sent.value {
                    Some(value) if errors.is_empty() => submit(cx, value).await,
                    _ => Err(invalid(errors)),
                }
            }
        };
        Self {
            submit: Function::new(format!("{name}.submit"), handler),
            name,
            title: None,
            submit_label: None,
            labels: BTreeMap::new(),
            kinds: BTreeMap::new(),
            checks: Vec::new(),
            fields: fields::of::<T>,
            rules: rules::check::<T>,
            checker,
            access: Access::Public,
            declared_at: Location::caller(),
        }
    }

    /// The form's title (the `F.schema` answer's `title`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The submit button's label.
    pub fn submit_label(mut self, label: impl Into<String>) -> Self {
        self.submit_label = Some(label.into());
        self
    }

    /// The label of field `field`.
    pub fn label(mut self, field: impl Into<String>, label: impl Into<String>) -> Self {
        self.labels.insert(field.into(), label.into());
        self
    }

    /// The input kind of field `field`, when the one its schema suggests
    /// is not the right one (see [`FieldKind`]).
    pub fn kind(mut self, field: impl Into<String>, kind: FieldKind) -> Self {
        self.kinds.insert(field.into(), kind);
        self
    }

    /// A server-side check of field `field` (a rule only the server can
    /// check, such as "already registered"), run by `F.validate` and
    /// `F.submit` once the field passes its own rules: `Ok(Some(message))`
    /// reports it invalid.
    pub fn check<Fut>(
        mut self,
        field: impl Into<String>,
        check: impl Fn(Cx, serde_json::Value) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Fut: Future<Output = Result<Option<String>, Error>> + Send + 'static,
    {
        let check: Check = Arc::new(move |cx, value| Box::pin(check(cx, value)));
        self.checks.push((field.into(), check));
        self
    }

    /// What a successful submit makes stale (as [`Function::affects`]).
    pub fn affects(mut self, target: impl Into<String>) -> Self {
        self.submit = self.submit.affects(target);
        self
    }

    /// Contexts a successful submit's result merges into (as
    /// [`Function::merge`]).
    pub fn merge(mut self, context: impl Into<String>) -> Self {
        self.submit = self.submit.merge(context);
        self
    }

    /// Makes the submit's unscoped effects broad on purpose (as
    /// [`Function::broad`]).
    pub fn broad(mut self) -> Self {
        self.submit = self.submit.broad();
        self
    }

    /// Who may use the form's three functions (default: everyone).
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// The form's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was declared.
    pub fn declared_at(&self) -> &'static Location<'static> {
        self.declared_at
    }

    /// Its description and its three functions, for the registry.
    pub(crate) fn into_parts(self) -> (FormSchema, [Function; 3]) {
        let mut fields = (self.fields)();
        for field in &mut fields {
            if let Some(label) = self.labels.get(&field.name) {
                field.label.clone_from(label);
            }
            if let Some(kind) = self.kinds.get(&field.name) {
                field.kind = *kind;
            }
        }
        let schema = FormSchema {
            title: self.title.unwrap_or_else(|| self.name.clone()),
            submit_label: self.submit_label.unwrap_or_else(|| "Submit".to_owned()),
            fields,
        };
        let checker = Arc::new(Checker {
            fields: schema.fields.clone(),
            rules: self.rules,
            checks: self.checks,
        });
        // Set once: each form is registered once.
        let _ = self.checker.set(Arc::clone(&checker));
        let answer = Arc::new(schema.clone());
        let schema_fn = Function::new(format!("{}.schema", self.name), move |_: Cx, _: NoArgs| {
            let answer = Arc::clone(&answer);
            async move { Ok::<_, Error>(FormSchema::clone(&answer)) }
        });
        let validate_fn = Function::new(format!("{}.validate", self.name), move |cx: Cx, sent: Fields| {
            let checker = Arc::clone(&checker);
            async move {
                let errors = checker.errors(&cx, &sent, sent.is_empty()).await?;
                Ok::<_, Error>(Validation {
                    valid: errors.is_empty(),
                    errors,
                })
            }
        });
        let parts = [schema_fn, validate_fn, self.submit]
            .map(|f| f.form_part().access(self.access.clone()).at(self.declared_at));
        (schema, parts)
    }
}

/// The `invalid_args` error naming every invalid field.
fn invalid(errors: Errors) -> Error {
    let names: Vec<&str> = errors.keys().map(String::as_str).collect();
    let message = format!("invalid fields: {}", names.join(", "));
    Error::invalid_args(message).with_details(serde_json::json!({ "fields": errors }))
}

/// The rules and checks of one form.
struct Checker {
    fields: Vec<FieldSpec>,
    rules: fn(&Fields, &[FieldSpec]) -> Errors,
    checks: Vec<(String, Check)>,
}

impl Checker {
    /// The errors of the fields in `sent`, or of every field with
    /// `every`: their rules, then the checks of those that passed them.
    async fn errors(&self, cx: &Cx, sent: &Fields, every: bool) -> Result<Errors, Error> {
        let mut errors = (self.rules)(sent, &self.fields);
        for (field, check) in &self.checks {
            let Some(value) = sent.get(field) else { continue };
            if errors.contains_key(field) {
                continue;
            }
            if let Some(message) = check(cx.clone(), value.clone()).await? {
                errors.entry(field.clone()).or_default().push(message);
            }
        }
        if !every {
            errors.retain(|field, _| sent.contains_key(field));
        }
        Ok(errors)
    }
}

/// `F.submit`'s args: the fields as sent, and the struct when they decode.
struct Submitted<T> {
    fields: Fields,
    value: Option<T>,
}

impl<T: JsonSchema> JsonSchema for Submitted<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for Submitted<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = Fields::deserialize(d)?;
        let value = T::deserialize(serde_json::Value::Object(fields.clone())).ok();
        Ok(Self { fields, value })
    }
}
