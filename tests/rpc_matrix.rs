//! The RPC authorization matrix (issue 14): every callable `public` function × every
//! kind of caller × every argument aim, once per run, on the fixture world.
//!
//! The reference schema must give no finding in either flavour, and its matrix must
//! show each contracted RPC allowed for the callers its contract names and refused for
//! the others. Every mutant in `fixtures/mutants/matrix/` must be caught by the check
//! its row in `mutants.toml` names, by the matrix alone, under each of five fixed
//! seeds (the flavours taking turns): the matrix does not depend on generated worlds
//! or call sequences, and a miss under any seed fails the test. Set `SMTA_VERIFY_MUTANTS=name,name` to run only
//! some mutants.

mod mutant_files;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use smta_verify::{CheckId, Families, Flavor, Report, RpcMatrix, RpcOutcome, Verifier};

/// Only the matrix: what it catches, it catches alone.
const MATRIX_ONLY: Families = Families {
    reads: false,
    writes: false,
    escalation: false,
    rpc: false,
    contracts: false,
    rpc_matrix: true,
};

/// The seeds every mutant runs under (issue 14: at least five).
const SEEDS: [u64; 5] = [1, 2, 3, 1_234_567, 0x5eed_0014];

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
    /// The RPCs (`public.name`) the killing finding may be about.
    objects: Vec<String>,
    /// The kind of caller whose call must show it (the matrix's column).
    caller: String,
}

fn mutants_dir() -> PathBuf {
    mutant_files::dir("matrix")
}

fn table() -> Table {
    mutant_files::table(&mutants_dir())
}

/// A matrix-only run: no generated world, no call sequence, no shrinking.
fn run(flavor: Flavor, seed: u64, extra_sql: Option<&Path>) -> Report {
    let mut verifier = Verifier::new(flavor)
        .families(MATRIX_ONLY)
        .cases(0)
        .rpc_sequences(0)
        .workers(1)
        .seed(seed)
        .shrink_time(Duration::ZERO, Duration::ZERO);
    if let Some(path) = extra_sql {
        verifier = verifier.extra_sql(path);
    }
    verifier
        .run_blocking()
        .unwrap_or_else(|e| panic!("the {flavor} run could not be done: {e}"))
}

fn matrix(report: &Report) -> &RpcMatrix {
    report
        .rpc_matrix
        .as_ref()
        .expect("the matrix ran and is in the report")
}

/// The outcome of `function` (`public.name`) for `caller`.
fn cell(matrix: &RpcMatrix, function: &str, caller: &str) -> RpcOutcome {
    let row = matrix
        .functions
        .iter()
        .find(|r| r.function.split('(').next() == Some(function))
        .unwrap_or_else(|| panic!("{function} is in the matrix"));
    row.cells
        .iter()
        .find(|c| c.caller == caller)
        .unwrap_or_else(|| panic!("{function} was called by {caller}"))
        .outcome
}

fn found(report: &Report) -> String {
    let found: BTreeSet<String> = report
        .findings
        .iter()
        .map(|f| format!("{} on {} by {}", f.check, f.object, f.actor_kind))
        .collect();
    if found.is_empty() {
        "nothing".into()
    } else {
        found.into_iter().collect::<Vec<_>>().join(", ")
    }
}

const CALLERS: [&str; 8] = [
    "anonymous",
    "outsider",
    "member",
    "unit member",
    "super admin",
    "super admin of another org",
    "removed member",
    "service",
];

#[test]
fn the_reference_schema_passes_the_matrix_and_it_shows_who_may_call_what() {
    for flavor in Flavor::ALL {
        let started = Instant::now();
        let report = run(flavor, 1, None);
        let m = matrix(&report);
        eprintln!(
            "{flavor}: {} functions, {} calls in {} ms (run {:.1?})",
            m.functions.len(),
            m.calls,
            m.duration_ms,
            started.elapsed()
        );
        for row in &m.functions {
            let line: Vec<String> = row
                .cells
                .iter()
                .map(|c| format!("{:?}/{}", c.outcome, c.calls))
                .collect();
            eprintln!("  {:<62} {}", row.function, line.join(" "));
        }
        assert!(
            report.findings.is_empty(),
            "the {flavor} reference schema must pass the RPC matrix:\n{}",
            report.text_summary()
        );
        assert_eq!(m.callers, CALLERS, "every kind of caller is in the world");
        assert_eq!(m.functions.len(), 47, "every RPC of SPEC §2 is called");
        for row in &m.functions {
            assert_eq!(row.cells.len(), CALLERS.len(), "{}", row.function);
            // The reference agrees with its contracts cell by cell.
            for c in &row.cells {
                if let Some(expected) = c.expected {
                    assert_eq!(
                        c.outcome, expected,
                        "{flavor}: {} by {}: observed {:?}, contract {:?}",
                        row.function, c.caller, c.outcome, expected
                    );
                }
            }
        }
        // Who may call what, as SPEC §3 says it.
        let only = |function: &str, allowed: &[&str]| {
            for caller in CALLERS {
                let want = if allowed.contains(&caller) {
                    RpcOutcome::Allowed
                } else {
                    RpcOutcome::Refused
                };
                assert_eq!(
                    cell(m, function, caller),
                    want,
                    "{flavor}: {function} by {caller}"
                );
            }
        };
        let members = ["member", "unit member", "super admin"];
        only("public.update_member_role", &["super admin"]);
        only("public.delete_organization", &["super admin"]);
        only("public.transfer_super_admin", &["super admin"]);
        only("public.add_member_to_unit", &["super admin"]);
        only("public.create_unit", &members);
        only("public.list_files", &[&members[..], &["service"]].concat());
        only(
            "public.get_audit_log",
            &[&members[..], &["service"]].concat(),
        );
        // The invitee (the outsider) accepts; nobody else can with that token.
        only("public.accept_invitation", &["outsider"]);
        assert_eq!(
            cell(m, "public.get_invitation_details", "anonymous"),
            if flavor == Flavor::Supabase {
                RpcOutcome::Allowed
            } else {
                // Payload has no anonymous database role that may execute anything.
                RpcOutcome::Refused
            }
        );
        // Coverage: every contracted RPC was allowed and refused by the matrix.
        assert!(
            !report
                .gaps
                .iter()
                .any(|g| g.contains("never as its contract") || g.contains("never called")),
            "{flavor}: the matrix exercises every RPC both ways: {:#?}",
            report.gaps
        );
    }
}

#[test]
fn the_mutant_table_lists_every_matrix_mutant_file() {
    // Files of this directory; rows may also name an RPC mutant of ../rpc/.
    let listed: BTreeSet<String> = table()
        .mutant
        .iter()
        .map(|m| m.file.clone())
        .filter(|f| !f.contains('/'))
        .collect();
    let on_disk = mutant_files::sql_files(&mutants_dir());
    assert_eq!(on_disk, listed);
    for m in &table().mutant {
        mutant_files::assert_says_what_it_breaks(&mutants_dir(), &m.file);
        assert!(CALLERS.contains(&m.caller.as_str()), "{}", m.file);
    }
}

#[test]
fn every_matrix_mutant_is_caught_under_every_seed() {
    let only: Option<BTreeSet<String>> = mutant_files::selected();
    let mut runs: Vec<(Mutant, Flavor, u64)> = Vec::new();
    for mutant in table().mutant {
        let name = mutant.file.trim_end_matches(".sql").to_string();
        if only.as_ref().is_some_and(|o| !o.contains(&name)) {
            continue;
        }
        // Every seed, the flavours taking turns: each mutant runs five times, under
        // both flavours, and the suite stays within its budget.
        for (i, seed) in SEEDS.into_iter().enumerate() {
            let flavor = mutant.flavors[i % mutant.flavors.len()];
            runs.push((
                Mutant {
                    file: mutant.file.clone(),
                    flavors: mutant.flavors.clone(),
                    kills: mutant.kills.clone(),
                    objects: mutant.objects.clone(),
                    caller: mutant.caller.clone(),
                },
                flavor,
                seed,
            ));
        }
    }
    assert!(
        !runs.is_empty(),
        "SMTA_VERIFY_MUTANTS={only:?} selects no mutant"
    );
    let started = Instant::now();
    let queue = std::sync::Mutex::new(runs.iter());
    let misses = std::sync::Mutex::new(Vec::new());
    // Two runs at a time: each waits on its own server much of the time.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some((mutant, flavor, seed)) = queue.lock().unwrap().next() else {
                    break;
                };
                let report = run(*flavor, *seed, Some(&mutants_dir().join(&mutant.file)));
                let caught = mutant.kills.iter().all(|k| {
                    report.findings.iter().any(|f| {
                        f.check == *k
                            && mutant.objects.contains(&f.object)
                            && f.actor_kind == mutant.caller
                    })
                });
                eprintln!(
                    "{} ({flavor}, seed {seed}): {}",
                    mutant.file,
                    if caught { "caught" } else { "MISSED" }
                );
                if !caught {
                    misses.lock().unwrap().push(format!(
                        "{} ({flavor}, seed {seed}): expected {:?} on {:?} by {}, found {}",
                        mutant.file,
                        mutant.kills,
                        mutant.objects,
                        mutant.caller,
                        found(&report)
                    ));
                }
            });
        }
    });
    eprintln!(
        "{} matrix mutant run(s) in {:.1?}",
        runs.len(),
        started.elapsed()
    );
    let misses = misses.into_inner().unwrap();
    assert!(
        misses.is_empty(),
        "RPC matrix mutants missed:\n  {}",
        misses.join("\n  ")
    );
}
