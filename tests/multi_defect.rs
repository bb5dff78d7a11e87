//! Audit mode (issue 12): one `check` run on a schema with many independent defects
//! reports every one of them, under its intended check and object, and nothing else.
//!
//! The fixture is the reference schema with the seeded defects listed in
//! `fixtures/mutants/multi.toml` applied at once. Its expected-outcome table lists
//! every (check, object) the run must report, each tagged with the defect that causes
//! it; a miss and an extra finding both fail the test, so the test guards recall and
//! precision at once. The run goes through the public builder with the default case
//! and sequence budget, as `smta-verify check` does; shrinking gets a third of the
//! default run budget (what a defect is does not depend on how small its example
//! got, and the shrinking itself is proven in tests/mutants.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use smta_verify::{CheckId, Flavor, Report, ShrinkStatus, Verifier};

/// Fixed, so a failure here replays with `--seed`.
const SEED: u64 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    flavors: Vec<Flavor>,
    /// Overlays in `fixtures/mutants/`, applied in this order.
    mutants: Vec<String>,
    expect: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    check: CheckId,
    object: String,
    /// The overlay that causes it.
    defect: String,
    /// Only under these flavours (default: all of the fixture's).
    flavors: Option<Vec<Flavor>>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mutants")
}

fn fixture() -> Fixture {
    let path = dir().join("multi.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn run(flavor: Flavor, fixture: &Fixture) -> Report {
    let mut verifier = Verifier::new(flavor)
        .seed(SEED)
        .shrink_time(Duration::from_secs(1), Duration::from_secs(4));
    for mutant in &fixture.mutants {
        verifier = verifier.extra_sql(dir().join(mutant));
    }
    verifier
        .run_blocking()
        .unwrap_or_else(|e| panic!("the {flavor} multi-defect run could not be done: {e}"))
}

#[test]
fn the_fixture_holds_at_least_ten_defects_each_expected_somewhere() {
    let fixture = fixture();
    assert!(fixture.mutants.len() >= 10, "issue 12 asks for ten or more");
    let blamed: BTreeSet<&str> = fixture.expect.iter().map(|e| e.defect.as_str()).collect();
    for mutant in &fixture.mutants {
        assert!(
            dir().join(mutant).is_file(),
            "{mutant} is not in fixtures/mutants"
        );
        assert!(
            blamed.contains(mutant.as_str()),
            "{mutant}: no expected finding names it as its defect"
        );
    }
    for e in &fixture.expect {
        assert!(
            fixture.mutants.contains(&e.defect),
            "an expected finding blames {}, which the fixture does not apply",
            e.defect
        );
    }
}

#[test]
fn one_run_reports_every_seeded_defect_and_nothing_else() {
    let fixture = fixture();
    let mut failures = Vec::new();
    for &flavor in &fixture.flavors {
        let report = run(flavor, &fixture);
        let expected: BTreeMap<(CheckId, &str), &str> = fixture
            .expect
            .iter()
            .filter(|e| e.flavors.as_ref().is_none_or(|f| f.contains(&flavor)))
            .map(|e| ((e.check, e.object.as_str()), e.defect.as_str()))
            .collect();
        let found: BTreeSet<(CheckId, &str)> = report
            .findings
            .iter()
            .map(|f| (f.check, f.object.as_str()))
            .collect();
        for ((check, object), defect) in &expected {
            if !found.contains(&(*check, *object)) {
                failures.push(format!(
                    "{flavor}: missed {check} on {object} (seeded by {defect})"
                ));
            }
        }
        for (check, object) in &found {
            if !expected.contains_key(&(*check, *object)) {
                failures.push(format!(
                    "{flavor}: reported {check} on {object}, which no seeded defect explains"
                ));
            }
        }
        // Audit mode's promises, on a run with many defects.
        assert_eq!(
            report.run.cases,
            u64::from(smta_verify::DEFAULT_CASES),
            "{flavor}: every case ran although the first ones failed"
        );
        let signatures: BTreeSet<&str> = report
            .findings
            .iter()
            .map(|f| f.signature.as_str())
            .collect();
        assert_eq!(
            signatures.len(),
            report.findings.len(),
            "{flavor}: one finding per signature"
        );
        for f in &report.findings {
            assert!(
                report
                    .root_causes
                    .iter()
                    .any(|c| c.id == f.root_cause && c.findings.contains(&f.signature)),
                "{flavor}: {} belongs to a listed root cause",
                f.signature
            );
        }
        assert!(
            report.root_causes.len() < report.findings.len(),
            "{flavor}: findings group into fewer root causes ({} findings, {} causes)",
            report.findings.len(),
            report.root_causes.len()
        );
        let generated: Vec<_> = report
            .findings
            .iter()
            .filter_map(|f| f.example.as_ref())
            .collect();
        assert!(
            generated
                .iter()
                .any(|e| e.shrink.status == ShrinkStatus::Minimal),
            "{flavor}: shrinking ran"
        );
        eprintln!(
            "{flavor}: {} findings in {} root causes; shrinking {} ms of {} ms ({} minimal, {} kept); {} ms in all",
            report.findings.len(),
            report.root_causes.len(),
            report.exploration.shrink.spent_ms,
            report.exploration.shrink.per_run_ms,
            report.exploration.shrink.minimal,
            report.exploration.shrink.budget_spent,
            report.run.duration_ms
        );
    }
    assert!(
        failures.is_empty(),
        "the multi-defect run is not exactly its expected list:\n  {}",
        failures.join("\n  ")
    );
}
