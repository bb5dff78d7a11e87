//! Writes that tell the caller whether another tenant's row exists.
//!
//! PostgreSQL enforces unique and foreign keys without row security. A row repeating
//! the unique key of a row the caller cannot read is refused with 23505 naming that
//! key; a row referring to one is accepted where a reference to nothing fails with
//! 23503. Either answer says "that row exists" — a slug, an email, a project code of
//! another organization. Each probe starts from a write the rules allow (the
//! own-organization insert, an update of one of the caller's rows) and changes only
//! the key (or reference) columns, to the values of one row of another organization,
//! so the constraint is all that can answer.
//!
//! Only keys a caller can guess are probed. A random UUID collides only for a caller
//! who already holds it, so keys made of uuid columns alone are skipped: every
//! surrogate key would otherwise be reported, the reference schema's included.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{key_condition, value_sql, TableProbes};
use crate::access::oracle::Expect;
use crate::catalog::Relation;
use crate::checks::isolation::probe::{Channel, Disclosure, Mode, Probe};
use crate::sql::quote_ident;
use crate::world::truth::{row_key, Row};

/// A constraint that could give a hidden row away, and that row's values for it.
struct Exposure {
    disclosure: Disclosure,
    values: Vec<Value>,
}

impl TableProbes<'_, '_> {
    /// Inserts `allowed` (a row the rules let `user` insert) with each guessable unique
    /// key or reference changed to a hidden row's values.
    pub(super) fn existence_by_insert(&mut self, allowed: &Row, user: &str) {
        if self
            .ctx
            .oracle
            .may_insert(self.actor, self.table, &self.as_written(allowed))
            != Expect::Allowed
        {
            return;
        }
        for exposure in self.exposures("INSERT", user) {
            let row = with_values(allowed, &exposure);
            let sql = self.insert_sql(&row);
            let probe = Probe::Reveal {
                row: self.as_written(&row),
                updates: None,
                disclosure: exposure.disclosure,
            };
            self.push(probe, sql, Mode::Exec);
        }
    }

    /// Updates one row the rules let `user` update, setting each guessable unique key
    /// or reference the user may write to a hidden row's values.
    pub(super) fn existence_by_update(&mut self, user: &str) {
        let Some(old) = self
            .rows()
            .into_iter()
            .find(|r| self.ctx.oracle.may_update(self.actor, self.table, r, r) == Expect::Allowed)
        else {
            return;
        };
        let old = old.clone();
        let key = row_key(&old, &self.table.key);
        for exposure in self.exposures("UPDATE", user) {
            let assignments = exposure
                .disclosure
                .columns
                .iter()
                .zip(&exposure.values)
                .map(|(c, v)| {
                    let column = self.relation.column(c).expect("exposed columns exist");
                    format!("{} = {}", quote_ident(c), value_sql(Some(v), column))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE {} t SET {assignments} WHERE {}",
                self.qualified(),
                key_condition(self.relation, &self.table.key, &key)
            );
            let probe = Probe::Reveal {
                row: with_values(&old, &exposure),
                updates: Some(key.clone()),
                disclosure: exposure.disclosure,
            };
            self.push(probe, sql, Mode::Exec);
        }
    }

    /// Every guessable unique key of the table, and every reference to a guessable
    /// key, whose columns the actor may write with `privilege`, paired with a row the
    /// user may not read that a write of those values would run into.
    fn exposures(&self, privilege: &str, user: &str) -> Vec<Exposure> {
        let writable: BTreeSet<String> = self
            .relation
            .writable_columns(privilege, self.roles())
            .into_iter()
            .map(|c| c.name.clone())
            .collect();
        let fillable = |columns: &[String]| columns.iter().all(|c| writable.contains(c));

        let mut exposures = Vec::new();
        for index in &self.relation.unique_indexes {
            let Some(columns) = index.columns.as_ref() else {
                continue;
            };
            // A partial index answers only for rows its predicate admits, which the
            // harness cannot evaluate; expressions have no column to fill.
            if index.has_expressions || index.predicate.is_some() {
                continue;
            }
            if !fillable(columns) || !guessable(self.relation, columns) {
                continue;
            }
            let table = &self.table.table;
            if let Some(exposure) =
                self.hidden(table, columns, columns, user, Channel::Unique, &index.name)
            {
                exposures.push(exposure);
            }
        }
        for constraint in self.relation.constraints.iter().filter(|c| c.kind == "f") {
            let (Some(columns), Some(target), Some(referenced)) = (
                constraint.columns.as_ref(),
                constraint.references.as_deref(),
                constraint.referenced_columns.as_ref(),
            ) else {
                continue;
            };
            let Some(target_relation) = self.ctx.catalog.relation(target) else {
                continue;
            };
            if !fillable(columns) || !guessable(target_relation, referenced) {
                continue;
            }
            if let Some(exposure) = self.hidden(
                target,
                referenced,
                columns,
                user,
                Channel::ForeignKey,
                &constraint.name,
            ) {
                exposures.push(exposure);
            }
        }
        exposures
    }

    /// The first seeded row of `table` with values in all of `columns` that `user` may
    /// not read and that lies outside `user`'s organizations, as an exposure of the
    /// probed table's `probed` columns. Rows of the user's own organization are left
    /// alone: a name kept by a deleted row of one's own tenant crosses no boundary.
    fn hidden(
        &self,
        table: &str,
        columns: &[String],
        probed: &[String],
        user: &str,
        channel: Channel,
        constraint: &str,
    ) -> Option<Exposure> {
        let model = self.ctx.oracle.model.table(table)?;
        let mine = self.ctx.oracle.organizations_of(user);
        self.ctx.truth(table)?.rows.iter().find_map(|r| {
            let values: Vec<Value> = columns
                .iter()
                .map(|c| r.get(c).filter(|v| !v.is_null()).cloned())
                .collect::<Option<_>>()?;
            if self.ctx.oracle.may_select(self.actor, model, r) != Expect::Denied {
                return None;
            }
            let key = row_key(r, &model.key);
            let organization = self.ctx.oracle.placement(table, &key).organization;
            if organization.as_ref().is_some_and(|o| mine.contains(o)) {
                return None;
            }
            Some(Exposure {
                disclosure: Disclosure {
                    channel: channel.clone(),
                    constraint: constraint.to_string(),
                    table: table.to_string(),
                    key,
                    organization,
                    columns: probed.to_vec(),
                },
                values,
            })
        })
    }
}

/// `row` with the exposure's columns set to the hidden row's values.
fn with_values(row: &Row, exposure: &Exposure) -> Row {
    let mut row = row.clone();
    for (column, value) in exposure.disclosure.columns.iter().zip(&exposure.values) {
        row.insert(column.clone(), value.clone());
    }
    row
}

/// Whether a caller could come up with the key's values without having seen the row:
/// any column that is not a uuid (text, numbers, dates) makes the key guessable.
fn guessable(relation: &Relation, columns: &[String]) -> bool {
    columns
        .iter()
        .any(|name| relation.column(name).is_some_and(|c| c.base_type != "uuid"))
}
