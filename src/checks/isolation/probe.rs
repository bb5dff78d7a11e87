//! Probes: the statements an actor runs against a seeded world, and what each is for.
//!
//! A probe is plain data — SQL text plus what the judge needs to know about it. The
//! runner executes probes server-side (see `runner.sql`), each in a subtransaction that
//! is rolled back, so probes never see each other's effects.

pub(crate) use crate::checks::runner::{Mode, Outcome};
use crate::world::truth::Row;

/// Why an insert is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertPurpose {
    /// A row of the actor's own organization, shaped so the rules allow it.
    Own,
    /// The same row placed in an organization the actor does not belong to.
    Foreign,
    /// The actor adds themselves (to an organization, a unit, …).
    SelfAdd,
    /// The own-organization row with a column the rules say must name the actor
    /// (`self(col)`: an inviter, a creator) naming another user: writing in someone
    /// else's name.
    Impersonate,
    /// The own-organization row with a reference the rules constrain (`same_org(c)`,
    /// `!role(c, name)`) pointed at one they forbid: another tenant's role, or the
    /// super admin role handed out.
    Escalate,
}

/// The key through which an insert can tell its caller that a row exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Channel {
    /// A unique key: a duplicate is refused with 23505 naming it.
    Unique,
    /// A foreign key: a reference to no row is refused with 23503; one to a row the
    /// caller cannot read succeeds all the same.
    ForeignKey,
}

/// A row the caller may not read, and the constraint that gives it away.
#[derive(Debug, Clone)]
pub(crate) struct Disclosure {
    pub(crate) channel: Channel,
    /// The unique index or foreign-key constraint.
    pub(crate) constraint: String,
    /// The table of the revealed row, its key, and its organization if it has one.
    pub(crate) table: String,
    pub(crate) key: String,
    pub(crate) organization: Option<String>,
    /// The columns of the probed table that carry the revealed row's values.
    pub(crate) columns: Vec<String>,
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
    /// Moving every row the actor may update to `organization` with an UPDATE that
    /// has no WHERE clause: such a statement reads no column, so PostgreSQL does not
    /// hold the new rows against the SELECT policies and only WITH CHECK stops them.
    MoveAll {
        column: String,
        value: serde_json::Value,
        organization: String,
    },
    /// `INSERT … ON CONFLICT DO UPDATE` that lands on an existing row.
    Upsert {
        key: String,
        new: Row,
    },
    /// A write the rules allow but for its key (or reference) columns, which repeat
    /// (or point at) a row of another tenant: refused or accepted, it answers "does
    /// that row exist?".
    Reveal {
        /// The inserted row, or the updated row as the update would leave it.
        row: Row,
        /// The key of the updated row; `None` for an insert.
        updates: Option<String>,
        disclosure: Disclosure,
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
            | Probe::MoveAll { .. }
            | Probe::Escalate { .. } => "UPDATE",
            Probe::DeleteAll | Probe::DeleteRow { .. } => "DELETE",
            Probe::Insert { .. } | Probe::Reveal { updates: None, .. } => "INSERT",
            Probe::Reveal {
                updates: Some(_), ..
            } => "UPDATE",
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
