//! How each SMTA flavour wires login roles and identity, and how the harness acts as
//! any actor under it.
//!
//! SMTA policies call `core.get_current_user_id()`; the flavour decides where that id
//! comes from (SPEC §2): Supabase reads JWT claims and uses the `anon`/`authenticated`/
//! `service_role` roles, Payload reads `app.current_user_id` and its backend connects
//! with a role that is a member of `app_user` or `app_admin`. Everything an actor does
//! runs inside the case's transaction after the statements returned here, which only
//! use transaction-local settings, so nothing carries over to the next actor or case.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::sql::quote_literal;

/// An SMTA flavour: which roles exist and where the current user id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Supabase: `anon`, `authenticated`, `service_role`; identity from JWT claims.
    Supabase,
    /// Payload CMS: a backend role in `app_user`; identity from `app.current_user_id`.
    Payload,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::Supabase, Flavor::Payload];

    pub fn name(self) -> &'static str {
        match self {
            Flavor::Supabase => "supabase",
            Flavor::Payload => "payload",
        }
    }

    /// The role an actor switches to.
    pub(crate) fn role(self, actor: &Actor) -> &'static str {
        match (self, actor) {
            (_, Actor::PublicOnly) => PUBLIC_ONLY_ROLE,
            (Flavor::Supabase, Actor::Anonymous) => "anon",
            (Flavor::Payload, Actor::Anonymous) => PAYLOAD_ANON_ROLE,
            (Flavor::Supabase, Actor::User(_)) => "authenticated",
            (Flavor::Payload, Actor::User(_)) => "app_user",
            (Flavor::Supabase, Actor::Service) => "service_role",
            (Flavor::Payload, Actor::Service) => "app_admin",
        }
    }

    /// The transaction-local settings that carry `actor`'s identity.
    pub(crate) fn identity_settings(self, actor: &Actor) -> Vec<(&'static str, String)> {
        match (self, actor) {
            (Flavor::Supabase, Actor::User(id)) => vec![
                (
                    "request.jwt.claims",
                    format!("{{\"sub\":\"{id}\",\"role\":\"authenticated\"}}"),
                ),
                ("request.jwt.claim.sub", id.to_string()),
            ],
            (Flavor::Supabase, Actor::Anonymous) => {
                vec![("request.jwt.claims", "{\"role\":\"anon\"}".into())]
            }
            (Flavor::Supabase, Actor::Service) => {
                vec![("request.jwt.claims", "{\"role\":\"service_role\"}".into())]
            }
            (Flavor::Payload, Actor::User(id)) => vec![("app.current_user_id", id.to_string())],
            _ => Vec::new(),
        }
    }

    /// SQL that makes the rest of the transaction run as `actor` (role and identity).
    /// Transaction-local only: `SET LOCAL` and `set_config(…, true)`.
    pub(crate) fn become_sql(self, actor: &Actor) -> String {
        let mut sql = format!("SET LOCAL ROLE {};", self.role(actor));
        let settings = self.identity_settings(actor);
        if !settings.is_empty() {
            let calls: Vec<String> = settings
                .iter()
                .map(|(k, v)| {
                    format!(
                        "set_config({}, {}, true)",
                        quote_literal(k),
                        quote_literal(v)
                    )
                })
                .collect();
            sql.push_str(&format!(" SELECT {};", calls.join(", ")));
        }
        sql
    }

    /// Roles the harness itself needs beside the schema's: a role with nothing but
    /// PUBLIC's privileges, and Payload's anonymous login (Supabase has `anon`).
    /// Created only when missing: roles are cluster-wide.
    pub(crate) fn harness_roles_sql(self) -> String {
        let mut roles = vec![(PUBLIC_ONLY_ROLE, "NOLOGIN")];
        if self == Flavor::Payload {
            roles.push((PAYLOAD_ANON_ROLE, "LOGIN"));
        }
        roles
            .into_iter()
            .map(|(name, attrs)| {
                format!(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{name}') \
                     THEN CREATE ROLE {name} {attrs}; END IF; END $$;"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Holds nothing but what PUBLIC is granted.
pub(crate) const PUBLIC_ONLY_ROLE: &str = "smta_verify_public";
/// Payload's stand-in for an unauthenticated caller: a login role with no grants.
pub(crate) const PAYLOAD_ANON_ROLE: &str = "smta_verify_anon";

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Flavor {
    type Err = UnknownFlavor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flavor::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFlavor(s.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown flavor `{0}`; valid flavors: supabase, payload")]
pub struct UnknownFlavor(pub String);

/// Who performs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "user_id")]
pub enum Actor {
    /// An unauthenticated caller.
    Anonymous,
    /// A role holding nothing beyond what PUBLIC is granted.
    PublicOnly,
    /// An authenticated end user.
    User(Uuid),
    /// The backend's service role (bypasses RLS by design).
    Service,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::PublicOnly => f.write_str("public"),
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Service => f.write_str("service"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_parse_case_insensitively_and_unknown_ones_list_the_valid() {
        assert_eq!("Payload".parse::<Flavor>().unwrap(), Flavor::Payload);
        let err = "firebase".parse::<Flavor>().unwrap_err().to_string();
        assert!(err.contains("supabase, payload"), "{err}");
    }

    #[test]
    fn becoming_a_user_is_transaction_local() {
        let id = Uuid::nil();
        for flavor in Flavor::ALL {
            let sql = flavor.become_sql(&Actor::User(id));
            assert!(sql.starts_with("SET LOCAL ROLE"), "{sql}");
            assert!(sql.contains(", true)"), "{sql}");
            assert!(sql.contains(&id.to_string()), "{sql}");
        }
    }
}
