//! JSON Schema (as schemars writes it) -> `Shape`, the one model both the
//! TypeScript and the Zod writers read.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// What a schema describes, reduced to what TypeScript and Zod can say.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// Anything (`true`, `{}`).
    Unknown,
    /// Nothing (`false`).
    Never,
    Null,
    Boolean,
    /// `integer`: a number with `.int()` in Zod.
    Integer(Bounds),
    Number(Bounds),
    String(Text),
    /// `const`, or a one-value `enum`.
    Literal(Value),
    /// A named definition (`#/definitions/X`).
    Ref(String),
    Array {
        items: Box<Shape>,
        bounds: Bounds,
    },
    /// `prefixItems` (schemars' tuples).
    Tuple(Vec<Shape>),
    Object(ObjectShape),
    /// `oneOf`, `anyOf`, `enum`, or a list of types.
    Union(Vec<Shape>),
    /// `allOf`, or keywords next to `oneOf`/`anyOf`.
    Intersection(Vec<Shape>),
}

/// `minimum`/`maximum`, `minLength`/`maxLength` or `minItems`/`maxItems`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Bounds {
    pub(crate) min: Option<serde_json::Number>,
    pub(crate) max: Option<serde_json::Number>,
}

/// What a `string` schema asks of its value: `minLength`/`maxLength`, a
/// `format` the browser can check, a `pattern`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Text {
    pub(crate) bounds: Bounds,
    pub(crate) format: Option<Format>,
    /// An ECMA-262 regular expression (JSON Schema's dialect), not anchored.
    pub(crate) pattern: Option<String>,
}

/// The string `format`s checked in the browser; any other is only a note.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Format {
    /// `email`.
    Email,
    /// `uri` or `url`.
    Url,
}

/// An object's properties and what it says about other keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjectShape {
    pub(crate) properties: Vec<Property>,
    pub(crate) rest: Rest,
}

/// What an object says about keys it does not list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rest {
    /// Neither `properties` nor `additionalProperties`: any keys (a map of unknown).
    Open,
    /// `properties` without `additionalProperties`: the listed keys (others ignored).
    Listed,
    /// `additionalProperties: false`.
    Closed,
    /// `additionalProperties: <schema>` (a map when there are no properties).
    Map(Box<Shape>),
}

/// One property of an object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Property {
    pub(crate) name: String,
    pub(crate) shape: Shape,
    pub(crate) optional: bool,
    pub(crate) description: Option<String>,
}

/// Parses schemas, checking `$ref`s against the manifest's definitions.
pub(crate) struct Parser<'a> {
    pub(crate) definitions: &'a BTreeSet<String>,
}

impl Parser<'_> {
    /// Parses one schema.
    pub(crate) fn parse(&self, schema: &Value) -> Result<Shape, String> {
        match schema {
            Value::Bool(true) => Ok(Shape::Unknown),
            Value::Bool(false) => Ok(Shape::Never),
            Value::Object(map) => self.parse_object_schema(map),
            other => Err(format!("a schema must be an object or a boolean, not `{other}`")),
        }
    }

    fn parse_object_schema(&self, map: &Map<String, Value>) -> Result<Shape, String> {
        if let Some(r) = map.get("$ref") {
            let r = r.as_str().ok_or("`$ref` must be a string")?;
            let name = r
                .strip_prefix("#/definitions/")
                .or_else(|| r.strip_prefix("#/$defs/"))
                .ok_or_else(|| format!("`$ref` `{r}` is not a local definition (#/definitions/…)"))?;
            if !self.definitions.contains(name) {
                return Err(format!("`$ref` `{r}` names no definition of the manifest"));
            }
            return Ok(nullable(map, Shape::Ref(name.to_owned())));
        }
        let mut parts = Vec::new();
        if let Some(base) = self.parse_base(map)? {
            parts.push(base);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(list) = map.get(key) {
                let list = list.as_array().ok_or_else(|| format!("`{key}` must be an array"))?;
                let members = list.iter().map(|s| self.parse(s)).collect::<Result<Vec<_>, _>>()?;
                parts.push(union(members));
            }
        }
        if let Some(list) = map.get("allOf") {
            let list = list.as_array().ok_or("`allOf` must be an array")?;
            for s in list {
                parts.push(self.parse(s)?);
            }
        }
        let shape = match parts.len() {
            0 => Shape::Unknown,
            1 => parts.pop().expect("one part"),
            _ => Shape::Intersection(parts),
        };
        Ok(nullable(map, shape))
    }

    /// The part of a schema that `const`, `enum` and `type` describe.
    fn parse_base(&self, map: &Map<String, Value>) -> Result<Option<Shape>, String> {
        if let Some(c) = map.get("const") {
            return Ok(Some(Shape::Literal(c.clone())));
        }
        if let Some(values) = map.get("enum") {
            let values = values.as_array().ok_or("`enum` must be an array")?;
            return Ok(Some(union(values.iter().cloned().map(Shape::Literal).collect())));
        }
        let types: Vec<&str> = match map.get("type") {
            None => {
                if map.contains_key("properties") || map.contains_key("additionalProperties") {
                    vec!["object"]
                } else if map.contains_key("items") || map.contains_key("prefixItems") {
                    vec!["array"]
                } else {
                    return Ok(None);
                }
            }
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts
                .iter()
                .map(|t| t.as_str().ok_or("`type` lists must hold strings"))
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("`type` must be a string or a list, not `{other}`")),
        };
        let shapes = types
            .iter()
            .map(|t| self.parse_type(t, map))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(union(shapes)))
    }

    fn parse_type(&self, t: &str, map: &Map<String, Value>) -> Result<Shape, String> {
        Ok(match t {
            "null" => Shape::Null,
            "boolean" => Shape::Boolean,
            "integer" => Shape::Integer(bounds(map, "minimum", "maximum")),
            "number" => Shape::Number(bounds(map, "minimum", "maximum")),
            "string" => Shape::String(text(map)),
            "array" => self.parse_array(map)?,
            "object" => Shape::Object(self.parse_object(map)?),
            other => return Err(format!("unknown type `{other}`")),
        })
    }

    fn parse_array(&self, map: &Map<String, Value>) -> Result<Shape, String> {
        if let Some(prefix) = map.get("prefixItems") {
            let prefix = prefix.as_array().ok_or("`prefixItems` must be an array")?;
            return Ok(Shape::Tuple(
                prefix.iter().map(|s| self.parse(s)).collect::<Result<_, _>>()?,
            ));
        }
        let items = match map.get("items") {
            None => Shape::Unknown,
            // Draft 7 tuples: `items` as a list.
            Some(Value::Array(list)) => {
                return Ok(Shape::Tuple(
                    list.iter().map(|s| self.parse(s)).collect::<Result<_, _>>()?,
                ));
            }
            Some(s) => self.parse(s)?,
        };
        Ok(Shape::Array {
            items: Box::new(items),
            bounds: bounds(map, "minItems", "maxItems"),
        })
    }

    fn parse_object(&self, map: &Map<String, Value>) -> Result<ObjectShape, String> {
        let required: BTreeSet<&str> = match map.get("required") {
            None => BTreeSet::new(),
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err("`required` must be a list".into()),
        };
        let mut properties = Vec::new();
        if let Some(props) = map.get("properties") {
            let props = props.as_object().ok_or("`properties` must be an object")?;
            // The manifest's maps are sorted; keep that order (stable output).
            for (name, schema) in props {
                let shape = self.parse(schema).map_err(|e| format!("property `{name}`: {e}"))?;
                properties.push(Property {
                    name: name.clone(),
                    shape,
                    optional: !required.contains(name.as_str()),
                    description: description(schema),
                });
            }
        }
        let rest = match map.get("additionalProperties") {
            None | Some(Value::Bool(true)) if !map.contains_key("properties") => Rest::Open,
            None => Rest::Listed,
            Some(Value::Bool(true)) => Rest::Map(Box::new(Shape::Unknown)),
            Some(Value::Bool(false)) => Rest::Closed,
            Some(s) => Rest::Map(Box::new(
                self.parse(s).map_err(|e| format!("additionalProperties: {e}"))?,
            )),
        };
        Ok(ObjectShape { properties, rest })
    }
}

/// A schema's `description`, if any.
pub(crate) fn description(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(str::to_owned)
}

fn bounds(map: &Map<String, Value>, min: &str, max: &str) -> Bounds {
    let number = |k: &str| map.get(k).and_then(|v| v.as_number()).cloned();
    Bounds {
        min: number(min),
        max: number(max),
    }
}

fn text(map: &Map<String, Value>) -> Text {
    let format = match map.get("format").and_then(Value::as_str) {
        Some("email") => Some(Format::Email),
        Some("uri" | "url") => Some(Format::Url),
        _ => None,
    };
    Text {
        bounds: bounds(map, "minLength", "maxLength"),
        format,
        pattern: map.get("pattern").and_then(Value::as_str).map(str::to_owned),
    }
}

/// OpenAPI's `nullable: true`.
fn nullable(map: &Map<String, Value>, shape: Shape) -> Shape {
    if map.get("nullable") == Some(&Value::Bool(true)) {
        union(vec![shape, Shape::Null])
    } else {
        shape
    }
}

/// A union, flattened and without repeats; one member is itself.
pub(crate) fn union(members: Vec<Shape>) -> Shape {
    let mut out: Vec<Shape> = Vec::new();
    for m in members {
        let inner = match m {
            Shape::Union(inner) => inner,
            other => vec![other],
        };
        for s in inner {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    match out.len() {
        0 => Shape::Never,
        1 => out.pop().expect("one member"),
        _ => Shape::Union(out),
    }
}

impl Shape {
    /// Whether `{}` is a valid value (no required properties), after following `$ref`s.
    pub(crate) fn accepts_empty_object(&self, resolve: &dyn Fn(&str) -> Option<Shape>) -> bool {
        match self {
            Shape::Unknown => true,
            Shape::Object(o) => o.properties.iter().all(|p| p.optional),
            Shape::Ref(name) => resolve(name).is_some_and(|s| s.accepts_empty_object(resolve)),
            Shape::Intersection(parts) => parts.iter().all(|p| p.accepts_empty_object(resolve)),
            _ => false,
        }
    }

    /// The object's properties (empty for anything else), after following a `$ref`.
    pub(crate) fn has_properties(&self, resolve: &dyn Fn(&str) -> Option<Shape>) -> bool {
        match self {
            Shape::Object(o) => !o.properties.is_empty() || matches!(o.rest, Rest::Map(_) | Rest::Open),
            Shape::Ref(name) => resolve(name).is_some_and(|s| s.has_properties(resolve)),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(schema: Value) -> Shape {
        let defs: BTreeSet<String> = ["Order".to_owned()].into();
        Parser { definitions: &defs }.parse(&schema).unwrap()
    }

    #[test]
    fn scalars_and_nullables() {
        assert_eq!(parse(json!({"type": "string"})), Shape::String(Text::default()));
        assert_eq!(
            parse(json!({"type": "integer", "format": "int64"})),
            Shape::Integer(Bounds::default())
        );
        assert_eq!(
            parse(json!({"type": ["string", "null"]})),
            Shape::Union(vec![Shape::String(Text::default()), Shape::Null])
        );
        assert_eq!(
            parse(json!({"anyOf": [{"$ref": "#/definitions/Order"}, {"type": "null"}]})),
            Shape::Union(vec![Shape::Ref("Order".into()), Shape::Null])
        );
        assert_eq!(parse(json!(true)), Shape::Unknown);
        assert_eq!(parse(json!({})), Shape::Unknown);
    }

    #[test]
    fn string_rules() {
        assert_eq!(
            parse(json!({"type": "string", "format": "email", "minLength": 3})),
            Shape::String(Text {
                bounds: Bounds {
                    min: Some(3.into()),
                    max: None
                },
                format: Some(Format::Email),
                pattern: None,
            })
        );
        let Shape::String(url) = parse(json!({"type": "string", "format": "uri", "pattern": "^h"})) else {
            panic!()
        };
        assert_eq!((url.format, url.pattern.as_deref()), (Some(Format::Url), Some("^h")));
        // Formats the browser does not check are only notes.
        assert_eq!(
            parse(json!({"type": "string", "format": "date-time"})),
            Shape::String(Text::default())
        );
    }

    #[test]
    fn objects_say_what_they_do_with_other_keys() {
        let Shape::Object(o) = parse(json!({"type": "object"})) else {
            panic!()
        };
        assert_eq!(o.rest, Rest::Open);
        let Shape::Object(o) = parse(json!({"type": "object", "properties": {}, "required": []})) else {
            panic!()
        };
        assert_eq!(o.rest, Rest::Listed);
        let Shape::Object(o) = parse(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}),
        ) else {
            panic!()
        };
        assert_eq!(o.rest, Rest::Closed);
        assert!(!o.properties[0].optional);
        let Shape::Object(o) = parse(json!({"type": "object", "additionalProperties": {"type": "integer"}})) else {
            panic!()
        };
        assert_eq!(o.rest, Rest::Map(Box::new(Shape::Integer(Bounds::default()))));
    }

    #[test]
    fn unknown_refs_are_errors() {
        let defs = BTreeSet::new();
        let err = Parser { definitions: &defs }
            .parse(&json!({"$ref": "#/definitions/Nope"}))
            .unwrap_err();
        assert_eq!(err, "`$ref` `#/definitions/Nope` names no definition of the manifest");
    }
}
