//! The engine's front door: a builder that says what to verify, and `run()`.
//!
//! The CLI and adopters' `cargo test` use exactly this. `run()` resolves the sources,
//! starts PostgreSQL, installs the schema once into a template, clones a database per
//! worker, resolves the access rules against the catalog, runs the checks and returns
//! a [`Report`]. Findings are results, not errors: `Err` means the run could not be done.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::access::contracts::Contracts;
use crate::access::{AccessModel, RulesSource};
use crate::catalog::Catalog;
use crate::checks::contracts::property::ContractConfig;
use crate::checks::explore::{Discovery, ShrinkBudget};
use crate::checks::isolation::property::{self, PropertyConfig};
use crate::checks::isolation::Families;
use crate::error::Error;
use crate::finding::{Example, Finding, ShrinkStatus};
use crate::flavor::Flavor;
use crate::install::{SqlSource, Template};
use crate::postgres::{Backend, Server, ServerSpec};
use crate::progress::{Progress, ProgressHook};
use crate::report::{
    coverage, locate_objects, Counterexample, Exploration, Phase, Report, RunInfo, ShrinkSummary,
    REPORT_SCHEMA_VERSION,
};
use crate::sandbox::Sandbox;
use crate::snapshot::Snapshot;
use crate::world::model::World;
use crate::world::strategy::Bounds;

/// Where schema SQL comes from.
#[derive(Debug, Clone)]
enum SchemaInput {
    Path(PathBuf),
    Sql(SqlSource),
}

/// What to verify and how. Every setter states its default.
#[derive(Debug, Clone)]
pub struct Verifier {
    flavor: Flavor,
    schema: Vec<SchemaInput>,
    extra_sql: Vec<PathBuf>,
    rules: RulesSource,
    server: ServerSpec,
    cases: u32,
    seed: Option<u64>,
    workers: usize,
    families: Families,
    persistence: Option<PathBuf>,
    fail_fast: bool,
    /// Signatures `fail_fast` does not stop for: a mutant's run stops at the first
    /// defect the unbroken schema does not have.
    known: Arc<std::collections::BTreeSet<String>>,
    /// A mutant's run: its first new defect, whichever phase meets it, ends the run
    /// (the catalog's make the worlds unnecessary).
    first_defect_ends_run: bool,
    shrink: ShrinkBudget,
    progress: ProgressHook,
    rpc_sequences: u32,
}

/// Property cases run when nothing else is said.
pub const DEFAULT_CASES: u32 = 64;

/// RPC call sequences the contract check runs when nothing else is said.
pub const DEFAULT_RPC_SEQUENCES: u32 = 64;

/// The longest generated RPC call sequence.
const RPC_SEQUENCE_LENGTH: usize = 8;

impl Verifier {
    /// Verifies the built-in reference schema of `flavor` against the reference rules,
    /// on the local backend chosen by `auto`, with [`DEFAULT_CASES`] cases.
    pub fn new(flavor: Flavor) -> Self {
        Self {
            flavor,
            schema: Vec::new(),
            extra_sql: Vec::new(),
            rules: RulesSource::Reference,
            server: ServerSpec::default(),
            cases: DEFAULT_CASES,
            seed: None,
            workers: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(2),
            families: Families::ALL,
            persistence: None,
            fail_fast: false,
            known: Default::default(),
            first_defect_ends_run: false,
            shrink: ShrinkBudget::default(),
            progress: ProgressHook::default(),
            rpc_sequences: DEFAULT_RPC_SEQUENCES,
        }
    }

    /// Adds a schema file or directory (its `.sql` files in path order), applied in
    /// the order given. Default: none, meaning the built-in reference schema.
    pub fn schema(mut self, path: impl Into<PathBuf>) -> Self {
        self.schema.push(SchemaInput::Path(path.into()));
        self
    }

    /// Adds schema SQL given as text (named `name` in errors). Default: none.
    pub fn schema_sql(mut self, name: impl Into<String>, sql: impl Into<String>) -> Self {
        self.schema.push(SchemaInput::Sql(SqlSource {
            name: name.into(),
            sql: sql.into(),
        }));
        self
    }

    /// Adds SQL applied after the schema: overlays, the adopter's `app` tables.
    /// Default: none.
    pub fn extra_sql(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_sql.push(path.into());
        self
    }

    /// The access rules file. Default: the reference rules (SPEC §3).
    pub fn access_rules(mut self, path: impl Into<PathBuf>) -> Self {
        self.rules = RulesSource::File(path.into());
        self
    }

    /// Where PostgreSQL comes from. Default: [`Backend::Auto`]: the database URL if
    /// one is given; a container if an [`image`](Self::image) is named; the local
    /// PostgreSQL binaries if found; else a container. A backend asked for by name
    /// that is not available is an error, never a silent fallback.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.server = self.server.backend(backend);
        self
    }

    /// The container image, `NAME[:TAG]`, used by [`Backend::Container`] (and chosen
    /// by `Auto` when set). Default: the `SMTA_VERIFY_IMAGE` environment variable, else
    /// the official `postgres:15`. `supabase/postgres:<tag>` is the high-fidelity
    /// choice for Supabase projects. A locally present image is used without
    /// contacting a registry; a missing one is pulled.
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.server = self.server.image(image);
        self
    }

    /// The directory of the `initdb` and `postgres` the local backend runs, e.g.
    /// `/usr/lib/postgresql/17/bin` to verify on PostgreSQL 17 without Docker (chosen
    /// by `Auto` when set). Default: the `SMTA_VERIFY_PG_BIN` environment variable,
    /// else the first installation found (`pg_config --bindir`, `PATH`,
    /// `/usr/lib/postgresql/<newest>/bin`). A directory without both binaries is an
    /// error, never a reason to look elsewhere.
    pub fn pg_bin(mut self, dir: impl Into<PathBuf>) -> Self {
        self.server = self.server.pg_bin(dir);
        self
    }

    /// An existing server, `postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE]`, used
    /// by [`Backend::Url`] (and chosen by `Auto` when set). The harness creates its own
    /// `smta_verify_…` databases there (the role needs CREATEDB), drops each of them
    /// at the end and touches no other database. The password never appears in
    /// errors, logs or reports. Missing parts come from the libpq environment
    /// (`PGPASSWORD`, `PGSSLMODE`, …) and `~/.pgpass`. Default: none; `DATABASE_URL`
    /// is not read.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.server = self.server.database_url(url);
        self
    }

    /// Property cases (generated worlds). Default: [`DEFAULT_CASES`]. Zero runs no
    /// property case (the report says so, and names every table path as a coverage
    /// gap).
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// The seed of the world generator, for a reproducible run. Default: random
    /// (the report records the seed used).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Parallel workers, each with its own database. Default: the number of CPUs, at
    /// most 4.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Which probe families run. Default: all (reads, writes, escalation, the RPC
    /// sweep, the RPC contracts' sequences, the RPC matrix).
    pub fn families(mut self, families: Families) -> Self {
        self.families = families;
        self
    }

    /// Generated RPC call sequences (each up to 8 calls) the contract check runs.
    /// Default: [`DEFAULT_RPC_SEQUENCES`]. Zero runs none (the report says so).
    pub fn rpc_sequences(mut self, sequences: u32) -> Self {
        self.rpc_sequences = sequences;
        self
    }

    /// Stops generating worlds and call sequences at the first one that fails, as a
    /// unit test does; the report then shows that case's defects only. Default: off —
    /// the whole budget runs and every distinct defect is reported.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// How long shrinking may take: per distinct defect, and for the whole run. A
    /// defect whose budget runs out keeps the smallest example found by then (the
    /// report says which). Default: 3 s per defect, 12 s per run (summed over the
    /// workers); zero turns shrinking off.
    pub fn shrink_time(mut self, per_defect: Duration, per_run: Duration) -> Self {
        self.shrink.per_signature = per_defect;
        self.shrink.per_run = per_run;
        self
    }

    /// Keeps failing worlds in `path` and replays them first on the next run (as
    /// proptest does in tests). Default: off.
    pub fn persist_failures(mut self, path: impl Into<PathBuf>) -> Self {
        self.persistence = Some(path.into());
        self
    }

    /// Calls `callback` as the run moves through its phases and cases (from worker
    /// threads too), for a progress display. Default: nothing is reported.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = ProgressHook::new(callback);
        self
    }

    fn sources(&self) -> Result<Vec<SqlSource>, Error> {
        let mut sources = Vec::new();
        if self.schema.is_empty() {
            sources.extend(SqlSource::reference(self.flavor)?);
        }
        for input in &self.schema {
            match input {
                SchemaInput::Path(p) => sources.extend(SqlSource::from_path(p)?),
                SchemaInput::Sql(s) => sources.push(s.clone()),
            }
        }
        for path in &self.extra_sql {
            sources.extend(SqlSource::from_path(path)?);
        }
        Ok(sources)
    }

    /// Runs every check and returns the report.
    pub async fn run(self) -> Result<Report, Error> {
        let started = Instant::now();
        let started_at = humantime_now();
        let sources = self.sources()?;
        let seed = self
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u64);
        let phase = Instant::now();
        self.progress.phase(PHASE_SERVER);
        let server = Server::start(&self.server).await?;
        tracing::info!(elapsed = ?phase.elapsed(), "server ready: {}", server.describe());
        let phase = Instant::now();
        self.progress.phase(PHASE_INSTALL);
        let template = Template::build(&server, self.flavor, &sources).await?;
        tracing::info!(elapsed = ?phase.elapsed(), "schema installed ({} files)", sources.len());
        let phase = Instant::now();
        // A clone costs a checkpoint (about a third of a second): no more workers
        // than cases, and one for the run-wide checks when no case runs.
        let workers = self.workers.min(self.cases.max(1) as usize);
        let mut databases = Vec::new();
        for _ in 0..workers {
            databases.push(template.clone_database(&server).await?);
        }
        let contracts_database = if self.families.contracts && self.rpc_sequences > 0 {
            Some(template.clone_database(&server).await?)
        } else {
            None
        };
        tracing::info!(elapsed = ?phase.elapsed(), "{workers} worker database(s) cloned");
        let report = self
            .verify(Workspace {
                backend: server.backend(),
                sources: &sources,
                seed,
                started,
                started_at,
                databases,
                contracts_database,
            })
            .await?;
        drop(template);
        // Errors above return early and leave teardown to `Server`'s Drop.
        server.shutdown().await;
        Ok(report)
    }

    /// Every check, on databases that already hold the installed schema: the catalog,
    /// the fixture world, the RPC matrix, the property cases on `databases` (one
    /// worker each) and the RPC sequences on `contracts_database`; then the report.
    async fn verify(&self, workspace: Workspace<'_>) -> Result<Report, Error> {
        let Workspace {
            backend,
            sources,
            seed,
            started,
            started_at,
            databases,
            contracts_database,
        } = workspace;
        let phase = Instant::now();
        self.progress.phase(PHASE_CATALOG);
        let mut conn = databases[0].connect().await?;
        let catalog = Catalog::load(&mut conn).await?;
        let _ = conn.close().await;
        let model = AccessModel::resolve(&self.rules, &catalog)?;
        tracing::info!(elapsed = ?phase.elapsed(), "catalog read, {} tables modelled", model.tables.len());

        let mut run_findings = crate::checks::catalog::check(self.flavor, &catalog, &model);
        let settled = |findings: &[Finding]| {
            self.first_defect_ends_run
                && findings.iter().any(|f| !self.known.contains(&f.signature))
        };
        let phase = Instant::now();
        let (fixture_findings, fixture_observations, fixture_notes) = if settled(&run_findings) {
            Default::default()
        } else {
            fixture_checks(&databases[0], self.flavor, &catalog, &model).await?
        };
        run_findings.extend(fixture_findings);
        tracing::info!(elapsed = ?phase.elapsed(), "run-wide checks done");
        let catalog_ms = phase.elapsed().as_millis() as u64;

        // The RPC matrix: before anything is generated, every function by every kind
        // of caller with every argument aim, once.
        let contracts_file = Contracts::reference();
        let rpc_matrix = if self.families.rpc_matrix && !settled(&run_findings) {
            let phase = Instant::now();
            self.progress.phase(PHASE_RPC_MATRIX);
            let mut conn = databases[0].connect().await?;
            let outcome = crate::checks::rpc_matrix::check(
                &mut conn,
                self.flavor,
                &catalog,
                &model,
                &contracts_file,
            )
            .await;
            let _ = conn.close().await;
            let outcome = outcome?;
            tracing::info!(elapsed = ?phase.elapsed(), calls = outcome.matrix.calls, findings = outcome.findings.len(), "RPC matrix done");
            run_findings.extend(outcome.findings.iter().cloned());
            Some(outcome)
        } else {
            None
        };
        // A clock of this run's own: the budget is for the run, whichever property
        // spends it.
        let shrink = ShrinkBudget {
            spent_ms: Default::default(),
            ..self.shrink.clone()
        };
        let settled = settled(&run_findings);
        let config = PropertyConfig {
            cases: if settled { 0 } else { self.cases },
            seed,
            families: self.families,
            bounds: Bounds::default(),
            persistence: self.persistence.clone(),
            fail_fast: self.fail_fast,
            known: self.known.clone(),
            shrink: shrink.clone(),
            progress: self.progress.clone(),
        };
        self.progress.phase(PHASE_CASES);
        let (catalog, model) = (Arc::new(catalog), Arc::new(model));
        let flavor = self.flavor;
        let phase = Instant::now();
        let outcome = {
            let (catalog, model) = (Arc::clone(&catalog), Arc::clone(&model));
            tokio::task::spawn_blocking(move || {
                property::run(flavor, catalog, model, databases, &config)
            })
            .await
            .map_err(|e| Error::Internal(format!("the isolation workers: {e}")))??
        };
        let cases_ms = phase.elapsed().as_millis() as u64;
        tracing::info!(elapsed = ?phase.elapsed(), cases = outcome.cases, probes = outcome.probes, signatures = outcome.discoveries.len(), "isolation property done");

        let phase = Instant::now();
        let contracts = match contracts_database.filter(|_| !settled) {
            None => None,
            Some(database) => {
                let (catalog, model) = (Arc::clone(&catalog), Arc::clone(&model));
                let contracts_file = contracts_file.clone();
                let config = ContractConfig {
                    sequences: self.rpc_sequences,
                    max_length: RPC_SEQUENCE_LENGTH,
                    seed,
                    fail_fast: self.fail_fast,
                    known: self.known.clone(),
                    shrink: shrink.clone(),
                };
                let outcome = tokio::task::spawn_blocking(move || {
                    crate::checks::contracts::property::run(
                        flavor,
                        &catalog,
                        &model,
                        &contracts_file,
                        database,
                        &config,
                    )
                })
                .await
                .map_err(|e| Error::Internal(format!("the contract check: {e}")))??;
                tracing::info!(elapsed = ?phase.elapsed(), sequences = outcome.sequences, signatures = outcome.discoveries.len(), "RPC contracts done");
                Some(outcome)
            }
        };
        let contracts_ms = phase.elapsed().as_millis() as u64;

        // Every finding: the catalog's and the fixture world's as they came, the
        // generated families' one per signature with its example.
        let mut findings: Vec<Finding> = run_findings;
        let shrink_spent = Duration::from_millis(shrink.spent_ms.load(Ordering::Relaxed));
        findings.extend(
            outcome
                .discoveries
                .iter()
                .map(|d| with_example(d, |w| w.clone())),
        );
        if let Some(c) = &contracts {
            findings.extend(
                c.discoveries
                    .iter()
                    .map(|d| with_example(d, |(w, _)| w.clone())),
            );
        }
        let mut findings = crate::report::root_cause::deduplicate(findings);
        let root_causes = crate::report::root_cause::group(&mut findings);
        let counterexample = root_causes
            .iter()
            .flat_map(|c| c.findings.iter())
            .find_map(|s| {
                findings
                    .iter()
                    .find(|f| &f.signature == s)?
                    .example
                    .as_ref()
            })
            .map(|e| Counterexample {
                world: e.world.clone(),
            });

        // Tables the rules file does not list are checked with defaults; say so where
        // a reader would expect explicit rules.
        let mut defaulted: Vec<String> = model
            .tables
            .values()
            .filter(|t| matches!(t.table.split('.').next(), Some("core" | "app")))
            .filter_map(|t| match &t.origin {
                crate::access::RuleOrigin::Default(why) => Some(format!(
                    "{} is not in the access rules; it was checked with the default rules ({why})",
                    t.table
                )),
                crate::access::RuleOrigin::Listed | crate::access::RuleOrigin::Reference => None,
            })
            .collect();
        // Generated rows a constraint refused are expected (random picks collide with
        // unique keys); which tables they hit is worth one line, the details a log.
        let mut notes: Vec<String> = Vec::new();
        let mut refused: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for note in outcome.seed_notes.iter().chain(&fixture_notes) {
            tracing::debug!("seed row refused: {note}");
            refused.insert(note.split(':').next().unwrap_or(note));
        }
        if !refused.is_empty() {
            notes.push(format!(
                "some generated rows were refused by constraints and skipped, in: {} \
                 (SMTA_VERIFY_LOG=smta_verify=debug shows why)",
                refused.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        notes.extend(model.notes.iter().cloned());
        notes.append(&mut defaulted);
        if let Some(c) = &contracts {
            notes.extend(c.notes.iter().cloned());
        }
        if let Some(m) = &rpc_matrix {
            notes.extend(m.notes.iter().cloned());
        }
        if self.cases == 0 {
            notes.push(
                "no property case ran (cases = 0): no generated world probed the tables, so \
                 row-level isolation was not verified"
                    .to_string(),
            );
        }
        if self.families.contracts && self.rpc_sequences == 0 {
            notes.push(
                "no RPC call sequence ran (rpc sequences = 0): the RPC contracts were not checked"
                    .to_string(),
            );
        }
        if self.fail_fast && !findings.is_empty() {
            notes.push(
                "fail-fast: generation stopped at the first failing world or call sequence; \
                 defects the rest of the budget would have shown are not in this report"
                    .to_string(),
            );
        }
        let mut matrix = outcome.matrix;
        property::record(&mut matrix, &fixture_observations);
        let matrix = property::entries(matrix);
        let mut coverage = coverage::of_isolation(
            &matrix,
            |table| model.table(table).is_some_and(|t| t.audit),
            |table| {
                table
                    .split_once('.')
                    .is_some_and(|(schema, _)| model.service_only_schemas.contains(schema))
            },
        );
        let mut rpc_calls = Vec::new();
        let mut sequences = 0;
        if let Some(c) = &contracts {
            sequences = c.sequences;
            rpc_calls = coverage::rpc_calls(crate::checks::contracts::property::table(c));
            coverage::of_contracts(&mut coverage, &rpc_calls);
        }
        if let Some(m) = &rpc_matrix {
            coverage::of_rpc_matrix(&mut coverage, &m.matrix);
        }
        coverage::include_findings(&mut coverage, &findings);
        // The privilege grid refuses users what they hold no privilege for, once per
        // run; those refusals exercise the refused path as much as a case's probes.
        let mut exercised = outcome.exercised.clone();
        for o in fixture_observations
            .iter()
            .filter(|o| o.actor == "user" && o.observed == crate::checks::isolation::Reach::Denied)
        {
            exercised
                .entry((o.table.clone(), o.operation.to_string(), o.actor.clone()))
                .or_default()
                .refused += 1;
        }
        let exercised = coverage::exercised(&exercised);
        // Whether a contract can refuse a call does not depend on which RPC check ran.
        let refusable: std::collections::BTreeSet<String> = contracts_file
            .bind(&catalog)
            .0
            .iter()
            .filter(|(c, _)| c.can_refuse())
            .map(|(c, _)| c.signature())
            .collect();
        // The sequences' calls and the matrix's, together: a path either exercised is
        // covered.
        let all_calls = coverage::combined(
            &rpc_calls,
            rpc_matrix.as_ref().map_or(&[][..], |m| &m.matrix.counts),
        );
        let mut gaps = coverage::gaps(&exercised, &all_calls, &refusable, |table, operation| {
            model.table(table).and_then(|t| {
                let service_only = table
                    .split_once('.')
                    .is_some_and(|(schema, _)| model.service_only_schemas.contains(schema));
                (!service_only).then(|| t.possible(operation))
            })
        });
        if let Some(m) = &rpc_matrix {
            gaps.extend(coverage::matrix_gaps(&m.matrix));
        }
        // Each policy's decisions, as far as the probes' outcomes attribute them.
        let user_roles = catalog.roles_of(
            self.flavor
                .role(&crate::flavor::Actor::User(uuid::Uuid::nil())),
        );
        let policy_facts = policy_facts(&catalog, &model, &user_roles);
        let policy_coverage = crate::report::policy_coverage::attribute(
            &policy_facts,
            &exercised,
            |table, command| {
                catalog.relation(table).is_some_and(|r| {
                    !r.writable_columns(command, &user_roles).is_empty()
                        || r.privileges_of(&user_roles).any(|p| p == command)
                })
            },
        );
        gaps.extend(crate::report::policy_coverage::gaps(
            &policy_coverage,
            |table, operation| model.table(table).map(|t| t.possible(operation)),
        ));
        notes.extend(gaps.iter().map(|g| format!("coverage gap: {g}")));
        // Every object a report names, so each format can point at its definition.
        let locations = locate_objects(
            sources,
            coverage
                .values()
                .flatten()
                .map(String::as_str)
                .chain(matrix.iter().map(|m| m.table.as_str())),
        );
        let exploration = Exploration {
            phases: vec![
                Phase {
                    name: "catalog and fixture world".into(),
                    unit: "worlds".into(),
                    planned: 1,
                    ran: 1,
                    duration_ms: catalog_ms,
                },
                Phase {
                    name: "rpc matrix".into(),
                    unit: "calls".into(),
                    planned: rpc_matrix.as_ref().map_or(0, |m| m.matrix.calls),
                    ran: rpc_matrix.as_ref().map_or(0, |m| m.matrix.calls),
                    duration_ms: rpc_matrix.as_ref().map_or(0, |m| m.matrix.duration_ms),
                },
                Phase {
                    name: "property cases".into(),
                    unit: "worlds".into(),
                    planned: u64::from(self.cases),
                    ran: outcome.cases,
                    duration_ms: cases_ms,
                },
                Phase {
                    name: "rpc contracts".into(),
                    unit: "sequences".into(),
                    planned: if contracts.is_some() {
                        u64::from(self.rpc_sequences)
                    } else {
                        0
                    },
                    ran: sequences,
                    duration_ms: contracts_ms,
                },
            ],
            signatures: findings.len(),
            fail_fast: self.fail_fast,
            shrink: ShrinkSummary {
                per_signature_ms: self.shrink.per_signature.as_millis() as u64,
                per_run_ms: self.shrink.per_run.as_millis() as u64,
                spent_ms: shrink_spent.as_millis() as u64,
                minimal: count_shrink(&findings, ShrinkStatus::Minimal),
                budget_spent: count_shrink(&findings, ShrinkStatus::BudgetSpent),
            },
        };
        let summary = Report::summarize(&findings, outcome.probes, outcome.rows);
        let report = Report {
            schema_version: REPORT_SCHEMA_VERSION,
            run: RunInfo {
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                postgres_version: catalog.server_version.clone(),
                flavor: self.flavor.to_string(),
                backend: backend.to_string(),
                seed,
                cases: outcome.cases,
                started_at,
                duration_ms: started.elapsed().as_millis() as u64,
                schema_sources: sources.iter().map(|s| s.name.clone()).collect(),
                access_rules: model.source.clone(),
            },
            summary,
            findings,
            root_causes,
            exploration,
            gaps,
            exercised,
            matrix,
            counterexample,
            notes,
            coverage,
            locations,
            rpc_calls,
            rpc_matrix: rpc_matrix.map(|m| m.matrix),
            policy_coverage,
        };
        Ok(report)
    }

    /// Reads the policy surface of the installed sources (tables, policies, grants,
    /// functions) and the access matrix of the fixture world, for a regression
    /// snapshot ([`Snapshot::to_yaml`]). No generated worlds: the same sources give
    /// the same snapshot, byte for byte.
    pub async fn snapshot(self) -> Result<Snapshot, Error> {
        let Installed {
            server,
            template,
            database,
            catalog,
            model,
            ..
        } = self.installed().await?;
        let mut conn = database.connect().await?;
        self.progress.phase(PHASE_FIXTURE);
        // The report's matrix, restricted to the fixture world: the privilege grid
        // and one isolation case, judged exactly as in a run.
        let (_, grid, _) = fixture_checks(&database, self.flavor, &catalog, &model).await?;
        let world =
            crate::world::model::World::basic(crate::world::seed::generic_tables(&model).len());
        let case = crate::checks::isolation::Environment {
            flavor: self.flavor,
            catalog: &catalog,
            model: &model,
            families: Families::ALL,
        }
        .run_case(
            &mut conn,
            &world,
            &crate::checks::isolation::Focus::Everything,
        )
        .await?;
        let _ = conn.close().await;
        let mut matrix = property::Matrix::new();
        property::record(&mut matrix, &grid);
        property::record(&mut matrix, &case.observations);
        let snapshot = Snapshot::of(self.flavor, &catalog, property::entries(matrix));
        drop(template);
        server.shutdown().await;
        Ok(snapshot)
    }

    /// A complete rules file for the installed sources: every table the checks look
    /// at with the rules this verifier would judge it by (the access rules given, or
    /// the reference rules fitted to the installation, and the defaults), each entry
    /// saying where its rules came from and `TODO` where the tool could not decide.
    /// [`access_rules`](Self::access_rules) on the written file, unedited, judges
    /// exactly as this verifier does.
    pub async fn rules(self) -> Result<String, Error> {
        let Installed {
            sources,
            server,
            template,
            catalog,
            model,
            ..
        } = self.installed().await?;
        let names: Vec<String> = if self.schema.is_empty() && self.extra_sql.is_empty() {
            Vec::new()
        } else {
            sources.iter().map(|s| s.name.clone()).collect()
        };
        let text = crate::access::generate::rules_file(&model, &catalog, &names);
        drop(template);
        server.shutdown().await;
        Ok(text)
    }

    /// The sources installed into a fresh template on a fresh server, one clone of it,
    /// its catalog and the access model resolved against it: where `snapshot` and
    /// `rules` start.
    async fn installed(&self) -> Result<Installed, Error> {
        let sources = self.sources()?;
        self.progress.phase(PHASE_SERVER);
        let server = Server::start(&self.server).await?;
        self.progress.phase(PHASE_INSTALL);
        let template = Template::build(&server, self.flavor, &sources).await?;
        let database = template.clone_database(&server).await?;
        self.progress.phase(PHASE_CATALOG);
        let mut conn = database.connect().await?;
        let catalog = Catalog::load(&mut conn).await?;
        let _ = conn.close().await;
        let model = AccessModel::resolve(&self.rules, &catalog)?;
        Ok(Installed {
            sources,
            server,
            template,
            database,
            catalog,
            model,
        })
    }

    /// Mutation testing (`smta-verify mutate`): derives small, plausible mistakes from
    /// the installed schema, runs the checks against each (up to `max`, sampled over
    /// every kind of mistake), and reports which the checks noticed. Every mutant runs
    /// with this verifier's seed, cases and RPC sequences — the unbroken schema first,
    /// whose own findings do not count as kills — stops at its first new defect, and
    /// does not shrink.
    pub async fn mutate(self, max: usize) -> Result<crate::mutate::MutationReport, Error> {
        let started = Instant::now();
        let sources = self.sources()?;
        let seed = self
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u64);
        self.progress.phase(PHASE_SERVER);
        let server = Server::start(&self.server).await?;
        self.progress.phase(PHASE_INSTALL);
        let template = Template::build(&server, self.flavor, &sources).await?;
        let result = self
            .mutate_on(&server, &template, &sources, seed, max, started)
            .await;
        drop(template);
        server.shutdown().await;
        result
    }

    async fn mutate_on(
        &self,
        server: &Server,
        template: &Template,
        sources: &[SqlSource],
        seed: u64,
        max: usize,
        started: Instant,
    ) -> Result<crate::mutate::MutationReport, Error> {
        self.progress.phase(PHASE_CATALOG);
        let database = template.clone_database(server).await?;
        let mut conn = database.connect().await?;
        let catalog = Catalog::load(&mut conn).await;
        let _ = conn.close().await;
        let _ = server.drop_database(&database.name).await;
        let catalog = catalog?;
        let model = AccessModel::resolve(&self.rules, &catalog)?;
        let derived = crate::mutate::derive::mutants(self.flavor, &catalog, &model);
        let count = derived.len();
        let mutants = crate::mutate::sample(derived, max);
        if mutants.is_empty() {
            // Derivation alone (`--max 0`): nothing to compare with a baseline.
            let run = self.mutation_run(sources, &model, seed, max, started);
            return Ok(crate::mutate::MutationReport::new(
                run,
                count,
                Vec::new(),
                Vec::new(),
            ));
        }
        // Every run, the unbroken schema's included, is one clone of the installed
        // template, its overlay applied, with one worker and no shrinking: the same
        // work for each, so their observations compare.
        let checks = Verifier {
            seed: Some(seed),
            workers: 1,
            persistence: None,
            progress: ProgressHook::default(),
            shrink: ShrinkBudget {
                per_signature: Duration::ZERO,
                per_run: Duration::ZERO,
                ..ShrinkBudget::default()
            },
            ..self.clone()
        };
        self.progress.phase(PHASE_BASELINE);
        // Three runs of the unbroken schema: the first is what mutants are compared
        // with, the facts they disagree on are noise.
        let runs = futures_util::future::try_join_all(
            (0..3).map(|_| checks.run_overlay(server, template, sources, seed, &[])),
        )
        .await?
        .into_iter()
        .map(|run| run.map_err(|e| Error::Internal(format!("the unbroken schema: {e}"))))
        .collect::<Result<Vec<Report>, Error>>()?;
        let noise = crate::mutate::run::noise(&runs);
        let baseline = runs.into_iter().next().expect("three runs");
        let known: std::collections::BTreeSet<String> = baseline
            .findings
            .iter()
            .map(|f| f.signature.clone())
            .collect();
        let checks = Verifier {
            fail_fast: true,
            known: Arc::new(known),
            first_defect_ends_run: true,
            ..checks
        };
        self.progress.phase(PHASE_MUTANTS);
        let total = mutants.len() as u64;
        let done = std::sync::atomic::AtomicU64::new(0);
        let parallel = std::thread::available_parallelism().map_or(1, usize::from);
        let results = crate::mutate::run::all(mutants, &baseline, &noise, parallel, |mutant| {
            let (checks, progress, done) = (&checks, &self.progress, &done);
            async move {
                let outcome = checks
                    .run_overlay(server, template, sources, seed, &mutant.sql)
                    .await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress.emit(Progress::Cases { done: n, total });
                outcome
            }
        })
        .await?;
        let run = self.mutation_run(sources, &model, seed, max, started);
        Ok(crate::mutate::MutationReport::new(
            run,
            count,
            baseline
                .findings
                .iter()
                .map(|f| f.signature.clone())
                .collect(),
            results,
        ))
    }

    /// The checks on a clone of `template` with `overlay` applied to it, one database
    /// for every phase (they run one after another and roll back everything they
    /// write), dropped afterwards. `Ok(Err(why))`: the overlay does not apply.
    async fn run_overlay(
        &self,
        server: &Server,
        template: &Template,
        sources: &[SqlSource],
        seed: u64,
        overlay: &[String],
    ) -> Result<Result<Report, String>, Error> {
        let started = Instant::now();
        let started_at = humantime_now();
        let database = template.clone_database(server).await?;
        let outcome = async {
            if !overlay.is_empty() {
                let mut conn = database.connect().await?;
                let applied = crate::install::apply(
                    &mut conn,
                    &[SqlSource {
                        name: "mutant".into(),
                        sql: overlay.iter().map(|s| format!("{s};\n")).collect(),
                    }],
                )
                .await;
                let _ = conn.close().await;
                if let Err(e) = applied {
                    return Ok(Err(format!("the mutant does not install: {e}")));
                }
            }
            let workspace = Workspace {
                backend: server.backend(),
                sources,
                seed,
                started,
                started_at,
                databases: vec![database.clone()],
                contracts_database: (self.families.contracts && self.rpc_sequences > 0)
                    .then(|| database.clone()),
            };
            match self.verify(workspace).await {
                Ok(report) => Ok(Ok(report)),
                Err(Error::Seed(e)) => Ok(Err(format!("the fixture world no longer seeds: {e}"))),
                Err(e) => Err(e),
            }
        }
        .await;
        if let Err(e) = server.drop_database(&database.name).await {
            tracing::warn!("could not drop the mutant database {}: {e}", database.name);
        }
        outcome
    }

    fn mutation_run(
        &self,
        sources: &[SqlSource],
        model: &AccessModel,
        seed: u64,
        max: usize,
        started: Instant,
    ) -> crate::mutate::MutationRun {
        crate::mutate::MutationRun {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            flavor: self.flavor.to_string(),
            seed,
            cases: self.cases,
            rpc_sequences: self.rpc_sequences,
            max,
            schema_sources: sources.iter().map(|s| s.name.clone()).collect(),
            access_rules: model.source.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Starts a [`Sandbox`]: the server this verifier would use, with its schema
    /// sources installed, kept for a person with psql.
    pub async fn sandbox(&self) -> Result<Sandbox, Error> {
        let sources = self.sources()?;
        Sandbox::start_with(&self.server, self.flavor, &sources).await
    }

    /// [`run`](Self::run) for synchronous tests: builds its own runtime.
    pub fn run_blocking(self) -> Result<Report, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("a runtime: {e}")))?
            .block_on(self.run())
    }
}

/// Where [`Verifier::verify`] runs: databases cloned from an installed template.
struct Workspace<'a> {
    backend: Backend,
    sources: &'a [SqlSource],
    seed: u64,
    started: Instant,
    started_at: String,
    databases: Vec<crate::install::Database>,
    /// The database of the RPC sequences, which run after the property cases: one of
    /// `databases` again, or a clone of its own.
    contracts_database: Option<crate::install::Database>,
}

/// What [`Verifier::installed`] sets up; the server is torn down when dropped.
struct Installed {
    sources: Vec<SqlSource>,
    server: Server,
    template: Template,
    database: crate::install::Database,
    catalog: Catalog,
    model: AccessModel,
}

const PHASE_SERVER: &str = "starting PostgreSQL";
const PHASE_INSTALL: &str = "installing the schema";
const PHASE_CATALOG: &str = "catalog checks";
const PHASE_FIXTURE: &str = "the fixture world";
const PHASE_CASES: &str = "property cases";
const PHASE_BASELINE: &str = "the unbroken schema";
const PHASE_MUTANTS: &str = "mutants";
const PHASE_RPC_MATRIX: &str = "the RPC matrix";

/// The checks that run once, on the fixture world: the privilege grid, the audit
/// trail and prepared statements reused across callers. One transaction, rolled back.
async fn fixture_checks(
    database: &crate::install::Database,
    flavor: Flavor,
    catalog: &Catalog,
    model: &AccessModel,
) -> Result<
    (
        Vec<Finding>,
        Vec<crate::checks::isolation::Observation>,
        Vec<String>,
    ),
    Error,
> {
    let mut conn = database.connect().await?;
    sqlx::raw_sql("BEGIN")
        .execute(&mut conn)
        .await
        .map_err(|e| Error::database("begin the run-wide checks", e))?;
    let world = crate::world::model::World::basic(crate::world::seed::generic_tables(model).len());
    // The fixture's first user is the super admin of an organization with audit rows.
    let user =
        crate::flavor::Actor::User(crate::world::model::id(crate::world::model::Kind::User, 0));
    let result = async {
        let seeded = crate::world::seed(&mut conn, catalog, model, &world).await?;
        let (mut findings, observations) = crate::checks::privileges::check(
            &mut conn,
            flavor,
            catalog,
            model,
            &seeded,
            user.clone(),
        )
        .await?;
        findings.extend(
            crate::checks::audit::check(&mut conn, flavor, catalog, model, &seeded, user.clone())
                .await?,
        );
        let others: Vec<crate::flavor::Actor> = (1..world.users.len())
            .map(|i| {
                crate::flavor::Actor::User(crate::world::model::id(
                    crate::world::model::Kind::User,
                    i,
                ))
            })
            .collect();
        findings.extend(
            crate::checks::prepared::check(
                &mut conn, flavor, catalog, model, &seeded, &user, &others,
            )
            .await?,
        );
        Ok::<_, Error>((findings, observations, seeded.notes))
    }
    .await;
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
    let _ = conn.close().await;
    result
}

/// The row-security policies of the modelled tables (where row security is on), with
/// whether each applies to application users.
fn policy_facts(
    catalog: &Catalog,
    model: &AccessModel,
    user_roles: &[String],
) -> Vec<crate::report::policy_coverage::PolicyFacts> {
    catalog
        .relations
        .iter()
        .filter(|r| r.rls && model.table(&r.qualified()).is_some())
        .flat_map(|r| {
            r.policies
                .iter()
                .map(move |p| crate::report::policy_coverage::PolicyFacts {
                    table: r.qualified(),
                    name: p.name.clone(),
                    command: p.command.clone(),
                    permissive: p.permissive,
                    for_users: p
                        .roles
                        .iter()
                        .any(|role| role == "PUBLIC" || user_roles.contains(role)),
                })
        })
        .collect()
}

/// A discovery as the finding the report shows: its smallest example attached.
fn with_example<V>(discovery: &Discovery<V>, world: impl Fn(&V) -> World) -> Finding {
    let mut finding = discovery.finding.clone();
    finding.occurrences = discovery.occurrences.max(1);
    finding.example = Some(Example {
        world: world(&discovery.example),
        shrink: discovery.shrink.clone(),
    });
    finding
}

fn count_shrink(findings: &[Finding], status: ShrinkStatus) -> usize {
    findings
        .iter()
        .filter(|f| {
            f.example
                .as_ref()
                .is_some_and(|e| e.shrink.status == status)
        })
        .count()
}

fn humantime_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
