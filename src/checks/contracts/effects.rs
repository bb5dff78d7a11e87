//! Effects and differences: the state a contract says a call must leave, and every
//! cell where the database left another.

use std::collections::BTreeMap;

use serde_json::Value;

use super::eval::{s, Scope};
use super::state::State;
use crate::access::contracts::{Effect, Expr, RowOp};
use crate::world::truth::Row;

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

/// An email column: installations store addresses lower-cased and trimmed, or as
/// given; either way the address is the same, and so is the row's meaning.
fn is_email(column: &str) -> bool {
    column == "email" || column.ends_with("_email")
}

fn normalized(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_lowercase())
}

/// Every cell where `after` differs from `expected`, ignoring bookkeeping columns;
/// email columns compare case- and whitespace-insensitively.
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
                                    || (is_email(column)
                                        && normalized(s(v)) == normalized(observed.and_then(s)))
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
    use super::super::state::Rows;
    use super::*;
    use crate::access::contracts::Contracts;
    use crate::world::truth::Truth;
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

    /// Issue 13: an installation that stores the invitee's email lower-cased and
    /// trimmed made the same invitation as one that stores it as given.
    #[test]
    fn email_columns_compare_by_the_address_not_its_spelling() {
        let before = state();
        let none = BTreeMap::new();
        let scope = Scope {
            state: &before,
            args: &none,
            caller: Some("u1"),
            result: &Value::Null,
            lets: &[],
            row: None,
        };
        // Every row as it was, plus the invitation the call made.
        let mut want = expected(&scope, &[]).unwrap();
        let mut cells = BTreeMap::new();
        cells.insert(
            "email".to_string(),
            Cell::Exact(json!(" Ann@Example.TEST ")),
        );
        cells.insert("name".to_string(), Cell::Exact(json!("Ann")));
        want.entry("core.invitations".into())
            .or_default()
            .insert("i1".into(), Expected { cells, open: true });
        let mut after = before.clone();
        after
            .tables
            .entry("core.invitations".into())
            .or_default()
            .insert(
                "i1".into(),
                row(json!({"id": "i1", "email": "ann@example.test", "name": "Ann"})),
            );
        assert_eq!(diff(&want, &before, &after, &[]), vec![]);
        // Other text keeps its case: a changed name is a difference.
        after
            .tables
            .get_mut("core.invitations")
            .unwrap()
            .get_mut("i1")
            .unwrap()
            .insert("name".into(), json!("ann"));
        assert_eq!(diff(&want, &before, &after, &[]).len(), 1);
    }
}
