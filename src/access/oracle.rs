//! The oracle: what the access model says each actor may do to each row, computed from
//! the ground truth.
//!
//! Memberships are derived once per case (live memberships in live organizations,
//! unit memberships that still hold), and every row's organization, unit and liveness
//! once per row; a decision is then a walk over a rule's atoms. The oracle never looks
//! at the database or at policies — only at rows and rules.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{tenancy, AccessModel, Atom, Expr, ServiceAccess, TableModel};
use crate::flavor::Actor;
use crate::world::truth::{row_key, text, Row, Truth};

/// What the model expects of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Expect {
    Allowed,
    Denied,
    /// The model has no opinion (a table nobody declared expectations for).
    Unchecked,
}

impl From<bool> for Expect {
    fn from(allowed: bool) -> Self {
        if allowed {
            Expect::Allowed
        } else {
            Expect::Denied
        }
    }
}

/// Where a row sits: its organization, its unit, and whether app users can see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) organization: Option<String>,
    pub(crate) unit: Option<String>,
    /// Neither the row nor anything on its tenant path is soft-deleted.
    pub(crate) live: bool,
}

/// A user's relation to an organization, ordered from the farthest to the closest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Standing {
    Outsider,
    RemovedMember,
    Member,
    SuperAdmin,
}

impl std::fmt::Display for Standing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Standing::Outsider => "outsider",
            Standing::RemovedMember => "removed member",
            Standing::Member => "member",
            Standing::SuperAdmin => "super admin",
        })
    }
}

pub(crate) struct Oracle<'a> {
    pub(crate) model: &'a AccessModel,
    pub(crate) truth: &'a Truth,
    /// (user, organization) → is super admin, for live memberships in live organizations.
    members: HashMap<(String, String), bool>,
    /// (user, organization) of memberships that no longer hold (soft-deleted, or in a
    /// soft-deleted organization).
    former: HashSet<(String, String)>,
    orgs_of: HashMap<String, BTreeSet<String>>,
    unit_members: HashSet<(String, String)>,
    emails: HashMap<String, String>,
    role_names: HashMap<String, String>,
    placements: HashMap<(String, String), Placement>,
}

fn is_deleted(row: &Row) -> bool {
    row.get("is_deleted")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

impl<'a> Oracle<'a> {
    pub(crate) fn new(model: &'a AccessModel, truth: &'a Truth) -> Self {
        let mut oracle = Oracle {
            model,
            truth,
            members: HashMap::new(),
            former: HashSet::new(),
            orgs_of: HashMap::new(),
            unit_members: HashSet::new(),
            emails: HashMap::new(),
            role_names: HashMap::new(),
            placements: HashMap::new(),
        };
        oracle.derive_memberships();
        let mut placements = HashMap::new();
        for (name, rows) in &truth.tables {
            if model.table(name).is_none() {
                continue;
            }
            for row in &rows.rows {
                placements.insert((name.clone(), rows.key_of(row)), oracle.place(name, row));
            }
        }
        oracle.placements = placements;
        oracle
    }

    fn org_is_live(&self, org: &str) -> bool {
        self.truth
            .table(tenancy::ORGANIZATIONS)
            .and_then(|t| t.get(org))
            .is_some_and(|row| !is_deleted(row))
    }

    fn derive_memberships(&mut self) {
        if let Some(memberships) = self.truth.table(tenancy::MEMBERSHIPS) {
            for row in &memberships.rows {
                let (Some(user), Some(org)) =
                    (text(row.get("user_id")), text(row.get("organization_id")))
                else {
                    continue;
                };
                if is_deleted(row) || !self.org_is_live(&org) {
                    self.former.insert((user, org));
                    continue;
                }
                let admin = row
                    .get("is_super_admin")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                self.orgs_of
                    .entry(user.clone())
                    .or_default()
                    .insert(org.clone());
                self.members.insert((user, org), admin);
            }
        }
        if let (Some(unit_memberships), Some(units)) = (
            self.truth.table(tenancy::UNIT_MEMBERSHIPS),
            self.truth.table(tenancy::UNITS),
        ) {
            for row in &unit_memberships.rows {
                let (Some(user), Some(unit_id)) =
                    (text(row.get("user_id")), text(row.get("unit_id")))
                else {
                    continue;
                };
                let Some(unit) = units.get(&unit_id) else {
                    continue;
                };
                let Some(org) = text(unit.get("organization_id")) else {
                    continue;
                };
                if is_deleted(row)
                    || is_deleted(unit)
                    || !self.members.contains_key(&(user.clone(), org))
                {
                    continue;
                }
                self.unit_members.insert((user, unit_id));
            }
        }
        if let Some(users) = self.truth.table(tenancy::USERS) {
            for row in &users.rows {
                if let (Some(id), Some(email)) = (text(row.get("id")), text(row.get("email"))) {
                    self.emails.insert(id, email.to_lowercase());
                }
            }
        }
        if let Some(roles) = self.truth.table(tenancy::ROLES) {
            for row in &roles.rows {
                if let (Some(id), Some(name)) = (text(row.get("id")), text(row.get("name"))) {
                    self.role_names.insert(id, name);
                }
            }
        }
    }

    /// Follows the table's tenant path from `row` (which need not exist yet).
    pub(crate) fn place(&self, table: &str, row: &Row) -> Placement {
        let Some(model) = self.model.table(table) else {
            return Placement::default();
        };
        let mut live = !is_deleted(row);
        let mut unit = (table == tenancy::UNITS).then(|| row_key(row, &model.key));
        let mut organization = None;
        let mut current = row.clone();
        for hop in &model.tenant {
            let Some(value) = text(current.get(&hop.column)) else {
                break;
            };
            match &hop.next {
                None => {
                    organization = Some(value);
                    break;
                }
                Some((next_table, next_column)) => {
                    let Some(next) = self
                        .truth
                        .table(next_table)
                        .and_then(|t| t.find(next_column, &value).next())
                    else {
                        break;
                    };
                    live &= !is_deleted(next);
                    if next_table == tenancy::UNITS {
                        unit = text(next.get(next_column));
                    }
                    current = next.clone();
                }
            }
        }
        if let Some(org) = &organization {
            if self
                .truth
                .table(tenancy::ORGANIZATIONS)
                .is_some_and(|t| t.get(org).is_some())
            {
                live &= self.org_is_live(org);
            }
        }
        for column in &model.live_via {
            let (Some(value), Some((target, target_column))) =
                (text(row.get(column)), model.references.get(column))
            else {
                continue;
            };
            if let Some(referenced) = self
                .truth
                .table(target)
                .and_then(|t| t.find(target_column, &value).next())
            {
                if target != table {
                    live &= self.place(target, referenced).live;
                }
            }
        }
        Placement {
            organization,
            unit,
            live,
        }
    }

    /// The placement of an existing row, by key.
    pub(crate) fn placement(&self, table: &str, key: &str) -> Placement {
        self.placements
            .get(&(table.to_string(), key.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn is_member(&self, user: &str, org: &str) -> bool {
        self.members
            .contains_key(&(user.to_string(), org.to_string()))
    }

    pub(crate) fn is_super_admin(&self, user: &str, org: &str) -> bool {
        self.members
            .get(&(user.to_string(), org.to_string()))
            .copied()
            .unwrap_or(false)
    }

    /// How a user relates to an organization, closest last, for the kind of actor a
    /// finding names (never generated ids).
    pub(crate) fn standing(&self, user: &str, org: &str) -> Standing {
        let key = (user.to_string(), org.to_string());
        match self.members.get(&key) {
            Some(true) => Standing::SuperAdmin,
            Some(false) => Standing::Member,
            None if self.former.contains(&key) => Standing::RemovedMember,
            None => Standing::Outsider,
        }
    }

    /// Live organizations the user belongs to.
    pub(crate) fn organizations_of(&self, user: &str) -> BTreeSet<String> {
        self.orgs_of.get(user).cloned().unwrap_or_default()
    }

    /// Evaluates a rule for `user` on `row` placed at `place`.
    pub(crate) fn eval(
        &self,
        expr: &Expr,
        user: &str,
        table: &TableModel,
        row: &Row,
        place: &Placement,
    ) -> bool {
        match expr {
            Expr::Or(v) => v.iter().any(|e| self.eval(e, user, table, row, place)),
            Expr::And(v) => v.iter().all(|e| self.eval(e, user, table, row, place)),
            Expr::Not(e) => !self.eval(e, user, table, row, place),
            Expr::Atom(atom) => self.atom(atom, user, table, row, place),
        }
    }

    fn atom(
        &self,
        atom: &Atom,
        user: &str,
        table: &TableModel,
        row: &Row,
        place: &Placement,
    ) -> bool {
        let column = |c: &str| text(row.get(c));
        match atom {
            Atom::Never => false,
            Atom::Always => true,
            Atom::Member => place
                .organization
                .as_deref()
                .is_some_and(|o| self.is_member(user, o)),
            Atom::SuperAdmin => place
                .organization
                .as_deref()
                .is_some_and(|o| self.is_super_admin(user, o)),
            Atom::UnitMember => place
                .unit
                .as_ref()
                .is_some_and(|u| self.unit_members.contains(&(user.to_string(), u.clone()))),
            Atom::Global => table
                .tenant
                .first()
                .is_some_and(|hop| column(&hop.column).is_none()),
            Atom::SelfColumn(c) => column(c).as_deref() == Some(user),
            Atom::SharesOrg(c) => column(c).is_some_and(|other| {
                let mine = self.orgs_of.get(user);
                let theirs = self.orgs_of.get(&other);
                matches!((mine, theirs), (Some(a), Some(b)) if !a.is_disjoint(b))
            }),
            Atom::Invitee => column("email")
                .map(|e| e.to_lowercase())
                .is_some_and(|e| self.emails.get(user) == Some(&e)),
            // Both sides are timestamptz text in UTC, which orders lexically.
            Atom::Future(c) => column(c).is_some_and(|t| t.as_str() > self.truth.now.as_str()),
            Atom::Role(c, name) => column(c)
                .and_then(|id| self.role_names.get(&id))
                .is_some_and(|n| n == name),
            Atom::Is(c, value) if value == "null" => column(c).is_none(),
            Atom::Is(c, value) => column(c).as_deref() == Some(value.as_str()),
            Atom::SameOrg(c) => {
                let Some(value) = column(c) else { return true };
                let Some((target, target_column)) = table.references.get(c) else {
                    return false;
                };
                let Some(referenced) = self
                    .truth
                    .table(target)
                    .and_then(|t| t.find(target_column, &value).next())
                else {
                    return false;
                };
                let there = self.place(target, referenced);
                there.live
                    && (there.organization.is_none() || there.organization == place.organization)
            }
        }
    }

    /// May `actor` see the existing row `key` of `table`?
    pub(crate) fn may_select(&self, actor: &Actor, table: &TableModel, row: &Row) -> Expect {
        let place = self.placement(&table.table, &row_key(row, &table.key));
        match actor {
            Actor::Anonymous | Actor::PublicOnly => Expect::Denied,
            Actor::Service => match table.service {
                ServiceAccess::All | ServiceAccess::Read => Expect::Allowed,
                ServiceAccess::None => Expect::Denied,
                ServiceAccess::Unchecked => Expect::Unchecked,
            },
            Actor::User(id) => {
                let user = id.to_string();
                (place.live && self.eval(&table.select, &user, table, row, &place)).into()
            }
        }
    }

    /// Would the row be visible if soft deletion were ignored? (Tells a soft-delete
    /// leak apart from a plain one.)
    pub(crate) fn visible_ignoring_deletion(
        &self,
        user: &str,
        table: &TableModel,
        row: &Row,
    ) -> bool {
        let place = self.placement(&table.table, &row_key(row, &table.key));
        self.eval(&table.select, user, table, row, &place)
    }

    fn service_writes(&self, table: &TableModel) -> Expect {
        match table.service {
            ServiceAccess::All => Expect::Allowed,
            ServiceAccess::Read | ServiceAccess::None => Expect::Denied,
            ServiceAccess::Unchecked => Expect::Unchecked,
        }
    }

    /// May `actor` insert `new` into `table`?
    pub(crate) fn may_insert(&self, actor: &Actor, table: &TableModel, new: &Row) -> Expect {
        match actor {
            Actor::Anonymous | Actor::PublicOnly => Expect::Denied,
            Actor::Service => self.service_writes(table),
            Actor::User(id) => {
                let place = self.place(&table.table, new);
                self.eval(&table.insert, &id.to_string(), table, new, &place)
                    .into()
            }
        }
    }

    /// May `actor` turn `old` into `new`? Both sides of the rule must hold, no immutable
    /// column may change, and — as PostgreSQL checks SELECT policies against both the
    /// existing and the new row of an UPDATE that reads the table — both rows must be
    /// visible to the user (SPEC §3's trap: a soft delete by an invoker always fails).
    pub(crate) fn may_update(
        &self,
        actor: &Actor,
        table: &TableModel,
        old: &Row,
        new: &Row,
    ) -> Expect {
        match actor {
            Actor::Anonymous | Actor::PublicOnly => Expect::Denied,
            Actor::Service => self.service_writes(table),
            Actor::User(id) => {
                let user = id.to_string();
                let old_place = self.placement(&table.table, &row_key(old, &table.key));
                let new_place = self.place(&table.table, new);
                let frozen_changed = table.immutable.iter().any(|c| old.get(c) != new.get(c));
                (old_place.live
                    && new_place.live
                    && !frozen_changed
                    && self.eval(&table.select, &user, table, old, &old_place)
                    && self.eval(&table.update, &user, table, old, &old_place)
                    && self.eval(&table.select, &user, table, new, &new_place)
                    && self.eval(&table.update_check, &user, table, new, &new_place))
                .into()
            }
        }
    }

    /// May `actor` delete the existing row `old`?
    pub(crate) fn may_delete(&self, actor: &Actor, table: &TableModel, old: &Row) -> Expect {
        match actor {
            Actor::Anonymous | Actor::PublicOnly => Expect::Denied,
            Actor::Service => self.service_writes(table),
            Actor::User(id) => {
                let user = id.to_string();
                let place = self.placement(&table.table, &row_key(old, &table.key));
                (place.live && self.eval(&table.delete, &user, table, old, &place)).into()
            }
        }
    }
}
