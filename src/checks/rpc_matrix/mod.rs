//! The RPC authorization matrix: every callable `public` function × every kind of
//! caller × every argument aim, called once per run on the fixture world.
//!
//! Random call sequences reach "a plain member calls an admin RPC on a real target"
//! only sometimes, and the property cases' sweep passes one harmless value to every
//! text argument; a security check must not depend on luck. So before anything is
//! generated, each function is called deterministically by each kind of caller
//! relative to one target organization (anonymous, outsider, plain member, unit
//! member, its super admin, another organization's super admin, a removed member, the
//! service role), with its arguments aimed at the target's rows, another
//! organization's, the caller's own, soft-deleted ones, NULL, its defaults left out,
//! and every text argument at NULL, `''`, `'%'` and a value matching nothing (`plan`).
//!
//! All calls run in one transaction on the fixture world extended for the purpose
//! (`World::rpc_matrix`), each in its own rolled-back subtransaction, in one round
//! trip (`checks::runner`). A call is judged by the RPC's contract
//! (`fixtures/access/rpc.toml`) when it has one — except the service role's, which no
//! contract speaks of — and otherwise by the generic leak, write and audit oracle of
//! the sweep (`checks::rpc::RpcJudge`). The result is a function × kind-of-caller
//! grid for the reports, each cell allowed, refused or defect, with the findings in
//! the normal report assembly.

pub(crate) mod plan;

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;
use sqlx::PgConnection;

use crate::access::contracts::{Contract, Contracts};
use crate::access::oracle::Oracle;
use crate::access::AccessModel;
use crate::catalog::{Catalog, Function};
use crate::checks::contracts::calls::{call_sql, call_sql_with, literal};
use crate::checks::contracts::eval::Scope;
use crate::checks::contracts::judge::{Judge, Outcome as CallOutcome, Verdict};
use crate::checks::contracts::state::State;
use crate::checks::contracts::{CallCounts, Counts};
use crate::checks::rpc::RpcJudge;
use crate::checks::runner::{self, Mode, Outcome, RunAs, Statement};
use crate::error::Error;
use crate::finding::Finding;
use crate::flavor::Flavor;
use crate::report::{RpcMatrix, RpcMatrixCell, RpcMatrixRow, RpcOutcome};
use crate::world::model::World;
use plan::{Aim, Cast, Input, Picker, Slot};

/// What the matrix found and saw.
#[derive(Debug)]
pub(crate) struct MatrixOutcome {
    pub(crate) findings: Vec<Finding>,
    pub(crate) matrix: RpcMatrix,
    pub(crate) notes: Vec<String>,
}

/// `public.name(type, …)`, as contracts and reports name a function.
pub(crate) fn signature(function: &Function) -> String {
    format!(
        "{}.{}({})",
        function.schema,
        function.name,
        function.input_types.join(", ")
    )
}

/// The functions the matrix calls: plain functions of `public` that some caller's
/// roles may execute (trigger functions cannot be called).
fn functions<'a>(catalog: &'a Catalog, roles: &[Vec<String>]) -> Vec<&'a Function> {
    catalog
        .functions
        .iter()
        .filter(|f| f.schema == "public" && f.kind == "f")
        .filter(|f| !matches!(f.result.as_deref(), Some("trigger" | "event_trigger")))
        .filter(|f| roles.iter().any(|r| f.executable_by(r)))
        .collect()
}

/// One planned call.
struct Planned<'a> {
    caller: usize,
    function: &'a Function,
    contract: Option<&'a Contract>,
    inputs: &'a [Input],
    aim: Aim,
    values: Vec<Option<Value>>,
    executable: bool,
    sql: String,
}

/// Whether a returned value carries anything (a row, a value): `null`, `[]`, `{}`,
/// `''` and `false` do not.
fn answered(output: Option<&str>) -> bool {
    let Some(text) = output.filter(|t| !t.is_empty()) else {
        return false;
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) | Ok(Value::Bool(false)) => false,
        Ok(Value::Array(a)) => !a.is_empty(),
        Ok(Value::Object(o)) => !o.is_empty(),
        Ok(Value::String(s)) => !s.is_empty(),
        _ => true,
    }
}

/// Runs the matrix on `database`'s connection in a transaction of its own, rolled
/// back whatever happens.
pub(crate) async fn check(
    conn: &mut PgConnection,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    contracts: &Contracts,
) -> Result<MatrixOutcome, Error> {
    sqlx::raw_sql("BEGIN")
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::database("begin the RPC matrix", e))?;
    let result = in_transaction(conn, flavor, catalog, model, contracts).await;
    let rollback = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    let result = result?;
    rollback.map_err(|e| Error::database("roll back the RPC matrix", e))?;
    Ok(result)
}

async fn in_transaction(
    conn: &mut PgConnection,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
    contracts: &Contracts,
) -> Result<MatrixOutcome, Error> {
    let started = Instant::now();
    let world = World::rpc_matrix(crate::world::seed::generic_tables(model).len());
    let seeded = crate::world::seed(conn, catalog, model, &world).await?;
    let oracle = Oracle::new(model, &seeded.truth);
    let mut empty = MatrixOutcome {
        findings: Vec::new(),
        matrix: RpcMatrix::default(),
        notes: Vec::new(),
    };
    let Some(cast) = Cast::find(&oracle) else {
        empty.notes.push(
            "RPC matrix: no live organization with a super admin once the fixture world was \
             seeded into this schema, so no RPC was called (SMTA_VERIFY_LOG=smta_verify=debug \
             shows the rows the schema refused)"
                .into(),
        );
        return Ok(empty);
    };
    let roles: Vec<Vec<String>> = cast
        .callers
        .iter()
        .map(|c| catalog.roles_of(flavor.role(&c.actor)))
        .collect();
    let (bound, _) = contracts.bind(catalog);
    let contract_of = |f: &Function| {
        bound
            .iter()
            .find(|(_, g)| std::ptr::eq(*g, f))
            .map(|(c, _)| *c)
    };
    let tables: Vec<String> = model.tables.keys().cloned().collect();
    let picker = Picker {
        oracle: &oracle,
        model,
        cast: &cast,
        tables: &tables,
    };
    let functions = functions(catalog, &roles);
    // Each function's inputs and what they stand for.
    let shapes: Vec<Vec<Input>> = functions
        .iter()
        .map(|f| {
            let contract = contract_of(f);
            plan::inputs(f)
                .into_iter()
                .enumerate()
                .map(|(i, (name, sql_type))| {
                    let slot = contract
                        .and_then(|c| c.args.get(i))
                        .map(|a| Slot::of_domain(a.domain))
                        .unwrap_or_else(|| Slot::guess(&f.name, &name, &sql_type, &tables));
                    Input {
                        name,
                        sql_type,
                        slot,
                    }
                })
                .collect()
        })
        .collect();

    let mut planned: Vec<Planned> = Vec::new();
    for (f, function) in functions.iter().enumerate() {
        let inputs = &shapes[f];
        let named = inputs.iter().all(|i| !i.name.is_empty());
        let defaults = usize::try_from(function.input_defaults).unwrap_or(0);
        for (c, caller) in cast.callers.iter().enumerate() {
            let executable = function.executable_by(&roles[c]);
            let user = caller.user();
            let mut calls = Vec::new();
            for aim in plan::aims(caller.kind, inputs, defaults, executable) {
                let values = picker.arguments(inputs, defaults, aim, user.as_deref());
                let literals: Vec<(String, String)> = inputs
                    .iter()
                    .zip(&values)
                    .filter_map(|(input, v)| {
                        v.as_ref()
                            .map(|v| (input.name.clone(), literal(v, &input.sql_type)))
                    })
                    .collect();
                let sql = if named {
                    call_sql(function, &literals)
                } else {
                    positional_call_sql(function, &literals)
                };
                calls.push((sql, (aim, values)));
            }
            for (sql, (aim, values)) in plan::distinct(calls) {
                planned.push(Planned {
                    caller: c,
                    function,
                    contract: contract_of(function),
                    inputs,
                    aim,
                    values,
                    executable,
                    sql,
                });
            }
        }
    }

    let statements: Vec<Statement> = planned
        .iter()
        .map(|p| Statement {
            actor: p.caller,
            sql: &p.sql,
            mode: Mode::Query,
            watch_writes: true,
            diff: true,
        })
        .collect();
    let run_as: Vec<RunAs> = cast
        .callers
        .iter()
        .map(|c| RunAs::Actor(c.actor.clone()))
        .collect();
    let watched: Vec<&String> = model.tables.keys().collect();
    let planned_at = started.elapsed();
    let outcomes = runner::run(conn, flavor, &run_as, &watched, &statements).await?;
    let ran_at = started.elapsed();

    // Judging.
    let before = State::new(seeded.truth.clone(), contracts, None);
    let before_oracle = Oracle::new(model, &before.truth);
    let judge = Judge {
        contracts,
        model,
        oracle: Some(&before_oracle),
    };
    let generic = RpcJudge::new(model, &oracle);
    let mut findings: Vec<Finding> = Vec::new();
    let mut counts = Counts::new();
    // (function, caller) → cell.
    let mut cells: BTreeMap<(String, usize), RpcMatrixCell> = BTreeMap::new();
    for (p, outcome) in planned.iter().zip(&outcomes) {
        let caller = &cast.callers[p.caller];
        let function_signature = signature(p.function);
        let names: Vec<String> = p.inputs.iter().map(|i| i.name.clone()).collect();
        let aim = p.aim.label(&names);
        let went_through = !outcome.failed()
            && (!outcome.changed.is_empty() || answered(outcome.output.as_deref()));
        // The contract judges users' and anonymous calls; the service role, functions
        // without a contract, and calls whose omitted default the contract cannot
        // know go to the generic oracle.
        let args = p
            .contract
            .filter(|_| caller.kind != plan::CallerKind::Service)
            .and_then(|c| Some((c, contract_args(c, p.function, &p.values)?)));
        let mut expected = None;
        let problems: Vec<(Finding, Vec<String>)> = match args {
            None => generic_problems(&generic, caller, p, outcome),
            Some((contract, args)) => {
                let user = caller.user();
                let scope = Scope {
                    state: &before,
                    args: &args,
                    caller: user.as_deref(),
                    result: &Value::Null,
                    lets: &contract.lets,
                    row: None,
                };
                let verdict = judge.verdict(contract, &scope);
                let allowed = p.executable && matches!(verdict, Ok(Verdict::Allowed));
                // Refused for who the caller is, on arguments an allowed caller may
                // pass: the call that tests the function's own authorization.
                let overstepping = matches!(verdict, Ok(Verdict::CallerDenied(_)))
                    && contract
                        .requires
                        .iter()
                        .all(|(c, _)| scope.holds(c).unwrap_or(false));
                counts
                    .entry(contract.signature())
                    .or_default()
                    .add(CallCounts {
                        calls: 1,
                        successes: u64::from(!outcome.failed()),
                        allowed: u64::from(allowed),
                        forbidden: u64::from(!allowed),
                        overstepping: u64::from(overstepping),
                    });
                expected = Some(allowed);
                let result = match outcome.sqlstate.as_ref() {
                    None => CallOutcome::Returned(
                        outcome
                            .output
                            .as_deref()
                            .and_then(|t| serde_json::from_str(t).ok())
                            .unwrap_or(Value::Null),
                    ),
                    Some(state) => CallOutcome::Failed {
                        sqlstate: state.clone(),
                        message: outcome.error.clone().unwrap_or_default(),
                    },
                };
                let changed_state;
                let after = if outcome.changed.is_empty() {
                    &before
                } else {
                    let mut truth = seeded.truth.clone();
                    for (table, rows) in &outcome.changed {
                        truth.replace(table, rows.clone());
                    }
                    changed_state = State::new(truth, contracts, Some(&before));
                    &changed_state
                };
                judge
                    .judge(contract, &scope, &result, after, p.executable)
                    .map_err(|e| {
                        Error::Internal(format!("the RPC contract of {}: {e}", contract.name))
                    })?
                    .into_iter()
                    .map(|v| {
                        let finding = Finding::new(v.check, p.function.typed_name(), "EXECUTE")
                            .message(format!(
                                "{} (RPC matrix: {}, {aim})",
                                v.message,
                                caller.kind.label()
                            ));
                        (finding, v.returned)
                    })
                    .collect()
            }
        };
        let problems: Vec<(Finding, Vec<String>)> = problems
            .into_iter()
            .map(|(f, returned)| {
                let f = f
                    .actor(&caller.actor)
                    .actor_kind(caller.kind.label())
                    .reproduction(crate::checks::reproduction(
                        flavor,
                        &seeded.sql,
                        &caller.actor.to_string(),
                        &flavor.become_sql(&caller.actor),
                        &p.sql,
                        &format!(
                            "The RPC matrix's call as {} with {aim}.",
                            caller.kind.label()
                        ),
                    ));
                (
                    crate::checks::cause::returned(f, catalog, p.function, &returned),
                    returned,
                )
            })
            .collect();
        push_cell(
            &mut cells,
            &function_signature,
            p,
            caller,
            went_through,
            expected,
            &problems,
        );
        findings.extend(problems.into_iter().map(|(f, _)| f));
    }

    tracing::debug!(
        seed_and_plan = ?planned_at,
        calls = ?(ran_at - planned_at),
        judge = ?(started.elapsed() - ran_at),
        "RPC matrix"
    );
    let callers: Vec<String> = cast
        .callers
        .iter()
        .map(|c| c.kind.label().to_string())
        .collect();
    let mut rows: Vec<RpcMatrixRow> = functions
        .iter()
        .map(|f| {
            let name = signature(f);
            RpcMatrixRow {
                cells: (0..cast.callers.len())
                    .filter_map(|c| cells.remove(&(name.clone(), c)))
                    .collect(),
                contract: contract_of(f).is_some(),
                security_definer: f.security_definer,
                function: name,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.function.cmp(&b.function));
    let mut notes = cast.notes();
    notes.extend(unreachable_notes(&rows));
    Ok(MatrixOutcome {
        findings,
        matrix: RpcMatrix {
            target: cast.target.clone(),
            callers,
            calls: planned.len() as u64,
            duration_ms: started.elapsed().as_millis() as u64,
            functions: rows,
            counts: crate::report::coverage::rpc_calls(counts),
        },
        notes,
    })
}

/// The findings the generic oracle makes of one call.
fn generic_problems(
    judge: &RpcJudge<'_>,
    caller: &plan::Caller,
    p: &Planned<'_>,
    outcome: &Outcome,
) -> Vec<(Finding, Vec<String>)> {
    let names: Vec<String> = p.inputs.iter().map(|i| i.name.clone()).collect();
    let aim = p.aim.label(&names);
    judge
        .judge(&caller.actor, p.function, &p.sql, outcome)
        .into_iter()
        .map(|(check, severity, message, returned)| {
            (
                Finding::new(check, p.function.typed_name(), "EXECUTE")
                    .severity(severity)
                    .message(format!(
                        "{message} (RPC matrix: {}, {aim})",
                        caller.kind.label()
                    )),
                returned,
            )
        })
        .collect()
}

/// Adds one call to its cell.
fn push_cell(
    cells: &mut BTreeMap<(String, usize), RpcMatrixCell>,
    function: &str,
    p: &Planned<'_>,
    caller: &plan::Caller,
    went_through: bool,
    expected: Option<bool>,
    problems: &[(Finding, Vec<String>)],
) {
    let cell = cells
        .entry((function.to_string(), p.caller))
        .or_insert_with(|| RpcMatrixCell {
            caller: caller.kind.label().to_string(),
            outcome: RpcOutcome::Refused,
            expected: None,
            calls: 0,
            went_through: 0,
            findings: Vec::new(),
        });
    cell.calls += 1;
    cell.went_through += u64::from(went_through);
    if let Some(allowed) = expected {
        cell.expected = Some(match (cell.expected, allowed) {
            (Some(RpcOutcome::Allowed), _) | (_, true) => RpcOutcome::Allowed,
            _ => RpcOutcome::Refused,
        });
    }
    for (f, _) in problems {
        let signature = f.signature();
        if !cell.findings.contains(&signature) {
            cell.findings.push(signature);
        }
    }
    // A contract decides what the cell means: the judge has checked that each call
    // it allows went through with its effects and that each other one changed
    // nothing and returned nothing the caller may not read, or there is a finding.
    // Without one, what the calls did decides.
    cell.outcome = match cell.expected {
        _ if !cell.findings.is_empty() => RpcOutcome::Defect,
        Some(expected) => expected,
        None if cell.went_through > 0 => RpcOutcome::Allowed,
        None => RpcOutcome::Refused,
    };
}

/// The contract's arguments of a call; `None` when an omitted argument's default is
/// not a plain NULL (the contract cannot know what the function used).
fn contract_args(
    contract: &Contract,
    function: &Function,
    values: &[Option<Value>],
) -> Option<BTreeMap<String, Value>> {
    let nulls = plan::null_defaults(function);
    let mut args = BTreeMap::new();
    for (i, arg) in contract.args.iter().enumerate() {
        let value = match values.get(i).cloned().flatten() {
            Some(v) => v,
            None if nulls.get(i).copied().flatten() == Some(true) => Value::Null,
            None => return None,
        };
        args.insert(arg.name.clone(), value);
    }
    Some(args)
}

/// `schema.f(literal, …)` for a function whose arguments have no names.
fn positional_call_sql(function: &Function, literals: &[(String, String)]) -> String {
    let args: Vec<&str> = literals.iter().map(|(_, l)| l.as_str()).collect();
    call_sql_with(function, &args.join(", "))
}

/// Functions no caller could get through, whatever the aim: what the dictionary
/// cannot reach, said per function.
fn unreachable_notes(rows: &[RpcMatrixRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| {
            r.cells
                .iter()
                .all(|c| c.outcome == RpcOutcome::Refused && c.went_through == 0)
        })
        .map(|r| {
            format!(
                "RPC matrix: no caller got through {} with any argument aim ({} calls), so its \
                 allowed path was not exercised by the matrix: its arguments need values the \
                 fixture world and the dictionary do not offer",
                r.function,
                r.cells.iter().map(|c| c.calls).sum::<u64>()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_answered_when_it_returned_something() {
        assert!(!answered(None));
        assert!(!answered(Some("")));
        assert!(!answered(Some("null")));
        assert!(!answered(Some("[]")));
        assert!(!answered(Some("false")));
        assert!(answered(Some("[{\"id\": 1}]")));
        assert!(answered(Some("\"bbbb0000-0000-4000-8000-000000000001\"")));
        assert!(answered(Some("0")));
    }
}
