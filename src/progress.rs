//! Progress events of a run, for whoever wants to show them.
//!
//! A run takes seconds to minutes; the CLI draws a spinner and a bar on a terminal.
//! The library draws nothing itself (its callers may be a CI log or `cargo test`):
//! it reports what it is doing to an optional callback, and the caller decides how,
//! or whether, to show it.

use std::fmt;
use std::sync::Arc;

/// What a run is doing. See [`Verifier::on_progress`](crate::Verifier::on_progress).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// A phase began: starting PostgreSQL, installing the schema, the catalog checks,
    /// the property cases. The text says which, for a person.
    Phase(&'static str),
    /// Property cases finished so far, of the planned total (a run that found a
    /// defect stops early and shrinks it, so `done` may stay below `total`).
    Cases { done: u64, total: u64 },
}

/// The optional callback, cheap to clone into worker threads.
#[derive(Clone, Default)]
pub(crate) struct ProgressHook(Option<Arc<dyn Fn(Progress) + Send + Sync>>);

impl ProgressHook {
    pub(crate) fn new(callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(callback)))
    }

    pub(crate) fn emit(&self, event: Progress) {
        if let Some(callback) = &self.0 {
            callback(event);
        }
    }

    pub(crate) fn phase(&self, text: &'static str) {
        self.emit(Progress::Phase(text));
    }
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressHook(set)"
        } else {
            "ProgressHook(none)"
        })
    }
}
