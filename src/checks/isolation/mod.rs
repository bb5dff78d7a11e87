//! RLS isolation: one generated world per case, every actor, every table, every read
//! and write path, compared with the access model.
//!
//! A case is one transaction on a worker's connection: seed the world as the superuser
//! and read the ground truth back (one round trip), run every probe server-side (one
//! round trip, plus one more for row-by-row follow-ups when a whole-table statement
//! failed as a whole), judge, ROLLBACK. Nothing survives a case, so cases never leak
//! state into each other and a worker needs only one connection and one database.

mod judge;
mod plan;
mod probe;
pub(crate) mod property;

use serde_json::json;
use sqlx::{PgConnection, Row as _};

pub(crate) use judge::{Observation, Reach};
pub use plan::Families;

use crate::access::oracle::Oracle;
use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::error::Error;
use crate::finding::Finding;
use crate::flavor::{Actor, Flavor};
use crate::sql::quote_literal;
use crate::world::model::{id, Kind, World};
use crate::world::seed::{seed_block, Seeder};
use crate::world::truth::Truth;
use judge::Judge;
use plan::PlanContext;
use probe::{Outcome, Step};

const RUNNER: &str = include_str!("runner.sql");

/// What stays fixed across the cases of a run.
pub(crate) struct Environment<'a> {
    pub(crate) flavor: Flavor,
    pub(crate) catalog: &'a Catalog,
    pub(crate) model: &'a AccessModel,
    pub(crate) families: Families,
}

/// The outcome of one case.
#[derive(Debug, Default)]
pub(crate) struct CaseResult {
    pub(crate) findings: Vec<Finding>,
    pub(crate) observations: Vec<Observation>,
    pub(crate) probes: usize,
    pub(crate) rows: usize,
    /// Rows the database refused to seed, as "table: message" (other installations).
    pub(crate) seed_notes: Vec<String>,
}

/// The actors of a world: the fixed ones, then every user.
pub(crate) fn actors_of(world: &World) -> Vec<Actor> {
    let mut actors = vec![Actor::Anonymous, Actor::PublicOnly, Actor::Service];
    actors.extend((0..world.users.len()).map(|i| Actor::User(id(Kind::User, i))));
    actors
}

impl Environment<'_> {
    /// Runs one case in its own transaction, rolled back whatever happens.
    pub(crate) async fn run_case(
        &self,
        conn: &mut PgConnection,
        world: &World,
    ) -> Result<CaseResult, Error> {
        sqlx::raw_sql("BEGIN")
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::database("begin a case", e))?;
        let result = self.case_in_transaction(conn, world).await;
        let rollback = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        let result = result?;
        rollback.map_err(|e| Error::database("roll back a case", e))?;
        Ok(result)
    }

    async fn case_in_transaction(
        &self,
        conn: &mut PgConnection,
        world: &World,
    ) -> Result<CaseResult, Error> {
        let statements = Seeder::new(self.catalog, self.model).statements(world);
        let seed_sql = seed_block(&statements);
        let batch = format!(
            "{seed_sql}\nSELECT current_setting('smta_verify.seed_errors', true) AS seed_errors;\n{};",
            Truth::query(self.model)
        );
        let phase = std::time::Instant::now();
        let rows = sqlx::raw_sql(&batch)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| Error::database("seed the world", e))?;
        tracing::debug!(elapsed = ?phase.elapsed(), "seeded");
        let mut seed_errors = String::new();
        let mut truth_json = String::new();
        for row in &rows {
            if let Ok(v) = row.try_get::<Option<String>, _>("seed_errors") {
                seed_errors = v.unwrap_or_default();
            }
            if let Ok(v) = row.try_get::<String, _>("truth") {
                truth_json = v;
            }
        }
        let mut seed_notes = Vec::new();
        if let Ok(errors) = serde_json::from_str::<Vec<serde_json::Value>>(&seed_errors) {
            for e in errors {
                let note = format!(
                    "{}: {} ({})",
                    e["table"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("?"),
                    e["sqlstate"].as_str().unwrap_or("?")
                );
                if e["required"].as_bool().unwrap_or(false) {
                    return Err(Error::Seed(note));
                }
                seed_notes.push(note);
            }
        }
        let truth = Truth::from_json(&truth_json, self.model);
        let oracle = Oracle::new(self.model, &truth);
        let actors = actors_of(world);
        let actor_roles: Vec<Vec<String>> = actors
            .iter()
            .map(|a| self.catalog.roles_of(self.flavor.role(a)))
            .collect();
        let steps = PlanContext {
            catalog: self.catalog,
            oracle: &oracle,
            actors: &actors,
            actor_roles: &actor_roles,
            families: self.families,
        }
        .steps();
        let judge = Judge {
            flavor: self.flavor,
            catalog: self.catalog,
            oracle: &oracle,
            actors: &actors,
            seed_sql: &seed_sql,
            families: self.families,
        };
        let phase = std::time::Instant::now();
        let outcomes = self.run_steps(conn, &actors, &steps).await?;
        tracing::debug!(elapsed = ?phase.elapsed(), probes = steps.len(), "probed");
        let phase = std::time::Instant::now();
        let mut verdict = judge.judge(&steps, &outcomes);
        tracing::debug!(elapsed = ?phase.elapsed(), "judged");
        let mut probes = steps.len();
        if !verdict.follow_ups.is_empty() {
            let follow_ups = std::mem::take(&mut verdict.follow_ups);
            let outcomes = self.run_steps(conn, &actors, &follow_ups).await?;
            let more = judge.judge(&follow_ups, &outcomes);
            verdict.findings.extend(more.findings);
            probes += follow_ups.len();
        }
        Ok(CaseResult {
            findings: verdict.findings,
            observations: verdict.observations,
            probes,
            rows: truth.row_count(),
            seed_notes,
        })
    }

    /// Runs `steps` through the server-side runner; one round trip.
    async fn run_steps(
        &self,
        conn: &mut PgConnection,
        actors: &[Actor],
        steps: &[Step],
    ) -> Result<Vec<Outcome>, Error> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let actors_json: Vec<serde_json::Value> = actors
            .iter()
            .map(|a| {
                json!({
                    "role": self.flavor.role(a),
                    "settings": self.flavor.identity_settings(a),
                })
            })
            .collect();
        let plan: Vec<serde_json::Value> = steps
            .iter()
            .map(|s| {
                let mut step = json!({ "a": s.actor, "m": s.mode, "s": s.sql });
                if s.probe.is_write() {
                    step["w"] = json!(true);
                }
                step
            })
            .collect();
        let watched: Vec<&String> = self.model.tables.keys().collect();
        let batch = format!(
            "SELECT set_config('smta_verify.plan', {}, true), set_config('smta_verify.actors', {}, true), \
             set_config('smta_verify.watched', {}, true);\n{RUNNER};\n\
             SELECT current_setting('smta_verify.result') AS result;",
            quote_literal(&serde_json::Value::from(plan).to_string()),
            quote_literal(&serde_json::Value::from(actors_json).to_string()),
            quote_literal(&serde_json::to_string(&watched).expect("names serialize")),
        );
        let rows = sqlx::raw_sql(&batch)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| Error::database("run the probes", e))?;
        let result: String = rows
            .last()
            .and_then(|r| r.try_get("result").ok())
            .ok_or_else(|| Error::Internal("the probe runner returned no result".into()))?;
        let raw: Vec<(Option<String>, Option<String>, Option<String>, Option<i64>)> =
            serde_json::from_str(&result)
                .map_err(|e| Error::Internal(format!("probe results: {e}")))?;
        Ok(raw
            .into_iter()
            .map(|(output, sqlstate, error, writes)| Outcome {
                output,
                sqlstate,
                error,
                writes,
            })
            .collect())
    }
}
