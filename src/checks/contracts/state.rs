//! The model state of a call sequence: the ground truth read back after every call,
//! keyed the way the RPCs address rows (a membership by user and organization), with
//! the relations the contracts speak of (member, super admin, a unit's organization).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::access::contracts::Contracts;
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

    pub(crate) fn row(&self, table: &str, key: &str) -> Option<&Row> {
        self.tables.get(table)?.get(key)
    }

    pub(crate) fn live(&self, table: &str, key: &str) -> bool {
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
    pub(crate) fn global_role(&self, name: &str) -> Option<String> {
        self.rows("core.roles")
            .find(|(_, r)| {
                text(r.get("organization_id")).is_none()
                    && text(r.get("name")).as_deref() == Some(name)
                    && r.get("is_deleted").and_then(Value::as_bool) != Some(true)
            })
            .map(|(k, _)| k.clone())
    }
}
