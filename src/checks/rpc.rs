//! The RPC sweep: every function in `public`, called by each kind of caller with
//! arguments drawn from the world, judged by a generic oracle.
//!
//! Clients reach SMTA only through `public.*`, and a SECURITY DEFINER function that
//! forgets to check its caller is the classic cross-tenant hole. Without knowing what a
//! function is for, three things can still be judged for any function (an adopter's
//! too): every uuid in its result must identify a row the caller may SELECT (or one
//! the rules let that function return); every row it changed must belong to an
//! organization the caller was a member of (or be a change the rules let that function
//! make); and every change to SMTA's tables must leave an audit row naming the caller
//! and the organization. Arguments come from the world by name: `p_org_id` gets an
//! organization id, `p_unit_id` a unit id, `p_id` an id of the table the function's
//! name speaks of, tokens and emails from invitations and users.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::access::oracle::{Expect, Oracle};
use crate::access::{tenancy, AccessModel};
use crate::catalog::{Catalog, Function};
use crate::checks::runner::Outcome;
use crate::finding::{CheckId, Severity};
use crate::flavor::Actor;
use crate::sql::{quote_ident, quote_literal};
use crate::world::truth::{row_key, text, Row};

/// Schemas whose table changes must be audited.
const AUDITED_SCHEMAS: &[&str] = &["core", "platform"];

/// Which functions a world exercises: a stable quarter of them, chosen by a hash of the
/// world, so every function is covered across cases and a shrunk world replays the same
/// calls.
pub(crate) fn selected(function: &Function, world_hash: u64) -> bool {
    let name_hash = function
        .signature()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    (name_hash ^ world_hash).is_multiple_of(4)
}

/// The functions of `public` a set of roles may execute.
pub(crate) fn callable<'a>(catalog: &'a Catalog, roles: &[String]) -> Vec<&'a Function> {
    catalog
        .functions
        .iter()
        .filter(|f| f.schema == "public" && f.kind == "f" && f.executable_by(roles))
        .collect()
}

/// Picks arguments for calls; knows the world through the oracle.
pub(crate) struct Arguments<'a> {
    pub(crate) oracle: &'a Oracle<'a>,
}

/// Table nouns function and argument names use, with their tables.
const NOUNS: &[(&str, &str)] = &[
    ("organization", tenancy::ORGANIZATIONS),
    ("org", tenancy::ORGANIZATIONS),
    ("unit", tenancy::UNITS),
    ("user", tenancy::USERS),
    ("member", tenancy::USERS),
    ("role", tenancy::ROLES),
    ("file", "core.organization_files"),
    ("logo", "core.organization_files"),
    ("invitation", "core.invitations"),
    ("secret", "platform.tenant_secrets"),
];

pub(crate) fn table_for(words: &str) -> Option<&'static str> {
    words
        .split('_')
        .find_map(|w| NOUNS.iter().find(|(noun, _)| *noun == w).map(|(_, t)| *t))
}

impl Arguments<'_> {
    /// Live rows of `table` placed in `org` (or any, when `org` is None), keys first.
    fn rows_in(&self, table: &str, org: Option<&str>) -> Vec<&Row> {
        let Some(model) = self.oracle.model.table(table) else {
            return Vec::new();
        };
        let Some(rows) = self.oracle.truth.table(table) else {
            return Vec::new();
        };
        let mut picked: Vec<&Row> = rows
            .rows
            .iter()
            .filter(|r| {
                let place = self.oracle.placement(table, &row_key(r, &model.key));
                org.is_none_or(|o| place.organization.as_deref() == Some(o))
            })
            .collect();
        picked.sort_by_key(|r| !self.oracle.placement(table, &row_key(r, &model.key)).live);
        picked
    }

    fn first_key(&self, table: &str, org: Option<&str>, skip: Option<&str>) -> Option<String> {
        let model = self.oracle.model.table(table)?;
        self.rows_in(table, org)
            .into_iter()
            .map(|r| row_key(r, &model.key))
            .find(|k| Some(k.as_str()) != skip)
            .or_else(|| {
                self.rows_in(table, None)
                    .first()
                    .map(|r| row_key(r, &model.key))
            })
    }

    /// A literal for each input argument of `function`, aiming at organization `org`;
    /// `None` when an argument type is not supported.
    pub(crate) fn for_call(
        &self,
        function: &Function,
        org: &str,
        caller: Option<&str>,
    ) -> Option<Vec<String>> {
        let inputs: Vec<(&String, &String)> = function
            .argument_names
            .iter()
            .zip(
                function
                    .argument_modes
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat(None)),
            )
            .filter(|(_, mode)| mode.is_none_or(|m| m == "i" || m == "b" || m == "v"))
            .map(|(name, _)| name)
            .zip(&function.input_types)
            .collect();
        let mut values = Vec::new();
        for (name, ty) in inputs {
            let bare = name.trim_start_matches("p_");
            let value = match ty.as_str() {
                "uuid" => {
                    let noun = if bare == "id" {
                        function.name.as_str()
                    } else {
                        bare
                    };
                    let table = table_for(noun).unwrap_or(tenancy::ORGANIZATIONS);
                    let key = if table == tenancy::USERS {
                        let members: Vec<&Row> = self.rows_in(tenancy::MEMBERSHIPS, Some(org));
                        members
                            .iter()
                            .filter_map(|m| text(m.get("user_id")))
                            .find(|u| Some(u.as_str()) != caller)
                            .or_else(|| self.first_key(table, None, caller))
                    } else if table == tenancy::ORGANIZATIONS {
                        Some(org.to_string())
                    } else {
                        self.first_key(table, Some(org), None)
                    };
                    format!("{}::uuid", quote_literal(&key?))
                }
                "text" | "character varying" => {
                    let v = match bare {
                        "token" => self
                            .rows_in("core.invitations", Some(org))
                            .first()
                            .and_then(|r| text(r.get("token")))
                            .unwrap_or_else(|| "no-such-token".into()),
                        "email" => "invitee@example.test".into(),
                        "scope" => "organization".into(),
                        "status" => "pending".into(),
                        "secret" => "s3cret-value".into(),
                        _ => "probe".into(),
                    };
                    quote_literal(&v)
                }
                "jsonb" | "json" => "'{}'::jsonb".into(),
                "integer" | "bigint" | "smallint" | "numeric" => "10".into(),
                "boolean" => "true".into(),
                "timestamp with time zone" => "now()".into(),
                _ => return None,
            };
            values.push(format!("{} => {value}", quote_ident(name)));
        }
        Some(values)
    }
}

/// The SQL that calls `function` with `args` and returns its result as JSON text.
pub(crate) fn call_sql(function: &Function, args: &[String]) -> String {
    let name = format!(
        "{}.{}",
        quote_ident(&function.schema),
        quote_ident(&function.name)
    );
    let args = args.join(", ");
    match function.result.as_deref() {
        Some("void") | None => format!("SELECT {name}({args})::text"),
        _ => format!("SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]')::text FROM {name}({args}) r"),
    }
}

/// Collects every uuid-looking string in a JSON value.
fn uuids(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {
            out.insert(s.to_lowercase());
        }
        Value::Array(items) => items.iter().for_each(|v| uuids(v, out)),
        Value::Object(map) => map.values().for_each(|v| uuids(v, out)),
        _ => {}
    }
}

/// One row a call changed.
struct Change {
    table: String,
    key: String,
    old: Option<Row>,
    new: Option<Row>,
    /// The organization it belongs (or belonged) to.
    organization: Option<String>,
}

/// Judges one call's outcome.
pub(crate) struct RpcJudge<'a> {
    pub(crate) model: &'a AccessModel,
    pub(crate) oracle: &'a Oracle<'a>,
    /// Per actor, every uuid in a row the actor may read (a foreign key it sees is
    /// not a leak when a function returns it).
    pub(crate) known: std::cell::RefCell<BTreeMap<Actor, BTreeSet<String>>>,
}

impl<'a> RpcJudge<'a> {
    pub(crate) fn new(model: &'a AccessModel, oracle: &'a Oracle<'a>) -> Self {
        Self {
            model,
            oracle,
            known: Default::default(),
        }
    }

    /// Whether `table` lives in a schema only the service role may reach.
    fn service_only(&self, table: &str) -> bool {
        table
            .split_once('.')
            .is_some_and(|(schema, _)| self.model.service_only_schemas.contains(schema))
    }

    fn known_to(&self, actor: &Actor) -> BTreeSet<String> {
        if let Some(ids) = self.known.borrow().get(actor) {
            return ids.clone();
        }
        let mut ids = BTreeSet::new();
        for (table, rows) in &self.oracle.truth.tables {
            let Some(model) = self.model.table(table) else {
                continue;
            };
            for row in &rows.rows {
                if self.oracle.may_select(actor, model, row) == Expect::Allowed {
                    uuids(&Value::Object(row.clone()), &mut ids);
                }
            }
        }
        self.known.borrow_mut().insert(actor.clone(), ids.clone());
        ids
    }

    /// Whether `actor` may see the row `(table, row)` through `function`.
    fn may_see(&self, actor: &Actor, function: &str, table: &str, row: &Row) -> bool {
        let Some(model) = self.model.table(table) else {
            return true;
        };
        if self.oracle.may_select(actor, model, row) != Expect::Denied {
            return true;
        }
        self.allowed_by(actor, function, table, row, &self.model.may_return)
    }

    fn allowed_by(
        &self,
        actor: &Actor,
        function: &str,
        table: &str,
        row: &Row,
        rules: &BTreeMap<String, BTreeMap<String, crate::access::Expr>>,
    ) -> bool {
        let Some(expr) = rules.get(function).and_then(|t| t.get(table)) else {
            return false;
        };
        let Some(model) = self.model.table(table) else {
            return false;
        };
        let user = match actor {
            Actor::User(id) => id.to_string(),
            _ => String::new(),
        };
        let place = self.oracle.place(table, row);
        self.oracle.eval(expr, &user, model, row, &place)
    }

    /// Every row a call inserted, updated or deleted outside audit trails.
    fn changes(&self, outcome: &Outcome) -> Vec<Change> {
        let mut changes = Vec::new();
        for (table, after) in &outcome.changed {
            let Some(model) = self.model.table(table) else {
                continue;
            };
            if model.audit {
                continue;
            }
            let before = self.oracle.truth.table(table);
            let mut seen = BTreeSet::new();
            for row in after {
                let key = row_key(row, &model.key);
                let old = before.and_then(|b| b.get(&key));
                seen.insert(key.clone());
                if old != Some(row) {
                    let organization = match old {
                        Some(_) => self.oracle.placement(table, &key).organization,
                        None => self.oracle.place(table, row).organization,
                    };
                    changes.push(Change {
                        table: table.clone(),
                        key,
                        old: old.cloned(),
                        new: Some(row.clone()),
                        organization,
                    });
                }
            }
            for row in before.into_iter().flat_map(|b| b.rows.iter()) {
                let key = row_key(row, &model.key);
                if !seen.contains(&key) {
                    let organization = self.oracle.placement(table, &key).organization;
                    changes.push(Change {
                        table: table.clone(),
                        key,
                        old: Some(row.clone()),
                        new: None,
                        organization,
                    });
                }
            }
        }
        changes
    }

    /// Audit rows a call added.
    fn new_audit_rows(&self, outcome: &Outcome) -> Vec<Row> {
        let mut rows = Vec::new();
        for (table, after) in &outcome.changed {
            let Some(model) = self.model.table(table).filter(|m| m.audit) else {
                continue;
            };
            let before = self.oracle.truth.table(table);
            rows.extend(
                after
                    .iter()
                    .filter(|r| before.is_none_or(|b| b.get(&row_key(r, &model.key)).is_none()))
                    .cloned(),
            );
        }
        rows
    }

    /// Findings of one call by `actor` of `function`.
    pub(crate) fn judge(
        &self,
        actor: &Actor,
        function: &Function,
        sql: &str,
        outcome: &Outcome,
    ) -> Vec<(CheckId, Severity, String, Vec<String>)> {
        let mut problems = Vec::new();
        if outcome.failed() {
            return problems;
        }
        let name = function.qualified();
        // 1. What it returned.
        let mut returned = BTreeSet::new();
        if let Some(output) = &outcome.output {
            match serde_json::from_str::<Value>(output) {
                Ok(v) => uuids(&v, &mut returned),
                Err(_) => {
                    uuids(
                        &Value::String(output.trim_matches('"').to_string()),
                        &mut returned,
                    );
                }
            }
        }
        // Ids the caller passed in are not news to them.
        let mut given = BTreeSet::new();
        for literal in sql.split('\'').skip(1).step_by(2) {
            if uuid::Uuid::parse_str(literal).is_ok() {
                given.insert(literal.to_lowercase());
            }
        }
        // A call that changed something is also judged against the world after it
        // (having accepted an invitation, the caller may read that organization).
        let after_truth = (!outcome.changed.is_empty()).then(|| {
            let mut after = self.oracle.truth.clone();
            for (table, rows) in &outcome.changed {
                after.replace(table, rows.clone());
            }
            after
        });
        let after_oracle = after_truth.as_ref().map(|t| Oracle::new(self.model, t));
        let known = self.known_to(actor);
        let mut leaked: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Tables of every returned row the caller may not read, ids they passed in
        // included: `get_unit(id)` handing back a foreign unit leaks its organization's
        // id, but the row that should not have come back is the unit.
        let mut forbidden_tables: BTreeSet<String> = BTreeSet::new();
        for id in returned.iter().filter(|id| !known.contains(*id)) {
            let is_given = given.contains(id);
            let mut holders = Vec::new();
            for (table, rows) in &self.oracle.truth.tables {
                if let Some(row) = rows.get(id) {
                    holders.push((table.clone(), row));
                }
            }
            if holders.is_empty() {
                continue;
            }
            let visible_after = after_oracle.as_ref().is_some_and(|after| {
                holders.iter().any(|(t, _)| {
                    let (Some(model), Some(row)) = (
                        self.model.table(t),
                        after.truth.table(t).and_then(|r| r.get(id)),
                    ) else {
                        return false;
                    };
                    after.may_select(actor, model, row) != Expect::Denied
                })
            });
            if !visible_after
                && !holders
                    .iter()
                    .any(|(t, r)| self.may_see(actor, &name, t, r))
            {
                forbidden_tables.extend(
                    holders
                        .iter()
                        .filter(|(t, _)| !self.service_only(t))
                        .map(|(t, _)| t.clone()),
                );
                if is_given {
                    continue;
                }
                // Platform rows keyed by a tenant row's id (platform_organizations by
                // the organization's) share that id. Unless the function is declared
                // to return that platform table, the leak is of the tenant row, and
                // blaming platform would send the reader to the wrong place.
                let tenant_holder = holders.iter().any(|(t, _)| !self.service_only(t));
                let returns = |table: &str| {
                    function
                        .result
                        .as_deref()
                        .map(|r| r.trim_start_matches("SETOF "))
                        == Some(table)
                };
                for (table, _) in holders {
                    if !(tenant_holder && self.service_only(&table) && !returns(&table)) {
                        leaked.entry(table).or_default().push(id.clone());
                    }
                }
            }
        }
        // The rows that should not have come back, below the tenant root first (a
        // unit, before the organization its row names).
        let (mut cause_tables, roots): (Vec<String>, Vec<String>) = forbidden_tables
            .into_iter()
            .partition(|t| t.as_str() != tenancy::ORGANIZATIONS);
        cause_tables.extend(roots);
        for (table, ids) in leaked {
            let service_only = self.service_only(&table);
            let check = if service_only {
                CheckId::PlatformExposed
            } else {
                CheckId::RpcCrossTenant
            };
            problems.push((
                check,
                check.default_severity(),
                format!(
                    "{actor} called `{sql}` and got back {} row id(s) of {table} it may not read: {}",
                    ids.len(),
                    ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ),
                if cause_tables.is_empty() {
                    vec![table]
                } else {
                    cause_tables.clone()
                },
            ));
        }

        // 2. What it changed.
        let user = match actor {
            Actor::User(id) => Some(id.to_string()),
            _ => None,
        };
        let changes = self.changes(outcome);
        let my_orgs = user
            .as_deref()
            .map(|u| self.oracle.organizations_of(u))
            .unwrap_or_default();
        let existed = |org: &str| {
            self.oracle
                .truth
                .table(tenancy::ORGANIZATIONS)
                .is_some_and(|t| t.get(org).is_some())
        };
        // A change is the caller's when it lies in an organization they belonged to,
        // in one this very call created, in a row of theirs (their id in it), or when
        // the rules let this function make it. A row without an organization that is
        // tied to such a change (a secret's stored value) follows it.
        let mut permitted: Vec<bool> = changes
            .iter()
            .map(|c| {
                let subject = c.new.as_ref().or(c.old.as_ref()).expect("one side exists");
                let Some(u) = &user else { return false };
                let by_org = match &c.organization {
                    Some(o) if existed(o) => my_orgs.contains(o),
                    Some(_) => true,
                    None => subject
                        .values()
                        .any(|v| text(Some(v)).as_deref() == Some(u.as_str())),
                };
                by_org || self.allowed_by(actor, &name, &c.table, subject, &self.model.may_write)
            })
            .collect();
        loop {
            let snapshot = permitted.clone();
            let permitted_keys: BTreeSet<&str> = changes
                .iter()
                .zip(&snapshot)
                .filter(|(_, ok)| **ok)
                .map(|(c, _)| c.key.as_str())
                .collect();
            let mut grew = false;
            for (i, c) in changes.iter().enumerate() {
                if snapshot[i] || c.organization.is_some() || user.is_none() {
                    continue;
                }
                let subject = c.new.as_ref().or(c.old.as_ref()).expect("one side exists");
                let points_at_permitted = subject
                    .values()
                    .any(|v| text(Some(v)).is_some_and(|t| permitted_keys.contains(t.as_str())));
                let pointed_at_by_permitted = changes.iter().zip(&snapshot).any(|(other, ok)| {
                    *ok && other.new.as_ref().or(other.old.as_ref()).is_some_and(|r| {
                        r.values()
                            .any(|v| text(Some(v)).as_deref() == Some(c.key.as_str()))
                    })
                });
                if points_at_permitted || pointed_at_by_permitted {
                    permitted[i] = true;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let mut changed_orgs: BTreeSet<String> = BTreeSet::new();
        let mut audited_change = false;
        for (c, ok) in changes.iter().zip(&permitted) {
            if AUDITED_SCHEMAS.contains(&c.table.split('.').next().unwrap_or("")) {
                audited_change = true;
            }
            if let Some(o) = c.organization.as_ref().filter(|o| existed(o)) {
                changed_orgs.insert(o.clone());
            }
            if !ok {
                problems.push((
                    CheckId::RpcCrossTenant,
                    Severity::Critical,
                    format!(
                        "{actor} called `{sql}` and it {} a row of {} (key {}){}, which is not the caller's to change",
                        match (&c.old, &c.new) {
                            (None, _) => "inserted",
                            (_, None) => "deleted",
                            _ => "changed",
                        },
                        c.table,
                        c.key,
                        c.organization.as_ref().map(|o| format!(" in organization {o}")).unwrap_or_default()
                    ),
                    Vec::new(),
                ));
            }
        }
        let new_audit = self.new_audit_rows(outcome);

        // 3. Whether it left an audit trail, naming the caller and the organizations.
        if audited_change {
            let actor_id = user.clone().unwrap_or_default();
            for row in &new_audit {
                let by = text(row.get("actor_id")).unwrap_or_default();
                if by != actor_id {
                    problems.push((
                        CheckId::AuditForgeable,
                        Severity::High,
                        format!("{actor} called `{sql}` and it wrote an audit row naming actor {by} instead of the caller"),
                    Vec::new(),
                ));
                }
            }
            if new_audit.is_empty() {
                problems.push((
                    CheckId::AuditMissing,
                    Severity::Medium,
                    format!("{actor} called `{sql}`, which changed SMTA's tables, and no audit row was written"),
                    Vec::new(),
                ));
            } else {
                let logged: BTreeSet<String> = new_audit
                    .iter()
                    .filter_map(|r| text(r.get("organization_id")))
                    .collect();
                for org in changed_orgs.difference(&logged) {
                    problems.push((
                        CheckId::AuditMissing,
                        Severity::Medium,
                        format!(
                            "{actor} called `{sql}`, which changed rows of organization {org}, but no audit row names \
                             that organization"
                        ),
                    Vec::new(),
                ));
                }
            }
        }
        problems
    }
}
