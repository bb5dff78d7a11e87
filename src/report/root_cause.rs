//! One finding per signature, and root causes: what one fix removes.
//!
//! Checks report every time they meet a defect; a reader needs each distinct defect
//! once (its signature, how often it was met) and, above that, the list of things to
//! fix. Each check names the cause of its findings (`checks::cause`); findings that
//! share a cause key are one root cause here, reported once with its fix and every
//! finding under it, most severe first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::rules;
use crate::finding::{CheckId, Finding, Severity};

/// Findings that one fix removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCause {
    /// Stable across runs: `policy:core.units:SELECT`, `function:public.f(uuid)`,
    /// `grant:anon:core:tables`, … (what the cause is about, never generated ids).
    pub id: String,
    pub title: String,
    pub fix: String,
    /// The worst severity among its findings.
    pub severity: Severity,
    pub checks: Vec<CheckId>,
    /// The objects its findings are about.
    pub objects: Vec<String>,
    /// Signatures of its findings, worst first.
    pub findings: Vec<String>,
}

/// One finding per signature: the first met keeps its example and message, the
/// occurrences of the others add up.
pub(crate) fn deduplicate(findings: Vec<Finding>) -> Vec<Finding> {
    let mut kept: Vec<Finding> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for mut finding in findings {
        let signature = finding.signature();
        match index.get(&signature) {
            Some(&i) => kept[i].occurrences += finding.occurrences.max(1),
            None => {
                finding.signature = signature.clone();
                finding.occurrences = finding.occurrences.max(1);
                index.insert(signature, kept.len());
                kept.push(finding);
            }
        }
    }
    kept
}

/// Groups `findings` by cause, sets each finding's `root_cause`, and returns the root
/// causes worst first (then by the number of findings, then by id).
pub(crate) fn group(findings: &mut [Finding]) -> Vec<RootCause> {
    // A finding that several causes could explain joins the one that explains a
    // finding with no such doubt, if any does.
    let settled: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.alternatives.is_empty())
        .filter_map(|f| f.cause.as_ref().map(|c| c.key.clone()))
        .collect();
    for finding in findings.iter_mut() {
        let first_settled = finding
            .cause
            .iter()
            .chain(&finding.alternatives)
            .find(|c| settled.contains(&c.key))
            .cloned();
        if let Some(cause) = first_settled {
            finding.cause = Some(cause);
        }
    }
    let mut causes: BTreeMap<String, RootCause> = BTreeMap::new();
    for finding in findings.iter_mut() {
        let (key, title, fix) = match &finding.cause {
            Some(c) => (c.key.clone(), c.title.clone(), c.fix.clone()),
            None => (
                format!("{}:{}", finding.check, finding.object),
                format!("{} on {}", finding.check, finding.object),
                rules::describe(finding.check).help.to_string(),
            ),
        };
        finding.root_cause = key.clone();
        let cause = causes.entry(key.clone()).or_insert_with(|| RootCause {
            id: key,
            title,
            fix,
            severity: finding.severity,
            checks: Vec::new(),
            objects: Vec::new(),
            findings: Vec::new(),
        });
        cause.severity = cause.severity.max(finding.severity);
        cause.findings.push(finding.signature.clone());
    }
    let severity: BTreeMap<&str, Severity> = findings
        .iter()
        .map(|f| (f.signature.as_str(), f.severity))
        .collect();
    let by_signature: BTreeMap<&str, &Finding> =
        findings.iter().map(|f| (f.signature.as_str(), f)).collect();
    let mut causes: Vec<RootCause> = causes
        .into_values()
        .map(|mut c| {
            c.findings
                .sort_by_key(|s| (std::cmp::Reverse(severity[s.as_str()]), s.clone()));
            let checks: BTreeSet<CheckId> = c
                .findings
                .iter()
                .map(|s| by_signature[s.as_str()].check)
                .collect();
            let objects: BTreeSet<String> = c
                .findings
                .iter()
                .map(|s| by_signature[s.as_str()].object.clone())
                .collect();
            c.checks = checks.into_iter().collect();
            c.objects = objects.into_iter().collect();
            c
        })
        .collect();
    causes.sort_by(|a, b| {
        (
            std::cmp::Reverse(a.severity),
            std::cmp::Reverse(a.findings.len()),
            &a.id,
        )
            .cmp(&(
                std::cmp::Reverse(b.severity),
                std::cmp::Reverse(b.findings.len()),
                &b.id,
            ))
    });
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed(function: &str) -> Finding {
        Finding::new(CheckId::FunctionExposed, function, "GRANT EXECUTE")
            .actor("PUBLIC")
            .cause(
                "grant:PUBLIC:core:functions",
                "PUBLIC holds privileges on functions in schema core",
                "REVOKE …",
            )
    }

    #[test]
    fn one_grant_to_public_on_many_functions_is_one_root_cause() {
        let mut findings = deduplicate(
            (0..95)
                .map(|i| exposed(&format!("core.f{i}()")))
                .chain([Finding::new(CheckId::RlsDisabled, "app.t", "ALTER TABLE")])
                .collect(),
        );
        let causes = group(&mut findings);
        assert_eq!(causes.len(), 2);
        // High before high: the larger group first.
        assert_eq!(causes[0].id, "grant:PUBLIC:core:functions");
        assert_eq!(causes[0].objects.len(), 95);
        assert_eq!(causes[0].checks, vec![CheckId::FunctionExposed]);
        assert_eq!(causes[1].id, "rls-disabled:app.t");
        assert!(findings
            .iter()
            .all(|f| causes.iter().any(|c| c.id == f.root_cause)));
    }

    #[test]
    fn a_signature_met_many_times_is_one_finding_with_its_count() {
        let leak = |user: &str| {
            Finding::new(CheckId::CrossTenantRead, "core.units", "SELECT")
                .actor(user)
                .actor_kind("outsider")
        };
        let findings = deduplicate(vec![leak("user:1"), leak("user:2"), leak("user:3")]);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].occurrences, 3);
        assert_eq!(findings[0].actor, "user:1");
        assert_eq!(
            findings[0].signature,
            "cross-tenant-read|core.units|SELECT|outsider"
        );
    }

    #[test]
    fn a_doubtful_cause_joins_the_one_another_finding_settles() {
        let policy = |table: &str| crate::finding::Cause {
            key: format!("policy:{table}:SELECT"),
            title: format!("the SELECT policies of {table}"),
            fix: "…".into(),
        };
        let direct = Finding::new(CheckId::CrossTenantRead, "core.units", "SELECT")
            .actor("user:1")
            .cause(
                "policy:core.units:SELECT",
                "the SELECT policies of core.units",
                "…",
            );
        let mut through_rpc = Finding::new(
            CheckId::RpcCrossTenant,
            "public.list_units(uuid)",
            "EXECUTE",
        )
        .actor("user:1");
        through_rpc.cause = Some(policy("core.unit_meta"));
        through_rpc.alternatives = vec![policy("core.units"), policy("core.organizations")];
        let mut findings = deduplicate(vec![direct, through_rpc]);
        let causes = group(&mut findings);
        assert_eq!(causes.len(), 1, "{causes:#?}");
        assert_eq!(causes[0].id, "policy:core.units:SELECT");
        assert_eq!(causes[0].findings.len(), 2);
    }

    #[test]
    fn root_causes_lead_with_the_worst_severity() {
        let mut findings = deduplicate(vec![
            Finding::new(CheckId::OverRestriction, "core.a", "SELECT"),
            Finding::new(CheckId::CrossTenantRead, "core.b", "SELECT").actor("user:1"),
        ]);
        let causes = group(&mut findings);
        assert_eq!(causes[0].severity, Severity::Critical);
        assert_eq!(causes[1].severity, Severity::Low);
    }
}
