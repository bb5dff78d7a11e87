//! What the installed database contains: tables, columns, keys, policies, grants,
//! functions and roles, read once per run from the template.
//!
//! Checks, seeding, the rules loader and snapshots all work from this, never from the
//! reference schema's private names (SPEC §4: generic before specific). The query is
//! one SQL file returning JSON, so one round trip describes the whole database.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::Error;

const QUERY: &str = include_str!("query.sql");

/// A snapshot of the database's catalog.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Catalog {
    pub(crate) server_version: String,
    /// `server_version_num`: 150008, 170002, … (0 when unknown).
    #[serde(default)]
    pub(crate) server_version_num: i32,
    pub(crate) session_user: String,
    pub(crate) relations: Vec<Relation>,
    pub(crate) functions: Vec<Function>,
    pub(crate) schemas: Vec<Schema>,
    pub(crate) roles: Vec<Role>,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) extension_objects_in_public: Vec<ExtensionObject>,
}

/// An object an extension installed into schema public: `public.name(arg types)`
/// for a function (overloads told apart), `public.name` for a relation.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct ExtensionObject {
    pub(crate) extension: String,
    pub(crate) object: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Relation {
    pub(crate) schema: String,
    pub(crate) name: String,
    /// pg_class.relkind: r table, p partitioned table, v view, m materialized view,
    /// f foreign table, S sequence.
    pub(crate) kind: String,
    pub(crate) rls: bool,
    pub(crate) force_rls: bool,
    pub(crate) owner: String,
    pub(crate) parent: Option<String>,
    pub(crate) security_invoker: bool,
    pub(crate) description: Option<String>,
    pub(crate) columns: Vec<Column>,
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) unique_indexes: Vec<UniqueIndex>,
    pub(crate) privileges: Vec<Grant>,
    pub(crate) policies: Vec<Policy>,
    pub(crate) triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Column {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) data_type: String,
    pub(crate) base_type: String,
    pub(crate) not_null: bool,
    pub(crate) has_default: bool,
    /// The default expression as PostgreSQL prints it (`'pending'::text`, `now()`).
    #[serde(default)]
    pub(crate) default: Option<String>,
    pub(crate) generated: bool,
    pub(crate) privileges: Vec<Grant>,
}

impl Column {
    /// The value an INSERT that omits this column writes, when the default is a
    /// constant (`'pending'::text`, `false`, `0`, `'{}'::jsonb`); `None` for computed
    /// defaults (`now()`, `gen_random_uuid()`) and columns without one.
    pub(crate) fn constant_default(&self) -> Option<serde_json::Value> {
        let text = self.default.as_deref()?.trim();
        let bare = match text.rsplit_once("::") {
            Some((value, _cast)) if !value.contains('(') => value.trim(),
            _ => text,
        };
        if let Some(inner) = bare.strip_prefix('\'').and_then(|b| b.strip_suffix('\'')) {
            let inner = inner.replace("''", "'");
            if matches!(self.base_type.as_str(), "json" | "jsonb") {
                return serde_json::from_str(&inner).ok();
            }
            return Some(serde_json::Value::String(inner));
        }
        match bare {
            "true" => Some(serde_json::Value::Bool(true)),
            "false" => Some(serde_json::Value::Bool(false)),
            "NULL" => Some(serde_json::Value::Null),
            number => number.parse::<i64>().ok().map(serde_json::Value::from),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Constraint {
    pub(crate) name: String,
    /// p primary key, u unique, f foreign key, c check, x exclusion, t trigger.
    pub(crate) kind: String,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) references: Option<String>,
    pub(crate) referenced_columns: Option<Vec<String>>,
    pub(crate) definition: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct UniqueIndex {
    pub(crate) name: String,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) predicate: Option<String>,
    pub(crate) has_expressions: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub(crate) struct Grant {
    pub(crate) grantee: String,
    pub(crate) privilege: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) command: String,
    pub(crate) permissive: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) using: Option<String>,
    pub(crate) with_check: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Trigger {
    pub(crate) name: String,
    pub(crate) enabled: String,
    pub(crate) function: String,
    pub(crate) definition: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Function {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) identity_arguments: String,
    /// Every argument as PostgreSQL prints it, defaults included
    /// (`p_org_id uuid, p_limit integer DEFAULT 100`).
    #[serde(default)]
    pub(crate) arguments: String,
    pub(crate) argument_names: Vec<String>,
    pub(crate) argument_modes: Vec<String>,
    pub(crate) input_types: Vec<String>,
    pub(crate) input_defaults: i32,
    pub(crate) result: Option<String>,
    pub(crate) returns_set: bool,
    /// f function, p procedure, a aggregate, w window.
    pub(crate) kind: String,
    pub(crate) language: String,
    pub(crate) security_definer: bool,
    /// i immutable, s stable, v volatile.
    pub(crate) volatility: String,
    pub(crate) config: Vec<String>,
    pub(crate) owner: String,
    pub(crate) description: Option<String>,
    pub(crate) privileges: Vec<Grant>,
    /// `CREATE OR REPLACE FUNCTION …` as PostgreSQL prints it (functions and
    /// procedures; aggregates have none).
    #[serde(default)]
    pub(crate) definition: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Schema {
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) privileges: Vec<Grant>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) superuser: bool,
    pub(crate) bypassrls: bool,
    pub(crate) login: bool,
    pub(crate) inherit: bool,
    /// Every role this one is granted, whatever the grant's options.
    pub(crate) member_of: Vec<String>,
    /// The same grants with their options, as the server applies them.
    #[serde(default)]
    pub(crate) memberships: Vec<Membership>,
}

/// One role granted to another. PostgreSQL 16 made INHERIT and SET options of each
/// grant; on 15 the catalog query fills them in as 15 behaves (inheritance from the
/// member's INHERIT attribute, SET ROLE always allowed).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Membership {
    /// The role granted.
    pub(crate) role: String,
    /// WITH ADMIN: the member may grant the role to others, itself included.
    pub(crate) admin: bool,
    /// WITH INHERIT: the member holds the role's privileges without SET ROLE.
    pub(crate) inherit: bool,
    /// WITH SET: the member may SET ROLE to it (and a session of it, or of its
    /// members, may).
    pub(crate) set: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Extension {
    pub(crate) name: String,
    pub(crate) schema: String,
}

impl Catalog {
    pub(crate) async fn load(conn: &mut PgConnection) -> Result<Self, Error> {
        let json: String = sqlx::query_scalar(QUERY)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::database("read the catalog", e))?;
        Ok(serde_json::from_str(&json).expect("the catalog query and its structs agree"))
    }

    /// A table, view or sequence by qualified name (`schema.name`).
    pub(crate) fn relation(&self, qualified: &str) -> Option<&Relation> {
        let (schema, name) = qualified.split_once('.')?;
        self.relations
            .iter()
            .find(|r| r.schema == schema && r.name == name)
    }

    /// Ordinary and partitioned tables.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Relation> {
        self.relations.iter().filter(|r| r.is_table())
    }

    pub(crate) fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// Every role whose privileges `name` holds, itself included: the roles reached
    /// through inheriting grants (PostgreSQL's `has_privs_of_role`). Privileges of a
    /// role granted WITH INHERIT FALSE (16+), or to a NOINHERIT role, need a SET
    /// ROLE first, so they are not `name`'s own.
    pub(crate) fn roles_of(&self, name: &str) -> Vec<String> {
        self.closure(name, |m| m.inherit)
    }

    /// Every role a session acting as `name` may SET ROLE to, itself included: the
    /// roles reached through grants with the SET option (every grant before 16).
    pub(crate) fn settable_roles(&self, name: &str) -> Vec<String> {
        self.closure(name, |m| m.set)
    }

    /// `name` and the roles reached from it through the grants `follow` accepts.
    fn closure(&self, name: &str, follow: impl Fn(&Membership) -> bool) -> Vec<String> {
        let mut seen = vec![name.to_string()];
        let mut i = 0;
        while i < seen.len() {
            if let Some(role) = self.role(&seen[i]) {
                for grant in role.memberships.iter().filter(|m| follow(m)) {
                    if !seen.contains(&grant.role) {
                        seen.push(grant.role.clone());
                    }
                }
            }
            i += 1;
        }
        seen
    }

    pub(crate) fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == name)
    }
}

/// Which operations a role holds any privilege for on a table (schema USAGE included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reachable {
    pub(crate) select: bool,
    pub(crate) insert: bool,
    pub(crate) update: bool,
    pub(crate) delete: bool,
}

impl Catalog {
    /// What `roles` (a role and everything it is a member of) can attempt on `relation`
    /// at all. Without the privilege PostgreSQL refuses before row security is even
    /// consulted, whatever the rows, so such attempts need no per-world probe.
    pub(crate) fn reachable(&self, roles: &[String], relation: &Relation) -> Reachable {
        let unrestricted = roles
            .iter()
            .filter_map(|r| self.role(r))
            .any(|r| r.superuser)
            || roles.contains(&relation.owner);
        if unrestricted {
            return Reachable {
                select: true,
                insert: true,
                update: true,
                delete: true,
            };
        }
        let usage = self.schema(&relation.schema).is_some_and(|s| {
            s.owner == relation.owner && roles.contains(&s.owner)
                || s.privileges_of(roles).any(|p| p == "USAGE")
        });
        if !usage {
            return Reachable::default();
        }
        let table: Vec<&str> = relation.privileges_of(roles).collect();
        let column = |privilege: &str| {
            relation.columns.iter().any(|c| {
                c.privileges.iter().any(|g| {
                    g.privilege == privilege
                        && (g.grantee == "PUBLIC" || roles.contains(&g.grantee))
                })
            })
        };
        let has = |p: &str| table.contains(&p) || column(p);
        Reachable {
            select: has("SELECT"),
            insert: has("INSERT"),
            update: has("UPDATE"),
            delete: table.contains(&"DELETE"),
        }
    }
}

impl Relation {
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub(crate) fn is_table(&self) -> bool {
        matches!(self.kind.as_str(), "r" | "p")
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.column(name).is_some()
    }

    pub(crate) fn primary_key(&self) -> Option<&[String]> {
        self.constraints
            .iter()
            .find(|c| c.kind == "p")
            .and_then(|c| c.columns.as_deref())
    }

    /// Foreign keys as (local columns, referenced table, referenced columns).
    pub(crate) fn foreign_keys(&self) -> impl Iterator<Item = (&[String], &str, &[String])> {
        self.constraints
            .iter()
            .filter(|c| c.kind == "f")
            .filter_map(|c| {
                Some((
                    c.columns.as_deref()?,
                    c.references.as_deref()?,
                    c.referenced_columns.as_deref()?,
                ))
            })
    }

    /// The single-column foreign key on `column`, if any: (referenced table, column).
    pub(crate) fn reference_of(&self, column: &str) -> Option<(&str, &str)> {
        self.foreign_keys()
            .find(|(cols, _, _)| cols.len() == 1 && cols[0] == column)
            .map(|(_, table, refcols)| (table, refcols[0].as_str()))
    }

    /// Column sets that must be unique (constraints and plain unique indexes), with
    /// the predicate of a partial index.
    pub(crate) fn unique_keys(&self) -> Vec<(Vec<String>, Option<String>)> {
        let mut keys: Vec<(Vec<String>, Option<String>)> = self
            .unique_indexes
            .iter()
            .filter(|i| !i.has_expressions)
            .filter_map(|i| Some((i.columns.clone()?, i.predicate.clone())))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Privileges of `role` on the table, from the table ACL (PUBLIC's included).
    pub(crate) fn privileges_of<'a>(
        &'a self,
        roles: &'a [String],
    ) -> impl Iterator<Item = &'a str> {
        self.privileges
            .iter()
            .filter(move |g| g.grantee == "PUBLIC" || roles.contains(&g.grantee))
            .map(|g| g.privilege.as_str())
    }

    /// Columns `roles` may write with `privilege` (INSERT or UPDATE): all when the table
    /// grants it, else those with a column-level grant.
    pub(crate) fn writable_columns(&self, privilege: &str, roles: &[String]) -> Vec<&Column> {
        let table_wide = self.privileges_of(roles).any(|p| p == privilege);
        self.columns
            .iter()
            .filter(|c| !c.generated)
            .filter(|c| {
                table_wide
                    || c.privileges.iter().any(|g| {
                        g.privilege == privilege
                            && (g.grantee == "PUBLIC" || roles.contains(&g.grantee))
                    })
            })
            .collect()
    }
}

impl Function {
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `schema.name(type, …)`: how reports name an RPC, overloads told apart by their
    /// input types (as the RPC contracts name them).
    pub(crate) fn typed_name(&self) -> String {
        format!(
            "{}.{}({})",
            self.schema,
            self.name,
            self.input_types.join(", ")
        )
    }

    /// `schema.name(arg types)`: the signature GRANT and reports use.
    pub(crate) fn signature(&self) -> String {
        format!("{}.{}({})", self.schema, self.name, self.identity_arguments)
    }

    /// Whether any of `roles` (or PUBLIC) holds EXECUTE.
    pub(crate) fn executable_by(&self, roles: &[String]) -> bool {
        self.privileges.iter().any(|g| {
            g.privilege == "EXECUTE" && (g.grantee == "PUBLIC" || roles.contains(&g.grantee))
        })
    }

    /// The pinned `search_path`, if the function sets one.
    pub(crate) fn search_path(&self) -> Option<&str> {
        self.config
            .iter()
            .find_map(|c| c.strip_prefix("search_path="))
    }
}

impl Schema {
    pub(crate) fn privileges_of<'a>(
        &'a self,
        roles: &'a [String],
    ) -> impl Iterator<Item = &'a str> {
        self.privileges
            .iter()
            .filter(move |g| g.grantee == "PUBLIC" || roles.contains(&g.grantee))
            .map(|g| g.privilege.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// authenticated → app_user (INHERIT, SET) → app_admin (SET only, 16+), and a
    /// NOINHERIT-style grant: privileges follow INHERIT, SET ROLE follows SET.
    fn catalog() -> Catalog {
        let grant = |role: &str, inherit: bool, set: bool| serde_json::json!({"role": role, "admin": false, "inherit": inherit, "set": set});
        let role = |name: &str, memberships: Vec<serde_json::Value>| {
            serde_json::json!({
                "name": name, "superuser": false, "bypassrls": name == "app_admin",
                "login": false, "inherit": true,
                "member_of": memberships.iter().map(|m| m["role"].clone()).collect::<Vec<_>>(),
                "memberships": memberships,
            })
        };
        serde_json::from_value(serde_json::json!({
            "server_version": "17.2", "server_version_num": 170002, "session_user": "postgres",
            "relations": [], "functions": [], "schemas": [], "extensions": [],
            "extension_objects_in_public": [],
            "roles": [
                role("authenticated", vec![grant("app_user", true, true)]),
                role("app_user", vec![grant("app_admin", false, true), grant("pg_maintain", true, false)]),
                role("app_admin", vec![]),
            ],
        }))
        .unwrap()
    }

    #[test]
    fn privileges_follow_inherit_and_set_role_follows_set() {
        let catalog = catalog();
        assert_eq!(
            catalog.roles_of("authenticated"),
            ["authenticated", "app_user", "pg_maintain"]
        );
        assert_eq!(
            catalog.settable_roles("authenticated"),
            ["authenticated", "app_user", "app_admin"]
        );
    }
}
