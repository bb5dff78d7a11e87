//! Plans that outlive an identity: a prepared statement reused after the caller changed.
//!
//! Poolers hand one server session to many clients in turn, and drivers prepare their
//! statements. When the caller's identity is a setting (Supabase's JWT claims, Payload's
//! `app.current_user_id`) rather than a role, PostgreSQL keeps using a cached plan after
//! the identity changes. Row security is safe there only if nothing identity-dependent
//! was evaluated while planning: a helper that reads the identity but is declared
//! IMMUTABLE is folded into the plan once, and the next caller receives the previous
//! caller's rows. Freshly planned statements (what every other probe runs) never show
//! this, so this check prepares a read of each table as one user, forces the generic
//! plan, switches to a user of another organization, and compares what the prepared
//! statement returns with what a fresh statement returns for that user.

use std::collections::BTreeSet;

use sqlx::{PgConnection, Row as _};

use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::error::Error;
use crate::finding::{CheckId, Finding};
use crate::flavor::{Actor, Flavor};
use crate::sql::quote_qualified;
use crate::world::truth::key_sql;
use crate::world::Seeded;

const STATEMENT: &str = "smta_verify_prepared";

/// Runs the check in the current transaction (where `seeded` was written): `first`
/// prepares, each of `others` executes.
pub(crate) async fn check(
    conn: &mut PgConnection,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    seeded: &Seeded,
    first: &Actor,
    others: &[Actor],
) -> Result<Vec<Finding>, Error> {
    let roles = catalog.roles_of(flavor.role(first));
    let mut findings = Vec::new();
    for table in model.tables.values() {
        let Some(relation) = catalog.relation(&table.table) else {
            continue;
        };
        if !catalog.reachable(&roles, relation).select {
            continue;
        }
        let read = format!(
            "SELECT coalesce(jsonb_agg({}), '[]')::text FROM {} t",
            key_sql(&table.key),
            quote_qualified(&table.table)
        );
        for second in others {
            let probe = Probe {
                flavor,
                read: &read,
                first,
                second,
            };
            let Some((reused, fresh)) = probe.run(conn).await? else {
                continue;
            };
            let extra: Vec<&String> = reused.difference(&fresh).collect();
            if extra.is_empty() {
                continue;
            }
            findings.push(
                Finding::new(CheckId::CrossTenantRead, &table.table, "SELECT (prepared)")
                    .actor(second)
                    .message(format!(
                        "a statement prepared by {first} and executed after the session switched \
                         to {second} returned {} row(s) that {second}'s own query does not: {}. \
                         Something that depends on the caller was evaluated once, when the plan \
                         was made — typically a helper reading the caller's identity that is \
                         declared IMMUTABLE; behind a pooler, callers receive each other's rows",
                        extra.len(),
                        extra
                            .iter()
                            .take(5)
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .reproduction(probe.script(&seeded.sql))
                    .cause(
                        "prepared-plans",
                        "a value that depends on the caller is fixed when a plan is made, so \
                         reused plans serve one caller's rows to another",
                        "Find the helper the policies call to learn the caller's identity or \
                         memberships and declare it STABLE (never IMMUTABLE); it reads settings \
                         or tables that change between callers of one session.",
                    ),
            );
            break;
        }
    }
    Ok(findings)
}

/// One table's read, prepared by `first`, executed again by `second`.
struct Probe<'a> {
    flavor: Flavor,
    read: &'a str,
    first: &'a Actor,
    second: &'a Actor,
}

impl Probe<'_> {
    /// The statements up to the reused execution, for the live run and the script.
    fn steps(&self) -> [String; 5] {
        [
            // A generic plan is what a pooled session ends up with after five
            // executions; forcing it makes the first reuse show it.
            "SET LOCAL plan_cache_mode = force_generic_plan".to_string(),
            self.flavor.become_sql(self.first),
            format!("PREPARE {STATEMENT} AS {}", self.read),
            format!("EXECUTE {STATEMENT}"),
            self.flavor.become_sql(self.second),
        ]
    }

    /// The keys the reused plan and a fresh statement return for `second`; `None`
    /// when the read is refused (other checks judge refusals).
    async fn run(
        &self,
        conn: &mut PgConnection,
    ) -> Result<Option<(BTreeSet<String>, BTreeSet<String>)>, Error> {
        let database = |e| Error::database("the prepared-statement check", e);
        sqlx::raw_sql("SAVEPOINT smta_verify_prepared")
            .execute(&mut *conn)
            .await
            .map_err(database)?;
        let mut prepared = false;
        let result = async {
            for (i, step) in self.steps().iter().enumerate() {
                sqlx::raw_sql(step).execute(&mut *conn).await?;
                prepared |= i == 2;
            }
            let reused = keys(conn, &format!("EXECUTE {STATEMENT}")).await?;
            let fresh = keys(conn, self.read).await?;
            Ok::<_, sqlx::Error>((reused, fresh))
        }
        .await;
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT smta_verify_prepared")
            .execute(&mut *conn)
            .await
            .map_err(database)?;
        // Prepared statements are not transactional: the rollback keeps it.
        if prepared {
            sqlx::raw_sql(&format!("DEALLOCATE {STATEMENT}"))
                .execute(&mut *conn)
                .await
                .map_err(database)?;
        }
        Ok(result.ok())
    }

    fn script(&self, seed_sql: &str) -> String {
        let mut script = String::from(
            "-- smta-verify reproduction: a prepared statement reused across callers.\n\
             -- Run against a fresh install of the same schema, as a superuser.\n\
             BEGIN;\n",
        );
        script.push_str(seed_sql);
        script.push('\n');
        for step in self.steps() {
            script.push_str(&step);
            script.push_str(";\n");
        }
        script.push_str(&format!(
            "-- The reused plan, then a fresh statement: the first returns rows the second does not.\n\
             EXECUTE {STATEMENT};\n{};\nROLLBACK;\nDEALLOCATE {STATEMENT};\n",
            self.read
        ));
        script
    }
}

async fn keys(conn: &mut PgConnection, sql: &str) -> Result<BTreeSet<String>, sqlx::Error> {
    let row = sqlx::raw_sql(sql).fetch_one(&mut *conn).await?;
    let text: String = row.try_get(0)?;
    let values: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    Ok(values
        .iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect())
}
