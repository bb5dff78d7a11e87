//! The checks. Each family returns findings and never prints; `report/` renders them.
//!
//! * `catalog`: grants, flags and definitions — no world needed.
//! * `privileges`: every actor × table × operation once, on the fixture world —
//!   refusals that do not depend on the rows.
//! * `audit`: the audit trail cannot be changed or forged, by anyone.
//! * `prepared`: a plan prepared by one caller never serves another caller's rows.
//! * `isolation`: generated worlds, every actor, every table, every read and write path.
//! * `rpc_matrix`: every `public` function × every kind of caller × every argument
//!   aim, once, on the fixture world — what RPC authorization does not leave to luck.
//! * `contracts`: generated RPC call sequences, each call judged by its contract.
//! * `explore`: how the two generated families spend their budget: every case, every
//!   distinct defect, each shrunk on its own.
//!
//! `runner` executes statements as actors for all of them.

pub(crate) mod audit;
pub(crate) mod catalog;
pub(crate) mod cause;
pub(crate) mod contracts;
pub(crate) mod explore;
pub(crate) mod isolation;
pub(crate) mod prepared;
pub(crate) mod privileges;
pub(crate) mod rpc;
pub(crate) mod rpc_matrix;
pub(crate) mod runner;

use crate::flavor::Flavor;

/// A psql script that seeds a world and runs `statement` after `become_sql`.
pub(crate) fn reproduction(
    flavor: Flavor,
    seed_sql: &str,
    who: &str,
    become_sql: &str,
    statement: &str,
    note: &str,
) -> String {
    format!(
        "-- smta-verify reproduction. Run against a fresh install of the same schema\n\
         -- (e.g. the database `smta-verify serve --flavor {flavor}` prints), as a superuser:\n\
         --   psql -v ON_ERROR_STOP=1 \"<connection string>\" -f this-file.sql\n\
         BEGIN;\n\
         SET TimeZone = 'UTC';\n\
         -- 1. The world of the failing case, seeded as the superuser (triggers on).\n\
         {seed_sql}\n\
         -- 2. Act as {who}.\n\
         {become_sql}\n\
         -- 3. {note}\n\
         {statement};\n\
         ROLLBACK;\n"
    )
}
