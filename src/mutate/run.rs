//! Running the mutants: each in its own clone of the installed template, two at a time,
//! every one with the same seed and budget as the unbroken schema's run, so that their
//! observations compare.
//!
//! A mutant is killed when its run reports a defect the unbroken schema's run did not
//! (a schema that is not clean keeps its own findings out of the score); its run stops
//! at the first such defect. A survivor ran the whole budget: if every probe saw what
//! it saw on the unbroken schema, the mutant is equivalent — another layer still
//! protects; if some observation changed and no check complained, the rules or the
//! checks have a blind spot there.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use super::{Mutant, MutationKind};
use crate::error::Error;
use crate::report::Report;

/// How a mutant fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Verdict {
    /// A check reported a defect the unbroken schema does not have.
    Killed {
        /// Signatures of the new findings (the first ones met).
        by: Vec<String>,
    },
    /// No check complained, and every probe observed the same as on the unbroken
    /// schema: another layer still protects.
    Equivalent { reading: String },
    /// No check complained, but what the probes observed changed: a hole nothing
    /// noticed.
    BlindSpot { reading: String },
    /// The overlay does not apply to this schema (a body edit that no longer parses).
    Invalid { error: String },
}

/// A mutant and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct MutantResult {
    #[serde(flatten)]
    pub mutant: Mutant,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub duration_ms: u64,
}

/// What a run observed that a mutant could change: the access matrix, how every
/// table path was exercised, what every RPC call did. Equal evidence means no probe
/// could tell the two schemas apart.
pub(crate) fn evidence(report: &Report) -> Vec<String> {
    let mut lines: Vec<String> = report
        .matrix
        .iter()
        .map(|m| {
            format!(
                "matrix {} {} {}: {} / {} ({} of {})",
                m.actor, m.table, m.operation, m.expected, m.observed, m.mismatches, m.observations
            )
        })
        .chain(report.exercised.iter().map(|e| {
            format!(
                "exercised {} {} {}: {} allowed, {} refused",
                e.table, e.operation, e.actor_kind, e.allowed, e.refused
            )
        }))
        .chain(report.rpc_calls.iter().map(|c| {
            format!(
                "rpc {}: {} calls, {} returned, {} allowed",
                c.function, c.calls, c.successes, c.allowed
            )
        }))
        .collect();
    lines.sort();
    lines
}

/// The verdict on a mutant's report against the unbroken schema's.
pub(crate) fn judge(mutant: &Mutant, report: &Report, baseline: &Report) -> Verdict {
    let known: BTreeSet<&str> = baseline
        .findings
        .iter()
        .map(|f| f.signature.as_str())
        .collect();
    let new: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.signature.clone())
        .filter(|s| !known.contains(s.as_str()))
        .collect();
    if !new.is_empty() {
        return Verdict::Killed { by: new };
    }
    let (before, after) = (evidence(baseline), evidence(report));
    if before == after {
        return Verdict::Equivalent {
            reading: format!(
                "every probe observed the same as on the unbroken schema ({} observations); {}",
                after.len(),
                layer(mutant.kind)
            ),
        };
    }
    let changed: Vec<&String> = after
        .iter()
        .filter(|l| !before.contains(l))
        .take(3)
        .collect();
    Verdict::BlindSpot {
        reading: format!(
            "the probes observed a difference and no check called it a defect, e.g. {}: \
             tighten the rules for it, or file it as a blind spot of smta-verify",
            changed
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Which layer usually still protects against a mistake of this kind, for the reading
/// of an equivalent mutant (the verdict itself comes from the evidence).
fn layer(kind: MutationKind) -> &'static str {
    match kind {
        MutationKind::PolicyDropped
        | MutationKind::PolicyUsingTrue
        | MutationKind::PolicyCheckTrue
        | MutationKind::ConjunctRemoved
        | MutationKind::SoftDeleteFilterRemoved => {
            "another policy, a column privilege, a trigger or the missing grant decides the same"
        }
        MutationKind::PolicyToPublic => "the policy's roles were the only ones with a grant anyway",
        MutationKind::RlsDisabled | MutationKind::ForceRemoved => {
            "no role subject to it holds a privilege on the table (or owns it)"
        }
        MutationKind::TableGrantedToAnonymous => "the anonymous role still cannot reach the rows",
        MutationKind::DefinerExecutableByPublic => {
            "the roles that may now execute it reach nothing more"
        }
        MutationKind::SearchPathRemoved | MutationKind::InvokerMadeDefiner => {
            "the function qualifies every name and reads nothing its callers could not"
        }
        MutationKind::GuardRemoved => {
            "a later check in the body, a policy or a trigger refuses the same calls"
        }
        MutationKind::AuditTriggerDropped => {
            "another trigger or the missing privileges still refuse the change"
        }
        MutationKind::AuditWriteRemoved => "another statement writes the same audit row",
        MutationKind::HelperIgnoresSoftDelete => "the policies filter soft-deleted rows themselves",
    }
}

/// The mutation score: per kind and in all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    pub total: usize,
    pub killed: usize,
    pub equivalent: usize,
    pub blind_spots: usize,
    pub invalid: usize,
    /// Killed of the mutants that can be killed (equivalent and invalid ones left out),
    /// as a percentage.
    pub percent: f64,
}

impl Score {
    pub(crate) fn of<'a>(results: impl Iterator<Item = &'a MutantResult>) -> Score {
        let mut s = Score::default();
        for r in results {
            s.total += 1;
            match r.verdict {
                Verdict::Killed { .. } => s.killed += 1,
                Verdict::Equivalent { .. } => s.equivalent += 1,
                Verdict::BlindSpot { .. } => s.blind_spots += 1,
                Verdict::Invalid { .. } => s.invalid += 1,
            }
        }
        let killable = s.killed + s.blind_spots;
        s.percent = if killable == 0 {
            100.0
        } else {
            (s.killed as f64 * 1000.0 / killable as f64).round() / 10.0
        };
        s
    }
}

/// Runs `mutants`, `parallel` at a time, in order; `one` runs a single mutant (clone,
/// overlay, checks) and returns its report, or why its overlay did not apply.
pub(crate) async fn all<F, Fut>(
    mutants: Vec<Mutant>,
    baseline: &Report,
    parallel: usize,
    one: F,
) -> Result<Vec<MutantResult>, Error>
where
    F: Fn(Mutant) -> Fut,
    Fut: std::future::Future<Output = Result<Result<Report, String>, Error>>,
{
    use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
    stream::iter(mutants)
        .map(|mutant| {
            let run = one(mutant.clone());
            async move {
                let started = Instant::now();
                let verdict = match run.await? {
                    Ok(report) => judge(&mutant, &report, baseline),
                    Err(error) => Verdict::Invalid { error },
                };
                Ok::<_, Error>(MutantResult {
                    mutant,
                    verdict,
                    duration_ms: started.elapsed().as_millis() as u64,
                })
            }
        })
        .buffered(parallel.max(1))
        .try_collect()
        .await
}
