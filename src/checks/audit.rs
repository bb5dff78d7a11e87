//! Audit trail integrity: nobody changes it, nobody forges it.
//!
//! SPEC §3: audit rows can be neither updated, deleted nor truncated — by app users,
//! by the service role, or by the table owner — and are written only by SMTA's own
//! functions. This check tries exactly that on the fixture world's audit rows (real
//! rows, so row triggers fire), plus disabling the triggers as a non-owner, plus
//! direct inserts by an app user and the service role. Tables count as audit trails
//! when the rules mark them `audit = true`.

use serde_json::Value;

use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::checks::runner::{self, Mode, RunAs, Statement};
use crate::error::Error;
use crate::finding::{CheckId, Finding};
use crate::flavor::{Actor, Flavor};
use crate::sql::{json_literal, quote_ident, quote_qualified};
use crate::world::truth::text;
use crate::world::Seeded;

/// Runs the audit checks in the current transaction (where `seeded` was written).
/// `user` must be a member of an organization with audit rows.
pub(crate) async fn check(
    conn: &mut sqlx::PgConnection,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    seeded: &Seeded,
    user: Actor,
) -> Result<Vec<Finding>, Error> {
    let mut findings = Vec::new();
    for table in model.tables.values().filter(|t| t.audit) {
        let Some(relation) = catalog.relation(&table.table) else {
            continue;
        };
        let t = quote_qualified(&table.table);
        let actors = vec![
            RunAs::Actor(user.clone()),
            RunAs::Actor(Actor::Service),
            RunAs::Role(relation.owner.clone()),
        ];
        let names = [
            user.to_string(),
            Actor::Service.to_string(),
            format!("owner ({})", relation.owner),
        ];
        let column = relation
            .columns
            .iter()
            .find(|c| !table.key.contains(&c.name))
            .map(|c| quote_ident(&c.name))
            .unwrap_or_else(|| "id".into());
        let mut planned: Vec<(usize, CheckId, &'static str, String)> = Vec::new();
        for a in 0..actors.len() {
            planned.push((
                a,
                CheckId::AuditMutable,
                "UPDATE",
                format!("UPDATE {t} SET {column} = {column}"),
            ));
            planned.push((
                a,
                CheckId::AuditMutable,
                "DELETE",
                format!("DELETE FROM {t}"),
            ));
            planned.push((
                a,
                CheckId::AuditMutable,
                "TRUNCATE",
                format!("TRUNCATE {t}"),
            ));
        }
        // Only the owner may switch triggers off; anyone else succeeding is a hole.
        for a in 0..2 {
            planned.push((
                a,
                CheckId::AuditMutable,
                "ALTER TABLE",
                format!("ALTER TABLE {t} DISABLE TRIGGER ALL"),
            ));
        }
        // Forgery: a direct insert of a row copied from a real one, as user and service.
        if let Some(template) = seeded
            .truth
            .table(&table.table)
            .and_then(|rows| rows.rows.first())
        {
            let mut row = template.clone();
            for key in &table.key {
                row.insert(
                    key.clone(),
                    Value::String("99990000-0000-4000-8000-00000000a0d1".into()),
                );
            }
            if let (Actor::User(id), true) = (&user, row.contains_key("actor_id")) {
                row.insert("actor_id".into(), Value::String(id.to_string()));
            }
            let columns: Vec<&String> = row.keys().filter(|c| relation.has_column(c)).collect();
            let values: Vec<String> = columns
                .iter()
                .map(|c| json_literal(row.get(*c), relation.column(c).expect("filtered")))
                .collect();
            let insert = format!(
                "INSERT INTO {t} ({}) VALUES ({})",
                columns
                    .iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                values.join(", ")
            );
            for a in 0..2 {
                planned.push((a, CheckId::AuditForgeable, "INSERT", insert.clone()));
            }
        }
        let statements: Vec<Statement> = planned
            .iter()
            .map(|(a, _, _, sql)| Statement {
                actor: *a,
                sql,
                mode: Mode::Exec,
                watch_writes: true,
                diff: false,
            })
            .collect();
        let watched = vec![&table.table];
        let outcomes = runner::run(conn, flavor, &actors, &watched, &statements).await?;
        let rows = seeded
            .truth
            .table(&table.table)
            .map(|t| t.rows.len())
            .unwrap_or(0);
        for ((a, check, operation, sql), outcome) in planned.iter().zip(&outcomes) {
            // TRUNCATE and ALTER report no rows: success itself is the defect. The
            // others count only when they touched a row (RLS may hide them all).
            let took_effect = match *operation {
                "TRUNCATE" | "ALTER TABLE" => !outcome.failed(),
                _ => outcome.wrote(),
            };
            if !took_effect {
                continue;
            }
            let who = &names[*a];
            let become_sql = match &actors[*a] {
                RunAs::Actor(actor) => flavor.become_sql(actor),
                RunAs::Role(role) => format!("SET LOCAL ROLE {};", quote_ident(role)),
            };
            let kind = match &actors[*a] {
                RunAs::Role(_) => "owner".to_string(),
                RunAs::Actor(actor) => crate::checks::isolation::actor_kind(actor),
            };
            findings.push(guard(
                Finding::new(*check, &table.table, *operation)
                    .actor(who)
                    .actor_kind(kind)
                    .message(format!(
                        "{who} could run `{sql}` on the audit trail {} ({rows} row(s) seeded, {} affected): \
                         audit rows must be immutable and written only by SMTA's own functions, enforced in \
                         the database (triggers that refuse UPDATE, DELETE and TRUNCATE for every role, no \
                         such grants).",
                        table.table,
                        outcome.output.as_deref().and_then(|o| text(Some(&Value::String(o.into())))).unwrap_or_default()
                    ))
                    .reproduction(crate::checks::reproduction(
                        flavor,
                        &seeded.sql,
                        who,
                        &become_sql,
                        sql,
                        "Must be refused.",
                    )),
            ));
        }
    }
    Ok(findings)
}

/// The cause of an audit finding: one guard on the table — triggers refusing UPDATE,
/// DELETE and TRUNCATE for every role (and the owner's ALTER TABLE … DISABLE TRIGGER
/// taken away), or direct INSERTs refused — fixes every actor's finding at once.
pub(crate) fn guard(finding: Finding) -> Finding {
    let table = finding.object.clone();
    if finding.check == CheckId::AuditForgeable {
        finding.cause(
            format!("audit-forgeable:{table}"),
            format!("audit trail {table} accepts rows written directly"),
            format!(
                "Revoke INSERT on {table} from every client and service role and write audit \
                 rows only from SECURITY DEFINER functions owned by a dedicated role, which set \
                 actor_id and organization_id themselves."
            ),
        )
    } else {
        finding.cause(
            format!("audit-mutable:{table}"),
            format!("audit trail {table} can be changed after the fact"),
            format!(
                "Add BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) triggers on \
                 {table} that raise for every role, revoke UPDATE, DELETE and TRUNCATE, and keep \
                 the table owned by a role nobody logs in as (an owner can disable triggers)."
            ),
        )
    }
}
