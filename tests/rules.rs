//! `smta-verify rules` (issue 13): the rules file written for an installed schema is
//! complete — `check --access` on it, unedited, judges exactly as a run without it —
//! and says where each table's rules came from.
//!
//! Proven on the reference schema in both flavours, on the adopter example (its own
//! `app` tables with its own rules file) and on the second SMTA dialect
//! (`fixtures/dialect/`), whose shape the built-in rules have to be fitted to. Each
//! pair of runs uses one seed, so both judge the same worlds.

use std::path::{Path, PathBuf};

use smta_verify::{Flavor, Report, Verifier};

const SEED: u64 = 5;
const CASES: u32 = 8;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// What a run judged: its findings by signature, and the access matrix.
fn judged(report: &Report) -> (Vec<String>, Vec<String>) {
    let mut findings: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.signature.clone())
        .collect();
    findings.sort();
    let matrix = report
        .matrix
        .iter()
        .map(|m| {
            format!(
                "{} {} {}: expected {}, observed {} ({} mismatches)",
                m.actor, m.table, m.operation, m.expected, m.observed, m.mismatches
            )
        })
        .collect();
    (findings, matrix)
}

/// The entry of `table` in a rules file: its comment lines and its keys.
fn entry<'a>(rules: &'a str, table: &str) -> &'a str {
    rules
        .split("\n\n")
        .find(|entry| entry.lines().any(|l| l == format!("[tables.\"{table}\"]")))
        .unwrap_or_else(|| panic!("{table} is listed:\n{rules}"))
}

fn round_trip(name: &str, verifier: impl Fn() -> Verifier) -> String {
    let rules = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(verifier().rules())
        .unwrap_or_else(|e| panic!("{name}: the rules could not be written: {e}"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, &rules).expect("the rules are written");
    let run = |v: Verifier| {
        v.cases(CASES)
            .rpc_sequences(8)
            .seed(SEED)
            .run_blocking()
            .unwrap_or_else(|e| panic!("{name}: the run could not be done: {e}\n{rules}"))
    };
    let without = run(verifier());
    let with = run(verifier().access_rules(&file));
    assert_eq!(
        judged(&with),
        judged(&without),
        "{name}: check --access <written rules> judged differently from check without it"
    );
    rules
}

#[test]
fn the_reference_rules_round_trip_in_both_flavours() {
    for flavor in Flavor::ALL {
        let rules = round_trip(&format!("reference ({flavor})"), || Verifier::new(flavor));
        assert!(rules.contains("[tables.\"core.memberships\"]"));
        assert!(rules.contains("# core.units: from the reference rules"));
        assert!(rules.contains("#   policy units_select_members (SELECT"));
    }
}

#[test]
fn the_adopter_example_round_trips_with_its_own_rules() {
    let app = root().join("fixtures/app");
    let rules = round_trip("adopter example", || {
        Verifier::new(Flavor::Supabase)
            .extra_sql(app.join("schema.sql"))
            .access_rules(app.join("access.toml"))
    });
    assert!(rules.contains("[tables.\"app.tasks\"]"), "{rules}");
    assert!(
        rules.contains(&format!(
            "# app.tasks: from {}",
            app.join("access.toml").display()
        )),
        "{rules}"
    );
}

#[test]
fn the_second_dialect_round_trips_with_the_fitted_rules() {
    let schema = root().join("fixtures/dialect/schema.sql");
    let rules = round_trip("dialect", || Verifier::new(Flavor::Payload).schema(&schema));
    let roles = entry(&rules, "core.roles");
    // Global roles only: readable by every user, managed by nobody.
    assert!(roles.contains("select = \"always\""), "{roles}");
    assert!(roles.contains("insert = \"never\""), "{roles}");
    assert!(!roles.contains("tenant ="), "{roles}");
    assert!(rules.contains("[tables.\"platform.invoices\"]"), "{rules}");
}

#[test]
fn a_table_the_defaults_cannot_place_gets_a_todo() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let overlay = dir.path().join("app.sql");
    std::fs::write(
        &overlay,
        "create table app.projects (id uuid primary key, organization_id uuid not null \
           references core.organizations (id), name text not null);\n\
         create table app.tasks (id uuid primary key, project_id uuid not null \
           references app.projects (id), title text not null);\n\
         alter table app.projects enable row level security;\n\
         alter table app.tasks enable row level security;\n",
    )
    .expect("write the overlay");
    let rules = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(Verifier::new(Flavor::Payload).extra_sql(&overlay).rules())
        .expect("the rules are written");
    let tasks = entry(&rules, "app.tasks");
    assert!(
        tasks.contains("TODO: it references app.projects")
            && tasks.contains("tenant = \"project_id\" with rules"),
        "{tasks}"
    );
    assert!(tasks.contains("select = \"never\""), "{tasks}");
}
