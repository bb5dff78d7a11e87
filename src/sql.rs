//! Quoting for the SQL text the harness generates.
//!
//! Probes, seeds and reproduction scripts are SQL text built from catalog names and
//! generated values; everything interpolated goes through these functions, so a
//! table called `"Order"` or a value with a quote in it cannot break a statement.

/// `name` as an identifier, quoted only when it has to be.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `schema.name` with each part quoted as needed.
pub(crate) fn quote_qualified(qualified: &str) -> String {
    match qualified.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(qualified),
    }
}

/// `value` as a string literal.
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A JSON value (as `to_jsonb` printed it) as a literal of a column's type.
pub(crate) fn json_literal(
    value: Option<&serde_json::Value>,
    column: &crate::catalog::Column,
) -> String {
    use serde_json::Value;
    let ty = &column.data_type;
    match value {
        None | Some(Value::Null) => "NULL".into(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => format!("{n}::{ty}"),
        Some(Value::String(s)) => format!("{}::{ty}", quote_literal(s)),
        Some(v @ (Value::Array(_) | Value::Object(_))) if column.base_type.starts_with("json") => {
            format!("{}::{ty}", quote_literal(&v.to_string()))
        }
        Some(v @ Value::Array(_)) => format!(
            "ARRAY(SELECT jsonb_array_elements_text({}::jsonb))::{ty}",
            quote_literal(&v.to_string())
        ),
        Some(v) => format!("{}::{ty}", quote_literal(&v.to_string())),
    }
}

/// Keywords that must be quoted as column or table names.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(quote_ident("organization_id"), "organization_id");
        assert_eq!(quote_ident("Order"), "\"Order\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_qualified("core.units"), "core.units");
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
