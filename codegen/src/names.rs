//! Naming: case conversion, safe identifiers, and one namespace for
//! everything the generated modules export (so `export *` never clashes).

use crate::Error;
use std::collections::BTreeMap;

/// `user_profile` -> `UserProfile`; `fooBar` -> `FooBar`; other separators
/// (`-`, `.`, spaces, `:`) split words too; anything else is dropped.
pub(crate) fn pascal(name: &str) -> String {
    let mut out = String::new();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// `update_profile` -> `updateProfile`.
pub(crate) fn camel(name: &str) -> String {
    let p = pascal(name);
    let mut chars = p.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => p,
    }
}

const RESERVED: &[&str] = &[
    "any",
    "as",
    "bigint",
    "boolean",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "declare",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "infer",
    "instanceof",
    "interface",
    "is",
    "keyof",
    "let",
    "module",
    "namespace",
    "never",
    "new",
    "null",
    "number",
    "object",
    "package",
    "private",
    "protected",
    "public",
    "readonly",
    "return",
    "static",
    "string",
    "super",
    "switch",
    "symbol",
    "this",
    "throw",
    "true",
    "try",
    "type",
    "typeof",
    "undefined",
    "unique",
    "unknown",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// A valid TypeScript identifier for a schema name: invalid characters become
/// `_`, a leading digit or a reserved word gets an `_`.
pub(crate) fn identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// An object key as written in a type or object literal: bare when it is an
/// identifier, quoted otherwise.
pub(crate) fn property_key(name: &str) -> String {
    let bare = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if bare { name.to_owned() } else { string_literal(name) }
}

/// A double-quoted TypeScript string literal.
pub(crate) fn string_literal(s: &str) -> String {
    serde_json::to_string(s).expect("strings always encode")
}

/// Every exported identifier, with what claimed it.
#[derive(Default)]
pub(crate) struct Namespace {
    taken: BTreeMap<String, String>,
}

impl Namespace {
    /// Marks `ident` as used by `owner`, or fails naming both owners.
    pub(crate) fn claim(&mut self, ident: &str, owner: &str) -> Result<String, Error> {
        if let Some(first) = self.taken.get(ident) {
            return Err(Error::Collision {
                first: first.clone(),
                second: owner.to_owned(),
                ident: ident.to_owned(),
            });
        }
        self.taken.insert(ident.to_owned(), owner.to_owned());
        Ok(ident.to_owned())
    }

    /// Claims `ident`, or `ident` + `_`, `ident` + `_2`, … when taken.
    pub(crate) fn claim_free(&mut self, ident: &str, owner: &str) -> String {
        let mut candidate = ident.to_owned();
        let mut n = 1;
        while self.taken.contains_key(&candidate) {
            candidate = if n == 1 {
                format!("{ident}_")
            } else {
                format!("{ident}_{n}")
            };
            n += 1;
        }
        self.taken.insert(candidate.clone(), owner.to_owned());
        candidate
    }

    /// Whether `ident` is taken.
    pub(crate) fn is_taken(&self, ident: &str) -> bool {
        self.taken.contains_key(ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(pascal("user_profile"), "UserProfile");
        assert_eq!(pascal("global"), "Global");
        assert_eq!(pascal("fooBar-baz.qux"), "FooBarBazQux");
        assert_eq!(camel("update_profile"), "updateProfile");
        assert_eq!(camel("echo"), "echo");
    }

    #[test]
    fn identifiers_and_keys() {
        assert_eq!(identifier("Wrapper_for_string"), "Wrapper_for_string");
        assert_eq!(identifier("Foo<Bar>"), "Foo_Bar_");
        assert_eq!(identifier("1st"), "_1st");
        assert_eq!(identifier("string"), "string_");
        assert_eq!(property_key("user_id"), "user_id");
        assert_eq!(property_key("content-type"), "\"content-type\"");
        assert_eq!(property_key("9lives"), "\"9lives\"");
    }

    #[test]
    fn namespace_reports_collisions() {
        let mut ns = Namespace::default();
        ns.claim("useUser", "context `user`").unwrap();
        let err = ns.claim("useUser", "function `user`").unwrap_err();
        assert_eq!(
            err.to_string(),
            "context `user` and function `user` both generate `useUser`: rename one of them on the server"
        );
        assert_eq!(ns.claim_free("X", "a"), "X");
        assert_eq!(ns.claim_free("X", "b"), "X_");
        assert_eq!(ns.claim_free("X", "c"), "X_2");
    }
}
