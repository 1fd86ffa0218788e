//! A form's fields as `F.schema` describes them, read from the struct's
//! JSON Schema (the same one the manifest carries, so the browser's Zod and
//! this description agree), in the struct's declaration order (`serde`'s
//! list of its fields: JSON Schema objects are unordered).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The input a field wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// One line of text (the default for a string).
    Text,
    /// Several lines (a string of more than 200 characters at most).
    Textarea,
    /// An e-mail address (`format: email`, garde's `email`).
    Email,
    /// A URL (`format: uri`, garde's `url`).
    Url,
    /// A number (an integer or a float).
    Number,
    /// A yes or no (a bool).
    Checkbox,
    /// A secret (only by [`Form::kind`](super::Form::kind)).
    Password,
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FieldSpec {
    /// Its name: the key in the args object.
    pub name: String,
    /// Its label.
    pub label: String,
    /// The input it wants.
    pub kind: FieldKind,
    /// Whether it must be sent.
    pub required: bool,
    /// The fewest characters (a string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// The most characters (a string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// The smallest value (a number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The largest value (a number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// A regular expression the value matches (a string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Its doc comment, as help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// A value of its type, put in its place when it is not sent so that
    /// the others can be checked (`rules.rs`).
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) placeholder: Option<Value>,
}

/// The fields of `T`, in declaration order.
pub(super) fn of<T: DeserializeOwned + JsonSchema>() -> Vec<FieldSpec> {
    let root = SchemaSettings::draft07().into_generator().into_root_schema_for::<T>();
    let root = root.as_value();
    let properties = root.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let definitions = root.get("definitions").and_then(Value::as_object);
    serde_aux::serde_introspection::serde_introspect::<T>()
        .iter()
        .filter_map(|name| {
            let schema = properties?.get(*name)?;
            Some(field(name, resolve(schema, definitions), required.contains(name)))
        })
        .collect()
}

/// `schema` itself, or what its `$ref` names, or for an `Option`'s
/// `anyOf`/`oneOf` [T, null] the non-null side.
fn resolve<'a>(schema: &'a Value, definitions: Option<&'a Map<String, Value>>) -> &'a Value {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
        && let Some(found) = definitions.and_then(|d| d.get(name))
    {
        return resolve(found, definitions);
    }
    for either in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(either).and_then(Value::as_array)
            && let [one] = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .collect::<Vec<_>>()[..]
        {
            return resolve(one, definitions);
        }
    }
    schema
}

/// The JSON type of `schema` other than `null`.
fn json_type(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(types) => types.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

fn field(name: &str, schema: &Value, required: bool) -> FieldSpec {
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let count = |key: &str| schema.get(key).and_then(Value::as_u64);
    let ty = json_type(schema);
    let max_length = count("maxLength");
    let kind = match (ty, schema.get("format").and_then(Value::as_str)) {
        (_, Some("email")) => FieldKind::Email,
        (_, Some("uri")) => FieldKind::Url,
        (Some("integer" | "number"), _) => FieldKind::Number,
        (Some("boolean"), _) => FieldKind::Checkbox,
        _ if max_length.is_some_and(|m| m > 200) => FieldKind::Textarea,
        _ => FieldKind::Text,
    };
    let placeholder = match ty {
        Some("string") => Some(Value::from("")),
        Some("integer" | "number") => Some(Value::from(number("minimum").unwrap_or(0.0))),
        Some("boolean") => Some(Value::Bool(false)),
        Some("array") => Some(Value::Array(Vec::new())),
        _ => None,
    };
    FieldSpec {
        name: name.to_owned(),
        label: label_of(name),
        kind,
        required,
        min_length: count("minLength"),
        max_length,
        minimum: number("minimum"),
        maximum: number("maximum"),
        pattern: schema.get("pattern").and_then(Value::as_str).map(str::to_owned),
        help: schema.get("description").and_then(Value::as_str).map(str::to_owned),
        placeholder,
    }
}

/// `first_name` -> "First name".
fn label_of(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of field, in an order no sorting gives.
    #[derive(serde::Deserialize, schemars::JsonSchema, garde::Validate)]
    #[allow(dead_code)]
    struct Signup {
        /// What to call you.
        #[garde(length(chars, min = 2, max = 40))]
        user_name: String,
        #[garde(email)]
        email: String,
        #[garde(range(min = 13, max = 130))]
        age: Option<u8>,
        #[garde(skip)]
        terms: bool,
        #[garde(length(chars, max = 1000))]
        about: Option<String>,
        #[garde(url)]
        homepage: Option<String>,
        #[garde(pattern(r"^[A-Z]{2}$"))]
        country: String,
    }

    #[test]
    fn fields_come_in_declaration_order_with_their_rules_and_kinds() {
        let fields = of::<Signup>();
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["user_name", "email", "age", "terms", "about", "homepage", "country"]
        );
        let kinds: Vec<FieldKind> = fields.iter().map(|f| f.kind).collect();
        use FieldKind::*;
        assert_eq!(kinds, [Text, Email, Number, Checkbox, Textarea, Url, Text]);
        let name = &fields[0];
        assert_eq!((name.label.as_str(), name.required), ("User name", true));
        assert_eq!((name.min_length, name.max_length), (Some(2), Some(40)));
        assert_eq!(name.help.as_deref(), Some("What to call you."));
        assert_eq!(
            (fields[2].minimum, fields[2].maximum, fields[2].required),
            (Some(13.0), Some(130.0), false)
        );
        assert_eq!(fields[6].pattern.as_deref(), Some("^[A-Z]{2}$"));
        let json = serde_json::to_value(&fields[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "email", "label": "Email", "kind": "email", "required": true})
        );
    }
}
