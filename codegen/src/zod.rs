//! `Shape` -> Zod schema expression (Zod 3.23+ and 4).

use crate::names::{property_key, string_literal};
use crate::shape::{Bounds, Format, ObjectShape, Rest, Shape, Text};
use serde_json::Value;
use std::collections::BTreeMap;

/// Writes Zod expressions; references to definitions are `z.lazy` so that
/// definitions may refer to each other (and themselves) in any order.
pub(crate) struct ZodWriter<'a> {
    /// Definition name -> the name of its schema constant.
    pub(crate) schemas: &'a BTreeMap<String, String>,
}

impl ZodWriter<'_> {
    /// The Zod expression of `shape`, laid out for a line indented by `indent`.
    pub(crate) fn render(&self, shape: &Shape, indent: usize) -> String {
        match shape {
            Shape::Unknown => "z.unknown()".into(),
            Shape::Never => "z.never()".into(),
            Shape::Null => "z.null()".into(),
            Shape::Boolean => "z.boolean()".into(),
            Shape::Integer(b) => format!("z.number().int(){}", bounds(b)),
            Shape::Number(b) => format!("z.number(){}", bounds(b)),
            Shape::String(t) => format!("z.string(){}", text(t)),
            Shape::Literal(v) => literal(v),
            Shape::Ref(name) => format!("z.lazy(() => {})", self.schemas[name]),
            Shape::Array { items, bounds: b } => format!("z.array({}){}", self.render(items, indent), bounds(b)),
            Shape::Tuple(items) => {
                let parts: Vec<String> = items.iter().map(|s| self.render(s, indent)).collect();
                format!("z.tuple([{}])", parts.join(", "))
            }
            Shape::Object(o) => self.render_object(o, indent),
            Shape::Union(members) => self.render_union(members, indent),
            Shape::Intersection(parts) => {
                let mut parts = parts.iter().map(|s| self.render(s, indent));
                let first = parts.next().unwrap_or_else(|| "z.unknown()".into());
                parts.fold(first, |acc, p| format!("z.intersection({acc}, {p})"))
            }
        }
    }

    fn render_union(&self, members: &[Shape], indent: usize) -> String {
        let non_null: Vec<&Shape> = members.iter().filter(|m| **m != Shape::Null).collect();
        if non_null.len() + 1 == members.len() {
            // `X | null`: `.nullable()` reads better than a union.
            let inner = match non_null.as_slice() {
                [one] => self.render(one, indent),
                many => self.render_union(&many.iter().map(|s| (*s).clone()).collect::<Vec<_>>(), indent),
            };
            return format!("{inner}.nullable()");
        }
        let strings: Option<Vec<&str>> = members
            .iter()
            .map(|m| match m {
                Shape::Literal(Value::String(s)) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if let Some(strings) = strings {
            let parts: Vec<String> = strings
                .iter()
                .map(|s| Value::String((*s).to_owned()).to_string())
                .collect();
            return format!("z.enum([{}])", parts.join(", "));
        }
        let parts: Vec<String> = members.iter().map(|s| self.render(s, indent)).collect();
        format!("z.union([{}])", parts.join(", "))
    }

    fn render_object(&self, o: &ObjectShape, indent: usize) -> String {
        if o.properties.is_empty() {
            return match &o.rest {
                Rest::Open => "z.record(z.string(), z.unknown())".into(),
                Rest::Listed | Rest::Closed => "z.object({}).strict()".into(),
                Rest::Map(v) => format!("z.record(z.string(), {})", self.render(v, indent)),
            };
        }
        let pad = " ".repeat(indent + 2);
        let mut out = String::from("z.object({\n");
        for p in &o.properties {
            let opt = if p.optional { ".optional()" } else { "" };
            out.push_str(&format!(
                "{pad}{}: {}{opt},\n",
                property_key(&p.name),
                self.render(&p.shape, indent + 2)
            ));
        }
        out.push_str(&" ".repeat(indent));
        out.push_str("})");
        match &o.rest {
            Rest::Open | Rest::Listed => {}
            Rest::Closed => out.push_str(".strict()"),
            Rest::Map(v) => out.push_str(&format!(".catchall({})", self.render(v, indent))),
        }
        out
    }
}

fn literal(v: &Value) -> String {
    match v {
        Value::Null => "z.null()".into(),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => format!("z.literal({v})"),
        _ => "z.unknown()".into(),
    }
}

/// A string's rules: its bounds (Zod counts UTF-16 code units, JSON Schema
/// code points: they differ only beyond the Basic Multilingual Plane), then
/// its format and its pattern.
fn text(t: &Text) -> String {
    let mut out = bounds(&t.bounds);
    match t.format {
        Some(Format::Email) => out.push_str(".email()"),
        Some(Format::Url) => out.push_str(".url()"),
        None => {}
    }
    if let Some(p) = &t.pattern {
        out.push_str(&format!(".regex(new RegExp({}))", string_literal(p)));
    }
    out
}

fn bounds(b: &Bounds) -> String {
    let mut out = String::new();
    if let Some(min) = &b.min {
        out.push_str(&format!(".min({min})"));
    }
    if let Some(max) = &b.max {
        out.push_str(&format!(".max({max})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Parser;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn zod(schema: Value) -> String {
        let defs: BTreeSet<String> = ["Order".to_owned()].into();
        let schemas: BTreeMap<String, String> = [("Order".to_owned(), "OrderSchema".to_owned())].into();
        let shape = Parser { definitions: &defs }.parse(&schema).unwrap();
        ZodWriter { schemas: &schemas }.render(&shape, 0)
    }

    #[test]
    fn scalars_with_bounds() {
        assert_eq!(
            zod(json!({"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255})),
            "z.number().int().min(0).max(255)"
        );
        assert_eq!(zod(json!({"type": "string", "minLength": 1})), "z.string().min(1)");
        assert_eq!(zod(json!({"type": "number"})), "z.number()");
        assert_eq!(zod(json!({"type": "boolean"})), "z.boolean()");
    }

    #[test]
    fn string_formats_and_patterns() {
        assert_eq!(
            zod(json!({"type": "string", "format": "email", "maxLength": 254})),
            "z.string().max(254).email()"
        );
        assert_eq!(zod(json!({"type": "string", "format": "uri"})), "z.string().url()");
        assert_eq!(
            zod(json!({"type": "string", "pattern": "^[A-Z]{2}\\d\"$"})),
            "z.string().regex(new RegExp(\"^[A-Z]{2}\\\\d\\\"$\"))"
        );
        assert_eq!(zod(json!({"type": "string", "format": "date-time"})), "z.string()");
    }

    #[test]
    fn objects() {
        assert_eq!(
            zod(
                json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}}, "required": ["a"]})
            ),
            "z.object({\n  a: z.string(),\n  b: z.number().int().nullable().optional(),\n})"
        );
        assert_eq!(
            zod(
                json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false})
            ),
            "z.object({\n  a: z.string(),\n}).strict()"
        );
        assert_eq!(zod(json!({"type": "object"})), "z.record(z.string(), z.unknown())");
        assert_eq!(
            zod(json!({"type": "object", "properties": {}})),
            "z.object({}).strict()"
        );
    }

    #[test]
    fn refs_enums_unions_arrays_maps() {
        assert_eq!(zod(json!({"$ref": "#/definitions/Order"})), "z.lazy(() => OrderSchema)");
        assert_eq!(
            zod(json!({"type": "string", "enum": ["a", "b"]})),
            "z.enum([\"a\", \"b\"])"
        );
        assert_eq!(zod(json!({"const": 3})), "z.literal(3)");
        assert_eq!(
            zod(json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})),
            "z.union([z.string(), z.number().int()])"
        );
        assert_eq!(
            zod(json!({"type": "array", "items": {"type": "string"}, "maxItems": 3})),
            "z.array(z.string()).max(3)"
        );
        assert_eq!(
            zod(json!({"type": "object", "additionalProperties": {"$ref": "#/definitions/Order"}})),
            "z.record(z.string(), z.lazy(() => OrderSchema))"
        );
        assert_eq!(
            zod(json!({"prefixItems": [{"type": "string"}, {"type": "null"}]})),
            "z.tuple([z.string(), z.null()])"
        );
        assert_eq!(
            zod(json!({"allOf": [{"$ref": "#/definitions/Order"}, {"type": "object"}]})),
            "z.intersection(z.lazy(() => OrderSchema), z.record(z.string(), z.unknown()))"
        );
    }
}
