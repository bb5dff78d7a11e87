//! Running the mutants: each in its own clone of the installed template, one per core,
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

use super::{Mutant, MutationKind, Target};
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

/// What a run observed that a mutant could change, as facts that do not depend on
/// how often a world happened to show them: per access-matrix cell the reach
/// observed, per table × operation × kind of actor whether some probe was allowed and
/// whether some was refused, per RPC whether it returned and whether it raised. Equal
/// evidence means no probe could tell the two schemas apart.
///
/// A cell refused with an error and one that reached no row are the same reach here,
/// as the matrix itself judges them: either way no row was read or written, and a
/// mistake that only turns the one into the other (a `USING` made `true` whose
/// `WITH CHECK` still refuses) opened nothing.
pub(crate) fn evidence(report: &Report) -> BTreeSet<String> {
    report
        .matrix
        .iter()
        .map(|m| {
            let reach = match m.observed.as_str() {
                "denied" | "none" => "no row",
                other => other,
            };
            format!("{} {} {}: observed {reach}", m.actor, m.table, m.operation)
        })
        .chain(report.exercised.iter().flat_map(|e| {
            let path = format!("{} {} by {}", e.operation, e.table, e.actor_kind);
            [
                (e.allowed > 0).then(|| format!("{path}: some allowed")),
                (e.refused > 0).then(|| format!("{path}: some refused")),
            ]
            .into_iter()
            .flatten()
        }))
        .chain(rpc_calls(report).into_iter().flat_map(|c| {
            [
                (c.successes > 0).then(|| format!("{}: returned", c.function)),
                (c.successes < c.calls).then(|| format!("{}: raised", c.function)),
            ]
            .into_iter()
            .flatten()
        }))
        .collect()
}

/// Calls per RPC by the contract sequences and the RPC matrix together: a path either
/// exercised was exercised.
fn rpc_calls(report: &Report) -> Vec<crate::report::RpcCalls> {
    let matrix = report.rpc_matrix.as_ref().map_or(&[][..], |m| &m.counts);
    crate::report::coverage::combined(&report.rpc_calls, matrix)
}

/// Facts the runs of the unbroken schema disagree on. With one seed the worlds are
/// the same, but rows the database keys itself (a trigger's `gen_random_uuid()`)
/// come in another order, and some probes follow that order: such facts prove
/// nothing either way. Each run is a sample of that noise, so the more runs the
/// fewer noisy facts are taken for a mutant's trace.
pub(crate) fn noise(runs: &[Report]) -> BTreeSet<String> {
    let facts: Vec<BTreeSet<String>> = runs.iter().map(evidence).collect();
    let (Some(first), rest) = (facts.first(), facts.get(1..).unwrap_or_default()) else {
        return BTreeSet::new();
    };
    rest.iter()
        .flat_map(|other| {
            first
                .symmetric_difference(other)
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The verdict on a mutant's report against the unbroken schema's.
pub(crate) fn judge(
    mutant: &Mutant,
    report: &Report,
    baseline: &Report,
    noise: &BTreeSet<String>,
) -> Verdict {
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
    if let Some(gap) = unexercised(mutant, report) {
        return Verdict::BlindSpot {
            reading: format!(
                "nothing noticed it, and the run never exercised {gap}, so nothing shows it \
                 harmless either: raise --cases or --rpc-sequences, or give the path rules or \
                 a contract that reach it"
            ),
        };
    }
    let (before, after) = (evidence(baseline), evidence(report));
    let changed: Vec<String> = before
        .symmetric_difference(&after)
        .filter(|fact| !noise.contains(*fact))
        .take(3)
        .map(|fact| {
            if before.contains(fact) {
                format!("no longer `{fact}`")
            } else {
                format!("now `{fact}`")
            }
        })
        .collect();
    if changed.is_empty() {
        return Verdict::Equivalent {
            reading: format!(
                "every probe observed the same as on the unbroken schema ({} facts); {}",
                after.len(),
                layer(mutant.kind)
            ),
        };
    }
    Verdict::BlindSpot {
        reading: format!(
            "the probes observed a difference and no check called it a defect ({}): \
             tighten the rules for it, or file it as a blind spot of smta-verify",
            changed.join(", ")
        ),
    }
}

/// What the mutant breaks that the run never exercised both ways, if anything: an
/// equal observation proves nothing about a path no probe took.
fn unexercised(mutant: &Mutant, report: &Report) -> Option<String> {
    match &mutant.target {
        Target::Catalog => None,
        Target::Table { table, command } => {
            let user = |kind: &str| !matches!(kind, "anonymous" | "public" | "service");
            let (allowed, refused) = report
                .exercised
                .iter()
                .filter(|e| &e.table == table && user(&e.actor_kind))
                .filter(|e| command == "ALL" || e.operation.starts_with(command.as_str()))
                .fold((0, 0), |(a, r), e| (a + e.allowed, r + e.refused));
            match (allowed, refused) {
                (0, 0) => Some(format!("{command} on {table}")),
                (0, _) => Some(format!("an allowed {command} on {table}")),
                (_, 0) => Some(format!("a refused {command} on {table}")),
                _ => None,
            }
        }
        Target::Function { function } => {
            let calls = rpc_calls(report)
                .into_iter()
                .find(|c| &c.function == function);
            let (allowed, overstepping) =
                calls.map_or((0, 0), |c| (c.successes.min(c.allowed), c.overstepping));
            let needed = match mutant.kind {
                MutationKind::GuardRemoved => overstepping > 0,
                _ => allowed > 0,
            };
            (!needed).then(|| {
                format!(
                    "{function} {}",
                    if mutant.kind == MutationKind::GuardRemoved {
                        "by a caller its contract refuses, on arguments it would otherwise accept"
                    } else {
                        "successfully, by a caller its contract allows"
                    }
                )
            })
        }
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
    noise: &BTreeSet<String>,
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
                    Ok(report) => judge(&mutant, &report, baseline, noise),
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
