//! Every report format, produced from real runs and read back by an independent reader.
//!
//! Two runs on the payload reference schema feed every test here: a clean one, and one
//! with a small overlay that grants a client role a platform table and adds a policy
//! letting any user read every unit (a cross-tenant leak the isolation property must
//! find). Each format is then checked the way its consumer sees it: JSON against the
//! documented JSON Schema, JUnit parsed as XML, SARIF parsed as SARIF, HTML opened in
//! headless Chromium. Chromium is required: without it the HTML test fails, it does not
//! skip (install Debian's `chromium` package, or point `CHROMIUM` at a binary).
//!
//! Set `SMTA_VERIFY_UPDATE_SCREENSHOT=1` to refresh `docs/report-screenshot.png` from
//! the run with findings.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use smta_verify::{CheckId, Flavor, Format, Report, Severity, Verifier};

/// The overlay with the defects (applied after the reference schema).
const MUTANT: &str = "GRANT SELECT ON platform.platform_settings TO app_user;\n\
                      CREATE POLICY leak ON core.units FOR SELECT TO app_user USING (true);\n";

fn clean() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        Verifier::new(Flavor::Payload)
            .cases(4)
            .seed(1)
            .run_blocking()
            .expect("the clean run completes")
    })
}

fn with_findings() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        // `schema_sql` would replace the reference schema; an overlay file is applied
        // after it, as `--extra-sql` is.
        let dir = tempfile::tempdir().unwrap();
        let overlay = dir.path().join("mutant.sql");
        std::fs::write(&overlay, MUTANT).unwrap();
        let report = Verifier::new(Flavor::Payload)
            .cases(4)
            .seed(1)
            .extra_sql(&overlay)
            .run_blocking()
            .expect("the run with the overlay completes");
        assert!(
            report.has(CheckId::CrossTenantRead),
            "the leaky policy on core.units must be found:\n{}",
            report.text_summary()
        );
        report
    })
}

fn rendered(report: &Report, format: Format) -> String {
    report
        .render(format)
        .unwrap_or_else(|e| panic!("{format}: {e}"))
}

/// (check, object) pairs that have findings.
fn failing_pairs(report: &Report) -> BTreeSet<(String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.check.to_string(), f.object.clone()))
        .collect()
}

/// Every (check, object) the report says was examined, findings included.
fn examined_pairs(report: &Report) -> BTreeSet<(String, String)> {
    let mut pairs: BTreeSet<(String, String)> = report
        .coverage
        .iter()
        .flat_map(|(check, objects)| objects.iter().map(|o| (check.to_string(), o.clone())))
        .collect();
    pairs.extend(failing_pairs(report));
    pairs
}

/// The 1-based line of `file` (a reference schema source) that `location` names.
fn line_at(file: &str, line: usize) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .nth(line - 1)
        .unwrap_or_default()
        .to_lowercase()
}

// ---- report.json ----------------------------------------------------------------

fn schema_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        jsonschema::meta::is_valid(&schema),
        "the schema is no JSON Schema"
    );
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn report_json_of_real_runs_validates_against_the_documented_schema() {
    let validator = schema_validator();
    for report in [clean(), with_findings()] {
        let json: serde_json::Value =
            serde_json::from_str(&rendered(report, Format::Json)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(
            json["summary"]["findings"].as_u64().unwrap() as usize,
            json["findings"].as_array().unwrap().len()
        );
        assert!(!json["matrix"].as_array().unwrap().is_empty());
    }
    assert!(clean().findings.is_empty(), "{}", clean().text_summary());
    assert!(clean().counterexample.is_none());
    assert!(with_findings().counterexample.is_some());
}

#[test]
fn every_finding_is_covered_and_located_at_its_create_statement() {
    let report = with_findings();
    let examined: BTreeSet<(String, String)> = report
        .coverage
        .iter()
        .flat_map(|(c, objects)| objects.iter().map(|o| (c.to_string(), o.clone())))
        .collect();
    for pair in failing_pairs(report) {
        assert!(examined.contains(&pair), "{pair:?} is not in the coverage");
    }
    let units = &report.locations["core.units"];
    assert_eq!(units.file, "schema/40_core/050_units.sql");
    assert!(line_at(&units.file, units.line).starts_with("create table core.units"));
    // Every table of the matrix is defined somewhere in the reference schema.
    for entry in &report.matrix {
        let location = report
            .locations
            .get(&entry.table)
            .unwrap_or_else(|| panic!("no location for {}", entry.table));
        let table = entry.table.split('.').nth(1).unwrap();
        let line = line_at(&location.file, location.line);
        assert!(
            line.contains("create table") && line.contains(table),
            "{location}: {line}"
        );
    }
}

// ---- report.md ------------------------------------------------------------------

#[test]
fn report_md_leads_with_the_verdict_and_folds_each_reproduction() {
    let md = rendered(clean(), Format::Markdown);
    assert!(md.starts_with("## ✅ smta-verify: No findings\n"), "{md}");
    assert!(md.contains("### Access matrix\n"));
    assert!(md.contains("| `core.units` |"));

    let report = with_findings();
    let md = rendered(report, Format::Markdown);
    let verdict = md.lines().next().unwrap();
    assert!(verdict.starts_with("## ❌ smta-verify: "), "{verdict}");
    assert!(verdict.contains(&format!("{} finding", report.findings.len())));
    assert!(md.contains("#### 🔴 Critical"));
    let reproducible = report
        .findings
        .iter()
        .filter(|f| !f.reproduction.is_empty())
        .count();
    // Each script once: under its root cause, or else with its finding — or, past
    // the comment's size budget, named as left to report.json and report.html.
    let left_out = md
        .matches("left out here to keep the comment within size limits")
        .count();
    assert!(md.matches("<details><summary>Reproduction").count() > 0);
    assert_eq!(
        md.matches("<details><summary>Reproduction").count() + left_out,
        reproducible
    );
    assert!(md.contains("### Root causes\n"), "{md}");
    assert!(md.contains("SET LOCAL ROLE app_user"));
    assert!(md.contains("defined at `schema/40_core/050_units.sql:"));
    let units_row = md
        .lines()
        .find(|l| l.starts_with("| `core.units` |"))
        .expect("core.units in the matrix");
    assert!(units_row.contains("⚠ **all**"), "{units_row}");
    // The cell names the finding about the leaking table, by its number in the list.
    let number = units_row
        .split("(finding ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("the mismatch names no finding: {units_row}"));
    let entry = md
        .lines()
        .find(|l| l.starts_with(&format!("**{number}. ")))
        .unwrap_or_else(|| panic!("finding {number} is not listed"));
    assert!(entry.contains("on `core.units`"), "{entry}");
}

// ---- report.junit.xml -----------------------------------------------------------

struct JunitCase {
    classname: String,
    name: String,
    failure: Option<String>,
}

fn junit_cases(xml: &str) -> (roxmltree::Document<'_>, Vec<JunitCase>) {
    let doc = roxmltree::Document::parse(xml).expect("report.junit.xml is XML");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| JunitCase {
            classname: n.attribute("classname").unwrap_or_default().to_string(),
            name: n.attribute("name").unwrap_or_default().to_string(),
            failure: n
                .children()
                .find(|c| c.has_tag_name("failure"))
                .map(|f| f.attribute("message").unwrap_or_default().to_string()),
        })
        .collect();
    (doc, cases)
}

#[test]
fn report_junit_has_a_case_per_check_and_object_failing_where_findings_are() {
    for report in [clean(), with_findings()] {
        let xml = rendered(report, Format::Junit);
        let (doc, cases) = junit_cases(&xml);
        let examined = examined_pairs(report);
        let listed: BTreeSet<(String, String)> = cases
            .iter()
            .map(|c| (c.classname.clone(), c.name.clone()))
            .collect();
        assert_eq!(listed, examined);
        assert_eq!(cases.len(), examined.len(), "a (check, object) case twice");
        for case in &cases {
            assert!(
                case.classname.parse::<CheckId>().is_ok(),
                "{}",
                case.classname
            );
        }
        let failing: BTreeSet<(String, String)> = cases
            .iter()
            .filter(|c| c.failure.is_some())
            .map(|c| (c.classname.clone(), c.name.clone()))
            .collect();
        assert_eq!(failing, failing_pairs(report));
        let root = doc.root_element();
        assert_eq!(
            root.attribute("failures"),
            Some(failing.len().to_string().as_str())
        );
        assert_eq!(
            root.attribute("tests"),
            Some(cases.len().to_string().as_str())
        );
        assert!(
            cases.iter().any(|c| c.failure.is_none()),
            "passing cases are listed too"
        );
        for f in &report.findings {
            let case = cases
                .iter()
                .find(|c| c.classname == f.check.as_str() && c.name == f.object)
                .unwrap();
            let message = case.failure.as_deref().unwrap();
            assert!(
                message.contains(&f.message) || message.contains("findings; the first:"),
                "{message}"
            );
        }
    }
    assert!(!with_findings().findings.is_empty());
}

// ---- report.sarif ---------------------------------------------------------------

#[test]
fn report_sarif_lists_every_check_as_a_rule_and_locates_every_finding() {
    let report = with_findings();
    let text = rendered(report, Format::Sarif);
    let sarif: serde_sarif::sarif::Sarif =
        serde_json::from_str(&text).expect("report.sarif parses as SARIF");
    assert_eq!(sarif.version, serde_json::json!("2.1.0"));
    assert_eq!(sarif.runs.len(), 1);
    let run = &sarif.runs[0];
    assert_eq!(run.tool.driver.name, "smta-verify");
    let rules = run.tool.driver.rules.as_ref().expect("rules");
    let rule_ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    let all: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(rule_ids, all);
    for rule in rules {
        let text = &rule.short_description.as_ref().expect("a description").text;
        assert!(text.len() > 20, "{}: {text}", rule.id);
    }
    let results = run.results.as_ref().expect("results");
    assert_eq!(results.len(), report.findings.len());
    for (result, finding) in results.iter().zip(&report.findings) {
        let rule_id = result.rule_id.as_deref().unwrap();
        assert_eq!(rule_id, finding.check.as_str());
        assert_eq!(rule_ids[result.rule_index.unwrap() as usize], rule_id);
        let expected_level = match finding.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            _ => "note",
        };
        assert_eq!(result.level.unwrap().to_string(), expected_level);
        let location = &result.locations.as_ref().unwrap()[0];
        let physical = location
            .physical_location
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no physical location", finding.object));
        let uri = physical
            .artifact_location
            .as_ref()
            .and_then(|a| a.uri.clone())
            .unwrap();
        let line = physical.region.as_ref().and_then(|r| r.start_line).unwrap() as usize;
        // A finding is about a table or a function; its location is the line that
        // creates that object.
        let name = finding.object.split(['.', '(']).nth(1).unwrap();
        let text = line_at(&uri, line);
        assert!(
            (text.contains("create table") || text.contains("function")) && text.contains(name),
            "{uri}:{line}: {text}"
        );
    }
    let clean: serde_sarif::sarif::Sarif =
        serde_json::from_str(&rendered(clean(), Format::Sarif)).unwrap();
    assert_eq!(clean.runs[0].results.as_ref().map(Vec::len), Some(0));
}

// ---- report.html, in a real browser ---------------------------------------------

fn chromium() -> PathBuf {
    let candidates = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(PathBuf::from));
    for candidate in candidates {
        let found = Command::new(&candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return candidate;
        }
    }
    panic!(
        "headless Chromium is needed to test report.html and was not found: install it \
         with `apt-get install -y chromium` (Debian's package) or set CHROMIUM to a binary"
    );
}

/// Runs headless Chromium on `page` with `args`; returns its standard output.
fn run_chromium(page: &Path, profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
            "--window-size=1400,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap().unwrap_or_default();
    let stderr = err.join().unwrap().unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    stdout
}

#[test]
#[ignore = "needs Chromium: cargo test -- --include-ignored (.ci/run does)"]
fn report_html_shows_the_matrix_and_the_findings_in_a_browser() {
    let report = with_findings();
    let dir = tempfile::tempdir().unwrap();
    let written = report.write(dir.path(), &[Format::Html]).unwrap();
    let page = &written[0];
    let profile = dir.path().join("profile");

    let dom = run_chromium(page, &profile, &["--dump-dom".to_string()]);
    let grid_start = dom
        .find("<table class=\"grid\">")
        .unwrap_or_else(|| panic!("no matrix in the DOM:\n{dom}"));
    let grid = &dom[grid_start..grid_start + dom[grid_start..].find("</table>").unwrap()];
    // One row per observed table, one cell per actor × operation column.
    let tables: BTreeSet<&str> = report.matrix.iter().map(|m| m.table.as_str()).collect();
    for table in &tables {
        assert!(
            grid.contains(&format!("<th class=\"table\" scope=\"row\">{table}</th>")),
            "{table} has no row"
        );
    }
    let columns: BTreeSet<(&str, &str)> = report
        .matrix
        .iter()
        .map(|m| (m.actor.as_str(), m.operation.as_str()))
        .collect();
    assert_eq!(
        grid.matches("<td ").count(),
        tables.len() * columns.len(),
        "the grid is not tables × columns"
    );
    // The leak: the user's SELECT on core.units, flagged and linked to its finding.
    let row = grid
        .split("<tr>")
        .find(|r| r.contains(">core.units</th>"))
        .unwrap();
    assert!(
        row.contains("class=\"reach-all mismatch flagged\"")
            && row.contains("data-actor=\"user\"")
            && row.contains("href=\"#finding-"),
        "{row}"
    );
    for (n, finding) in report.findings.iter().enumerate() {
        assert!(dom.contains(&format!("id=\"finding-{}\"", n + 1)));
        // Backtick-quoted SQL in a message is shown as code: compare the pieces.
        for piece in finding.message.split('`').filter(|p| !p.is_empty()) {
            assert!(
                dom.contains(&html_text(piece)),
                "{piece:?} of {}",
                finding.message
            );
        }
    }
    assert!(dom.contains("Reproduction (psql script)"));
    assert!(dom.contains("Counterexample world"));
    assert!(dom.contains(&format!("seed {}", report.run.seed)));

    let shot = dir.path().join("report.png");
    run_chromium(
        page,
        &profile,
        &[format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1400);
    if std::env::var_os("SMTA_VERIFY_UPDATE_SCREENSHOT").is_some() {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-screenshot.png");
        std::fs::copy(&shot, &target).unwrap();
    }
}

/// Text as Chromium serialises it in a DOM dump.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

// ---- the CLI ----------------------------------------------------------------------

#[test]
fn the_cli_writes_every_format_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_smta-verify"))
        .args([
            "check", "--flavor", "payload", "--cases", "2", "--seed", "1", "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        files.insert(
            entry.file_name().to_string_lossy().into_owned(),
            entry.metadata().unwrap().len(),
        );
    }
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "report.html",
            "report.json",
            "report.junit.xml",
            "report.md",
            "report.sarif"
        ]
    );
    assert!(files.values().all(|size| *size > 200), "{files:?}");
}

#[test]
fn the_cli_refuses_an_unknown_format_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_smta-verify"))
        .args(["check", "--format", "json,pdf", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown format `pdf`; valid: json, md, html, junit, sarif"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
