//! Planning the RPC matrix: who the callers are, and which arguments each call gets.
//!
//! Everything is found in the seeded ground truth, never from fixed ids or the
//! reference schema's private names: the target organization is the first live one
//! with a super admin, each kind of caller is the first user who stands in that
//! relation to it, and each argument aim picks rows by where the oracle places them
//! (in the target organization, in another one, soft-deleted, the caller's own). An
//! argument's meaning comes from the RPC's contract when it has one, else from its
//! name and type (`p_unit_id uuid` is a unit, `p_email text` an email), as the RPC
//! sweep reads them. Text arguments also get a small dictionary (NULL, `''`, `'%'`,
//! a value that matches nothing), since a filter that leaks on an empty pattern is
//! invisible to any single "realistic" value.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::access::contracts::Domain;
use crate::access::oracle::{Oracle, Standing};
use crate::access::{tenancy, AccessModel};
use crate::catalog::Function;
use crate::flavor::Actor;
use crate::world::truth::{row_key, text, Row};

/// Invitations, files and secrets: SPEC §2's tables the RPCs address by id.
const INVITATIONS: &str = "core.invitations";
const FILES: &str = "core.organization_files";
const SECRETS: &str = "platform.tenant_secrets";

/// A text argument value that no row holds.
pub(crate) const NO_MATCH: &str = "no-such-value-0f3a";

/// The kinds of caller, relative to the matrix's target organization, in the order
/// reports show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum CallerKind {
    Anonymous,
    Outsider,
    Member,
    UnitMember,
    SuperAdmin,
    OtherSuperAdmin,
    RemovedMember,
    Service,
}

impl CallerKind {
    /// The column heading, and the `actor_kind` of the matrix's findings.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CallerKind::Anonymous => "anonymous",
            CallerKind::Outsider => "outsider",
            CallerKind::Member => "member",
            CallerKind::UnitMember => "unit member",
            CallerKind::SuperAdmin => "super admin",
            CallerKind::OtherSuperAdmin => "super admin of another org",
            CallerKind::RemovedMember => "removed member",
            CallerKind::Service => "service",
        }
    }

    /// What the kind means, for notes.
    fn meaning(self) -> &'static str {
        match self {
            CallerKind::Anonymous => "an unauthenticated caller",
            CallerKind::Outsider => "a signed-in user who belongs to no organization",
            CallerKind::Member => "a plain member of the target organization (no unit)",
            CallerKind::UnitMember => "a member of the target organization with a unit",
            CallerKind::SuperAdmin => "the target organization's super admin",
            CallerKind::OtherSuperAdmin => {
                "the super admin of another organization, outside the target"
            }
            CallerKind::RemovedMember => "a user whose membership of the target was removed",
            CallerKind::Service => "the service role",
        }
    }
}

/// One caller of the matrix.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) kind: CallerKind,
    pub(crate) actor: Actor,
}

impl Caller {
    pub(crate) fn user(&self) -> Option<String> {
        match &self.actor {
            Actor::User(u) => Some(u.to_string()),
            _ => None,
        }
    }
}

/// Who is who in the seeded world.
#[derive(Debug, Clone)]
pub(crate) struct Cast {
    /// The organization the callers' kinds are relative to.
    pub(crate) target: String,
    /// Another live organization (the one whose super admin calls).
    pub(crate) other: Option<String>,
    /// A soft-deleted organization.
    pub(crate) deleted: Option<String>,
    pub(crate) callers: Vec<Caller>,
    /// Kinds no user of the world stands as; their column stays empty.
    pub(crate) missing: Vec<CallerKind>,
}

fn ids(oracle: &Oracle<'_>, table: &str) -> Vec<String> {
    let mut ids: Vec<String> = oracle
        .truth
        .table(table)
        .map(|t| t.rows.iter().map(|r| t.key_of(r)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

fn live(oracle: &Oracle<'_>, table: &str, key: &str) -> bool {
    oracle.placement(table, key).live
}

impl Cast {
    /// Finds the cast in the seeded world; `None` when no live organization has a
    /// super admin (nothing to aim at).
    pub(crate) fn find(oracle: &Oracle<'_>) -> Option<Cast> {
        let orgs = ids(oracle, tenancy::ORGANIZATIONS);
        let users = ids(oracle, tenancy::USERS);
        let has_admin = |o: &String| users.iter().any(|u| oracle.is_super_admin(u, o));
        let target = orgs
            .iter()
            .filter(|o| live(oracle, tenancy::ORGANIZATIONS, o))
            .find(|o| has_admin(o))?
            .clone();
        let deleted = orgs
            .iter()
            .find(|o| !live(oracle, tenancy::ORGANIZATIONS, o))
            .cloned();
        // Units of the target each user is a live unit member of.
        let unit_member = |u: &str| {
            oracle
                .truth
                .table(tenancy::UNIT_MEMBERSHIPS)
                .into_iter()
                .flat_map(|t| t.rows.iter().map(move |r| (t.key_of(r), r)))
                .any(|(key, r)| {
                    let place = oracle.placement(tenancy::UNIT_MEMBERSHIPS, &key);
                    text(r.get("user_id")).as_deref() == Some(u)
                        && place.live
                        && place.organization.as_deref() == Some(target.as_str())
                })
        };
        let standing = |u: &str| oracle.standing(u, &target);
        let first = |f: &dyn Fn(&str) -> bool| users.iter().find(|u| f(u)).cloned();
        let other_admin = first(&|u| {
            standing(u) == Standing::Outsider
                && orgs
                    .iter()
                    .any(|o| *o != target && oracle.is_super_admin(u, o))
        });
        let other = other_admin.as_ref().and_then(|u| {
            orgs.iter()
                .find(|o| **o != target && oracle.is_super_admin(u, o))
                .cloned()
        });
        let mut found: Vec<(CallerKind, Option<String>)> = vec![
            (
                CallerKind::Outsider,
                first(&|u| {
                    standing(u) == Standing::Outsider && oracle.organizations_of(u).is_empty()
                })
                .or_else(|| {
                    first(&|u| {
                        standing(u) == Standing::Outsider && Some(u) != other_admin.as_deref()
                    })
                }),
            ),
            (
                CallerKind::Member,
                first(&|u| standing(u) == Standing::Member && !unit_member(u)),
            ),
            (
                CallerKind::UnitMember,
                first(&|u| standing(u) == Standing::Member && unit_member(u)),
            ),
            (
                CallerKind::SuperAdmin,
                first(&|u| standing(u) == Standing::SuperAdmin),
            ),
            (CallerKind::OtherSuperAdmin, other_admin.clone()),
            (
                CallerKind::RemovedMember,
                first(&|u| standing(u) == Standing::RemovedMember),
            ),
        ];
        let mut callers = vec![Caller {
            kind: CallerKind::Anonymous,
            actor: Actor::Anonymous,
        }];
        let mut missing = Vec::new();
        for (kind, user) in found.drain(..) {
            match user.and_then(|u| uuid::Uuid::parse_str(&u).ok()) {
                Some(id) => callers.push(Caller {
                    kind,
                    actor: Actor::User(id),
                }),
                None => missing.push(kind),
            }
        }
        callers.push(Caller {
            kind: CallerKind::Service,
            actor: Actor::Service,
        });
        Some(Cast {
            target,
            other,
            deleted,
            callers,
            missing,
        })
    }

    /// A note per kind of caller the world could not provide.
    pub(crate) fn notes(&self) -> Vec<String> {
        self.missing
            .iter()
            .map(|k| {
                format!(
                    "RPC matrix: the fixture world has no {} ({}) once seeded into this schema, so \
                     that column is empty",
                    k.label(),
                    k.meaning()
                )
            })
            .collect()
    }
}

/// Where an argument points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Place {
    /// Rows of the target organization.
    Target,
    /// Rows of another organization.
    Other,
    /// The caller themselves and their own rows (in the target, or of no
    /// organization).
    Own,
    /// Soft-deleted (or otherwise dead) rows of the target organization.
    Deleted,
}

impl Place {
    fn label(self) -> &'static str {
        match self {
            Place::Target => "the target organization's rows",
            Place::Other => "another organization's rows",
            Place::Own => "the caller and the caller's own rows",
            Place::Deleted => "soft-deleted rows",
        }
    }
}

/// One argument's variation, the others aimed at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Variation {
    At(Place),
    /// A dictionary value (text arguments; NULL for any argument).
    Word(Dictionary),
}

/// Where a call's arguments point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Aim {
    /// Every argument at one place.
    All(Place),
    /// NULL for every argument.
    Null,
    /// The arguments with defaults left out; the others aimed at the target.
    Defaults,
    /// One argument (by position) varied, the others aimed at the target.
    One(usize, Variation),
}

/// The values every text argument is also tried with: a filter that leaks on an
/// empty or match-all pattern is invisible to any single realistic value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dictionary {
    Null,
    Empty,
    Wildcard,
    NoMatch,
}

impl Dictionary {
    pub(crate) const ALL: [Dictionary; 4] = [
        Dictionary::Null,
        Dictionary::Empty,
        Dictionary::Wildcard,
        Dictionary::NoMatch,
    ];

    fn value(self) -> Value {
        match self {
            Dictionary::Null => Value::Null,
            Dictionary::Empty => Value::String(String::new()),
            Dictionary::Wildcard => Value::String("%".into()),
            Dictionary::NoMatch => Value::String(NO_MATCH.into()),
        }
    }

    fn label(self) -> String {
        match self {
            Dictionary::Null => "NULL".into(),
            Dictionary::Empty => "''".into(),
            Dictionary::Wildcard => "'%'".into(),
            Dictionary::NoMatch => format!("'{NO_MATCH}'"),
        }
    }
}

/// The places a caller of `kind` aims at: not another organization for that
/// organization's own super admin (the super admin column shows what one may do in
/// one's own organization), not "own" rows for callers without an identity.
fn places(kind: CallerKind) -> Vec<Place> {
    [Place::Target, Place::Other, Place::Own, Place::Deleted]
        .into_iter()
        .filter(|p| !(kind == CallerKind::OtherSuperAdmin && *p == Place::Other))
        .filter(|p| {
            !(matches!(kind, CallerKind::Anonymous | CallerKind::Service) && *p == Place::Own)
        })
        .collect()
}

impl Aim {
    /// How reports describe the aim; `names` are the function's input arguments.
    pub(crate) fn label(self, names: &[String]) -> String {
        let name = |i: usize| {
            names
                .get(i)
                .filter(|n| !n.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("argument {}", i + 1))
        };
        match self {
            Aim::All(place) => format!("every argument aimed at {}", place.label()),
            Aim::Null => "NULL for every argument".into(),
            Aim::Defaults => "the arguments with defaults omitted".into(),
            Aim::One(i, Variation::At(place)) => format!(
                "{} aimed at {}, the rest at the target organization's rows",
                name(i),
                place.label()
            ),
            Aim::One(i, Variation::Word(word)) => format!(
                "{} = {}, the rest aimed at the target organization's rows",
                name(i),
                word.label()
            ),
        }
    }
}

/// What an argument stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Organization,
    User,
    Role,
    /// A row of a table, by its id.
    Row(&'static str),
    /// A table of the model, named by an adopter's argument (`p_project_id`).
    ModelRow(usize),
    /// The owner of a secret: an organization or a user, by `Scope`.
    Owner,
    Token,
    Email,
    Scope,
    Status,
    /// Free text; its value from the world is a name (or other text) of a row of the
    /// table the function's name speaks of (`search_units`: a unit's), else the
    /// organization's name.
    Text(Option<&'static str>),
    Json,
    Int,
    Bool,
    Time,
    /// A type the matrix has no value for: NULL.
    Unknown,
}

impl Slot {
    pub(crate) fn is_text(self) -> bool {
        matches!(
            self,
            Slot::Token | Slot::Email | Slot::Scope | Slot::Status | Slot::Text(_)
        )
    }

    /// The slot a contract's domain names.
    pub(crate) fn of_domain(domain: Domain) -> Slot {
        match domain {
            Domain::Org => Slot::Organization,
            Domain::Unit => Slot::Row(tenancy::UNITS),
            Domain::User => Slot::User,
            Domain::Role => Slot::Role,
            Domain::File => Slot::Row(FILES),
            Domain::Invitation => Slot::Row(INVITATIONS),
            Domain::Token => Slot::Token,
            Domain::Secret => Slot::Row(SECRETS),
            Domain::Owner => Slot::Owner,
            Domain::Email => Slot::Email,
            Domain::Text => Slot::Text(None),
            Domain::Json => Slot::Json,
            Domain::Int => Slot::Int,
            Domain::Scope => Slot::Scope,
            Domain::Status => Slot::Status,
        }
    }

    /// The slot an argument's name and type suggest, for a function without a
    /// contract. `tables` are the model's tables, for nouns of an adopter's schema.
    pub(crate) fn guess(function: &str, name: &str, sql_type: &str, tables: &[String]) -> Slot {
        let bare = name.trim_start_matches("p_");
        let words = if bare == "id" || bare.is_empty() {
            function
        } else {
            bare
        };
        match sql_type {
            "uuid" => match crate::checks::rpc::table_for(words) {
                Some(tenancy::ORGANIZATIONS) => Slot::Organization,
                Some(tenancy::USERS) => Slot::User,
                Some(tenancy::ROLES) => Slot::Role,
                Some(table) => Slot::Row(table),
                None => words
                    .split('_')
                    .filter(|w| !w.is_empty() && *w != "id")
                    .find_map(|w| {
                        tables.iter().position(|t| {
                            let short = t.rsplit('.').next().unwrap_or(t);
                            short == w || short == format!("{w}s") || short == format!("{w}es")
                        })
                    })
                    .map_or(Slot::Organization, Slot::ModelRow),
            },
            "text" | "character varying" | "citext" | "character" => {
                if bare.contains("token") {
                    Slot::Token
                } else if bare.contains("email") {
                    Slot::Email
                } else if bare == "scope" {
                    Slot::Scope
                } else if bare == "status" {
                    Slot::Status
                } else {
                    Slot::Text(function.split('_').find_map(|w| {
                        crate::checks::rpc::table_for(w)
                            .or_else(|| w.strip_suffix('s').and_then(crate::checks::rpc::table_for))
                    }))
                }
            }
            "jsonb" | "json" => Slot::Json,
            "integer" | "bigint" | "smallint" | "numeric" => Slot::Int,
            "boolean" => Slot::Bool,
            "timestamp with time zone" | "timestamp without time zone" | "date" => Slot::Time,
            _ => Slot::Unknown,
        }
    }
}

/// One input argument of a function: its name (empty when unnamed), type and slot.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) sql_type: String,
    pub(crate) slot: Slot,
}

/// The input arguments of `function` (IN, INOUT, VARIADIC), with their names.
pub(crate) fn inputs(function: &Function) -> Vec<(String, String)> {
    let names: Vec<String> = if function.argument_modes.is_empty() {
        function.argument_names.clone()
    } else {
        function
            .argument_names
            .iter()
            .zip(&function.argument_modes)
            .filter(|(_, m)| matches!(m.as_str(), "i" | "b" | "v"))
            .map(|(n, _)| n.clone())
            .collect()
    };
    function
        .input_types
        .iter()
        .enumerate()
        .map(|(i, t)| (names.get(i).cloned().unwrap_or_default(), t.clone()))
        .collect()
}

/// Whether the default of each input argument is NULL, as far as PostgreSQL's text
/// of the argument list says (`None`: no default, or one that is not a plain NULL).
pub(crate) fn null_defaults(function: &Function) -> Vec<Option<bool>> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let text = function.arguments.as_str();
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !text.trim().is_empty() {
        parts.push(&text[start..]);
    }
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.starts_with("OUT ") && !p.starts_with("TABLE"))
        .map(|p| {
            p.split_once(" DEFAULT ").map(|(_, d)| {
                let d = d.trim();
                d == "NULL" || d.starts_with("NULL::")
            })
        })
        .collect()
}

/// Picks argument values from the world.
pub(crate) struct Picker<'a> {
    pub(crate) oracle: &'a Oracle<'a>,
    pub(crate) model: &'a AccessModel,
    pub(crate) cast: &'a Cast,
    /// The model's tables, for `Slot::ModelRow`.
    pub(crate) tables: &'a [String],
}

impl Picker<'_> {
    fn rows(&self, table: &str) -> Vec<(String, &Row)> {
        let Some(rows) = self.oracle.truth.table(table) else {
            return Vec::new();
        };
        let mut rows: Vec<(String, &Row)> = rows.rows.iter().map(|r| (rows.key_of(r), r)).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// The id of a row of `table`: its `id` column, else its key.
    fn id_of(&self, table: &str, row: &Row) -> Option<String> {
        text(row.get("id")).or_else(|| {
            self.model
                .table(table)
                .map(|m| row_key(row, &m.key))
                .filter(|k| !k.contains('|'))
        })
    }

    /// A row of `table` placed in `org` that is live (or dead, with `live` false),
    /// which `accept` also takes.
    fn row_in(
        &self,
        table: &str,
        org: Option<&str>,
        live: bool,
        accept: &dyn Fn(&Row) -> bool,
    ) -> Option<&Row> {
        let org = org?;
        self.rows(table)
            .into_iter()
            .find(|(key, row)| {
                let place = self.oracle.placement(table, key);
                place.organization.as_deref() == Some(org) && place.live == live && accept(row)
            })
            .map(|(_, r)| r)
    }

    fn target_user(&self, caller: Option<&str>) -> Option<String> {
        let target = &self.cast.target;
        let users = ids(self.oracle, tenancy::USERS);
        let not_caller = |u: &&String| Some(u.as_str()) != caller;
        let of = |kind: CallerKind| {
            self.cast
                .callers
                .iter()
                .find(|c| c.kind == kind)
                .and_then(Caller::user)
        };
        // A member with a unit first: the unit RPCs need one, the organization ones
        // take any member who is not the super admin.
        [of(CallerKind::UnitMember), of(CallerKind::Member)]
            .into_iter()
            .flatten()
            .find(|u| Some(u.as_str()) != caller)
            .or_else(|| {
                users
                    .iter()
                    .filter(not_caller)
                    .find(|u| self.oracle.standing(u, target) == Standing::Member)
                    .cloned()
            })
            .or_else(|| {
                users
                    .iter()
                    .filter(not_caller)
                    .find(|u| self.oracle.is_member(u, target))
                    .cloned()
            })
    }

    fn user_for(&self, place: Place, caller: Option<&str>) -> Option<String> {
        match place {
            Place::Own => caller
                .map(str::to_string)
                .or_else(|| self.target_user(caller)),
            Place::Other => {
                let other = self.cast.other.as_deref()?;
                ids(self.oracle, tenancy::USERS)
                    .into_iter()
                    .find(|u| {
                        self.oracle.is_member(u, other)
                            && !self.oracle.is_member(u, &self.cast.target)
                    })
                    .or_else(|| self.target_user(caller))
            }
            Place::Deleted => self
                .cast
                .callers
                .iter()
                .find(|c| c.kind == CallerKind::RemovedMember)
                .and_then(Caller::user)
                .or_else(|| self.target_user(caller)),
            _ => self.target_user(caller),
        }
    }

    fn org_for(&self, place: Place) -> String {
        let target = self.cast.target.clone();
        match place {
            Place::Other => self.cast.other.clone().unwrap_or(target),
            Place::Deleted => self.cast.deleted.clone().unwrap_or(target),
            _ => target,
        }
    }

    fn email_of(&self, user: &str) -> Option<String> {
        self.oracle
            .truth
            .table(tenancy::USERS)?
            .get(user)
            .and_then(|r| text(r.get("email")))
    }

    /// A row of `table` for `aim`: in the target (live), in the other organization,
    /// soft-deleted in the target, or one naming the caller; the target's when the
    /// aim has none.
    fn row_for(&self, table: &str, place: Place, caller: Option<&str>) -> Option<String> {
        let target = Some(self.cast.target.as_str());
        let any = |_: &Row| true;
        let pending =
            |r: &Row| table != INVITATIONS || text(r.get("status")).as_deref() == Some("pending");
        let picked = match place {
            Place::Other => self.row_in(table, self.cast.other.as_deref(), true, &pending),
            Place::Deleted => self
                .row_in(table, target, false, &any)
                .or_else(|| {
                    // Invitations die by status rather than by deletion.
                    (table == INVITATIONS)
                        .then(|| self.row_in(table, target, true, &|r| !pending(r)))
                        .flatten()
                })
                .or_else(|| self.row_in(table, self.cast.deleted.as_deref(), false, &any)),
            Place::Own => caller.and_then(|me| {
                let email = self.email_of(me).map(|e| e.to_lowercase());
                let mine = |r: &Row| {
                    r.iter()
                        .any(|(column, v)| column != "id" && text(Some(v)).as_deref() == Some(me))
                        || (table == INVITATIONS
                            && email.is_some()
                            && text(r.get("email")).map(|e| e.to_lowercase()) == email)
                };
                // Rows of the caller in the target organization or in none: what the
                // callers' kinds are relative to (the other super admin's rows in
                // their own organization are the super admin column's business).
                self.rows(table)
                    .into_iter()
                    .find(|(key, row)| {
                        let place = self.oracle.placement(table, key);
                        place.live
                            && place
                                .organization
                                .as_deref()
                                .is_none_or(|o| o == self.cast.target)
                            && mine(row)
                    })
                    .map(|(_, r)| r)
            }),
            _ => None,
        };
        picked
            .or_else(|| self.row_in(table, target, true, &pending))
            .or_else(|| self.row_in(table, target, true, &any))
            .and_then(|r| self.id_of(table, r))
    }

    fn role_for(&self, place: Place) -> Option<String> {
        let in_org = |org: Option<&str>| {
            self.rows(tenancy::ROLES).into_iter().find_map(|(key, r)| {
                (org.is_some()
                    && text(r.get("organization_id")).as_deref() == org
                    && self.oracle.placement(tenancy::ROLES, &key).live)
                    .then(|| self.id_of(tenancy::ROLES, r))
                    .flatten()
            })
        };
        let global = || {
            let mut globals: Vec<(String, String)> = self
                .rows(tenancy::ROLES)
                .into_iter()
                .filter(|(_, r)| text(r.get("organization_id")).is_none())
                .filter_map(|(_, r)| Some((text(r.get("name"))?, self.id_of(tenancy::ROLES, r)?)))
                .collect();
            globals.sort();
            // Any built-in but the super admin's, which only a transfer may give.
            globals
                .into_iter()
                .find(|(name, _)| name != "super_admin")
                .map(|(_, id)| id)
        };
        let target = in_org(Some(&self.cast.target)).or_else(global);
        match place {
            Place::Other => in_org(self.cast.other.as_deref()).or(target),
            _ => target,
        }
    }

    fn token_for(&self, place: Place, caller: Option<&str>) -> Option<String> {
        let token_of = |id: &str| {
            self.oracle
                .truth
                .table(INVITATIONS)?
                .get(id)
                .and_then(|r| text(r.get("token")))
        };
        if place == Place::Own {
            let email = caller.and_then(|c| self.email_of(c))?.to_lowercase();
            return self
                .rows(INVITATIONS)
                .into_iter()
                .find(|(key, r)| {
                    self.oracle.placement(INVITATIONS, key).live
                        && text(r.get("status")).as_deref() == Some("pending")
                        && text(r.get("email")).map(|e| e.to_lowercase()).as_deref()
                            == Some(email.as_str())
                })
                .and_then(|(_, r)| text(r.get("token")))
                .or_else(|| token_of(&self.row_for(INVITATIONS, Place::Target, caller)?));
        }
        token_of(&self.row_for(INVITATIONS, place, caller)?)
    }

    /// A text a search over `table` could match: the `name` of a row at `place`,
    /// else its first text that is neither an id nor a time.
    fn text_for(&self, table: &str, place: Place, caller: Option<&str>) -> Option<String> {
        let id = self.row_for(table, place, caller)?;
        let row = self
            .oracle
            .truth
            .table(table)?
            .rows
            .iter()
            .find(|r| text(r.get("id")).as_deref() == Some(id.as_str()))?;
        text(row.get("name")).or_else(|| {
            row.values().find_map(|v| match v {
                Value::String(s)
                    if uuid::Uuid::parse_str(s).is_err()
                        && chrono::DateTime::parse_from_rfc3339(s).is_err()
                        && !s.is_empty() =>
                {
                    Some(s.clone())
                }
                _ => None,
            })
        })
    }

    fn name_of_org(&self, org: &str) -> Option<String> {
        self.oracle
            .truth
            .table(tenancy::ORGANIZATIONS)?
            .get(org)
            .and_then(|r| text(r.get("name")))
    }

    /// The value of an argument of `slot` at `place`, as JSON (NULL when the world
    /// has none).
    pub(crate) fn value(&self, slot: Slot, place: Place, caller: Option<&str>) -> Value {
        let string = |v: Option<String>| v.map_or(Value::Null, Value::String);
        // An organization of one's own is the target (or the caller's id, where an
        // argument may name a user instead).
        let org_place = if place == Place::Own {
            Place::Target
        } else {
            place
        };
        match slot {
            Slot::Organization => Value::String(self.org_for(org_place)),
            Slot::Owner => match (place, caller) {
                (Place::Own, Some(me)) => Value::String(me.to_string()),
                _ => Value::String(self.org_for(org_place)),
            },
            Slot::Scope => Value::String(
                if place == Place::Own && caller.is_some() {
                    "user"
                } else {
                    "organization"
                }
                .into(),
            ),
            Slot::User => string(self.user_for(place, caller)),
            Slot::Role => string(self.role_for(place)),
            Slot::Row(table) => string(self.row_for(table, place, caller)),
            Slot::ModelRow(i) => string(
                self.tables
                    .get(i)
                    .and_then(|t| self.row_for(t, place, caller)),
            ),
            Slot::Token => string(self.token_for(place, caller)),
            Slot::Email => string(self.user_for(place, caller).and_then(|u| self.email_of(&u))),
            Slot::Text(table) => string(
                table
                    .and_then(|t| self.text_for(t, place, caller))
                    .or_else(|| self.name_of_org(&self.org_for(org_place))),
            ),
            Slot::Status => Value::String("pending".into()),
            Slot::Json => Value::Object(Default::default()),
            Slot::Int => Value::from(10),
            Slot::Bool => Value::Bool(true),
            Slot::Time => Value::String(self.oracle.truth.now.clone()),
            Slot::Unknown => Value::Null,
        }
    }

    /// The argument values of one call: `None` for an omitted argument.
    pub(crate) fn arguments(
        &self,
        inputs: &[Input],
        defaults: usize,
        aim: Aim,
        caller: Option<&str>,
    ) -> Vec<Option<Value>> {
        let omitted_from = match aim {
            Aim::Defaults => inputs.len().saturating_sub(defaults),
            _ => inputs.len(),
        };
        inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                if i >= omitted_from {
                    return None;
                }
                Some(match aim {
                    Aim::Null => Value::Null,
                    Aim::All(place) => self.value(input.slot, place, caller),
                    Aim::One(j, Variation::At(place)) if j == i => {
                        self.value(input.slot, place, caller)
                    }
                    Aim::One(j, Variation::Word(word)) if j == i => word.value(),
                    _ => self.value(input.slot, Place::Target, caller),
                })
            })
            .collect()
    }
}

/// Every aim a caller of `kind` calls a function with: every argument at each place,
/// NULL everywhere, the defaults omitted (when `defaults` > 0), and each argument
/// alone at each other place and at NULL — each text argument also at `''`, `'%'` and
/// a value that matches nothing. Without EXECUTE only the target aim is tried: the
/// refusal is the privilege's.
pub(crate) fn aims(
    kind: CallerKind,
    inputs: &[Input],
    defaults: usize,
    executable: bool,
) -> Vec<Aim> {
    if !executable {
        return vec![Aim::All(Place::Target)];
    }
    let places = places(kind);
    let mut aims: Vec<Aim> = places.iter().map(|p| Aim::All(*p)).collect();
    aims.push(Aim::Null);
    if defaults > 0 {
        aims.push(Aim::Defaults);
    }
    if inputs.len() > 1 {
        for (i, input) in inputs.iter().enumerate() {
            aims.extend(
                places
                    .iter()
                    .filter(|p| **p != Place::Target)
                    .map(|p| Aim::One(i, Variation::At(*p))),
            );
            aims.push(Aim::One(i, Variation::Word(Dictionary::Null)));
            if input.slot.is_text() {
                aims.extend(
                    Dictionary::ALL[1..]
                        .iter()
                        .map(|d| Aim::One(i, Variation::Word(*d))),
                );
            }
        }
    } else if inputs.first().is_some_and(|i| i.slot.is_text()) {
        aims.extend(
            Dictionary::ALL[1..]
                .iter()
                .map(|d| Aim::One(0, Variation::Word(*d))),
        );
    }
    aims
}

/// Distinct SQL texts, in first-seen order (aims that resolve to the same arguments
/// make one call).
pub(crate) fn distinct<T>(items: Vec<(String, T)>) -> Vec<(String, T)> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|(sql, _)| seen.insert(sql.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(arguments: &str, names: &[&str], types: &[&str], defaults: i32) -> Function {
        serde_json::from_value(serde_json::json!({
            "schema": "public", "name": "f", "identity_arguments": "", "arguments": arguments,
            "argument_names": names, "argument_modes": [], "input_types": types,
            "input_defaults": defaults, "result": "void", "returns_set": false, "kind": "f",
            "language": "sql", "security_definer": false, "volatility": "v", "config": [],
            "owner": "postgres", "description": null, "privileges": []
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_read_from_the_argument_list() {
        let f = function(
            "p_org_id uuid, p_limit integer DEFAULT 100, p_q text DEFAULT NULL::text, p_j jsonb DEFAULT '{\"a\", 1}'::jsonb",
            &["p_org_id", "p_limit", "p_q", "p_j"],
            &["uuid", "integer", "text", "jsonb"],
            3,
        );
        assert_eq!(
            null_defaults(&f),
            [None, Some(false), Some(true), Some(false)]
        );
        assert!(null_defaults(&function("", &[], &[], 0)).is_empty());
    }

    #[test]
    fn argument_names_and_types_say_what_an_argument_is() {
        let tables = vec!["app.projects".to_string(), "core.units".to_string()];
        let guess = |f: &str, n: &str, t: &str| Slot::guess(f, n, t, &tables);
        assert_eq!(guess("list_units", "p_org_id", "uuid"), Slot::Organization);
        assert_eq!(guess("get_unit", "p_id", "uuid"), Slot::Row(tenancy::UNITS));
        assert_eq!(guess("archive", "p_project_id", "uuid"), Slot::ModelRow(0));
        assert_eq!(guess("f", "p_user_id", "uuid"), Slot::User);
        assert_eq!(guess("f", "p_query", "text"), Slot::Text(None));
        assert_eq!(
            guess("search_units", "p_query", "text"),
            Slot::Text(Some(tenancy::UNITS))
        );
        assert_eq!(guess("f", "p_invite_token", "text"), Slot::Token);
        assert_eq!(guess("f", "p_email", "character varying"), Slot::Email);
        assert_eq!(guess("f", "p_when", "timestamp with time zone"), Slot::Time);
        assert_eq!(guess("f", "p_shape", "geometry"), Slot::Unknown);
    }

    #[test]
    fn every_argument_is_varied_alone_and_text_gets_the_dictionary() {
        let input = |name: &str, slot| Input {
            name: name.into(),
            sql_type: "text".into(),
            slot,
        };
        let inputs = [
            input("p_org_id", Slot::Organization),
            input("p_query", Slot::Text(None)),
        ];
        let all = aims(CallerKind::Member, &inputs, 1, true);
        // 4 places + NULL + defaults; per argument 3 places + NULL; 3 more words for text.
        assert_eq!(all.len(), 4 + 2 + 2 * 4 + 3);
        assert!(all.contains(&Aim::One(1, Variation::Word(Dictionary::Wildcard))));
        assert!(!all.contains(&Aim::One(0, Variation::Word(Dictionary::Empty))));
        assert!(all.contains(&Aim::One(0, Variation::At(Place::Other))));
        let other_admin = aims(CallerKind::OtherSuperAdmin, &inputs, 0, true);
        assert!(!other_admin.contains(&Aim::All(Place::Other)));
        assert!(!other_admin.contains(&Aim::One(0, Variation::At(Place::Other))));
        assert!(!aims(CallerKind::Anonymous, &inputs, 0, true).contains(&Aim::All(Place::Own)));
        assert_eq!(
            aims(CallerKind::Anonymous, &inputs, 0, false),
            [Aim::All(Place::Target)]
        );
        // One argument: the whole-call aims already vary it.
        let single = aims(CallerKind::Member, &inputs[1..], 0, true);
        assert_eq!(single.len(), 4 + 1 + 3);
        assert_eq!(
            Aim::One(1, Variation::Word(Dictionary::Empty))
                .label(&["p_org_id".into(), "p_query".into()]),
            "p_query = '', the rest aimed at the target organization's rows"
        );
    }
}
