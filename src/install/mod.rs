//! Applying SQL sources in order, and the template databases that make it happen once.
//!
//! Installing a schema is the slowest step of a run, so it happens once per run into a
//! template database; every worker then clones it with `CREATE DATABASE … TEMPLATE`
//! (SPEC §6). Each file goes to the server as one multi-statement query — one round trip
//! and one implicit transaction instead of one commit per statement, which halves the
//! install. When that batch fails it has rolled back as a whole, so the file is replayed
//! one statement at a time: the failure then names the file, the line and the SQLSTATE —
//! the first thing a user needs when their SQL is wrong.

mod sources;
mod split;
mod template;

use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

pub use sources::{SourceError, SqlSource};
pub(crate) use split::split_statements;
pub(crate) use template::{Database, Template};

/// A statement of a source failed, or a source could not be split into statements.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}: {message}{}{}{}", sqlstate_suffix(.sqlstate), detail_suffix(.detail), hint_suffix(.hint))]
#[non_exhaustive]
pub struct InstallError {
    /// The source's name (its path).
    pub file: String,
    /// 1-based line in that file.
    pub line: usize,
    /// PostgreSQL's SQLSTATE, when the server refused the statement.
    pub sqlstate: Option<String>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

fn sqlstate_suffix(code: &Option<String>) -> String {
    code.as_ref()
        .map(|c| format!(" (SQLSTATE {c})"))
        .unwrap_or_default()
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_ref()
        .map(|d| format!("\n  detail: {d}"))
        .unwrap_or_default()
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default()
}

/// Applies every source in order on `conn`, stopping at the first error.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    sources: &[SqlSource],
) -> Result<(), InstallError> {
    for source in sources {
        let statements = split::split_statements(&source.sql).map_err(|e| InstallError {
            file: source.name.clone(),
            line: e.line,
            sqlstate: None,
            message: e.problem,
            detail: None,
            hint: None,
        })?;
        if batchable(&statements) && sqlx::raw_sql(&source.sql).execute(&mut *conn).await.is_ok() {
            continue;
        }
        for statement in statements {
            if let Err(error) = sqlx::raw_sql(&statement.sql).execute(&mut *conn).await {
                return Err(locate_error(&source.name, &statement, error));
            }
        }
    }
    Ok(())
}

/// Whether a file may run as one implicit transaction. A file that manages its own
/// transactions could commit half of itself before failing, and the statement-by-statement
/// replay would then trip over its own first half and blame the wrong line.
fn batchable(statements: &[split::Statement]) -> bool {
    const TRANSACTION_CONTROL: [&str; 10] = [
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
        "PREPARE",
        "CALL",
    ];
    statements.iter().all(|statement| {
        let first = statement
            .sql
            .split(|c: char| !c.is_ascii_alphabetic())
            .find(|word| !word.is_empty())
            .unwrap_or_default();
        !TRANSACTION_CONTROL
            .iter()
            .any(|keyword| first.eq_ignore_ascii_case(keyword))
    })
}

fn locate_error(file: &str, statement: &split::Statement, error: sqlx::Error) -> InstallError {
    let mut located = InstallError {
        file: file.to_string(),
        line: statement.line,
        sqlstate: None,
        message: error.to_string(),
        detail: None,
        hint: None,
    };
    if let Some(db) = error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
    {
        located.sqlstate = Some(db.code().to_string());
        located.message = db.message().to_string();
        located.detail = db.detail().map(str::to_string);
        located.hint = db.hint().map(str::to_string);
        if let Some(PgErrorPosition::Original(position)) = db.position() {
            // The position counts characters from 1 within the statement we sent.
            let before: String = statement
                .sql
                .chars()
                .take(position.saturating_sub(1))
                .collect();
            located.line += before.matches('\n').count();
        }
    }
    located
}
