//! `report.sarif`: the report as SARIF 2.1.0, for code-scanning upload.
//!
//! Code-scanning services (GitHub's among them) show SARIF results as alerts on the
//! lines they point to. Every check ID is a rule, described and ranked; every finding
//! is a result whose level follows its severity and whose location is the statement
//! that defines the object (see `locate`), so an alert lands on the `CREATE TABLE` or
//! `CREATE FUNCTION` a reviewer should look at. The object is also given as a logical
//! location, which is all a result has when its definition was not found. The types
//! come from serde-sarif, generated from the SARIF schema, so the output has its shape.

use std::collections::BTreeMap;

use serde_json::json;
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    Result as SarifResult, ResultLevel, Run, Sarif, Tool, ToolComponent, SCHEMA_URL,
};

use super::{rules, Report};
use crate::finding::{CheckId, Finding, Severity};

/// The base every relative source path resolves against: the checkout's root.
const SOURCE_ROOT: &str = "%SRCROOT%";

pub(crate) fn render(report: &Report) -> Result<String, String> {
    let rules: Vec<ReportingDescriptor> = CheckId::ALL.iter().map(|c| rule(*c)).collect();
    let driver = ToolComponent::builder()
        .name("smta-verify")
        .full_name(format!("smta-verify {}", report.run.tool_version))
        .version(report.run.tool_version.clone())
        .semantic_version(report.run.tool_version.clone())
        .rules(rules)
        .build();
    let results: Vec<SarifResult> = report.findings.iter().map(|f| result(report, f)).collect();
    let invocation = Invocation::builder()
        .execution_successful(true)
        .start_time_utc(report.run.started_at.clone())
        .properties(bag(&[
            ("durationMs", json!(report.run.duration_ms)),
            ("probes", json!(report.summary.probes)),
            ("rowsCompared", json!(report.summary.rows_compared)),
        ]))
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .invocations(vec![invocation])
        .column_kind(json!("unicodeCodePoints"))
        .properties(bag(&[
            ("flavor", json!(report.run.flavor)),
            ("seed", json!(report.run.seed)),
            ("cases", json!(report.run.cases)),
            ("postgresVersion", json!(report.run.postgres_version)),
            ("backend", json!(report.run.backend)),
            ("accessRules", json!(report.run.access_rules)),
            ("reportSchemaVersion", json!(report.schema_version)),
        ]))
        .build();
    let sarif = Sarif::builder()
        .schema(SCHEMA_URL)
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build();
    let mut text = serde_json::to_string_pretty(&sarif).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

fn bag(entries: &[(&str, serde_json::Value)]) -> PropertyBag {
    PropertyBag::builder()
        .additional_properties(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
        .build()
}

/// SARIF's three levels: what blocks a merge, what should be looked at, what to know.
pub(crate) fn level(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low => ResultLevel::Note,
    }
}

/// The `security-severity` score code scanning ranks security alerts by (its bands:
/// critical above 9, high 7 to 8.9, medium 4 to 6.9, low below 4).
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// `cross-tenant-read` → `CrossTenantRead`, the rule's display name.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn rule(check: CheckId) -> ReportingDescriptor {
    let words = rules::describe(check);
    let severity = check.default_severity();
    let mut properties = bag(&[
        ("security-severity", json!(security_severity(severity))),
        ("precision", json!("high")),
        ("problem.severity", json!(level(severity).to_string())),
    ]);
    properties.tags = Some(vec!["security".into(), "multi-tenancy".into()]);
    ReportingDescriptor::builder()
        .id(check.as_str())
        .name(pascal_case(check.as_str()))
        .short_description(
            MultiformatMessageString::builder()
                .text(words.summary)
                .build(),
        )
        .full_description(
            MultiformatMessageString::builder()
                .text(format!("{} {}", words.summary, words.help))
                .build(),
        )
        .help(
            MultiformatMessageString::builder()
                .text(words.help)
                .markdown(format!("**{}**\n\n{}", words.summary, words.help))
                .build(),
        )
        .default_configuration(
            ReportingConfiguration::builder()
                .level(json!(level(severity).to_string()))
                .build(),
        )
        .properties(properties)
        .build()
}

fn result(report: &Report, f: &Finding) -> SarifResult {
    let rule_index = CheckId::ALL
        .iter()
        .position(|c| *c == f.check)
        .expect("every check is a rule") as i64;
    let logical = LogicalLocation::builder()
        .name(f.object.rsplit('.').next().unwrap_or(&f.object).to_string())
        .fully_qualified_name(f.object.clone())
        .build();
    let location = match report.locations.get(&f.object) {
        Some(found) => Location::builder()
            .physical_location(
                PhysicalLocation::builder()
                    .artifact_location(artifact(&found.file))
                    .region(Region::builder().start_line(found.line as i64).build())
                    .build(),
            )
            .logical_locations(vec![logical])
            .build(),
        None => Location::builder().logical_locations(vec![logical]).build(),
    };
    // The signature is what makes two findings the same defect, across runs and
    // seeds: code scanning keeps one alert per signature.
    let fingerprint = if f.signature.is_empty() {
        f.signature()
    } else {
        f.signature.clone()
    };
    let text = if f.message.is_empty() {
        format!("{} ({})", rules::describe(f.check).summary, f.object)
    } else {
        f.message.clone()
    };
    SarifResult::builder()
        .rule_id(f.check.as_str())
        .rule_index(rule_index)
        .level(level(f.severity))
        .message(Message::builder().text(text).build())
        .locations(vec![location])
        .partial_fingerprints(BTreeMap::from([(
            "smtaVerifyDefect/v2".to_string(),
            fingerprint,
        )]))
        .properties(bag(&[
            ("severity", json!(f.severity)),
            ("object", json!(f.object)),
            ("actor", json!(f.actor)),
            ("actorKind", json!(f.actor_kind)),
            ("operation", json!(f.operation)),
            ("rootCause", json!(f.root_cause)),
            ("occurrences", json!(f.occurrences)),
            ("reproduction", json!(f.reproduction)),
        ]))
        .build()
}

/// A source name as a SARIF artifact location: relative paths against the checkout's
/// root (how code scanning matches them to files), absolute ones as `file://` URIs.
fn artifact(file: &str) -> ArtifactLocation {
    if file.starts_with('/') {
        ArtifactLocation::builder()
            .uri(format!("file://{}", percent_encode(file)))
            .build()
    } else {
        let relative = file.strip_prefix("./").unwrap_or(file);
        ArtifactLocation::builder()
            .uri(percent_encode(relative))
            .uri_base_id(SOURCE_ROOT)
            .build()
    }
}

/// Percent-encodes what may not stand in a URI path (RFC 3986: unreserved and `/`
/// stay as they are).
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::tests::sample;

    #[test]
    fn every_check_is_a_rule_and_every_finding_a_located_result() {
        let text = render(&sample()).unwrap();
        let sarif: Sarif = serde_json::from_str(&text).expect("the output parses as SARIF");
        assert_eq!(sarif.version, json!("2.1.0"));
        let run = &sarif.runs[0];
        let rules = run.tool.driver.rules.as_ref().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        let all: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ids, all);
        let results = run.results.as_ref().unwrap();
        assert_eq!(results.len(), 2);
        let units = &results[0];
        assert_eq!(units.rule_id.as_deref(), Some("cross-tenant-read"));
        assert_eq!(
            rules[units.rule_index.unwrap() as usize].id,
            "cross-tenant-read"
        );
        assert_eq!(units.level, Some(ResultLevel::Error));
        let physical = units.locations.as_ref().unwrap()[0]
            .physical_location
            .as_ref()
            .unwrap();
        let artifact = physical.artifact_location.as_ref().unwrap();
        assert_eq!(
            artifact.uri.as_deref(),
            Some("schema/40_core/050_units.sql")
        );
        assert_eq!(artifact.uri_base_id.as_deref(), Some(SOURCE_ROOT));
        assert_eq!(physical.region.as_ref().unwrap().start_line, Some(6));
        // core.roles has no known definition: a logical location only.
        let roles = &results[1].locations.as_ref().unwrap()[0];
        assert!(roles.physical_location.is_none());
        assert_eq!(
            roles.logical_locations.as_ref().unwrap()[0]
                .fully_qualified_name
                .as_deref(),
            Some("core.roles")
        );
        assert_eq!(results[1].level, Some(ResultLevel::Note));
    }

    /// Code scanning tracks an alert across runs by its fingerprint: it must be the
    /// finding's signature, which holds no generated ids.
    #[test]
    fn results_are_fingerprinted_by_signature() {
        let report = sample();
        let text = render(&report).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let results = json["runs"][0]["results"].as_array().unwrap();
        for (result, finding) in results.iter().zip(&report.findings) {
            assert_eq!(
                result["partialFingerprints"]["smtaVerifyDefect/v2"],
                finding.signature.as_str()
            );
            assert!(
                !finding.signature.contains("aaaa0000"),
                "{}",
                finding.signature
            );
        }
    }

    #[test]
    fn rules_carry_a_security_severity_for_ranking() {
        let text = render(&sample()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rule = &json["runs"][0]["tool"]["driver"]["rules"][4];
        assert_eq!(rule["id"], "cross-tenant-read");
        assert_eq!(rule["name"], "CrossTenantRead");
        assert_eq!(rule["properties"]["security-severity"], "9.5");
        assert_eq!(rule["defaultConfiguration"]["level"], "error");
    }

    #[test]
    fn paths_become_uris() {
        assert_eq!(
            artifact("/tmp/my dir/x.sql").uri.as_deref(),
            Some("file:///tmp/my%20dir/x.sql")
        );
        assert_eq!(artifact("./db/app.sql").uri.as_deref(), Some("db/app.sql"));
    }
}
