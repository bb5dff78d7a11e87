//! A complete rules file for an installed schema, written from the resolved model.
//!
//! `smta-verify rules` gives an adopter (or a reviewer of another SMTA installation) a
//! file to start from instead of a blank page: every table the checks look at, with
//! the rules the reference and the defaults give it, each entry saying where its
//! rules came from — the reference rules (and how they were fitted), a column name, a
//! foreign key — which policies the table has, and `TODO` where the tool could not
//! decide. It is written from the model itself, so `check --access` on it, unedited,
//! judges exactly as a run without it does.

use std::fmt::Write as _;

use super::{AccessModel, Expr, RuleOrigin, ServiceAccess, TableModel};
use crate::catalog::{Catalog, Relation};

/// The rules file for `model`, with comments from `catalog`.
pub(crate) fn rules_file(
    model: &AccessModel,
    catalog: &Catalog,
    schema_sources: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Access rules written by `smta-verify rules` for the schema installed from:\n#   {}\n\
         #\n\
         # Every table the checks look at is listed, with the rules the reference rules and the\n\
         # defaults give it (README, \"Access rules\"). Edit what your installation means to\n\
         # allow; entries marked TODO are guesses the tool could not settle. `smta-verify check\n\
         # --access <this file>` judges exactly as a run without --access until you change it.",
        if schema_sources.is_empty() {
            "(the built-in reference schema)".to_string()
        } else {
            schema_sources.join("\n#   ")
        }
    );
    out.push_str("version = 1\n\n");
    let _ = writeln!(
        out,
        "# The only functions an unauthenticated caller may execute.\nanonymous_functions = {}\n",
        list(model.anonymous_functions.iter())
    );
    let _ = writeln!(
        out,
        "# Only the service role reaches these schemas.\nservice_only_schemas = {}\n",
        list(model.service_only_schemas.iter())
    );
    if !model.ignored_schemas.is_empty() {
        let _ = writeln!(
            out,
            "# Left out of row-level checks.\nignored_schemas = {}\n",
            list(model.ignored_schemas.iter())
        );
    }
    for note in &model.notes {
        let _ = writeln!(out, "# Note: {note}");
    }
    if !model.notes.is_empty() {
        out.push('\n');
    }
    for table in model.tables.values() {
        let Some(relation) = catalog.relation(&table.table) else {
            continue;
        };
        write_table(&mut out, model, table, relation);
    }
    for (function, per_table) in &model.may_return {
        write_function(&mut out, function, "may_return", per_table);
    }
    for (function, per_table) in &model.may_write {
        write_function(&mut out, function, "may_write", per_table);
    }
    out
}

fn write_table(out: &mut String, model: &AccessModel, table: &TableModel, relation: &Relation) {
    let name = &table.table;
    match &table.origin {
        RuleOrigin::Reference => {
            let _ = writeln!(out, "# {name}: from the reference rules (SPEC §3).");
            for note in model
                .notes
                .iter()
                .filter(|n| n.contains(&format!("`{name}`")))
            {
                let _ = writeln!(out, "#   fitted: {note}");
            }
        }
        RuleOrigin::Listed => {
            let _ = writeln!(out, "# {name}: from {}.", model.source);
        }
        RuleOrigin::Default(why) => {
            let _ = writeln!(
                out,
                "# {name}: not in the reference rules; the default for it: {why}."
            );
            if let Some(todo) = todo(model, table, relation) {
                let _ = writeln!(out, "# TODO: {todo}");
            }
        }
    }
    match table.tenant.as_slice() {
        [] => {}
        hops => {
            let path: Vec<String> = hops
                .iter()
                .map(|h| match &h.next {
                    Some((t, c)) => format!("{}.{} → {t}.{c}", h.table, h.column),
                    None => format!("{}.{} (an organization id)", h.table, h.column),
                })
                .collect();
            let _ = writeln!(out, "#   tenant path: {}", path.join(", then "));
        }
    }
    if !relation.rls {
        let _ = writeln!(out, "#   row level security is OFF on this table");
    }
    for policy in &relation.policies {
        let clause = |label: &str, text: &Option<String>| {
            text.as_ref()
                .map(|t| format!(" {label} ({})", abbreviate(t)))
                .unwrap_or_default()
        };
        let _ = writeln!(
            out,
            "#   policy {} ({}, {}, TO {}){}{}",
            policy.name,
            policy.command,
            if policy.permissive {
                "permissive"
            } else {
                "restrictive"
            },
            policy.roles.join(", "),
            clause("USING", &policy.using),
            clause("WITH CHECK", &policy.with_check)
        );
    }
    let _ = writeln!(out, "[tables.{}]", quoted(name));
    if let Some(first) = table.tenant.first() {
        let _ = writeln!(out, "tenant = {}", quoted(&first.column));
    }
    for (key, rule) in [
        ("select", &table.select),
        ("insert", &table.insert),
        ("update", &table.update),
    ] {
        let _ = writeln!(out, "{key} = {}", quoted(&rule.to_string()));
    }
    if table.update_check != table.update {
        let _ = writeln!(
            out,
            "update_check = {}",
            quoted(&table.update_check.to_string())
        );
    }
    let _ = writeln!(out, "delete = {}", quoted(&table.delete.to_string()));
    let _ = writeln!(
        out,
        "service = {}",
        quoted(match table.service {
            ServiceAccess::All => "all",
            ServiceAccess::Read => "read",
            ServiceAccess::None => "none",
            ServiceAccess::Unchecked => "unchecked",
        })
    );
    for (key, columns) in [
        ("immutable", &table.immutable),
        ("privileged", &table.privileged),
        ("live_via", &table.live_via),
    ] {
        if !columns.is_empty() {
            let _ = writeln!(out, "{key} = {}", list(columns.iter()));
        }
    }
    if table.audit {
        out.push_str("audit = true\n");
    }
    if table.maintain {
        out.push_str("maintain = true\n");
    }
    out.push('\n');
}

/// What a defaulted table's rules may be missing, when the catalog suggests it.
fn todo(model: &AccessModel, table: &TableModel, relation: &Relation) -> Option<String> {
    let schema = relation.schema.as_str();
    if model.service_only_schemas.contains(schema) {
        return None;
    }
    let no_tenant_or_user = table.tenant.is_empty() && !relation.has_column("user_id");
    if !no_tenant_or_user {
        return Some(
            "check that the default fits: it was chosen from the column names alone".into(),
        );
    }
    // A foreign key to a tenant-scoped table is how such a table usually belongs to
    // an organization (a task of a project).
    let via = relation.foreign_keys().find_map(|(columns, target, _)| {
        let target_model = model.table(target)?;
        (columns.len() == 1 && !target_model.tenant.is_empty())
            .then(|| (columns[0].clone(), target.to_string()))
    });
    Some(match via {
        Some((column, target)) => format!(
            "it references {target}, which belongs to an organization: tenant = \"{column}\" with \
             rules such as select = \"member\" would make it tenant-scoped; as written, only the \
             service role may touch it"
        ),
        None => "no organization_id, user_id or reference to a tenant-scoped table: only the \
                 service role may touch it; say here who else may"
            .into(),
    })
}

fn write_function(
    out: &mut String,
    function: &str,
    key: &str,
    per_table: &std::collections::BTreeMap<String, Expr>,
) {
    if per_table.is_empty() {
        return;
    }
    let _ = writeln!(out, "[functions.{}.{key}]", quoted(function));
    for (table, rule) in per_table {
        let _ = writeln!(out, "{} = {}", quoted(table), quoted(&rule.to_string()));
    }
    out.push('\n');
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.map(|i| quoted(i)).collect();
    format!("[{}]", items.join(", "))
}

fn abbreviate(sql: &str) -> String {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        format!("{}…", flat.chars().take(119).collect::<String>())
    } else {
        flat
    }
}
