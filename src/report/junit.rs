//! `report.junit.xml`: the report as JUnit XML, so CI systems list checks as tests.
//!
//! CI test views understand suites of passing and failing test cases, not findings.
//! Each check ID becomes a suite and each object that check examined (its coverage)
//! a test case: it fails when the check reported findings on that object, carrying
//! their messages, and passes otherwise, so a reviewer sees what held as well as what
//! broke. quick-junit writes the XML (escaping, counts, the Jenkins layout).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use crate::finding::{CheckId, Finding};

pub(crate) fn render(report: &Report) -> Result<String, String> {
    let mut junit = quick_junit::Report::new("smta-verify");
    if let Ok(started) = chrono::DateTime::parse_from_rfc3339(&report.run.started_at) {
        junit.set_timestamp(started);
    }
    junit.set_time(Duration::from_millis(report.run.duration_ms));

    // Every (check, object) examined or reported on, with the findings on it.
    let mut cases: BTreeMap<CheckId, BTreeMap<&str, Vec<&Finding>>> = BTreeMap::new();
    for (check, objects) in &report.coverage {
        let entry = cases.entry(*check).or_default();
        for object in objects {
            entry.entry(object.as_str()).or_default();
        }
    }
    for f in &report.findings {
        cases
            .entry(f.check)
            .or_default()
            .entry(f.object.as_str())
            .or_default()
            .push(f);
    }

    for (check, objects) in cases {
        let mut suite = TestSuite::new(check.as_str());
        suite.add_properties([
            Property::new("flavor", report.run.flavor.as_str()),
            Property::new("seed", report.run.seed.to_string()),
            Property::new("cases", report.run.cases.to_string()),
        ]);
        for (object, findings) in objects {
            suite.add_test_case(test_case(report, check, object, &findings));
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().map_err(|e| e.to_string())
}

fn test_case(report: &Report, check: CheckId, object: &str, findings: &[&Finding]) -> TestCase {
    let location = report.locations.get(object);
    if findings.is_empty() {
        let mut case = TestCase::new(object, TestCaseStatus::success());
        case.set_classname(check.as_str());
        return case;
    }
    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .expect("a failing case has findings");
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    let message = if findings.len() == 1 {
        findings[0].message.clone()
    } else {
        format!(
            "{} findings; the first: {}",
            findings.len(),
            findings[0].message
        )
    };
    let mut description = String::new();
    for f in findings {
        let actor = if f.actor.is_empty() { "-" } else { &f.actor };
        description.push_str(&format!(
            "[{}] {} {} by {}: {}\n",
            f.severity, f.check, f.operation, actor, f.message
        ));
    }
    if let Some(l) = location {
        description.push_str(&format!("{object} is defined at {l}\n"));
    }
    status
        .set_message(message)
        .set_type(worst.as_str())
        .set_description(description);
    let mut case = TestCase::new(object, status);
    case.set_classname(check.as_str());
    let scripts: BTreeSet<&str> = findings
        .iter()
        .map(|f| f.reproduction.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    if !scripts.is_empty() {
        let joined: Vec<&str> = scripts.into_iter().collect();
        case.set_system_out(joined.join("\n-- ----\n"));
    }
    case
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::tests::sample;

    #[test]
    fn one_case_per_check_and_object_failing_where_findings_are() {
        let xml = render(&sample()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let cases: Vec<(String, String, bool)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| {
                (
                    n.attribute("classname").unwrap().to_string(),
                    n.attribute("name").unwrap().to_string(),
                    n.children().any(|c| c.has_tag_name("failure")),
                )
            })
            .collect();
        let failing: Vec<(&str, &str)> = cases
            .iter()
            .filter(|c| c.2)
            .map(|c| (c.0.as_str(), c.1.as_str()))
            .collect();
        assert_eq!(
            failing,
            [
                ("cross-tenant-read", "core.units"),
                ("over-restriction", "core.roles")
            ]
        );
        let report = sample();
        let expected: usize = report.coverage.values().map(BTreeSet::len).sum();
        assert_eq!(cases.len(), expected);
        assert_eq!(root.attribute("failures"), Some("2"));
        assert_eq!(root.attribute("tests"), Some(expected.to_string().as_str()));
    }

    #[test]
    fn failures_carry_messages_severity_location_and_the_script() {
        let xml = render(&sample()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.attribute("type"), Some("critical"));
        assert!(failure
            .attribute("message")
            .unwrap()
            .contains("<b>not</b> theirs"));
        let text = failure.text().unwrap();
        assert!(text.contains("core.units is defined at schema/40_core/050_units.sql:6"));
        let out = failure
            .parent()
            .unwrap()
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .unwrap();
        assert!(out.text().unwrap().contains("<script>x</script>"));
    }
}
