//! # smta-verify
//!
//! Proves on a real PostgreSQL that an SMTA multi-tenant database keeps tenants apart:
//! generated worlds of users, organizations, units, memberships and roles, every actor
//! against every table and RPC, compared with an access model.
//!
//! ```no_run
//! use smta_verify::{Flavor, Verifier};
//!
//! #[test]
//! fn my_schema_keeps_tenants_apart() {
//!     let report = Verifier::new(Flavor::Supabase)
//!         .extra_sql("db/app_tables.sql")
//!         .run_blocking()
//!         .expect("the verification ran");
//!     smta_verify::assert_isolated(&report);
//! }
//! ```

mod access;
#[doc(hidden)]
pub mod bench;
mod catalog;
mod checks;
mod error;
mod finding;
mod flavor;
mod install;
mod mutate;
mod postgres;
mod progress;
mod report;
mod sandbox;
mod snapshot;
mod sql;
mod verifier;
mod world;

pub use access::RulesError;
pub use checks::isolation::Families;
pub use error::Error;
pub use finding::{CheckId, Example, Finding, Severity, Shrink, ShrinkStatus};
pub use flavor::{Actor, Flavor, UnknownFlavor};
pub use install::{InstallError, SourceError, SqlSource};
pub use mutate::{Mutant, MutantResult, MutationKind, MutationReport, MutationRun, Score, Verdict};
pub use postgres::{Backend, BackendError};
pub use progress::Progress;
pub use report::{
    Decision, Exercised, Exploration, Format, Location, Phase, PolicyCoverage, RenderError, Report,
    RootCause, RpcCalls, RpcMatrix, RpcMatrixCell, RpcMatrixRow, RpcOutcome, ShrinkSummary,
};
pub use sandbox::Sandbox;
pub use snapshot::Snapshot;
pub use verifier::{Verifier, DEFAULT_CASES, DEFAULT_RPC_SEQUENCES};
pub use world::model::World;

/// Fails the calling test with the Markdown report (`report.md`) when the report has
/// any finding: the failure message is what a reviewer needs, reproductions included.
#[track_caller]
pub fn assert_isolated(report: &Report) {
    if !report.findings.is_empty() {
        let rendered = report
            .render(Format::Markdown)
            .unwrap_or_else(|e| format!("{e}\n{}", report.text_summary()));
        panic!(
            "smta-verify found {} isolation defect(s):\n\n{rendered}",
            report.findings.len()
        );
    }
}
