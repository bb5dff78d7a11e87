//! Mutation testing of a verification: how hard did `check` look?
//!
//! A clean `check` says no defect was found; it does not say what it would have
//! missed. `smta-verify mutate` breaks the installed schema on purpose in many small,
//! plausible ways (`derive`), runs the checks against each broken copy (`run`), and
//! counts how many breaks they noticed: the mutation score of the user's own schema
//! and rules. A survivor is read by evidence: if every probe observed exactly what it
//! observed on the unbroken schema, another layer still protects (an *equivalent*
//! mutant); if the observations changed and no check complained, the rules or the
//! checks have a *blind spot*.

pub(crate) mod derive;
pub(crate) mod run;

use std::collections::BTreeMap;

use serde::Serialize;

pub use run::{MutantResult, Score, Verdict};

/// What `smta-verify mutate` found: the score and every mutant with its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct MutationReport {
    pub schema_version: u32,
    pub run: MutationRun,
    /// Mutants derived from the schema; `run.max` of them were tried.
    pub derived: usize,
    pub score: Score,
    pub by_kind: BTreeMap<MutationKind, Score>,
    /// Per object broken (table, policy, function).
    pub by_object: BTreeMap<String, Score>,
    /// Signatures of the unbroken schema's own findings (not counted as kills).
    pub baseline_findings: Vec<String>,
    pub mutants: Vec<MutantResult>,
}

/// Facts about a mutation run.
#[derive(Debug, Clone, Serialize)]
pub struct MutationRun {
    pub tool_version: String,
    pub flavor: String,
    pub seed: u64,
    pub cases: u32,
    pub rpc_sequences: u32,
    pub max: usize,
    pub schema_sources: Vec<String>,
    pub access_rules: String,
    pub duration_ms: u64,
}

impl MutationReport {
    pub(crate) fn new(
        run: MutationRun,
        derived: usize,
        baseline: Vec<String>,
        mutants: Vec<MutantResult>,
    ) -> Self {
        let mut by_kind: BTreeMap<MutationKind, Vec<&MutantResult>> = BTreeMap::new();
        let mut by_object: BTreeMap<String, Vec<&MutantResult>> = BTreeMap::new();
        for m in &mutants {
            by_kind.entry(m.mutant.kind).or_default().push(m);
            let object = m
                .mutant
                .object
                .split(" policy ")
                .next()
                .unwrap_or(&m.mutant.object)
                .split(" guard ")
                .next()
                .unwrap_or(&m.mutant.object)
                .split(" audit write ")
                .next()
                .unwrap_or(&m.mutant.object)
                .to_string();
            by_object.entry(object).or_default().push(m);
        }
        MutationReport {
            schema_version: 1,
            run,
            derived,
            score: Score::of(mutants.iter()),
            by_kind: by_kind
                .into_iter()
                .map(|(k, v)| (k, Score::of(v.into_iter())))
                .collect(),
            by_object: by_object
                .into_iter()
                .map(|(k, v)| (k, Score::of(v.into_iter())))
                .collect(),
            baseline_findings: baseline,
            mutants,
        }
    }

    /// The survivors nothing noticed although the probes saw a difference.
    pub fn blind_spots(&self) -> impl Iterator<Item = &MutantResult> {
        self.mutants
            .iter()
            .filter(|m| matches!(m.verdict, Verdict::BlindSpot { .. }))
    }
}

/// The kinds of mistake derived from a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MutationKind {
    PolicyDropped,
    PolicyUsingTrue,
    PolicyCheckTrue,
    ConjunctRemoved,
    SoftDeleteFilterRemoved,
    PolicyToPublic,
    RlsDisabled,
    ForceRemoved,
    TableGrantedToAnonymous,
    DefinerExecutableByPublic,
    SearchPathRemoved,
    InvokerMadeDefiner,
    GuardRemoved,
    AuditTriggerDropped,
    AuditWriteRemoved,
    HelperIgnoresSoftDelete,
}

impl MutationKind {
    /// Every kind, in report order.
    pub const ALL: [MutationKind; 16] = [
        MutationKind::PolicyDropped,
        MutationKind::PolicyUsingTrue,
        MutationKind::PolicyCheckTrue,
        MutationKind::ConjunctRemoved,
        MutationKind::SoftDeleteFilterRemoved,
        MutationKind::PolicyToPublic,
        MutationKind::RlsDisabled,
        MutationKind::ForceRemoved,
        MutationKind::TableGrantedToAnonymous,
        MutationKind::DefinerExecutableByPublic,
        MutationKind::SearchPathRemoved,
        MutationKind::InvokerMadeDefiner,
        MutationKind::GuardRemoved,
        MutationKind::AuditTriggerDropped,
        MutationKind::AuditWriteRemoved,
        MutationKind::HelperIgnoresSoftDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MutationKind::PolicyDropped => "policy-dropped",
            MutationKind::PolicyUsingTrue => "policy-using-true",
            MutationKind::PolicyCheckTrue => "policy-check-true",
            MutationKind::ConjunctRemoved => "conjunct-removed",
            MutationKind::SoftDeleteFilterRemoved => "soft-delete-filter-removed",
            MutationKind::PolicyToPublic => "policy-to-public",
            MutationKind::RlsDisabled => "rls-disabled",
            MutationKind::ForceRemoved => "force-removed",
            MutationKind::TableGrantedToAnonymous => "table-granted-to-anonymous",
            MutationKind::DefinerExecutableByPublic => "definer-executable-by-public",
            MutationKind::SearchPathRemoved => "search-path-removed",
            MutationKind::InvokerMadeDefiner => "invoker-made-definer",
            MutationKind::GuardRemoved => "guard-removed",
            MutationKind::AuditTriggerDropped => "audit-trigger-dropped",
            MutationKind::AuditWriteRemoved => "audit-write-removed",
            MutationKind::HelperIgnoresSoftDelete => "helper-ignores-soft-delete",
        }
    }
}

impl std::fmt::Display for MutationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One derived mistake: the statements that make it on a copy of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mutant {
    /// `kind:object`, stable across runs of the same schema.
    pub id: String,
    pub kind: MutationKind,
    /// The table, policy or function broken.
    pub object: String,
    pub description: String,
    /// The overlay, applied as the superuser to a clone of the installed schema.
    pub sql: Vec<String>,
    /// What changed, `-` and `+` lines.
    pub diff: String,
    /// What the mutant breaks, for judging whether the run exercised it.
    pub target: Target,
}

/// The path a mutant breaks: a table operation, or an RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Target {
    /// `command`: SELECT, INSERT, UPDATE, DELETE, or ALL of them.
    Table {
        table: String,
        command: String,
    },
    Function {
        function: String,
    },
    /// The catalog checks judge it whatever the worlds (a grant, a setting).
    Catalog,
}

impl Mutant {
    pub(crate) fn new(
        kind: MutationKind,
        object: impl Into<String>,
        description: impl Into<String>,
        sql: Vec<String>,
        diff: String,
    ) -> Self {
        let object = object.into();
        let description = description.into();
        Mutant {
            id: format!("{kind}:{object}:{description}"),
            kind,
            object,
            description,
            sql,
            diff,
            target: Target::Catalog,
        }
    }

    pub(crate) fn on(mut self, target: Target) -> Self {
        self.target = target;
        self
    }
}

/// Up to `max` mutants, taken round-robin over the kinds so that a small budget
/// still tries every kind of mistake; in a stable order.
pub(crate) fn sample(mutants: Vec<Mutant>, max: usize) -> Vec<Mutant> {
    let mut by_kind: std::collections::BTreeMap<MutationKind, std::collections::VecDeque<Mutant>> =
        Default::default();
    for m in mutants {
        by_kind.entry(m.kind).or_default().push_back(m);
    }
    let mut out = Vec::new();
    while out.len() < max && by_kind.values().any(|q| !q.is_empty()) {
        for queue in by_kind.values_mut() {
            if out.len() >= max {
                break;
            }
            if let Some(m) = queue.pop_front() {
                out.push(m);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_budget_samples_every_kind() {
        let mutant =
            |kind, n: usize| Mutant::new(kind, format!("t{n}"), "d", vec![], String::new());
        let all: Vec<Mutant> = (0..10)
            .map(|n| mutant(MutationKind::PolicyDropped, n))
            .chain((0..10).map(|n| mutant(MutationKind::RlsDisabled, n)))
            .chain([mutant(MutationKind::GuardRemoved, 0)])
            .collect();
        let picked = sample(all, 5);
        let kinds: std::collections::BTreeSet<MutationKind> =
            picked.iter().map(|m| m.kind).collect();
        assert_eq!(picked.len(), 5);
        assert_eq!(kinds.len(), 3);
    }
}
