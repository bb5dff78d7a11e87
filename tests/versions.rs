//! The version matrix (issue 16, SPEC §6): the reference schema is clean, in both
//! flavours, on PostgreSQL 15, 17 and 18; the mutants that exist only on some
//! versions (`versions = [...]` in `fixtures/mutants/mutants.toml`) are caught on
//! each of them; a membership PostgreSQL 16 made inert is no finding; and the policy
//! surface YAML is the same on every version.
//!
//! Every server is a container of the registry-free image
//! `smta-verify/postgres:N`, built (or found present and current) by
//! `ci/build-postgres-image.sh --version N`. The tests need Docker and those images:
//! without them they fail, never skip. Plain `cargo test` leaves them out; `.ci/run`
//! runs them (`cargo test -- --include-ignored`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use rstest::rstest;
use serde::Deserialize;
use smta_verify::{Backend, CheckId, Flavor, Report, Verifier};

const IMAGE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/build-postgres-image.sh");
/// The versions with an image (16 is in no Debian suite).
const VERSIONS: [u32; 3] = [15, 17, 18];
/// A quick run: the catalog and run-wide checks are complete in any run, and four
/// worlds and four RPC sequences exercise every read and write path once more on the
/// version at hand. The full budget runs on the local server (tests/mutants.rs).
const CASES: u32 = 4;
const RPC_SEQUENCES: u32 = 4;
const SEED: u64 = 16;

/// `smta-verify/postgres:N`, built by the script when missing or out of date (the
/// script does nothing when it is present and current). Fails the test when it
/// cannot be had.
fn image(version: u32) -> String {
    static BUILT: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(image) = built.get(&version) {
        return image.clone();
    }
    let docker = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        docker,
        "Docker is needed by the version matrix and is not reachable (`docker info` \
         failed): start dockerd, or point DOCKER_HOST at a running engine"
    );
    let output = Command::new("bash")
        .arg(IMAGE_SCRIPT)
        .args(["--version", &version.to_string()])
        .output()
        .expect("run ci/build-postgres-image.sh");
    assert!(
        output.status.success(),
        "ci/build-postgres-image.sh --version {version} failed, so there is no \
         smta-verify/postgres:{version} to test on:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let image = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("the script prints the image name")
        .trim()
        .to_string();
    assert_eq!(image, format!("smta-verify/postgres:{version}"));
    built.insert(version, image.clone());
    image
}

fn on(version: u32, verifier: Verifier) -> Verifier {
    verifier.backend(Backend::Container).image(image(version))
}

/// `report` ran on PostgreSQL `version` (the server says so, not the image name).
fn assert_version(report: &Report, version: u32) {
    assert!(
        report
            .run
            .postgres_version
            .starts_with(&format!("{version}.")),
        "the run on smta-verify/postgres:{version} reports PostgreSQL {}",
        report.run.postgres_version
    );
}

fn found(report: &Report) -> String {
    let found: BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| format!("{} on {}", f.check, f.object))
        .collect();
    if found.is_empty() {
        "nothing".to_string()
    } else {
        found.into_iter().collect::<Vec<_>>().join(", ")
    }
}

#[rstest]
#[ignore = "needs Docker and the smta-verify/postgres:N image: cargo test -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_schema_is_clean_on_every_version(
    #[values(15, 17, 18)] version: u32,
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
) {
    let started = Instant::now();
    let report = on(version, Verifier::new(flavor))
        .cases(CASES)
        .rpc_sequences(RPC_SEQUENCES)
        .seed(SEED)
        .run()
        .await
        .unwrap_or_else(|e| panic!("the {flavor} run on PostgreSQL {version} failed: {e}"));
    assert_version(&report, version);
    assert!(
        report.findings.is_empty(),
        "the {flavor} reference schema must be clean on PostgreSQL {version}:\n{}",
        report.text_summary()
    );
    assert_eq!(report.run.cases, u64::from(CASES));
    assert!(report.summary.probes > 0, "nothing was probed");
    eprintln!(
        "PostgreSQL {version}, {flavor}: clean in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The rows of the mutant table this test runs: those with `versions`.
#[derive(Debug, Deserialize)]
struct Table {
    mutant: Vec<Mutant>,
}

#[derive(Debug, Deserialize)]
struct Mutant {
    file: String,
    flavors: Vec<Flavor>,
    kills: Vec<CheckId>,
    object: Option<String>,
    cases: Option<u32>,
    versions: Option<Vec<u32>>,
}

fn mutants_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mutants")
}

fn versioned_mutants() -> Vec<Mutant> {
    let path = mutants_dir().join("mutants.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let table: Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    table
        .mutant
        .into_iter()
        .filter(|m| m.versions.is_some())
        .collect()
}

#[test]
fn both_version_specific_features_have_mutants_on_every_version_that_has_them() {
    let mutants = versioned_mutants();
    for version in [17, 18] {
        let killers: BTreeSet<CheckId> = mutants
            .iter()
            .filter(|m| m.versions.as_ref().is_some_and(|v| v.contains(&version)))
            .flat_map(|m| m.kills.iter().copied())
            .collect();
        assert!(
            killers.contains(&CheckId::PublicTableAccess) && killers.contains(&CheckId::BypassRole),
            "PostgreSQL {version} needs a MAINTAIN mutant (public-table-access) and a \
             SET-without-INHERIT mutant (bypass-role); the table has {killers:?}"
        );
    }
    for m in &mutants {
        for v in m.versions.as_deref().unwrap_or_default() {
            assert!(VERSIONS.contains(v), "{}: no image for {v}", m.file);
        }
    }
}

#[rstest]
#[ignore = "needs Docker and the smta-verify/postgres:N image: cargo test -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_specific_mutants_are_killed_where_they_apply(#[values(17, 18)] version: u32) {
    let mutants = versioned_mutants();
    let mut runs = 0;
    let mut survivors = Vec::new();
    for m in &mutants {
        if !m.versions.as_ref().is_some_and(|v| v.contains(&version)) {
            continue;
        }
        for &flavor in &m.flavors {
            runs += 1;
            let started = Instant::now();
            let report = on(version, Verifier::new(flavor))
                .extra_sql(mutants_dir().join(&m.file))
                .cases(m.cases.unwrap_or(CASES))
                .rpc_sequences(RPC_SEQUENCES)
                .seed(SEED)
                .run()
                .await;
            let verdict = match &report {
                Err(e) => Some(format!("the run could not be done: {e}")),
                Ok(report) => {
                    assert_version(report, version);
                    let missed: Vec<String> = m
                        .kills
                        .iter()
                        .filter(|check| {
                            !report.findings.iter().any(|f| {
                                f.check == **check
                                    && m.object.as_ref().is_none_or(|o| *o == f.object)
                            })
                        })
                        .map(|c| c.to_string())
                        .collect();
                    (!missed.is_empty()).then(|| {
                        format!(
                            "expected {}{}, found {}",
                            missed.join(", "),
                            m.object
                                .as_ref()
                                .map(|o| format!(" on {o}"))
                                .unwrap_or_default(),
                            found(report)
                        )
                    })
                }
            };
            eprintln!(
                "mutant {} ({flavor}, PostgreSQL {version}): {} in {:.1} s",
                m.file,
                if verdict.is_none() {
                    "killed"
                } else {
                    "SURVIVED"
                },
                started.elapsed().as_secs_f64()
            );
            if let Some(verdict) = verdict {
                survivors.push(format!("{} ({flavor}): {verdict}", m.file));
            }
        }
    }
    assert!(runs > 0, "no mutant of mutants.toml applies to {version}");
    assert!(
        survivors.is_empty(),
        "on PostgreSQL {version}, {} mutant run(s) survived:\n  {}",
        survivors.len(),
        survivors.join("\n  ")
    );
}

/// The other side of the SET/INHERIT judgement: a grant of the BYPASSRLS role with
/// neither option (nor ADMIN) gives its member nothing on 16+, so no check may call
/// it a bypass, and nothing else changes.
#[rstest]
#[ignore = "needs Docker and the smta-verify/postgres:N image: cargo test -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inert_membership_in_the_service_role_is_no_finding(#[values(17, 18)] version: u32) {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("inert_membership.sql");
    std::fs::write(
        &overlay,
        "grant app_admin to app_user with admin false, inherit false, set false;\n",
    )
    .unwrap();
    let report = on(version, Verifier::new(Flavor::Supabase))
        .extra_sql(&overlay)
        .cases(1)
        .rpc_sequences(1)
        .seed(SEED)
        .run()
        .await
        .unwrap_or_else(|e| panic!("the run on PostgreSQL {version} failed: {e}"));
    assert_version(&report, version);
    assert!(
        report.findings.is_empty(),
        "a membership without ADMIN, INHERIT or SET reaches nothing on PostgreSQL \
         {version}, yet:\n{}",
        report.text_summary()
    );
}

/// Snapshots (issue 16, item 4): the same schema gives the same YAML on every
/// version. PostgreSQL 17 added MAINTAIN to what `GRANT ALL` and ownership give;
/// the snapshot writes a grantee holding everything as `ALL`, so that difference does
/// not show, and a MAINTAIN granted on its own still does.
#[rstest]
#[ignore = "needs Docker and the smta-verify/postgres:N image: cargo test -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_surface_is_the_same_on_every_version(
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
) {
    let mut surfaces = Vec::new();
    for version in VERSIONS {
        let yaml = on(version, Verifier::new(flavor))
            .snapshot()
            .await
            .unwrap_or_else(|e| panic!("the snapshot on PostgreSQL {version} failed: {e}"))
            .to_yaml();
        surfaces.push((version, yaml));
    }
    let (first, reference) = &surfaces[0];
    for (version, yaml) in &surfaces[1..] {
        if yaml != reference {
            let diff: Vec<String> = similar_lines(reference, yaml);
            panic!(
                "the {flavor} policy surface differs between PostgreSQL {first} and \
                 {version}:\n{}",
                diff.join("\n")
            );
        }
    }
}

/// The lines only one of two texts has, marked `-` and `+`, for a failure message.
fn similar_lines(a: &str, b: &str) -> Vec<String> {
    let only = |x: &str, y: &str, mark: char| -> Vec<String> {
        let other: BTreeSet<&str> = y.lines().collect();
        x.lines()
            .filter(|l| !other.contains(l))
            .map(|l| format!("{mark} {l}"))
            .collect()
    };
    let mut out = only(a, b, '-');
    out.extend(only(b, a, '+'));
    out.truncate(60);
    out
}

// ---------------------------------------------------------------------------------
// The local backend on other binaries (no Docker needed)

const BIN: &str = env!("CARGO_BIN_EXE_smta-verify");

/// An installed PostgreSQL's bin directory and major version, newest first.
fn installed_bindir() -> (PathBuf, u32) {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql (apt-get install postgresql-15)")
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    let (major, bin) = found.pop().expect("an installation with initdb");
    (bin, major)
}

/// `--pg-bin DIR` runs the installation in DIR, whatever else is on the machine: the
/// way to verify on PostgreSQL 17 without Docker where 17 is installed.
#[test]
fn pg_bin_runs_the_named_installation() {
    let (bindir, major) = installed_bindir();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "check",
            "--cases",
            "1",
            "--rpc-sequences",
            "1",
            "--seed",
            "1",
        ])
        .args(["--format", "json", "--flavor", "payload"])
        .arg("--pg-bin")
        .arg(&bindir)
        .arg("--out")
        .arg(out.path())
        .env_remove("SMTA_VERIFY_PG_BIN")
        .output()
        .expect("run smta-verify check");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["run"]["backend"], "local");
    let version = report["run"]["postgres_version"].as_str().unwrap();
    assert!(
        version.starts_with(&format!("{major}.")),
        "--pg-bin {} ran PostgreSQL {version}",
        bindir.display()
    );
}

/// A directory named by `--pg-bin` or `SMTA_VERIFY_PG_BIN` that holds no server is an
/// error (exit 2) naming it, never a quiet fallback to another installation.
#[test]
fn a_pg_bin_without_a_server_exits_2_and_names_the_directory() {
    let empty = tempfile::tempdir().unwrap();
    let runs: [(&[&str], Option<&Path>); 2] = [
        (&["--pg-bin", &empty.path().display().to_string()], None),
        (&[], Some(empty.path())),
    ];
    for (args, env) in runs {
        let mut command = Command::new(BIN);
        command.args(["check", "--cases", "1"]).args(args);
        command.env_remove("SMTA_VERIFY_PG_BIN");
        if let Some(dir) = env {
            command.env("SMTA_VERIFY_PG_BIN", dir);
        }
        let output = command.output().expect("run smta-verify check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let named_by = if env.is_some() {
            "SMTA_VERIFY_PG_BIN"
        } else {
            "--pg-bin"
        };
        assert!(
            stderr.contains(&empty.path().display().to_string())
                && stderr.contains(&format!("named by {named_by}"))
                && stderr.contains("initdb and postgres"),
            "{stderr}"
        );
    }
}
