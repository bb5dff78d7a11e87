//! Policy coverage: for each row-security policy, whether some probe made it decide
//! allow and some made it decide deny.
//!
//! A green run proves only what it exercised. The table coverage (`coverage::gaps`)
//! says whether each table × operation met an allowed and a refused probe; a reviewer
//! also asks it of each policy: was this `USING` ever the one that let a row through,
//! or kept one out? Policies are never evaluated on their own here — the database
//! only says what a whole statement did — so decisions are attributed from what the
//! isolation property observed per table × operation × kind of actor (rows reached
//! and rows not reached), honestly:
//!
//! * permissive policies add up: a row let through was let through by at least one of
//!   them, which singles a policy out only when it is the command's only permissive
//!   one; a row kept out was refused by all of them (unless a restrictive policy did);
//! * restrictive policies must all pass: a row let through passed every one of them;
//!   a row kept out may have failed any of them, or no permissive policy admitted it;
//! * a command the application roles hold no privilege for never reaches the
//!   policies, and a policy for roles no application user has never decides for them.
//!
//! Only what row security can have done counts: a row a read or write did not reach
//! although the statement succeeded, or a write refused by a row-security check;
//! refusals by privileges, triggers and constraints count for neither side. UPDATE
//! and DELETE also apply the SELECT policies, so a row an update did not reach may
//! have been kept out by those: a deny is "observed" when a probe the policy was
//! consulted for was kept out by row security, nothing finer.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Exercised;
use crate::checks::cause::command;

/// What the run can say of one side (allow or deny) of a policy's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Some probe's outcome can only be this policy's decision.
    Observed,
    /// Some probe's outcome came from this policy or another one of the same command;
    /// the run cannot single this one out.
    Shared,
    /// No probe it was consulted for had this outcome.
    Unobserved,
    /// It never decides for application users (no privilege for the command, or a
    /// policy for other roles).
    Unreachable,
}

/// One policy and what the run observed of its decisions.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyCoverage {
    pub table: String,
    pub policy: String,
    /// SELECT, INSERT, UPDATE, DELETE or ALL.
    pub command: String,
    pub permissive: bool,
    pub allow: Decision,
    pub deny: Decision,
    /// Kinds of actor whose probes gave the allow evidence.
    pub allowed_for: Vec<String>,
    /// Kinds of actor whose probes gave the deny evidence.
    pub denied_for: Vec<String>,
    /// What could and could not be attributed, in words.
    pub note: String,
}

/// A policy as the catalog describes it, reduced to what attribution needs.
#[derive(Debug, Clone)]
pub(crate) struct PolicyFacts {
    pub(crate) table: String,
    pub(crate) name: String,
    pub(crate) command: String,
    pub(crate) permissive: bool,
    /// Whether it applies to application users (their roles, or PUBLIC).
    pub(crate) for_users: bool,
}

const COMMANDS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

/// The kinds of actor that are application users.
const USER_KINDS: [&str; 5] = [
    "user",
    "outsider",
    "removed member",
    "member",
    "super admin",
];

/// Observed rows reached and kept out per (table, command), by kind of actor.
type Evidence = BTreeMap<(String, &'static str), (BTreeSet<String>, BTreeSet<String>)>;

fn evidence(exercised: &[Exercised]) -> Evidence {
    let mut out = Evidence::new();
    for e in exercised
        .iter()
        .filter(|e| USER_KINDS.contains(&e.actor_kind.as_str()))
    {
        let cell = out
            .entry((e.table.clone(), command(&e.operation)))
            .or_default();
        if e.reached > 0 {
            cell.0.insert(e.actor_kind.clone());
        }
        if e.stopped > 0 {
            cell.1.insert(e.actor_kind.clone());
        }
    }
    out
}

/// Attributes the observed decisions to `policies`. `privileged(table, command)`:
/// whether application users hold the privilege the command needs.
pub(crate) fn attribute(
    policies: &[PolicyFacts],
    exercised: &[Exercised],
    privileged: impl Fn(&str, &str) -> bool,
) -> Vec<PolicyCoverage> {
    let evidence = evidence(exercised);
    let applies = |p: &PolicyFacts, c: &str| p.command == c || p.command == "ALL";
    policies
        .iter()
        .map(|p| {
            let commands: Vec<&str> = COMMANDS
                .into_iter()
                .filter(|c| applies(p, c))
                .filter(|c| privileged(&p.table, c))
                .collect();
            let mut coverage = PolicyCoverage {
                table: p.table.clone(),
                policy: p.name.clone(),
                command: p.command.clone(),
                permissive: p.permissive,
                allow: Decision::Unreachable,
                deny: Decision::Unreachable,
                allowed_for: Vec::new(),
                denied_for: Vec::new(),
                note: String::new(),
            };
            if !p.for_users {
                coverage.note = "it applies to roles no application user has, so it never \
                                 decides for them"
                    .into();
                return coverage;
            }
            if commands.is_empty() {
                coverage.note = format!(
                    "application users hold no privilege for {}, so it never decides",
                    if p.command == "ALL" {
                        "any command on the table".to_string()
                    } else {
                        p.command.clone()
                    }
                );
                return coverage;
            }
            coverage.allow = Decision::Unobserved;
            coverage.deny = Decision::Unobserved;
            let (mut allowed_for, mut denied_for) = (BTreeSet::new(), BTreeSet::new());
            let mut shared = BTreeSet::new();
            for c in &commands {
                let peers: Vec<&PolicyFacts> = policies
                    .iter()
                    .filter(|q| q.table == p.table && q.for_users && applies(q, c))
                    .collect();
                let permissive = peers.iter().filter(|q| q.permissive).count();
                let restrictive = peers.len() - permissive;
                let Some((reached, stopped)) = evidence.get(&(p.table.clone(), *c)) else {
                    continue;
                };
                if !reached.is_empty() {
                    // Every restrictive policy passed; a permissive one is singled out
                    // only when it is the command's only one.
                    let alone = !p.permissive || permissive == 1;
                    let side = if alone {
                        Decision::Observed
                    } else {
                        shared.insert(format!(
                            "a row let through by {c} was admitted by one of {permissive} \
                             permissive policies"
                        ));
                        Decision::Shared
                    };
                    coverage.allow = stronger(coverage.allow, side);
                    allowed_for.extend(reached.iter().cloned());
                }
                if !stopped.is_empty() {
                    // Every permissive policy refused unless a restrictive one did; a
                    // restrictive one is singled out only when it stands alone.
                    let alone = if p.permissive {
                        restrictive == 0
                    } else {
                        restrictive == 1 && permissive == 0
                    };
                    let side = if alone {
                        Decision::Observed
                    } else {
                        shared.insert(format!(
                            "a row kept out by {c} may have failed any of {} policies",
                            peers.len()
                        ));
                        Decision::Shared
                    };
                    coverage.deny = stronger(coverage.deny, side);
                    denied_for.extend(stopped.iter().cloned());
                }
            }
            coverage.allowed_for = allowed_for.into_iter().collect();
            coverage.denied_for = denied_for.into_iter().collect();
            coverage.note = shared.into_iter().collect::<Vec<_>>().join("; ");
            coverage
        })
        .collect()
}

/// Observed beats shared beats unobserved.
fn stronger(a: Decision, b: Decision) -> Decision {
    let rank = |d: Decision| match d {
        Decision::Observed => 3,
        Decision::Shared => 2,
        Decision::Unobserved => 1,
        Decision::Unreachable => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Policies whose allow or deny side no probe ever exercised, in words. `possible`
/// says whether the rules can allow and can refuse a command on a table for some
/// user: a policy guarding what the rules never allow is not expected to allow.
pub(crate) fn gaps(
    coverage: &[PolicyCoverage],
    possible: impl Fn(&str, &str) -> Option<(bool, bool)>,
) -> Vec<String> {
    let mut gaps = Vec::new();
    for c in coverage {
        let commands: Vec<&str> = if c.command == "ALL" {
            COMMANDS.to_vec()
        } else {
            vec![c.command.as_str()]
        };
        let (can_allow, can_refuse) = commands
            .iter()
            .filter_map(|op| possible(&c.table, op))
            .fold((false, false), |(a, r), (pa, pr)| (a || pa, r || pr));
        let name = format!(
            "policy {} on {} ({}, {})",
            c.policy,
            c.table,
            c.command,
            if c.permissive {
                "permissive"
            } else {
                "restrictive"
            }
        );
        if c.allow == Decision::Unobserved && can_allow {
            gaps.push(format!(
                "{name}: no probe it was consulted for was let through, so its allowing side \
                 was never exercised"
            ));
        }
        if c.deny == Decision::Unobserved && can_refuse {
            gaps.push(format!(
                "{name}: no probe it was consulted for was kept out, so its refusing side was \
                 never exercised"
            ));
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(table: &str, name: &str, command: &str, permissive: bool) -> PolicyFacts {
        PolicyFacts {
            table: table.into(),
            name: name.into(),
            command: command.into(),
            permissive,
            for_users: true,
        }
    }

    fn seen(table: &str, operation: &str, kind: &str, reached: u64, stopped: u64) -> Exercised {
        Exercised {
            table: table.into(),
            operation: operation.into(),
            actor_kind: kind.into(),
            allowed: reached,
            refused: stopped,
            reached,
            stopped,
        }
    }

    #[test]
    fn a_lone_permissive_policy_is_credited_with_both_decisions() {
        let policies = [policy("core.units", "units_select", "SELECT", true)];
        let exercised = [
            seen("core.units", "SELECT", "member", 3, 0),
            seen("core.units", "SELECT", "outsider", 0, 2),
            seen("core.units", "SELECT", "anonymous", 0, 9),
        ];
        let c = attribute(&policies, &exercised, |_, _| true);
        assert_eq!(
            (c[0].allow, c[0].deny),
            (Decision::Observed, Decision::Observed)
        );
        assert_eq!(c[0].allowed_for, ["member"]);
        assert_eq!(
            c[0].denied_for,
            ["outsider"],
            "anonymous callers are not users"
        );
        assert!(c[0].note.is_empty());
    }

    #[test]
    fn permissive_policies_share_what_they_let_through_and_restrictive_ones_what_they_refuse() {
        let policies = [
            policy("core.roles", "global", "SELECT", true),
            policy("core.roles", "own_org", "SELECT", true),
            policy("core.roles", "live_only", "ALL", false),
        ];
        let exercised = [
            seen("core.roles", "SELECT", "member", 1, 1),
            seen("core.roles", "UPDATE", "super admin", 1, 0),
        ];
        let c = attribute(&policies, &exercised, |_, _| true);
        // Let through: by one of two permissive policies; refused: by either kind.
        assert_eq!(
            (c[0].allow, c[0].deny),
            (Decision::Shared, Decision::Shared)
        );
        assert!(c[0].note.contains("one of 2 permissive"), "{}", c[0].note);
        // The restrictive policy passed every row let through, on SELECT and UPDATE.
        assert_eq!(c[2].allow, Decision::Observed);
        assert_eq!(c[2].allowed_for, ["member", "super admin"]);
        assert_eq!(c[2].deny, Decision::Shared);
    }

    #[test]
    fn policies_users_never_meet_are_unreachable_and_no_gap() {
        let mut service = policy("core.units", "service_all", "ALL", true);
        service.for_users = false;
        let policies = [
            service,
            policy("core.units", "units_delete", "DELETE", true),
        ];
        let c = attribute(&policies, &[], |_, command| command != "DELETE");
        assert_eq!(
            (c[0].allow, c[0].deny),
            (Decision::Unreachable, Decision::Unreachable)
        );
        assert!(
            c[1].note.contains("no privilege for DELETE"),
            "{}",
            c[1].note
        );
        assert!(gaps(&c, |_, _| Some((true, true))).is_empty());
    }

    #[test]
    fn a_side_never_exercised_is_a_gap_where_the_rules_can_give_it() {
        let policies = [policy("core.units", "units_update", "UPDATE", true)];
        let exercised = [seen("core.units", "UPDATE", "outsider", 0, 4)];
        let c = attribute(&policies, &exercised, |_, _| true);
        assert_eq!(
            (c[0].allow, c[0].deny),
            (Decision::Unobserved, Decision::Observed)
        );
        let g = gaps(&c, |_, _| Some((true, true)));
        assert_eq!(g.len(), 1);
        assert!(g[0].starts_with("policy units_update on core.units (UPDATE, permissive)"));
        // Where the rules never allow the command, nothing is missing.
        assert!(gaps(&c, |_, _| Some((false, true))).is_empty());
    }
}
