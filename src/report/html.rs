//! `report.html`: one self-contained page a reviewer opens to see, at a glance, which
//! actor reaches which table.
//!
//! The page must work as a CI artifact opened from disk, offline, and must not become
//! a way to run someone's markup: so it is one file with inline CSS and no scripts,
//! fonts or images, its Content-Security-Policy forbids fetching anything, and the
//! template (in `templates/`, embedded at build time) is rendered by minijinja with
//! HTML autoescaping, so every string from the run — SQL, messages, names — is text
//! (the one filter that adds markup, `code_spans`, escapes what it wraps).

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use minijinja::{context, AutoEscape, Environment};

use super::view::View;
use super::Report;

const TEMPLATE: &str = include_str!("templates/report.html.j2");

pub(crate) fn render(report: &Report) -> Result<String, minijinja::Error> {
    let view = View::of(report);
    let mut env = Environment::new();
    // Escaping is decided here, not by the template's name, so that renaming the file
    // can never turn it off.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("code_spans", code_spans);
    env.add_template("report.html", TEMPLATE)?;
    let reach_words: BTreeMap<&str, &str> = [
        ("all", "all"),
        ("filtered", "some"),
        ("none", "none"),
        ("denied", "denied"),
    ]
    .into_iter()
    .collect();
    env.get_template("report.html")?.render(context! {
        reach_words => Value::from(Serde(reach_words)),
        ..Value::from(Serde(&view))
    })
}

/// Escapes text for HTML (element content and quoted attribute values).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Findings quote SQL between backticks; shows those parts as `<code>`. Every part is
/// escaped here, which is why the result may be marked safe; with an odd number of
/// backticks there are no reliable spans and the text is only escaped.
fn code_spans(s: String) -> Value {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return Value::from_safe_string(escape(&s));
    }
    let html: String = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect();
    Value::from_safe_string(html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::tests::sample;

    #[test]
    fn everything_from_the_run_is_escaped() {
        let html = render(&sample()).unwrap();
        assert!(!html.contains("<script>"), "a script tag got through");
        assert!(!html.contains("<b>not</b>"));
        assert!(
            html.contains("&lt;b&gt;not&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;not&lt;/b&gt;")
        );
        assert!(html.contains("a note with &lt;angle&gt; brackets"));
    }

    #[test]
    fn code_spans_are_code_and_still_escaped() {
        assert_eq!(
            code_spans("rule `a < b` and <i>".into()).to_string(),
            "rule <code>a &lt; b</code> and &lt;i&gt;"
        );
        assert_eq!(
            code_spans("`<script>` x `".into()).to_string(),
            "`&lt;script&gt;` x `"
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&sample()).unwrap();
        for needle in [
            "<script", "<link", "@import", "url(", "<img", "<iframe", "src=",
        ] {
            assert!(!html.contains(needle), "the page contains `{needle}`");
        }
        assert!(html.contains("Content-Security-Policy"));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn the_grid_colours_cells_by_reach_and_flags_findings() {
        let html = render(&sample()).unwrap();
        let flagged = html
            .split("<td ")
            .find(|cell| cell.contains("data-actor=\"user\"") && cell.contains("flagged"))
            .expect("a flagged cell for the user");
        assert!(
            flagged.starts_with("class=\"reach-all mismatch flagged\""),
            "{flagged}"
        );
        assert!(flagged.contains("href=\"#finding-1\""));
        assert!(html.contains("id=\"finding-1\""));
        assert!(html.contains("class=\"reach-denied\""));
        assert!(html.contains("<td class=\"unobserved\""));
    }

    #[test]
    fn the_rpc_matrix_sits_next_to_the_table_matrix() {
        let html = render(&sample()).unwrap();
        let tables = html.find("id=\"matrix\"").unwrap();
        let rpcs = html
            .find("id=\"rpc-matrix\"")
            .expect("an RPC matrix section");
        let findings = html.find("id=\"findings\"").unwrap();
        assert!(tables < rpcs && rpcs < findings);
        assert!(
            html.contains("href=\"#rpc-matrix\""),
            "linked from the navigation"
        );
        let defect = html
            .split("<td ")
            .find(|cell| cell.starts_with("class=\"rpc-defect"))
            .expect("a defect cell");
        assert!(defect.contains("href=\"#finding-1\""), "{defect}");
        assert!(html.contains("class=\"rpc-refused mismatch\""));
    }
}
