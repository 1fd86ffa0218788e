//! `Shape` -> TypeScript type text.

use crate::names::property_key;
use crate::shape::{Bounds, ObjectShape, Rest, Shape};
use serde_json::Value;
use std::collections::BTreeMap;

/// Writes types; `prefix` is put before definition names (`T.` outside `types.ts`).
pub(crate) struct TypeWriter<'a> {
    /// Definition name -> TypeScript identifier.
    pub(crate) names: &'a BTreeMap<String, String>,
    pub(crate) prefix: &'a str,
}

impl TypeWriter<'_> {
    /// The type of `shape`, laid out for a line indented by `indent` spaces.
    pub(crate) fn render(&self, shape: &Shape, indent: usize) -> String {
        match shape {
            Shape::Unknown => "unknown".into(),
            Shape::Never => "never".into(),
            Shape::Null => "null".into(),
            Shape::Boolean => "boolean".into(),
            Shape::Integer(_) | Shape::Number(_) => "number".into(),
            Shape::String(_) => "string".into(),
            Shape::Literal(v) => literal(v),
            Shape::Ref(name) => format!("{}{}", self.prefix, self.names[name]),
            Shape::Array {
                items,
                bounds: Bounds { .. },
            } => format!("{}[]", self.render_operand(items, indent)),
            Shape::Tuple(items) => {
                let parts: Vec<String> = items.iter().map(|s| self.render(s, indent)).collect();
                format!("[{}]", parts.join(", "))
            }
            Shape::Object(o) => self.render_object(o, indent),
            Shape::Union(members) => {
                let parts: Vec<String> = members.iter().map(|s| self.render_union_member(s, indent)).collect();
                parts.join(" | ")
            }
            Shape::Intersection(parts) => {
                let parts: Vec<String> = parts.iter().map(|s| self.render_operand(s, indent)).collect();
                parts.join(" & ")
            }
        }
    }

    /// Wraps unions and intersections in parentheses (for `X[]` and `A & B`).
    fn render_operand(&self, shape: &Shape, indent: usize) -> String {
        let text = self.render(shape, indent);
        if matches!(shape, Shape::Union(_) | Shape::Intersection(_)) {
            format!("({text})")
        } else {
            text
        }
    }

    fn render_union_member(&self, shape: &Shape, indent: usize) -> String {
        let text = self.render(shape, indent);
        if matches!(shape, Shape::Intersection(_)) {
            format!("({text})")
        } else {
            text
        }
    }

    fn render_object(&self, o: &ObjectShape, indent: usize) -> String {
        if o.properties.is_empty() {
            return match &o.rest {
                Rest::Open => "{ [key: string]: unknown }".into(),
                Rest::Listed | Rest::Closed => "{ [key: string]: never }".into(),
                Rest::Map(v) => format!("{{ [key: string]: {} }}", self.render(v, indent)),
            };
        }
        let pad = " ".repeat(indent + 2);
        let mut out = String::from("{\n");
        for p in &o.properties {
            if let Some(d) = &p.description {
                out.push_str(&doc_comment(d, indent + 2));
            }
            let opt = if p.optional { "?" } else { "" };
            out.push_str(&format!(
                "{pad}{}{opt}: {};\n",
                property_key(&p.name),
                self.render(&p.shape, indent + 2)
            ));
        }
        if let Rest::Map(v) = &o.rest {
            // An index signature must admit every listed property's type too.
            let mut types: Vec<String> = vec![self.render_union_member(v, indent + 2)];
            for p in &o.properties {
                let t = self.render_union_member(&p.shape, indent + 2);
                if !types.contains(&t) {
                    types.push(t);
                }
            }
            if o.properties.iter().any(|p| p.optional) {
                types.push("undefined".into());
            }
            out.push_str(&format!("{pad}[key: string]: {};\n", types.join(" | ")));
        }
        out.push_str(&" ".repeat(indent));
        out.push('}');
        out
    }
}

fn literal(v: &Value) -> String {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
        // An object or array constant: its shape is not worth a type of its own.
        _ => "unknown".into(),
    }
}

/// A `/** … */` comment at `indent`, one ` * ` line per text line.
pub(crate) fn doc_comment(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let text = text.replace("*/", "*\\/");
    let lines: Vec<&str> = text.trim().lines().collect();
    if lines.len() == 1 {
        return format!("{pad}/** {} */\n", lines[0].trim_end());
    }
    let mut out = format!("{pad}/**\n");
    for l in lines {
        let l = l.trim_end();
        if l.is_empty() {
            out.push_str(&format!("{pad} *\n"));
        } else {
            out.push_str(&format!("{pad} * {l}\n"));
        }
    }
    out.push_str(&format!("{pad} */\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Parser;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn ts(schema: Value) -> String {
        let defs: BTreeSet<String> = ["Order".to_owned(), "Tree".to_owned()].into();
        let names: BTreeMap<String, String> = defs.iter().map(|d| (d.clone(), d.clone())).collect();
        let shape = Parser { definitions: &defs }.parse(&schema).unwrap();
        TypeWriter {
            names: &names,
            prefix: "T.",
        }
        .render(&shape, 0)
    }

    #[test]
    fn scalars() {
        assert_eq!(ts(json!({"type": "string"})), "string");
        assert_eq!(ts(json!({"type": "integer", "format": "int64"})), "number");
        assert_eq!(ts(json!({"type": "number"})), "number");
        assert_eq!(ts(json!({"type": "boolean"})), "boolean");
        assert_eq!(ts(json!({"type": "null"})), "null");
        assert_eq!(ts(json!(true)), "unknown");
        assert_eq!(ts(json!(false)), "never");
    }

    #[test]
    fn objects_with_required_and_optional_properties() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "description": "The id."},
                "note": {"type": ["string", "null"]},
                "odd-key": {"type": "boolean"}
            },
            "required": ["id"]
        });
        assert_eq!(
            ts(schema),
            "{\n  /** The id. */\n  id: number;\n  note?: string | null;\n  \"odd-key\"?: boolean;\n}"
        );
    }

    #[test]
    fn nullables() {
        assert_eq!(ts(json!({"type": ["string", "null"]})), "string | null");
        assert_eq!(
            ts(json!({"anyOf": [{"$ref": "#/definitions/Order"}, {"type": "null"}]})),
            "T.Order | null"
        );
        assert_eq!(ts(json!({"type": "integer", "nullable": true})), "number | null");
    }

    #[test]
    fn enums_as_string_unions() {
        assert_eq!(
            ts(json!({"type": "string", "enum": ["open", "done"]})),
            "\"open\" | \"done\""
        );
        assert_eq!(ts(json!({"const": "x"})), "\"x\"");
        assert_eq!(
            ts(json!({"oneOf": [
                {"type": "string", "enum": ["Idle"]},
                {"type": "object", "properties": {"Busy": {"type": "integer"}}, "required": ["Busy"], "additionalProperties": false}
            ]})),
            "\"Idle\" | {\n  Busy: number;\n}"
        );
        assert_eq!(
            ts(json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})),
            "string | number"
        );
    }

    #[test]
    fn arrays_and_tuples() {
        assert_eq!(
            ts(json!({"type": "array", "items": {"$ref": "#/definitions/Order"}})),
            "T.Order[]"
        );
        assert_eq!(
            ts(json!({"type": "array", "items": {"type": ["string", "null"]}})),
            "(string | null)[]"
        );
        assert_eq!(
            ts(
                json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2, "maxItems": 2})
            ),
            "[string, number]"
        );
        assert_eq!(ts(json!({"type": "array"})), "unknown[]");
    }

    #[test]
    fn maps() {
        assert_eq!(
            ts(json!({"type": "object", "additionalProperties": {"type": "integer"}})),
            "{ [key: string]: number }"
        );
        assert_eq!(ts(json!({"type": "object"})), "{ [key: string]: unknown }");
        assert_eq!(
            ts(json!({"type": "object", "properties": {}, "required": []})),
            "{ [key: string]: never }"
        );
        assert_eq!(
            ts(
                json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": {"type": "integer"}})
            ),
            "{\n  a: string;\n  [key: string]: number | string;\n}"
        );
    }

    #[test]
    fn nested_definitions_and_intersections() {
        assert_eq!(
            ts(
                json!({"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/Tree"}}}, "required": ["children"]})
            ),
            "{\n  children: T.Tree[];\n}"
        );
        assert_eq!(
            ts(
                json!({"allOf": [{"$ref": "#/definitions/Order"}, {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}]})
            ),
            "T.Order & {\n  x: string;\n}"
        );
        assert_eq!(
            ts(
                json!({"type": "object", "properties": {"inner": {"type": "object", "properties": {"y": {"type": "boolean"}}, "required": ["y"]}}, "required": ["inner"]})
            ),
            "{\n  inner: {\n    y: boolean;\n  };\n}"
        );
    }

    #[test]
    fn doc_comments() {
        assert_eq!(doc_comment("One line.", 2), "  /** One line. */\n");
        assert_eq!(doc_comment("a\n\nb */", 0), "/**\n * a\n *\n * b *\\/\n */\n");
    }
}
