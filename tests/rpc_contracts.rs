//! RPC contracts (issue 8): generated call sequences judged by `fixtures/access/rpc.toml`.
//!
//! The reference schema must give no finding in either flavour while every RPC of SPEC
//! §2 is called; every RPC defect in `fixtures/mutants/rpc/` must be caught by the
//! check its row in `fixtures/mutants/rpc/mutants.toml` names, on the RPC it names,
//! by the contract check alone (the other probe families are switched off). Each run
//! goes through the public builder and starts its own PostgreSQL. Set
//! `SMTA_VERIFY_MUTANTS=name,name` to run only some mutants.

mod mutant_files;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;
use smta_verify::{Backend, CheckId, Families, Flavor, Report, Sandbox, SqlSource, Verifier};

const SEED: u64 = 8;

/// Only the contract check: what it catches, it catches alone.
const CONTRACTS_ONLY: Families = Families {
    reads: false,
    writes: false,
    escalation: false,
    rpc: false,
    contracts: true,
    rpc_matrix: false,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    mutant: Vec<Mutant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutant {
    file: String,
    flavors: Vec<Flavor>,
    kills: Vec<CheckId>,
    /// When true, one of `kills` suffices (the defect fits several checks, depending
    /// on who the shrunk sequence's caller is).
    #[serde(default)]
    any: bool,
    /// The RPCs (`public.name`, any overload) the killing finding may be about.
    objects: Vec<String>,
}

fn mutants_dir() -> PathBuf {
    mutant_files::dir("rpc")
}

fn table() -> Table {
    mutant_files::table(&mutants_dir())
}

fn verify(flavor: Flavor, sequences: u32, extra_sql: Option<&Path>) -> Report {
    let mut verifier = Verifier::new(flavor)
        .families(Families {
            rpc_matrix: true,
            ..CONTRACTS_ONLY
        })
        .cases(1)
        .workers(1)
        .rpc_sequences(sequences)
        .seed(SEED);
    if let Some(path) = extra_sql {
        verifier = verifier.extra_sql(path);
    }
    verifier
        .run_blocking()
        .unwrap_or_else(|e| panic!("the {flavor} run could not be done: {e}"))
}

/// A mutant's run: stops at the first failing sequence and does not shrink; which
/// checks fire on which RPC is all that is judged.
fn kill(flavor: Flavor, sequences: u32, extra_sql: &Path) -> Report {
    Verifier::new(flavor)
        .families(CONTRACTS_ONLY)
        .cases(1)
        .workers(1)
        .rpc_sequences(sequences)
        .seed(SEED)
        .extra_sql(extra_sql)
        .fail_fast(true)
        .shrink_time(Duration::ZERO, Duration::ZERO)
        .run_blocking()
        .unwrap_or_else(|e| panic!("the {flavor} run could not be done: {e}"))
}

fn found(report: &Report) -> String {
    let found: BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| format!("{} on {}", f.check, f.object))
        .collect();
    if found.is_empty() {
        "nothing".into()
    } else {
        found.into_iter().collect::<Vec<_>>().join(", ")
    }
}

#[test]
fn the_reference_schema_keeps_every_contract_and_every_rpc_is_called() {
    for flavor in Flavor::ALL {
        let started = Instant::now();
        let report = verify(flavor, 96, None);
        assert!(
            report.findings.is_empty(),
            "the {flavor} reference schema must keep its RPC contracts:\n{}",
            report.text_summary()
        );
        assert!(
            !report.notes.iter().any(|n| n.contains("RPC contract")),
            "every contract binds to a reference RPC: {:?}",
            report.notes
        );
        assert_eq!(
            report.rpc_calls.len(),
            47,
            "every RPC of SPEC §2 has a contract"
        );
        let calls: u64 = report.rpc_calls.iter().map(|c| c.calls).sum();
        let successes: u64 = report.rpc_calls.iter().map(|c| c.successes).sum();
        eprintln!(
            "{flavor}: 96 sequences, {calls} calls ({successes} succeeded) in {:.1?}",
            started.elapsed()
        );
        for c in &report.rpc_calls {
            eprintln!("  {:<70} {:>4} {:>4}", c.function, c.calls, c.successes);
        }
        // The sequences weigh writes over reads, so a read RPC may go uncalled under
        // some seeds; the RPC matrix calls every one every run, and the two together
        // are the run's coverage.
        let matrix = report.rpc_matrix.as_ref().expect("the RPC matrix ran");
        let never: Vec<&str> = report
            .rpc_calls
            .iter()
            .filter(|c| {
                let by_matrix: u64 = matrix
                    .functions
                    .iter()
                    .filter(|r| r.function == c.function)
                    .flat_map(|r| &r.cells)
                    .map(|cell| cell.calls)
                    .sum();
                c.calls + by_matrix == 0
            })
            .map(|c| c.function.as_str())
            .collect();
        assert!(
            never.is_empty(),
            "{flavor}: never called, by the sequences or the matrix: {never:?}"
        );
        assert!(
            successes > 0 && successes < calls,
            "{flavor}: both allowed and refused calls happen ({successes} of {calls})"
        );
    }
}

#[test]
fn an_rpc_missing_or_with_another_signature_is_a_note_not_a_crash() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let overlay = dir.path().join("other_signatures.sql");
    std::fs::write(
        &overlay,
        "drop function public.get_audit_log(uuid, integer);\n\
         create function public.get_audit_log(p_org_id uuid) returns setof core.audit_logs\n\
           language sql stable set search_path = '' as $$ select * from core.audit_logs a where a.organization_id = p_org_id $$;\n\
         drop function public.get_user_units(uuid);\n",
    )
    .expect("write the overlay");
    let report = verify(Flavor::Payload, 4, Some(&overlay));
    let notes = report.notes.join("\n");
    assert!(
        notes.contains("public.get_audit_log(uuid, integer): the database has public.get_audit_log(p_org_id uuid) instead"),
        "{notes}"
    );
    assert!(
        notes.contains("public.get_user_units(uuid): the database has no such function"),
        "{notes}"
    );
    assert!(
        !report
            .rpc_calls
            .iter()
            .any(|c| c.function.starts_with("public.get_audit_log")),
        "a skipped contract is not in the coverage table"
    );
}

#[test]
fn the_mutant_table_lists_every_rpc_mutant_file() {
    let listed: BTreeSet<String> = table().mutant.iter().map(|m| m.file.clone()).collect();
    let on_disk = mutant_files::sql_files(&mutants_dir());
    assert_eq!(on_disk, listed);
    for m in &table().mutant {
        mutant_files::assert_says_what_it_breaks(&mutants_dir(), &m.file);
        assert!(!m.flavors.is_empty() && !m.kills.is_empty(), "{}", m.file);
    }
}

/// Sequences per mutant run: a mutant's run stops at its first failing sequence, so
/// only a surviving mutant costs them all. `SMTA_VERIFY_RPC_SEQUENCES` overrides.
fn mutant_sequences() -> u32 {
    std::env::var("SMTA_VERIFY_RPC_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[test]
fn every_rpc_mutant_is_caught_by_its_intended_check() {
    let only: Option<BTreeSet<String>> = mutant_files::selected();
    let table = table();
    let runs: Vec<(&Mutant, Flavor)> = table
        .mutant
        .iter()
        .filter(|m| {
            only.as_ref()
                .is_none_or(|o| o.contains(m.file.trim_end_matches(".sql")))
        })
        .flat_map(|m| m.flavors.iter().map(move |&f| (m, f)))
        .collect();
    let runs_count = runs.len();
    // Two runs at a time: a run's sequences use one connection, so one run leaves a
    // core idle.
    let queue = std::sync::Mutex::new(runs.into_iter());
    let survivors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some((mutant, flavor)) = queue.lock().unwrap().next() else {
                    break;
                };
                if let Some(survivor) = judge_rpc_mutant(mutant, flavor) {
                    survivors.lock().unwrap().push(survivor);
                }
            });
        }
    });
    let survivors = survivors.into_inner().unwrap();
    assert!(
        runs_count > 0,
        "SMTA_VERIFY_MUTANTS={only:?} selects no mutant"
    );
    assert!(
        survivors.is_empty(),
        "surviving RPC mutants:\n{}",
        survivors.join("\n")
    );
}

/// One RPC mutant under one flavour; `Some` says how it survived.
fn judge_rpc_mutant(mutant: &Mutant, flavor: Flavor) -> Option<String> {
    let name = mutant.file.trim_end_matches(".sql");
    let started = Instant::now();
    let report = kill(
        flavor,
        mutant_sequences(),
        &mutants_dir().join(&mutant.file),
    );
    let missed: Vec<CheckId> = mutant
        .kills
        .iter()
        .copied()
        .filter(|k| {
            !report.findings.iter().any(|f| {
                f.check == *k
                    && mutant
                        .objects
                        .iter()
                        .any(|o| f.object.split('(').next() == Some(o.as_str()))
            })
        })
        .collect();
    eprintln!(
        "{name} ({flavor}): {} in {:.1?}",
        if missed.len() < mutant.kills.len() {
            "caught"
        } else {
            "SURVIVED"
        },
        started.elapsed()
    );
    if let Some(f) = report.findings.first() {
        eprintln!(
            "  first finding: {} on {}: {}",
            f.check, f.object, f.message
        );
    }
    let survived = if mutant.any {
        missed.len() == mutant.kills.len()
    } else {
        !missed.is_empty()
    };
    if survived {
        return Some(format!(
            "{name} ({flavor}): expected {missed:?} on {:?}, found {}",
            mutant.objects,
            found(&report)
        ));
    }
    // The failing sequence replays as a psql script.
    for f in &report.findings {
        let script = &f.reproduction;
        assert!(
            script.contains("BEGIN;") && script.contains("-- call 1 as"),
            "{name}: a finding carries its replay script"
        );
    }
    None
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

/// Runs a replay script as its header says; returns (exit status, stdout, stderr).
fn psql(sandbox: &Sandbox, script: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("replay.sql");
    std::fs::write(&file, script).expect("the script is written");
    let output = Command::new("psql")
        .args(["-X", "-f"])
        .arg(&file)
        .arg(sandbox.connection_string())
        .output()
        .expect("psql runs (is the PostgreSQL client installed?)");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_minimal_sequence_replays_with_psql() {
    let flavor = Flavor::Payload;
    let mutant = mutants_dir().join("accept_invitation_any_email.sql");
    // Shrinking as long as it takes: this test is about the minimal sequence, not
    // about the default budget (3 s per defect) that `check` keeps to.
    let report = Verifier::new(flavor)
        .families(CONTRACTS_ONLY)
        .cases(1)
        .workers(1)
        .rpc_sequences(64)
        .seed(SEED)
        .extra_sql(&mutant)
        .shrink_time(Duration::from_secs(60), Duration::from_secs(120))
        .run_blocking()
        .expect("the run could be done");
    let finding = report
        .findings
        .iter()
        .find(|f| {
            f.check == CheckId::PrivilegeEscalation
                && f.object.starts_with("public.accept_invitation(")
        })
        .unwrap_or_else(|| panic!("the defect is found:\n{}", report.text_summary()));
    let script = &finding.reproduction;
    let calls = script.matches("-- call ").count();
    assert!(
        calls <= 3,
        "the sequence is shrunk ({calls} calls):\n{script}"
    );

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let broken = sandbox(&runtime, flavor, Some(&mutant));
    let (status, _, stderr) = psql(&broken, script);
    assert_eq!(
        status,
        Some(0),
        "with the defect, the last call goes through\nstderr:\n{stderr}\nscript:\n{script}"
    );
    drop(broken);
    // Control: on the reference schema the same last call is refused.
    let reference = sandbox(&runtime, flavor, None);
    let (status, _, stderr) = psql(&reference, script);
    assert_eq!(
        status,
        Some(3),
        "on the reference schema, the last call is refused\nstderr:\n{stderr}\nscript:\n{script}"
    );
    assert!(stderr.contains("no pending invitation"), "{stderr}");
}
