//! `report.json`: the machine-readable report, versioned (see `report.schema.json`).

use super::Report;

/// Bumped whenever a field changes meaning or disappears.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

pub(crate) fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("reports serialize");
    text.push('\n');
    text
}
