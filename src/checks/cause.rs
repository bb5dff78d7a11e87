//! Root causes: what one fix removes, as the catalog explains a finding.
//!
//! A report that lists 95 functions PUBLIC may execute as 95 headlines buries the one
//! `REVOKE … FROM PUBLIC` that fixes them all. Each check therefore names the cause of
//! its findings with a key — the policies of one table for one command, one function,
//! one grantee's grants in one schema, one audit trail's missing guard — and findings
//! that share a key are one root cause in the report. Keys come from the catalog
//! (which policies apply, whether row security is on), never from the reference
//! schema's private names.

use crate::catalog::{Catalog, Function};
use crate::finding::{Cause, Finding};

/// The policy command that decides a probe's operation (`INSERT ON CONFLICT` is
/// refused or let through by the UPDATE policies once the row exists).
pub(crate) fn command(operation: &str) -> &'static str {
    if operation.starts_with("SELECT") {
        "SELECT"
    } else if operation == "INSERT" {
        "INSERT"
    } else if operation == "DELETE" {
        "DELETE"
    } else {
        "UPDATE"
    }
}

/// The policies of `table` that decide `operation`: row security off (one cause
/// whatever the operation), or the table's policies for that command.
pub(crate) fn table_policies(finding: Finding, catalog: &Catalog) -> Finding {
    let table = finding.object.clone();
    let Some(relation) = catalog.relation(&table) else {
        return finding;
    };
    if !relation.rls {
        return finding.cause(
            format!("rls-off:{table}"),
            format!("row level security is disabled on {table}"),
            format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, then add a policy per operation \
                 that ties each row to the caller's organizations."
            ),
        );
    }
    let command = command(&finding.operation);
    let policies: Vec<String> = relation
        .policies
        .iter()
        .filter(|p| p.command == command || p.command == "ALL")
        .map(|p| {
            format!(
                "{} ({}, TO {})",
                p.name,
                if p.permissive {
                    "permissive"
                } else {
                    "restrictive"
                },
                p.roles.join(", ")
            )
        })
        .collect();
    let (title, fix) = if policies.is_empty() {
        (
            format!("no {command} policy decides {table} as the rules expect"),
            format!(
                "Add {command} policies to {table} that allow exactly what the access rules \
                 allow, and review the table's grants."
            ),
        )
    } else {
        let clauses = match command {
            "SELECT" | "DELETE" => "USING admits exactly the rows the access rules allow",
            "INSERT" => "WITH CHECK admits exactly the new rows the access rules allow",
            _ => {
                "USING (which rows are reached) and WITH CHECK (what they may become) \
                 match the access rules"
            }
        };
        let writes = if command == "SELECT" {
            ""
        } else {
            " Check the table's column grants and triggers too: they decide writes as well."
        };
        (
            format!("the {command} policies of {table}: {}", policies.join("; ")),
            format!(
                "Rewrite the {command} policies of {table} so that {clauses}; permissive \
                 policies add up, so each must be as narrow as the rules.{writes}"
            ),
        )
    };
    finding.cause(format!("policy:{table}:{command}"), title, fix)
}

/// One function: a missing or wrong authorization check, a missing effect or audit
/// row — whatever it is, the fix is in that function's body or grants.
pub(crate) fn function(finding: Finding, function: &Function) -> Finding {
    let signature = function.signature();
    finding.cause(
        format!("function:{signature}"),
        format!(
            "{signature}{} does not keep its contract",
            if function.security_definer {
                " (SECURITY DEFINER)"
            } else {
                ""
            }
        ),
        format!(
            "Fix the body of {signature}: authorize the caller explicitly (membership, super \
             admin, ownership) before reading or changing rows, keep every row it returns \
             or changes inside the caller's organizations, and write the audit row of each \
             change; revoke EXECUTE from roles that must not call it."
        ),
    )
}

/// Rows a function returned to a caller who may not read them, of `tables` (the
/// row that should not have come back first). A SECURITY INVOKER function reads with
/// the caller's rights, so a table's SELECT policies let the rows through and the fix
/// is there — one fix for the table and every function reading it; which table is
/// settled when the report is assembled, by the policies the table probes blamed. A
/// DEFINER function's body must filter the rows itself.
pub(crate) fn returned(
    finding: Finding,
    catalog: &Catalog,
    function: &Function,
    tables: &[String],
) -> Finding {
    let candidates: Vec<Cause> = tables
        .iter()
        .filter(|t| catalog.relation(t).is_some())
        .filter_map(|t| table_policies(Finding::new(finding.check, t, "SELECT"), catalog).cause)
        .collect();
    if function.security_definer || candidates.is_empty() {
        return self::function(finding, function);
    }
    let mut candidates = candidates.into_iter();
    let cause = candidates.next();
    Finding {
        cause,
        alternatives: candidates.collect(),
        ..finding
    }
}

/// Privileges granted to one grantee on one kind of object in one schema: a default
/// privilege or a `GRANT … ON ALL … IN SCHEMA` is one statement, and one REVOKE (plus
/// `ALTER DEFAULT PRIVILEGES`) removes it.
pub(crate) fn grants(finding: Finding, grantee: &str, schema: &str, objects: &str) -> Finding {
    finding.cause(
        format!("grant:{grantee}:{schema}:{objects}"),
        format!("{grantee} holds privileges on {objects} in schema {schema}"),
        format!(
            "REVOKE the privileges on {objects} in schema {schema} from {grantee} (e.g. REVOKE \
             ALL ON ALL {} IN SCHEMA {schema} FROM {grantee}), and ALTER DEFAULT PRIVILEGES IN \
             SCHEMA {schema} so that new objects do not bring them back.",
            objects.to_uppercase()
        ),
    )
}

/// The cause of a table privilege an actor was found to use: the grant of `role` (or
/// PUBLIC) on the table, when the catalog shows one; else the table's policies.
pub(crate) fn table_grant(
    finding: Finding,
    catalog: &Catalog,
    roles: &[String],
    privilege: &str,
) -> Finding {
    let Some(relation) = catalog.relation(&finding.object) else {
        return finding;
    };
    let privilege = privilege.split_whitespace().next().unwrap_or(privilege);
    let grantee = relation
        .privileges
        .iter()
        .chain(relation.columns.iter().flat_map(|c| c.privileges.iter()))
        .find(|g| g.privilege == privilege && (g.grantee == "PUBLIC" || roles.contains(&g.grantee)))
        .map(|g| g.grantee.clone());
    match grantee {
        Some(grantee) => {
            let schema = relation.schema.clone();
            grants(finding, &grantee, &schema, "tables")
        }
        None => table_policies(finding, catalog),
    }
}
