//! The one error type of a run that could not be done (exit code 2).
//!
//! Findings are not errors: a run that completes and finds defects succeeds with
//! findings. An `Error` means the verdict is unknown — bad SQL, no PostgreSQL, rules
//! that name missing tables — and must never be mistaken for a pass.

use crate::install::{InstallError, SourceError};
use crate::postgres::BackendError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("installing the schema failed at {0}")]
    Install(Box<InstallError>),
    #[error(transparent)]
    Rules(#[from] crate::access::RulesError),
    #[error("a row the checks need could not be seeded: {0}")]
    Seed(String),
    #[error("internal error (please report it): {0}")]
    Internal(String),
    #[error("could not {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl From<InstallError> for Error {
    fn from(error: InstallError) -> Self {
        Self::Install(Box::new(error))
    }
}

impl Error {
    pub(crate) fn database(action: &'static str, source: sqlx::Error) -> Self {
        Self::Database { action, source }
    }
}
