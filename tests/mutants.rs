//! Mutant kills (SPEC §7): every seeded defect in `fixtures/mutants/` is caught by the
//! check its row in `fixtures/mutants/mutants.toml` names, and the reference schema
//! alone gives no finding, in both flavours. Plus the counterexample contract: a broken
//! policy yields a shrunk world, and the finding's psql script shows the leak on a
//! fresh install.
//!
//! Every run goes through the public builder, exactly as an adopter's `cargo test`
//! would, and starts its own PostgreSQL. A mutant run is a unit test's run: it stops
//! at the first failing world (`fail_fast`) and does not shrink, since only which
//! checks fire matters here; the generated RPC sequences are left to
//! `tests/rpc_contracts.rs`, which proves the RPC mutants, and the RPC matrix to
//! `tests/rpc_matrix.rs`. Set
//! `SMTA_VERIFY_MUTANTS=name,name` (file names without `.sql`) to run only some
//! mutants while working on one. Plain `cargo test` runs each mutant under one of
//! its flavours, taking turns; `SMTA_VERIFY_EVERY_FLAVOR=1` (as `.ci/run` does) runs
//! every row under every flavour it lists.

mod mutant_files;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;
use smta_verify::{
    Backend, CheckId, Decision, Families, Flavor, Report, Sandbox, Severity, SqlSource, Verifier,
};

/// Cases per run and the generator seed: fixed, so a failure here replays.
const CASES: u32 = 32;
const SEED: u64 = 1;

/// The expected-outcome table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    mutant: Vec<Mutant>,
}

/// One row: a mutant file, the flavours it is run under, and what must catch it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutant {
    /// File name inside `fixtures/mutants/`.
    file: String,
    flavors: Vec<Flavor>,
    /// Each of these checks must report at least one finding.
    kills: Vec<CheckId>,
    /// When set, the killing findings must be about this object (`schema.table`).
    object: Option<String>,
    /// When set, the killing findings must have this severity (the low-severity
    /// existence probes share their check IDs with the row leaks).
    severity: Option<Severity>,
    /// Property cases for this row; default [`CASES`]. Defects the catalog and
    /// run-wide checks find do not depend on the generated world: one case will do.
    cases: Option<u32>,
    /// PostgreSQL major versions the defect exists on; such a row is run by
    /// `tests/versions.rs` on the image of each, not here on the local server.
    versions: Option<Vec<u32>>,
}

impl Mutant {
    fn name(&self) -> &str {
        self.file.strip_suffix(".sql").unwrap_or(&self.file)
    }

    /// The expected checks that no finding of `report` shows.
    fn survivors(&self, report: &Report) -> Vec<CheckId> {
        self.kills
            .iter()
            .copied()
            .filter(|check| {
                !report.findings.iter().any(|f| {
                    f.check == *check
                        && self.object.as_ref().is_none_or(|o| names(o, &f.object))
                        && self.severity.is_none_or(|s| s == f.severity)
                })
            })
            .collect()
    }
}

/// Whether a finding's object is `wanted`: a table, or a function by name (any
/// overload: reports name functions with their argument types) or by signature.
fn names(wanted: &str, object: &str) -> bool {
    object == wanted || (!wanted.contains('(') && object.split('(').next() == Some(wanted))
}

fn mutants_dir() -> PathBuf {
    mutant_files::dir("")
}

fn table() -> Table {
    mutant_files::table(&mutants_dir())
}

/// The (check, object) pairs a report found, for failure messages.
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

/// One run through the public builder; `Err` says why it could not be done.
fn verify(flavor: Flavor, extra_sql: Option<&Path>, cases: u32) -> Result<Report, String> {
    let mut verifier = Verifier::new(flavor)
        .cases(cases)
        .seed(SEED)
        .families(Families {
            contracts: false,
            ..Families::ALL
        });
    if let Some(path) = extra_sql {
        verifier = verifier.extra_sql(path);
    }
    verifier.run_blocking().map_err(|e| e.to_string())
}

/// A mutant's run: stop at the first failing world, no shrinking, no RPC sequences,
/// and only the phases that produce the checks the row expects (issue 15: the loop
/// is the suite's slowest test). Checks of the catalog need no world at all. The RPC
/// matrix runs for RPC checks: it reaches every RPC with every kind of caller
/// whatever the worlds hold, where the sweep in generated worlds calls each RPC in a
/// quarter of them; `tests/rpc_matrix.rs` proves the matrix on its own mutants.
fn kill(mutant: &Mutant, flavor: Flavor, extra_sql: &Path) -> Result<Report, String> {
    let families = families_for(&mutant.kills);
    let worlds = families.reads || families.writes || families.escalation || families.rpc;
    Verifier::new(flavor)
        .cases(if worlds {
            mutant.cases.unwrap_or(CASES)
        } else {
            0
        })
        .seed(SEED)
        .extra_sql(extra_sql)
        .families(families)
        .fail_fast(true)
        .shrink_time(Duration::ZERO, Duration::ZERO)
        .run_blocking()
        .map_err(|e| e.to_string())
}

/// The phases whose probes report `kills`.
fn families_for(kills: &[CheckId]) -> Families {
    let mut families = Families {
        reads: false,
        writes: false,
        escalation: false,
        rpc: false,
        contracts: false,
        rpc_matrix: false,
    };
    for check in kills {
        match check {
            // Read from the catalog before any world.
            CheckId::RlsDisabled
            | CheckId::DefinerSearchPath
            | CheckId::FunctionExposed
            | CheckId::PublicSchemaObject
            | CheckId::BypassRole => {}
            CheckId::UnauthorizedRead | CheckId::SoftDeletedAccess => families.reads = true,
            // Also existence side channels, which writes refused by a key show.
            CheckId::CrossTenantRead => {
                families.reads = true;
                families.writes = true;
            }
            // Also platform rows an RPC returns.
            CheckId::PlatformExposed => {
                families.reads = true;
                families.rpc = true;
                families.rpc_matrix = true;
            }
            CheckId::RpcCrossTenant | CheckId::AuditMissing => {
                families.rpc = true;
                families.rpc_matrix = true;
            }
            // Writes, escalations, and the grants and audit rules probed by both.
            _ => {
                families.reads = true;
                families.writes = true;
                families.escalation = true;
            }
        }
    }
    families
}

#[test]
fn the_table_lists_every_mutant_file_and_nothing_else() {
    let table = table();
    let listed: BTreeSet<String> = table.mutant.iter().map(|m| m.file.clone()).collect();
    assert_eq!(
        listed.len(),
        table.mutant.len(),
        "a mutant is listed twice in mutants.toml"
    );
    let on_disk = mutant_files::sql_files(&mutants_dir());
    assert_eq!(
        on_disk, listed,
        "fixtures/mutants/*.sql and the rows of mutants.toml must match one to one"
    );
    for m in &table.mutant {
        assert!(
            !m.flavors.is_empty() && !m.kills.is_empty(),
            "{}: every mutant runs under some flavour and names the checks that kill it",
            m.file
        );
        mutant_files::assert_says_what_it_breaks(&mutants_dir(), &m.file);
        if let Some(versions) = &m.versions {
            assert!(
                !versions.is_empty() && versions.iter().all(|v| [15, 17, 18].contains(v)),
                "{}: versions lists PostgreSQL majors with an image (15, 17, 18), got {versions:?}",
                m.file
            );
        }
    }
}

/// SPEC §7: a check no mutant proves could stop firing unnoticed.
#[test]
fn every_check_is_proven_by_some_mutant() {
    let killed: BTreeSet<CheckId> = table()
        .mutant
        .iter()
        .flat_map(|m| m.kills.iter().copied())
        .collect();
    let unproven: Vec<&str> = CheckId::ALL
        .iter()
        .filter(|c| !killed.contains(c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        unproven.is_empty(),
        "no mutant in fixtures/mutants/mutants.toml proves these checks: {unproven:?}"
    );
}

#[test]
fn the_reference_schema_alone_has_no_findings() {
    // Every phase a mutant row can ask for, with the catalog; the RPC sequences have
    // their own reference test in tests/rpc_contracts.rs.
    for flavor in Flavor::ALL {
        let report = verify(flavor, None, CASES)
            .unwrap_or_else(|e| panic!("the {flavor} reference run could not be done: {e}"));
        assert!(
            report.findings.is_empty(),
            "the {flavor} reference schema must be clean:\n{}",
            report.text_summary()
        );
        assert_eq!(
            report.run.cases,
            u64::from(CASES),
            "every case ran ({flavor})"
        );
        // A clean report proves little about a path no probe took: every policy
        // application users meet is seen letting a row through and keeping one out,
        // the INSERT policies of tables that found a tenant (organizations) or whose
        // unique key names another user (memberships) included.
        let undecided: Vec<String> = report
            .policy_coverage
            .iter()
            .filter(|p| p.allow != Decision::Observed || p.deny != Decision::Observed)
            .map(|p| {
                format!(
                    "{} on {}: allow {:?}, deny {:?}",
                    p.policy, p.table, p.allow, p.deny
                )
            })
            .collect();
        assert!(
            undecided.is_empty(),
            "every {flavor} policy is seen deciding both ways: {undecided:#?}"
        );
    }
}

#[test]
fn every_mutant_is_killed_by_its_intended_check() {
    let only: Option<BTreeSet<String>> = mutant_files::selected();
    let table = table();
    let selected: Vec<&Mutant> = table
        .mutant
        .iter()
        .filter(|m| m.versions.is_none())
        .filter(|m| only.as_ref().is_none_or(|o| o.contains(m.name())))
        .collect();
    assert!(
        !selected.is_empty(),
        "SMTA_VERIFY_MUTANTS={only:?} selects no mutant of mutants.toml that runs here (rows with `versions` run in tests/versions.rs)"
    );

    // Two runs at a time: each run waits on its own server much of the time, so two
    // keep both cores busy (the loop is the slowest test of the suite).
    // Plain `cargo test` runs each mutant under one of its flavours, the flavours
    // taking turns down the table, to keep within the suite's budget;
    // SMTA_VERIFY_EVERY_FLAVOR=1 (set by .ci/run) runs each under every one.
    let every_flavor = std::env::var("SMTA_VERIFY_EVERY_FLAVOR").is_ok_and(|v| v == "1");
    let runs: Vec<(&Mutant, Flavor)> = selected
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let turn = m.flavors[i % m.flavors.len()];
            m.flavors
                .iter()
                .copied()
                .filter(move |&f| every_flavor || f == turn)
                .map(move |f| (*m, f))
        })
        .collect();
    let started = Instant::now();
    let queue = std::sync::Mutex::new(runs.iter());
    let survivors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some(&(mutant, flavor)) = queue.lock().unwrap().next() else {
                    break;
                };
                if let Some(verdict) = judge_run(mutant, flavor) {
                    survivors.lock().unwrap().push(verdict);
                }
            });
        }
    });
    let survivors = survivors.into_inner().unwrap();
    let runs = runs.len();
    eprintln!("{runs} mutant run(s) in {}", seconds(started.elapsed()));
    assert!(
        survivors.is_empty(),
        "{} mutant run(s) survived:\n  {}",
        survivors.len(),
        survivors.join("\n  ")
    );
}

/// Runs one mutant under one flavour; `Some` says how it survived.
fn judge_run(mutant: &Mutant, flavor: Flavor) -> Option<String> {
    let path = mutants_dir().join(&mutant.file);
    let run_started = Instant::now();
    let outcome = kill(mutant, flavor, &path);
    let verdict = match &outcome {
        Err(e) => format!("the run could not be done: {e}"),
        Ok(report) => {
            let missed = mutant.survivors(report);
            if missed.is_empty() {
                String::new()
            } else {
                format!(
                    "expected {}{}, found {} (seed {SEED}, {} cases)",
                    missed
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    mutant
                        .object
                        .as_ref()
                        .map(|o| format!(" on {o}"))
                        .unwrap_or_default(),
                    found(report),
                    report.run.cases
                )
            }
        }
    };
    eprintln!(
        "mutant {} ({flavor}): {} in {}",
        mutant.name(),
        if verdict.is_empty() {
            "killed"
        } else {
            "SURVIVED"
        },
        seconds(run_started.elapsed())
    );
    (!verdict.is_empty()).then(|| format!("{} ({flavor}): {verdict}", mutant.file))
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A fresh install of `flavor`'s reference schema plus `extra_sql`, for psql.
fn sandbox(runtime: &tokio::runtime::Runtime, flavor: Flavor, extra_sql: Option<&Path>) -> Sandbox {
    let mut sources = SqlSource::reference(flavor).expect("the reference schema loads");
    if let Some(path) = extra_sql {
        sources.extend(SqlSource::from_path(path).expect("the mutant loads"));
    }
    runtime
        .block_on(Sandbox::start(Backend::Auto, flavor, &sources))
        .expect("a sandbox starts")
}

/// Runs `script` with psql as the documented reproduction says; returns (success,
/// stdout, stderr).
fn psql(sandbox: &Sandbox, script: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("reproduction.sql");
    std::fs::write(&file, script).expect("the script is written");
    let output = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&file)
        .arg(sandbox.connection_string())
        .output()
        .expect("psql runs (is the PostgreSQL client installed?)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_broken_policy_yields_a_small_counterexample_whose_script_shows_the_leak() {
    for flavor in Flavor::ALL {
        counterexample_shows_the_leak(flavor);
    }
}

fn counterexample_shows_the_leak(flavor: Flavor) {
    let mutant = mutants_dir().join("units_select_too_wide.sql");
    // Shrinking as long as it takes: this is about the minimal world, not about the
    // default budget `check` keeps to. Only the reads, which show this leak: every
    // other phase would add signatures to shrink and nothing to this test.
    let report = Verifier::new(flavor)
        .families(Families {
            reads: true,
            ..families_for(&[])
        })
        .cases(CASES)
        .seed(SEED)
        .extra_sql(&mutant)
        .shrink_time(Duration::from_secs(30), Duration::from_secs(60))
        .run_blocking()
        .expect("the run could be done");

    let world = &report
        .counterexample
        .as_ref()
        .unwrap_or_else(|| {
            panic!(
                "a failing run reports its counterexample:\n{}",
                report.text_summary()
            )
        })
        .world;
    assert!(
        world.users.len() <= 3 && world.organizations.len() <= 2,
        "the {flavor} counterexample is shrunk to a small world, got {} users and {} organizations: {world:#?}",
        world.users.len(),
        world.organizations.len()
    );

    let finding = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::CrossTenantRead && f.object == "core.units")
        .unwrap_or_else(|| panic!("the leak is reported:\n{}", report.text_summary()));
    // The message ends with the forbidden keys: "…: key, key".
    let keys: Vec<String> = finding
        .message
        .rsplit_once(": ")
        .map(|(_, keys)| keys.split(", ").map(str::to_string).collect())
        .unwrap_or_default();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| uuid::Uuid::parse_str(k).is_ok()),
        "the finding names the leaked unit ids: {}",
        finding.message
    );

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let broken = sandbox(&runtime, flavor, Some(&mutant));
    let (ok, stdout, stderr) = psql(&broken, &finding.reproduction);
    assert!(
        ok,
        "the {flavor} reproduction runs without error on a fresh install with the defect\n\
         stderr:\n{stderr}\nscript:\n{}",
        finding.reproduction
    );
    for key in &keys {
        assert!(
            stdout.contains(key.as_str()),
            "psql shows the forbidden key {key} ({flavor})\nstdout:\n{stdout}\nscript:\n{}",
            finding.reproduction
        );
    }
    drop(broken);

    // Control: the same script on the reference schema runs too and shows nothing
    // forbidden, so what psql printed above is the defect, not the script.
    let reference = sandbox(&runtime, flavor, None);
    let (ok, stdout, stderr) = psql(&reference, &finding.reproduction);
    assert!(
        ok,
        "the {flavor} reproduction also runs on the reference schema\nstderr:\n{stderr}"
    );
    for key in &keys {
        assert!(
            !stdout.contains(key.as_str()),
            "the {flavor} reference schema does not show {key}\nstdout:\n{stdout}"
        );
    }
}
