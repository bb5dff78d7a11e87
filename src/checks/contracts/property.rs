//! The contract property: a generated world and a generated call sequence per case,
//! explored like the isolation property (`checks::explore`): every sequence of the
//! budget runs, and every distinct broken promise is shrunk to its own minimal
//! sequence.
//!
//! Sequences are plain proptest `Vec<Call>` values rather than
//! `proptest-state-machine` transitions: the ids and tokens the calls create are
//! chosen by the database, so a reference state machine could not know them when it
//! generates a transition, and its synchronous `apply` would block on the async
//! connection anyway. Calls here hold abstract choices resolved against the state read
//! back from the database (`calls`), which gives the same thing — a model consulted
//! before every transition — and shrinking simplifies the vector (fewer calls, simpler
//! choices) and the world, down to a minimal failing sequence.

use std::collections::BTreeSet;

use proptest::strategy::Strategy;

use super::calls::{calls, Call};
use super::{Counts, Environment};
use crate::access::contracts::Contracts;
use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::checks::explore::{Budget, Discovery, Explorer, Pass, ShrinkBudget};
use crate::error::Error;
use crate::flavor::Flavor;
use crate::install::Database;
use crate::world::model::{GlobalRole, Membership, RoleRef, World};
use crate::world::seed::generic_tables;
use crate::world::strategy::{worlds, Bounds};

/// How the contract property runs.
#[derive(Debug, Clone)]
pub(crate) struct ContractConfig {
    pub(crate) sequences: u32,
    pub(crate) max_length: usize,
    pub(crate) seed: u64,
    pub(crate) fail_fast: bool,
    /// Signatures `fail_fast` does not stop for (see `explore::Budget::known`).
    pub(crate) known: std::sync::Arc<std::collections::BTreeSet<String>>,
    pub(crate) shrink: ShrinkBudget,
}

/// The stream of the contract property's cases (see `explore`).
const STREAM: u64 = 2;

/// What the contract property found.
#[derive(Debug, Default)]
pub(crate) struct ContractOutcome {
    pub(crate) sequences: u64,
    pub(crate) counts: Counts,
    /// Every distinct broken promise, each with its own minimal sequence.
    pub(crate) discoveries: Vec<Discovery<(World, Vec<Call>)>>,
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
    let mut conn = runtime.block_on(database.connect())?;
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
    let explorer = Explorer::new(Budget {
        cases: config.sequences,
        seed: config.seed,
        stream: STREAM,
        fail_fast: config.fail_fast,
        known: config.known.clone(),
        shrink: config.shrink.clone(),
        persistence: None,
    });
    let mut counts = Counts::new();
    explorer.work(&strategy, |(world, sequence), pass| {
        let result = runtime.block_on(env.run_sequence(&mut conn, world, sequence))?;
        if let Pass::Explore = pass {
            for (rpc, c) in result.counts {
                counts.entry(rpc).or_default().add(c);
            }
        }
        Ok(result.findings)
    })?;
    outcome.sequences = explorer.cases_done();
    outcome.counts = counts;
    outcome.discoveries = explorer.finish();
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

/// Every RPC in `checked` with its counts (zero when never called).
pub(crate) fn table(outcome: &ContractOutcome) -> Vec<(String, super::CallCounts)> {
    outcome
        .checked
        .iter()
        .map(|rpc| {
            (
                rpc.clone(),
                outcome.counts.get(rpc).copied().unwrap_or_default(),
            )
        })
        .collect()
}
