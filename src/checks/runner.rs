//! Running statements as actors, server-side, in one round trip.
//!
//! Every execution check needs the same thing: run many statements, each as some
//! actor, each without seeing the others' effects, and learn what happened. Doing that
//! from the client would cost a round trip per statement (and per role switch); the
//! runner (`runner.sql`) does it in one `DO` block, with a rolled-back subtransaction
//! per statement. This module is its Rust side: plan in, outcomes out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, Row as _};

use crate::error::Error;
use crate::flavor::{Actor, Flavor};
use crate::sql::quote_literal;
use crate::world::truth::Row;

const RUNNER: &str = include_str!("runner.sql");

/// How the runner executes a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Mode {
    /// A query returning one text value.
    #[serde(rename = "q")]
    Query,
    /// A statement whose row count is the result.
    #[serde(rename = "x")]
    Exec,
}

/// One statement to run.
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    /// Index into the actors given to [`run`].
    pub(crate) actor: usize,
    pub(crate) sql: &'a str,
    pub(crate) mode: Mode,
    /// Count rows written to the watched tables while it runs.
    pub(crate) watch_writes: bool,
    /// Also return the rows of every watched table it changed.
    pub(crate) diff: bool,
}

/// What happened to one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Outcome {
    /// Query mode: the text value; exec mode: the row count.
    pub(crate) output: Option<String>,
    pub(crate) sqlstate: Option<String>,
    pub(crate) error: Option<String>,
    /// The constraint a failure names (a unique or foreign key, a check).
    pub(crate) constraint: Option<String>,
    /// Rows inserted, updated or deleted in any watched table while it ran.
    pub(crate) writes: Option<i64>,
    /// For `diff` statements: table → all its rows afterwards, for changed tables.
    pub(crate) changed: BTreeMap<String, Vec<Row>>,
}

impl Outcome {
    pub(crate) fn failed(&self) -> bool {
        self.sqlstate.is_some()
    }

    /// Refused for lack of privilege or by row security (or a guard raising 42501).
    pub(crate) fn denied(&self) -> bool {
        self.sqlstate.as_deref() == Some("42501")
    }

    /// The keys a query returned as a JSON array.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.output
            .as_deref()
            .and_then(|o| serde_json::from_str::<Vec<serde_json::Value>>(o).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect()
    }

    /// Whether an exec-mode write took effect.
    pub(crate) fn wrote(&self) -> bool {
        !self.failed()
            && (self
                .output
                .as_deref()
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(0)
                > 0
                || self.writes.unwrap_or(0) > 0)
    }
}

/// Who an actor is, for the runner: a role, or `None` for the session's own role (the
/// superuser that owns the schema).
#[derive(Debug, Clone)]
pub(crate) enum RunAs {
    Actor(Actor),
    /// Another role by name (a table owner), with no identity.
    Role(String),
}

impl RunAs {
    fn to_json(&self, flavor: Flavor) -> serde_json::Value {
        match self {
            RunAs::Actor(a) => {
                json!({ "role": flavor.role(a), "settings": flavor.identity_settings(a) })
            }
            RunAs::Role(r) => json!({ "role": r, "settings": [] }),
        }
    }
}

/// Runs `statements` inside the current transaction and returns their outcomes in order.
pub(crate) async fn run(
    conn: &mut PgConnection,
    flavor: Flavor,
    actors: &[RunAs],
    watched: &[&String],
    statements: &[Statement<'_>],
) -> Result<Vec<Outcome>, Error> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let actors: Vec<serde_json::Value> = actors.iter().map(|a| a.to_json(flavor)).collect();
    let plan: Vec<serde_json::Value> = statements
        .iter()
        .map(|s| {
            let mut step = json!({ "a": s.actor, "m": s.mode, "s": s.sql });
            if s.watch_writes || s.diff {
                step["w"] = json!(true);
            }
            if s.diff {
                step["d"] = json!(true);
            }
            step
        })
        .collect();
    let batch = format!(
        "SELECT set_config('smta_verify.plan', {}, true), set_config('smta_verify.actors', {}, true), \
         set_config('smta_verify.watched', {}, true);\n{RUNNER};\n\
         SELECT current_setting('smta_verify.result') AS result;",
        quote_literal(&serde_json::Value::from(plan).to_string()),
        quote_literal(&serde_json::Value::from(actors).to_string()),
        quote_literal(&serde_json::to_string(watched).expect("names serialize")),
    );
    let rows = sqlx::raw_sql(&batch)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| Error::database("run the probes", e))?;
    let result: String = rows
        .last()
        .and_then(|r| r.try_get("result").ok())
        .ok_or_else(|| Error::Internal("the probe runner returned no result".into()))?;
    type Raw = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<BTreeMap<String, Vec<Row>>>,
        Option<String>,
    );
    let raw: Vec<Raw> = serde_json::from_str(&result)
        .map_err(|e| Error::Internal(format!("probe results: {e}")))?;
    Ok(raw
        .into_iter()
        .map(
            |(output, sqlstate, error, writes, changed, constraint)| Outcome {
                output,
                sqlstate,
                error,
                constraint,
                writes,
                changed: changed.unwrap_or_default(),
            },
        )
        .collect())
}
