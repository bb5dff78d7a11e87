//! Which probes a case runs: every actor, every table, every read and write path.
//!
//! Reads and whole-table updates and deletes are set-based (one statement shows every
//! row the actor reaches). Inserts are built from an existing row of the table: a fresh
//! key, the tenant column pointed at the target organization, the actor's id where the
//! rules say "self", and the values the rules require, so that an own-organization
//! insert is one the rules allow and a foreign one differs only in its tenant. Moves,
//! upserts onto foreign keys and changes of privileged columns complete the attacks.
//! All choices are deterministic functions of the ground truth, so a shrunk world
//! replays the same probes. Inserts that reveal another tenant's rows through a unique
//! or foreign key are built in [`existence`].

mod existence;

use std::collections::BTreeSet;

use serde_json::Value;

use super::probe::{InsertPurpose, Mode, Probe, Step};
use crate::access::oracle::{Expect, Oracle};
use crate::access::{Atom, Expr, TableModel};
use crate::catalog::{Catalog, Column, Relation};
use crate::flavor::Actor;
use crate::sql::{quote_ident, quote_literal, quote_qualified};
use crate::world::seed::check_choices;
use crate::world::truth::{key_sql, row_key, text, Row, TableRows};

/// Which probe families a run includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    /// Every table as every actor, compared row by row with the rules.
    pub reads: bool,
    /// Inserts, updates, deletes, moves and upserts across tenants.
    pub writes: bool,
    /// Changes of roles, admin flags and invitations by those who must not.
    pub escalation: bool,
    /// The `public` functions, called with ids of the caller's and other tenants.
    pub rpc: bool,
    /// Generated RPC call sequences judged by the RPC contracts (`fixtures/access/rpc.toml`).
    pub contracts: bool,
    /// The RPC matrix: every `public` function called once by every kind of caller with
    /// every argument aim, on the fixture world, before anything is generated.
    pub rpc_matrix: bool,
}

impl Families {
    pub const ALL: Families = Families {
        reads: true,
        writes: true,
        escalation: true,
        rpc: true,
        contracts: true,
        rpc_matrix: true,
    };
}

/// Everything plan building reads.
pub(crate) struct PlanContext<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) oracle: &'a Oracle<'a>,
    pub(crate) actors: &'a [Actor],
    /// Per actor, the roles whose privileges it holds.
    pub(crate) actor_roles: &'a [Vec<String>],
    pub(crate) families: Families,
    /// Probe only this table (shrinking toward a finding about it); `None`: every
    /// table.
    pub(crate) only: Option<&'a str>,
}

/// A key no seeded row has: `99990000-0000-4000-8000-…`.
fn fresh_uuid(n: usize) -> String {
    format!("99990000-0000-4000-8000-{:012x}", n + 1)
}

/// The SQL literal of a JSON value for `column`.
pub(crate) fn value_sql(value: Option<&Value>, column: &Column) -> String {
    crate::sql::json_literal(value, column)
}

/// `t.k = 'v'` for a row key (text, `|`-joined for composite keys).
pub(crate) fn key_condition(relation: &Relation, key_columns: &[String], key: &str) -> String {
    let parts: Vec<&str> = if key_columns.len() == 1 {
        vec![key]
    } else {
        key.split('|').collect()
    };
    key_columns
        .iter()
        .zip(parts)
        .map(|(c, v)| {
            let ty = relation
                .column(c)
                .map(|c| c.data_type.as_str())
                .unwrap_or("text");
            format!("t.{} = {}::{ty}", quote_ident(c), quote_literal(v))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Atoms of a rule with whether they appear negated.
fn atoms_with_polarity(expr: &Expr, negated: bool, out: &mut Vec<(bool, Atom)>) {
    match expr {
        Expr::Or(v) | Expr::And(v) => v.iter().for_each(|e| atoms_with_polarity(e, negated, out)),
        Expr::Not(e) => atoms_with_polarity(e, !negated, out),
        Expr::Atom(a) => out.push((negated, a.clone())),
    }
}

impl PlanContext<'_> {
    fn truth(&self, table: &str) -> Option<&TableRows> {
        self.oracle.truth.table(table)
    }

    /// The rows of `table` that are alive: neither soft-deleted nor in a deleted
    /// organization.
    fn live_rows(&self, table: &str) -> Vec<&Row> {
        let (Some(rows), Some(model)) = (self.truth(table), self.oracle.model.table(table)) else {
            return Vec::new();
        };
        rows.rows
            .iter()
            .filter(|r| self.oracle.placement(table, &row_key(r, &model.key)).live)
            .collect()
    }

    /// Every probe of the case, in a stable order. Operations the actor holds no
    /// privilege for are left to the run-wide denial checks: their refusal does not
    /// depend on the world.
    pub(crate) fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut fresh = 0usize;
        for (a, actor) in self.actors.iter().enumerate() {
            if self.families.reads {
                self.read_all(a, &mut steps);
            }
            for table in self.tables() {
                let Some(relation) = self.catalog.relation(&table.table) else {
                    continue;
                };
                let reachable = self.catalog.reachable(&self.actor_roles[a], relation);
                let mut builder = TableProbes {
                    ctx: self,
                    actor_index: a,
                    actor,
                    table,
                    relation,
                    reachable,
                    fresh: &mut fresh,
                    out: &mut steps,
                };
                // The service role's writes do not depend on the world (it bypasses row
                // security): the run-wide checks try them once.
                if self.families.writes && !matches!(actor, Actor::Service) {
                    builder.writes();
                }
                if self.families.escalation && reachable.update {
                    if let Actor::User(_) = actor {
                        builder.escalations();
                    }
                }
            }
        }
        steps
    }
}

impl PlanContext<'_> {
    /// The tables probed: every modelled one, or the one a shrinking step is about.
    fn tables(&self) -> impl Iterator<Item = &TableModel> {
        self.oracle
            .model
            .tables
            .values()
            .filter(|t| self.only.is_none_or(|only| only == t.table))
    }

    /// One statement reading every table the actor can reach.
    fn read_all(&self, actor: usize, steps: &mut Vec<Step>) {
        let tables: Vec<&TableModel> = self
            .tables()
            .filter(|t| {
                self.catalog
                    .relation(&t.table)
                    .is_some_and(|r| self.catalog.reachable(&self.actor_roles[actor], r).select)
            })
            .collect();
        if tables.is_empty() {
            return;
        }
        let parts: Vec<String> = tables
            .iter()
            .map(|t| {
                format!(
                    "{}, (SELECT coalesce(jsonb_agg({}), '[]') FROM {} t)",
                    quote_literal(&t.table),
                    key_sql(&t.key),
                    quote_qualified(&t.table)
                )
            })
            .collect();
        let objects: Vec<String> = parts
            .chunks(40)
            .map(|c| format!("jsonb_build_object({})", c.join(", ")))
            .collect();
        steps.push(Step {
            actor,
            table: String::new(),
            probe: Probe::ReadAll {
                tables: tables.iter().map(|t| t.table.clone()).collect(),
            },
            sql: format!("SELECT ({})::text", objects.join(" || ")),
            mode: Mode::Query,
        });
    }
}

struct TableProbes<'c, 'a> {
    ctx: &'c PlanContext<'a>,
    actor_index: usize,
    actor: &'c Actor,
    table: &'c TableModel,
    relation: &'c Relation,
    reachable: crate::catalog::Reachable,
    fresh: &'c mut usize,
    out: &'c mut Vec<Step>,
}

impl TableProbes<'_, '_> {
    fn push(&mut self, probe: Probe, sql: String, mode: Mode) {
        self.out.push(Step {
            actor: self.actor_index,
            table: self.table.table.clone(),
            probe,
            sql,
            mode,
        });
    }

    fn qualified(&self) -> String {
        quote_qualified(&self.table.table)
    }

    fn rows(&self) -> Vec<&Row> {
        self.ctx
            .truth(&self.table.table)
            .map(|t| t.rows.iter().collect())
            .unwrap_or_default()
    }

    fn user(&self) -> Option<String> {
        match self.actor {
            Actor::User(id) => Some(id.to_string()),
            _ => None,
        }
    }

    fn roles(&self) -> &[String] {
        &self.ctx.actor_roles[self.actor_index]
    }

    /// The column a harmless `SET c = c` uses: one the actor may update and whose
    /// change nobody cares about, else any non-key column (the statement is then
    /// expected to be refused).
    fn touch_column(&self) -> Option<String> {
        let writable = self.relation.writable_columns("UPDATE", self.roles());
        let excluded = |c: &Column| {
            self.table.key.contains(&c.name)
                || self.table.immutable.contains(&c.name)
                || self
                    .table
                    .tenant
                    .first()
                    .is_some_and(|h| h.column == c.name)
        };
        // `SET c = c` changes nothing, so even a privileged column is harmless; the
        // others are preferred all the same.
        let text_first = |cols: &mut Vec<&Column>| {
            cols.sort_by_key(|c| {
                (
                    self.table.privileged.contains(&c.name),
                    c.base_type != "text",
                    c.name != "description",
                    c.name.clone(),
                )
            });
        };
        let mut candidates: Vec<&Column> = writable.into_iter().filter(|c| !excluded(c)).collect();
        text_first(&mut candidates);
        if let Some(c) = candidates.first() {
            return Some(c.name.clone());
        }
        let mut any: Vec<&Column> = self
            .relation
            .columns
            .iter()
            .filter(|c| !c.generated && !excluded(c))
            .collect();
        text_first(&mut any);
        any.first()
            .map(|c| c.name.clone())
            .or_else(|| self.relation.columns.first().map(|c| c.name.clone()))
    }

    fn writes(&mut self) {
        let key = key_sql(&self.table.key);
        let t = self.qualified();
        let service = matches!(self.actor, Actor::Service);
        if self.reachable.update {
            if let Some(column) = self.touch_column() {
                let c = quote_ident(&column);
                let sql = format!(
                    "WITH w AS (UPDATE {t} t SET {c} = t.{c} RETURNING {key} AS k) SELECT coalesce(jsonb_agg(k), '[]')::text FROM w"
                );
                self.push(Probe::UpdateAll { column }, sql, Mode::Query);
            }
        }
        // The service may delete what it fully owns; only a delete it must not make
        // (an audit trail) is worth a probe, and for users every reachable delete is.
        let service_may_delete = service && self.table.service == crate::access::ServiceAccess::All;
        if self.reachable.delete && !service_may_delete {
            let sql = format!(
                "WITH w AS (DELETE FROM {t} t RETURNING {key} AS k) SELECT coalesce(jsonb_agg(k), '[]')::text FROM w"
            );
            self.push(Probe::DeleteAll, sql, Mode::Query);
        }
        if !self.reachable.insert && !self.reachable.update {
            return;
        }

        let Some(user) = self.user() else {
            // Anonymous, PUBLIC-only and service actors: one plain insert each.
            if self.reachable.insert {
                if let Some(row) = self.candidate(None, None) {
                    self.insert(row, InsertPurpose::Own);
                }
            }
            return;
        };
        let own: Vec<String> = self
            .ctx
            .oracle
            .organizations_of(&user)
            .into_iter()
            .collect();
        let foreign = self.foreign_organization(&user);
        if self.reachable.insert {
            if self.table.tenant.is_empty() || self.founds_tenant() {
                // No tenant, or a new tenant: the row belongs to no organization yet.
                if let Some(row) = self.candidate(None, Some(&user)) {
                    self.existence_by_insert(&row, &user);
                    if self.founds_tenant() {
                        self.impersonations(&row, &user);
                    }
                    self.insert(row, InsertPurpose::Own);
                }
            } else {
                if let Some(row) = own
                    .first()
                    .and_then(|o| self.candidate(Some(o), Some(&user)))
                {
                    self.existence_by_insert(&row, &user);
                    self.impersonations(&row, &user);
                    self.forbidden_referents(&row);
                    self.insert(row, InsertPurpose::Own);
                }
                if let Some(row) = foreign
                    .as_ref()
                    .and_then(|o| self.candidate(Some(o), Some(&user)))
                {
                    self.insert(row, InsertPurpose::Foreign);
                }
                // Adding oneself where the rules speak of one's own row (memberships …).
                for column in self.self_columns() {
                    for org in own.first().into_iter().chain(foreign.iter()) {
                        if let Some(row) = self.self_add(org, &user, &column) {
                            self.insert(row, InsertPurpose::SelfAdd);
                        }
                    }
                }
            }
        }
        if self.reachable.update {
            self.moves(&own, foreign.as_deref());
            self.existence_by_update(&user);
        }
        if self.reachable.insert && self.reachable.update {
            self.upsert(&user, own.first().map(String::as_str));
        }
    }

    /// The insert rule's atoms with their polarity, and the columns the actor may
    /// insert into: what the forged inserts start from.
    fn insert_rule_atoms(&self) -> (Vec<(bool, Atom)>, BTreeSet<String>) {
        let mut atoms = Vec::new();
        atoms_with_polarity(&self.table.insert, false, &mut atoms);
        let insertable = self
            .relation
            .writable_columns("INSERT", self.roles())
            .into_iter()
            .map(|c| c.name.clone())
            .collect();
        (atoms, insertable)
    }

    /// The allowed own-organization insert `row`, once per column the insert rule
    /// says must hold the actor's id (`self(col)`) and the actor may write, with that
    /// column naming another user of the world: a row written in someone else's name
    /// must be refused.
    fn impersonations(&mut self, row: &Row, user: &str) {
        let (atoms, insertable) = self.insert_rule_atoms();
        let Some(other) = self.ctx.truth(crate::access::tenancy::USERS).and_then(|t| {
            t.rows
                .iter()
                .filter_map(|r| text(r.get("id")))
                .find(|id| id != user)
        }) else {
            return;
        };
        let mut columns: Vec<String> = atoms
            .into_iter()
            .filter_map(|(negated, atom)| match atom {
                Atom::SelfColumn(c) if !negated && insertable.contains(&c) => Some(c),
                _ => None,
            })
            .collect();
        columns.sort();
        columns.dedup();
        for column in columns {
            let mut forged = row.clone();
            forged.insert(column, Value::String(other.clone()));
            for key in &self.table.key {
                if let Some(c) = self.relation.column(key) {
                    if c.base_type == "uuid" {
                        forged.insert(key.clone(), Value::String(fresh_uuid(*self.fresh)));
                        *self.fresh += 1;
                    }
                }
            }
            if !self.collides(&forged) {
                self.insert(forged, InsertPurpose::Impersonate);
            }
        }
    }

    /// The own-organization insert `row`, once per reference the insert rule
    /// constrains (`same_org(c)`, `!role(c, name)`) and the actor may write, pointed at
    /// a live referent the rule forbids — the most powerful first (a row named
    /// super_admin, admin or owner), then another: a row handing out the super admin
    /// role or another tenant's role must be refused. Only the rules decide what is
    /// forbidden; a referent the rules allow is never tried here.
    fn forbidden_referents(&mut self, row: &Row) {
        if self
            .ctx
            .oracle
            .may_insert(self.actor, self.table, &self.as_written(row))
            != Expect::Allowed
        {
            return;
        }
        let (atoms, insertable) = self.insert_rule_atoms();
        let mut columns: Vec<String> = atoms
            .into_iter()
            .filter_map(|(negated, atom)| match atom {
                Atom::SameOrg(c) if !negated => Some(c),
                Atom::Role(c, _) if negated => Some(c),
                _ => None,
            })
            .filter(|c| insertable.contains(c))
            .collect();
        columns.sort();
        columns.dedup();
        for column in columns {
            let Some((target, target_column)) = self.table.references.get(&column) else {
                continue;
            };
            let mut referents = self.ctx.live_rows(target);
            referents.sort_by_key(|r| {
                !matches!(
                    text(r.get("name")).as_deref(),
                    Some("super_admin" | "admin" | "owner")
                )
            });
            let forged: Vec<Row> = referents
                .into_iter()
                .filter_map(|r| text(r.get(target_column)))
                .map(|value| {
                    let mut forged = row.clone();
                    forged.insert(column.clone(), Value::String(value));
                    forged
                })
                .filter(|forged| {
                    self.ctx
                        .oracle
                        .may_insert(self.actor, self.table, &self.as_written(forged))
                        == Expect::Denied
                        && !self.collides(forged)
                })
                .take(2)
                .collect();
            for forged in forged {
                self.insert(forged, InsertPurpose::Escalate);
            }
        }
    }

    /// Columns the SELECT rule reads as "the user's own row".
    fn self_columns(&self) -> Vec<String> {
        let mut atoms = Vec::new();
        atoms_with_polarity(&self.table.select, false, &mut atoms);
        let mut columns: Vec<String> = atoms
            .into_iter()
            .filter_map(|(neg, a)| match a {
                Atom::SelfColumn(c) if !neg && !self.table.key.contains(&c) => Some(c),
                _ => None,
            })
            .collect();
        columns.sort();
        columns.dedup();
        columns
    }

    /// A live organization the user does not belong to, if any.
    fn foreign_organization(&self, user: &str) -> Option<String> {
        let mine = self.ctx.oracle.organizations_of(user);
        self.ctx
            .truth(crate::access::tenancy::ORGANIZATIONS)?
            .rows
            .iter()
            .filter_map(|r| text(r.get("id")))
            .find(|o| {
                !mine.contains(o)
                    && self
                        .ctx
                        .oracle
                        .placement(crate::access::tenancy::ORGANIZATIONS, o)
                        .live
            })
    }

    fn insert(&mut self, row: Row, purpose: InsertPurpose) {
        let sql = self.insert_sql(&row);
        let row = self.as_written(&row);
        self.push(Probe::Insert { row, purpose }, sql, Mode::Exec);
    }

    /// The row an INSERT of `row` writes, as far as the catalog tells: the omitted
    /// columns take their constant defaults (a status `'pending'`, a flag `false`),
    /// which the rules may well read. Computed defaults stay unknown.
    pub(super) fn as_written(&self, row: &Row) -> Row {
        let mut written = row.clone();
        for column in &self.relation.columns {
            if written.contains_key(&column.name) {
                continue;
            }
            if let Some(value) = column.constant_default() {
                written.insert(column.name.clone(), value);
            }
        }
        written
    }

    fn insert_sql(&self, row: &Row) -> String {
        let columns: Vec<&String> = row.keys().collect();
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                value_sql(
                    row.get(*c),
                    self.relation.column(c).expect("candidate columns exist"),
                )
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.qualified(),
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", "),
            values.join(", ")
        )
    }

    /// A new row for the table: from an existing row (preferably of `org`), with a
    /// fresh key, placed in `org`, with the user in "self" columns and the values the
    /// insert rule asks for. `None` when no valid row can be made.
    fn candidate(&mut self, org: Option<&str>, user: Option<&str>) -> Option<Row> {
        let mut row = self.candidate_row(org, user)?;
        self.freshen_unique(&mut row);
        if self.collides(&row) {
            row = self.other_referent(&row)?;
        }
        Some(row)
    }

    /// Whether an insert here founds a tenant: the table's own key is its tenant
    /// column and points nowhere (an organization), so a new row is an organization
    /// of its own, not a row in one of the actor's.
    fn founds_tenant(&self) -> bool {
        self.table.tenant.first().is_some_and(|hop| {
            hop.next.is_none()
                && self.table.key.contains(&hop.column)
                && self.relation.reference_of(&hop.column).is_none()
        })
    }

    /// `row` with a reference in a colliding unique key pointed at another live row,
    /// so that the key is free: a membership of a user the organization does not have
    /// yet. Columns the rules set (the tenant, `self(…)`, `same_org(…)`, `is(…)`) keep
    /// their values, since they are what makes the row allowed.
    fn other_referent(&self, row: &Row) -> Option<Row> {
        let tenant = self.table.tenant.first().map(|h| h.column.as_str());
        let ruled = self.table.insert.columns();
        for columns in self.colliding_keys(row) {
            for name in &columns {
                if Some(name.as_str()) == tenant
                    || ruled.contains(&name.as_str())
                    || self.table.key.contains(name)
                {
                    continue;
                }
                let Some((target, target_column)) = self.relation.reference_of(name) else {
                    continue;
                };
                let found = self
                    .ctx
                    .live_rows(target)
                    .into_iter()
                    .filter_map(|r| text(r.get(target_column)))
                    .map(|value| {
                        let mut other = row.clone();
                        other.insert(name.clone(), Value::String(value));
                        other
                    })
                    .find(|other| !self.collides(other));
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    /// Gives the row new values in the unique keys it shares with a seeded row (a name
    /// unique per organization, a file URL), where the colliding column is free text or
    /// a number: tenant columns, references and uuids keep their meaning.
    fn freshen_unique(&mut self, row: &mut Row) {
        let tenant = self.table.tenant.first().map(|h| h.column.as_str());
        for columns in self.colliding_keys(row) {
            for name in &columns {
                let Some(column) = self.relation.column(name) else {
                    continue;
                };
                if Some(name.as_str()) == tenant || self.relation.reference_of(name).is_some() {
                    continue;
                }
                let fresh = match column.base_type.as_str() {
                    "text" | "varchar" | "citext" => Value::String(format!(
                        "{}-probe-{}",
                        text(row.get(name)).unwrap_or_default(),
                        self.fresh
                    )),
                    "int2" | "int4" | "int8" => Value::from(900_000 + *self.fresh as i64),
                    _ => continue,
                };
                *self.fresh += 1;
                row.insert(name.clone(), fresh);
            }
        }
    }

    /// A candidate in `org` with the user in `column` ("add myself"). The template's
    /// unique keys usually name someone else (memberships: its user in that
    /// organization), so uniqueness is checked only once the user is in, and where the
    /// tenant column points at another table (a unit) every referent in `org` is tried
    /// until one is free (the user may already belong to some units, not all).
    fn self_add(&mut self, org: &str, user: &str, column: &str) -> Option<Row> {
        let mut row = self.candidate_row(Some(org), Some(user))?;
        row.insert(column.to_string(), Value::String(user.to_string()));
        if !self.collides(&row) {
            return Some(row);
        }
        let hop = self.table.tenant.first()?;
        let (target, target_column) = hop.next.as_ref()?;
        let model = self.ctx.oracle.model.table(target)?;
        let referents: Vec<String> = self
            .ctx
            .truth(target)?
            .rows
            .iter()
            .filter(|r| {
                let place = self.ctx.oracle.placement(target, &row_key(r, &model.key));
                place.live && place.organization.as_deref() == Some(org)
            })
            .filter_map(|r| text(r.get(target_column)))
            .collect();
        referents.into_iter().find_map(|value| {
            let mut moved = row.clone();
            moved.insert(hop.column.clone(), Value::String(value));
            (!self.collides(&moved)).then_some(moved)
        })
    }

    /// [`candidate`](Self::candidate) without the uniqueness check.
    fn candidate_row(&mut self, org: Option<&str>, user: Option<&str>) -> Option<Row> {
        let rows = self.rows();
        let placed_in = |r: &Row| {
            org.is_some_and(|o| {
                self.ctx
                    .oracle
                    .placement(&self.table.table, &row_key(r, &self.table.key))
                    .organization
                    .as_deref()
                    == Some(o)
            })
        };
        let template = rows
            .iter()
            .find(|r| placed_in(r))
            .or_else(|| rows.first())?;
        let mut row: Row = (*template).clone();

        for key in &self.table.key {
            let column = self.relation.column(key)?;
            let fresh = match column.base_type.as_str() {
                "uuid" => Value::String(fresh_uuid(*self.fresh)),
                "text" | "varchar" | "citext" => Value::String(format!(
                    "{}-probe-{}",
                    text(row.get(key)).unwrap_or_default(),
                    self.fresh
                )),
                "int2" | "int4" | "int8" => Value::from(900_000 + *self.fresh as i64),
                _ => return None,
            };
            *self.fresh += 1;
            row.insert(key.clone(), fresh);
        }
        if let (Some(org), Some(hop)) = (org, self.table.tenant.first()) {
            let value = match &hop.next {
                None => Some(org.to_string()),
                Some((target, target_column)) => self.referent_in(target, target_column, org),
            };
            row.insert(hop.column.clone(), Value::String(value?));
        }
        for (column, value) in [
            ("is_deleted", Value::Bool(false)),
            ("deleted_at", Value::Null),
            ("deleted_by", Value::Null),
        ] {
            if row.contains_key(column) {
                row.insert(column.into(), value);
            }
        }
        if let Some(user) = user {
            if row.contains_key("created_by") {
                row.insert("created_by".into(), Value::String(user.into()));
            }
            let mut atoms = Vec::new();
            atoms_with_polarity(&self.table.insert, false, &mut atoms);
            for (negated, atom) in atoms {
                match (negated, atom) {
                    (false, Atom::SelfColumn(c)) => {
                        row.insert(c, Value::String(user.into()));
                    }
                    (false, Atom::Is(c, v)) if v == "null" => {
                        row.insert(c, Value::Null);
                    }
                    (false, Atom::Is(c, v)) => {
                        let value = match self.relation.column(&c).map(|c| c.base_type.as_str()) {
                            Some("bool") => Value::Bool(v == "true"),
                            _ => Value::String(v),
                        };
                        row.insert(c, value);
                    }
                    (true, Atom::Is(c, v)) if text(row.get(&c)).as_deref() == Some(v.as_str()) => {
                        let value = match row.get(&c) {
                            Some(Value::Bool(b)) => Value::Bool(!b),
                            _ => Value::Null,
                        };
                        row.insert(c, value);
                    }
                    (false, Atom::SameOrg(c)) => {
                        if let Some(value) = self.compatible_referent(&row, &c, org) {
                            row.insert(c, Value::String(value));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(self.minimal(row))
    }

    /// A live row of `table` placed in `org`; its `column` value.
    fn referent_in(&self, table: &str, column: &str, org: &str) -> Option<String> {
        let rows = self.ctx.truth(table)?;
        let model = self.ctx.oracle.model.table(table)?;
        rows.rows
            .iter()
            .find(|r| {
                let place = self.ctx.oracle.placement(table, &row_key(r, &model.key));
                place.live && place.organization.as_deref() == Some(org)
            })
            .and_then(|r| text(r.get(column)))
    }

    /// For `same_org(column)`: a live referent that is global or in `org`, avoiding
    /// names the rule forbids (`!role(column, name)`).
    fn compatible_referent(&self, row: &Row, column: &str, org: Option<&str>) -> Option<String> {
        let (target, target_column) = self.table.references.get(column)?;
        let model = self.ctx.oracle.model.table(target)?;
        let mut forbidden = Vec::new();
        let mut atoms = Vec::new();
        atoms_with_polarity(&self.table.insert, false, &mut atoms);
        for (negated, atom) in atoms {
            if let (true, Atom::Role(c, name)) = (negated, atom) {
                if c == column {
                    forbidden.push(name);
                }
            }
        }
        let current = text(row.get(column));
        let ok = |r: &Row| {
            let place = self.ctx.oracle.placement(target, &row_key(r, &model.key));
            place.live
                && (place.organization.is_none() || place.organization.as_deref() == org)
                && !text(r.get("name")).is_some_and(|n| forbidden.contains(&n))
        };
        let rows = self.ctx.truth(target)?;
        if let Some(cur) = &current {
            if rows.find(target_column, cur).next().is_some_and(ok) {
                return Some(cur.clone());
            }
        }
        rows.rows
            .iter()
            .find(|r| ok(r))
            .and_then(|r| text(r.get(target_column)))
    }

    /// Drops columns the statement need not name: those with defaults that nothing
    /// set on purpose, and those the actor may not insert into (naming one is refused
    /// even when its value is the default).
    fn minimal(&self, row: Row) -> Row {
        let insertable: BTreeSet<&str> = self
            .relation
            .writable_columns("INSERT", self.roles())
            .into_iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut purposeful: BTreeSet<String> = self.table.key.iter().cloned().collect();
        if let Some(hop) = self.table.tenant.first() {
            purposeful.insert(hop.column.clone());
        }
        purposeful.extend(self.table.insert.columns().into_iter().map(str::to_string));
        purposeful.insert("created_by".into());
        row.into_iter()
            .filter(|(name, value)| {
                let Some(column) = self.relation.column(name) else {
                    return false;
                };
                if column.generated {
                    return false;
                }
                // A NOT NULL column without a default that the actor may not write is
                // left for a trigger to fill, as a client would leave it; naming it
                // would be refused for the column, never judged for the row.
                let required = column.not_null
                    && !column.has_default
                    && (insertable.contains(name.as_str()) || insertable.is_empty());
                let wanted = purposeful.contains(name) && (!value.is_null() || required);
                let keep_value =
                    !value.is_null() && !column.has_default && insertable.contains(name.as_str());
                required
                    || (wanted && (insertable.contains(name.as_str()) || insertable.is_empty()))
                    || keep_value
            })
            .collect()
    }

    /// Whether the row would break a unique key against the seeded rows.
    fn collides(&self, row: &Row) -> bool {
        !self.colliding_keys(row).is_empty()
    }

    /// The (non-partial) unique keys the row shares with a seeded row.
    fn colliding_keys(&self, row: &Row) -> Vec<Vec<String>> {
        let rows = self.rows();
        self.relation
            .unique_keys()
            .into_iter()
            .filter(|(columns, predicate)| {
                if predicate.is_some() {
                    return false;
                }
                let values: Option<Vec<String>> =
                    columns.iter().map(|c| text(row.get(c))).collect();
                let Some(values) = values else { return false };
                rows.iter().any(|r| {
                    columns
                        .iter()
                        .zip(&values)
                        .all(|(c, v)| text(r.get(c)).as_deref() == Some(v.as_str()))
                })
            })
            .map(|(columns, _)| columns)
            .collect()
    }

    /// Moves a row the user may update to a foreign organization, and to another of
    /// their own when they have one (tenant columns are immutable); then everything
    /// the user may update to the foreign organization at once, without a WHERE
    /// clause (see [`Probe::MoveAll`]).
    fn moves(&mut self, own: &[String], foreign: Option<&str>) {
        let Some(hop) = self.table.tenant.first().cloned() else {
            return;
        };
        let actor = self.actor.clone();
        let movable = self
            .rows()
            .into_iter()
            .find(|r| self.ctx.oracle.may_update(&actor, self.table, r, r) == Expect::Allowed);
        let Some(row) = movable.cloned() else { return };
        let place = self
            .ctx
            .oracle
            .placement(&self.table.table, &row_key(&row, &self.table.key));
        let other_own = own
            .iter()
            .find(|o| Some(o.as_str()) != place.organization.as_deref());
        for target in foreign.into_iter().chain(other_own.map(String::as_str)) {
            let value = match &hop.next {
                None => Some(target.to_string()),
                Some((t, c)) => self.referent_in(t, c, target),
            };
            let Some(value) = value else { continue };
            let mut new = row.clone();
            new.insert(hop.column.clone(), Value::String(value.clone()));
            let column = self
                .relation
                .column(&hop.column)
                .expect("tenant column exists");
            let key = row_key(&row, &self.table.key);
            let sql = format!(
                "UPDATE {} t SET {} = {} WHERE {}",
                self.qualified(),
                quote_ident(&hop.column),
                value_sql(Some(&Value::String(value)), column),
                key_condition(self.relation, &self.table.key, &key)
            );
            self.push(Probe::Move { key, new }, sql, Mode::Exec);
        }
        let Some(organization) = foreign else { return };
        let value = match &hop.next {
            None => Some(organization.to_string()),
            Some((t, c)) => self.referent_in(t, c, organization),
        };
        let Some(value) = value.map(Value::String) else {
            return;
        };
        let column = self
            .relation
            .column(&hop.column)
            .expect("tenant column exists");
        let sql = format!(
            "UPDATE {} SET {} = {}",
            self.qualified(),
            quote_ident(&hop.column),
            value_sql(Some(&value), column)
        );
        self.push(
            Probe::MoveAll {
                column: hop.column.clone(),
                value,
                organization: organization.to_string(),
            },
            sql,
            Mode::Exec,
        );
    }

    /// An insert of an own-organization row that collides with a row the user may
    /// not update, resolved by ON CONFLICT DO UPDATE.
    fn upsert(&mut self, user: &str, own: Option<&str>) {
        let actor = self.actor.clone();
        let victim = self
            .rows()
            .into_iter()
            .find(|r| self.ctx.oracle.may_update(&actor, self.table, r, r) == Expect::Denied)
            .cloned();
        let Some(victim) = victim else { return };
        let Some(mut proposed) = (match (own, self.table.tenant.is_empty()) {
            (Some(org), false) => self.candidate(Some(org), Some(user)),
            (_, true) => self.candidate(None, Some(user)),
            _ => None,
        }) else {
            return;
        };
        let Some(column) = self.touch_column() else {
            return;
        };
        for key in &self.table.key {
            proposed.insert(key.clone(), victim.get(key).cloned().unwrap_or(Value::Null));
        }
        let mut new = victim.clone();
        new.insert(
            column.clone(),
            proposed
                .get(&column)
                .cloned()
                .unwrap_or_else(|| victim.get(&column).cloned().unwrap_or(Value::Null)),
        );
        if !proposed.contains_key(&column) {
            proposed.insert(
                column.clone(),
                victim.get(&column).cloned().unwrap_or(Value::Null),
            );
        }
        let columns: Vec<&String> = proposed.keys().collect();
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                value_sql(
                    proposed.get(*c),
                    self.relation.column(c).expect("column exists"),
                )
            })
            .collect();
        let c = quote_ident(&column);
        let sql = format!(
            "INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {c} = EXCLUDED.{c}",
            self.qualified(),
            columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
            values.join(", "),
            self.table.key.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", ")
        );
        let key = row_key(&victim, &self.table.key);
        self.push(Probe::Upsert { key, new }, sql, Mode::Exec);
    }

    /// Changes of privileged columns on the user's own rows, rows of their
    /// organizations, a foreign row and a global row (one without organization, such
    /// as a built-in role shared by every tenant): new roles, admin flags, permission
    /// sets, accepting for oneself.
    fn escalations(&mut self) {
        if self.table.privileged.is_empty() {
            return;
        }
        let Some(user) = self.user() else { return };
        let mine = self.ctx.oracle.organizations_of(&user);
        // Live rows first: each target below is the first row of its kind, and an
        // attack on a soft-deleted row (an old membership) is refused for that reason
        // alone, whatever the policies say.
        let mut rows = self.rows();
        rows.sort_by_key(|r| {
            !self
                .ctx
                .oracle
                .placement(&self.table.table, &row_key(r, &self.table.key))
                .live
        });
        let self_cols = self.self_columns();
        let org_of = |r: &Row| {
            self.ctx
                .oracle
                .placement(&self.table.table, &row_key(r, &self.table.key))
                .organization
        };
        let mut targets: Vec<Row> = Vec::new();
        let mut push = |r: Option<&&Row>| {
            if let Some(r) = r {
                if !targets.iter().any(|t| t == *r) {
                    targets.push((*r).clone());
                }
            }
        };
        push(rows.iter().find(|r| {
            self_cols
                .iter()
                .any(|c| text(r.get(c)).as_deref() == Some(user.as_str()))
        }));
        push(rows.iter().find(|r| {
            org_of(r).is_some_and(|o| mine.contains(&o))
                && !self_cols
                    .iter()
                    .any(|c| text(r.get(c)).as_deref() == Some(user.as_str()))
        }));
        push(
            rows.iter()
                .find(|r| org_of(r).is_some_and(|o| !mine.contains(&o))),
        );
        push(rows.iter().find(|r| {
            text(r.get("status")).as_deref() == Some("pending")
                && org_of(r).is_some_and(|o| mine.contains(&o))
        }));
        if !self.table.tenant.is_empty() {
            push(rows.iter().find(|r| org_of(r).is_none()));
        }

        for row in targets {
            let key = row_key(&row, &self.table.key);
            for change in self.privileged_changes(&row, &user) {
                let mut new = row.clone();
                for (c, v) in &change {
                    new.insert(c.clone(), v.clone());
                }
                let assignments: Vec<String> = change
                    .iter()
                    .map(|(c, v)| {
                        format!(
                            "{} = {}",
                            quote_ident(c),
                            value_sql(
                                Some(v),
                                self.relation.column(c).expect("privileged column exists")
                            )
                        )
                    })
                    .collect();
                let sql = format!(
                    "UPDATE {} t SET {} WHERE {}",
                    self.qualified(),
                    assignments.join(", "),
                    key_condition(self.relation, &self.table.key, &key)
                );
                let columns = change.iter().map(|(c, _)| c.clone()).collect();
                self.push(
                    Probe::Escalate {
                        key: key.clone(),
                        new,
                        columns,
                    },
                    sql,
                    Mode::Exec,
                );
            }
        }
    }

    /// Candidate changes of privileged columns: each alone, plus accepting (status
    /// `accepted` with the user as `accepted_by`) where the table has both.
    fn privileged_changes(&self, row: &Row, user: &str) -> Vec<Vec<(String, Value)>> {
        let mut changes = Vec::new();
        for name in &self.table.privileged {
            let Some(column) = self.relation.column(name) else {
                continue;
            };
            let current = row.get(name).cloned().unwrap_or(Value::Null);
            let mut values: Vec<Value> = Vec::new();
            if column.base_type == "bool" {
                values.push(Value::Bool(!current.as_bool().unwrap_or(false)));
            } else if let Some((target, target_column)) = self.table.references.get(name) {
                // The most powerful referent first (a row named super_admin/admin/owner).
                if let Some(rows) = self.ctx.truth(target) {
                    let mut referents: Vec<&Row> = rows
                        .rows
                        .iter()
                        .filter(|r| r.get(target_column) != Some(&current))
                        .collect();
                    referents.sort_by_key(|r| {
                        !matches!(
                            text(r.get("name")).as_deref(),
                            Some("super_admin" | "admin" | "owner")
                        )
                    });
                    values.extend(
                        referents
                            .iter()
                            .take(2)
                            .filter_map(|r| r.get(target_column).cloned()),
                    );
                }
            } else if let Some(choices) = check_choices(self.relation, name) {
                values.extend(
                    choices
                        .into_iter()
                        .filter(|c| text(Some(&current)).as_deref() != Some(c.as_str()))
                        .map(Value::String),
                );
            } else if column.base_type == "uuid" {
                values.push(Value::String(user.to_string()));
            } else if column.base_type.starts_with("json") {
                // A permission set that allows everything (CASL's "manage all"), or
                // none when that is what the row holds already.
                let everything = serde_json::json!([{ "action": "manage", "subject": "all" }]);
                values.push(if current == everything {
                    serde_json::json!([])
                } else {
                    everything
                });
            }
            changes.extend(values.into_iter().map(|v| vec![(name.clone(), v)]));
        }
        let accepts = self.relation.has_column("accepted_by")
            && check_choices(self.relation, "status")
                .is_some_and(|c| c.iter().any(|v| v == "accepted"));
        if accepts && text(row.get("status")).as_deref() != Some("accepted") {
            changes.push(vec![
                ("status".into(), Value::String("accepted".into())),
                ("accepted_by".into(), Value::String(user.to_string())),
            ]);
        }
        changes
    }
}
