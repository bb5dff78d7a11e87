//! The contract property, driven by proptest: a generated world and a generated call
//! sequence per case.
//!
//! Sequences are plain proptest `Vec<Call>` values rather than
//! `proptest-state-machine` transitions: the ids and tokens the calls create are
//! chosen by the database, so a reference state machine could not know them when it
//! generates a transition, and its synchronous `apply` would block on the async
//! connection anyway. Calls here hold abstract choices resolved against the state read
//! back from the database (`calls`), which gives the same thing — a model consulted
//! before every transition — and proptest shrinks the vector (fewer calls, simpler
//! choices) and the world, down to a minimal failing sequence. Shrinking keeps the
//! most severe defect of the first failure, as the isolation property does.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::calls::calls;
use super::{Counts, Environment};
use crate::access::contracts::Contracts;
use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::checks::isolation::property::{shows, worker_rng, worst};
use crate::error::Error;
use crate::finding::{CheckId, Finding};
use crate::flavor::Flavor;
use crate::install::Database;
use crate::world::model::{GlobalRole, Membership, RoleRef, World};
use crate::world::seed::generic_tables;
use crate::world::strategy::{worlds, Bounds};
use proptest::strategy::Strategy;

/// How the contract property runs.
#[derive(Debug, Clone)]
pub(crate) struct ContractConfig {
    pub(crate) sequences: u32,
    pub(crate) max_length: usize,
    pub(crate) seed: u64,
    pub(crate) max_shrink_time: Duration,
}

/// What the contract property found.
#[derive(Debug, Default)]
pub(crate) struct ContractOutcome {
    pub(crate) sequences: u64,
    pub(crate) counts: Counts,
    /// The minimal failing sequence's findings.
    pub(crate) findings: Vec<Finding>,
    /// Contracts skipped (function missing or with another signature).
    pub(crate) notes: Vec<String>,
    /// The RPCs a contract was checked for, by signature.
    pub(crate) checked: BTreeSet<String>,
}

/// Runs the contract property on one database (blocking; its own runtime).
pub(crate) fn run(
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    contracts: &Contracts,
    database: Database,
    config: &ContractConfig,
) -> Result<ContractOutcome, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("a contracts runtime: {e}")))?;
    let (bound, notes) = contracts.bind(catalog);
    let mut outcome = ContractOutcome {
        notes,
        checked: bound.iter().map(|(c, _)| c.signature()).collect(),
        ..ContractOutcome::default()
    };
    if bound.is_empty() {
        return Ok(outcome);
    }
    let mutating: Vec<usize> = bound
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| c.mutates())
        .map(|(i, _)| i)
        .collect();
    let env = Environment {
        flavor,
        catalog,
        model,
        contracts,
        bound,
    };
    let conn = RefCell::new(runtime.block_on(database.connect())?);
    let bounds = Bounds {
        generic_tables: generic_tables(model).len(),
        ..Bounds::default()
    };
    let strategy = (
        worlds(bounds).prop_map(staffed),
        proptest::collection::vec(
            calls(env.bound.len(), mutating),
            1..=config.max_length.max(1),
        ),
    );
    struct Progress {
        counts: Counts,
        sequences: u64,
        failed_once: bool,
        target: Option<(CheckId, String)>,
        last: Vec<Finding>,
        error: Option<Error>,
    }
    let progress = RefCell::new(Progress {
        counts: Counts::new(),
        sequences: 0,
        failed_once: false,
        target: None,
        last: Vec::new(),
        error: None,
    });
    let proptest_config = Config {
        cases: config.sequences,
        failure_persistence: None,
        max_shrink_time: config.max_shrink_time.as_millis() as u32,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(proptest_config, worker_rng(config.seed, 0xc0));
    let result = runner.run(&strategy, |(world, sequence)| {
        let mut p = progress.borrow_mut();
        if p.error.is_some() {
            return Err(TestCaseError::fail("the run failed"));
        }
        match runtime.block_on(env.run_sequence(&mut conn.borrow_mut(), &world, &sequence)) {
            Err(e) => {
                p.error = Some(e);
                Err(TestCaseError::fail("the run failed"))
            }
            Ok(result) => {
                if !p.failed_once {
                    p.sequences += 1;
                    for (rpc, (calls, ok)) in result.counts {
                        let c = p.counts.entry(rpc).or_default();
                        c.0 += calls;
                        c.1 += ok;
                    }
                }
                if !shows(&result.findings, p.target.as_ref()) {
                    return Ok(());
                }
                if p.target.is_none() {
                    p.target = worst(&result.findings);
                }
                p.failed_once = true;
                let summary = result.findings[0].message.clone();
                p.last = result.findings;
                Err(TestCaseError::fail(summary))
            }
        }
    });
    let mut p = progress.into_inner();
    if let Some(e) = p.error.take() {
        return Err(e);
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(_, (world, sequence))) => {
            // Re-run the minimal case so the findings are the ones of what we report.
            let again =
                runtime.block_on(env.run_sequence(&mut conn.borrow_mut(), &world, &sequence))?;
            outcome.findings = if shows(&again.findings, p.target.as_ref()) {
                again.findings
            } else {
                p.last
            };
            // One finding per (check, function): later calls of a sequence often
            // repeat the same broken promise.
            let mut seen = BTreeSet::new();
            outcome
                .findings
                .retain(|f| seen.insert((f.check, f.object.clone())));
        }
        Err(TestError::Abort(reason)) => {
            return Err(Error::Internal(format!("proptest aborted: {reason}")))
        }
    }
    outcome.sequences = p.sequences;
    outcome.counts = p.counts;
    Ok(outcome)
}

/// `world` with every user who belongs to no organization made a plain member of
/// one (user `i` of organization `i % n`). Most RPC rules are about members: who may
/// change whose role, remove whom, add whom to a unit; a world where each
/// organization has only its creator cannot tell those apart. Users outside every
/// organization remain through removed memberships and other organizations.
fn staffed(mut world: World) -> World {
    let organizations = world.organizations.len();
    if organizations == 0 {
        return world;
    }
    for user in 0..world.users.len() {
        let member = world.memberships.iter().any(|m| m.user == user)
            || world.organizations.iter().any(|o| o.creator == user);
        if !member {
            world.memberships.push(Membership {
                user,
                organization: user % organizations,
                role: RoleRef::Global(if user % 2 == 0 {
                    GlobalRole::Team
                } else {
                    GlobalRole::Manager
                }),
                super_admin: false,
                deleted: false,
            });
        }
    }
    world.normalize()
}

/// Every RPC in `checked` with its call and success counts (zero when never called).
pub(crate) fn table(outcome: &ContractOutcome) -> Vec<(String, u64, u64)> {
    outcome
        .checked
        .iter()
        .map(|rpc| {
            let (calls, ok) = outcome.counts.get(rpc).copied().unwrap_or((0, 0));
            (rpc.clone(), calls, ok)
        })
        .collect()
}
