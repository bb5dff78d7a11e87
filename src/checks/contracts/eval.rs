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
            "$result" => match self.result {
                Value::Array(rows) => rows.first().cloned().unwrap_or(Value::Null),
                other => other.clone(),
            },
            _ => {
                if let Some(column) = a.strip_prefix("$result.") {
                    let first = match self.result {
                        Value::Array(rows) => rows.first(),
                        other => Some(other),
                    };
                    return Ok(first
                        .and_then(|r| r.get(column))
                        .cloned()
                        .unwrap_or(Value::Null));
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
