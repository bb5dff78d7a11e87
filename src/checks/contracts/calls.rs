//! Generated calls: which RPC, by whom, with which arguments drawn from the world.
//!
//! A call is generated as abstract choices ("an organization the caller administers",
//! "a removed member of that organization", "a token addressed to someone else") and
//! resolved against the state in force when it runs. Rows created earlier in the
//! sequence (an organization, an invitation and its token) are thus reachable, and a
//! shrunk sequence stays meaningful: dropping a call changes what later choices pick,
//! never whether they can be made.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;

use super::state::State;
use crate::access::contracts::{Contract, Domain};
use crate::flavor::Actor;
use crate::sql::{quote_ident, quote_literal};
use crate::world::truth::text;

/// One argument choice: NULL, or a variant of the argument's domain and an index
/// into the candidates that variant offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pick {
    pub(crate) null: bool,
    pub(crate) variant: u8,
    pub(crate) index: u8,
}

/// What kind of call the generator aims at, judged by the contract on the state the
/// call meets. Defects hide at the edges: an allowed call that goes wrong, one with a
/// broken precondition that goes through, a caller just outside the rule who gets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aim {
    /// The contract allows the call.
    Allowed,
    /// The caller is admitted but a precondition (one that matters) fails.
    Breach,
    /// A member of the organization reached, without the right the contract asks
    /// for, making a call that would otherwise be allowed.
    Overstep,
    /// A caller from outside that organization (or none) making such a call.
    Intrude,
    /// Whatever the choices give.
    Free,
}

/// One generated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// Index into the bound contracts (wrapping).
    pub(crate) rpc: usize,
    /// 0 is the anonymous caller; otherwise a user (wrapping).
    pub(crate) actor: usize,
    pub(crate) aim: Aim,
    pub(crate) picks: Vec<Pick>,
}

fn pick() -> impl Strategy<Value = Pick> {
    (proptest::bool::weighted(0.06), 0u8..8, 0u8..8).prop_map(|(null, variant, index)| Pick {
        null,
        variant,
        index,
    })
}

/// Calls of `rpcs` contracts; `mutating` lists those with effects, drawn more often
/// because they are where a sequence changes the world and where defects hide.
pub(crate) fn calls(rpcs: usize, mutating: Vec<usize>) -> impl Strategy<Value = Call> {
    let rpc = if mutating.is_empty() {
        (0..rpcs.max(1)).boxed()
    } else {
        prop_oneof![
            1 => 0..rpcs.max(1),
            1 => proptest::sample::select(mutating),
        ]
        .boxed()
    };
    // Free comes first: proptest shrinks towards it, the simplest reading of a call.
    let aim = prop_oneof![
        Just(Aim::Free),
        Just(Aim::Allowed),
        Just(Aim::Breach),
        Just(Aim::Overstep),
        Just(Aim::Intrude),
    ];
    (
        rpc,
        prop_oneof![1 => Just(0usize), 12 => 1usize..16],
        aim,
        proptest::collection::vec(pick(), 5),
    )
        .prop_map(|(rpc, actor, aim, picks)| Call {
            rpc,
            actor,
            aim,
            picks,
        })
}

/// A call made concrete on a state.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) actor: Actor,
    /// Argument name → value.
    pub(crate) args: BTreeMap<String, Value>,
    /// SQL literal of each argument, in order.
    pub(crate) literals: Vec<(String, String)>,
}

/// The caller of a call: 0 is the anonymous caller; otherwise, by `actor % 3`, any
/// user, a super admin of some organization, or a user with a pending invitation
/// addressed to them (falling back to any user), the `actor / 3`-th of those (wrapping).
/// Most RPCs need one of the latter two to succeed at all, and a defect shows only
/// when an allowed call goes wrong or a nearly allowed one goes through.
pub(crate) fn actor_of(state: &State, actor: usize) -> Actor {
    let users: Vec<&String> = state.keys("core.users_meta");
    if actor == 0 || users.is_empty() {
        return Actor::Anonymous;
    }
    let admins: Vec<&String> = users
        .iter()
        .copied()
        .filter(|u| {
            state
                .keys("core.organizations")
                .iter()
                .any(|o| state.is_super_admin(u, o))
        })
        .collect();
    let invitees: Vec<&String> = users
        .iter()
        .copied()
        .filter(|u| {
            let email = state.email_of(u).map(|e| e.to_lowercase());
            state.rows("core.invitations").any(|(_, r)| {
                open_invitation(state, r)
                    && email.is_some()
                    && text(r.get("email")).map(|e| e.to_lowercase()) == email
            })
        })
        .collect();
    let pool = match actor % 3 {
        1 if !admins.is_empty() => &admins,
        2 if !invitees.is_empty() => &invitees,
        _ => &users,
    };
    let id = pool[(actor / 3) % pool.len()];
    uuid::Uuid::parse_str(id).map_or(Actor::Anonymous, Actor::User)
}

/// A pending invitation that has not expired: one its invitee can accept.
fn open_invitation(state: &State, row: &serde_json::Map<String, Value>) -> bool {
    let expiry =
        text(row.get("expires_at")).and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok());
    text(row.get("status")).as_deref() == Some("pending")
        && matches!((expiry, state.now), (Some(e), Some(now)) if e > now)
}

fn choose(list: &[String], index: u8) -> Option<String> {
    (!list.is_empty()).then(|| list[usize::from(index) % list.len()].clone())
}

/// An id no row has, for "unknown" choices.
const UNKNOWN: &str = "99990000-0000-4000-8000-00000000dead";

struct Resolver<'a> {
    state: &'a State,
    caller: Option<String>,
    /// The organization the call is about, once an argument has named one.
    context: Option<String>,
}

impl Resolver<'_> {
    fn orgs(&self, f: impl Fn(&str) -> bool) -> Vec<String> {
        self.state
            .keys("core.organizations")
            .into_iter()
            .filter(|o| f(o))
            .cloned()
            .collect()
    }

    fn admin(&self, org: &str) -> bool {
        self.caller
            .as_deref()
            .is_some_and(|c| self.state.is_super_admin(c, org))
    }

    fn member(&self, org: &str) -> bool {
        self.caller
            .as_deref()
            .is_some_and(|c| self.state.is_member(c, org))
    }

    /// Keys of `table` rows whose organization (`column`) passes `f`.
    fn in_orgs(&self, table: &str, column: &str, f: impl Fn(&str) -> bool) -> Vec<String> {
        self.state
            .rows(table)
            .filter(|(_, r)| text(r.get(column)).is_some_and(|o| f(&o)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn units(&self, f: impl Fn(&str) -> bool) -> Vec<String> {
        self.in_orgs("core.units", "organization_id", f)
    }

    fn value(&mut self, domain: Domain, p: Pick) -> Value {
        if p.null {
            return Value::Null;
        }
        let (v, i) = (p.variant, p.index);
        let any_org = self.orgs(|_| true);
        let uuid = |list: Vec<String>, fallback: &[String]| {
            Value::String(
                choose(&list, i)
                    .or_else(|| choose(fallback, i))
                    .unwrap_or_else(|| UNKNOWN.to_string()),
            )
        };
        let caller = self.caller.clone();
        let value = match domain {
            Domain::Org => {
                let list = match v {
                    0..=2 => self.orgs(|o| self.admin(o)),
                    3 | 4 => self.orgs(|o| self.member(o)),
                    5 | 6 => self.orgs(|o| !self.member(o)),
                    _ => any_org.clone(),
                };
                uuid(list, &any_org)
            }
            Domain::Unit => {
                let all = self.units(|_| true);
                let list = match v {
                    0..=2 => self.units(|o| self.admin(o)),
                    3 | 4 => self.units(|o| self.member(o)),
                    5 | 6 => self.units(|o| !self.member(o)),
                    _ => all.clone(),
                };
                uuid(list, &all)
            }
            Domain::File => {
                let all = self.in_orgs("core.organization_files", "organization_id", |_| true);
                let context = self.context.clone();
                let list = match v {
                    0..=2 if context.is_some() => {
                        let own = self.in_orgs("core.organization_files", "organization_id", |o| {
                            Some(o) == context.as_deref()
                        });
                        // No file in the organization: NULL is the value that fits.
                        if own.is_empty() {
                            return Value::Null;
                        }
                        own
                    }
                    0..=4 => self.in_orgs("core.organization_files", "organization_id", |o| {
                        self.member(o)
                    }),
                    5 | 6 => self.in_orgs("core.organization_files", "organization_id", |o| {
                        !self.member(o)
                    }),
                    _ => all.clone(),
                };
                uuid(list, &all)
            }
            Domain::Invitation => {
                let all = self.in_orgs("core.invitations", "organization_id", |_| true);
                let list = match v % 4 {
                    0 => self.in_orgs("core.invitations", "organization_id", |o| self.admin(o)),
                    1 => self.in_orgs("core.invitations", "invited_by", |u| {
                        Some(u) == caller.as_deref()
                    }),
                    2 => self.in_orgs("core.invitations", "organization_id", |o| !self.member(o)),
                    _ => all.clone(),
                };
                uuid(list, &all)
            }
            Domain::Token => {
                let email = caller
                    .as_deref()
                    .and_then(|c| self.state.email_of(c))
                    .map(|e| e.to_lowercase());
                let tokens = |f: &dyn Fn(&serde_json::Map<String, Value>) -> bool| -> Vec<String> {
                    self.state
                        .rows("core.invitations")
                        .filter(|(_, r)| f(r))
                        .filter_map(|(_, r)| text(r.get("token")))
                        .collect()
                };
                let all = tokens(&|_| true);
                let mine = |r: &serde_json::Map<String, Value>| {
                    email.is_some() && text(r.get("email")).map(|e| e.to_lowercase()) == email
                };
                let pending = |r: &serde_json::Map<String, Value>| {
                    text(r.get("status")).as_deref() == Some("pending")
                };
                let list = match v {
                    0..=2 => tokens(&|r| mine(r) && open_invitation(self.state, r)),
                    3 => tokens(&mine),
                    4 | 5 => tokens(&pending),
                    6 => all.clone(),
                    _ => vec!["no-such-token".to_string()],
                };
                Value::String(
                    choose(&list, i)
                        .or_else(|| choose(&all, i))
                        .unwrap_or_else(|| "no-such-token".into()),
                )
            }
            Domain::Secret => {
                let all: Vec<String> = self
                    .state
                    .keys("platform.tenant_secrets")
                    .into_iter()
                    .cloned()
                    .collect();
                let list = match v % 3 {
                    0 => self.in_orgs("platform.tenant_secrets", "organization_id", |o| {
                        self.admin(o)
                    }),
                    1 => self.in_orgs("platform.tenant_secrets", "user_id", |u| {
                        Some(u) == caller.as_deref()
                    }),
                    _ => all.clone(),
                };
                uuid(list, &all)
            }
            Domain::User | Domain::Owner => {
                let users: Vec<String> = self
                    .state
                    .keys("core.users_meta")
                    .into_iter()
                    .cloned()
                    .collect();
                let org = self.context.clone().unwrap_or_default();
                let members = |live: bool| -> Vec<String> {
                    self.state
                        .rows("core.memberships")
                        .filter(|(_, r)| text(r.get("organization_id")).as_deref() == Some(&org))
                        .filter(|(_, r)| {
                            (r.get("is_deleted").and_then(Value::as_bool) != Some(true)) == live
                        })
                        .filter_map(|(_, r)| text(r.get("user_id")))
                        .filter(|u| Some(u.as_str()) != caller.as_deref())
                        .collect()
                };
                let list = match (domain, v) {
                    (_, 0) => caller.clone().into_iter().collect(),
                    (Domain::Owner, 1..=3) => self.orgs(|o| self.admin(o)),
                    (Domain::Owner, 4) => caller.clone().into_iter().collect(),
                    (Domain::Owner, _) => any_org.clone(),
                    (_, 1 | 2) => members(true),
                    (_, 3) => members(false),
                    (_, 4 | 5) => users
                        .iter()
                        .filter(|u| !self.state.is_member(u, &org))
                        .cloned()
                        .collect(),
                    _ => users.clone(),
                };
                uuid(list, &users)
            }
            Domain::Role => {
                let org = self.context.clone();
                let roles: Vec<(String, Option<String>, Option<String>)> = self
                    .state
                    .rows("core.roles")
                    .map(|(k, r)| {
                        (
                            k.clone(),
                            text(r.get("organization_id")),
                            text(r.get("name")),
                        )
                    })
                    .collect();
                let global = |name: &str| -> Vec<String> {
                    roles
                        .iter()
                        .filter(|(_, o, n)| o.is_none() && n.as_deref() == Some(name))
                        .map(|(k, _, _)| k.clone())
                        .collect()
                };
                let all: Vec<String> = roles.iter().map(|(k, _, _)| k.clone()).collect();
                let list = match v {
                    0 | 1 => global("team"),
                    2 => global("manager"),
                    3 => global("super_admin"),
                    4 | 5 => roles
                        .iter()
                        .filter(|(_, o, _)| o.is_some() && *o == org)
                        .map(|(k, _, _)| k.clone())
                        .collect(),
                    _ => all.clone(),
                };
                uuid(list, &all)
            }
            Domain::Email => {
                let users = self.state.keys("core.users_meta");
                let other = choose(
                    &users
                        .iter()
                        .filter_map(|u| self.state.email_of(u))
                        .collect::<Vec<_>>(),
                    i,
                );
                Value::String(match v % 4 {
                    0 => caller
                        .as_deref()
                        .and_then(|c| self.state.email_of(c))
                        .unwrap_or_else(|| "stranger@example.test".into()),
                    1 => other
                        .map(|e| if i % 2 == 0 { e } else { e.to_uppercase() })
                        .unwrap_or_else(|| "stranger@example.test".into()),
                    2 => "stranger@example.test".into(),
                    _ => "not-an-email".into(),
                })
            }
            Domain::Text => Value::String(match v % 4 {
                0 | 1 => format!("Name {i}"),
                2 => String::new(),
                _ => format!("  spaced {i} "),
            }),
            Domain::Json => {
                if v % 2 == 0 {
                    Value::Object(Default::default())
                } else {
                    serde_json::json!({ "k": i })
                }
            }
            Domain::Int => Value::from(i64::from(i) * 10),
            Domain::Scope => Value::String(
                match v % 5 {
                    0 | 1 => "organization",
                    2 | 3 => "user",
                    _ => "team",
                }
                .into(),
            ),
            Domain::Status => Value::String(
                match v % 3 {
                    0 => "pending",
                    1 => "accepted",
                    _ => "cancelled",
                }
                .into(),
            ),
        };
        // The first argument that reaches an organization sets the call's context.
        if self.context.is_none() {
            let id = text(Some(&value));
            self.context = match domain {
                Domain::Org => id,
                Domain::Unit => id.and_then(|u| {
                    self.state
                        .rows("core.units")
                        .find(|(k, _)| **k == u)
                        .and_then(|(_, r)| text(r.get("organization_id")))
                }),
                Domain::File => id.and_then(|f| self.state.file_org(&f)),
                Domain::Invitation => id.and_then(|x| self.state.invitation_org(&x)),
                _ => None,
            };
        }
        value
    }
}

/// The SQL literal of an argument value.
pub(crate) fn literal(value: &Value, sql_type: &str) -> String {
    match value {
        Value::Null => format!("NULL::{sql_type}"),
        Value::String(s) => format!("{}::{sql_type}", quote_literal(s)),
        Value::Number(n) => format!("{n}::{sql_type}"),
        other => format!("{}::{sql_type}", quote_literal(&other.to_string())),
    }
}

/// How many variations of its choices an aimed call tries, per user.
const SHIFTS: u8 = 16;

/// Resolves `call` on `state` for `contract`. Unless the call is `Aim::Free`, the
/// caller and the argument choices are varied (every user from the call's offset,
/// each with its choices shifted a few times) until `classify` says the call is of
/// the kind aimed at; when none is, the plain choices stand.
pub(crate) fn resolve(
    state: &State,
    contract: &Contract,
    call: &Call,
    classify: impl Fn(&Resolved) -> Aim,
) -> Resolved {
    if call.aim != Aim::Free {
        let users = state.keys("core.users_meta");
        for shift in 0..SHIFTS {
            // Each argument moves by its own stride, so that shifts explore
            // combinations rather than moving every choice in step.
            let mut shifted = call.clone();
            for (j, p) in shifted.picks.iter_mut().enumerate() {
                let stride = 2 * j as u8 + 1;
                // A NULL choice stays NULL only unshifted: otherwise one NULL
                // argument would rule out every aimed variation.
                p.null &= shift == 0;
                p.variant = p.variant.wrapping_add(shift.wrapping_mul(stride)) % 8;
                p.index = p.index.wrapping_add(shift.wrapping_mul(stride + 2) / 3);
            }
            for k in 0..users.len() {
                let user = users[(call.actor + k) % users.len()];
                if let Ok(id) = uuid::Uuid::parse_str(user) {
                    let resolved = resolve_as(state, contract, &shifted, Actor::User(id));
                    if classify(&resolved) == call.aim {
                        return resolved;
                    }
                }
            }
        }
    }
    resolve_as(state, contract, call, actor_of(state, call.actor))
}

fn resolve_as(state: &State, contract: &Contract, call: &Call, actor: Actor) -> Resolved {
    let caller = match &actor {
        Actor::User(u) => Some(u.to_string()),
        _ => None,
    };
    let mut resolver = Resolver {
        state,
        caller,
        context: None,
    };
    let mut args = BTreeMap::new();
    // Users and roles are drawn relative to the organization the other arguments
    // reach, so those are resolved first.
    let late = |d: Domain| matches!(d, Domain::User | Domain::Owner | Domain::Role);
    for pass in [false, true] {
        for (i, arg) in contract.args.iter().enumerate() {
            if late(arg.domain) != pass {
                continue;
            }
            let p = call.picks.get(i).copied().unwrap_or(Pick {
                null: false,
                variant: 0,
                index: 0,
            });
            args.insert(arg.name.clone(), resolver.value(arg.domain, p));
        }
    }
    let literals = contract
        .args
        .iter()
        .map(|a| (a.name.clone(), literal(&args[&a.name], &a.sql_type)))
        .collect();
    Resolved {
        actor,
        args,
        literals,
    }
}

/// The statement that makes the call and returns its result as JSON text.
pub(crate) fn call_sql(
    function: &crate::catalog::Function,
    literals: &[(String, String)],
) -> String {
    let args: Vec<String> = literals
        .iter()
        .map(|(n, l)| format!("{} => {l}", quote_ident(n)))
        .collect();
    call_sql_with(function, &args.join(", "))
}

/// The statement that calls `function` with an argument list as written and returns
/// its result as JSON text.
pub(crate) fn call_sql_with(function: &crate::catalog::Function, args: &str) -> String {
    let name = format!(
        "{}.{}",
        quote_ident(&function.schema),
        quote_ident(&function.name)
    );
    if function.returns_set {
        format!("SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]')::text FROM {name}({args}) r")
    } else if function.result.as_deref() == Some("void") {
        format!("SELECT {name}({args})::text")
    } else {
        format!("SELECT to_jsonb({name}({args}))::text")
    }
}
