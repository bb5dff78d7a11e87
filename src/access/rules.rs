//! The access rules file (TOML) as written by a person, before it meets a database.
//!
//! Parsing only checks shape and the rule language; whether the tables and columns
//! exist is decided when the rules are resolved against the catalog (`super`), so the
//! two kinds of mistakes get their own messages.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The reference rules, encoding SPEC §3; the default of every run.
pub(crate) const REFERENCE_RULES: &str = include_str!("../../fixtures/access/reference.toml");
pub(crate) const REFERENCE_RULES_NAME: &str = "fixtures/access/reference.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    pub(crate) version: u32,
    /// `"reference"`: start from the reference rules, so that an adopter's file only
    /// states its own tables (an entry it names replaces the reference's entry).
    #[serde(default)]
    pub(crate) extends: Option<String>,
    /// Functions an unauthenticated caller may execute (`schema.name`).
    #[serde(default)]
    pub(crate) anonymous_functions: Vec<String>,
    /// Schemas whose tables only the service role may touch.
    #[serde(default)]
    pub(crate) service_only_schemas: Vec<String>,
    /// Schemas left out of row-level checks (extension internals and the like).
    #[serde(default)]
    pub(crate) ignored_schemas: Vec<String>,
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, TableRules>,
    #[serde(default)]
    pub(crate) functions: BTreeMap<String, FunctionRules>,
    /// Entries (tables, functions, anonymous functions) that come from the built-in
    /// reference rules rather than from the user: they adapt to what an installation
    /// has (SPEC §2 allows global-only roles and optional columns), where a rule the
    /// user wrote that names something missing is an error.
    #[serde(skip)]
    pub(crate) builtin: std::collections::BTreeSet<String>,
}

/// What one table allows, per operation, for an authenticated user.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableRules {
    /// How a row reaches its organization: a column holding the organization id, or
    /// a column with a foreign key to a table whose own `tenant` continues the path.
    pub(crate) tenant: Option<String>,
    pub(crate) select: Option<String>,
    pub(crate) insert: Option<String>,
    /// Checked against the row before the update (USING).
    pub(crate) update: Option<String>,
    /// Checked against the row after the update (WITH CHECK); defaults to `update`.
    pub(crate) update_check: Option<String>,
    pub(crate) delete: Option<String>,
    /// What the service role may do: all, read, none or unchecked.
    pub(crate) service: Option<String>,
    /// References (foreign-key columns) besides the tenant path whose soft deletion
    /// hides the row too, e.g. an invitation to a deleted unit.
    #[serde(default)]
    pub(crate) live_via: Vec<String>,
    /// Columns no app user may change.
    #[serde(default)]
    pub(crate) immutable: Vec<String>,
    /// Columns whose change grants power (roles, admin flags): a forbidden change of
    /// one is privilege escalation rather than a plain unauthorized write.
    #[serde(default)]
    pub(crate) privileged: Vec<String>,
    /// An audit trail: any write to it is tampering (audit-mutable / audit-forgeable).
    #[serde(default)]
    pub(crate) audit: bool,
    /// Application roles may hold MAINTAIN (PostgreSQL 17+: VACUUM, ANALYZE,
    /// CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW, LOCK TABLE). Default: false, and
    /// a grant of it is a finding.
    #[serde(default)]
    pub(crate) maintain: bool,
}

/// What a function may return beyond what its caller may SELECT.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionRules {
    /// Table → rule: rows of that table the function may return to a caller.
    #[serde(default)]
    pub(crate) may_return: BTreeMap<String, String>,
    /// Table → rule: rows the function may change although they belong to an
    /// organization the caller is not (yet) a member of (accepting an invitation).
    #[serde(default)]
    pub(crate) may_write: BTreeMap<String, String>,
}

/// The file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct RulesError {
    pub(crate) file: String,
    pub(crate) problem: String,
}

impl RulesFile {
    pub(crate) fn parse(file: &str, text: &str) -> Result<Self, RulesError> {
        let rules: RulesFile = toml::from_str(text).map_err(|e| RulesError {
            file: file.to_string(),
            problem: e.to_string(),
        })?;
        if rules.version != 1 {
            return Err(RulesError {
                file: file.to_string(),
                problem: format!(
                    "version {} is not supported; this smta-verify reads version 1",
                    rules.version
                ),
            });
        }
        match rules.extends.as_deref() {
            None => Ok(rules),
            Some("reference") => Ok(rules.onto_reference()),
            Some(other) => Err(RulesError {
                file: file.to_string(),
                problem: format!(
                    "extends = \"{other}\" is not known; the only base is \"reference\" \
                     (the built-in rules of the reference schema)"
                ),
            }),
        }
    }

    /// The built-in reference rules, every entry marked as built in.
    pub(crate) fn reference() -> Self {
        let mut rules = Self::parse(REFERENCE_RULES_NAME, REFERENCE_RULES)
            .expect("the reference rules parse (unit-tested)");
        rules.builtin = rules
            .tables
            .keys()
            .chain(rules.functions.keys())
            .chain(&rules.anonymous_functions)
            .cloned()
            .collect();
        rules
    }

    /// These rules laid over the reference rules: entries of the same table or
    /// function replace the reference's, lists are joined.
    fn onto_reference(self) -> Self {
        let mut merged = Self::reference();
        merged.extends = self.extends;
        for (list, extra) in [
            (&mut merged.anonymous_functions, self.anonymous_functions),
            (&mut merged.service_only_schemas, self.service_only_schemas),
            (&mut merged.ignored_schemas, self.ignored_schemas),
        ] {
            for item in extra {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
        }
        for name in self.tables.keys().chain(self.functions.keys()) {
            merged.builtin.remove(name);
        }
        merged.tables.extend(self.tables);
        merged.functions.extend(self.functions);
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_rules_parse() {
        let rules = RulesFile::parse(REFERENCE_RULES_NAME, REFERENCE_RULES).unwrap();
        assert!(rules.tables.contains_key("core.memberships"));
    }

    #[test]
    fn a_file_extending_the_reference_adds_and_replaces_entries() {
        let rules = RulesFile::parse(
            "app.toml",
            "version = 1\nextends = \"reference\"\nanonymous_functions = [\"public.ping\"]\n\
             [tables.\"app.notes\"]\nselect = \"self(user_id)\"\n\
             [tables.\"core.units\"]\nselect = \"super_admin\"\n",
        )
        .unwrap();
        assert!(rules.tables.contains_key("core.memberships"));
        assert!(rules.tables.contains_key("app.notes"));
        assert_eq!(
            rules.tables["core.units"].select.as_deref(),
            Some("super_admin")
        );
        assert!(rules
            .anonymous_functions
            .contains(&"public.get_invitation_details".to_string()));
        assert!(rules
            .anonymous_functions
            .contains(&"public.ping".to_string()));

        let err = RulesFile::parse("app.toml", "version = 1\nextends = \"smta\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("extends = \"smta\"") && err.contains("\"reference\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_versions_are_refused_with_the_file_name() {
        let err = RulesFile::parse(
            "r.toml",
            "version = 1\n[tables.\"core.x\"]\nselekt = \"member\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("r.toml:") && err.contains("selekt"),
            "{err}"
        );
        let err = RulesFile::parse("r.toml", "version = 7\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 7"), "{err}");
    }
}
