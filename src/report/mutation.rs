//! The mutation report (`smta-verify mutate`): JSON, Markdown and HTML.
//!
//! Like `check`'s reports, each format renders one model, the
//! [`MutationReport`](crate::MutationReport), and nothing else; survivors come first
//! after the score, since they are what a reader acts on.

use minijinja::value::{Serde, Value};
use minijinja::{context, AutoEscape, Environment};
use serde::Serialize;

use super::view::duration;
use crate::mutate::{MutationReport, Verdict};

const MARKDOWN: &str = include_str!("templates/mutation.md.j2");
const HTML: &str = include_str!("templates/mutation.html.j2");

/// A survivor or a mutant that did not apply, as the pages list it.
#[derive(Serialize)]
struct Line<'a> {
    kind: String,
    object: &'a str,
    description: &'a str,
    outcome: &'static str,
    reading: &'a str,
    diff: &'a str,
    error: &'a str,
}

fn lines(report: &MutationReport) -> (Vec<Line<'_>>, Vec<Line<'_>>) {
    let mut survivors = Vec::new();
    let mut invalid = Vec::new();
    for m in &report.mutants {
        let line = |outcome, reading, error| Line {
            kind: m.mutant.kind.to_string(),
            object: &m.mutant.object,
            description: &m.mutant.description,
            outcome,
            reading,
            diff: &m.mutant.diff,
            error,
        };
        match &m.verdict {
            Verdict::BlindSpot { reading } => survivors.insert(0, line("blind-spot", reading, "")),
            Verdict::Equivalent { reading } => survivors.push(line("equivalent", reading, "")),
            Verdict::Invalid { error } => invalid.push(line("invalid", "", error)),
            Verdict::Killed { .. } => {}
        }
    }
    (survivors, invalid)
}

pub(crate) fn json(report: &MutationReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("reports serialize");
    text.push('\n');
    text
}

fn render(report: &MutationReport, template: &str, html: bool) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(move |_| {
        if html {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("md", super::markdown::text);
    env.add_filter("fence", super::markdown::fence);
    env.add_template("page", template)?;
    let (survivors, invalid) = lines(report);
    let mutants: Vec<serde_json::Value> = report
        .mutants
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).expect("serializes");
            v["duration_ms"] = m.duration_ms.into();
            v
        })
        .collect();
    env.get_template("page")?.render(context! {
        run => Value::from(Serde(&report.run)),
        score => Value::from(Serde(&report.score)),
        by_kind => Value::from(Serde(&report.by_kind)),
        derived => report.derived,
        baseline_findings => Value::from(Serde(&report.baseline_findings)),
        mutants => Value::from(Serde(mutants)),
        survivors => Value::from(Serde(survivors)),
        invalid => Value::from(Serde(invalid)),
        duration => duration(report.run.duration_ms),
    })
}

pub(crate) fn markdown(report: &MutationReport) -> Result<String, minijinja::Error> {
    render(report, MARKDOWN, false)
}

pub(crate) fn html(report: &MutationReport) -> Result<String, minijinja::Error> {
    render(report, HTML, true)
}

impl MutationReport {
    /// Writes `mutation.json`, `mutation.md` and `mutation.html` into `dir` (created
    /// if needed); returns the paths.
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (name, text) in [
            ("mutation.json", Ok(json(self))),
            ("mutation.md", markdown(self)),
            ("mutation.html", html(self)),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text.map_err(std::io::Error::other)?)?;
            written.push(path);
        }
        Ok(written)
    }
}
