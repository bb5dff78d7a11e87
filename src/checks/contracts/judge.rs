//! Judging one call: the contract's verdict on the caller and the arguments, compared
//! with what the database did (result, error, rows changed, audit rows written).
//!
//! * A call the contract forbids (caller or a precondition) must fail or change
//!   nothing; one that changed something is reported as the contract says (or, for the
//!   caller, by who the caller is relative to the organization reached).
//! * An allowed call must succeed (else over-restriction) and leave exactly the state
//!   its effects describe: an effect that did not happen is over-restriction, any other
//!   difference the finding its nature calls for; and exactly one audit row naming
//!   the action, the organization and the caller (else audit-missing).
//! * A read must change nothing and return only rows the caller may SELECT.

use serde_json::Value;

use super::effects::{diff, expected, Difference};
use super::eval::Scope;
use super::state::State;
use crate::access::contracts::{Breach, Contract, Contracts};
use crate::access::oracle::{Expect, Oracle};
use crate::access::AccessModel;
use crate::finding::CheckId;
use crate::flavor::Actor;
use crate::world::truth::{text, Row};

/// What the database did with a call.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The call's result as JSON.
    Returned(Value),
    Failed {
        sqlstate: String,
        message: String,
    },
}

/// One broken promise.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    pub(crate) check: CheckId,
    pub(crate) message: String,
    /// The table of rows the call returned to a caller who may not read them.
    pub(crate) returned: Vec<String>,
}

/// The contract's verdict before the call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Allowed,
    /// The caller may not call it this way; the check a change is reported as.
    CallerDenied(CheckId),
    /// A precondition fails.
    Precondition(usize, Breach),
}

pub(crate) struct Judge<'a> {
    pub(crate) contracts: &'a Contracts,
    pub(crate) model: &'a AccessModel,
    /// The oracle of a state many calls start from (the RPC matrix's world), so that
    /// judging what each returned does not derive it again.
    pub(crate) oracle: Option<&'a Oracle<'a>>,
}

/// Whether an audit row's table names `table`: `core.invitations`, `invitations` and
/// `"core"."invitations"` all do.
fn same_table(written: &str, table: &str) -> bool {
    let bare = |t: &str| -> String {
        t.rsplit('.')
            .next()
            .unwrap_or(t)
            .trim_matches('"')
            .to_ascii_lowercase()
    };
    let qualified = |t: &str| t.contains('.');
    if qualified(written) && qualified(table) {
        written.replace('"', "").eq_ignore_ascii_case(table)
    } else {
        bare(written) == bare(table)
    }
}

fn list(diffs: &[Difference]) -> String {
    let shown: Vec<String> = diffs.iter().take(6).map(ToString::to_string).collect();
    let more = diffs.len().saturating_sub(6);
    if more > 0 {
        format!("{}; and {more} more", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

/// The audit rows a call added.
fn new_audit<'s>(before: &State, after: &'s State) -> Vec<&'s Row> {
    after
        .audit
        .iter()
        .filter(|(id, _)| !before.audit.contains_key(*id))
        .map(|(_, r)| r)
        .collect()
}

impl Judge<'_> {
    /// Whom a forbidden change hurts: an anonymous caller's is unauthorized; one in
    /// an organization the caller does not belong to crosses tenants; one by a member
    /// oversteps their role.
    fn denied_check(contract: &Contract, scope: &Scope<'_>) -> CheckId {
        if let Some(check) = contract.denied {
            return check;
        }
        let Some(caller) = scope.caller else {
            return CheckId::UnauthorizedWrite;
        };
        let org = contract
            .audit
            .as_ref()
            .and_then(|a| scope.eval(&a.organization).ok())
            .and_then(|v| text(Some(&v)));
        match org {
            Some(org) if scope.state.is_member(caller, &org) => CheckId::PrivilegeEscalation,
            Some(_) => CheckId::CrossTenantWrite,
            None => CheckId::UnauthorizedWrite,
        }
    }

    pub(crate) fn verdict(
        &self,
        contract: &Contract,
        scope: &Scope<'_>,
    ) -> Result<Verdict, String> {
        if !scope.holds(&contract.caller)? {
            return Ok(Verdict::CallerDenied(Self::denied_check(contract, scope)));
        }
        for (i, (condition, breach)) in contract.requires.iter().enumerate() {
            if !scope.holds(condition)? {
                return Ok(Verdict::Precondition(i, *breach));
            }
        }
        Ok(Verdict::Allowed)
    }

    /// Judges a call: `scope` is on the state before it, `after` the state it left.
    /// `executable`: the caller's roles hold EXECUTE on the function. A flavour may
    /// give a caller no way to call it at all (Payload's anonymous caller reaches
    /// nothing); whether it should is the catalog checks' question, so such a call
    /// is judged as one the contract forbids.
    pub(crate) fn judge(
        &self,
        contract: &Contract,
        scope: &Scope<'_>,
        outcome: &Outcome,
        after: &State,
        executable: bool,
    ) -> Result<Vec<Violation>, String> {
        let before = scope.state;
        let verdict = if executable {
            self.verdict(contract, scope)?
        } else {
            Verdict::CallerDenied(Self::denied_check(contract, scope))
        };
        let ignore = &self.contracts.ignore_columns;
        // The very state the call started from (the caller knew nothing changed):
        // nothing to compare.
        let untouched = std::ptr::eq(before, after);
        let changes = if untouched {
            Vec::new()
        } else {
            diff(&expected(scope, &[])?, before, after, ignore)
        };
        let audit_rows = new_audit(before, after);
        let mut out = Vec::new();
        let who = scope
            .caller
            .map_or("an anonymous caller".to_string(), |c| format!("user {c}"));
        match (&verdict, outcome) {
            (Verdict::CallerDenied(check), Outcome::Returned(_)) => {
                if !changes.is_empty() || !audit_rows.is_empty() {
                    out.push(Violation {
                        returned: Vec::new(),
                        check: *check,
                        message: format!(
                            "{} is not for {who} (contract: caller = {}), yet the call succeeded and changed: {}{}",
                            contract.signature(),
                            contract.caller,
                            if changes.is_empty() { "no table row".into() } else { list(&changes) },
                            if audit_rows.is_empty() { String::new() } else { format!(" (and wrote {} audit row(s))", audit_rows.len()) }
                        ),
                    });
                }
            }
            (Verdict::Precondition(i, Breach::Check(check)), Outcome::Returned(_)) => {
                if !changes.is_empty() {
                    out.push(Violation {
                        returned: Vec::new(),
                        check: *check,
                        message: format!(
                            "{} called by {who} must be refused because its precondition `{}` fails, yet it succeeded and changed: {}",
                            contract.signature(),
                            contract.requires[*i].0,
                            list(&changes)
                        ),
                    });
                }
            }
            (Verdict::Allowed, Outcome::Failed { sqlstate, message }) => {
                out.push(Violation {
                    returned: Vec::new(),
                    check: CheckId::OverRestriction,
                    message: format!(
                        "{} called by {who} is allowed by its contract, but failed: {message} (SQLSTATE {sqlstate})",
                        contract.signature()
                    ),
                });
            }
            (Verdict::Allowed, Outcome::Returned(result)) => {
                let scope = Scope { result, ..*scope };
                let differences = if untouched && contract.effects.is_empty() {
                    Vec::new()
                } else {
                    diff(&expected(&scope, &contract.effects)?, before, after, ignore)
                };
                if !differences.is_empty() {
                    let check = self.classify(&scope, &differences);
                    out.push(Violation {
                        returned: Vec::new(),
                        check,
                        message: format!(
                            "{} called by {who} {}: {}",
                            contract.signature(),
                            if check == CheckId::OverRestriction {
                                "succeeded without its effect"
                            } else {
                                "had another effect than its contract"
                            },
                            list(&differences)
                        ),
                    });
                }
                if let Some(audit) = &contract.audit {
                    let org = scope.eval(&audit.organization)?;
                    let org = text(Some(&org));
                    let target = match &audit.target {
                        Some(e) => text(Some(&scope.eval(e)?)),
                        None => None,
                    };
                    // What makes a row evidence: who, in which organization, on which
                    // table (qualified or not) and, when the contract says, which row.
                    // The action's wording is the installation's, shown, judged only
                    // when the contract pins it.
                    let fits = |r: &&Row| {
                        (!audit.pin_action
                            || text(r.get("action")).as_deref() == Some(audit.action.as_str()))
                            && text(r.get("target_table"))
                                .is_some_and(|t| same_table(&t, &audit.table))
                            && text(r.get("organization_id")) == org
                            && text(r.get("actor_id")).as_deref() == scope.caller
                            && target.as_ref().is_none_or(|id| {
                                text(r.get("target_id")).is_some_and(|t| t.eq_ignore_ascii_case(id))
                            })
                    };
                    if !audit_rows.iter().any(fits) {
                        out.push(Violation {
                            returned: Vec::new(),
                            check: CheckId::AuditMissing,
                            message: format!(
                                "{} called by {who} must write an audit row (table {}{}, organization {}, actor the caller{}); it wrote {}",
                                contract.signature(),
                                audit.table,
                                if audit.pin_action { format!(", action {}", audit.action) } else { String::new() },
                                org.as_deref().unwrap_or("NULL"),
                                target.as_deref().map(|t| format!(", row {t}")).unwrap_or_default(),
                                if audit_rows.is_empty() {
                                    "none".to_string()
                                } else {
                                    audit_rows
                                        .iter()
                                        .map(|r| format!(
                                            "(table {}, action {}, organization {}, actor {})",
                                            text(r.get("target_table")).unwrap_or_default(),
                                            text(r.get("action")).unwrap_or_default(),
                                            text(r.get("organization_id")).unwrap_or_else(|| "NULL".into()),
                                            text(r.get("actor_id")).unwrap_or_else(|| "NULL".into())
                                        ))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                }
                            ),
                        });
                    }
                }
                if let Some(v) = self.leaks(contract, &scope, result)? {
                    out.push(v);
                }
            }
            // A refused call must have changed nothing: the savepoint rolled it back.
            (_, Outcome::Failed { .. }) | (Verdict::Precondition(_, Breach::Lenient), _) => {}
        }
        // Whatever the verdict, a read returns only what the caller may see.
        if verdict != Verdict::Allowed {
            if let Outcome::Returned(result) = outcome {
                let scope = Scope { result, ..*scope };
                if let Some(v) = self.leaks(contract, &scope, result)? {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// The finding a wrong effect calls for: a change to roles or the super-admin
    /// flag escalates; one in an organization the caller is not in crosses tenants;
    /// an effect that merely did not happen is over-restriction.
    fn classify(&self, scope: &Scope<'_>, differences: &[Difference]) -> CheckId {
        if differences.iter().all(|d| d.missing_effect) {
            return CheckId::OverRestriction;
        }
        let extra: Vec<&Difference> = differences.iter().filter(|d| !d.missing_effect).collect();
        if extra.iter().any(|d| {
            d.table.ends_with("memberships")
                && matches!(
                    d.column.as_deref(),
                    Some("is_super_admin" | "role_id") | None
                )
        }) {
            return CheckId::PrivilegeEscalation;
        }
        let foreign = extra.iter().any(|d| {
            let org = match d.table.as_str() {
                "core.organizations" | "core.organizations_meta" => Some(d.key.clone()),
                _ => scope
                    .state
                    .tables
                    .get(&d.table)
                    .and_then(|t| t.get(&d.key))
                    .and_then(|r| text(r.get("organization_id"))),
            };
            match (org, scope.caller) {
                (Some(o), Some(c)) => !scope.state.is_member(c, &o),
                _ => false,
            }
        });
        if foreign {
            CheckId::CrossTenantWrite
        } else {
            CheckId::UnauthorizedWrite
        }
    }

    /// A returned row the caller may not SELECT (and the contract does not allow).
    fn leaks(
        &self,
        contract: &Contract,
        scope: &Scope<'_>,
        result: &Value,
    ) -> Result<Option<Violation>, String> {
        let Some(returns) = &contract.returns else {
            return Ok(None);
        };
        let Some(table) = self.model.table(&returns.table) else {
            return Ok(None);
        };
        let Some(rows) = scope.state.truth.table(&returns.table) else {
            return Ok(None);
        };
        let derived;
        let oracle = match self.oracle {
            Some(o) if std::ptr::eq(o.truth, &scope.state.truth) => o,
            _ => {
                derived = Oracle::new(self.model, &scope.state.truth);
                &derived
            }
        };
        let actor = scope
            .caller
            .and_then(|c| uuid::Uuid::parse_str(c).ok())
            .map_or(Actor::Anonymous, Actor::User);
        let returned = super::eval::returned_rows(result)
            .iter()
            .filter_map(|i| text(i.get(&returns.column)))
            .collect::<Vec<String>>();
        for value in returned {
            let Some(row) = rows.find(&returns.column, &value).next() else {
                continue;
            };
            if let Some(allow) = &returns.allow {
                let with_row = Scope {
                    row: Some(row),
                    ..*scope
                };
                if with_row.holds(allow)? {
                    continue;
                }
            }
            if oracle.may_select(&actor, table, row) != Expect::Denied {
                continue;
            }
            let place = oracle.placement(&returns.table, &rows.key_of(row));
            let check = match (&actor, &place.organization) {
                (Actor::User(_), _) if !place.live => CheckId::SoftDeletedAccess,
                (Actor::User(u), Some(o)) if !oracle.is_member(&u.to_string(), o) => {
                    CheckId::CrossTenantRead
                }
                _ => CheckId::UnauthorizedRead,
            };
            return Ok(Some(Violation {
                check,
                returned: vec![returns.table.clone()],
                message: format!(
                    "{} returned {} row {value} to {}, who may not SELECT it",
                    contract.signature(),
                    returns.table,
                    scope
                        .caller
                        .map_or("an anonymous caller".to_string(), |c| format!("user {c}"))
                ),
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: an audit row naming `core.invitations` is evidence of a change to
    /// `invitations`, and the other way round.
    #[test]
    fn audit_tables_match_qualified_or_not() {
        assert!(same_table("core.invitations", "invitations"));
        assert!(same_table("invitations", "core.invitations"));
        assert!(same_table("\"core\".\"Invitations\"", "core.invitations"));
        assert!(!same_table("platform.invitations", "core.invitations"));
        assert!(!same_table("units", "invitations"));
    }
}
