//! The isolation property, driven by proptest across parallel workers.
//!
//! Each worker is a thread with its own runtime, connection and cloned database, and
//! its own proptest runner seeded from the run's seed, so `--seed` reproduces a run.
//! A case fails when it has findings; proptest then shrinks the world, re-running the
//! case each time, and the last failing world (the minimal one) is what the report
//! shows. While shrinking, a world counts as failing only if it still shows the most
//! severe defect of the first failure (same check, same object): otherwise a defect
//! that needs a richer world (a plain member escalating) would shrink away into a
//! lesser one that a smaller world also has. When one worker fails the others stop
//! taking new cases.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};

use super::{Environment, Families, Observation, Reach};
use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::error::Error;
use crate::finding::{CheckId, Finding};
use crate::flavor::Flavor;
use crate::install::Database;
use crate::progress::{Progress, ProgressHook};
use crate::report::MatrixEntry;
use crate::world::model::World;
use crate::world::seed::generic_tables;
use crate::world::strategy::{worlds, Bounds};

/// How the property runs.
#[derive(Debug, Clone)]
pub(crate) struct PropertyConfig {
    pub(crate) cases: u32,
    pub(crate) seed: u64,
    pub(crate) families: Families,
    pub(crate) bounds: Bounds,
    /// Where proptest keeps failing worlds to replay first (cargo-test use).
    pub(crate) persistence: Option<PathBuf>,
    pub(crate) max_shrink_time: Duration,
    pub(crate) progress: ProgressHook,
}

/// A minimal failing world and what it showed.
#[derive(Debug, Clone)]
pub(crate) struct Counterexample {
    pub(crate) world: World,
    pub(crate) findings: Vec<Finding>,
}

/// One cell of the access matrix, aggregated over cases.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct MatrixCell {
    /// How often each reach was expected / observed.
    pub(crate) expected: BTreeMap<Reach, u64>,
    pub(crate) observed: BTreeMap<Reach, u64>,
    /// Observations whose reach differed from the expectation.
    pub(crate) mismatches: u64,
}

/// (actor kind, table, operation) → cell.
pub(crate) type Matrix = BTreeMap<(String, String, String), MatrixCell>;

pub(crate) fn record(matrix: &mut Matrix, observations: &[Observation]) {
    for o in observations {
        let cell = matrix
            .entry((o.actor.clone(), o.table.clone(), o.operation.to_string()))
            .or_default();
        *cell.expected.entry(o.expected).or_default() += 1;
        *cell.observed.entry(o.observed).or_default() += 1;
        let same =
            o.expected == o.observed || (o.expected == Reach::None && o.observed == Reach::Denied);
        if !same {
            cell.mismatches += 1;
        }
    }
}

/// The matrix as the report shows it: per cell, the most common expected and observed
/// reach (on a tie, the widest), with the counts behind them.
pub(crate) fn entries(matrix: Matrix) -> Vec<MatrixEntry> {
    let top = |m: &BTreeMap<Reach, u64>| {
        m.iter()
            .max_by_key(|(_, n)| **n)
            .map(|(r, _)| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    };
    matrix
        .into_iter()
        .map(|((actor, table, operation), cell)| MatrixEntry {
            actor,
            table,
            operation,
            expected: top(&cell.expected),
            observed: top(&cell.observed),
            mismatches: cell.mismatches,
            observations: cell.observed.values().sum(),
        })
        .collect()
}

/// What the property found.
#[derive(Debug, Default)]
pub(crate) struct PropertyOutcome {
    pub(crate) cases: u64,
    pub(crate) probes: u64,
    pub(crate) rows: u64,
    pub(crate) matrix: Matrix,
    pub(crate) counterexample: Option<Counterexample>,
    pub(crate) seed_notes: BTreeSet<String>,
}

struct Shared {
    /// Cases planned over all workers, for progress.
    total: u64,
    stop: AtomicBool,
    cases: AtomicU64,
    probes: AtomicU64,
    rows: AtomicU64,
}

pub(crate) fn worker_rng(seed: u64, worker: usize) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(worker as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(b"smta-vfy");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Runs the property on one worker per database.
pub(crate) fn run(
    flavor: Flavor,
    catalog: Arc<Catalog>,
    model: Arc<AccessModel>,
    databases: Vec<Database>,
    config: &PropertyConfig,
) -> Result<PropertyOutcome, Error> {
    let shared = Arc::new(Shared {
        total: u64::from(config.cases),
        stop: AtomicBool::new(false),
        cases: AtomicU64::new(0),
        probes: AtomicU64::new(0),
        rows: AtomicU64::new(0),
    });
    let workers = databases.len().max(1);
    let mut bounds = config.bounds;
    bounds.generic_tables = generic_tables(&model).len();
    let handles: Vec<_> = databases
        .into_iter()
        .enumerate()
        .map(|(i, database)| {
            let (catalog, model, shared) = (
                Arc::clone(&catalog),
                Arc::clone(&model),
                Arc::clone(&shared),
            );
            let mut config = config.clone();
            config.bounds = bounds;
            config.cases = config.cases / workers as u32
                + u32::from((i as u32) < config.cases % workers as u32);
            std::thread::Builder::new()
                .name(format!("isolation-{i}"))
                .spawn(move || worker(i, flavor, &catalog, &model, database, &config, &shared))
                .expect("a worker thread")
        })
        .collect();
    let mut outcome = PropertyOutcome::default();
    let mut first_error = None;
    for handle in handles {
        match handle.join().expect("workers do not panic") {
            Ok(w) => {
                for (k, cell) in w.matrix {
                    let target = outcome.matrix.entry(k).or_default();
                    for (r, n) in cell.expected {
                        *target.expected.entry(r).or_default() += n;
                    }
                    for (r, n) in cell.observed {
                        *target.observed.entry(r).or_default() += n;
                    }
                    target.mismatches += cell.mismatches;
                }
                outcome.seed_notes.extend(w.seed_notes);
                if outcome.counterexample.is_none() {
                    outcome.counterexample = w.counterexample;
                }
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    outcome.cases = shared.cases.load(Ordering::Relaxed);
    outcome.probes = shared.probes.load(Ordering::Relaxed);
    outcome.rows = shared.rows.load(Ordering::Relaxed);
    Ok(outcome)
}

#[derive(Default)]
struct WorkerState {
    matrix: Matrix,
    seed_notes: BTreeSet<String>,
    last_failure: Option<Counterexample>,
    error: Option<Error>,
    failed_once: bool,
    /// The defect shrinking keeps: check and object of the first failure's most
    /// severe finding.
    target: Option<(CheckId, String)>,
}

/// Check and object of the most severe finding (the first one among equals).
pub(crate) fn worst(findings: &[Finding]) -> Option<(CheckId, String)> {
    let mut worst: Option<&Finding> = None;
    for f in findings {
        if worst.is_none_or(|w| f.severity > w.severity) {
            worst = Some(f);
        }
    }
    worst.map(|f| (f.check, f.object.clone()))
}

/// Whether `findings` show the defect being shrunk (any finding before there is one).
pub(crate) fn shows(findings: &[Finding], target: Option<&(CheckId, String)>) -> bool {
    match target {
        None => !findings.is_empty(),
        Some((check, object)) => findings
            .iter()
            .any(|f| f.check == *check && f.object == *object),
    }
}

struct WorkerOutcome {
    matrix: Matrix,
    seed_notes: BTreeSet<String>,
    counterexample: Option<Counterexample>,
}

fn worker(
    index: usize,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    database: Database,
    config: &PropertyConfig,
    shared: &Shared,
) -> Result<WorkerOutcome, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("a worker runtime: {e}")))?;
    let conn = RefCell::new(runtime.block_on(database.connect())?);
    let env = Environment {
        flavor,
        catalog,
        model,
        families: config.families,
    };
    let state = RefCell::new(WorkerState::default());
    let proptest_config = Config {
        cases: config.cases,
        failure_persistence: config
            .persistence
            .as_ref()
            .map(|p| Box::new(FileFailurePersistence::Direct(leak(p))) as Box<_>),
        max_shrink_time: config.max_shrink_time.as_millis() as u32,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(proptest_config, worker_rng(config.seed, index));
    let result = runner.run(&worlds(config.bounds), |world| {
        let mut state = state.borrow_mut();
        if state.error.is_some() {
            return Err(TestCaseError::fail("the run failed"));
        }
        if shared.stop.load(Ordering::Relaxed) && !state.failed_once {
            return Ok(());
        }
        let case = runtime.block_on(env.run_case(&mut conn.borrow_mut(), &world));
        match case {
            Err(e) => {
                state.error = Some(e);
                shared.stop.store(true, Ordering::Relaxed);
                Err(TestCaseError::fail("the run failed"))
            }
            Ok(case) => {
                if !state.failed_once {
                    let done = shared.cases.fetch_add(1, Ordering::Relaxed) + 1;
                    config.progress.emit(Progress::Cases {
                        done,
                        total: shared.total,
                    });
                    shared
                        .probes
                        .fetch_add(case.probes as u64, Ordering::Relaxed);
                    shared.rows.fetch_add(case.rows as u64, Ordering::Relaxed);
                    record(&mut state.matrix, &case.observations);
                    state.seed_notes.extend(case.seed_notes);
                }
                if !shows(&case.findings, state.target.as_ref()) {
                    Ok(())
                } else {
                    if state.target.is_none() {
                        state.target = worst(&case.findings);
                    }
                    state.failed_once = true;
                    shared.stop.store(true, Ordering::Relaxed);
                    let summary = format!(
                        "{} finding(s), first: {}",
                        case.findings.len(),
                        case.findings[0].message
                    );
                    state.last_failure = Some(Counterexample {
                        world,
                        findings: case.findings,
                    });
                    Err(TestCaseError::fail(summary))
                }
            }
        }
    });
    let mut state = state.into_inner();
    if let Some(e) = state.error.take() {
        return Err(e);
    }
    let counterexample = match result {
        Ok(()) => None,
        Err(TestError::Fail(_, minimal)) => {
            // The last failing run is the minimal world's in practice; re-run it to be
            // sure the findings belong to the world we report.
            let case = runtime.block_on(env.run_case(&mut conn.borrow_mut(), &minimal))?;
            if !shows(&case.findings, state.target.as_ref()) {
                state.last_failure
            } else {
                Some(Counterexample {
                    world: minimal,
                    findings: case.findings,
                })
            }
        }
        Err(TestError::Abort(reason)) => {
            return Err(Error::Internal(format!("proptest aborted: {reason}")))
        }
    };
    Ok(WorkerOutcome {
        matrix: state.matrix,
        seed_notes: state.seed_notes,
        counterexample,
    })
}

/// proptest's direct persistence wants a `&'static str`; a run has one path.
fn leak(path: &std::path::Path) -> &'static str {
    Box::leak(path.display().to_string().into_boxed_str())
}
