//! The report: one model of a run's results, rendered into each output format.
//!
//! Checks produce findings; the engine assembles them with run metadata, a summary,
//! the access matrix, what each check covered and where each object is defined into
//! a [`Report`]. Each format (`json`, `md`, `html`, `junit`, `sarif`) is a consumer of
//! this model and nothing else, so a new format touches only this folder. Renderers
//! never query the database or the catalog: what a report shows, the model holds.

pub(crate) mod coverage;
mod html;
mod json;
mod junit;
mod locate;
mod markdown;
mod mutation;
pub(crate) mod policy_coverage;
pub(crate) mod root_cause;
mod rules;
mod sarif;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::finding::{CheckId, Finding, Severity};
use crate::world::model::World;

pub use json::REPORT_SCHEMA_VERSION;
pub(crate) use locate::locate_objects;
pub use policy_coverage::{Decision, PolicyCoverage};
pub use root_cause::RootCause;

/// Facts about the run, so a report can be reproduced and trusted.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub tool_version: String,
    pub postgres_version: String,
    pub flavor: String,
    pub backend: String,
    pub seed: u64,
    pub cases: u64,
    pub started_at: String,
    pub duration_ms: u64,
    pub schema_sources: Vec<String>,
    pub access_rules: String,
}

/// Counts by check and by severity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub by_check: BTreeMap<String, usize>,
    pub by_severity: BTreeMap<String, usize>,
    /// Probes executed (actor × table × operation statements).
    pub probes: u64,
    /// Rows of ground truth compared, summed over cases.
    pub rows_compared: u64,
}

/// One cell of the actor × table × operation matrix, aggregated over all cases.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixEntry {
    pub actor: String,
    pub table: String,
    pub operation: String,
    /// The most common expected reach: all, filtered, none or denied.
    pub expected: String,
    /// The most common observed reach.
    pub observed: String,
    /// Observations whose reach differed from the expectation.
    pub mismatches: u64,
    pub observations: u64,
}

/// How much of its budget the run spent, phase by phase, and on shrinking: a reader
/// must be able to tell a thorough clean run from a thin one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exploration {
    pub phases: Vec<Phase>,
    /// Distinct defects found (one finding each).
    pub signatures: usize,
    /// Whether the run stopped taking generated cases at the first failing one.
    pub fail_fast: bool,
    pub shrink: ShrinkSummary,
}

/// One phase of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `catalog`, `fixture world`, `property cases`, `rpc contracts`.
    pub name: String,
    /// What the phase counts: `objects`, `worlds`, `sequences`.
    pub unit: String,
    /// How many the budget asked for.
    pub planned: u64,
    /// How many ran to the end.
    pub ran: u64,
    pub duration_ms: u64,
}

/// Shrinking's budget and what it spent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShrinkSummary {
    pub per_signature_ms: u64,
    pub per_run_ms: u64,
    pub spent_ms: u64,
    /// Findings whose example no simpler one replaces.
    pub minimal: usize,
    /// Findings whose shrinking a budget ended (they keep the smallest example found).
    pub budget_spent: usize,
}

/// How one table × operation × kind of actor was exercised over the run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Exercised {
    pub table: String,
    pub operation: String,
    pub actor_kind: String,
    /// Probes (or rows of set-based probes) the rules allowed.
    pub allowed: u64,
    /// Probes (or rows) the rules refused.
    pub refused: u64,
    /// Probes (or rows) the database let through: rows read or written.
    pub reached: u64,
    /// Probes (or rows) the database kept out (refused, or filtered away).
    pub stopped: u64,
}

/// The smallest generated world of the report's most severe finding that came from
/// one (every finding keeps its own in `Finding::example`).
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    pub world: World,
}

/// Where an object is defined: a source file and the line its statement starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The source's name as the run knew it (`schema/…` for the built-in reference).
    pub file: String,
    /// 1-based.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub run: RunInfo,
    pub summary: Summary,
    /// One finding per signature (distinct defect).
    pub findings: Vec<Finding>,
    /// Findings grouped by what one fix removes, worst first.
    pub root_causes: Vec<RootCause>,
    pub exploration: Exploration,
    /// Paths the run never exercised (a table operation never allowed or never
    /// refused for users, an RPC never called, never successful or never refused),
    /// in words. Each is also a note.
    pub gaps: Vec<String>,
    /// How each table × operation × kind of actor was exercised.
    pub exercised: Vec<Exercised>,
    pub matrix: Vec<MatrixEntry>,
    pub counterexample: Option<Counterexample>,
    /// Things the run could not do or chose to skip, said plainly.
    pub notes: Vec<String>,
    /// Per check, the objects it examined (every object it reported on included), so
    /// that passing checks are visible too (JUnit shows them as passing test cases).
    pub coverage: BTreeMap<CheckId, BTreeSet<String>>,
    /// Where each object the report names is defined in the SQL sources, when found.
    pub locations: BTreeMap<String, Location>,
    /// Coverage of the RPC contracts: every RPC with a contract that the database has,
    /// with how often the generated sequences called it and how often it succeeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rpc_calls: Vec<RpcCalls>,
    /// The RPC authorization matrix (absent when it did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_matrix: Option<RpcMatrix>,
    /// Per row-security policy of the modelled tables, whether the run saw it decide
    /// allow and deny (what can be attributed to it).
    pub policy_coverage: Vec<PolicyCoverage>,
}

/// The RPC authorization matrix: every callable `public` function called by every
/// kind of caller (relative to one target organization of the fixture world) with
/// every argument aim, once per run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RpcMatrix {
    /// The id of the target organization the callers' kinds are relative to.
    pub target: String,
    /// The kinds of caller, in column order.
    pub callers: Vec<String>,
    /// Calls made (aims that resolve to the same arguments are one call).
    pub calls: u64,
    pub duration_ms: u64,
    /// One row per function, by signature.
    pub functions: Vec<RpcMatrixRow>,
    /// The matrix's calls counted as the contract check counts its own, for readers
    /// that weigh both together (the mutation run asks whether a path was exercised
    /// by either); the cells already say this in the report.
    #[serde(skip)]
    pub(crate) counts: Vec<RpcCalls>,
}

/// One function of the RPC matrix.
#[derive(Debug, Clone, Serialize)]
pub struct RpcMatrixRow {
    /// `public.name(type, …)`.
    pub function: String,
    /// Whether an RPC contract judged its calls (else the generic oracle did).
    pub contract: bool,
    pub security_definer: bool,
    /// One cell per kind of caller that called it, in `RpcMatrix::callers` order.
    pub cells: Vec<RpcMatrixCell>,
}

/// One function × kind of caller.
#[derive(Debug, Clone, Serialize)]
pub struct RpcMatrixCell {
    pub caller: String,
    /// `defect` when a call gave a finding. Otherwise, where a contract judged the
    /// calls, what it says (`allowed` when it allows one of them — and that call went
    /// through with its effects; `refused` when it allows none — and none changed
    /// anything or returned a row the caller may not read); without a contract (and
    /// for the service role), `allowed` when some call went through, else `refused`.
    pub outcome: RpcOutcome,
    /// What the RPC's contract says of the cell's calls: `allowed` when it allows one
    /// of them; absent without a contract and for the service role, which contracts do
    /// not speak of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<RpcOutcome>,
    pub calls: u64,
    /// Calls that went through: returned without error and changed a row or returned
    /// something (a row, a value).
    pub went_through: u64,
    /// Signatures of the findings its calls gave.
    pub findings: Vec<String>,
}

/// A cell of the RPC matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RpcOutcome {
    Allowed,
    Refused,
    Defect,
}

/// Calls of one RPC in the contract check's sequences.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RpcCalls {
    /// `public.name(type, …)`.
    pub function: String,
    pub calls: u64,
    /// Calls that returned rather than raised.
    pub successes: u64,
    /// Calls its contract allows (the allowed path exercised).
    pub allowed: u64,
    /// Calls its contract refuses (the refused path exercised).
    pub forbidden: u64,
    /// Of those, calls by a caller the contract refuses on arguments it would accept
    /// from an allowed one: the calls that test the function's own authorization.
    pub overstepping: u64,
}

/// The formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// `report.json`: the versioned machine-readable model (`docs/report.schema.json`).
    Json,
    /// `report.md`: for a pull-request comment or a review.
    Markdown,
    /// `report.html`: one self-contained page with the coloured access matrix.
    Html,
    /// `report.junit.xml`: one test case per check and object, for CI test views.
    Junit,
    /// `report.sarif`: SARIF 2.1.0, for code-scanning upload.
    Sarif,
}

impl Format {
    /// Every format, in the order the CLI writes them by default.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Markdown,
        Format::Html,
        Format::Junit,
        Format::Sarif,
    ];

    /// The name `--format` uses.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
            Format::Markdown => "report.md",
            Format::Html => "report.html",
            Format::Junit => "report.junit.xml",
            Format::Sarif => "report.sarif",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let valid: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format `{wanted}`; valid: {}", valid.join(", "))
            })
    }
}

/// A renderer failed: a defect of smta-verify, never of the verified schema.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rendering the {format} report failed (please report it): {problem}")]
pub struct RenderError {
    pub format: Format,
    pub problem: String,
}

impl Report {
    pub(crate) fn summarize(findings: &[Finding], probes: u64, rows: u64) -> Summary {
        let mut summary = Summary {
            findings: findings.len(),
            probes,
            rows_compared: rows,
            ..Summary::default()
        };
        for f in findings {
            *summary
                .by_check
                .entry(f.check.as_str().to_string())
                .or_default() += 1;
            *summary
                .by_severity
                .entry(f.severity.as_str().to_string())
                .or_default() += 1;
        }
        summary
    }

    /// Findings at or above `severity`.
    pub fn findings_at_or_above(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }

    /// Whether any finding has this check ID.
    pub fn has(&self, check: CheckId) -> bool {
        self.findings.iter().any(|f| f.check == check)
    }

    /// The report in one format, as the file's text.
    pub fn render(&self, format: Format) -> Result<String, RenderError> {
        let failed = |problem: String| RenderError { format, problem };
        match format {
            Format::Json => Ok(json::render(self)),
            Format::Markdown => markdown::render(self).map_err(|e| failed(e.to_string())),
            Format::Html => html::render(self).map_err(|e| failed(e.to_string())),
            Format::Junit => junit::render(self).map_err(failed),
            Format::Sarif => sarif::render(self).map_err(failed),
        }
    }

    /// Writes the given formats into `dir` (created if needed), each once, in the
    /// order given; returns the paths.
    pub fn write(&self, dir: &Path, formats: &[Format]) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut seen = BTreeSet::new();
        for &format in formats {
            if !seen.insert(format) {
                continue;
            }
            let path = dir.join(format.file_name());
            let text = self.render(format).map_err(std::io::Error::other)?;
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }

    /// A short text summary for terminals and test failures.
    pub fn text_summary(&self) -> String {
        let mut out = format!(
            "smta-verify: {} finding(s) in {} root cause(s) on the {} schema ({} cases, seed {}, {} backend)\n",
            self.findings.len(),
            self.root_causes.len(),
            self.run.flavor,
            self.run.cases,
            self.run.seed,
            self.run.backend
        );
        for cause in &self.root_causes {
            out.push_str(&format!("  [{}] {}\n", cause.severity, cause.title));
            for signature in &cause.findings {
                let Some(f) = self.findings.iter().find(|f| &f.signature == signature) else {
                    continue;
                };
                out.push_str(&format!(
                    "    {} {} {} by {}: {}\n",
                    f.check,
                    f.operation,
                    f.object,
                    if f.actor_kind.is_empty() {
                        "-"
                    } else {
                        &f.actor_kind
                    },
                    f.message
                ));
            }
        }

        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}
