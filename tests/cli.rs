//! The `smta-verify` command's exit codes and messages, run as a user runs it.
//!
//! 0: nothing found; 1: findings, with the check in `report.json`; 2: the run could
//! not be done, with a message that names the culprit. The clean reference run and
//! the report formats are covered in `reports.rs`, the backend flags in
//! `backends.rs`; this file covers the adopter's inputs (their SQL, their rules,
//! their server) and the mutants through the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rstest::rstest;

const BIN: &str = env!("CARGO_BIN_EXE_smta-verify");

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// Runs the command with a small number of cases and a fixed seed.
fn smta_verify(args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("SMTA_VERIFY_DATABASE_URL");
    if args.first() == Some(&"check") {
        command.args(["--cases", "6", "--seed", "1"]);
    }
    command.output().expect("run smta-verify")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

#[test]
fn the_adopter_example_passes_and_the_seed_is_printed() {
    let out = tempfile::tempdir().unwrap();
    let output = smta_verify(&[
        "check",
        "--extra-sql",
        fixture("app/schema.sql").to_str().unwrap(),
        "--access",
        fixture("app/access.toml").to_str().unwrap(),
        "--rpc-sequences",
        "2",
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("seed 1"), "the seed is printed:\n{err}");
    let report = report_json(out.path());
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(0));
    assert_eq!(report["run"]["seed"], 1);
    // Two sequences of at most 8 calls each.
    let calls: u64 = report["rpc_calls"]
        .as_array()
        .expect("rpc_calls")
        .iter()
        .map(|r| r["calls"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        (1..=16).contains(&calls),
        "{calls} RPC calls for --rpc-sequences 2"
    );
    // Not a terminal: no progress drawing, no escape codes in a CI log.
    assert!(!err.contains('\u{1b}'), "escape codes in:\n{err}");
}

#[test]
fn a_mutant_exits_1_with_its_check_in_report_json() {
    // mutants.toml: units_select_too_wide.sql is killed by cross-tenant-read on core.units.
    let table: toml::Value =
        toml::from_str(&std::fs::read_to_string(fixture("mutants/mutants.toml")).unwrap()).unwrap();
    let row = table["mutant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"].as_str() == Some("units_select_too_wide.sql"))
        .expect("the mutant's row");
    let check = row["kills"][0].as_str().unwrap();
    let object = row["object"].as_str().unwrap();

    let out = tempfile::tempdir().unwrap();
    let output = smta_verify(&[
        "check",
        "--flavor",
        "payload",
        "--extra-sql",
        fixture("mutants/units_select_too_wide.sql")
            .to_str()
            .unwrap(),
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let report = report_json(out.path());
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == check && f["object"] == object),
        "no {check} on {object} in {findings:#?}"
    );
}

#[test]
fn broken_sql_exits_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app_tables.sql");
    std::fs::write(
        &file,
        "-- an adopter's overlay\ncreate table app.ok (id uuid primary key);\n\ncreate tabel app.broken (id uuid);\n",
    )
    .unwrap();
    for command in ["check", "snapshot"] {
        let output = smta_verify(&[command, "--extra-sql", file.to_str().unwrap()]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{command}: {err}");
        let location = format!("{}:4:", file.display());
        assert!(
            err.contains(&location),
            "{command}: no {location} in:\n{err}"
        );
        assert!(err.contains("SQLSTATE 42601"), "{command}: {err}");
    }
}

/// An access rules file naming a table the database does not have.
fn rules_with_missing_table(dir: &Path) -> PathBuf {
    let path = dir.join("rules.toml");
    std::fs::write(
        &path,
        "version = 1\nextends = \"reference\"\n\n[tables.\"app.invoices\"]\nselect = \"member\"\n",
    )
    .unwrap();
    path
}

#[rstest]
#[case::unknown_flavor(&["--flavor", "firebase"], "unknown flavor `firebase`; valid flavors: supabase, payload")]
#[case::missing_schema_file(&["--schema", "/nonexistent/db/schema.sql"], "/nonexistent/db/schema.sql: No such file")]
#[case::missing_extra_sql(&["--extra-sql", "/nonexistent/app.sql"], "/nonexistent/app.sql: No such file")]
#[case::missing_rules_file(&["--access", "/nonexistent/rules.toml"], "/nonexistent/rules.toml: No such file")]
#[case::rules_naming_a_missing_table(&["--access", "{rules}"], "no table `app.invoices` in the database")]
#[case::unreachable_database_url(&["--database-url", "postgres://someone@127.0.0.1:1/postgres"], "could not connect")]
fn bad_input_exits_2_with_a_clear_message(
    #[values("check", "snapshot")] command: &str,
    #[case] args: &[&str],
    #[case] expected: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_with_missing_table(dir.path());
    let out = dir.path().join("out");
    let mut argv = vec![command.to_string()];
    argv.extend(
        args.iter()
            .map(|a| a.replace("{rules}", rules.to_str().unwrap())),
    );
    if command == "check" {
        argv.extend(["--out".into(), out.display().to_string()]);
    }
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let output = smta_verify(&argv);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{argv:?}: {err}");
    assert!(
        err.contains(expected),
        "{argv:?}: no {expected:?} in:\n{err}"
    );
    assert!(output.stdout.is_empty(), "{argv:?}: nothing on stdout");
    assert!(
        !out.exists(),
        "{argv:?}: no report for a run that was not done"
    );
}

/// The example CI workflow for adopters (`ci/github-workflow.yml`) runs `check` with
/// every format, and uploads exactly the files that run writes: when a report file is
/// renamed, the workflow must follow.
#[test]
fn the_example_workflow_uploads_the_files_check_writes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/github-workflow.yml");
    let workflow: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let steps = workflow["jobs"]["isolation"]["steps"]
        .as_sequence()
        .expect("jobs.isolation.steps");
    let run: Vec<String> = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("smta-verify check"))
        .expect("a step runs smta-verify check")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let flag = |name: &str| {
        let at = run.iter().position(|a| a == name).unwrap_or_else(|| {
            panic!("{name} missing in {run:?}");
        });
        run[at + 1].clone()
    };
    let out = flag("--out");
    let formats: Vec<smta_verify::Format> = flag("--format")
        .split(',')
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(formats, smta_verify::Format::ALL, "every format is written");

    let text = std::fs::read_to_string(&path).unwrap();
    for (format, action) in [
        (
            smta_verify::Format::Sarif,
            "github/codeql-action/upload-sarif",
        ),
        (smta_verify::Format::Junit, "action-junit-report"),
        (smta_verify::Format::Markdown, "GITHUB_STEP_SUMMARY"),
    ] {
        let file = format!("{out}/{}", format.file_name());
        assert!(text.contains(action), "{action} missing");
        let step = steps
            .iter()
            .find(|s| serde_norway::to_string(s).unwrap().contains(action))
            .unwrap();
        let step = serde_norway::to_string(step).unwrap();
        assert!(
            step.contains(&file),
            "{action} does not use {file}:\n{step}"
        );
    }
    let artifact = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .expect("the reports are attached as an artifact");
    assert_eq!(
        artifact["with"]["path"]
            .as_str()
            .map(|p| p.trim_end_matches('/')),
        Some(out.as_str())
    );
}
