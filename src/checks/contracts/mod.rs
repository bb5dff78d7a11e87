//! RPC contracts: generated sequences of `public` calls, each compared with what its
//! contract (`fixtures/access/rpc.toml`) says it must do.
//!
//! Clients reach SMTA only through these functions, so most real defects live in them,
//! and only a model of what each is *for* can see them: a DEFINER function that forgets
//! to check its caller, an INVOKER soft delete that row security makes impossible, a
//! membership given to a user of another organization. A case is a generated world and
//! a sequence of calls by random actors, run in one transaction (rolled back at the
//! end) with a savepoint per call; after every call the ground truth is read back and
//! judged against the state before it (`judge`). Calls persist their effects, so later
//! calls meet the world earlier ones made (a removed member, an accepted invitation).

pub(crate) mod calls;
mod effects;
pub(crate) mod eval;
pub(crate) mod judge;
pub(crate) mod property;
pub(crate) mod state;

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::{PgConnection, Row as _};

use crate::access::contracts::Breach;
use crate::access::contracts::{Contract, Contracts};
use crate::access::AccessModel;
use crate::catalog::{Catalog, Function};
use crate::error::Error;
use crate::finding::{CheckId, Finding};
use crate::flavor::{Actor, Flavor};
use crate::world::model::World;
use crate::world::truth::Truth;
pub(crate) use calls::Call;
use calls::{call_sql, resolve, Aim};
use eval::Scope;
use judge::{Judge, Outcome, Verdict};
use state::State;

/// How one RPC was called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallCounts {
    pub(crate) calls: u64,
    /// Calls that returned (did not raise).
    pub(crate) successes: u64,
    /// Calls the contract allows (caller and preconditions hold).
    pub(crate) allowed: u64,
    /// Calls the contract refuses.
    pub(crate) forbidden: u64,
    /// Of those, calls by a caller the contract refuses on arguments it would accept
    /// from an allowed caller: what tests the function's own authorization.
    pub(crate) overstepping: u64,
}

impl CallCounts {
    pub(crate) fn add(&mut self, other: CallCounts) {
        self.calls += other.calls;
        self.successes += other.successes;
        self.allowed += other.allowed;
        self.forbidden += other.forbidden;
        self.overstepping += other.overstepping;
    }
}

/// Calls per RPC (by signature).
pub(crate) type Counts = BTreeMap<String, CallCounts>;

/// What stays fixed across the sequences of a run.
pub(crate) struct Environment<'a> {
    pub(crate) flavor: Flavor,
    pub(crate) catalog: &'a Catalog,
    pub(crate) model: &'a AccessModel,
    pub(crate) contracts: &'a Contracts,
    /// The contracts the database has a function for.
    pub(crate) bound: Vec<(&'a Contract, &'a Function)>,
}

/// The outcome of one sequence.
#[derive(Debug, Default)]
pub(crate) struct SequenceResult {
    pub(crate) findings: Vec<Finding>,
    pub(crate) counts: Counts,
}

/// One call as the replay script shows it.
struct Replayed {
    actor: Actor,
    /// `public.f(p_a => …)`, ids made earlier in the sequence as psql variables.
    call: String,
    returns_set: bool,
    /// psql variable prefix the call's single result row is stored under, if any.
    gset: Option<String>,
}

impl Environment<'_> {
    /// Identity settings of every kind the flavour uses, each cleared unless `actor`
    /// sets it: the transaction keeps settings across calls, a caller must not
    /// inherit the previous one's identity.
    fn become_sql(&self, actor: &Actor) -> String {
        let mine = self.flavor.identity_settings(actor);
        let all = self
            .flavor
            .identity_settings(&Actor::User(uuid::Uuid::nil()));
        let mut settings: Vec<String> = all
            .iter()
            .map(|(k, _)| {
                let v = mine
                    .iter()
                    .find(|(m, _)| m == k)
                    .map_or(String::new(), |(_, v)| v.clone());
                format!(
                    "set_config({}, {}, true)",
                    crate::sql::quote_literal(k),
                    crate::sql::quote_literal(&v)
                )
            })
            .collect();
        for (k, v) in &mine {
            if !all.iter().any(|(a, _)| a == k) {
                settings.push(format!(
                    "set_config({}, {}, true)",
                    crate::sql::quote_literal(k),
                    crate::sql::quote_literal(v)
                ));
            }
        }
        let mut sql = format!("SET LOCAL ROLE {};", self.flavor.role(actor));
        if !settings.is_empty() {
            sql.push_str(&format!(" SELECT {};", settings.join(", ")));
        }
        sql
    }

    async fn read_state(&self, conn: &mut PgConnection, previous: &State) -> Result<State, Error> {
        let row = sqlx::query(&Truth::query(self.model))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::database("read the state after a call", e))?;
        let json: String = row
            .try_get("truth")
            .map_err(|e| Error::database("read the state after a call", e))?;
        Ok(State::new(
            Truth::from_json(&json, self.model),
            self.contracts,
            Some(previous),
        ))
    }

    /// Makes one call as `actor` under a savepoint, keeping its effects when it
    /// succeeds; returns what it did.
    async fn call(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        sql: &str,
    ) -> Result<Outcome, Error> {
        let batch = format!("SAVEPOINT smta_call; {} {sql}", self.become_sql(actor));
        let result = sqlx::raw_sql(&batch).fetch_all(&mut *conn).await;
        let (outcome, finish) = match result {
            Ok(rows) => {
                let text: Option<String> = rows.last().and_then(|r| r.try_get(0).ok());
                let value = text
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null);
                (
                    Outcome::Returned(value),
                    "RESET ROLE; RELEASE SAVEPOINT smta_call;",
                )
            }
            Err(e) => {
                let (sqlstate, message) = match e.as_database_error() {
                    Some(db) => (
                        db.code().map(|c| c.to_string()).unwrap_or_default(),
                        db.message().to_string(),
                    ),
                    None => return Err(Error::database("make an RPC call", e)),
                };
                (
                    Outcome::Failed { sqlstate, message },
                    "ROLLBACK TO SAVEPOINT smta_call; RELEASE SAVEPOINT smta_call; RESET ROLE;",
                )
            }
        };
        sqlx::raw_sql(finish)
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::database("end an RPC call", e))?;
        Ok(outcome)
    }

    /// Runs one sequence on `world` in its own transaction, rolled back whatever
    /// happens.
    pub(crate) async fn run_sequence(
        &self,
        conn: &mut PgConnection,
        world: &World,
        sequence: &[Call],
    ) -> Result<SequenceResult, Error> {
        sqlx::raw_sql("BEGIN")
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::database("begin a sequence", e))?;
        let result = self.sequence_in_transaction(conn, world, sequence).await;
        let rollback = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        let result = result?;
        rollback.map_err(|e| Error::database("roll back a sequence", e))?;
        Ok(result)
    }

    async fn sequence_in_transaction(
        &self,
        conn: &mut PgConnection,
        world: &World,
        sequence: &[Call],
    ) -> Result<SequenceResult, Error> {
        let mut out = SequenceResult::default();
        if self.bound.is_empty() {
            return Ok(out);
        }
        let seeded = crate::world::seed(conn, self.catalog, self.model, world).await?;
        let mut state = State::new(seeded.truth, self.contracts, None);
        let judge = Judge {
            contracts: self.contracts,
            model: self.model,
            oracle: None,
        };
        let mut replay: Vec<Replayed> = Vec::new();
        // Values earlier calls returned, by the psql variable that holds them.
        let mut returned: Vec<(String, String)> = Vec::new();
        for (n, call) in sequence.iter().enumerate() {
            let (contract, function) = self.bound[call.rpc % self.bound.len()];
            let resolved = resolve(&state, contract, call, |r| {
                let caller = resolved_caller(&r.actor);
                let scope = Scope {
                    state: &state,
                    args: &r.args,
                    caller: caller.as_deref(),
                    result: &Value::Null,
                    lets: &contract.lets,
                    row: None,
                };
                let otherwise_allowed = || {
                    contract
                        .requires
                        .iter()
                        .all(|(c, _)| scope.holds(c).unwrap_or(false))
                };
                match judge.verdict(contract, &scope) {
                    Ok(Verdict::Allowed) => Aim::Allowed,
                    Ok(Verdict::Precondition(_, Breach::Check(_))) => Aim::Breach,
                    Ok(Verdict::CallerDenied(CheckId::PrivilegeEscalation))
                        if otherwise_allowed() =>
                    {
                        Aim::Overstep
                    }
                    Ok(Verdict::CallerDenied(_)) if otherwise_allowed() => Aim::Intrude,
                    _ => Aim::Free,
                }
            });
            let sql = call_sql(function, &resolved.literals);
            let outcome = self.call(conn, &resolved.actor, &sql).await?;
            let after = self.read_state(conn, &state).await?;
            let caller = resolved_caller(&resolved.actor);
            let scope = Scope {
                state: &state,
                args: &resolved.args,
                caller: caller.as_deref(),
                result: &Value::Null,
                lets: &contract.lets,
                row: None,
            };
            let verdict = judge.verdict(contract, &scope);
            // A caller the contract refuses, on arguments it would otherwise accept:
            // the call that tests the function's own authorization.
            let overstepping = matches!(verdict, Ok(Verdict::CallerDenied(_)))
                && contract
                    .requires
                    .iter()
                    .all(|(c, _)| scope.holds(c).unwrap_or(false));
            let counts = out.counts.entry(contract.signature()).or_default();
            counts.calls += 1;
            if matches!(verdict, Ok(Verdict::Allowed)) {
                counts.allowed += 1;
            } else {
                counts.forbidden += 1;
            }
            if overstepping {
                counts.overstepping += 1;
            }
            // Replay with psql variables standing for ids made earlier in the sequence.
            let mut replay_call = format!(
                "{}({})",
                function.qualified(),
                resolved
                    .literals
                    .iter()
                    .map(|(n, l)| format!("{} => {l}", crate::sql::quote_ident(n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (value, var) in &returned {
                replay_call =
                    replay_call.replace(&crate::sql::quote_literal(value), &format!(":'{var}'"));
            }
            let mut gset = None;
            if let Outcome::Returned(result) = &outcome {
                counts.successes += 1;
                let row = match result {
                    Value::Array(rows) if rows.len() == 1 => Some(rows[0].clone()),
                    Value::String(_) => Some(serde_json::json!({ "v": result })),
                    _ => None,
                };
                if let Some(Value::Object(fields)) = row {
                    let prefix = format!("c{}_", n + 1);
                    for (column, v) in fields {
                        if let Value::String(s) = v {
                            if s.len() >= 16 {
                                returned.push((s, format!("{prefix}{column}")));
                            }
                        }
                    }
                    gset = Some(prefix);
                }
            }
            replay.push(Replayed {
                actor: resolved.actor.clone(),
                call: replay_call,
                returns_set: function.returns_set,
                gset,
            });
            tracing::debug!(
                call = %sql,
                actor = %resolved.actor,
                aim = ?call.aim,
                verdict = ?judge.verdict(contract, &scope),
                outcome = ?outcome,
                "RPC contract call"
            );
            let executable =
                function.executable_by(&self.catalog.roles_of(self.flavor.role(&resolved.actor)));
            let violations = judge
                .judge(contract, &scope, &outcome, &after, executable)
                .map_err(|e| {
                    Error::Internal(format!("the RPC contract of {}: {e}", contract.name))
                })?;
            let kind = caller_kind(&state, &resolved);
            for v in violations {
                let finding = Finding::new(v.check, function.typed_name(), "EXECUTE")
                    .actor(&resolved.actor)
                    .actor_kind(&kind)
                    .message(format!(
                        "{} (call {} of {})",
                        v.message,
                        n + 1,
                        sequence.len()
                    ))
                    .reproduction(self.script(&seeded.sql, &replay));
                out.findings.push(crate::checks::cause::returned(
                    finding,
                    self.catalog,
                    function,
                    v.returned.as_slice(),
                ));
            }
            state = after;
        }
        Ok(out)
    }

    /// A psql script that seeds the world and replays the calls up to the last one,
    /// each as its caller; failing calls are rolled back by psql itself.
    fn script(&self, seed_sql: &str, calls: &[Replayed]) -> String {
        let mut body = String::new();
        for (i, c) in calls.iter().enumerate() {
            let sql = match (c.returns_set, &c.gset) {
                (true, Some(prefix)) => format!("SELECT * FROM {} \\gset {prefix}", c.call),
                (true, None) => format!("SELECT * FROM {};", c.call),
                (false, Some(prefix)) => format!("SELECT {} AS v \\gset {prefix}", c.call),
                (false, None) => format!("SELECT {};", c.call),
            };
            if i + 1 == calls.len() {
                // The call that breaks its contract: psql's exit status tells whether
                // it went through (0) or was refused (3).
                body.push_str("\\set ON_ERROR_STOP on\n");
            }
            body.push_str(&format!(
                "-- call {} as {}\n{}\n{sql}\nRESET ROLE;\n",
                i + 1,
                c.actor,
                self.become_sql(&c.actor)
            ));
        }
        format!(
            "-- smta-verify reproduction of an RPC contract violation. Run against a fresh\n\
             -- install of the same schema (e.g. the database `smta-verify serve --flavor {}`\n\
             -- prints), as a superuser:  psql \"<connection string>\" -f this-file.sql\n\
             -- The last call is the one that breaks its contract; refused calls before\n\
             -- it are rolled back by psql (ON_ERROR_ROLLBACK) and the sequence goes on,\n\
             -- and psql exits with status 3 if the last one is refused.\n\
             \\set ON_ERROR_ROLLBACK on\n\
             \\set ON_ERROR_STOP off\n\
             BEGIN;\n\
             SET TimeZone = 'UTC';\n\
             -- 1. The world, seeded as the superuser (triggers on).\n\
             {seed_sql}\n\
             -- 2. The calls.\n\
             {body}\
             ROLLBACK;\n",
            self.flavor
        )
    }
}

/// The caller's kind for a finding: their standing in the organization the call is
/// about (named by an argument: the organization itself, or a unit, file or
/// invitation of it), as the state before the call had it.
fn caller_kind(state: &State, call: &calls::Resolved) -> String {
    let Actor::User(user) = &call.actor else {
        return crate::checks::isolation::actor_kind(&call.actor);
    };
    let user = user.to_string();
    // Soft-deleted rows count: a caller reading a removed unit is still that
    // organization's member or outsider.
    let org_of = |table: &str, key: &str| {
        state
            .row(table, key)
            .and_then(|r| r.get("organization_id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let org = call.args.values().filter_map(|v| v.as_str()).find_map(|v| {
        if state.row("core.organizations", v).is_some() {
            Some(v.to_string())
        } else {
            org_of("core.units", v)
                .or_else(|| org_of("core.organization_files", v))
                .or_else(|| org_of("core.invitations", v))
        }
    });
    match org {
        None => "user".into(),
        Some(org) if state.is_super_admin(&user, &org) => "super admin".into(),
        Some(org) if state.is_member(&user, &org) => "member".into(),
        Some(org)
            if state
                .row("core.memberships", &format!("{user}|{org}"))
                .is_some() =>
        {
            "removed member".into()
        }
        Some(_) => "outsider".into(),
    }
}

fn resolved_caller(actor: &Actor) -> Option<String> {
    match actor {
        Actor::User(u) => Some(u.to_string()),
        _ => None,
    }
}
