//! Judging: each probe's outcome against the oracle, as findings and matrix cells.
//!
//! A read that shows a row the rules hide is a leak, classified by whose row it is
//! (another tenant's, the same tenant's, a soft-deleted one); a write that took effect
//! where the rules forbid it is a cross-tenant or unauthorized write, or privilege
//! escalation when it changed who may do what. Over-restriction is reported only for
//! the benign probes (reads, `SET c = c`, own-organization inserts), whose refusal
//! means a legitimate user is locked out; an attack that fails is never a finding.
//! An insert whose answer depends on a row the caller cannot read (a duplicate key, a
//! reference) is a low-severity read of that row's existence.

use std::collections::BTreeSet;

use super::plan::{key_condition, Families};
use super::probe::{Channel, Disclosure, InsertPurpose, Outcome, Probe, Step};
use crate::access::oracle::{Expect, Oracle};
use crate::access::TableModel;
use crate::catalog::Catalog;
use crate::finding::{CheckId, Finding, Severity};
use crate::flavor::{Actor, Flavor};
use crate::world::truth::{row_key, Row};

/// One cell observation of the access matrix: what an actor could do to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observation {
    pub(crate) actor: String,
    pub(crate) table: String,
    pub(crate) operation: &'static str,
    pub(crate) expected: Reach,
    pub(crate) observed: Reach,
}

/// How much of a table an operation reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Reach {
    /// Refused outright (permission denied).
    Denied,
    /// Allowed, but no row qualified.
    None,
    /// Some rows, not all.
    Filtered,
    /// Every row.
    All,
}

fn reach(rows: usize, total: usize) -> Reach {
    match rows {
        0 => Reach::None,
        n if n >= total => Reach::All,
        _ => Reach::Filtered,
    }
}

/// How often a path was exercised: probes (or rows of a set-based probe) the rules
/// allowed, and ones they refused; and what the database did with them, where a probe
/// tells: rows it reached (read, written) and rows it did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Exercise {
    pub(crate) allowed: u64,
    pub(crate) refused: u64,
    pub(crate) reached: u64,
    pub(crate) stopped: u64,
}

/// (table, operation, kind of actor) → how it was exercised. Users are kinds by their
/// standing in each row's organization, so "a member updating" and "an outsider
/// updating" are separate paths.
pub(crate) type Exercised = std::collections::BTreeMap<(String, String, String), Exercise>;

/// The result of judging a case's probes.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) findings: Vec<Finding>,
    pub(crate) observations: Vec<Observation>,
    pub(crate) exercised: Exercised,
    /// Per-row probes to run because a set-based statement failed as a whole.
    pub(crate) follow_ups: Vec<Step>,
}

pub(crate) struct Judge<'a> {
    pub(crate) flavor: Flavor,
    pub(crate) catalog: &'a Catalog,
    pub(crate) oracle: &'a Oracle<'a>,
    pub(crate) actors: &'a [Actor],
    /// The seed script of the case, for reproductions.
    pub(crate) seed_sql: &'a str,
    pub(crate) families: Families,
}

/// What row security did with a single-row write, as far as its outcome tells: it
/// wrote (let through); it succeeded without writing (`USING` kept the row out); it
/// failed on a row-security check (`WITH CHECK`). Any other failure — a missing
/// privilege, a trigger, a constraint — is not row security's decision: `None`. The
/// check reads PostgreSQL's message (its SQLSTATE, 42501, is a privilege refusal's
/// too), so a server speaking another language only ever under-reports.
fn decided_by_policy(outcome: &Outcome) -> Option<bool> {
    let row_security = |e: &str| e.contains("row-level security");
    if outcome.wrote() {
        Some(true)
    } else if !outcome.failed() || outcome.error.as_deref().is_some_and(row_security) {
        Some(false)
    } else {
        None
    }
}

/// Actor kinds as the matrix shows them.
pub(crate) fn actor_kind(actor: &Actor) -> String {
    match actor {
        Actor::User(_) => "user".into(),
        other => other.to_string(),
    }
}

impl Judge<'_> {
    fn table(&self, name: &str) -> &TableModel {
        self.oracle
            .model
            .table(name)
            .expect("probed tables are modelled")
    }

    fn rows(&self, table: &str) -> Vec<&Row> {
        self.oracle
            .truth
            .table(table)
            .map(|t| t.rows.iter().collect())
            .unwrap_or_default()
    }

    /// A psql script that seeds the case's world and runs `statement` as the actor.
    pub(crate) fn reproduction(&self, actor: &Actor, statement: &str, note: &str) -> String {
        crate::checks::reproduction(
            self.flavor,
            self.seed_sql,
            &actor.to_string(),
            &self.flavor.become_sql(actor),
            statement,
            note,
        )
    }

    fn is_service_only(&self, table: &str) -> bool {
        table
            .split_once('.')
            .is_some_and(|(schema, _)| self.oracle.model.service_only_schemas.contains(schema))
    }

    /// The check a forbidden access falls under.
    fn violation(
        &self,
        actor: &Actor,
        table: &TableModel,
        probe: &Probe,
        org: Option<&str>,
        write: bool,
    ) -> CheckId {
        let foreign = |org: Option<&str>| match (actor, org) {
            (Actor::User(id), Some(o)) => {
                !self.oracle.organizations_of(&id.to_string()).contains(o)
            }
            _ => false,
        };
        match actor {
            Actor::Anonymous | Actor::PublicOnly => return CheckId::PublicTableAccess,
            Actor::User(_) if self.is_service_only(&table.table) => {
                return CheckId::PlatformExposed
            }
            _ => {}
        }
        if table.audit && write {
            return match probe {
                Probe::Insert { .. } | Probe::Upsert { .. } => CheckId::AuditForgeable,
                _ => CheckId::AuditMutable,
            };
        }
        match probe {
            Probe::Escalate { .. }
            | Probe::Insert {
                purpose: InsertPurpose::SelfAdd | InsertPurpose::Escalate,
                ..
            } => CheckId::PrivilegeEscalation,
            // A row that changed organization crossed a tenant boundary, whichever
            // organizations the actor belongs to: it left one tenant and entered another.
            Probe::Move { .. } | Probe::MoveAll { .. } => CheckId::CrossTenantWrite,
            _ if foreign(org) => {
                if write {
                    CheckId::CrossTenantWrite
                } else {
                    CheckId::CrossTenantRead
                }
            }
            _ if write => CheckId::UnauthorizedWrite,
            _ => CheckId::UnauthorizedRead,
        }
    }

    fn org_of(&self, table: &str, key: &str) -> Option<String> {
        self.oracle.placement(table, key).organization
    }

    pub(crate) fn judge(&self, steps: &[Step], outcomes: &[Outcome]) -> Verdict {
        let mut verdict = Verdict::default();
        for (step, outcome) in steps.iter().zip(outcomes) {
            self.judge_step(step, outcome, &mut verdict);
        }
        verdict.findings = std::mem::take(&mut verdict.findings)
            .into_iter()
            .map(|f| {
                if f.cause.is_some() {
                    f
                } else {
                    crate::checks::cause::table_policies(f, self.catalog)
                }
            })
            .collect();
        verdict
    }

    fn exercise(
        &self,
        verdict: &mut Verdict,
        table: &str,
        operation: &str,
        actor: &Actor,
        org: Option<&String>,
        // Whether the rules allow it, and whether the database let it through (when
        // the probe tells).
        (allowed, reached): (bool, Option<bool>),
    ) {
        let cell = verdict
            .exercised
            .entry((
                table.to_string(),
                operation.to_string(),
                self.kind(actor, org),
            ))
            .or_default();
        if allowed {
            cell.allowed += 1;
        } else {
            cell.refused += 1;
        }
        match reached {
            Some(true) => cell.reached += 1,
            Some(false) => cell.stopped += 1,
            None => {}
        }
    }

    /// The kind of `actor` for a finding about rows of `organizations`: a user's
    /// closest relation to any of them (`user` when no organization is concerned).
    fn kind<'o>(
        &self,
        actor: &Actor,
        organizations: impl IntoIterator<Item = &'o String>,
    ) -> String {
        let Actor::User(id) = actor else {
            return actor_kind(actor);
        };
        let user = id.to_string();
        organizations
            .into_iter()
            .map(|o| self.oracle.standing(&user, o))
            .max()
            .map_or_else(|| "user".to_string(), |r| r.to_string())
    }

    fn judge_step(&self, step: &Step, outcome: &Outcome, verdict: &mut Verdict) {
        let actor = &self.actors[step.actor];
        if let Probe::ReadAll { tables } = &step.probe {
            return self.judge_read_all(step, tables, outcome, verdict);
        }
        let table = self.table(&step.table);
        match &step.probe {
            Probe::ReadAll { .. } => unreachable!("handled above"),
            Probe::Read | Probe::UpdateAll { .. } | Probe::DeleteAll => {
                self.judge_set(step, outcome, actor, table, verdict)
            }
            Probe::UpdateRow { key, .. } | Probe::DeleteRow { key } => {
                let Some(row) = self
                    .oracle
                    .truth
                    .table(&table.table)
                    .and_then(|t| t.get(key))
                else {
                    return;
                };
                // A refused delete is never over-restriction: SMTA deletes softly, and
                // business guards (the super admin, built-in roles) rightly refuse it.
                let (expect, benign) = match step.probe {
                    Probe::UpdateRow { .. } => {
                        (self.oracle.may_update(actor, table, row, row), true)
                    }
                    _ => (self.oracle.may_delete(actor, table, row), false),
                };
                let org = self.org_of(&table.table, key);
                self.judge_single(step, outcome, actor, table, expect, org, benign, verdict);
            }
            Probe::Insert { row, purpose } => {
                let expect = self.oracle.may_insert(actor, table, row);
                let org = self.oracle.place(&table.table, row).organization;
                let benign = *purpose == InsertPurpose::Own;
                self.judge_single(step, outcome, actor, table, expect, org, benign, verdict);
            }
            Probe::Reveal {
                row,
                updates,
                disclosure,
            } => {
                let old = updates
                    .as_ref()
                    .and_then(|key| self.oracle.truth.table(&table.table)?.get(key));
                let expect = match (updates, old) {
                    (None, _) => self.oracle.may_insert(actor, table, row),
                    (Some(_), Some(old)) => self.oracle.may_update(actor, table, old, row),
                    (Some(_), None) => return,
                };
                let org = self.oracle.place(&table.table, row).organization;
                self.judge_single(step, outcome, actor, table, expect, org, false, verdict);
                self.judge_reveal(step, outcome, actor, disclosure, verdict);
            }
            Probe::Move { key, new } | Probe::Escalate { key, new, .. } => {
                let Some(old) = self
                    .oracle
                    .truth
                    .table(&table.table)
                    .and_then(|t| t.get(key))
                else {
                    return;
                };
                let expect = self.oracle.may_update(actor, table, old, new);
                let org = self.oracle.place(&table.table, new).organization;
                self.judge_single(step, outcome, actor, table, expect, org, false, verdict);
            }
            Probe::MoveAll {
                column,
                value,
                organization,
            } => {
                // Judged only when the rules forbid every row's move: which rows the
                // statement reached is not known, only that it wrote.
                let all_denied = self.rows(&table.table).into_iter().all(|old| {
                    let mut new = old.clone();
                    new.insert(column.clone(), value.clone());
                    self.oracle.may_update(actor, table, old, &new) == Expect::Denied
                });
                let expect = if all_denied {
                    Expect::Denied
                } else {
                    Expect::Unchecked
                };
                let org = Some(organization.clone());
                self.judge_single(step, outcome, actor, table, expect, org, false, verdict);
            }
            Probe::Upsert { key, new } => {
                let Some(old) = self
                    .oracle
                    .truth
                    .table(&table.table)
                    .and_then(|t| t.get(key))
                else {
                    return;
                };
                let expect = self.oracle.may_update(actor, table, old, new);
                let org = self.org_of(&table.table, key);
                self.judge_single(step, outcome, actor, table, expect, org, false, verdict);
            }
        }
    }

    /// An existence probe: did the constraint answer for the hidden row?
    fn judge_reveal(
        &self,
        step: &Step,
        outcome: &Outcome,
        actor: &Actor,
        disclosure: &Disclosure,
        verdict: &mut Verdict,
    ) {
        let Disclosure {
            channel,
            constraint,
            table,
            key,
            organization,
            columns,
        } = disclosure;
        let (answer, remedy) = match channel {
            Channel::Unique
                if outcome.sqlstate.as_deref() == Some("23505")
                    && outcome.constraint.as_deref() == Some(constraint.as_str()) =>
            {
                (
                    format!("is refused with 23505 by the unique key {constraint}"),
                    "scope the key by the tenant column (unique (organization_id, …))",
                )
            }
            Channel::ForeignKey if outcome.wrote() => (
                format!(
                    "succeeds, where a value no row has is refused with 23503 by the \
                     foreign key {constraint}"
                ),
                "make the reference include the tenant column, or refer by a key the \
                 caller cannot guess",
            ),
            _ => return,
        };
        let whose = match organization {
            Some(o) => format!("of organization {o}"),
            None => "of no organization the caller belongs to".to_string(),
        };
        let check = if organization.is_some() {
            CheckId::CrossTenantRead
        } else {
            CheckId::UnauthorizedRead
        };
        let Probe::Reveal { row, .. } = &step.probe else {
            return;
        };
        let write = match step.probe.operation() {
            "UPDATE" => "an update",
            _ => "an insert",
        };
        let values = columns
            .iter()
            .map(|c| {
                let value = row.get(c).map(|v| v.to_string()).unwrap_or_default();
                format!("{c} = {value}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        verdict.findings.push(
            Finding::new(check, &step.table, step.probe.operation())
                .severity(Severity::Low)
                .actor(actor)
                .actor_kind(self.kind(actor, organization.iter()))
                .cause(
                    format!("key:{}:{constraint}", step.table),
                    format!("{constraint} on {} answers across tenants", step.table),
                    format!("In {}: {remedy}.", step.table),
                )
                .message(format!(
                    "{actor} can tell that a row they may not read exists ({table} {key}, \
                     {whose}): {write} the rules allow, with {values} taken from that row, \
                     {answer}. Whoever can guess such values learns which exist in other \
                     tenants; {remedy}"
                ))
                .reproduction(self.reproduction(
                    actor,
                    &step.sql,
                    &format!("Its outcome depends on a row the caller cannot read: {table} {key}."),
                )),
        );
    }

    /// A combined read: judged table by table, or retried table by table if it failed.
    fn judge_read_all(
        &self,
        step: &Step,
        tables: &[String],
        outcome: &Outcome,
        verdict: &mut Verdict,
    ) {
        if outcome.failed() {
            for table in tables {
                verdict
                    .follow_ups
                    .push(self.read_step(step.actor, self.table(table)));
            }
            return;
        }
        let per_table: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_str(outcome.output.as_deref().unwrap_or("{}")).unwrap_or_default();
        for table in tables {
            let single = self.read_step(step.actor, self.table(table));
            let part = Outcome {
                output: per_table.get(table).map(|v| v.to_string()),
                ..Outcome::default()
            };
            self.judge_set(
                &single,
                &part,
                &self.actors[step.actor],
                self.table(table),
                verdict,
            );
        }
    }

    fn read_step(&self, actor: usize, table: &TableModel) -> Step {
        Step {
            actor,
            table: table.table.clone(),
            probe: Probe::Read,
            sql: format!(
                "SELECT coalesce(jsonb_agg({}), '[]')::text FROM {} t",
                crate::world::truth::key_sql(&table.key),
                crate::sql::quote_qualified(&table.table)
            ),
            mode: super::probe::Mode::Query,
        }
    }

    /// Reads and whole-table writes: the set of rows reached against the set allowed.
    fn judge_set(
        &self,
        step: &Step,
        outcome: &Outcome,
        actor: &Actor,
        table: &TableModel,
        verdict: &mut Verdict,
    ) {
        let rows = self.rows(&table.table);
        let mut expected = BTreeSet::new();
        let mut unchecked = false;
        for row in &rows {
            let expect = match &step.probe {
                Probe::Read => self.oracle.may_select(actor, table, row),
                Probe::UpdateAll { .. } => self.oracle.may_update(actor, table, row, row),
                _ => self.oracle.may_delete(actor, table, row),
            };
            match expect {
                Expect::Allowed => {
                    expected.insert(row_key(row, &table.key));
                }
                Expect::Unchecked => unchecked = true,
                Expect::Denied => {}
            }
        }
        if unchecked {
            return;
        }
        let observed: BTreeSet<String> = outcome.keys().into_iter().collect();
        for row in &rows {
            let key = row_key(row, &table.key);
            let org = self.org_of(&table.table, &key);
            // A statement that failed as a whole says nothing of one row (a read is
            // refused by its privilege, not by a policy).
            let reached = (!outcome.failed()).then(|| observed.contains(&key));
            self.exercise(
                verdict,
                &table.table,
                step.probe.operation(),
                actor,
                org.as_ref(),
                (expected.contains(&key), reached),
            );
        }
        verdict.observations.push(Observation {
            actor: actor_kind(actor),
            table: table.table.clone(),
            operation: step.probe.operation(),
            expected: reach(expected.len(), rows.len()),
            observed: if outcome.failed() {
                Reach::Denied
            } else {
                reach(observed.len(), rows.len())
            },
        });

        if outcome.failed() {
            // Nothing was reached. Only a refusal of something allowed matters: a read
            // is over-restricted; a whole-table write may have failed because of one
            // row, so the allowed rows are tried one by one.
            if !expected.is_empty() {
                match &step.probe {
                    Probe::Read => verdict
                        .findings
                        .push(self.over_restricted(step, actor, table, &expected, outcome)),
                    Probe::UpdateAll { column } => {
                        for key in &expected {
                            verdict.follow_ups.push(self.row_probe(
                                step,
                                table,
                                Probe::UpdateRow {
                                    key: key.clone(),
                                    column: column.clone(),
                                },
                            ));
                        }
                    }
                    _ => {
                        for key in &expected {
                            verdict.follow_ups.push(self.row_probe(
                                step,
                                table,
                                Probe::DeleteRow { key: key.clone() },
                            ));
                        }
                    }
                }
            }
            return;
        }

        let extra: Vec<&String> = observed.difference(&expected).collect();
        let missing: BTreeSet<String> = expected.difference(&observed).cloned().collect();
        // Group leaked rows by the check they fall under, one finding per group.
        let mut groups: std::collections::BTreeMap<CheckId, Vec<&String>> = Default::default();
        for key in extra {
            let org = self.org_of(&table.table, key);
            let mut check = self.violation(
                actor,
                table,
                &step.probe,
                org.as_deref(),
                step.probe.is_write(),
            );
            if let (Probe::Read, Actor::User(id), Some(row)) = (
                &step.probe,
                actor,
                self.oracle
                    .truth
                    .table(&table.table)
                    .and_then(|t| t.get(key)),
            ) {
                let place = self.oracle.placement(&table.table, key);
                if !place.live
                    && self
                        .oracle
                        .visible_ignoring_deletion(&id.to_string(), table, row)
                {
                    check = CheckId::SoftDeletedAccess;
                }
            }
            groups.entry(check).or_default().push(key);
        }
        for (check, keys) in groups {
            let verb = match step.probe {
                Probe::Read => "can read",
                Probe::UpdateAll { .. } => "can update",
                _ => "can delete",
            };
            let rule = match step.probe {
                Probe::Read => format!("select = `{}`", rule_text(&table.select)),
                Probe::UpdateAll { .. } => format!("update = `{}`", rule_text(&table.update)),
                _ => format!("delete = `{}`", rule_text(&table.delete)),
            };
            let orgs: BTreeSet<String> = keys
                .iter()
                .filter_map(|k| self.org_of(&table.table, k))
                .collect();
            let message = format!(
                "{actor} {verb} {} row(s) of {} that the rules forbid ({rule}){}: {}",
                keys.len(),
                table.table,
                if orgs.is_empty() {
                    String::new()
                } else {
                    format!(", belonging to organization(s) {}", join(&orgs))
                },
                join(keys.iter().take(5))
            );
            let note = format!(
                "Returns the forbidden keys among others: {}",
                join(keys.iter().take(5))
            );
            verdict.findings.push(
                Finding::new(check, &table.table, step.probe.operation())
                    .actor(actor)
                    .actor_kind(self.kind(actor, &orgs))
                    .message(message)
                    .reproduction(self.reproduction(actor, &step.sql, &note)),
            );
        }
        if !missing.is_empty() {
            verdict
                .findings
                .push(self.over_restricted(step, actor, table, &missing, outcome));
        }
    }

    fn over_restricted(
        &self,
        step: &Step,
        actor: &Actor,
        table: &TableModel,
        missing: &BTreeSet<String>,
        outcome: &Outcome,
    ) -> Finding {
        let how = match &outcome.error {
            Some(e) => format!(
                "the statement failed ({}: {e})",
                outcome.sqlstate.as_deref().unwrap_or("?")
            ),
            None => "they were not reached".to_string(),
        };
        let orgs: BTreeSet<String> = missing
            .iter()
            .filter_map(|k| self.org_of(&table.table, k))
            .collect();
        Finding::new(
            CheckId::OverRestriction,
            &table.table,
            step.probe.operation(),
        )
        .actor(actor)
        .actor_kind(self.kind(actor, &orgs))
        .message(format!(
            "{actor} should reach {} row(s) of {} by {} under the rules, but {how}: {}",
            missing.len(),
            table.table,
            step.probe.operation(),
            join(missing.iter().take(5))
        ))
        .reproduction(self.reproduction(
            actor,
            &step.sql,
            "Should reach the rows named in the finding.",
        ))
    }

    fn row_probe(&self, step: &Step, table: &TableModel, probe: Probe) -> Step {
        let relation = self
            .catalog
            .relation(&table.table)
            .expect("modelled tables exist");
        let t = crate::sql::quote_qualified(&table.table);
        let sql = match &probe {
            Probe::UpdateRow { key, column } => {
                let c = crate::sql::quote_ident(column);
                format!(
                    "UPDATE {t} t SET {c} = t.{c} WHERE {}",
                    key_condition(relation, &table.key, key)
                )
            }
            Probe::DeleteRow { key } => format!(
                "DELETE FROM {t} t WHERE {}",
                key_condition(relation, &table.key, key)
            ),
            _ => unreachable!("only row follow-ups"),
        };
        Step {
            actor: step.actor,
            table: table.table.clone(),
            probe,
            sql,
            mode: super::probe::Mode::Exec,
        }
    }

    /// One statement on one row: took effect or not, against the expectation.
    #[allow(clippy::too_many_arguments)]
    fn judge_single(
        &self,
        step: &Step,
        outcome: &Outcome,
        actor: &Actor,
        table: &TableModel,
        expect: Expect,
        org: Option<String>,
        benign: bool,
        verdict: &mut Verdict,
    ) {
        let wrote = outcome.wrote();
        if expect != Expect::Unchecked {
            self.exercise(
                verdict,
                &table.table,
                step.probe.operation(),
                actor,
                org.as_ref(),
                (expect == Expect::Allowed, decided_by_policy(outcome)),
            );
        }
        match expect {
            Expect::Denied if wrote => {
                let check = self.violation(actor, table, &step.probe, org.as_deref(), true);
                let what = match &step.probe {
                    Probe::Insert {
                        purpose: InsertPurpose::SelfAdd,
                        ..
                    } => "added themselves with".to_string(),
                    Probe::Insert {
                        purpose: InsertPurpose::Impersonate,
                        ..
                    } => "inserted a row in another user's name with".to_string(),
                    Probe::Insert {
                        purpose: InsertPurpose::Escalate,
                        ..
                    } => "inserted a row referring to what the rules forbid with".to_string(),
                    Probe::Insert { .. } => "inserted a row with".to_string(),
                    Probe::Move { .. } => "moved a row to another organization with".to_string(),
                    Probe::MoveAll { .. } => "moved rows to another organization with".to_string(),
                    Probe::Upsert { .. } => {
                        "overwrote an existing row through ON CONFLICT with".to_string()
                    }
                    Probe::Escalate { columns, .. } => {
                        format!("changed {} with", columns.join(", "))
                    }
                    _ => "changed a row with".to_string(),
                };
                let mut message = format!(
                    "{actor} {what} `{}` on {} although the rules forbid it",
                    abbreviate(&step.sql),
                    table.table
                );
                if let Some(o) = &org {
                    message.push_str(&format!(" (organization {o})"));
                }
                verdict.findings.push(
                    Finding::new(check, &table.table, step.probe.operation())
                        .actor(actor)
                        .actor_kind(self.kind(actor, org.iter()))
                        .message(message)
                        .reproduction(self.reproduction(
                            actor,
                            &step.sql,
                            "Succeeds, but must be refused.",
                        )),
                );
            }
            Expect::Allowed if benign && !wrote && (outcome.denied() || !outcome.failed()) => {
                let how = match (&outcome.sqlstate, &outcome.error) {
                    (Some(code), Some(e)) => format!("it failed ({code}: {e})"),
                    _ => "it changed nothing".to_string(),
                };
                verdict.findings.push(
                    Finding::new(
                        CheckId::OverRestriction,
                        &table.table,
                        step.probe.operation(),
                    )
                    .actor(actor)
                    .actor_kind(self.kind(actor, org.iter()))
                    .message(format!(
                        "{actor} may run `{}` on {} under the rules, but {how}",
                        abbreviate(&step.sql),
                        table.table
                    ))
                    .reproduction(self.reproduction(
                        actor,
                        &step.sql,
                        "Should succeed.",
                    )),
                );
            }
            _ => {}
        }
        let _ = self.families;
    }
}

fn rule_text(expr: &crate::access::Expr) -> String {
    expr.to_string()
}

fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn abbreviate(sql: &str) -> String {
    if sql.len() > 240 {
        format!(
            "{}…",
            &sql[..sql
                .char_indices()
                .take(240)
                .last()
                .map(|(i, _)| i)
                .unwrap_or(0)]
        )
    } else {
        sql.to_string()
    }
}
