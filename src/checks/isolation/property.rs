//! The isolation property, explored across parallel workers.
//!
//! Each worker is a thread with its own runtime, connection and cloned database; the
//! workers share one [`Explorer`], which hands out cases (each generated from its
//! own seed, so `--seed` reproduces a run whatever the number of workers), collects
//! every distinct defect and has the worker that met a defect first shrink it. While
//! shrinking, a candidate world runs only the probes of the finding's table (or only
//! the RPC sweep, for a function), which is all that can show that signature.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{merge_exercised, Environment, Exercised, Families, Focus, Observation, Reach};
use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::checks::explore::{Budget, Discovery, Explorer, Pass, ShrinkBudget};
use crate::error::Error;
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
    /// Where failing worlds are kept to replay first (cargo-test use).
    pub(crate) persistence: Option<PathBuf>,
    pub(crate) fail_fast: bool,
    /// Signatures `fail_fast` does not stop for (see `explore::Budget::known`).
    pub(crate) known: std::sync::Arc<std::collections::BTreeSet<String>>,
    pub(crate) shrink: ShrinkBudget,
    pub(crate) progress: ProgressHook,
}

/// The stream of the isolation property's cases (see `explore`).
const STREAM: u64 = 1;

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
    pub(crate) exercised: Exercised,
    /// Every distinct defect, each with its own smallest world.
    pub(crate) discoveries: Vec<Discovery<World>>,
    pub(crate) seed_notes: BTreeSet<String>,
}

/// Runs the property on one worker per database.
pub(crate) fn run(
    flavor: Flavor,
    catalog: Arc<Catalog>,
    model: Arc<AccessModel>,
    databases: Vec<Database>,
    config: &PropertyConfig,
) -> Result<PropertyOutcome, Error> {
    let explorer = Explorer::new(Budget {
        cases: config.cases,
        seed: config.seed,
        stream: STREAM,
        fail_fast: config.fail_fast,
        known: config.known.clone(),
        shrink: config.shrink.clone(),
        persistence: config.persistence.clone(),
    });
    let mut bounds = config.bounds;
    bounds.generic_tables = generic_tables(&model).len();
    let (probes, rows) = (AtomicU64::new(0), AtomicU64::new(0));
    let results: Vec<Result<WorkerOutcome, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = databases
            .into_iter()
            .enumerate()
            .map(|(i, database)| {
                let worker = Worker {
                    flavor,
                    catalog: &catalog,
                    model: &model,
                    config,
                    explorer: &explorer,
                    probes: &probes,
                    rows: &rows,
                };
                std::thread::Builder::new()
                    .name(format!("isolation-{i}"))
                    .spawn_scoped(scope, move || worker.run(database, &worlds(bounds)))
                    .expect("a worker thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("workers do not panic"))
            .collect()
    });
    let mut outcome = PropertyOutcome::default();
    for result in results {
        let w = result?;
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
        merge_exercised(&mut outcome.exercised, w.exercised);
    }
    outcome.cases = explorer.cases_done();
    outcome.probes = probes.load(Ordering::Relaxed);
    outcome.rows = rows.load(Ordering::Relaxed);
    outcome.discoveries = explorer.finish();
    Ok(outcome)
}

/// What one worker observed while exploring (shrinking candidates not counted).
#[derive(Default)]
struct WorkerOutcome {
    matrix: Matrix,
    exercised: Exercised,
    seed_notes: BTreeSet<String>,
}

struct Worker<'a> {
    flavor: Flavor,
    catalog: &'a Catalog,
    model: &'a AccessModel,
    config: &'a PropertyConfig,
    explorer: &'a Explorer<World>,
    probes: &'a AtomicU64,
    rows: &'a AtomicU64,
}

impl Worker<'_> {
    fn run(
        self,
        database: Database,
        strategy: &impl proptest::strategy::Strategy<Value = World>,
    ) -> Result<WorkerOutcome, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("a worker runtime: {e}")))?;
        let mut conn = match runtime.block_on(database.connect()) {
            Ok(c) => c,
            Err(e) => {
                self.explorer.abort();
                return Err(e);
            }
        };
        let env = Environment {
            flavor: self.flavor,
            catalog: self.catalog,
            model: self.model,
            families: self.config.families,
        };
        let total = u64::from(self.config.cases);
        let mut observed = WorkerOutcome::default();
        self.explorer.work(strategy, |world, pass| {
            let focus = match pass {
                Pass::Explore => Focus::Everything,
                Pass::Shrink(finding) => Focus::of(finding, self.model),
            };
            let case = runtime.block_on(env.run_case(&mut conn, world, &focus))?;
            if let Pass::Explore = pass {
                let done = self.explorer.cases_done() + 1;
                self.config.progress.emit(Progress::Cases {
                    done: done.min(total),
                    total,
                });
                self.probes.fetch_add(case.probes as u64, Ordering::Relaxed);
                self.rows.fetch_add(case.rows as u64, Ordering::Relaxed);
                record(&mut observed.matrix, &case.observations);
                merge_exercised(&mut observed.exercised, case.exercised);
                observed.seed_notes.extend(case.seed_notes);
            }
            Ok(case.findings)
        })?;
        Ok(observed)
    }
}
