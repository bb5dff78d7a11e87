//! `report.md`: the report as a pull-request comment or a review attachment.
//!
//! A reviewer reads it in a code host's comment box, so it leads with a one-line
//! verdict, then counts, then the findings worst first with each reproduction folded
//! into a `<details>` block, then the matrix, the counterexample world and the run's
//! facts. Text from the run can hold anything (SQL, backticks, angle brackets), so the
//! template passes it through the filters below; and since comment boxes have a size
//! limit (GitHub's is 65,536 characters), reproductions beyond a budget are left to
//! the JSON and HTML reports, with a note saying so.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use minijinja::{context, AutoEscape, Environment};

use super::view::View;
use super::Report;

const TEMPLATE: &str = include_str!("templates/report.md.j2");

/// Characters of reproduction scripts a comment may carry in total.
const REPRODUCTION_BUDGET: usize = 40_000;

pub(crate) fn render(report: &Report) -> Result<String, minijinja::Error> {
    let view = View::of(report);
    let mut used = 0;
    let mut omitted = Vec::new();
    // Each root cause shows one reproduction; its finding's entry below points there.
    let shown: Vec<usize> = view
        .root_causes
        .iter()
        .filter_map(|c| c.reproduction_of)
        .collect();
    for f in view
        .groups
        .iter()
        .flat_map(|g| &g.findings)
        .filter(|f| shown.contains(&f.number))
        .chain(
            view.groups
                .iter()
                .flat_map(|g| &g.findings)
                .filter(|f| !shown.contains(&f.number)),
        )
    {
        if f.reproduction.is_empty() {
            continue;
        }
        if used + f.reproduction.len() <= REPRODUCTION_BUDGET {
            used += f.reproduction.len();
        } else {
            omitted.push(f.number);
        }
    }
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("md", text);
    env.add_filter("code", code);
    env.add_filter("fence", fence);
    env.add_template("report.md", TEMPLATE)?;
    let severity_marks: BTreeMap<&str, &str> = [
        ("critical", "🔴"),
        ("high", "🟠"),
        ("medium", "🟡"),
        ("low", "🔵"),
    ]
    .into_iter()
    .collect();
    let reach_words: BTreeMap<&str, &str> = [
        ("all", "all"),
        ("filtered", "some"),
        ("none", "none"),
        ("denied", "denied"),
    ]
    .into_iter()
    .collect();
    let mut out = env.get_template("report.md")?.render(context! {
        shown => Value::from(Serde(shown.iter().filter(|n| !omitted.contains(n)).collect::<Vec<_>>())),
        omitted => Value::from(Serde(omitted)),
        severity_marks => Value::from(Serde(severity_marks)),
        reach_words => Value::from(Serde(reach_words)),
        ..Value::from(Serde(&view))
    })?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Characters that Markdown or the HTML it allows would read as markup. An
/// underscore inside a word (`organization_id`) never emphasises in GitHub's
/// Markdown and is left alone, as is a `#` that does not start the text.
fn escape_plain(s: &str, out: &mut String) {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let word = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '_' if word(i.checked_sub(1)) && word(Some(i + 1)) => out.push(c),
            '#' if i > 0 || !out.is_empty() => out.push(c),
            '\\' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Inline text. Findings quote SQL between backticks on purpose, so balanced code
/// spans are kept as code (only a `|`, which would end a table cell, is escaped in
/// them); everything else is escaped.
pub(crate) fn text(s: String) -> String {
    let mut out = String::with_capacity(s.len());
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An odd number of backticks: no reliable code spans, escape them all.
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push_str("\\`");
            }
            escape_plain(part, &mut out);
        }
        return out;
    }
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            out.push('`');
            out.push_str(&part.replace('|', "\\|").replace(['\n', '\r'], " "));
            out.push('`');
        } else {
            escape_plain(part, &mut out);
        }
    }
    out
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A code span around anything: a delimiter longer than any backtick run inside,
/// padded when the content touches a backtick, `|` escaped for table cells.
fn code(s: String) -> String {
    let s = s.replace(['\n', '\r'], " ").replace('|', "\\|");
    let ticks = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

/// A code fence that the block's own text cannot close.
pub(crate) fn fence(s: String) -> String {
    "`".repeat((longest_backtick_run(&s) + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::tests::sample;

    #[test]
    fn leads_with_the_verdict_and_folds_reproductions() {
        let md = render(&sample()).unwrap();
        let first = md.lines().next().unwrap();
        assert_eq!(
            first,
            "## ❌ smta-verify: 2 findings in 2 root causes (1 critical, 1 low)"
        );
        // Root causes come first, each with its fix and one reproduction.
        let causes = md.find("### Root causes").expect("a root-cause section");
        assert!(causes < md.find("### Findings").unwrap(), "{md}");
        assert!(md.contains("#### 1. 🔴 "), "{md}");
        assert!(md.contains("**Fix:**"), "{md}");
        assert!(md.contains("<details><summary>Reproduction of finding 1 (psql script)</summary>"));
        assert!(
            md.contains("Reproduction: under root cause 1 above."),
            "{md}"
        );
        assert!(md.contains("#### 🔴 Critical (1)"), "{md}");
        // The reproduction holds three backticks, so its fence has four.
        assert!(md.contains("````sql\nBEGIN;"), "{md}");
        assert!(md.contains("defined at `schema/40_core/050_units.sql:6`"));
    }

    #[test]
    fn run_text_cannot_inject_markup() {
        let md = render(&sample()).unwrap();
        assert!(!md.contains("<b>not</b>"), "{md}");
        assert!(md.contains("&lt;b&gt;not&lt;/b&gt;"));
        assert!(md.contains("a note with &lt;angle&gt; brackets"));
        assert!(md.contains("core.units \\| &lt;b&gt;"));
    }

    #[test]
    fn the_matrix_marks_mismatches_and_names_findings() {
        let md = render(&sample()).unwrap();
        let row = md
            .lines()
            .find(|l| l.starts_with("| `core.units` |"))
            .expect("a matrix row for core.units");
        assert_eq!(
            row,
            "| `core.units` | ⚠ **all** [some] (finding 1) | – | all |"
        );
    }

    #[test]
    fn the_rpc_matrix_is_a_table_of_functions_by_caller() {
        let md = render(&sample()).unwrap();
        assert!(md.contains("### RPC matrix"), "{md}");
        assert!(
            md.contains("| RPC | anonymous | outsider | member | service |"),
            "{md}"
        );
        assert!(
            md.contains("| `public.list_units(uuid)` | ⛔ | ⛔ ⚠ | ✅ | ✅ |"),
            "{md}"
        );
        assert!(
            md.contains("| `public.search(text)` ¹ | ⛔ | ❌ 1 | ✅ | – |"),
            "{md}"
        );
        assert!(md.contains("¹ No RPC contract"), "{md}");
    }

    #[test]
    fn coverage_gaps_are_named() {
        let md = render(&sample()).unwrap();
        assert!(md.contains("**Coverage gaps**"), "{md}");
        assert!(md.contains("DELETE on core.roles"), "{md}");
        assert!(md.contains("property cases: 4 worlds in 0.9 s"), "{md}");
    }

    #[test]
    fn a_clean_report_says_so() {
        let mut report = sample();
        report.findings.clear();
        report.root_causes.clear();
        report.counterexample = None;
        let md = render(&report).unwrap();
        assert!(md.starts_with("## ✅ smta-verify: No findings\n"), "{md}");
        assert!(md.contains("None: every actor reached exactly what the access rules allow"));
        assert!(!md.contains("Counterexample world"));
    }

    #[test]
    fn reproductions_beyond_the_budget_are_left_to_the_other_formats() {
        let mut report = sample();
        let big = "x".repeat(REPRODUCTION_BUDGET / 2 + 1);
        for f in &mut report.findings {
            f.reproduction = big.clone();
        }
        let md = render(&report).unwrap();
        assert_eq!(md.matches("<details><summary>Reproduction").count(), 1);
        assert!(md.contains("left out here to keep the comment within size limits"));
    }

    #[test]
    fn filters_keep_code_spans_and_escape_the_rest() {
        assert_eq!(
            text("a_b `c_d` *e* _f_".into()),
            "a_b `c_d` \\*e\\* \\_f\\_"
        );
        assert_eq!(text("# not a heading, #1".into()), "\\# not a heading, #1");
        assert_eq!(text("one ` tick".into()), "one \\` tick");
        assert_eq!(code("a`b".into()), "``a`b``");
        assert_eq!(code("`x`".into()), "`` `x` ``");
        assert_eq!(fence("no ticks".into()), "```");
        assert_eq!(fence("````".into()), "`````");
    }
}
