//! Regression snapshots of the reference schema's policy surface, in both flavours.
//!
//! The committed `tests/snapshots/*.snap` files hold exactly what `smta-verify
//! snapshot` prints: a change to a policy, a grant or a function's flags shows up as
//! a diff of them in review. After an intended change, refresh them with
//! `INSTA_UPDATE=always cargo test --test snapshots` (or `cargo insta review`) and
//! commit the result; CI runs with `INSTA_UPDATE=no`, so a stale snapshot fails.
//!
//! Snapshots are only useful if the same schema always gives the same bytes, and if
//! a change of the surface changes them: both are tested here too.

use std::process::Command;

use rstest::rstest;
use smta_verify::{Backend, Flavor, Verifier};

const BIN: &str = env!("CARGO_BIN_EXE_smta-verify");

async fn snapshot_of(verifier: Verifier) -> String {
    verifier
        .backend(Backend::Local)
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("the snapshot could not be taken: {e}"))
        .to_yaml()
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_schema_policy_surface(
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
) {
    let yaml = snapshot_of(Verifier::new(flavor)).await;
    insta::assert_snapshot!(format!("reference_{flavor}"), yaml);
}

/// The CLI twice, once to stdout and once to a file: the same bytes, and the same as
/// the library gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_give_byte_identical_output() {
    let first = Command::new(BIN)
        .args(["snapshot", "--flavor", "payload", "--backend", "local"])
        .output()
        .expect("run smta-verify snapshot");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("surface.yaml");
    let second = Command::new(BIN)
        .args([
            "snapshot",
            "--flavor",
            "payload",
            "--backend",
            "local",
            "--out",
        ])
        .arg(&file)
        .output()
        .expect("run smta-verify snapshot --out");
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(second.stdout.is_empty(), "--out leaves stdout empty");
    let written = std::fs::read(&file).expect("the snapshot file");
    assert!(first.stdout.len() > 10_000, "a whole surface is long");
    assert!(first.stdout == written, "two runs differ");
    let library = snapshot_of(Verifier::new(Flavor::Payload)).await;
    assert!(
        library.as_bytes() == written,
        "the CLI and the library differ"
    );
}

/// A loosened policy and a new grant show up where a reviewer looks for them: in the
/// policy's deparsed USING, in the grants, and as a mismatch in the access matrix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loosened_policy_changes_the_snapshot_where_it_matters() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("loosen.sql");
    std::fs::write(
        &overlay,
        "CREATE POLICY everyone_reads_units ON core.units FOR SELECT TO app_user USING (true);\n\
         GRANT SELECT ON platform.platform_settings TO app_user;\n",
    )
    .unwrap();
    let before = snapshot_of(Verifier::new(Flavor::Payload)).await;
    let after = snapshot_of(Verifier::new(Flavor::Payload).extra_sql(&overlay)).await;
    let added: Vec<&str> = {
        let old: std::collections::BTreeSet<&str> = before.lines().collect();
        after.lines().filter(|l| !old.contains(l)).collect()
    };
    let added = added.join("\n");
    for expected in [
        "everyone_reads_units:",
        "using: 'true'",
        "SELECT: all (expected filtered)",
    ] {
        assert!(
            added.contains(expected),
            "{expected:?} is not among the changed lines:\n{added}"
        );
    }
    let settings = section(&after, "  platform.platform_settings:");
    assert!(
        settings.contains("      app_user:\n      - SELECT"),
        "the new grant is not in:\n{settings}"
    );
}

/// An entry of a top-level map (`header` is its line) with the lines nested under it.
fn section(yaml: &str, header: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| *l != header);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {header:?} in the snapshot"));
    let depth = first.len() - first.trim_start().len();
    std::iter::once(first)
        .chain(lines.take_while(|l| l.len() - l.trim_start().len() > depth))
        .collect::<Vec<_>>()
        .join("\n")
}
