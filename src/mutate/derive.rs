//! Deriving mutants from an installed schema: small, plausible mistakes, read off the
//! catalog and the function bodies, never from a fixed list or the reference's names.
//!
//! Each mutant is one overlay — a few SQL statements applied to a clone of the
//! installed schema — and a diff a reader can judge: a policy dropped or made
//! `true`, one `AND` conjunct removed (the soft-deletion filter among them), its roles
//! widened to PUBLIC; row security disabled or unforced on a table; a table granted to
//! the anonymous role; a SECURITY DEFINER function executable by PUBLIC or without its
//! pinned `search_path`; an INVOKER helper made DEFINER; in a PL/pgSQL RPC one
//! authorization guard removed or its audit write dropped; an audit trigger dropped;
//! a policy helper that stops ignoring soft-deleted rows. Helpers are what the
//! policies call; guards are `IF … THEN RAISE … END IF` blocks whose condition calls
//! a helper; audit writers are the functions whose body inserts into an audit trail.

use std::collections::BTreeSet;

use super::{Mutant, MutationKind, Target};
use crate::access::AccessModel;
use crate::catalog::{Catalog, Function, Relation};
use crate::flavor::{Actor, Flavor};
use crate::sql::{quote_ident, quote_qualified};

/// Every mutant of the installed schema, in a stable order.
pub(crate) fn mutants(flavor: Flavor, catalog: &Catalog, model: &AccessModel) -> Vec<Mutant> {
    let mut out = Vec::new();
    let helpers = policy_helpers(catalog);
    let audit_tables: Vec<String> = model
        .tables
        .values()
        .filter(|t| t.audit)
        .map(|t| t.table.clone())
        .collect();
    for relation in checked_tables(catalog, model) {
        policies(relation, &mut out);
        table(flavor, relation, &mut out);
        if audit_tables.contains(&relation.qualified()) {
            for trigger in &relation.triggers {
                out.push(Mutant::new(
                    MutationKind::AuditTriggerDropped,
                    relation.qualified(),
                    format!("trigger {} dropped", trigger.name),
                    vec![format!(
                        "DROP TRIGGER {} ON {}",
                        quote_ident(&trigger.name),
                        quote_qualified(&relation.qualified())
                    )],
                    format!("- {}", trigger.definition),
                ));
            }
        }
    }
    let writers = audit_writers(catalog, &audit_tables);
    for function in catalog.functions.iter().filter(|f| f.kind == "f") {
        functions(function, &helpers, &writers, &audit_tables, &mut out);
    }
    let mut seen = BTreeSet::new();
    out.retain(|m| seen.insert(m.id.clone()));
    out
}

/// Tables users reach: modelled, outside service-only schemas.
fn checked_tables<'a>(
    catalog: &'a Catalog,
    model: &'a AccessModel,
) -> impl Iterator<Item = &'a Relation> {
    catalog.tables().filter(move |r| {
        model.table(&r.qualified()).is_some() && !model.service_only_schemas.contains(&r.schema)
    })
}

fn policies(relation: &Relation, out: &mut Vec<Mutant>) {
    let table = quote_qualified(&relation.qualified());
    for policy in &relation.policies {
        let name = quote_ident(&policy.name);
        let object = format!("{} policy {}", relation.qualified(), policy.name);
        let target = Target::Table {
            table: relation.qualified(),
            command: policy.command.clone(),
        };
        let start = out.len();
        out.push(Mutant::new(
            MutationKind::PolicyDropped,
            &object,
            "policy dropped",
            vec![format!("DROP POLICY {name} ON {table}")],
            format!(
                "- POLICY {} FOR {} TO {}{}{}",
                policy.name,
                policy.command,
                policy.roles.join(", "),
                policy
                    .using
                    .as_ref()
                    .map(|u| format!(" USING ({u})"))
                    .unwrap_or_default(),
                policy
                    .with_check
                    .as_ref()
                    .map(|c| format!(" WITH CHECK ({c})"))
                    .unwrap_or_default()
            ),
        ));
        for (clause, expression, whole) in [
            ("USING", &policy.using, MutationKind::PolicyUsingTrue),
            (
                "WITH CHECK",
                &policy.with_check,
                MutationKind::PolicyCheckTrue,
            ),
        ] {
            let Some(expression) = expression else {
                continue;
            };
            if expression.trim() != "true" {
                out.push(Mutant::new(
                    whole,
                    &object,
                    format!("{clause} made true"),
                    vec![format!("ALTER POLICY {name} ON {table} {clause} (true)")],
                    format!("- {clause} ({expression})\n+ {clause} (true)"),
                ));
            }
            let parts = conjuncts(expression);
            if parts.len() < 2 {
                continue;
            }
            for (i, removed) in parts.iter().enumerate() {
                let kept: Vec<&str> = parts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| p.as_str())
                    .collect();
                let rest = kept.join(" AND ");
                let kind = if removed.contains("is_deleted") {
                    MutationKind::SoftDeleteFilterRemoved
                } else {
                    MutationKind::ConjunctRemoved
                };
                out.push(Mutant::new(
                    kind,
                    &object,
                    format!("{clause} without `{removed}`"),
                    vec![format!("ALTER POLICY {name} ON {table} {clause} ({rest})")],
                    format!("- {clause} ({expression})\n+ {clause} ({rest})"),
                ));
            }
        }
        if !policy.roles.iter().any(|r| r == "public") {
            out.push(Mutant::new(
                MutationKind::PolicyToPublic,
                &object,
                "policy applies TO public",
                vec![format!("ALTER POLICY {name} ON {table} TO public")],
                format!("- TO {}\n+ TO public", policy.roles.join(", ")),
            ));
        }
        for mutant in &mut out[start..] {
            mutant.target = target.clone();
        }
    }
}

fn table(flavor: Flavor, relation: &Relation, out: &mut Vec<Mutant>) {
    let qualified = relation.qualified();
    let table = quote_qualified(&qualified);
    let every_operation = Target::Table {
        table: qualified.clone(),
        command: "ALL".into(),
    };
    if relation.rls {
        out.push(
            Mutant::new(
                MutationKind::RlsDisabled,
                &qualified,
                "row level security disabled",
                vec![format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")],
                "- ROW LEVEL SECURITY enabled\n+ ROW LEVEL SECURITY disabled".into(),
            )
            .on(every_operation.clone()),
        );
    }
    if relation.force_rls {
        out.push(
            Mutant::new(
                MutationKind::ForceRemoved,
                &qualified,
                "FORCE ROW LEVEL SECURITY removed",
                vec![format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")],
                "- FORCE ROW LEVEL SECURITY".into(),
            )
            .on(every_operation),
        );
    }
    let anonymous = flavor.role(&Actor::Anonymous);
    out.push(Mutant::new(
        MutationKind::TableGrantedToAnonymous,
        &qualified,
        format!("SELECT granted to {anonymous}"),
        vec![
            format!(
                "GRANT USAGE ON SCHEMA {} TO {anonymous}",
                quote_ident(&relation.schema)
            ),
            format!("GRANT SELECT ON {table} TO {anonymous}"),
        ],
        format!("+ GRANT SELECT ON {qualified} TO {anonymous}"),
    ));
}

fn functions(
    function: &Function,
    helpers: &BTreeSet<String>,
    writers: &BTreeSet<String>,
    audit_tables: &[String],
    out: &mut Vec<Mutant>,
) {
    let signature = format!(
        "{}.{}({})",
        quote_ident(&function.schema),
        quote_ident(&function.name),
        function.input_types.join(", ")
    );
    let object = function.typed_name();
    let rpc = Target::Function {
        function: object.clone(),
    };
    if function.security_definer {
        if !function.executable_by(&[]) {
            out.push(Mutant::new(
                MutationKind::DefinerExecutableByPublic,
                &object,
                "EXECUTE granted to PUBLIC",
                vec![format!("GRANT EXECUTE ON FUNCTION {signature} TO PUBLIC")],
                format!("+ GRANT EXECUTE ON FUNCTION {object} TO PUBLIC"),
            ));
        }
        if function.search_path().is_some() {
            out.push(Mutant::new(
                MutationKind::SearchPathRemoved,
                &object,
                "pinned search_path removed",
                vec![format!("ALTER FUNCTION {signature} RESET search_path")],
                format!(
                    "- SET search_path = {}",
                    function.search_path().unwrap_or_default()
                ),
            ));
        }
    } else if helpers.contains(&function.qualified()) {
        out.push(Mutant::new(
            MutationKind::InvokerMadeDefiner,
            &object,
            "made SECURITY DEFINER",
            vec![format!("ALTER FUNCTION {signature} SECURITY DEFINER")],
            "- SECURITY INVOKER\n+ SECURITY DEFINER".into(),
        ));
    }
    let Some(definition) = &function.definition else {
        return;
    };
    if helpers.contains(&function.qualified()) {
        if let Some(edited) = without_soft_delete_filters(definition) {
            out.push(Mutant::new(
                MutationKind::HelperIgnoresSoftDelete,
                &object,
                "helper no longer skips soft-deleted rows",
                vec![edited.clone()],
                line_diff(definition, &edited),
            ));
        }
    }
    if function.schema != "public" || function.language != "plpgsql" {
        return;
    }
    for (n, block) in guards(definition, helpers).into_iter().enumerate() {
        let edited = format!("{}{}", &definition[..block.start], &definition[block.end..]);
        out.push(
            Mutant::new(
                MutationKind::GuardRemoved,
                format!("{object} guard {}", n + 1),
                format!("authorization guard {} removed", n + 1),
                vec![edited],
                definition[block.clone()]
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("- {}", l.trim_end()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .on(rpc.clone()),
        );
    }
    for (n, statement) in audit_writes(definition, writers, audit_tables)
        .into_iter()
        .enumerate()
    {
        let edited = format!(
            "{}{}",
            &definition[..statement.start],
            &definition[statement.end..]
        );
        out.push(
            Mutant::new(
                MutationKind::AuditWriteRemoved,
                format!("{object} audit write {}", n + 1),
                "audit write removed",
                vec![edited],
                definition[statement.clone()]
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("- {}", l.trim_end()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .on(rpc.clone()),
        );
    }
}

/// The functions policies call (`schema.name(`), as `schema.name`: the identity and
/// membership helpers of this installation, whatever they are named.
fn policy_helpers(catalog: &Catalog) -> BTreeSet<String> {
    let known: BTreeSet<String> = catalog.functions.iter().map(Function::qualified).collect();
    let mut helpers = BTreeSet::new();
    for policy in catalog.relations.iter().flat_map(|r| &r.policies) {
        for text in policy.using.iter().chain(&policy.with_check) {
            for name in called_names(text) {
                if known.contains(&name) {
                    helpers.insert(name);
                }
            }
        }
    }
    // What those helpers call is a helper too (an identity function under a
    // membership check).
    loop {
        let more: Vec<String> = catalog
            .functions
            .iter()
            .filter(|f| helpers.contains(&f.qualified()))
            .filter_map(|f| f.definition.as_deref())
            .flat_map(called_names)
            .filter(|n| known.contains(n) && !helpers.contains(n))
            .collect();
        if more.is_empty() {
            return helpers;
        }
        helpers.extend(more);
    }
}

/// `schema.name` of every `schema.name(` call in `text`.
fn called_names(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut names = Vec::new();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    for (i, &c) in chars.iter().enumerate() {
        if c != '(' {
            continue;
        }
        let mut start = i;
        while start > 0 && (word(chars[start - 1]) || chars[start - 1] == '.') {
            start -= 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.matches('.').count() == 1 && !name.starts_with('.') && !name.ends_with('.') {
            names.push(name.to_lowercase());
        }
    }
    names
}

/// Functions whose body writes an audit trail.
fn audit_writers(catalog: &Catalog, audit_tables: &[String]) -> BTreeSet<String> {
    catalog
        .functions
        .iter()
        .filter(|f| {
            f.definition.as_deref().is_some_and(|d| {
                let d = d.to_lowercase();
                audit_tables
                    .iter()
                    .any(|t| d.contains(&format!("insert into {t}")))
            })
        })
        .map(Function::qualified)
        .collect()
}

/// The top-level `AND` operands of a deparsed expression, outer parentheses removed.
pub(crate) fn conjuncts(expression: &str) -> Vec<String> {
    let mut text = expression.trim();
    while wrapped(text) {
        text = text[1..text.len() - 1].trim();
    }
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && text[i..].starts_with(" AND ") => {
                parts.push(text[start..i].trim().to_string());
                start = i + 5;
                i += 4;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(text[start..].trim().to_string());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Whether `text` is one parenthesised group: `(a) AND (b)` is not.
fn wrapped(text: &str) -> bool {
    if !(text.starts_with('(') && text.ends_with(')')) {
        return false;
    }
    let (mut depth, mut quoted) = (0i32, false);
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 && i != text.len() - 1 {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Byte ranges of `IF … THEN … RAISE … END IF;` blocks (whole lines) whose condition
/// calls a helper and that have no ELSE branch: authorization guards.
fn guards(definition: &str, helpers: &BTreeSet<String>) -> Vec<std::ops::Range<usize>> {
    let lines = line_spans(definition);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = definition[lines[i].clone()].trim().to_lowercase();
        if !line.starts_with("if ") {
            i += 1;
            continue;
        }
        // The matching END IF, counting nested IFs.
        let (mut depth, mut end, mut branched) = (0, None, false);
        for (j, span) in lines.iter().enumerate().skip(i) {
            let l = definition[span.clone()].trim().to_lowercase();
            if l.starts_with("if ") {
                depth += 1;
            } else if l.starts_with("end if") {
                depth -= 1;
                if depth == 0 {
                    end = Some(j);
                    break;
                }
            } else if depth == 1 && (l.starts_with("else") || l.starts_with("elsif")) {
                branched = true;
            }
        }
        let Some(end) = end else {
            i += 1;
            continue;
        };
        let block = lines[i].start..lines[end].end;
        let text = definition[block.clone()].to_lowercase();
        let condition = text.split(" then").next().unwrap_or_default();
        let guards_caller = called_names(condition).iter().any(|n| helpers.contains(n));
        if !branched && guards_caller && text.contains("raise") {
            out.push(block);
        }
        i = end + 1;
    }
    out
}

/// Byte ranges of the statements (whole lines) that write the audit trail: a call of
/// an audit writer or an INSERT into an audit table, up to its `;`.
fn audit_writes(
    definition: &str,
    writers: &BTreeSet<String>,
    audit_tables: &[String],
) -> Vec<std::ops::Range<usize>> {
    let lines = line_spans(definition);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = definition[lines[i].clone()].trim().to_lowercase();
        let writes = (line.starts_with("perform ") || line.starts_with("select "))
            && called_names(&line).iter().any(|n| writers.contains(n))
            || audit_tables
                .iter()
                .any(|t| line.starts_with(&format!("insert into {t}")));
        if !writes {
            i += 1;
            continue;
        }
        let end = (i..lines.len())
            .find(|&j| definition[lines[j].clone()].trim_end().ends_with(';'))
            .unwrap_or(i);
        out.push(lines[i].start..lines[end].end);
        i = end + 1;
    }
    out
}

/// The body with every `AND NOT x.is_deleted` (and `NOT x.is_deleted AND`) removed,
/// when there is one.
fn without_soft_delete_filters(definition: &str) -> Option<String> {
    let mut edited = definition.to_string();
    let mut changed = false;
    while let Some(span) = soft_delete_filter(&edited) {
        edited.replace_range(span, "");
        changed = true;
    }
    changed.then_some(edited)
}

/// The span of the next `AND NOT x.is_deleted` or `NOT x.is_deleted AND`, any case.
fn soft_delete_filter(text: &str) -> Option<std::ops::Range<usize>> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("not ") {
        let at = from + found;
        let name_start = at + "not ".len();
        let name_len = lower[name_start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            .count();
        let name = &lower[name_start..name_start + name_len];
        let name_end = name_start + name_len;
        let word_start = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
        if word_start && (name == "is_deleted" || name.ends_with(".is_deleted")) {
            if let Some(before) = lower[..at].trim_end().strip_suffix("and") {
                return Some(before.len()..name_end);
            }
            if lower[name_end..].starts_with(" and ") {
                return Some(at..name_end + " and ".len());
            }
        }
        from = name_end.max(at + 1);
    }
    None
}

fn line_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            spans.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < text.len() {
        spans.push(start..text.len());
    }
    spans
}

/// Removed and added lines between two texts that differ in a few lines.
fn line_diff(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let mut out = Vec::new();
    let common_start = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let common_end = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count()
        .min(old.len().min(new.len()) - common_start);
    for line in &old[common_start..old.len() - common_end] {
        out.push(format!("- {}", line.trim_end()));
    }
    for line in &new[common_start..new.len() - common_end] {
        out.push(format!("+ {}", line.trim_end()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjuncts_split_at_the_top_level_only() {
        assert_eq!(
            conjuncts("((NOT is_deleted) AND core.is_org_member(organization_id))"),
            ["(NOT is_deleted)", "core.is_org_member(organization_id)"]
        );
        assert_eq!(conjuncts("(a AND (b OR c AND d))"), ["a", "(b OR c AND d)"]);
        assert_eq!(conjuncts("(name = 'x AND y')"), ["name = 'x AND y'"]);
        assert_eq!(conjuncts("(a) AND (b)"), ["(a)", "(b)"]);
    }

    #[test]
    fn helpers_are_found_in_calls() {
        assert_eq!(
            called_names("(NOT is_deleted) AND core.is_org_member(organization_id) AND lower(x)"),
            ["core.is_org_member"]
        );
    }

    const RPC: &str = "CREATE OR REPLACE FUNCTION public.update_unit(p_id uuid)\n RETURNS uuid\n LANGUAGE plpgsql\nAS $function$\nbegin\n  if not core.is_org_member(p_id) then\n    raise exception 'members only';\n  end if;\n  if p_id is null then\n    raise exception 'no id';\n  end if;\n  update core.units set name = 'x' where id = p_id;\n  perform utils.record_audit(p_id, 'units',\n    p_id, 'update');\n  return p_id;\nend\n$function$\n";

    #[test]
    fn guards_are_if_raise_blocks_whose_condition_calls_a_helper() {
        let helpers: BTreeSet<String> = ["core.is_org_member".to_string()].into();
        let found = guards(RPC, &helpers);
        assert_eq!(found.len(), 1, "the NULL check is no authorization guard");
        assert!(RPC[found[0].clone()].contains("is_org_member"));
        let edited = format!("{}{}", &RPC[..found[0].start], &RPC[found[0].end..]);
        assert!(!edited.contains("members only") && edited.contains("no id"));
    }

    #[test]
    fn audit_writes_span_their_whole_statement() {
        let writers: BTreeSet<String> = ["utils.record_audit".to_string()].into();
        let found = audit_writes(RPC, &writers, &[]);
        assert_eq!(found.len(), 1);
        assert!(RPC[found[0].clone()].contains("'update');"));
    }

    #[test]
    fn soft_delete_filters_are_removed_from_helpers() {
        let helper = "select exists (select 1 from core.memberships m where m.user_id = x and not m.is_deleted and not o.is_deleted)";
        let edited = without_soft_delete_filters(helper).unwrap();
        assert!(!edited.contains("is_deleted"), "{edited}");
        let first = "where not is_deleted and x = 1";
        assert_eq!(without_soft_delete_filters(first).unwrap(), "where x = 1");
        assert!(without_soft_delete_filters("select 1").is_none());
    }
}
