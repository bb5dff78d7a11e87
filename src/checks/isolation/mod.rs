//! RLS isolation: one generated world per case, every actor, every table, every read
//! and write path, compared with the access model.
//!
//! A case is one transaction on a worker's connection: seed the world as the superuser
//! and read the ground truth back (one round trip), run every probe server-side (one
//! round trip, plus one more for row-by-row follow-ups when a whole-table statement
//! failed as a whole), judge, ROLLBACK. Nothing survives a case, so cases never leak
//! state into each other and a worker needs only one connection and one database.

mod judge;
mod plan;
mod probe;
pub(crate) mod property;

use sqlx::PgConnection;

pub(crate) use judge::{actor_kind, Exercised, Observation, Reach};
pub use plan::Families;

use crate::access::oracle::Oracle;
use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::checks::runner::{self, RunAs, Statement};
use crate::error::Error;
use crate::finding::Finding;
use crate::flavor::{Actor, Flavor};
use crate::world::model::{id, Kind, World};
use crate::world::Seeded;
use judge::Judge;
use plan::PlanContext;
use probe::{Outcome, Step};

/// What stays fixed across the cases of a run.
pub(crate) struct Environment<'a> {
    pub(crate) flavor: Flavor,
    pub(crate) catalog: &'a Catalog,
    pub(crate) model: &'a AccessModel,
    pub(crate) families: Families,
}

/// The outcome of one case.
#[derive(Debug, Default)]
pub(crate) struct CaseResult {
    pub(crate) findings: Vec<Finding>,
    pub(crate) observations: Vec<Observation>,
    pub(crate) exercised: Exercised,
    pub(crate) probes: usize,
    pub(crate) rows: usize,
    /// Rows the database refused to seed, as "table: message" (other installations).
    pub(crate) seed_notes: Vec<String>,
}

/// Which probes a case runs: all of them while exploring; while shrinking toward one
/// finding, only those that can show its signature (the probes of its table, or the
/// RPC sweep for a function), so a shrinking step costs a fraction of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Focus {
    Everything,
    Table(String),
    Rpc,
}

impl Focus {
    pub(crate) fn of(finding: &Finding, model: &AccessModel) -> Focus {
        if finding.operation != "EXECUTE" && model.table(&finding.object).is_some() {
            Focus::Table(finding.object.clone())
        } else {
            Focus::Rpc
        }
    }

    fn rpc(&self) -> bool {
        matches!(self, Focus::Everything | Focus::Rpc)
    }
}

/// Adds `more` to `into`.
pub(crate) fn merge_exercised(into: &mut Exercised, more: Exercised) {
    for (k, e) in more {
        let cell = into.entry(k).or_default();
        cell.allowed += e.allowed;
        cell.refused += e.refused;
        cell.reached += e.reached;
        cell.stopped += e.stopped;
    }
}

/// The actors of a world: the fixed ones, then every user.
pub(crate) fn actors_of(world: &World) -> Vec<Actor> {
    let mut actors = vec![Actor::Anonymous, Actor::PublicOnly, Actor::Service];
    actors.extend((0..world.users.len()).map(|i| Actor::User(id(Kind::User, i))));
    actors
}

impl Environment<'_> {
    /// Runs one case in its own transaction, rolled back whatever happens.
    pub(crate) async fn run_case(
        &self,
        conn: &mut PgConnection,
        world: &World,
        focus: &Focus,
    ) -> Result<CaseResult, Error> {
        sqlx::raw_sql("BEGIN")
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::database("begin a case", e))?;
        let result = self.case_in_transaction(conn, world, focus).await;
        let rollback = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        let result = result?;
        rollback.map_err(|e| Error::database("roll back a case", e))?;
        Ok(result)
    }

    async fn case_in_transaction(
        &self,
        conn: &mut PgConnection,
        world: &World,
        focus: &Focus,
    ) -> Result<CaseResult, Error> {
        let phase = std::time::Instant::now();
        let Seeded {
            sql: seed_sql,
            truth,
            notes: seed_notes,
        } = crate::world::seed(conn, self.catalog, self.model, world).await?;
        tracing::debug!(elapsed = ?phase.elapsed(), "seeded");
        let oracle = Oracle::new(self.model, &truth);
        let actors = actors_of(world);
        let actor_roles: Vec<Vec<String>> = actors
            .iter()
            .map(|a| self.catalog.roles_of(self.flavor.role(a)))
            .collect();
        let mut steps = PlanContext {
            catalog: self.catalog,
            oracle: &oracle,
            actors: &actors,
            actor_roles: &actor_roles,
            families: self.families,
            only: match focus {
                Focus::Table(t) => Some(t),
                _ => None,
            },
        }
        .steps();
        if *focus == Focus::Rpc {
            steps.clear();
        }
        let judge = Judge {
            flavor: self.flavor,
            catalog: self.catalog,
            oracle: &oracle,
            actors: &actors,
            seed_sql: &seed_sql,
            families: self.families,
        };
        let phase = std::time::Instant::now();
        let outcomes = if steps.is_empty() {
            Vec::new()
        } else {
            self.run_steps(conn, &actors, &steps).await?
        };
        tracing::debug!(elapsed = ?phase.elapsed(), probes = steps.len(), "probed");
        let phase = std::time::Instant::now();
        let mut verdict = judge.judge(&steps, &outcomes);
        tracing::debug!(elapsed = ?phase.elapsed(), "judged");
        let mut probes = steps.len();
        if !verdict.follow_ups.is_empty() {
            let follow_ups = std::mem::take(&mut verdict.follow_ups);
            let outcomes = self.run_steps(conn, &actors, &follow_ups).await?;
            let more = judge.judge(&follow_ups, &outcomes);
            verdict.findings.extend(more.findings);
            merge_exercised(&mut verdict.exercised, more.exercised);
            probes += follow_ups.len();
        }
        if self.families.rpc && focus.rpc() {
            let (findings, calls) = self.rpc_sweep(conn, &oracle, &seed_sql).await?;
            verdict.findings.extend(findings);
            probes += calls;
        }
        Ok(CaseResult {
            findings: verdict.findings,
            observations: verdict.observations,
            exercised: verdict.exercised,
            probes,
            rows: truth.row_count(),
            seed_notes,
        })
    }

    /// Calls a world-chosen quarter of the `public` functions as an organization's
    /// super admin, as a user outside it, and anonymously, with that organization's
    /// ids; one round trip.
    async fn rpc_sweep(
        &self,
        conn: &mut PgConnection,
        oracle: &Oracle<'_>,
        seed_sql: &str,
    ) -> Result<(Vec<Finding>, usize), Error> {
        use crate::checks::rpc::{call_sql, callable, selected, Arguments, RpcJudge};
        let users: Vec<String> = oracle
            .truth
            .table(crate::access::tenancy::USERS)
            .map(|t| {
                t.rows
                    .iter()
                    .filter_map(|r| crate::world::truth::text(r.get("id")))
                    .collect()
            })
            .unwrap_or_default();
        let target = oracle
            .truth
            .table(crate::access::tenancy::ORGANIZATIONS)
            .into_iter()
            .flat_map(|t| t.rows.iter())
            .filter_map(|r| crate::world::truth::text(r.get("id")))
            .find_map(|org| {
                users
                    .iter()
                    .find(|u| oracle.is_super_admin(u, &org))
                    .map(|u| (org, u.clone()))
            });
        let Some((org, admin)) = target else {
            return Ok((Vec::new(), 0));
        };
        let outsider = users.iter().find(|u| !oracle.is_member(u, &org)).cloned();
        let parse = |u: &str| uuid::Uuid::parse_str(u).expect("user ids are uuids");
        let mut callers = vec![Actor::Anonymous, Actor::User(parse(&admin))];
        if let Some(o) = &outsider {
            callers.push(Actor::User(parse(o)));
        }
        let world_hash = seed_sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let arguments = Arguments { oracle };
        let mut planned = Vec::new();
        for (a, caller) in callers.iter().enumerate() {
            let roles = self.catalog.roles_of(self.flavor.role(caller));
            let id = match caller {
                Actor::User(u) => Some(u.to_string()),
                _ => None,
            };
            for function in callable(self.catalog, &roles)
                .into_iter()
                .filter(|f| selected(f, world_hash))
            {
                if let Some(args) = arguments.for_call(function, &org, id.as_deref()) {
                    planned.push((a, function, call_sql(function, &args)));
                }
            }
        }
        let statements: Vec<Statement> = planned
            .iter()
            .map(|(a, _, sql)| Statement {
                actor: *a,
                sql,
                mode: crate::checks::runner::Mode::Query,
                watch_writes: true,
                diff: true,
            })
            .collect();
        let run_as: Vec<RunAs> = callers.iter().cloned().map(RunAs::Actor).collect();
        let watched: Vec<&String> = self.model.tables.keys().collect();
        let outcomes = runner::run(conn, self.flavor, &run_as, &watched, &statements).await?;
        let judge = RpcJudge::new(self.model, oracle);
        let mut findings = Vec::new();
        for ((a, function, sql), outcome) in planned.iter().zip(&outcomes) {
            let caller = &callers[*a];
            // The sweep's callers, as kinds: anonymous, the target's super admin, an
            // outsider.
            let kind = match a {
                0 => "anonymous",
                1 => "super admin",
                _ => "outsider",
            };
            for (check, severity, message, returned) in judge.judge(caller, function, sql, outcome)
            {
                let finding = Finding::new(check, function.typed_name(), "EXECUTE")
                    .actor(caller)
                    .actor_kind(kind)
                    .severity(severity)
                    .message(message)
                    .reproduction(crate::checks::reproduction(
                        self.flavor,
                        seed_sql,
                        &caller.to_string(),
                        &self.flavor.become_sql(caller),
                        sql,
                        "The call whose result or effect breaks the rules.",
                    ));
                findings.push(crate::checks::cause::returned(
                    finding,
                    self.catalog,
                    function,
                    &returned,
                ));
            }
        }
        Ok((findings, planned.len()))
    }

    /// Runs `steps` through the server-side runner; one round trip.
    async fn run_steps(
        &self,
        conn: &mut PgConnection,
        actors: &[Actor],
        steps: &[Step],
    ) -> Result<Vec<Outcome>, Error> {
        let actors: Vec<RunAs> = actors.iter().cloned().map(RunAs::Actor).collect();
        let statements: Vec<Statement> = steps
            .iter()
            .map(|s| Statement {
                actor: s.actor,
                sql: &s.sql,
                mode: s.mode,
                watch_writes: s.probe.is_write(),
                diff: false,
            })
            .collect();
        let watched: Vec<&String> = self.model.tables.keys().collect();
        runner::run(conn, self.flavor, &actors, &watched, &statements).await
    }
}
