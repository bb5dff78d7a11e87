//! The contract language evaluated on a state: what a caller, precondition, key or
//! value expression of `fixtures/access/rpc.toml` means before a given call.

use std::collections::BTreeMap;

use serde_json::Value;

use super::state::State;
use crate::access::contracts::Expr;
use crate::world::truth::{text, Row};

/// Everything an expression may refer to.
pub(crate) struct Scope<'a> {
    pub(crate) state: &'a State,
    pub(crate) args: &'a BTreeMap<String, Value>,
    pub(crate) caller: Option<&'a str>,
    pub(crate) result: &'a Value,
    pub(crate) lets: &'a [(String, Expr)],
    pub(crate) row: Option<&'a Row>,
}

fn truthy(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

pub(crate) fn s(v: &Value) -> Option<String> {
    text(Some(v))
}

fn opt(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::String)
}

impl Scope<'_> {
    pub(crate) fn with_row<'b>(&'b self, row: &'b Row) -> Scope<'b> {
        Scope {
            state: self.state,
            args: self.args,
            caller: self.caller,
            result: self.result,
            lets: self.lets,
            row: Some(row),
        }
    }

    /// Evaluates `expr`; an unknown name or function is an error in the contracts.
    pub(crate) fn eval(&self, expr: &Expr) -> Result<Value, String> {
        match expr {
            Expr::Atom(a) => self.atom(a),
            Expr::Call(name, args) => self.call(name, args),
        }
    }

    pub(crate) fn holds(&self, expr: &Expr) -> Result<bool, String> {
        Ok(truthy(&self.eval(expr)?))
    }

    fn atom(&self, a: &str) -> Result<Value, String> {
        if let Some(inner) = a.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
            return Ok(Value::String(inner.to_string()));
        }
        Ok(match a {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "{}" => Value::Object(Default::default()),
            "$caller" => opt(self.caller.map(str::to_string)),
            "$result" => result_key(self.result),
            _ => {
                if let Some(column) = a.strip_prefix("$result.") {
                    return Ok(result_field(self.result, column).unwrap_or(Value::Null));
                }
                if let Ok(n) = a.parse::<i64>() {
                    return Ok(Value::from(n));
                }
                if let Some(v) = self.args.get(a) {
                    return Ok(v.clone());
                }
                if let Some((_, e)) = self.lets.iter().find(|(n, _)| n == a) {
                    return self.eval(e);
                }
                return Err(format!("unknown name `{a}`"));
            }
        })
    }

    /// An argument that names a table or column: its text as written.
    fn name_of(e: &Expr) -> Result<&str, String> {
        match e {
            Expr::Atom(a) => Ok(a),
            other => Err(format!("a name was expected, not {other:?}")),
        }
    }

    fn call(&self, name: &str, args: &[Expr]) -> Result<Value, String> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{name} takes {n} argument(s)"))
            }
        };
        let st = self.state;
        let v = |i: usize| self.eval(&args[i]);
        let sv = |i: usize| -> Result<Option<String>, String> { Ok(s(&self.eval(&args[i])?)) };
        Ok(match name {
            "any" => {
                for a in args {
                    if self.holds(a)? {
                        return Ok(Value::Bool(true));
                    }
                }
                Value::Bool(false)
            }
            "all" => {
                for a in args {
                    if !self.holds(a)? {
                        return Ok(Value::Bool(false));
                    }
                }
                Value::Bool(true)
            }
            "not" => {
                arity(1)?;
                Value::Bool(!self.holds(&args[0])?)
            }
            "eq" => {
                arity(2)?;
                let (a, b) = (v(0)?, v(1)?);
                Value::Bool(!a.is_null() && !b.is_null() && s(&a) == s(&b))
            }
            "is_null" => {
                arity(1)?;
                Value::Bool(v(0)?.is_null())
            }
            "nonblank" => {
                arity(1)?;
                Value::Bool(sv(0)?.is_some_and(|x| !x.trim().is_empty()))
            }
            "valid_email" => {
                arity(1)?;
                Value::Bool(sv(0)?.is_some_and(|x| {
                    let x = x.trim();
                    let parts: Vec<&str> = x.split('@').collect();
                    parts.len() == 2
                        && parts.iter().all(|p| !p.is_empty())
                        && !x.chars().any(char::is_whitespace)
                }))
            }
            "trim" => {
                arity(1)?;
                opt(sv(0)?.map(|x| x.trim().to_string()))
            }
            "if" => {
                arity(3)?;
                if self.holds(&args[0])? {
                    v(1)?
                } else {
                    v(2)?
                }
            }
            "default" => {
                arity(2)?;
                let a = v(0)?;
                if a.is_null() {
                    v(1)?
                } else {
                    a
                }
            }
            "or_keep" => {
                // Only meaningful in `set`, where the effect keeps the old value for
                // NULL; elsewhere it is the value itself.
                arity(1)?;
                v(0)?
            }
            "self" => {
                arity(1)?;
                Value::Bool(self.caller.is_some() && sv(0)?.as_deref() == self.caller)
            }
            "member" | "super_admin" => {
                arity(2)?;
                let (Some(user), Some(org)) = (sv(0)?, sv(1)?) else {
                    return Ok(Value::Bool(false));
                };
                Value::Bool(if name == "member" {
                    st.is_member(&user, &org)
                } else {
                    st.is_super_admin(&user, &org)
                })
            }
            "profile" => {
                arity(1)?;
                Value::Bool(sv(0)?.is_some_and(|u| st.live("core.users_meta", &u)))
            }
            "unit_org" => {
                arity(1)?;
                opt(sv(0)?.and_then(|u| st.unit_org(&u)))
            }
            "file_org" => {
                arity(1)?;
                opt(sv(0)?.and_then(|f| st.file_org(&f)))
            }
            "invitation_org" => {
                arity(1)?;
                opt(sv(0)?.and_then(|i| st.invitation_org(&i)))
            }
            "token_invitation" => {
                arity(1)?;
                let token = sv(0)?;
                opt(token.and_then(|t| {
                    st.rows("core.invitations")
                        .find(|(_, r)| text(r.get("token")).as_deref() == Some(t.as_str()))
                        .map(|(k, _)| k.clone())
                }))
            }
            "invitee" => {
                // A pending, unexpired, live invitation of a live organization,
                // addressed (case-insensitively) to the caller's profile email.
                arity(1)?;
                let Some(inv) = s(&self.call("token_invitation", args)?) else {
                    return Ok(Value::Bool(false));
                };
                let Some(row) = st.row("core.invitations", &inv) else {
                    return Ok(Value::Bool(false));
                };
                let expired = match (
                    text(row.get("expires_at"))
                        .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok()),
                    st.now,
                ) {
                    (Some(e), Some(now)) => e <= now,
                    _ => true,
                };
                let email = self.caller.and_then(|c| st.email_of(c));
                Value::Bool(
                    st.invitation_org(&inv).is_some()
                        && text(row.get("status")).as_deref() == Some("pending")
                        && !expired
                        && email.is_some_and(|e| {
                            text(row.get("email"))
                                .is_some_and(|i| i.to_lowercase() == e.to_lowercase())
                        }),
                )
            }
            "role" => {
                arity(1)?;
                opt(sv(0)?.and_then(|n| st.global_role(&n)))
            }
            "assignable" => {
                arity(2)?;
                let Some(role) = sv(0)? else {
                    return Ok(Value::Bool(true));
                };
                let org = sv(1)?;
                Value::Bool(st.row("core.roles", &role).is_some_and(|r| {
                    let role_org = text(r.get("organization_id"));
                    r.get("is_deleted").and_then(Value::as_bool) != Some(true)
                        && match role_org {
                            None => text(r.get("name")).as_deref() != Some("super_admin"),
                            Some(o) => org.as_deref() == Some(o.as_str()),
                        }
                }))
            }
            "live" => {
                arity(2)?;
                let table = Self::name_of(&args[0])?;
                Value::Bool(sv(1)?.is_some_and(|k| st.live(table, &k)))
            }
            "field" => {
                arity(3)?;
                let table = Self::name_of(&args[0])?;
                let column = Self::name_of(&args[2])?;
                sv(1)?
                    .and_then(|k| st.row(table, &k))
                    .and_then(|r| r.get(column))
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            "key" => {
                let mut parts = Vec::new();
                for a in args {
                    match s(&self.eval(a)?) {
                        Some(p) => parts.push(p),
                        None => return Ok(Value::Null),
                    }
                }
                Value::String(parts.join("|"))
            }
            "row" => {
                arity(1)?;
                let column = Self::name_of(&args[0])?;
                self.row
                    .and_then(|r| r.get(column))
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            other => return Err(format!("unknown function `{other}`")),
        })
    }
}

/// What a call returned, as the row it stands for: a function may return the row's
/// id, the row, a set of rows, or JSON holding the row (`{"id": …, …}`, or one field
/// wrapping it, `{"organization": {…}}`), and a JSON text of any of these.
fn row_of(result: &Value) -> Value {
    match result {
        Value::Array(rows) => rows.first().map(row_of).unwrap_or(Value::Null),
        Value::String(text) if text.starts_with('{') || text.starts_with('[') => {
            match serde_json::from_str::<Value>(text) {
                Ok(parsed) => row_of(&parsed),
                Err(_) => result.clone(),
            }
        }
        Value::Object(fields) if fields.len() == 1 && !fields.contains_key("id") => {
            match fields.values().next() {
                Some(inner @ (Value::Object(_) | Value::Array(_))) => row_of(inner),
                _ => result.clone(),
            }
        }
        other => other.clone(),
    }
}

/// `$result`: the key of the returned row — the value itself when the call returned
/// a scalar, else the row's `id`, else its only field.
pub(crate) fn result_key(result: &Value) -> Value {
    match row_of(result) {
        Value::Object(fields) => match fields.get("id") {
            Some(id) => id.clone(),
            None if fields.len() == 1 => fields.values().next().cloned().unwrap_or(Value::Null),
            None => Value::Object(fields),
        },
        other => other,
    }
}

/// Every row a read returned: the rows of a set, the elements of a JSON array, or
/// the one row a scalar call returned as JSON.
pub(crate) fn returned_rows(result: &Value) -> Vec<Value> {
    match result {
        Value::Array(items) => items
            .iter()
            .flat_map(|i| match i {
                Value::Array(_) => returned_rows(i),
                Value::String(t) if t.starts_with('[') || t.starts_with('{') => returned_rows(i),
                Value::Object(f) if f.len() == 1 && !f.contains_key("id") => {
                    match f.values().next() {
                        Some(inner @ (Value::Array(_) | Value::Object(_))) => returned_rows(inner),
                        _ => vec![i.clone()],
                    }
                }
                other => vec![other.clone()],
            })
            .collect(),
        Value::String(text) if text.starts_with('[') || text.starts_with('{') => {
            serde_json::from_str::<Value>(text)
                .map(|v| returned_rows(&v))
                .unwrap_or_default()
        }
        Value::Object(fields) if fields.len() == 1 && !fields.contains_key("id") => {
            match fields.values().next() {
                Some(inner @ (Value::Array(_) | Value::Object(_))) => returned_rows(inner),
                _ => vec![result.clone()],
            }
        }
        Value::Object(_) => vec![result.clone()],
        _ => Vec::new(),
    }
}

/// `$result.column`: a column of the returned row, wherever the JSON holds it.
pub(crate) fn result_field(result: &Value, column: &str) -> Option<Value> {
    row_of(result).get(column).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "bbbb0000-0000-4000-8000-000000000001";

    /// Issue 13: an RPC that returns the new row as JSON is judged by the row's key,
    /// not by the JSON text.
    #[test]
    fn a_result_stands_for_its_row_whatever_its_shape() {
        for shape in [
            json!(ID),
            json!([{ "id": ID, "name": "Acme" }]),
            json!({ "id": ID, "name": "Acme" }),
            json!({ "organization": { "id": ID, "name": "Acme" } }),
            json!(format!("{{\"id\": \"{ID}\", \"name\": \"Acme\"}}")),
            json!([ID]),
        ] {
            assert_eq!(result_key(&shape), json!(ID), "{shape}");
        }
        let token = json!({ "invitation": { "id": ID, "token": "t-1" } });
        assert_eq!(result_field(&token, "token"), Some(json!("t-1")));
        assert_eq!(
            result_field(&json!([{ "token": "t-2" }]), "token"),
            Some(json!("t-2"))
        );
    }

    #[test]
    fn returned_rows_are_found_in_sets_and_in_json() {
        let rows = |v: Value| -> Vec<Value> {
            returned_rows(&v)
                .iter()
                .filter_map(|r| r.get("id").cloned())
                .collect()
        };
        assert_eq!(rows(json!([{ "id": "a" }, { "id": "b" }])).len(), 2);
        assert_eq!(rows(json!([[{ "id": "a" }, { "id": "b" }]])).len(), 2);
        assert_eq!(rows(json!({ "units": [{ "id": "a" }] })).len(), 1);
        assert_eq!(rows(json!({ "id": "a", "name": "n" })).len(), 1);
        assert_eq!(rows(json!("[{\"id\": \"a\"}]")).len(), 1);
        assert!(rows(json!(null)).is_empty());
    }
}
