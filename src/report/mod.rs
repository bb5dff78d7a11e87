//! The report: one model of a run's results, rendered into each output format.
//!
//! Checks produce findings; the engine assembles them with run metadata, a summary
//! and the access matrix into a [`Report`]. Each format (`json`, …) is a consumer of
//! this model and nothing else, so a new format touches only this folder.

mod json;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::finding::{CheckId, Finding, Severity};
use crate::world::model::World;

pub use json::REPORT_SCHEMA_VERSION;

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

/// The minimal failing world, when the isolation property failed.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    pub world: World,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub run: RunInfo,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub matrix: Vec<MatrixEntry>,
    pub counterexample: Option<Counterexample>,
    /// Things the run could not do or chose to skip, said plainly.
    pub notes: Vec<String>,
}

/// The formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    Json,
}

impl Format {
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format `{other}`; valid: json")),
        }
    }
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

    /// Writes the given formats into `dir` (created if needed); returns the paths.
    pub fn write(&self, dir: &Path, formats: &[Format]) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for format in formats {
            let path = dir.join(format.file_name());
            let text = match format {
                Format::Json => json::render(self),
            };
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }

    /// A short text summary for terminals and test failures.
    pub fn text_summary(&self) -> String {
        let mut out = format!(
            "smta-verify: {} finding(s) on the {} schema ({} cases, seed {}, {} backend)\n",
            self.findings.len(),
            self.run.flavor,
            self.run.cases,
            self.run.seed,
            self.run.backend
        );
        for f in &self.findings {
            out.push_str(&format!(
                "  [{}] {} {} {} by {}: {}\n",
                f.severity,
                f.check,
                f.operation,
                f.object,
                if f.actor.is_empty() { "-" } else { &f.actor },
                f.message
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}
