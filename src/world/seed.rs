//! Writing a World into the database, from the catalog.
//!
//! Seeding runs as the superuser inside the case's transaction, triggers included, so
//! the database does what it does in production (the organization trigger makes the
//! creator's membership, …); the oracle then works from the rows read back. Columns
//! are only written where the catalog has them (an installation whose `core.roles`
//! lacks `organization_id` simply gets no organization roles), required columns the
//! world knows nothing about get type-appropriate values, and tables the world does not
//! model — platform, `app`, anything else — are filled generically through their
//! foreign keys and CHECK lists. Nothing here depends on the reference schema's policy
//! or trigger names.
//!
//! The seed is one `DO` block: every row in its own exception block, so a row another
//! installation rejects is reported and skipped instead of aborting the case.

use std::collections::BTreeSet;

use super::model::*;
use crate::access::{tenancy, AccessModel};
use crate::catalog::{Catalog, Relation};
use crate::sql::{quote_ident, quote_literal, quote_qualified};

/// Tables whose rows come from the world model (or from triggers it sets off).
const MODELLED: &[&str] = &[
    "auth.users",
    tenancy::USERS,
    tenancy::ORGANIZATIONS,
    "core.organizations_meta",
    tenancy::UNITS,
    "core.unit_meta",
    tenancy::ROLES,
    tenancy::MEMBERSHIPS,
    tenancy::UNIT_MEMBERSHIPS,
    "core.invitations",
    "core.audit_logs",
    "core.organization_files",
    "platform.tenant_secrets",
];

/// One row to write; `required` rows abort the case when refused.
#[derive(Debug, Clone)]
pub(crate) struct SeedStatement {
    pub(crate) table: String,
    pub(crate) sql: String,
    pub(crate) required: bool,
}

/// Tables the generic filler seeds, in a stable order matching `World::generic`.
pub(crate) fn generic_tables(model: &AccessModel) -> Vec<String> {
    model
        .tables
        .keys()
        .filter(|t| !MODELLED.contains(&t.as_str()))
        .cloned()
        .collect()
}

/// The whole seed as one `DO` block that records refused rows in the setting
/// `smta_verify.seed_errors` (a JSON array).
pub(crate) fn seed_block(statements: &[SeedStatement]) -> String {
    let mut body = String::from("DO $smta_seed$\nDECLARE errs jsonb := '[]';\nBEGIN\n");
    for s in statements {
        body.push_str(&format!(
            "BEGIN {}; EXCEPTION WHEN OTHERS THEN errs := errs || jsonb_build_array(jsonb_build_object(\
             'table', {}, 'required', {}, 'sqlstate', SQLSTATE, 'message', SQLERRM)); END;\n",
            s.sql,
            quote_literal(&s.table),
            s.required
        ));
    }
    body.push_str(
        "PERFORM set_config('smta_verify.seed_errors', errs::text, true);\nEND\n$smta_seed$;",
    );
    body
}

/// Builds the statements that write `world`.
pub(crate) struct Seeder<'a> {
    catalog: &'a Catalog,
    model: &'a AccessModel,
    out: Vec<SeedStatement>,
}

/// A value to write: SQL text (already quoted or an expression).
type Value = String;

fn uuid_lit(u: uuid::Uuid) -> Value {
    format!("'{u}'::uuid")
}

impl<'a> Seeder<'a> {
    pub(crate) fn new(catalog: &'a Catalog, model: &'a AccessModel) -> Self {
        Self {
            catalog,
            model,
            out: Vec::new(),
        }
    }

    fn relation(&self, table: &str) -> Option<&'a Relation> {
        self.catalog.relation(table)
    }

    /// An INSERT of the columns the table has, plus required ones the world lacks.
    fn insert(&mut self, table: &str, values: &[(&str, Value)], suffix: &str, required: bool) {
        let Some(relation) = self.relation(table) else {
            return;
        };
        let mut columns: Vec<String> = Vec::new();
        let mut exprs: Vec<String> = Vec::new();
        for (column, value) in values {
            if relation.has_column(column) {
                columns.push(quote_ident(column));
                exprs.push(value.clone());
            }
        }
        let given: BTreeSet<&str> = values.iter().map(|(c, _)| *c).collect();
        let row_number = self.out.len();
        for column in &relation.columns {
            if column.not_null && !column.has_default && !given.contains(column.name.as_str()) {
                columns.push(quote_ident(&column.name));
                exprs.push(filler(relation, column, row_number as u16, row_number));
            }
        }
        self.out.push(SeedStatement {
            table: table.to_string(),
            sql: format!(
                "INSERT INTO {} ({}) VALUES ({}){suffix}",
                quote_qualified(table),
                columns.join(", "),
                exprs.join(", ")
            ),
            required,
        });
    }

    fn raw(&mut self, table: &str, sql: String, required: bool) {
        self.out.push(SeedStatement {
            table: table.to_string(),
            sql,
            required,
        });
    }

    fn has(&self, table: &str, column: &str) -> bool {
        self.relation(table).is_some_and(|r| r.has_column(column))
    }

    fn role(&self, world: &World, role: RoleRef) -> Value {
        let global = |name: &str| {
            let scope = if self.has(tenancy::ROLES, "organization_id") {
                " AND organization_id IS NULL"
            } else {
                ""
            };
            format!(
                "(SELECT id FROM {} WHERE name = {}{scope} LIMIT 1)",
                quote_qualified(tenancy::ROLES),
                quote_literal(name)
            )
        };
        match role {
            RoleRef::Global(g) => global(g.name()),
            RoleRef::Org(i)
                if self.has(tenancy::ROLES, "organization_id") && i < world.roles.len() =>
            {
                uuid_lit(id(Kind::Role, i))
            }
            RoleRef::Org(_) => global(GlobalRole::Team.name()),
        }
    }

    fn deletion(&self, deleted: bool) -> Vec<(&'static str, Value)> {
        if deleted {
            vec![
                ("is_deleted", "true".into()),
                ("deleted_at", "now()".into()),
            ]
        } else {
            Vec::new()
        }
    }

    /// Every statement that writes `world`, in foreign-key order.
    pub(crate) fn statements(mut self, world: &World) -> Vec<SeedStatement> {
        let users: Vec<uuid::Uuid> = (0..world.users.len()).map(|i| id(Kind::User, i)).collect();
        let orgs: Vec<uuid::Uuid> = (0..world.organizations.len())
            .map(|i| id(Kind::Organization, i))
            .collect();

        for (i, user) in world.users.iter().enumerate() {
            let email = quote_literal(&World::email(i, user.email_case));
            if self.relation("auth.users").is_some() {
                self.insert(
                    "auth.users",
                    &[("id", uuid_lit(users[i])), ("email", email.clone())],
                    "",
                    true,
                );
            }
            self.insert(
                tenancy::USERS,
                &[
                    ("id", uuid_lit(users[i])),
                    ("email", email),
                    ("first_name", quote_literal(&format!("User{}", i + 1))),
                    ("last_name", quote_literal("Example")),
                ],
                " ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, first_name = EXCLUDED.first_name",
                true,
            );
        }

        for (i, org) in world.organizations.iter().enumerate() {
            let mut values = vec![
                ("id", uuid_lit(orgs[i])),
                (
                    "name",
                    quote_literal(NAMES[org.name as usize % NAMES.len()]),
                ),
                ("description", quote_literal("seeded")),
                ("created_by", uuid_lit(users[org.creator])),
            ];
            values.extend(self.deletion(org.deleted));
            self.insert(tenancy::ORGANIZATIONS, &values, "", true);
        }
        // A super admin who "left": only reachable behind SMTA's back, so without
        // triggers (superuser-only session_replication_role).
        for (i, org) in world
            .organizations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.creator_left)
        {
            self.raw(
                tenancy::MEMBERSHIPS,
                format!(
                    "PERFORM set_config('session_replication_role', 'replica', true); \
                     UPDATE {} SET is_deleted = true WHERE organization_id = {} AND user_id = {}; \
                     PERFORM set_config('session_replication_role', 'origin', true)",
                    quote_qualified(tenancy::MEMBERSHIPS),
                    uuid_lit(orgs[i]),
                    uuid_lit(users[org.creator])
                ),
                false,
            );
        }

        if self.has(tenancy::ROLES, "organization_id") {
            for (i, role) in world.roles.iter().enumerate() {
                self.insert(
                    tenancy::ROLES,
                    &[
                        ("id", uuid_lit(id(Kind::Role, i))),
                        ("organization_id", uuid_lit(orgs[role.organization])),
                        (
                            "name",
                            quote_literal(ROLE_NAMES[role.name as usize % ROLE_NAMES.len()]),
                        ),
                        ("casl_rules", "'[]'::jsonb".into()),
                    ],
                    "",
                    false,
                );
            }
        }

        for (i, unit) in world.units.iter().enumerate() {
            let mut values = vec![
                ("id", uuid_lit(id(Kind::Unit, i))),
                ("organization_id", uuid_lit(orgs[unit.organization])),
                (
                    "name",
                    quote_literal(NAMES[unit.name as usize % NAMES.len()]),
                ),
            ];
            values.extend(self.deletion(unit.deleted));
            self.insert(tenancy::UNITS, &values, "", false);
        }

        for (i, m) in world.memberships.iter().enumerate() {
            let mut values = vec![
                ("id", uuid_lit(id(Kind::Membership, i))),
                ("user_id", uuid_lit(users[m.user])),
                ("organization_id", uuid_lit(orgs[m.organization])),
                ("role_id", self.role(world, m.role)),
                ("is_super_admin", m.super_admin.to_string()),
            ];
            values.extend(self.deletion(m.deleted));
            self.insert(
                tenancy::MEMBERSHIPS,
                &values,
                " ON CONFLICT DO NOTHING",
                false,
            );
        }

        for (i, um) in world.unit_memberships.iter().enumerate() {
            let mut values = vec![
                ("id", uuid_lit(id(Kind::UnitMembership, i))),
                ("user_id", uuid_lit(users[um.user])),
                ("unit_id", uuid_lit(id(Kind::Unit, um.unit))),
                ("role_id", self.role(world, um.role)),
            ];
            values.extend(self.deletion(um.deleted));
            self.insert(
                tenancy::UNIT_MEMBERSHIPS,
                &values,
                " ON CONFLICT DO NOTHING",
                false,
            );
        }

        for (i, inv) in world.invitations.iter().enumerate() {
            let email = match inv.addressee {
                Addressee::User { user, case } => {
                    World::email(user, world.users[user].email_case.wrapping_add(case))
                }
                Addressee::Stranger => format!("stranger{}@elsewhere.test", i + 1),
            };
            let expires = if inv.past_expiry {
                "now() - interval '1 day'"
            } else {
                "now() + interval '7 days'"
            };
            let mut values = vec![
                ("id", uuid_lit(id(Kind::Invitation, i))),
                ("email", quote_literal(&email)),
                ("organization_id", uuid_lit(orgs[inv.organization])),
                ("role_id", self.role(world, inv.role)),
                ("invited_by", uuid_lit(users[inv.inviter])),
                ("token", quote_literal(&format!("seed-token-{}", i + 1))),
                ("status", quote_literal(inv.status.as_str())),
                ("expires_at", expires.into()),
            ];
            if let Some(unit) = inv.unit {
                values.push(("unit_id", uuid_lit(id(Kind::Unit, unit))));
            }
            if inv.status == InvitationStatus::Accepted {
                if let Addressee::User { user, .. } = inv.addressee {
                    values.push(("accepted_by", uuid_lit(users[user])));
                    values.push(("accepted_at", "now()".into()));
                }
            }
            values.extend(self.deletion(inv.deleted));
            self.insert("core.invitations", &values, "", false);
        }

        for (i, f) in world.files.iter().enumerate() {
            let mut values = vec![
                ("id", uuid_lit(id(Kind::File, i))),
                ("organization_id", uuid_lit(orgs[f.organization])),
                (
                    "file_url",
                    quote_literal(&format!("https://files.example.test/{}", i + 1)),
                ),
                ("file_type", quote_literal("image/png")),
                ("file_size", ((i + 1) * 100).to_string()),
            ];
            values.extend(self.deletion(f.deleted));
            self.insert("core.organization_files", &values, "", false);
        }

        for (i, a) in world.audit.iter().enumerate() {
            self.insert(
                "core.audit_logs",
                &[
                    ("id", uuid_lit(id(Kind::Audit, i))),
                    ("organization_id", uuid_lit(orgs[a.organization])),
                    ("actor_id", uuid_lit(users[a.actor])),
                    ("target_table", quote_literal("organizations")),
                    ("target_id", uuid_lit(orgs[a.organization])),
                    ("action", quote_literal("update")),
                    ("summary", quote_literal("seeded")),
                ],
                "",
                false,
            );
        }

        for (i, s) in world.secrets.iter().enumerate() {
            let (scope, owner_column, owner) = match s.owner {
                SecretOwner::Organization(o) => ("organization", "organization_id", orgs[o]),
                SecretOwner::User(u) => ("user", "user_id", users[u]),
            };
            self.insert(
                "platform.tenant_secrets",
                &[
                    ("id", uuid_lit(id(Kind::Secret, i))),
                    ("scope", quote_literal(scope)),
                    (owner_column, uuid_lit(owner)),
                    ("secret_name", quote_literal(&format!("api-key-{}", s.name))),
                    ("secret_ref", "gen_random_uuid()".into()),
                ],
                "",
                false,
            );
        }

        for (table, seeds) in generic_tables(self.model).iter().zip(&world.generic) {
            for (row, seed) in seeds.iter().enumerate() {
                self.generic_row(table, *seed, row);
            }
        }
        self.out
    }

    /// A row for a table the world does not model: foreign keys point at existing rows
    /// (chosen by the seed), tenant and user columns are filled, CHECK lists respected.
    fn generic_row(&mut self, table: &str, seed: u16, row: usize) {
        let Some(relation) = self.relation(table) else {
            return;
        };
        let mut columns = Vec::new();
        let mut exprs = Vec::new();
        for (k, column) in relation.columns.iter().enumerate() {
            if column.generated {
                continue;
            }
            let pick = usize::from(seed).wrapping_add(k * 7919).wrapping_add(row);
            let reference = relation
                .reference_of(&column.name)
                .map(|(t, c)| (t.to_string(), c.to_string()))
                .or_else(|| match column.name.as_str() {
                    "organization_id" => {
                        Some((tenancy::ORGANIZATIONS.to_string(), "id".to_string()))
                    }
                    "user_id" => Some((tenancy::USERS.to_string(), "id".to_string())),
                    _ => None,
                });
            let value = if let Some((target, target_column)) = reference {
                if target == table {
                    continue;
                }
                let c = quote_ident(&target_column);
                let t = quote_qualified(&target);
                Some(format!(
                    "(SELECT {c} FROM {t} ORDER BY {c} LIMIT 1 OFFSET {pick} % greatest((SELECT count(*) FROM {t}), 1))"
                ))
            } else if let Some(choices) = check_choices(relation, &column.name) {
                Some(quote_literal(&choices[pick % choices.len()]))
            } else if column.not_null && !column.has_default {
                Some(filler(relation, column, seed, row))
            } else {
                None
            };
            if let Some(value) = value {
                columns.push(quote_ident(&column.name));
                exprs.push(value);
            }
        }
        let sql = if columns.is_empty() {
            format!("INSERT INTO {} DEFAULT VALUES", quote_qualified(table))
        } else {
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quote_qualified(table),
                columns.join(", "),
                exprs.join(", ")
            )
        };
        self.raw(table, sql, false);
    }
}

/// A literal of the column's type, distinct per (seed, row) where the type allows.
fn filler(relation: &Relation, column: &crate::catalog::Column, seed: u16, row: usize) -> Value {
    if let Some(choices) = check_choices(relation, &column.name) {
        return quote_literal(&choices[(usize::from(seed) + row) % choices.len()]);
    }
    let n = usize::from(seed) * 31 + row;
    match column.base_type.as_str() {
        "text" | "varchar" | "bpchar" | "citext" | "name" => {
            quote_literal(&format!("{}-{}-{n}", relation.name, column.name))
        }
        "int2" | "int4" | "int8" | "numeric" | "float4" | "float8" => (n % 10_000).to_string(),
        "bool" => n.is_multiple_of(2).to_string(),
        "uuid" => "gen_random_uuid()".into(),
        "json" | "jsonb" => "'{}'".into(),
        "timestamptz" | "timestamp" | "date" | "time" | "timetz" => "now()".into(),
        "bytea" => "'\\x00'::bytea".into(),
        t if t.starts_with('_') => "'{}'".into(),
        _ => format!("(enum_range(NULL::{}))[1]", column.data_type),
    }
}

/// The allowed values of a column constrained by `CHECK (col IN (…))`, as PostgreSQL
/// prints it: `CHECK ((col = ANY (ARRAY['a'::text, 'b'::text])))`.
pub(crate) fn check_choices(relation: &Relation, column: &str) -> Option<Vec<String>> {
    relation
        .constraints
        .iter()
        .filter(|c| c.kind == "c")
        .find_map(|c| {
            let def = &c.definition;
            let needle = format!("({column} = ANY (ARRAY[");
            let start = def.find(&needle)? + needle.len();
            let end = start + def[start..].find("])")?;
            let values: Vec<String> = def[start..end]
                .split(", ")
                .filter_map(|v| {
                    let v = v.trim();
                    let inner = v.strip_prefix('\'')?;
                    let close = inner.find('\'')?;
                    Some(inner[..close].to_string())
                })
                .collect();
            (!values.is_empty()).then_some(values)
        })
}
