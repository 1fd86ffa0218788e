//! Checking a form's fields by their rules (`garde`), any subset of them:
//! the fields not sent are put in by a value of their type, so that the
//! struct decodes and every sent field's rules run; what those stand-ins
//! cause is never reported.

use super::{FieldSpec, Fields};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// The messages of each invalid field, by field name.
pub type Errors = BTreeMap<String, Vec<String>>;

/// The message of a required field that was not sent.
pub(super) const REQUIRED: &str = "This field is required.";

/// Every rule error of `sent`'s fields, and [`REQUIRED`] for each required
/// field not sent (the caller keeps what it reports).
pub(super) fn check<T>(sent: &Fields, fields: &[FieldSpec]) -> Errors
where
    T: DeserializeOwned + garde::Validate<Context = ()>,
{
    let mut errors = Errors::new();
    let mut whole = sent.clone();
    for field in fields.iter().filter(|f| f.required && !sent.contains_key(&f.name)) {
        errors.insert(field.name.clone(), vec![REQUIRED.to_owned()]);
        if let Some(placeholder) = &field.placeholder {
            whole.insert(field.name.clone(), placeholder.clone());
        }
    }
    let value: T = match serde_path_to_error::deserialize(Value::Object(whole)) {
        Ok(value) => value,
        Err(e) => {
            let path = e.path().to_string();
            let reason = e.into_inner().to_string();
            let field = match top_level(&path) {
                Some(field) => field.to_owned(),
                // At the root: a missing field (one without a stand-in).
                None => missing_field(&reason).unwrap_or_default().to_owned(),
            };
            if sent.contains_key(&field) {
                errors.entry(field).or_default().push(reason);
            }
            return errors;
        }
    };
    if let Err(report) = value.validate() {
        for (path, error) in report.iter() {
            let path = path.to_string();
            let Some(field) = top_level(&path) else { continue };
            if sent.contains_key(field) {
                errors
                    .entry(field.to_owned())
                    .or_default()
                    .push(error.message().to_owned());
            }
        }
    }
    errors
}

/// The field a path starts with (`address.street`: `address`); `None` at
/// the root.
fn top_level(path: &str) -> Option<&str> {
    let first = path.split(['.', '[']).next()?;
    (!first.is_empty()).then_some(first)
}

/// The name in serde's "missing field `name`".
fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, schemars::JsonSchema, garde::Validate)]
    #[allow(dead_code)]
    struct Contact {
        #[garde(length(chars, min = 1, max = 5))]
        name: String,
        #[garde(email)]
        email: String,
        #[garde(length(chars, max = 10))]
        message: Option<String>,
    }

    fn errors(sent: serde_json::Value) -> Errors {
        let fields = super::super::fields::of::<Contact>();
        check::<Contact>(sent.as_object().unwrap(), &fields)
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let all = errors(json!({"name": "", "email": "nope", "message": "far too long a message"}));
        assert_eq!(all.keys().collect::<Vec<_>>(), ["email", "message", "name"]);
        assert!(errors(json!({"name": "ann", "email": "a@b.example"})).is_empty());
    }

    #[test]
    fn a_subset_is_checked_alone_and_missing_required_fields_are_named() {
        // Only the email sent: the name's stand-in ("") breaks its rule,
        // which is reported as "required", never as its rule.
        let some = errors(json!({"email": "nope"}));
        assert_eq!(some["name"], [REQUIRED]);
        assert_eq!(some["email"].len(), 1);
        assert!(!some.contains_key("message"));
        let none = errors(json!({}));
        assert_eq!(none.keys().collect::<Vec<_>>(), ["email", "name"]);
        // A value of the wrong type is that field's error.
        let typed = errors(json!({"name": 5, "email": "a@b.example"}));
        assert!(typed["name"][0].contains("invalid type"), "{typed:?}");
    }
}
