//! The privilege grid: every actor × every table × every operation, executed once.
//!
//! Whether PostgreSQL refuses an operation for lack of privilege does not depend on
//! the rows, so this runs once per run on the fixture world instead of in every case:
//! anonymous callers and PUBLIC must be refused everything everywhere (42501); users
//! must never TRUNCATE (it ignores row security) nor reach a service-only schema; the
//! service role must be able to do everything the rules grant it and nothing to an
//! audit trail. The catalog checks name the grant at fault; this proves what a client
//! can actually do, whatever the catalog query might have missed (grants through role
//! membership, column privileges, default privileges).

use crate::access::{AccessModel, ServiceAccess};
use crate::catalog::{Catalog, Relation};
use crate::checks::isolation::{Observation, Reach};
use crate::checks::runner::{self, Mode, Outcome, RunAs, Statement};
use crate::error::Error;
use crate::finding::{CheckId, Finding, Severity};
use crate::flavor::{Actor, Flavor};
use crate::sql::{quote_ident, quote_qualified};
use crate::world::Seeded;

const OPERATIONS: [&str; 5] = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"];
/// Schemas whose tables are PostgreSQL's or an extension's own business.
const SKIPPED_SCHEMAS: &[&str] = &["extensions"];

fn statement(relation: &Relation, operation: &str) -> Option<String> {
    let t = quote_qualified(&relation.qualified());
    let view = !relation.is_table();
    let first = relation.columns.first().map(|c| quote_ident(&c.name))?;
    Some(match operation {
        "SELECT" => format!("SELECT 1 FROM {t} LIMIT 1"),
        _ if view => return None,
        "INSERT" => format!("INSERT INTO {t} DEFAULT VALUES"),
        "UPDATE" => format!("UPDATE {t} SET {first} = {first} WHERE false"),
        "DELETE" => format!("DELETE FROM {t} WHERE false"),
        _ => format!("TRUNCATE {t}"),
    })
}

/// Runs the grid in the current transaction (where `seeded` was written).
pub(crate) async fn check(
    conn: &mut sqlx::PgConnection,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    seeded: &Seeded,
    user: Actor,
) -> Result<(Vec<Finding>, Vec<Observation>), Error> {
    let actors = [Actor::Anonymous, Actor::PublicOnly, user, Actor::Service];
    let relations: Vec<&Relation> = catalog
        .relations
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "r" | "p" | "v" | "m" | "f"))
        .filter(|r| !SKIPPED_SCHEMAS.contains(&r.schema.as_str()))
        .collect();
    let mut planned: Vec<(usize, &Relation, &'static str, String)> = Vec::new();
    for (a, _) in actors.iter().enumerate() {
        for relation in &relations {
            for operation in OPERATIONS {
                if let Some(sql) = statement(relation, operation) {
                    planned.push((a, relation, operation, sql));
                }
            }
        }
    }
    let statements: Vec<Statement> = planned
        .iter()
        .map(|(a, _, _, sql)| Statement {
            actor: *a,
            sql,
            mode: Mode::Exec,
            watch_writes: false,
            diff: false,
        })
        .collect();
    let run_as: Vec<RunAs> = actors.iter().cloned().map(RunAs::Actor).collect();
    let watched: Vec<&String> = Vec::new();
    let outcomes = runner::run(conn, flavor, &run_as, &watched, &statements).await?;

    let mut findings = Vec::new();
    let mut observations = Vec::new();
    for ((a, relation, operation, sql), outcome) in planned.iter().zip(&outcomes) {
        let actor = &actors[*a];
        let passed = !outcome.denied();
        observations.push(Observation {
            actor: crate::checks::isolation::actor_kind(actor),
            table: relation.qualified(),
            operation,
            expected: Reach::None,
            observed: if passed { Reach::None } else { Reach::Denied },
        });
        if let Some(finding) = judge(actor, relation, operation, outcome, model) {
            let reproduction = crate::checks::reproduction(
                flavor,
                &seeded.sql,
                &actor.to_string(),
                &flavor.become_sql(actor),
                sql,
                if passed {
                    "Must fail with SQLSTATE 42501, but passes the privilege check."
                } else {
                    "Should not be refused."
                },
            );
            let finding = finding.actor(actor).reproduction(reproduction);
            let finding = if finding.cause.is_some() {
                finding
            } else {
                let roles = catalog.roles_of(flavor.role(actor));
                crate::checks::cause::table_grant(finding, catalog, &roles, operation)
            };
            findings.push(finding);
        }
    }
    Ok((findings, observations))
}

fn judge(
    actor: &Actor,
    relation: &Relation,
    operation: &str,
    outcome: &Outcome,
    model: &AccessModel,
) -> Option<Finding> {
    let table = relation.qualified();
    let passed = !outcome.denied();
    let service_only = model.service_only_schemas.contains(&relation.schema);
    let how = |verb: &str| match &outcome.sqlstate {
        None => format!("{verb} succeeded"),
        Some(code) => format!(
            "{verb} got past the privilege check (it failed later with {code}: {})",
            outcome.error.as_deref().unwrap_or("")
        ),
    };
    match actor {
        Actor::Anonymous | Actor::PublicOnly if passed => Some(
            Finding::new(CheckId::PublicTableAccess, &table, operation).message(format!(
                "{actor}: {operation} on {table} {}; unauthenticated callers must be refused every table \
                 with 42501. Revoke the grant (see the catalog findings for which one).",
                how("")
            )),
        ),
        Actor::User(_) if passed && service_only => Some(
            Finding::new(CheckId::PlatformExposed, &table, operation).message(format!(
                "an authenticated user's {operation} on {table} {}; only the service role may reach schema {}.",
                how(""),
                relation.schema
            )),
        ),
        Actor::User(_) if passed && operation == "TRUNCATE" => Some(
            Finding::new(CheckId::PublicTableAccess, &table, operation).message(format!(
                "an authenticated user can TRUNCATE {table}: TRUNCATE ignores row level security and \
                 empties every tenant's rows."
            )),
        ),
        Actor::Service => {
            let rules = model.table(&table)?;
            let write = operation != "SELECT";
            match rules.service {
                ServiceAccess::All if !passed && operation != "TRUNCATE" => Some(
                    Finding::new(CheckId::OverRestriction, &table, operation).message(format!(
                        "the service role is refused {operation} on {table} (42501), but the rules give it \
                         full access."
                    )),
                ),
                ServiceAccess::Read if passed && write && rules.audit => Some(
                    crate::checks::audit::guard(Finding::new(
                        if operation == "INSERT" { CheckId::AuditForgeable } else { CheckId::AuditMutable },
                        &table,
                        operation,
                    ))
                    .message(format!(
                        "the service role's {operation} on audit trail {table} {}; nobody may change or \
                         write it directly.",
                        how("")
                    )),
                ),
                ServiceAccess::Read | ServiceAccess::None if passed && write => Some(
                    Finding::new(CheckId::UnauthorizedWrite, &table, operation)
                        .severity(Severity::High)
                        .message(format!(
                            "the service role's {operation} on {table} {}, but the rules allow it {}.",
                            how(""),
                            if rules.service == ServiceAccess::Read { "only to read" } else { "nothing" }
                        )),
                ),
                _ => None,
            }
        }
        _ => None,
    }
}
