//! The model state of a call sequence and the contract language's evaluation on it.
//!
//! The state is the ground truth read back after every call, keyed the way the RPCs
//! address rows (a membership by user and organization). A contract's expressions are
//! evaluated on the state before a call; its effects turn that state into the one the
//! call must leave, and [`diff`] lists every cell where the database left another.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::access::contracts::{Contracts, Effect, Expr, RowOp};
use crate::world::truth::{row_key, text, Row, Truth};

/// Rows of one table by key.
pub(crate) type Rows = BTreeMap<String, Row>;

/// Everything the contracts speak of, as the database holds it.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) tables: BTreeMap<String, Rows>,
    /// Ids of the audit rows.
    pub(crate) audit: BTreeMap<String, Row>,
    /// The database's `now()`, for expiries.
    pub(crate) now: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The truth it was built from (the access oracle judges returned rows with it).
    pub(crate) truth: Truth,
    /// Per table, its keys in a stable order: rows the sequence met earlier first,
    /// new rows after them. Ids the database makes up (installed roles, rows created
    /// by calls) are random, so ordering by id would make the same seed pick other
    /// rows on every run; this order makes a sequence replay the same choices.
    pub(crate) order: BTreeMap<String, Vec<String>>,
}

/// The order of rows first met together: by name where rows have one (installed
/// roles), then by key.
fn first_order(rows: &Rows, keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut keys: Vec<String> = keys.collect();
    keys.sort_by_key(|k| {
        (
            rows.get(k)
                .and_then(|r| text(r.get("name")))
                .unwrap_or_default(),
            k.clone(),
        )
    });
    keys
}

impl State {
    /// The state read from `truth`; `previous` (the state before the call) keeps
    /// the order of the rows it knew.
    pub(crate) fn new(truth: Truth, contracts: &Contracts, previous: Option<&State>) -> State {
        let mut tables = BTreeMap::new();
        let mut audit = BTreeMap::new();
        for (name, rows) in &truth.tables {
            if *name == contracts.audit_table {
                for r in &rows.rows {
                    audit.insert(text(r.get("id")).unwrap_or_default(), r.clone());
                }
                continue;
            }
            if contracts.unmodelled.contains(name) {
                continue;
            }
            let key = contracts
                .keys
                .get(name)
                .cloned()
                .unwrap_or_else(|| rows.key_columns.clone());
            let by_key: Rows = rows
                .rows
                .iter()
                .map(|r| (row_key(r, &key), r.clone()))
                .collect();
            tables.insert(name.clone(), by_key);
        }
        let now = chrono::DateTime::parse_from_rfc3339(&truth.now).ok();
        let order = tables
            .iter()
            .map(|(name, rows)| {
                let known: Vec<String> = previous
                    .and_then(|p| p.order.get(name))
                    .map(|o| {
                        o.iter()
                            .filter(|k| rows.contains_key(*k))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let new = first_order(rows, rows.keys().filter(|k| !known.contains(k)).cloned());
                (name.clone(), known.into_iter().chain(new).collect())
            })
            .collect();
        State {
            tables,
            audit,
            now,
            truth,
            order,
        }
    }

    fn row(&self, table: &str, key: &str) -> Option<&Row> {
        self.tables.get(table)?.get(key)
    }

    fn live(&self, table: &str, key: &str) -> bool {
        self.row(table, key)
            .is_some_and(|r| r.get("is_deleted").and_then(Value::as_bool) != Some(true))
    }

    /// A live membership of `user` in the live organization `org`.
    pub(crate) fn is_member(&self, user: &str, org: &str) -> bool {
        self.live("core.memberships", &format!("{user}|{org}"))
            && self.live("core.organizations", org)
    }

    pub(crate) fn is_super_admin(&self, user: &str, org: &str) -> bool {
        self.is_member(user, org)
            && self
                .row("core.memberships", &format!("{user}|{org}"))
                .and_then(|r| r.get("is_super_admin"))
                .and_then(Value::as_bool)
                == Some(true)
    }

    /// The organization of a live unit in a live organization.
    pub(crate) fn unit_org(&self, unit: &str) -> Option<String> {
        if !self.live("core.units", unit) {
            return None;
        }
        let org = text(self.row("core.units", unit)?.get("organization_id"))?;
        self.live("core.organizations", &org).then_some(org)
    }

    pub(crate) fn file_org(&self, file: &str) -> Option<String> {
        if !self.live("core.organization_files", file) {
            return None;
        }
        text(
            self.row("core.organization_files", file)?
                .get("organization_id"),
        )
    }

    pub(crate) fn invitation_org(&self, invitation: &str) -> Option<String> {
        if !self.live("core.invitations", invitation) {
            return None;
        }
        let org = text(
            self.row("core.invitations", invitation)?
                .get("organization_id"),
        )?;
        self.live("core.organizations", &org).then_some(org)
    }

    pub(crate) fn email_of(&self, user: &str) -> Option<String> {
        text(self.row("core.users_meta", user)?.get("email"))
    }

    /// Keys of the rows of `table` in their stable order, for drawing arguments.
    pub(crate) fn keys(&self, table: &str) -> Vec<&String> {
        self.order
            .get(table)
            .map(|o| o.iter().collect())
            .unwrap_or_default()
    }

    /// The rows of `table` in their stable order.
    pub(crate) fn rows(&self, table: &str) -> impl Iterator<Item = (&String, &Row)> {
        let rows = self.tables.get(table);
        self.order
            .get(table)
            .into_iter()
            .flatten()
            .filter_map(move |k| rows.and_then(|r| r.get_key_value(k)))
    }

    /// The id of the live global role `name`.
    fn global_role(&self, name: &str) -> Option<String> {
        self.rows("core.roles")
            .find(|(_, r)| {
                text(r.get("organization_id")).is_none()
                    && text(r.get("name")).as_deref() == Some(name)
                    && r.get("is_deleted").and_then(Value::as_bool) != Some(true)
            })
            .map(|(k, _)| k.clone())
    }
}

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

fn s(v: &Value) -> Option<String> {
    text(Some(v))
}

fn opt(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::String)
}

impl Scope<'_> {
    fn with_row<'b>(&'b self, row: &'b Row) -> Scope<'b> {
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

/// What a cell of the state after a call must hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Exact(Value),
    Any,
    /// Anything but this old value.
    ChangedFrom(Value),
}

/// An expected row; `open` rows (new ones) accept any value in unnamed columns.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub(crate) cells: BTreeMap<String, Cell>,
    pub(crate) open: bool,
}

/// The state a call must leave, per table and key.
pub(crate) type ExpectedState = BTreeMap<String, BTreeMap<String, Expected>>;

fn closed(row: &Row) -> Expected {
    Expected {
        cells: row
            .iter()
            .map(|(c, v)| (c.clone(), Cell::Exact(v.clone())))
            .collect(),
        open: false,
    }
}

fn apply_set(
    scope: &Scope<'_>,
    target: &mut Expected,
    old: Option<&Row>,
    set: &BTreeMap<String, Expr>,
) -> Result<(), String> {
    for (column, expr) in set {
        let old_value = old
            .and_then(|r| r.get(column))
            .cloned()
            .unwrap_or(Value::Null);
        let cell = match expr {
            Expr::Atom(a) if a == "*" => Cell::Any,
            Expr::Atom(a) if a == "~" => Cell::ChangedFrom(old_value),
            Expr::Call(f, inner) if f == "or_keep" && inner.len() == 1 => {
                let v = scope.eval(&inner[0])?;
                Cell::Exact(if v.is_null() { old_value } else { v })
            }
            other => Cell::Exact(scope.eval(other)?),
        };
        target.cells.insert(column.clone(), cell);
    }
    Ok(())
}

/// The state `effects` must leave, every expression read on the state before the call.
pub(crate) fn expected(scope: &Scope<'_>, effects: &[Effect]) -> Result<ExpectedState, String> {
    let before = scope.state;
    let mut out: ExpectedState = before
        .tables
        .iter()
        .map(|(t, rows)| {
            (
                t.clone(),
                rows.iter().map(|(k, r)| (k.clone(), closed(r))).collect(),
            )
        })
        .collect();
    for effect in effects {
        match effect {
            Effect::Row {
                op,
                table,
                key,
                set,
                when,
            } => {
                if let Some(w) = when {
                    if !scope.holds(w)? {
                        continue;
                    }
                }
                let mut parts = Vec::new();
                for k in key {
                    parts.push(s(&scope.eval(k)?).unwrap_or_else(|| "null".into()));
                }
                let key = parts.join("|");
                let old = before.row(table, &key);
                let rows = out.entry(table.clone()).or_default();
                match (op, old) {
                    (RowOp::Delete, _) => {
                        rows.remove(&key);
                    }
                    (RowOp::Set | RowOp::Upsert, Some(old)) => {
                        let mut row = rows.remove(&key).unwrap_or_else(|| closed(old));
                        apply_set(scope, &mut row, Some(old), set)?;
                        rows.insert(key, row);
                    }
                    // Setting a row that does not exist changes nothing.
                    (RowOp::Set, None) => {}
                    (RowOp::Insert, _) | (RowOp::Upsert, None) => {
                        let mut row = Expected {
                            cells: BTreeMap::new(),
                            open: true,
                        };
                        apply_set(scope, &mut row, None, set)?;
                        rows.insert(key, row);
                    }
                }
            }
            Effect::UpdateWhere { table, filter, set } => {
                for (key, old) in before.rows(table) {
                    if scope.with_row(old).holds(filter)? {
                        let rows = out.entry(table.clone()).or_default();
                        let mut row = rows.remove(key).unwrap_or_else(|| closed(old));
                        apply_set(scope, &mut row, Some(old), set)?;
                        rows.insert(key.clone(), row);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One difference between the expected and the observed state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Difference {
    pub(crate) table: String,
    pub(crate) key: String,
    /// None: the whole row.
    pub(crate) column: Option<String>,
    pub(crate) expected: String,
    pub(crate) observed: String,
    /// The state before the call already had the observed value: an effect that did
    /// not happen (rather than one that should not have).
    pub(crate) missing_effect: bool,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}[{}].{c}: expected {}, observed {}",
                self.table, self.key, self.expected, self.observed
            ),
            None => write!(
                f,
                "{}[{}]: expected {}, observed {}",
                self.table, self.key, self.expected, self.observed
            ),
        }
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "no row".into(),
        Some(Value::Null) => "NULL".into(),
        Some(v) => v.to_string(),
    }
}

/// Every cell where `after` differs from `expected`, ignoring bookkeeping columns.
pub(crate) fn diff(
    expected: &ExpectedState,
    before: &State,
    after: &State,
    ignore: &[String],
) -> Vec<Difference> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> =
        expected.keys().chain(after.tables.keys()).collect();
    for table in names {
        let want = expected.get(table).unwrap_or(&empty);
        let got = after.tables.get(table);
        let keys: std::collections::BTreeSet<&String> = want
            .keys()
            .chain(got.into_iter().flat_map(|g| g.keys()))
            .collect();
        for key in keys {
            let old = before.row(table, key);
            match (want.get(key), got.and_then(|g| g.get(key))) {
                (None, None) => {}
                (Some(_), None) => out.push(Difference {
                    table: table.clone(),
                    key: key.clone(),
                    column: None,
                    expected: "a row".into(),
                    observed: "no row".into(),
                    missing_effect: old.is_none(),
                }),
                (None, Some(_)) => out.push(Difference {
                    table: table.clone(),
                    key: key.clone(),
                    column: None,
                    expected: "no row".into(),
                    observed: "a new row".into(),
                    missing_effect: old.is_some(),
                }),
                (Some(w), Some(g)) => {
                    let columns: std::collections::BTreeSet<&String> =
                        w.cells.keys().chain(g.keys()).collect();
                    for column in columns {
                        if ignore.contains(column) {
                            continue;
                        }
                        let observed = g.get(column);
                        let ok = match w.cells.get(column) {
                            None => w.open,
                            Some(Cell::Any) => true,
                            Some(Cell::Exact(v)) => {
                                observed.unwrap_or(&Value::Null) == v
                                    || (v.is_string() && s(v) == observed.and_then(s))
                            }
                            Some(Cell::ChangedFrom(v)) => observed.unwrap_or(&Value::Null) != v,
                        };
                        if ok {
                            continue;
                        }
                        let expected = match w.cells.get(column) {
                            Some(Cell::Exact(v)) => show(Some(v)),
                            Some(Cell::ChangedFrom(v)) => {
                                format!("a value other than {}", show(Some(v)))
                            }
                            _ => "no change".into(),
                        };
                        let old_value = old.and_then(|r| r.get(column));
                        out.push(Difference {
                            table: table.clone(),
                            key: key.clone(),
                            column: Some(column.clone()),
                            expected,
                            observed: show(observed),
                            missing_effect: old.is_some() && old_value == observed,
                        });
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::contracts::Contracts;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().expect("an object").clone()
    }

    /// Two organizations; u1 super admin of o1, u2 member of o1 with a unit
    /// membership in o1's unit, u3 member of o2.
    fn state() -> State {
        let mut tables: BTreeMap<String, Rows> = BTreeMap::new();
        let mut put = |t: &str, k: &str, r: Value| {
            tables.entry(t.into()).or_default().insert(k.into(), row(r));
        };
        put(
            "core.organizations",
            "o1",
            json!({"id": "o1", "name": "A", "is_deleted": false}),
        );
        put(
            "core.organizations",
            "o2",
            json!({"id": "o2", "name": "B", "is_deleted": false}),
        );
        put(
            "core.memberships",
            "u1|o1",
            json!({"user_id": "u1", "organization_id": "o1", "is_super_admin": true, "role_id": "r-super", "is_deleted": false}),
        );
        put(
            "core.memberships",
            "u2|o1",
            json!({"user_id": "u2", "organization_id": "o1", "is_super_admin": false, "role_id": "r-team", "is_deleted": false}),
        );
        put(
            "core.memberships",
            "u3|o2",
            json!({"user_id": "u3", "organization_id": "o2", "is_super_admin": false, "role_id": "r-team", "is_deleted": false}),
        );
        put(
            "core.units",
            "n1",
            json!({"id": "n1", "organization_id": "o1", "name": "N", "is_deleted": false}),
        );
        put(
            "core.unit_memberships",
            "u2|n1",
            json!({"user_id": "u2", "unit_id": "n1", "role_id": "r-team", "is_deleted": false}),
        );
        put(
            "core.roles",
            "r-team",
            json!({"id": "r-team", "name": "team", "organization_id": null, "is_deleted": false}),
        );
        put(
            "core.roles",
            "r-super",
            json!({"id": "r-super", "name": "super_admin", "organization_id": null, "is_deleted": false}),
        );
        let order = tables
            .iter()
            .map(|(t, rows)| (t.clone(), rows.keys().cloned().collect()))
            .collect();
        State {
            tables,
            audit: BTreeMap::new(),
            now: None,
            truth: Truth::default(),
            order,
        }
    }

    fn contract(name: &str) -> crate::access::contracts::Contract {
        Contracts::reference()
            .rpcs
            .into_iter()
            .find(|c| c.name == name)
            .expect("a reference contract")
    }

    fn args(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn callers_and_preconditions_follow_the_state() {
        let st = state();
        let c = contract("update_member_role");
        let a = args(&[
            ("p_org_id", json!("o1")),
            ("p_user_id", json!("u2")),
            ("p_role_id", json!("r-team")),
        ]);
        let scope = |caller| Scope {
            state: &st,
            args: &a,
            caller: Some(caller),
            result: &Value::Null,
            lets: &c.lets,
            row: None,
        };
        assert!(scope("u1").holds(&c.caller).unwrap(), "the super admin may");
        assert!(
            !scope("u2").holds(&c.caller).unwrap(),
            "a plain member may not"
        );
        assert!(
            !scope("u3").holds(&c.caller).unwrap(),
            "another tenant may not"
        );
        let all_hold = c
            .requires
            .iter()
            .all(|(e, _)| scope("u1").holds(e).unwrap());
        assert!(all_hold, "u2 is a member and team is assignable");
    }

    #[test]
    fn effects_cascade_and_a_missing_cascade_is_a_missing_effect() {
        let before = state();
        let c = contract("remove_member_from_organization");
        let a = args(&[("p_org_id", json!("o1")), ("p_user_id", json!("u2"))]);
        let scope = Scope {
            state: &before,
            args: &a,
            caller: Some("u1"),
            result: &json!("m2"),
            lets: &c.lets,
            row: None,
        };
        let want = expected(&scope, &c.effects).unwrap();
        // The database did everything…
        let mut after = before.clone();
        for (t, k) in [
            ("core.memberships", "u2|o1"),
            ("core.unit_memberships", "u2|n1"),
        ] {
            let r = after.tables.get_mut(t).unwrap().get_mut(k).unwrap();
            r.insert("is_deleted".into(), json!(true));
            r.insert("deleted_at".into(), json!("2026-01-01T00:00:00+00:00"));
        }
        assert_eq!(diff(&want, &before, &after, &["deleted_at".into()]), vec![]);
        // …or forgot the unit memberships: an effect that did not happen.
        let mut partial = after.clone();
        partial
            .tables
            .get_mut("core.unit_memberships")
            .unwrap()
            .get_mut("u2|n1")
            .unwrap()
            .insert("is_deleted".into(), json!(false));
        let d = diff(&want, &before, &partial, &["deleted_at".into()]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].missing_effect);
        // A change nobody asked for is not a missing effect.
        let mut extra = after;
        extra
            .tables
            .get_mut("core.memberships")
            .unwrap()
            .get_mut("u3|o2")
            .unwrap()
            .insert("role_id".into(), json!("r-super"));
        let d = diff(&want, &before, &extra, &["deleted_at".into()]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(!d[0].missing_effect);
        assert_eq!(
            d[0].to_string(),
            "core.memberships[u3|o2].role_id: expected \"r-team\", observed \"r-super\""
        );
    }

    #[test]
    fn or_keep_keeps_the_old_value_for_null_and_inserts_are_open() {
        let before = state();
        let c = contract("update_unit");
        let a = args(&[
            ("p_id", json!("n1")),
            ("p_name", Value::Null),
            ("p_description", json!("new")),
        ]);
        let scope = Scope {
            state: &before,
            args: &a,
            caller: Some("u2"),
            result: &json!("n1"),
            lets: &c.lets,
            row: None,
        };
        let want = expected(&scope, &c.effects).unwrap();
        let unit = &want["core.units"]["n1"];
        assert_eq!(unit.cells["name"], Cell::Exact(json!("N")));
        assert_eq!(unit.cells["description"], Cell::Exact(json!("new")));
        assert!(!unit.open);

        let c = contract("create_unit");
        let a = args(&[
            ("p_org_id", json!("o1")),
            ("p_name", json!("X")),
            ("p_description", Value::Null),
        ]);
        let scope = Scope {
            args: &a,
            lets: &c.lets,
            result: &json!("n2"),
            ..scope
        };
        let want = expected(&scope, &c.effects).unwrap();
        assert!(
            want["core.units"]["n2"].open,
            "a new row may have any other column"
        );
        assert!(want["core.unit_meta"].contains_key("n2"));
    }
}
