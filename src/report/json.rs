//! `report.json`: the machine-readable report, versioned and described by the JSON
//! Schema in `docs/report.schema.json`.
//!
//! It is the model itself, serialized as is, so that scripts see exactly what every
//! other format was rendered from. The schema is written by hand (it documents each
//! field for humans) and tests hold the two together: a report of a real run must
//! validate, and the schema must refuse what the model can never produce.

use super::Report;

/// Bumped whenever a field changes meaning or disappears.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

pub(crate) fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("reports serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::tests::sample;

    fn validator() -> jsonschema::Validator {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).expect("the report schema is a valid JSON Schema")
    }

    fn errors(instance: &serde_json::Value) -> Vec<String> {
        validator()
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    #[test]
    fn a_report_validates_against_the_documented_schema() {
        let json: serde_json::Value = serde_json::from_str(&render(&sample())).unwrap();
        assert_eq!(errors(&json), Vec::<String>::new());
        assert_eq!(json["schema_version"], REPORT_SCHEMA_VERSION);
    }

    #[test]
    fn the_schema_refuses_what_the_model_never_produces() {
        let good: serde_json::Value = serde_json::from_str(&render(&sample())).unwrap();
        let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            edit(&mut v);
            v
        };
        let cases = [
            (
                "an unknown check",
                broken(&|v| v["findings"][0]["check"] = "made-up".into()),
            ),
            (
                "an unknown severity",
                broken(&|v| v["findings"][0]["severity"] = "urgent".into()),
            ),
            (
                "a missing field",
                broken(&|v| {
                    v["findings"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("reproduction");
                }),
            ),
            (
                "an extra field",
                broken(&|v| v["run"]["extra"] = true.into()),
            ),
            (
                "an unknown reach",
                broken(&|v| v["matrix"][0]["observed"] = "most".into()),
            ),
            (
                "line 0",
                broken(&|v| v["locations"]["core.units"]["line"] = 0.into()),
            ),
            (
                "another version",
                broken(&|v| v["schema_version"] = 1.into()),
            ),
            (
                "an unknown RPC matrix outcome",
                broken(&|v| {
                    v["rpc_matrix"]["functions"][0]["cells"][0]["outcome"] = "maybe".into()
                }),
            ),
            (
                "an RPC matrix cell without its calls",
                broken(&|v| {
                    v["rpc_matrix"]["functions"][0]["cells"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("calls");
                }),
            ),
            (
                "coverage of an unknown check",
                broken(&|v| {
                    v["coverage"]["made-up"] = serde_json::json!(["core.units"]);
                }),
            ),
        ];
        for (what, instance) in cases {
            assert!(!errors(&instance).is_empty(), "the schema accepted {what}");
        }
    }
}
