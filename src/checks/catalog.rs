//! Catalog checks: defects visible in grants, flags and definitions alone.
//!
//! Most real RLS breaches come through grants, functions, views and roles rather than
//! policies. These checks read the catalog and the access model only — no world is
//! needed — so they run once per run and name the exact object and grant at fault.
//! Which roles are "application roles" comes from the flavour (the roles actors use)
//! and the catalog (everything that is a member of them), never from the reference
//! schema's private names.

use std::collections::BTreeSet;

use crate::access::AccessModel;
use crate::catalog::{Catalog, Function, Relation};
use crate::finding::{CheckId, Finding, Severity};
use crate::flavor::{Actor, Flavor};

/// Schemas whose tables must have row security (SPEC §2, issue: rls-disabled).
const RLS_SCHEMAS: &[&str] = &["core", "platform", "app", "public"];
/// Schemas whose functions no anonymous caller may execute unless the rules say so.
const PRIVATE_FUNCTION_SCHEMAS: &[&str] = &["utils", "core", "platform"];

/// The roles the checks reason about, resolved for one flavour.
pub(crate) struct Roles {
    /// Roles that act for unauthenticated callers (and PUBLIC itself).
    pub(crate) anonymous: BTreeSet<String>,
    /// Roles end users act as, and every role that is a member of them (the service
    /// role and what it belongs to excluded).
    pub(crate) application: BTreeSet<String>,
}

impl Roles {
    pub(crate) fn resolve(flavor: Flavor, catalog: &Catalog) -> Self {
        let anon = flavor.role(&Actor::Anonymous).to_string();
        let public = flavor.role(&Actor::PublicOnly).to_string();
        let user = flavor.role(&Actor::User(uuid::Uuid::nil())).to_string();
        let service_role = flavor.role(&Actor::Service).to_string();
        let mut service: BTreeSet<String> = catalog.roles_of(&service_role).into_iter().collect();
        service.insert(service_role);
        // Application roles: the user role, what it is a member of (app_user), and
        // every role that is a member of those (authenticated, Payload's login role…).
        let mut application: BTreeSet<String> = catalog.roles_of(&user).into_iter().collect();
        loop {
            let more: Vec<String> = catalog
                .roles
                .iter()
                .filter(|r| {
                    !application.contains(&r.name)
                        && r.member_of.iter().any(|m| application.contains(m))
                })
                .map(|r| r.name.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            application.extend(more);
        }
        // PostgreSQL's predefined roles (pg_maintain, pg_read_all_data, …) are what
        // an application role may wrongly hold, never application roles themselves.
        application.retain(|r| !service.contains(r) && !r.starts_with("pg_"));
        let anonymous: BTreeSet<String> =
            [anon, public, "PUBLIC".to_string()].into_iter().collect();
        Self {
            anonymous,
            application,
        }
    }

    fn is_app_or_anon(&self, role: &str) -> bool {
        self.anonymous.contains(role) || self.application.contains(role)
    }
}

/// Runs every catalog check.
pub(crate) fn check(flavor: Flavor, catalog: &Catalog, model: &AccessModel) -> Vec<Finding> {
    let roles = Roles::resolve(flavor, catalog);
    let mut findings = Vec::new();
    rls_disabled(catalog, &mut findings);
    table_privileges(catalog, model, &roles, &mut findings);
    predefined_maintain(catalog, model, &roles, &mut findings);
    public_schema_objects(catalog, &mut findings);
    schema_privileges(catalog, model, &roles, &mut findings);
    definer_search_path(catalog, &roles, &mut findings);
    function_exposed(catalog, model, &roles, &mut findings);
    bypass_roles(catalog, &roles, &mut findings);
    findings
}

fn rls_disabled(catalog: &Catalog, findings: &mut Vec<Finding>) {
    for table in catalog.tables() {
        if RLS_SCHEMAS.contains(&table.schema.as_str()) && !table.rls {
            let what = match (&table.parent, table.kind.as_str()) {
                (Some(parent), _) => format!("partition of {parent}"),
                (None, "p") => "partitioned table".to_string(),
                _ => "table".to_string(),
            };
            findings.push(crate::checks::cause::table_policies(
                Finding::new(CheckId::RlsDisabled, table.qualified(), "ALTER TABLE")
                    .message(format!(
                        "{} ({what}) has row level security disabled: every role with a grant on it \
                         sees and changes every tenant's rows. Fix: ALTER TABLE {} ENABLE ROW LEVEL SECURITY \
                         and add policies.",
                        table.qualified(),
                        table.qualified()
                    )),
                catalog,
            ));
        }
    }
}

/// How `name` can become a role that bypasses row security: by SET ROLE along grants
/// with the SET option (PostgreSQL 16+; every grant before), or by granting itself
/// such a role with an ADMIN option it holds on it. Membership that only inherits
/// (`WITH INHERIT TRUE, SET FALSE`) is no way in: SUPERUSER and BYPASSRLS are role
/// attributes, never inherited.
fn privileged_memberships(
    catalog: &Catalog,
    name: &str,
    privileged: &BTreeSet<&str>,
) -> Vec<String> {
    let settable = catalog.settable_roles(name);
    let mut reasons: Vec<String> = settable
        .iter()
        .skip(1)
        .filter(|parent| privileged.contains(parent.as_str()))
        .map(|parent| {
            format!(
                "may SET ROLE {parent}{}, which bypasses row security",
                if catalog.server_version_num >= 160_000 {
                    " (a grant chain WITH SET TRUE)"
                } else {
                    " (PostgreSQL before 16 lets every member SET ROLE)"
                }
            )
        })
        .collect();
    for via in &settable {
        let Some(role) = catalog.role(via) else {
            continue;
        };
        for grant in role.memberships.iter().filter(|m| m.admin) {
            if privileged.contains(grant.role.as_str()) && !settable.contains(&grant.role) {
                let target = &grant.role;
                reasons.push(if via == name {
                    format!(
                        "holds ADMIN OPTION on {target}, so it may GRANT {target} TO {name} WITH SET \
                         TRUE and SET ROLE {target}, which bypasses row security"
                    )
                } else {
                    format!(
                        "may SET ROLE {via}, which holds ADMIN OPTION on {target}: it may GRANT \
                         {target} TO {via} WITH SET TRUE and SET ROLE {target}, which bypasses row \
                         security"
                    )
                });
            }
        }
    }
    reasons
}

/// Grants on tables, views, sequences and their columns to roles not meant to have them.
fn table_privileges(
    catalog: &Catalog,
    model: &AccessModel,
    roles: &Roles,
    findings: &mut Vec<Finding>,
) {
    for relation in &catalog.relations {
        let grants = relation
            .privileges
            .iter()
            .map(|g| (g.grantee.as_str(), g.privilege.as_str(), None))
            .chain(relation.columns.iter().flat_map(|c| {
                c.privileges.iter().map(move |g| {
                    (
                        g.grantee.as_str(),
                        g.privilege.as_str(),
                        Some(c.name.as_str()),
                    )
                })
            }));
        let service_only = model.service_only_schemas.contains(&relation.schema);
        let rules = model.table(&relation.qualified());
        let mut reported = BTreeSet::new();
        for (grantee, privilege, column) in grants {
            let target = match column {
                Some(c) => format!("{}({c})", relation.qualified()),
                None => relation.qualified(),
            };
            let finding = if roles.anonymous.contains(grantee) {
                Some((
                    CheckId::PublicTableAccess,
                    Severity::Critical,
                    format!(
                        "{grantee} holds {privilege} on {target}: unauthenticated callers reach it. \
                         Fix: REVOKE {privilege} ON {} FROM {grantee}.",
                        relation.qualified()
                    ),
                ))
            } else if roles.application.contains(grantee) && service_only {
                Some((
                    CheckId::PlatformExposed,
                    Severity::Critical,
                    format!(
                        "application role {grantee} holds {privilege} on {target}, in a schema only the \
                         service role may reach. Fix: REVOKE {privilege} ON {} FROM {grantee}.",
                        relation.qualified()
                    ),
                ))
            } else if roles.application.contains(grantee) {
                app_privilege_problem(relation, rules, grantee, privilege, &target)
            } else {
                None
            };
            if let Some((check, severity, message)) = finding {
                if reported.insert((check, grantee.to_string(), privilege.to_string())) {
                    findings.push(crate::checks::cause::grants(
                        Finding::new(check, relation.qualified(), format!("GRANT {privilege}"))
                            .actor(grantee)
                            .severity(severity)
                            .message(message),
                        grantee,
                        &relation.schema,
                        "tables",
                    ));
                }
            }
        }
    }
}

/// PostgreSQL 17's predefined role `pg_maintain` gives MAINTAIN on every table: an
/// application role that holds its privileges, or may SET ROLE to it, has MAINTAIN
/// wherever the rules do not give it.
fn predefined_maintain(
    catalog: &Catalog,
    model: &AccessModel,
    roles: &Roles,
    findings: &mut Vec<Finding>,
) {
    const ROLE: &str = "pg_maintain";
    let refused: Vec<String> = catalog
        .tables()
        .filter(|t| !model.table(&t.qualified()).is_some_and(|r| r.maintain))
        .map(Relation::qualified)
        .collect();
    if refused.is_empty() {
        return;
    }
    for name in roles.application.iter().chain(roles.anonymous.iter()) {
        let inherits = catalog.roles_of(name).iter().any(|r| r == ROLE);
        if !inherits && !catalog.settable_roles(name).iter().any(|r| r == ROLE) {
            continue;
        }
        findings.push(
            Finding::new(CheckId::PublicTableAccess, name, format!("GRANT {ROLE}"))
                .actor(name)
                .severity(Severity::High)
                .message(format!(
                    "{name} {} {ROLE}, which holds MAINTAIN on every table (PostgreSQL 17+), {} of them \
                     where the rules do not give it (e.g. {}): it may LOCK them IN ACCESS EXCLUSIVE MODE \
                     and stall every tenant. Fix: REVOKE {ROLE} FROM {name}.",
                    if inherits { "holds the privileges of" } else { "may SET ROLE" },
                    refused.len(),
                    refused[0]
                )),
        );
    }
}

/// Privileges an application role should never hold on a tenant table, whatever
/// the policies say.
fn app_privilege_problem(
    relation: &Relation,
    rules: Option<&crate::access::TableModel>,
    grantee: &str,
    privilege: &str,
    target: &str,
) -> Option<(CheckId, Severity, String)> {
    let table = relation.qualified();
    match privilege {
        "TRUNCATE" => Some((
            CheckId::PublicTableAccess,
            Severity::Critical,
            format!(
                "application role {grantee} holds TRUNCATE on {target}; TRUNCATE ignores row level \
                 security, so any user can empty every tenant's rows. Fix: REVOKE TRUNCATE ON {table} FROM {grantee}."
            ),
        )),
        "TRIGGER" | "REFERENCES" => Some((
            CheckId::PublicTableAccess,
            Severity::High,
            format!(
                "application role {grantee} holds {privilege} on {target}; {} Fix: REVOKE {privilege} ON {table} FROM {grantee}.",
                if privilege == "TRIGGER" {
                    "a trigger runs on every tenant's writes."
                } else {
                    "a foreign key from a table the user creates reveals which keys exist in every tenant."
                }
            ),
        )),
        "MAINTAIN" if !rules.is_some_and(|r| r.maintain) => Some((
            CheckId::PublicTableAccess,
            Severity::High,
            format!(
                "application role {grantee} holds MAINTAIN on {target} (PostgreSQL 17+), which the rules do \
                 not give it: it may LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE, or CLUSTER, REINDEX or \
                 VACUUM FULL it, and stall every tenant's reads and writes. Fix: REVOKE MAINTAIN ON {table} \
                 FROM {grantee} (GRANT ALL includes it from 17 on: grant the privileges by name)."
            ),
        )),
        "DELETE" if rules.is_some_and(|r| r.delete.is_never()) => Some((
            CheckId::PublicTableAccess,
            Severity::Medium,
            format!(
                "application role {grantee} holds DELETE on {target} although the rules say nobody deletes \
                 its rows (only a missing policy stands in the way). Fix: REVOKE DELETE ON {table} FROM {grantee}."
            ),
        )),
        _ if relation.kind == "S" && privilege != "USAGE" && privilege != "SELECT" => Some((
            CheckId::PublicTableAccess,
            Severity::Medium,
            format!("application role {grantee} holds {privilege} on sequence {target}."),
        )),
        _ => None,
    }
}

fn public_schema_objects(catalog: &Catalog, findings: &mut Vec<Finding>) {
    for relation in catalog.relations.iter().filter(|r| r.schema == "public") {
        let kind = match relation.kind.as_str() {
            "r" | "p" => "table",
            "v" => "view",
            "m" => "materialized view",
            "f" => "foreign table",
            _ => continue,
        };
        findings.push(
            Finding::new(CheckId::PublicSchemaObject, relation.qualified(), "CREATE")
                .message(format!(
                    "{} is a {kind} in schema public, which SMTA reserves for RPC functions: it is exposed \
                     by the API layer (PostgREST) to every client. Move it to core, app or platform.",
                    relation.qualified()
                )),
        );
    }
    for found in &catalog.extension_objects_in_public {
        let (extension, object) = (&found.extension, &found.object);
        findings.push(
            Finding::new(CheckId::PublicSchemaObject, object, "CREATE EXTENSION")
                .severity(Severity::Low)
                .message(format!(
                    "{object}, of extension {extension}, lives in schema public, which the API layer \
                     exposes to every client; install extensions into their own schema (e.g. \
                     `extensions`) so they are not exposed as RPCs."
                ))
                .cause(
                    format!("extension-in-public:{extension}"),
                    format!("extension {extension} is installed in schema public"),
                    format!(
                        "ALTER EXTENSION {extension} SET SCHEMA extensions (a schema clients cannot \
                         reach), then qualify the calls to its functions."
                    ),
                ),
        );
    }
}

/// CREATE on any schema for anonymous or application roles; USAGE on service-only
/// schemas for anyone but the service.
fn schema_privileges(
    catalog: &Catalog,
    model: &AccessModel,
    roles: &Roles,
    findings: &mut Vec<Finding>,
) {
    for schema in &catalog.schemas {
        if matches!(schema.name.as_str(), "pg_catalog" | "information_schema") {
            continue;
        }
        for grant in &schema.privileges {
            if grant.privilege == "CREATE" && roles.is_app_or_anon(&grant.grantee) {
                findings.push(
                    Finding::new(CheckId::PublicTableAccess, &schema.name, "GRANT CREATE")
                        .actor(&grant.grantee)
                        .message(format!(
                            "{} may CREATE objects in schema {}: a planted function or table can shadow \
                             SMTA's objects on a search path or capture data. Fix: REVOKE CREATE ON SCHEMA {} FROM {}.",
                            grant.grantee, schema.name, schema.name, grant.grantee
                        )),
                );
            }
            if grant.privilege == "USAGE"
                && model.service_only_schemas.contains(&schema.name)
                && roles.is_app_or_anon(&grant.grantee)
            {
                findings.push(
                    Finding::new(CheckId::PlatformExposed, &schema.name, "GRANT USAGE")
                        .actor(&grant.grantee)
                        .message(format!(
                            "{} has USAGE on schema {}, which only the service role may reach. \
                             Fix: REVOKE USAGE ON SCHEMA {} FROM {}.",
                            grant.grantee, schema.name, schema.name, grant.grantee
                        )),
                );
            }
        }
    }
}

/// Schemas where an application role, an anonymous role or PUBLIC can create objects.
fn writable_schemas(catalog: &Catalog, roles: &Roles) -> BTreeSet<String> {
    catalog
        .schemas
        .iter()
        .filter(|s| {
            s.privileges
                .iter()
                .any(|g| g.privilege == "CREATE" && roles.is_app_or_anon(&g.grantee))
                || roles.is_app_or_anon(&s.owner)
        })
        .map(|s| s.name.clone())
        .collect()
}

fn definer_search_path(catalog: &Catalog, roles: &Roles, findings: &mut Vec<Finding>) {
    let writable = writable_schemas(catalog, roles);
    for function in catalog.functions.iter().filter(|f| f.security_definer) {
        let problem = match function.search_path() {
            None => Some(
                "does not pin search_path, so it resolves names through the caller's search_path: \
                 a caller who can create objects anywhere on it runs code with the owner's rights"
                    .to_string(),
            ),
            Some(path) => {
                let bad: Vec<String> = path
                    .split(',')
                    .map(|p| p.trim().trim_matches('"').to_string())
                    .filter(|p| writable.contains(p) || p == "$user")
                    .collect();
                (!bad.is_empty()).then(|| {
                    format!(
                        "pins search_path to `{path}`, which includes {} where application roles or PUBLIC can \
                         create objects",
                        bad.join(", ")
                    )
                })
            }
        };
        if let Some(problem) = problem {
            findings.push(
                Finding::new(CheckId::DefinerSearchPath, function.signature(), "CREATE FUNCTION")
                    .message(format!(
                        "SECURITY DEFINER function {} {problem}. Fix: ALTER FUNCTION {} SET search_path = '' \
                         and qualify every name.",
                        function.signature(),
                        function.signature()
                    )),
            );
        }
    }
}

fn executable_by_anonymous<'a>(function: &'a Function, roles: &Roles) -> Option<&'a str> {
    function
        .privileges
        .iter()
        .find(|g| g.privilege == "EXECUTE" && roles.anonymous.contains(&g.grantee))
        .map(|g| g.grantee.as_str())
}

fn function_exposed(
    catalog: &Catalog,
    model: &AccessModel,
    roles: &Roles,
    findings: &mut Vec<Finding>,
) {
    for function in &catalog.functions {
        let Some(grantee) = executable_by_anonymous(function, roles) else {
            continue;
        };
        let listed = model.anonymous_functions.contains(&function.qualified());
        let private = PRIVATE_FUNCTION_SCHEMAS.contains(&function.schema.as_str());
        let public_rpc = function.schema == "public" && !listed;
        if (private || public_rpc) && !listed && function.kind != "a" {
            findings.push(crate::checks::cause::grants(
                Finding::new(CheckId::FunctionExposed, function.signature(), "GRANT EXECUTE")
                    .actor(grantee)
                    .severity(if function.security_definer { Severity::Critical } else { Severity::High })
                    .message(format!(
                        "{grantee} may execute {}{}, which the rules do not list as callable anonymously. \
                         Fix: REVOKE EXECUTE ON FUNCTION {} FROM {grantee}.",
                        function.signature(),
                        if function.security_definer { " (SECURITY DEFINER: it runs with its owner's rights)" } else { "" },
                        function.signature()
                    )),
                grantee,
                &function.schema,
                "functions",
            ));
        }
    }
}

fn bypass_roles(catalog: &Catalog, roles: &Roles, findings: &mut Vec<Finding>) {
    let privileged: BTreeSet<&str> = catalog
        .roles
        .iter()
        .filter(|r| r.superuser || r.bypassrls)
        .map(|r| r.name.as_str())
        .collect();
    for name in roles.application.iter().chain(roles.anonymous.iter()) {
        let Some(role) = catalog.role(name) else {
            continue;
        };
        let mut reasons = Vec::new();
        if role.superuser {
            reasons.push("is a superuser".to_string());
        }
        if role.bypassrls {
            reasons.push("has BYPASSRLS".to_string());
        }
        reasons.extend(privileged_memberships(catalog, name, &privileged));
        for table in catalog
            .tables()
            .filter(|t| &t.owner == name && !t.force_rls)
        {
            reasons.push(format!(
                "owns {} without FORCE ROW LEVEL SECURITY, so its policies do not apply to it",
                table.qualified()
            ));
        }
        for reason in reasons {
            findings.push(
                Finding::new(CheckId::BypassRole, name, "ROLE")
                    .actor(name)
                    .message(format!(
                        "application role {name} {reason}: row security does not hold for it."
                    )),
            );
        }
    }
    // Views that run with a privileged owner's rights and that app roles can read.
    for view in catalog
        .relations
        .iter()
        .filter(|r| r.kind == "v" || r.kind == "m")
    {
        if view.security_invoker {
            continue;
        }
        let owner_bypasses = catalog
            .roles_of(&view.owner)
            .iter()
            .any(|r| privileged.contains(r.as_str()));
        let readers: Vec<&str> = view
            .privileges
            .iter()
            .filter(|g| g.privilege == "SELECT" && roles.is_app_or_anon(&g.grantee))
            .map(|g| g.grantee.as_str())
            .collect();
        if owner_bypasses && !readers.is_empty() {
            findings.push(
                Finding::new(CheckId::BypassRole, view.qualified(), "SELECT")
                    .actor(readers.join(","))
                    .message(format!(
                        "view {} runs with the rights of its owner {} (no security_invoker), who bypasses row \
                         security, and {} may read it: every tenant's rows show through. \
                         Fix: ALTER VIEW {} SET (security_invoker = true).",
                        view.qualified(),
                        view.owner,
                        readers.join(", "),
                        view.qualified()
                    )),
            );
        }
    }
}
