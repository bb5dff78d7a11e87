//! Probes: the statements an actor runs against a seeded world, and what each is for.
//!
//! A probe is plain data — SQL text plus what the judge needs to know about it. The
//! runner executes probes server-side (see `runner.sql`), each in a subtransaction that
//! is rolled back, so probes never see each other's effects.

use serde::Serialize;

use crate::world::truth::Row;

/// How the runner executes a probe's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Mode {
    /// A query returning one text value (a JSON array of row keys).
    #[serde(rename = "q")]
    Query,
    /// A statement whose row count is the result.
    #[serde(rename = "x")]
    Exec,
}

/// Why an insert is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertPurpose {
    /// A row of the actor's own organization, shaped so the rules allow it.
    Own,
    /// The same row placed in an organization the actor does not belong to.
    Foreign,
    /// The actor adds themselves (to an organization, a unit, …).
    SelfAdd,
}

/// What a probe does, with the facts its judgement needs.
#[derive(Debug, Clone)]
pub(crate) enum Probe {
    /// Every row the actor can SELECT.
    Read,
    /// Every row of each of these tables the actor can SELECT, in one statement
    /// returning a JSON object table → keys (split into `Read`s if it fails).
    ReadAll {
        tables: Vec<String>,
    },
    /// `UPDATE … SET c = c` over the whole table: the rows the actor may update.
    UpdateAll {
        column: String,
    },
    /// `DELETE` over the whole table: the rows the actor may delete.
    DeleteAll,
    /// `UPDATE … SET c = c` of one row (a follow-up when the set-based update failed).
    UpdateRow {
        key: String,
        column: String,
    },
    /// `DELETE` of one row (a follow-up when the set-based delete failed).
    DeleteRow {
        key: String,
    },
    Insert {
        row: Row,
        purpose: InsertPurpose,
    },
    /// Moving a row to another organization by changing its tenant column.
    Move {
        key: String,
        new: Row,
    },
    /// `INSERT … ON CONFLICT DO UPDATE` that lands on an existing row.
    Upsert {
        key: String,
        new: Row,
    },
    /// Changing a privileged column (role, admin flag, invitation status) of a row.
    Escalate {
        key: String,
        new: Row,
        columns: Vec<String>,
    },
}

impl Probe {
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            Probe::Read | Probe::ReadAll { .. } => "SELECT",
            Probe::UpdateAll { .. }
            | Probe::UpdateRow { .. }
            | Probe::Move { .. }
            | Probe::Escalate { .. } => "UPDATE",
            Probe::DeleteAll | Probe::DeleteRow { .. } => "DELETE",
            Probe::Insert { .. } => "INSERT",
            Probe::Upsert { .. } => "INSERT ON CONFLICT",
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        !matches!(self, Probe::Read | Probe::ReadAll { .. })
    }
}

/// One probe: who runs it, on which table, and how.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Index into the case's actors.
    pub(crate) actor: usize,
    pub(crate) table: String,
    pub(crate) probe: Probe,
    pub(crate) sql: String,
    pub(crate) mode: Mode,
}

/// What the runner saw for one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Query mode: the JSON text; exec mode: the row count.
    pub(crate) output: Option<String>,
    pub(crate) sqlstate: Option<String>,
    pub(crate) error: Option<String>,
    /// Rows inserted, updated or deleted in any checked table while the probe ran.
    pub(crate) writes: Option<i64>,
}

impl Outcome {
    pub(crate) fn failed(&self) -> bool {
        self.sqlstate.is_some()
    }

    /// Refused for lack of privilege or by row security (or a guard raising 42501).
    pub(crate) fn denied(&self) -> bool {
        self.sqlstate.as_deref() == Some("42501")
    }

    /// The keys a query-mode probe returned.
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
