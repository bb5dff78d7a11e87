//! The report as people read it: grouped, ordered and laid out for the page formats.
//!
//! Markdown and HTML show the same things — a verdict, counts by check and
//! severity, findings by severity, the actor × table × operation grid, the
//! counterexample world and the run's facts — so the arranging happens once, here, in
//! plain Rust that unit tests can reach, and the templates only place it on the page.
//! Nothing here escapes: each template's format does its own.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{rules, MatrixEntry, Report};
use crate::finding::{CheckId, Finding, Severity};
use crate::world::model::{id, Kind};

/// Severities from the worst down, the order reports list them in.
pub(crate) const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
];

#[derive(Debug, Serialize)]
pub(crate) struct View {
    pub(crate) verdict: Verdict,
    pub(crate) run: RunView,
    /// One row per check that examined something or found something.
    pub(crate) summary: Vec<SummaryRow>,
    pub(crate) totals: SummaryRow,
    /// What to fix, worst first, each with its findings.
    pub(crate) root_causes: Vec<RootCauseView>,
    /// What the run spent its budget on, one line per phase and for shrinking.
    pub(crate) exploration: Vec<String>,
    /// Paths never exercised, in words.
    pub(crate) gaps: Vec<String>,
    /// Only severities with findings, worst first.
    pub(crate) groups: Vec<SeverityGroup>,
    pub(crate) matrix: MatrixView,
    pub(crate) world: Option<WorldView>,
    pub(crate) notes: Vec<String>,
    /// The RPC contract check's calls per RPC (empty when it did not run).
    pub(crate) rpc_calls: Vec<super::RpcCalls>,
    /// The RPC matrix (when it ran).
    pub(crate) rpc_matrix: Option<RpcMatrixView>,
    /// Each policy's observed decisions.
    pub(crate) policies: Vec<PolicyView>,
    /// Policies with both sides observed or shared, of those users meet.
    pub(crate) policies_exercised: usize,
    pub(crate) policies_reachable: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct PolicyView {
    pub(crate) table: String,
    pub(crate) policy: String,
    pub(crate) command: String,
    /// permissive or restrictive.
    pub(crate) kind: String,
    /// observed, shared, unobserved or unreachable.
    pub(crate) allow: String,
    pub(crate) deny: String,
    /// "observed (member, super admin)".
    pub(crate) allow_text: String,
    pub(crate) deny_text: String,
    pub(crate) note: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RpcMatrixView {
    pub(crate) callers: Vec<String>,
    pub(crate) rows: Vec<RpcRowView>,
    /// "2 818 calls in 1.2 s, relative to organization …".
    pub(crate) scope: String,
    pub(crate) allowed: usize,
    pub(crate) refused: usize,
    pub(crate) defects: usize,
    /// Cells whose outcome differs from what the contract says (and have no finding).
    pub(crate) unexpected: usize,
    /// Functions judged by the generic oracle (no contract).
    pub(crate) generic: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct RpcRowView {
    pub(crate) function: String,
    /// `contract`, or `generic oracle`.
    pub(crate) judged_by: String,
    pub(crate) security_definer: bool,
    /// One per column; `None` where that kind of caller made no call.
    pub(crate) cells: Vec<Option<RpcCellView>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RpcCellView {
    /// allowed, refused or defect.
    pub(crate) outcome: String,
    /// The contract's word where it differs from the outcome without a finding.
    pub(crate) unexpected: Option<String>,
    /// The number of the cell's first finding.
    pub(crate) finding: Option<usize>,
    /// A sentence for tooltips and screen readers.
    pub(crate) title: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Verdict {
    pub(crate) clean: bool,
    /// "No findings" or "3 findings: 1 critical, 2 high".
    pub(crate) headline: String,
    /// What was verified: flavour, cases, seed.
    pub(crate) scope: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunView {
    pub(crate) tool_version: String,
    pub(crate) postgres_version: String,
    pub(crate) flavor: String,
    pub(crate) backend: String,
    pub(crate) seed: u64,
    pub(crate) cases: u64,
    pub(crate) started_at: String,
    pub(crate) duration: String,
    pub(crate) probes: u64,
    pub(crate) rows_compared: u64,
    pub(crate) schema_sources: Vec<String>,
    pub(crate) access_rules: String,
    pub(crate) schema_version: u32,
    /// The flags that replay the same worlds, given the same schema, rules and
    /// `--cases` (the run records the cases it completed, which can be fewer).
    pub(crate) replay: String,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct SummaryRow {
    pub(crate) check: String,
    pub(crate) summary: String,
    /// Objects the check examined.
    pub(crate) objects: usize,
    pub(crate) critical: usize,
    pub(crate) high: usize,
    pub(crate) medium: usize,
    pub(crate) low: usize,
    pub(crate) total: usize,
}

impl SummaryRow {
    fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
        }
        self.total += 1;
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct RootCauseView {
    /// 1-based; HTML anchors are `cause-<n>`.
    pub(crate) number: usize,
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) fix: String,
    pub(crate) severity: String,
    pub(crate) checks: Vec<String>,
    /// The first objects concerned; `more_objects` says how many are left out.
    pub(crate) objects: Vec<String>,
    pub(crate) more_objects: usize,
    pub(crate) findings: Vec<FindingView>,
    /// One reproduction for the cause: its worst finding's that has one.
    pub(crate) reproduction: String,
    pub(crate) reproduction_of: Option<usize>,
}

/// Objects a root cause lists before saying "and N more".
const CAUSE_OBJECTS: usize = 12;

#[derive(Debug, Serialize)]
pub(crate) struct SeverityGroup {
    pub(crate) severity: String,
    pub(crate) findings: Vec<FindingView>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FindingView {
    /// 1-based position in the report; HTML anchors are `finding-<n>`.
    pub(crate) number: usize,
    pub(crate) check: String,
    pub(crate) severity: String,
    pub(crate) object: String,
    /// `-` for catalog findings that concern no actor.
    pub(crate) actor: String,
    /// `-` when no actor.
    pub(crate) actor_kind: String,
    pub(crate) operation: String,
    pub(crate) message: String,
    pub(crate) reproduction: String,
    pub(crate) signature: String,
    /// How often the run met this defect.
    pub(crate) occurrences: u64,
    /// How the example was shrunk, in words, when the finding came from one.
    pub(crate) shrink: Option<String>,
    /// The number of its root cause.
    pub(crate) root_cause: usize,
    /// `file:line` of the object's definition, when found.
    pub(crate) location: Option<String>,
    pub(crate) help: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct MatrixView {
    /// Column groups: each actor with its operations, in column order.
    pub(crate) actors: Vec<ActorColumns>,
    pub(crate) rows: Vec<MatrixRow>,
    /// Cells whose observed reach differed from the rules in some case.
    pub(crate) mismatched: usize,
    /// Cells with a finding on the same actor, table and operation.
    pub(crate) flagged: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct ActorColumns {
    pub(crate) actor: String,
    pub(crate) operations: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct MatrixRow {
    pub(crate) table: String,
    /// One per column; `None` where the actor never ran the operation on the table.
    pub(crate) cells: Vec<Option<CellView>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CellView {
    pub(crate) actor: String,
    pub(crate) operation: String,
    pub(crate) observed: String,
    pub(crate) expected: String,
    pub(crate) mismatches: u64,
    pub(crate) observations: u64,
    /// The number of the first finding on this cell, if any.
    pub(crate) finding: Option<usize>,
    /// A sentence for tooltips and screen readers.
    pub(crate) title: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct WorldView {
    /// Non-empty collections of entities, each as a small table.
    pub(crate) collections: Vec<Collection>,
    /// Names of the empty collections.
    pub(crate) empty: Vec<String>,
    /// The world as report.json holds it.
    pub(crate) json: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Collection {
    pub(crate) name: String,
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl View {
    pub(crate) fn of(report: &Report) -> View {
        let findings = ordered_findings(report);
        View {
            verdict: verdict(report),
            run: run_view(report),
            summary: summary_rows(report),
            totals: totals(report),
            root_causes: root_causes(report, &findings),
            exploration: exploration_lines(report),
            gaps: report.gaps.clone(),
            groups: groups(&findings),
            matrix: matrix_view(&report.matrix, &findings),
            world: report.counterexample.as_ref().map(|c| world_view(&c.world)),
            notes: report.notes.clone(),
            rpc_calls: report.rpc_calls.clone(),
            rpc_matrix: report
                .rpc_matrix
                .as_ref()
                .map(|m| rpc_matrix_view(m, &findings)),
            policies: report.policy_coverage.iter().map(policy_view).collect(),
            policies_exercised: report
                .policy_coverage
                .iter()
                .filter(|p| exercised(p.allow) && exercised(p.deny))
                .count(),
            policies_reachable: report
                .policy_coverage
                .iter()
                .filter(|p| p.allow != super::Decision::Unreachable)
                .count(),
        }
    }
}

/// Findings in the order of their root causes (worst first), and within a cause
/// worst first, numbered; findings of no listed cause follow, worst first.
fn ordered_findings(report: &Report) -> Vec<FindingView> {
    let mut order: Vec<(usize, &Finding)> = Vec::new();
    let mut placed = BTreeSet::new();
    for (c, cause) in report.root_causes.iter().enumerate() {
        for signature in &cause.findings {
            if let Some(f) = report.findings.iter().find(|f| &f.signature == signature) {
                if placed.insert(signature.as_str()) {
                    order.push((c + 1, f));
                }
            }
        }
    }
    let mut rest: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| !placed.contains(f.signature.as_str()))
        .collect();
    rest.sort_by(|a, b| {
        (b.severity, a.check, &a.object, &a.actor, &a.operation).cmp(&(
            a.severity,
            b.check,
            &b.object,
            &b.actor,
            &b.operation,
        ))
    });
    order.extend(rest.into_iter().map(|f| (0, f)));
    order
        .into_iter()
        .enumerate()
        .map(|(i, (cause, f))| FindingView {
            number: i + 1,
            check: f.check.to_string(),
            severity: f.severity.to_string(),
            object: f.object.clone(),
            actor: if f.actor.is_empty() {
                "-".into()
            } else {
                f.actor.clone()
            },
            actor_kind: if f.actor_kind.is_empty() {
                "-".into()
            } else {
                f.actor_kind.clone()
            },
            operation: f.operation.clone(),
            message: f.message.clone(),
            reproduction: f.reproduction.clone(),
            signature: f.signature.clone(),
            occurrences: f.occurrences,
            shrink: f.example.as_ref().map(|e| shrink_words(&e.shrink)),
            root_cause: cause,
            location: report.locations.get(&f.object).map(|l| l.to_string()),
            help: rules::describe(f.check).help.to_string(),
        })
        .collect()
}

fn shrink_words(shrink: &crate::finding::Shrink) -> String {
    match shrink.status {
        crate::finding::ShrinkStatus::Minimal => format!(
            "minimal example ({} shrinking step(s), {})",
            shrink.steps,
            duration(shrink.duration_ms)
        ),
        crate::finding::ShrinkStatus::BudgetSpent => format!(
            "shrinking budget spent after {} step(s) ({}): the smallest example found by then",
            shrink.steps,
            duration(shrink.duration_ms)
        ),
    }
}

fn root_causes(report: &Report, findings: &[FindingView]) -> Vec<RootCauseView> {
    report
        .root_causes
        .iter()
        .enumerate()
        .map(|(i, cause)| {
            let members: Vec<FindingView> = findings
                .iter()
                .filter(|f| f.root_cause == i + 1)
                .cloned()
                .collect();
            let reproducing = members.iter().find(|f| !f.reproduction.is_empty());
            RootCauseView {
                number: i + 1,
                id: cause.id.clone(),
                title: cause.title.clone(),
                fix: cause.fix.clone(),
                severity: cause.severity.to_string(),
                checks: cause.checks.iter().map(|c| c.to_string()).collect(),
                objects: cause.objects.iter().take(CAUSE_OBJECTS).cloned().collect(),
                more_objects: cause.objects.len().saturating_sub(CAUSE_OBJECTS),
                reproduction: reproducing
                    .map(|f| f.reproduction.clone())
                    .unwrap_or_default(),
                reproduction_of: reproducing.map(|f| f.number),
                findings: members,
            }
        })
        .collect()
}

/// One line per phase, and one for shrinking.
fn exploration_lines(report: &Report) -> Vec<String> {
    let e = &report.exploration;
    let mut lines: Vec<String> = e
        .phases
        .iter()
        .filter(|p| p.planned > 0)
        .map(|p| {
            let ran = if p.ran == p.planned {
                format!("{} {}", p.ran, p.unit)
            } else {
                format!("{} of {} {}", p.ran, p.planned, p.unit)
            };
            format!("{}: {ran} in {}", p.name, duration(p.duration_ms))
        })
        .collect();
    if e.fail_fast {
        lines.push("fail-fast: generation stopped at the first failing case".into());
    }
    let s = &e.shrink;
    if s.minimal + s.budget_spent > 0 {
        lines.push(format!(
            "shrinking: {} example(s) minimal, {} kept as found when the budget ran out \
             ({} per defect, {} per run; {} spent)",
            s.minimal,
            s.budget_spent,
            duration(s.per_signature_ms),
            duration(s.per_run_ms),
            duration(s.spent_ms)
        ));
    }
    lines.push(format!(
        "{} distinct defect(s) in {} root cause(s)",
        e.signatures,
        report.root_causes.len()
    ));
    lines
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn verdict(report: &Report) -> Verdict {
    let counts: Vec<String> = SEVERITIES
        .iter()
        .filter_map(|s| {
            let n = report.findings.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    let headline = if report.findings.is_empty() {
        "No findings".to_string()
    } else {
        format!(
            "{} in {} ({})",
            plural(report.findings.len(), "finding"),
            plural(report.root_causes.len(), "root cause"),
            counts.join(", ")
        )
    };
    Verdict {
        clean: report.findings.is_empty(),
        headline,
        scope: format!(
            "{} schema, {}, seed {}, PostgreSQL {}",
            report.run.flavor,
            plural(report.run.cases as usize, "case"),
            report.run.seed,
            report
                .run
                .postgres_version
                .split_whitespace()
                .next()
                .unwrap_or("?")
        ),
    }
}

/// `9.0 s`, `2 min 5 s`.
pub(crate) fn duration(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

fn run_view(report: &Report) -> RunView {
    let run = &report.run;
    RunView {
        tool_version: run.tool_version.clone(),
        postgres_version: run.postgres_version.clone(),
        flavor: run.flavor.clone(),
        backend: run.backend.clone(),
        seed: run.seed,
        cases: run.cases,
        started_at: run.started_at.clone(),
        duration: duration(run.duration_ms),
        probes: report.summary.probes,
        rows_compared: report.summary.rows_compared,
        schema_sources: run.schema_sources.clone(),
        access_rules: run.access_rules.clone(),
        schema_version: report.schema_version,
        replay: format!("--flavor {} --seed {}", run.flavor, run.seed),
    }
}

fn summary_rows(report: &Report) -> Vec<SummaryRow> {
    let mut checks: BTreeSet<CheckId> = report.coverage.keys().copied().collect();
    checks.extend(report.findings.iter().map(|f| f.check));
    checks
        .into_iter()
        .map(|check| {
            let mut row = SummaryRow {
                check: check.to_string(),
                summary: rules::describe(check).summary.to_string(),
                objects: report.coverage.get(&check).map_or(0, BTreeSet::len),
                ..SummaryRow::default()
            };
            for f in report.findings.iter().filter(|f| f.check == check) {
                row.add(f.severity);
            }
            row
        })
        .collect()
}

fn totals(report: &Report) -> SummaryRow {
    let mut row = SummaryRow {
        check: "total".into(),
        objects: report
            .coverage
            .values()
            .flatten()
            .collect::<BTreeSet<_>>()
            .len(),
        ..SummaryRow::default()
    };
    for f in &report.findings {
        row.add(f.severity);
    }
    row
}

fn groups(findings: &[FindingView]) -> Vec<SeverityGroup> {
    SEVERITIES
        .iter()
        .filter_map(|s| {
            let in_group: Vec<FindingView> = findings
                .iter()
                .filter(|f| f.severity == s.as_str())
                .cloned()
                .collect();
            (!in_group.is_empty()).then(|| SeverityGroup {
                severity: s.to_string(),
                findings: in_group,
            })
        })
        .collect()
}

/// Column order: the outsiders first, then users, then the service role, so the
/// columns read from "must reach nothing" to "may reach everything".
fn actor_rank(actor: &str) -> (usize, String) {
    let rank = ["anonymous", "public", "user", "owner", "service"]
        .iter()
        .position(|a| *a == actor)
        .unwrap_or(5);
    (rank, actor.to_string())
}

fn operation_rank(operation: &str) -> (usize, String) {
    let rank = [
        "SELECT",
        "INSERT",
        "INSERT ON CONFLICT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
    ]
    .iter()
    .position(|o| *o == operation)
    .unwrap_or(6);
    (rank, operation.to_string())
}

/// The actor kind of a finding's actor: `user:<uuid>` → `user`.
fn actor_kind(actor: &str) -> &str {
    actor.split(':').next().unwrap_or(actor)
}

fn matrix_view(matrix: &[MatrixEntry], findings: &[FindingView]) -> MatrixView {
    let mut actors: BTreeMap<(usize, String), BTreeSet<(usize, String)>> = BTreeMap::new();
    let mut cells: BTreeMap<(&str, &str, &str), &MatrixEntry> = BTreeMap::new();
    let mut tables: BTreeSet<&str> = BTreeSet::new();
    for entry in matrix {
        actors
            .entry(actor_rank(&entry.actor))
            .or_default()
            .insert(operation_rank(&entry.operation));
        cells.insert(
            (
                entry.table.as_str(),
                entry.actor.as_str(),
                entry.operation.as_str(),
            ),
            entry,
        );
        tables.insert(&entry.table);
    }
    let columns: Vec<ActorColumns> = actors
        .into_iter()
        .map(|((_, actor), operations)| ActorColumns {
            actor,
            operations: operations.into_iter().map(|(_, o)| o).collect(),
        })
        .collect();
    let (mut mismatched, mut flagged) = (0, 0);
    let rows = tables
        .into_iter()
        .map(|table| {
            let cells = columns
                .iter()
                .flat_map(|c| c.operations.iter().map(move |o| (c.actor.as_str(), o)))
                .map(|(actor, operation)| {
                    let entry = cells.get(&(table, actor, operation.as_str()))?;
                    let finding = findings
                        .iter()
                        .find(|f| {
                            f.object == table
                                && f.operation == *operation
                                && actor_kind(&f.actor) == actor
                        })
                        .map(|f| f.number);
                    mismatched += usize::from(entry.mismatches > 0);
                    flagged += usize::from(finding.is_some());
                    Some(cell_view(entry, finding))
                })
                .collect();
            MatrixRow {
                table: table.to_string(),
                cells,
            }
        })
        .collect();
    MatrixView {
        actors: columns,
        rows,
        mismatched,
        flagged,
    }
}

fn decision_word(decision: super::Decision) -> &'static str {
    match decision {
        super::Decision::Observed => "observed",
        super::Decision::Shared => "shared",
        super::Decision::Unobserved => "unobserved",
        super::Decision::Unreachable => "unreachable",
    }
}

fn exercised(decision: super::Decision) -> bool {
    matches!(
        decision,
        super::Decision::Observed | super::Decision::Shared
    )
}

fn policy_view(p: &super::PolicyCoverage) -> PolicyView {
    let text = |d: super::Decision, kinds: &[String]| {
        if kinds.is_empty() {
            decision_word(d).to_string()
        } else {
            format!("{} ({})", decision_word(d), kinds.join(", "))
        }
    };
    PolicyView {
        table: p.table.clone(),
        policy: p.policy.clone(),
        command: p.command.clone(),
        kind: if p.permissive {
            "permissive".into()
        } else {
            "restrictive".into()
        },
        allow: decision_word(p.allow).into(),
        deny: decision_word(p.deny).into(),
        allow_text: text(p.allow, &p.allowed_for),
        deny_text: text(p.deny, &p.denied_for),
        note: p.note.clone(),
    }
}

fn outcome_word(outcome: super::RpcOutcome) -> &'static str {
    match outcome {
        super::RpcOutcome::Allowed => "allowed",
        super::RpcOutcome::Refused => "refused",
        super::RpcOutcome::Defect => "defect",
    }
}

/// The RPC matrix as a grid: a row per function, a column per kind of caller, each
/// cell with the number of its first finding.
fn rpc_matrix_view(matrix: &super::RpcMatrix, findings: &[FindingView]) -> RpcMatrixView {
    let number = |signature: &String| {
        findings
            .iter()
            .find(|f| &f.signature == signature)
            .map(|f| f.number)
    };
    let (mut allowed, mut refused, mut defects, mut unexpected) = (0, 0, 0, 0);
    let rows = matrix
        .functions
        .iter()
        .map(|row| RpcRowView {
            function: row.function.clone(),
            judged_by: if row.contract {
                "contract".into()
            } else {
                "generic oracle".into()
            },
            security_definer: row.security_definer,
            cells: matrix
                .callers
                .iter()
                .map(|caller| {
                    let cell = row.cells.iter().find(|c| &c.caller == caller)?;
                    let outcome = outcome_word(cell.outcome);
                    let finding = cell.findings.iter().filter_map(number).min();
                    let differs = cell
                        .expected
                        .filter(|e| cell.outcome != super::RpcOutcome::Defect && *e != cell.outcome)
                        .map(|e| outcome_word(e).to_string());
                    match cell.outcome {
                        super::RpcOutcome::Allowed => allowed += 1,
                        super::RpcOutcome::Refused => refused += 1,
                        super::RpcOutcome::Defect => defects += 1,
                    }
                    unexpected += usize::from(differs.is_some());
                    let mut title = format!(
                        "{} calling {}: {outcome} ({} call(s), {} went through)",
                        caller, row.function, cell.calls, cell.went_through
                    );
                    if let Some(e) = &cell.expected {
                        title.push_str(&format!("; its contract says {}", outcome_word(*e)));
                    }
                    if let Some(n) = finding {
                        title.push_str(&format!("; see finding {n}"));
                    }
                    Some(RpcCellView {
                        outcome: outcome.to_string(),
                        unexpected: differs,
                        finding,
                        title,
                    })
                })
                .collect(),
        })
        .collect();
    RpcMatrixView {
        callers: matrix.callers.clone(),
        rows,
        scope: format!(
            "{} calls in {}; the kinds of caller are relative to organization {}",
            matrix.calls,
            duration(matrix.duration_ms),
            matrix.target
        ),
        allowed,
        refused,
        defects,
        unexpected,
        generic: matrix.functions.iter().filter(|r| !r.contract).count(),
    }
}

fn cell_view(entry: &MatrixEntry, finding: Option<usize>) -> CellView {
    let mut title = format!(
        "{} {} on {}: reached {} (rules: {}) in {} of {} observation(s)",
        entry.actor,
        entry.operation,
        entry.table,
        entry.observed,
        entry.expected,
        entry.observations - entry.mismatches.min(entry.observations),
        entry.observations
    );
    if entry.mismatches > 0 {
        title = format!(
            "{} {} on {}: mostly reached {} where the rules say {}; {} of {} observation(s) differed from the rules",
            entry.actor,
            entry.operation,
            entry.table,
            entry.observed,
            entry.expected,
            entry.mismatches,
            entry.observations
        );
    }
    if let Some(n) = finding {
        title.push_str(&format!("; see finding {n}"));
    }
    CellView {
        actor: entry.actor.clone(),
        operation: entry.operation.clone(),
        observed: entry.observed.clone(),
        expected: entry.expected.clone(),
        mismatches: entry.mismatches,
        observations: entry.observations,
        finding,
        title,
    }
}

/// The kinds of entity whose seeded ids derive from their position.
fn kind_of(collection: &str) -> Option<Kind> {
    Some(match collection {
        "users" => Kind::User,
        "organizations" => Kind::Organization,
        "units" => Kind::Unit,
        "roles" => Kind::Role,
        "memberships" => Kind::Membership,
        "unit_memberships" => Kind::UnitMembership,
        "invitations" => Kind::Invitation,
        "files" => Kind::File,
        "audit" => Kind::Audit,
        "secrets" => Kind::Secret,
        _ => return None,
    })
}

/// A value as one short cell: `Global(SuperAdmin)`, `User(user: 0, case: 1)`.
pub(crate) fn compact(value: &Value) -> String {
    match value {
        Value::Null => "–".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.len() == 1 => {
            let (k, v) = map.iter().next().expect("one entry");
            format!("{k}({})", compact_fields(v))
        }
        Value::Object(_) => compact_fields(value),
    }
}

fn compact_fields(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", compact(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => compact(other),
    }
}

fn world_view<W: Serialize>(world: &W) -> WorldView {
    let value = serde_json::to_value(world).unwrap_or(Value::Null);
    let json = serde_json::to_string_pretty(&value).unwrap_or_default();
    let Value::Object(map) = value else {
        return WorldView {
            collections: Vec::new(),
            empty: Vec::new(),
            json,
        };
    };
    // The generator's order: the tenancy first, then what hangs off it.
    const ORDER: [&str; 11] = [
        "users",
        "organizations",
        "units",
        "roles",
        "memberships",
        "unit_memberships",
        "invitations",
        "files",
        "audit",
        "secrets",
        "generic",
    ];
    let mut names: Vec<&String> = map.keys().collect();
    names.sort_by_key(|n| (ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()), *n));
    let mut collections = Vec::new();
    let mut empty = Vec::new();
    for name in names {
        let items = match &map[name] {
            Value::Array(items) => items,
            other => {
                collections.push(Collection {
                    name: name.clone(),
                    headers: vec!["value".into()],
                    rows: vec![vec![compact(other)]],
                });
                continue;
            }
        };
        let present: Vec<(usize, &Value)> = items
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()))
            .collect();
        if present.is_empty() {
            empty.push(name.clone());
            continue;
        }
        let kind = kind_of(name);
        let mut fields: Vec<String> = Vec::new();
        for (_, item) in &present {
            if let Value::Object(m) = item {
                for k in m.keys() {
                    if !fields.contains(k) {
                        fields.push(k.clone());
                    }
                }
            }
        }
        let mut headers = vec!["#".to_string()];
        if kind.is_some() {
            headers.push("seeded id".into());
        }
        if fields.is_empty() {
            headers.push("value".into());
        } else {
            headers.extend(fields.iter().cloned());
        }
        let rows = present
            .iter()
            .map(|(i, item)| {
                let mut row = vec![i.to_string()];
                if let Some(kind) = kind {
                    row.push(id(kind, *i).to_string());
                }
                match item {
                    Value::Object(m) => row.extend(
                        fields
                            .iter()
                            .map(|f| m.get(f).map(compact).unwrap_or_default()),
                    ),
                    other => row.push(compact(other)),
                }
                row
            })
            .collect();
        collections.push(Collection {
            name: name.clone(),
            headers,
            rows,
        });
    }
    WorldView {
        collections,
        empty,
        json,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::{Counterexample, Location, RunInfo};

    /// A small report with a finding, a matrix and a world, for the renderers' tests.
    pub(crate) fn sample() -> Report {
        let findings = vec![
            Finding::new(CheckId::CrossTenantRead, "core.units", "SELECT")
                .actor("user:aaaa0000-0000-4000-8000-000000000002")
                .message("user:aaaa… can read 1 row(s) of core.units | <b>not</b> theirs")
                .reproduction("BEGIN;\nSELECT '```' AS fence, '<script>x</script>';\nROLLBACK;\n"),
            Finding::new(CheckId::OverRestriction, "core.roles", "SELECT")
                .actor("user:aaaa0000-0000-4000-8000-000000000001")
                .message("user should reach 2 row(s) of core.roles"),
        ];
        let matrix = vec![
            MatrixEntry {
                actor: "user".into(),
                table: "core.units".into(),
                operation: "SELECT".into(),
                expected: "filtered".into(),
                observed: "all".into(),
                mismatches: 3,
                observations: 4,
            },
            MatrixEntry {
                actor: "service".into(),
                table: "core.units".into(),
                operation: "SELECT".into(),
                expected: "all".into(),
                observed: "all".into(),
                mismatches: 0,
                observations: 4,
            },
            MatrixEntry {
                actor: "user".into(),
                table: "core.roles".into(),
                operation: "UPDATE".into(),
                expected: "none".into(),
                observed: "denied".into(),
                mismatches: 0,
                observations: 4,
            },
        ];
        let mut coverage = super::super::coverage::of_isolation(&matrix, |_| false, |_| false);
        super::super::coverage::include_findings(&mut coverage, &findings);
        let world = crate::world::model::World {
            users: vec![crate::world::model::User { email_case: 0 }; 2],
            organizations: vec![crate::world::model::Organization {
                name: 0,
                creator: 0,
                deleted: false,
                creator_left: false,
            }],
            units: Vec::new(),
            roles: Vec::new(),
            memberships: Vec::new(),
            unit_memberships: Vec::new(),
            invitations: Vec::new(),
            files: Vec::new(),
            audit: Vec::new(),
            secrets: Vec::new(),
            generic: vec![vec![], vec![3, 4]],
        };
        let mut findings = crate::report::root_cause::deduplicate(findings);
        let root_causes = crate::report::root_cause::group(&mut findings);
        let cell =
            |caller: &str, outcome, expected, findings: Vec<String>| crate::report::RpcMatrixCell {
                caller: caller.into(),
                outcome,
                expected,
                calls: 4,
                went_through: u64::from(outcome != crate::report::RpcOutcome::Refused),
                findings,
            };
        use crate::report::RpcOutcome::{Allowed, Defect, Refused};
        let rpc_matrix = crate::report::RpcMatrix {
            target: "bbbb0000-0000-4000-8000-000000000001".into(),
            callers: vec![
                "anonymous".into(),
                "outsider".into(),
                "member".into(),
                "service".into(),
            ],
            calls: 15,
            duration_ms: 120,
            counts: Vec::new(),
            functions: vec![
                crate::report::RpcMatrixRow {
                    function: "public.list_units(uuid)".into(),
                    contract: true,
                    security_definer: false,
                    cells: vec![
                        cell("anonymous", Refused, Some(Refused), vec![]),
                        // Refused where the contract allows, without a finding.
                        cell("outsider", Refused, Some(Allowed), vec![]),
                        cell("member", Allowed, Some(Allowed), vec![]),
                        cell("service", Allowed, None, vec![]),
                    ],
                },
                crate::report::RpcMatrixRow {
                    function: "public.search(text)".into(),
                    contract: false,
                    security_definer: true,
                    cells: vec![
                        cell("anonymous", Refused, None, vec![]),
                        cell(
                            "outsider",
                            Defect,
                            None,
                            vec![findings[0].signature.clone()],
                        ),
                        cell("member", Allowed, None, vec![]),
                    ],
                },
            ],
        };
        Report {
            schema_version: crate::report::REPORT_SCHEMA_VERSION,
            run: RunInfo {
                tool_version: "0.1.0".into(),
                postgres_version: "15.20 (Debian)".into(),
                flavor: "payload".into(),
                backend: "local".into(),
                seed: 7,
                cases: 4,
                started_at: "2026-01-02T03:04:05Z".into(),
                duration_ms: 1234,
                schema_sources: vec!["schema/40_core/050_units.sql".into()],
                access_rules: "fixtures/access/reference.toml".into(),
            },
            summary: Report::summarize(&findings, 100, 20),
            findings,
            root_causes,
            exploration: crate::report::Exploration {
                phases: vec![crate::report::Phase {
                    name: "property cases".into(),
                    unit: "worlds".into(),
                    planned: 4,
                    ran: 4,
                    duration_ms: 900,
                }],
                signatures: 2,
                fail_fast: false,
                shrink: crate::report::ShrinkSummary::default(),
            },
            gaps: vec!["DELETE on core.roles: no user probe was one the rules allow".into()],
            exercised: vec![crate::report::Exercised {
                table: "core.units".into(),
                operation: "SELECT".into(),
                actor_kind: "member".into(),
                allowed: 3,
                refused: 0,
                reached: 3,
                stopped: 0,
            }],
            matrix,
            counterexample: Some(Counterexample { world }),
            notes: vec!["a note with <angle> brackets".into()],
            rpc_calls: Vec::new(),
            rpc_matrix: Some(rpc_matrix),
            policy_coverage: vec![crate::report::PolicyCoverage {
                table: "core.units".into(),
                policy: "units_select_members".into(),
                command: "SELECT".into(),
                permissive: true,
                allow: crate::report::Decision::Observed,
                deny: crate::report::Decision::Unobserved,
                allowed_for: vec!["member".into()],
                denied_for: Vec::new(),
                note: String::new(),
            }],
            coverage,
            locations: [(
                "core.units".to_string(),
                Location {
                    file: "schema/40_core/050_units.sql".into(),
                    line: 6,
                },
            )]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn findings_are_grouped_worst_first_and_numbered_in_that_order() {
        let view = View::of(&sample());
        let groups: Vec<(&str, Vec<usize>)> = view
            .groups
            .iter()
            .map(|g| {
                (
                    g.severity.as_str(),
                    g.findings.iter().map(|f| f.number).collect(),
                )
            })
            .collect();
        assert_eq!(groups, [("critical", vec![1]), ("low", vec![2])]);
        assert_eq!(
            view.verdict.headline,
            "2 findings in 2 root causes (1 critical, 1 low)"
        );
        assert_eq!(view.root_causes[0].findings[0].number, 1);
        assert_eq!(view.root_causes[0].severity, "critical");
        assert!(!view.verdict.clean);
        assert_eq!(
            view.groups[0].findings[0].location.as_deref(),
            Some("schema/40_core/050_units.sql:6")
        );
    }

    #[test]
    fn the_grid_has_a_column_per_actor_and_operation_and_flags_cells_with_findings() {
        let view = View::of(&sample());
        let columns: Vec<(String, Vec<String>)> = view
            .matrix
            .actors
            .iter()
            .map(|a| (a.actor.clone(), a.operations.clone()))
            .collect();
        assert_eq!(
            columns,
            [
                (
                    "user".to_string(),
                    vec!["SELECT".to_string(), "UPDATE".to_string()]
                ),
                ("service".to_string(), vec!["SELECT".to_string()]),
            ]
        );
        let tables: Vec<&str> = view.matrix.rows.iter().map(|r| r.table.as_str()).collect();
        assert_eq!(tables, ["core.roles", "core.units"]);
        let units = &view.matrix.rows[1].cells;
        let user_select = units[0].as_ref().unwrap();
        assert_eq!((user_select.finding, user_select.mismatches), (Some(1), 3));
        assert!(
            units[1].is_none(),
            "user UPDATE on core.units was never observed"
        );
        assert_eq!((view.matrix.mismatched, view.matrix.flagged), (1, 1));
    }

    #[test]
    fn the_rpc_matrix_has_a_column_per_caller_and_numbers_its_defects() {
        let view = View::of(&sample());
        let m = view.rpc_matrix.expect("the sample has a matrix");
        assert_eq!(m.callers, ["anonymous", "outsider", "member", "service"]);
        assert_eq!(
            (m.allowed, m.refused, m.defects, m.unexpected),
            (3, 3, 1, 1)
        );
        assert_eq!(m.generic, 1);
        let search = &m.rows[1];
        assert_eq!(search.judged_by, "generic oracle");
        let defect = search.cells[1].as_ref().unwrap();
        assert_eq!(
            (defect.outcome.as_str(), defect.finding),
            ("defect", Some(1))
        );
        assert!(search.cells[3].is_none(), "the service never called it");
        let outsider = m.rows[0].cells[1].as_ref().unwrap();
        assert_eq!(outsider.unexpected.as_deref(), Some("allowed"));
        assert!(
            outsider.title.contains("its contract says allowed"),
            "{}",
            outsider.title
        );
    }

    #[test]
    fn the_world_shows_non_empty_collections_with_their_seeded_ids() {
        let view = View::of(&sample());
        let world = view.world.unwrap();
        let names: Vec<&str> = world.collections.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["users", "organizations", "generic"]);
        assert_eq!(
            world.collections[0].rows[1][..2],
            [
                "1".to_string(),
                "aaaa0000-0000-4000-8000-000000000002".to_string()
            ]
        );
        assert_eq!(
            world.collections[2].rows,
            [vec!["1".to_string(), "[3, 4]".to_string()]]
        );
        assert!(world.empty.contains(&"units".to_string()));
    }

    #[test]
    fn compact_values_read_as_short_phrases() {
        let v: Value = serde_json::json!({"User": {"user": 0, "case": 1}});
        assert_eq!(compact(&v), "User(case: 1, user: 0)");
        assert_eq!(
            compact(&serde_json::json!({"Global": "SuperAdmin"})),
            "Global(SuperAdmin)"
        );
        assert_eq!(compact(&serde_json::json!(null)), "–");
        assert_eq!(duration(1234), "1.2 s");
        assert_eq!(duration(125_000), "2 min 5 s");
    }
}
