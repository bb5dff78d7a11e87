//! Coverage: which objects each check examined, so that passing checks show too.
//!
//! A list of findings says what failed; a reviewer (and a CI test view) also needs
//! what was tried and passed. The isolation property does not report per check, so
//! its coverage is derived from the matrix it observed: a matrix cell means the judge
//! compared that actor's reach of that table with the rules, and the judge's verdict
//! on such a comparison can only be one of the checks listed here for it (the
//! classification in `checks/isolation/judge.rs`, `Judge::violation`). Other check
//! families add their own entries. Whatever a check reported on, it examined: findings
//! always count.

use std::collections::{BTreeMap, BTreeSet};

use super::MatrixEntry;
use crate::finding::{CheckId, Finding};

/// Check → objects it examined.
pub(crate) type Coverage = BTreeMap<CheckId, BTreeSet<String>>;

/// What the isolation property examined, from its matrix. `is_audit` and
/// `is_service_only` say which tables the rules mark as audit trails and which
/// belong to a service-only schema.
pub(crate) fn of_isolation(
    matrix: &[MatrixEntry],
    is_audit: impl Fn(&str) -> bool,
    is_service_only: impl Fn(&str) -> bool,
) -> Coverage {
    let mut coverage = Coverage::new();
    for entry in matrix {
        let write = entry.operation != "SELECT";
        let mut checks: Vec<CheckId> = Vec::new();
        match entry.actor.as_str() {
            // Anything an unauthenticated caller reaches is public-table-access.
            "anonymous" | "public" => checks.push(CheckId::PublicTableAccess),
            "user" if is_service_only(&entry.table) => checks.push(CheckId::PlatformExposed),
            actor => {
                let user = actor == "user";
                if is_audit(&entry.table) && write {
                    checks.push(if entry.operation.starts_with("INSERT") {
                        CheckId::AuditForgeable
                    } else {
                        CheckId::AuditMutable
                    });
                } else if write {
                    checks.push(CheckId::UnauthorizedWrite);
                    if user {
                        checks.extend([CheckId::CrossTenantWrite, CheckId::PrivilegeEscalation]);
                    }
                } else {
                    checks.push(CheckId::UnauthorizedRead);
                    if user {
                        checks.extend([CheckId::CrossTenantRead, CheckId::SoftDeletedAccess]);
                    }
                }
                // A refusal of what the rules allow is judged for every benign probe.
                checks.push(CheckId::OverRestriction);
            }
        }
        for check in checks {
            coverage
                .entry(check)
                .or_default()
                .insert(entry.table.clone());
        }
    }
    coverage
}

/// What the RPC contract check examined: every RPC it called, under each check its
/// judgement of a call can raise (`checks/contracts/judge.rs`). RPCs it never called
/// examined nothing and are left out.
pub(crate) fn of_contracts(coverage: &mut Coverage, calls: &[super::RpcCalls]) {
    for rpc in calls.iter().filter(|c| c.calls > 0) {
        let name = rpc.function.split('(').next().unwrap_or(&rpc.function);
        for check in [
            CheckId::UnauthorizedWrite,
            CheckId::CrossTenantWrite,
            CheckId::PrivilegeEscalation,
            CheckId::OverRestriction,
            CheckId::AuditMissing,
            CheckId::CrossTenantRead,
            CheckId::UnauthorizedRead,
        ] {
            coverage.entry(check).or_default().insert(name.to_string());
        }
    }
}

/// What the RPC matrix examined: every function it called, under each check its
/// judgement can raise (the contract's for a contracted function, the generic
/// oracle's — `checks/rpc.rs` — for the others and for the service role).
pub(crate) fn of_rpc_matrix(coverage: &mut Coverage, matrix: &super::RpcMatrix) {
    for row in &matrix.functions {
        let name = row.function.split('(').next().unwrap_or(&row.function);
        let mut checks = vec![
            CheckId::RpcCrossTenant,
            CheckId::PlatformExposed,
            CheckId::AuditMissing,
            CheckId::AuditForgeable,
        ];
        if row.contract {
            checks.extend([
                CheckId::UnauthorizedWrite,
                CheckId::CrossTenantWrite,
                CheckId::PrivilegeEscalation,
                CheckId::OverRestriction,
                CheckId::CrossTenantRead,
                CheckId::UnauthorizedRead,
                CheckId::SoftDeletedAccess,
            ]);
        }
        for check in checks {
            coverage.entry(check).or_default().insert(name.to_string());
        }
    }
}

/// Calls per RPC from two sources (the contract sequences and the RPC matrix) added
/// up: a path either of them exercised is covered. RPCs only one called are kept.
pub(crate) fn combined(a: &[super::RpcCalls], b: &[super::RpcCalls]) -> Vec<super::RpcCalls> {
    let mut all: BTreeMap<&str, super::RpcCalls> = BTreeMap::new();
    for c in a.iter().chain(b) {
        let entry = all
            .entry(c.function.as_str())
            .or_insert_with(|| super::RpcCalls {
                function: c.function.clone(),
                calls: 0,
                successes: 0,
                allowed: 0,
                forbidden: 0,
                overstepping: 0,
            });
        entry.calls += c.calls;
        entry.successes += c.successes;
        entry.allowed += c.allowed;
        entry.forbidden += c.forbidden;
        entry.overstepping += c.overstepping;
    }
    all.into_values().collect()
}

/// The contract check's per-RPC counts in the report's shape.
pub(crate) fn rpc_calls(
    counts: impl IntoIterator<Item = (String, crate::checks::contracts::CallCounts)>,
) -> Vec<super::RpcCalls> {
    counts
        .into_iter()
        .map(|(function, c)| super::RpcCalls {
            function,
            calls: c.calls,
            successes: c.successes,
            allowed: c.allowed,
            forbidden: c.forbidden,
            overstepping: c.overstepping,
        })
        .collect()
}

/// Functions without a contract that the RPC matrix never saw go through, or never saw
/// refused: their allowed (or refused) path was not exercised.
pub(crate) fn matrix_gaps(matrix: &super::RpcMatrix) -> Vec<String> {
    let mut gaps = Vec::new();
    for row in matrix.functions.iter().filter(|r| !r.contract) {
        let calls: u64 = row.cells.iter().map(|c| c.calls).sum();
        let through: u64 = row.cells.iter().map(|c| c.went_through).sum();
        if through == 0 {
            gaps.push(format!(
                "{}: called {calls} time(s) by the RPC matrix, never got through (no contract \
                 says what it needs), so its allowed path was never exercised",
                row.function
            ));
        } else if through == calls {
            gaps.push(format!(
                "{}: every one of the RPC matrix's {calls} call(s) got through, anonymous \
                 callers' included, so no refusal was ever exercised",
                row.function
            ));
        }
    }
    gaps
}

/// The run's exercised paths as the report lists them.
pub(crate) fn exercised(exercised: &crate::checks::isolation::Exercised) -> Vec<super::Exercised> {
    exercised
        .iter()
        .map(|((table, operation, kind), e)| super::Exercised {
            table: table.clone(),
            operation: operation.clone(),
            actor_kind: kind.clone(),
            allowed: e.allowed,
            refused: e.refused,
            reached: e.reached,
            stopped: e.stopped,
        })
        .collect()
}

/// The kinds of actor that are signed-in users (their standing in an organization).
const USER_KINDS: [&str; 5] = [
    "user",
    "outsider",
    "removed member",
    "member",
    "super admin",
];

/// Paths the run never exercised, in words: per table and write or read operation,
/// an outcome the rules can give (`possible`: can allow, can refuse; `None` for
/// tables users never reach) that no user probe met; per RPC, never called, never
/// called as its contract allows, or (when its contract can refuse) never as it
/// refuses.
pub(crate) fn gaps(
    exercised: &[super::Exercised],
    rpc_calls: &[super::RpcCalls],
    refusable: &BTreeSet<String>,
    possible: impl Fn(&str, &str) -> Option<(bool, bool)>,
) -> Vec<String> {
    let mut seen: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for e in exercised
        .iter()
        .filter(|e| USER_KINDS.contains(&e.actor_kind.as_str()))
    {
        let cell = seen.entry((&e.table, &e.operation)).or_default();
        cell.0 += e.allowed;
        cell.1 += e.refused;
    }
    let tables: BTreeSet<&str> = exercised.iter().map(|e| e.table.as_str()).collect();
    let mut gaps = Vec::new();
    for table in tables {
        for operation in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
            let Some((can_allow, can_refuse)) = possible(table, operation) else {
                continue;
            };
            let (allowed, refused) = seen.get(&(table, operation)).copied().unwrap_or_default();
            if can_allow && allowed == 0 {
                gaps.push(format!(
                    "{operation} on {table}: no user probe was one the rules allow, so the allowed \
                     path was never exercised"
                ));
            }
            if can_refuse && refused == 0 {
                gaps.push(format!(
                    "{operation} on {table}: no user probe was one the rules refuse, so the refused \
                     path was never exercised"
                ));
            }
        }
    }
    for rpc in rpc_calls {
        if rpc.calls == 0 {
            gaps.push(format!("{}: never called", rpc.function));
            continue;
        }
        if rpc.allowed == 0 {
            gaps.push(format!(
                "{}: called {} time(s), never as its contract allows, so its allowed path \
                 was never exercised",
                rpc.function, rpc.calls
            ));
        }
        if rpc.forbidden == 0 && refusable.contains(&rpc.function) {
            gaps.push(format!(
                "{}: called {} time(s), never as its contract refuses, so its refusals were \
                 never exercised",
                rpc.function, rpc.calls
            ));
        }
    }
    gaps
}

/// Adds every (check, object) a finding names: a check examined what it reported on.
pub(crate) fn include_findings(coverage: &mut Coverage, findings: &[Finding]) {
    for f in findings {
        coverage
            .entry(f.check)
            .or_default()
            .insert(f.object.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(actor: &str, table: &str, operation: &str) -> MatrixEntry {
        MatrixEntry {
            actor: actor.into(),
            table: table.into(),
            operation: operation.into(),
            expected: "none".into(),
            observed: "none".into(),
            mismatches: 0,
            observations: 1,
        }
    }

    #[test]
    fn matrix_cells_cover_the_checks_their_judgement_can_raise() {
        let matrix = [
            cell("user", "core.units", "SELECT"),
            cell("user", "core.units", "UPDATE"),
            cell("user", "core.audit_logs", "DELETE"),
            cell("user", "platform.settings", "SELECT"),
            cell("anonymous", "core.units", "SELECT"),
            cell("service", "core.audit_logs", "UPDATE"),
        ];
        let coverage = of_isolation(
            &matrix,
            |t| t == "core.audit_logs",
            |t| t.starts_with("platform."),
        );
        let objects = |check: CheckId| -> Vec<&str> {
            coverage
                .get(&check)
                .map(|s| s.iter().map(String::as_str).collect())
                .unwrap_or_default()
        };
        assert_eq!(objects(CheckId::CrossTenantRead), ["core.units"]);
        assert_eq!(objects(CheckId::CrossTenantWrite), ["core.units"]);
        assert_eq!(objects(CheckId::PublicTableAccess), ["core.units"]);
        assert_eq!(objects(CheckId::PlatformExposed), ["platform.settings"]);
        assert_eq!(objects(CheckId::AuditMutable), ["core.audit_logs"]);
        assert_eq!(
            objects(CheckId::OverRestriction),
            ["core.audit_logs", "core.units"]
        );
        assert!(objects(CheckId::AuditForgeable).is_empty());
        assert!(objects(CheckId::RlsDisabled).is_empty());
    }

    #[test]
    fn paths_never_exercised_are_gaps() {
        let seen =
            |table: &str, operation: &str, kind: &str, allowed, refused| super::super::Exercised {
                table: table.into(),
                operation: operation.into(),
                actor_kind: kind.into(),
                allowed,
                refused,
                reached: allowed,
                stopped: refused,
            };
        let exercised = [
            seen("core.units", "SELECT", "member", 4, 0),
            seen("core.units", "SELECT", "outsider", 0, 3),
            seen("core.units", "UPDATE", "member", 2, 0),
            // Not a user: does not count for users' paths.
            seen("core.units", "INSERT", "anonymous", 0, 5),
        ];
        let rpc = |function: &str, calls, allowed, forbidden| super::super::RpcCalls {
            function: function.into(),
            calls,
            successes: allowed,
            allowed,
            forbidden,
            overstepping: forbidden,
        };
        let calls = [
            rpc("public.a()", 0, 0, 0),
            rpc("public.b()", 3, 0, 3),
            rpc("public.c()", 3, 3, 0),
            rpc("public.open()", 3, 3, 0),
        ];
        let refusable: BTreeSet<String> = ["public.a()", "public.b()", "public.c()"]
            .map(String::from)
            .into();
        let gaps = gaps(&exercised, &calls, &refusable, |_, operation| {
            // DELETE is `never`: it can only be refused.
            Some(if operation == "DELETE" {
                (false, true)
            } else {
                (true, true)
            })
        });
        let starts: Vec<&str> = gaps.iter().map(|g| g.split(':').next().unwrap()).collect();
        assert_eq!(
            starts,
            [
                "INSERT on core.units",
                "INSERT on core.units",
                "UPDATE on core.units",
                "DELETE on core.units",
                "public.a()",
                "public.b()",
                "public.c()",
            ],
            "{gaps:#?}"
        );
        assert!(gaps[2].contains("refused path"), "{}", gaps[2]);
    }

    #[test]
    fn findings_always_count_as_covered() {
        let mut coverage = Coverage::new();
        let finding = Finding::new(CheckId::DefinerSearchPath, "public.f", "EXECUTE");
        include_findings(&mut coverage, &[finding]);
        assert!(coverage[&CheckId::DefinerSearchPath].contains("public.f"));
    }
}
