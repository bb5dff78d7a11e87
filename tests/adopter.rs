//! The adopter example (`fixtures/app/`), verified the way an adopter would: through
//! the public API only — the `Verifier` builder and `assert_isolated` — with the
//! reference schema plus the application's own SQL and access rules.
//!
//! A clean example proves nothing on its own, so the second test seeds a defect into
//! a copy of the application's SQL (a SELECT policy that lets everyone in) and
//! requires `assert_isolated` to fail with the Markdown report naming it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use smta_verify::{assert_isolated, Flavor, Verifier};

/// Enough generated worlds to give every app table rows in several organizations,
/// few enough to keep the test quick; the seed makes a failure replay.
const CASES: u32 = 16;
const SEED: u64 = 6;

fn app_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/app")
        .join(name)
}

/// What an adopter writes in their own `cargo test`.
fn verify(app_sql: &Path) -> smta_verify::Report {
    Verifier::new(Flavor::Supabase)
        .extra_sql(app_sql)
        .access_rules(app_file("access.toml"))
        .cases(CASES)
        .seed(SEED)
        .run_blocking()
        .expect("the verification ran")
}

#[test]
fn the_example_app_keeps_tenants_and_users_apart() {
    let report = verify(&app_file("schema.sql"));
    assert_isolated(&report);
    // The app tables were verified with their own rules, not skipped or defaulted.
    for table in ["app.projects", "app.tasks", "app.user_preferences"] {
        let cells: Vec<_> = report.matrix.iter().filter(|m| m.table == table).collect();
        assert!(
            cells
                .iter()
                .any(|m| m.actor == "user" && m.operation == "SELECT" && m.observations > 0),
            "{table} was never read by a user: {cells:?}"
        );
    }
    let defaulted: Vec<&String> = report
        .notes
        .iter()
        .filter(|n| n.starts_with("app.") && n.contains("not in the access rules"))
        .collect();
    assert!(
        defaulted.is_empty(),
        "the example's tables all have rules: {defaulted:?}"
    );
}

#[test]
fn a_policy_that_lets_everyone_in_fails_the_test_with_the_markdown_report() {
    let schema = std::fs::read_to_string(app_file("schema.sql")).unwrap();
    let sound = "create policy projects_select_members on app.projects\n  \
                 for select to app_user\n  using (core.is_org_member(organization_id));";
    assert!(schema.contains(sound), "the example's SELECT policy moved");
    let broken = schema.replace(
        sound,
        "create policy projects_select_members on app.projects\n  \
         for select to app_user\n  using (true);",
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("schema.sql");
    std::fs::write(&copy, broken).unwrap();

    let report = verify(&copy);
    let failure = catch_unwind(AssertUnwindSafe(|| assert_isolated(&report)))
        .expect_err("assert_isolated must fail on a leaking policy");
    let message = failure
        .downcast_ref::<String>()
        .expect("the panic carries the report");
    for expected in [
        "## ❌ smta-verify",
        "### Findings",
        "cross-tenant-read",
        "app.projects",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing in the failure:\n{message}"
        );
    }
}
