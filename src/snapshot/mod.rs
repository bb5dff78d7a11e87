//! Regression snapshots: the policy surface of an installed schema as normalized YAML.
//!
//! A migration that loosens a policy, drops a grant or makes a function SECURITY
//! DEFINER reads like any other SQL in review. What PostgreSQL made of it — the
//! deparsed policies, the effective grants, the function flags, who reaches which
//! table — is what decides isolation, so `smta-verify snapshot` writes exactly that,
//! and a committed snapshot turns every change to it into a reviewable diff.
//!
//! A diff must mean a change of the surface, nothing else: every collection is
//! sorted, and nothing that differs between two installs of the same SQL is written
//! (no OIDs, scratch database names, server version, time or ports). The owner of an
//! object appears as `(owner)` in its grants, so the role a backend installs as does
//! not show either. A grantee holding every privilege of a relation is written `ALL`,
//! which keeps the YAML of one schema the same on PostgreSQL 15, 17 and 18 (17 added
//! MAINTAIN to what `GRANT ALL` and ownership give); policy expressions deparse the
//! same on all three.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalog::{Catalog, Grant};
use crate::flavor::Flavor;
use crate::report::MatrixEntry;

/// What a grantee holds: role → privileges.
type Grants = BTreeMap<String, BTreeSet<String>>;

/// The policy surface of one installed schema. Build one with
/// [`Verifier::snapshot`](crate::Verifier::snapshot); write it with
/// [`to_yaml`](Self::to_yaml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    flavor: String,
    schemas: BTreeMap<String, SchemaSurface>,
    tables: BTreeMap<String, TableSurface>,
    functions: BTreeMap<String, FunctionSurface>,
    access_matrix: AccessMatrix,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct SchemaSurface {
    grants: Grants,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct TableSurface {
    /// table, partitioned table, view, materialized view, foreign table, sequence.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    force_rls: Option<bool>,
    /// Views only: whether it runs with the caller's rights.
    #[serde(skip_serializing_if = "Option::is_none")]
    security_invoker: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    policies: BTreeMap<String, PolicySurface>,
    grants: Grants,
    /// role → privilege → columns, for column-level grants.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    column_grants: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct PolicySurface {
    command: String,
    /// permissive or restrictive.
    mode: &'static str,
    roles: BTreeSet<String>,
    using: Option<String>,
    with_check: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct FunctionSurface {
    /// definer or invoker.
    security: &'static str,
    /// The pinned `search_path`, or null when the function does not set one.
    search_path: Option<String>,
    /// Other `SET` options of the function, as `name=value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    config: Vec<String>,
    volatility: &'static str,
    execute: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct AccessMatrix {
    /// Which world the matrix was observed on.
    world: &'static str,
    /// table → actor → operation → observed reach (all, filtered, none, denied), with
    /// the expectation added where the two differ.
    tables: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

impl Snapshot {
    pub(crate) fn of(flavor: Flavor, catalog: &Catalog, matrix: Vec<MatrixEntry>) -> Self {
        let schemas = catalog
            .schemas
            .iter()
            .map(|s| {
                let grants = grants(&s.privileges, &s.owner);
                (s.name.clone(), SchemaSurface { grants })
            })
            .collect();
        let tables = catalog
            .relations
            .iter()
            .map(|r| {
                let table = r.is_table();
                let policies = r
                    .policies
                    .iter()
                    .map(|p| {
                        let policy = PolicySurface {
                            command: p.command.clone(),
                            mode: if p.permissive {
                                "permissive"
                            } else {
                                "restrictive"
                            },
                            roles: p.roles.iter().cloned().collect(),
                            using: p.using.clone(),
                            with_check: p.with_check.clone(),
                        };
                        (p.name.clone(), policy)
                    })
                    .collect();
                let mut column_grants: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> =
                    BTreeMap::new();
                for column in &r.columns {
                    for g in &column.privileges {
                        column_grants
                            .entry(grantee(g, &r.owner))
                            .or_default()
                            .entry(g.privilege.clone())
                            .or_default()
                            .insert(column.name.clone());
                    }
                }
                let surface = TableSurface {
                    kind: kind_name(&r.kind),
                    rls: table.then_some(r.rls),
                    force_rls: table.then_some(r.force_rls),
                    security_invoker: (r.kind == "v").then_some(r.security_invoker),
                    policies,
                    grants: collapse_all(
                        grants(&r.privileges, &r.owner),
                        &all_privileges(&r.kind, catalog.server_version_num),
                    ),
                    column_grants,
                };
                (r.qualified(), surface)
            })
            .collect();
        let functions = catalog
            .functions
            .iter()
            .map(|f| {
                let execute = f
                    .privileges
                    .iter()
                    .filter(|g| g.privilege == "EXECUTE")
                    .map(|g| grantee(g, &f.owner))
                    .collect();
                let surface = FunctionSurface {
                    security: if f.security_definer {
                        "definer"
                    } else {
                        "invoker"
                    },
                    search_path: f.search_path().map(str::to_string),
                    config: f
                        .config
                        .iter()
                        .filter(|c| !c.starts_with("search_path="))
                        .cloned()
                        .collect(),
                    volatility: match f.volatility.as_str() {
                        "i" => "immutable",
                        "s" => "stable",
                        _ => "volatile",
                    },
                    execute,
                };
                (f.signature(), surface)
            })
            .collect();
        let mut access: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> =
            BTreeMap::new();
        for entry in matrix {
            let reach = if entry.mismatches == 0 {
                entry.observed
            } else {
                format!("{} (expected {})", entry.observed, entry.expected)
            };
            access
                .entry(entry.table)
                .or_default()
                .entry(entry.actor)
                .or_default()
                .insert(entry.operation, reach);
        }
        Snapshot {
            flavor: flavor.to_string(),
            schemas,
            tables,
            functions,
            access_matrix: AccessMatrix {
                world: "fixtures/worlds/basic.json",
                tables: access,
            },
        }
    }

    /// The snapshot as YAML: the same snapshot always gives the same bytes.
    pub fn to_yaml(&self) -> String {
        let body = serde_norway::to_string(self)
            .expect("a snapshot holds only strings, booleans, lists and maps");
        format!("{HEADER}{body}")
    }
}

const HEADER: &str = "# smta-verify snapshot: the policy surface of the installed schema.\n\
                      # Generated; review changes to it like changes to the SQL.\n";

fn grantee(grant: &Grant, owner: &str) -> String {
    if grant.grantee == owner {
        "(owner)".to_string()
    } else {
        grant.grantee.clone()
    }
}

fn grants(privileges: &[Grant], owner: &str) -> Grants {
    let mut grants = Grants::new();
    for g in privileges {
        grants
            .entry(grantee(g, owner))
            .or_default()
            .insert(g.privilege.clone());
    }
    grants
}

/// Every privilege a relation of `relkind` has on a server of `version_num`: what
/// `GRANT ALL` gives and an owner holds. PostgreSQL 17 added MAINTAIN to tables,
/// views and their kin (not sequences).
fn all_privileges(relkind: &str, version_num: i32) -> Vec<&'static str> {
    if relkind == "S" {
        return vec!["SELECT", "UPDATE", "USAGE"];
    }
    let mut all = vec![
        "DELETE",
        "INSERT",
        "REFERENCES",
        "SELECT",
        "TRIGGER",
        "TRUNCATE",
        "UPDATE",
    ];
    if version_num >= 170_000 {
        all.push("MAINTAIN");
    }
    all
}

/// Writes a grantee that holds every privilege there is as `ALL`, so that the same
/// `GRANT ALL` (and an owner's implicit rights) reads the same on every version,
/// although ALL means one privilege more from 17 on. A grantee short of one is
/// listed privilege by privilege, so nothing is hidden.
fn collapse_all(mut grants: Grants, all: &[&str]) -> Grants {
    for privileges in grants.values_mut() {
        if privileges.len() == all.len() && all.iter().all(|p| privileges.contains(*p)) {
            *privileges = BTreeSet::from(["ALL".to_string()]);
        }
    }
    grants
}

fn kind_name(relkind: &str) -> &'static str {
    match relkind {
        "r" => "table",
        "p" => "partitioned table",
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "S" => "sequence",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(actor: &str, operation: &str, observed: &str, mismatches: u64) -> MatrixEntry {
        MatrixEntry {
            actor: actor.into(),
            table: "app.notes".into(),
            operation: operation.into(),
            expected: "filtered".into(),
            observed: observed.into(),
            mismatches,
            observations: 3,
        }
    }

    fn catalog() -> Catalog {
        serde_json::from_value(serde_json::json!({
            "server_version": "15.8", "session_user": "postgres",
            "relations": [{
                "schema": "app", "name": "notes", "kind": "r", "rls": true, "force_rls": false,
                "owner": "postgres", "parent": null, "security_invoker": false,
                "description": null, "constraints": [], "unique_indexes": [], "triggers": [],
                "columns": [{"name": "body", "type": "text", "base_type": "text",
                             "not_null": false, "has_default": false, "generated": false,
                             "privileges": [{"grantee": "app_user", "privilege": "UPDATE"}]}],
                "privileges": [
                    {"grantee": "postgres", "privilege": "SELECT"},
                    {"grantee": "app_user", "privilege": "SELECT"},
                    {"grantee": "app_user", "privilege": "INSERT"}],
                "policies": [{"name": "own", "command": "SELECT", "permissive": false,
                              "roles": ["app_user"], "using": "(user_id = core.get_current_user_id())",
                              "with_check": null}]
            }],
            "functions": [{
                "schema": "core", "name": "f", "identity_arguments": "p uuid",
                "argument_names": [], "argument_modes": [], "input_types": ["uuid"],
                "input_defaults": 0, "result": "boolean", "returns_set": false, "kind": "f",
                "language": "sql", "security_definer": true, "volatility": "s",
                "config": ["search_path=\"\"", "statement_timeout=5s"], "owner": "postgres",
                "description": null,
                "privileges": [{"grantee": "postgres", "privilege": "EXECUTE"},
                               {"grantee": "app_user", "privilege": "EXECUTE"}]
            }],
            "schemas": [], "roles": [], "extensions": [], "extension_objects_in_public": []
        }))
        .unwrap()
    }

    #[test]
    fn the_yaml_names_owners_generically_and_flags_mismatches() {
        let matrix = vec![
            entry("user", "SELECT", "filtered", 0),
            entry("user", "UPDATE", "all", 2),
        ];
        let yaml = Snapshot::of(Flavor::Payload, &catalog(), matrix).to_yaml();
        for expected in [
            "mode: restrictive",
            "(owner):\n      - SELECT",
            "UPDATE:\n        - body",
            "core.f(p uuid):",
            "security: definer",
            "search_path: '\"\"'",
            "- statement_timeout=5s",
            "volatility: stable",
            "SELECT: filtered",
            "UPDATE: all (expected filtered)",
        ] {
            assert!(yaml.contains(expected), "missing {expected:?} in:\n{yaml}");
        }
        assert!(!yaml.contains("postgres"), "{yaml}");
    }

    #[test]
    fn a_grantee_holding_everything_reads_all_on_every_version() {
        let held = |privileges: &[&str]| -> Grants {
            Grants::from([(
                "r".to_string(),
                privileges.iter().map(|p| p.to_string()).collect(),
            )])
        };
        let pg15 = all_privileges("r", 150_008);
        let pg17 = all_privileges("r", 170_002);
        assert_eq!(pg17.len(), pg15.len() + 1);
        let all = held(&["ALL"]);
        assert_eq!(collapse_all(held(&pg15), &pg15), all);
        assert_eq!(collapse_all(held(&pg17), &pg17), all);
        // On 17, the privileges of 15 without MAINTAIN are not everything.
        assert_eq!(collapse_all(held(&pg15), &pg17), held(&pg15));
        assert_eq!(collapse_all(held(&["SELECT"]), &pg15), held(&["SELECT"]));
        let sequence = all_privileges("S", 170_002);
        assert_eq!(collapse_all(held(&sequence), &sequence), all);
    }

    #[test]
    fn the_order_of_the_catalog_does_not_change_the_yaml() {
        let mut reversed = catalog();
        reversed.relations[0].privileges.reverse();
        reversed.functions[0].privileges.reverse();
        let matrix = || {
            vec![
                entry("user", "SELECT", "filtered", 0),
                entry("anonymous", "SELECT", "denied", 0),
            ]
        };
        let mut backwards = matrix();
        backwards.reverse();
        assert_eq!(
            Snapshot::of(Flavor::Payload, &catalog(), matrix()).to_yaml(),
            Snapshot::of(Flavor::Payload, &reversed, backwards).to_yaml()
        );
    }
}
