//! Entry points for the benchmarks in `benches/`: each stage of the pipeline alone.
//!
//! Speed is measured, not guessed (SPEC §7), and the benchmarks must time the very
//! code a run executes — so they call into the engine here rather than re-creating
//! it. This module is not part of the stable API (`#[doc(hidden)]`); it exists only
//! because criterion benchmarks are compiled as a separate crate.

use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sqlx::{Connection, PgConnection};

use crate::access::{AccessModel, RulesSource};
use crate::catalog::Catalog;
use crate::checks::isolation::{Environment, Families};
use crate::error::Error;
use crate::flavor::Flavor;
use crate::install::{Database, SqlSource, Template};
use crate::postgres::{Backend, Server, ServerSpec};
use crate::world::model::World;
use crate::world::seed::generic_tables;
use crate::world::strategy::{worlds, Bounds};

/// The size of a generated world: exact user and organization counts, at most
/// `each` entries of every other kind, and `generic` rows per platform/app table.
#[derive(Debug, Clone, Copy)]
pub struct WorldSize {
    pub users: usize,
    pub organizations: usize,
    pub each: usize,
    pub generic: usize,
}

impl WorldSize {
    /// The size SPEC §7 benchmarks a case at: ≈100 rows of ground truth.
    pub const TYPICAL: WorldSize = WorldSize {
        users: 5,
        organizations: 3,
        each: 8,
        generic: 2,
    };
}

/// Starts a local cluster and stops it again; returns the time to ready.
pub fn local_cluster_start() -> Result<Duration, Error> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let started = Instant::now();
        let server = Server::start(&ServerSpec::new(Backend::Local)).await?;
        let ready = started.elapsed();
        server.shutdown().await;
        Ok(ready)
    })
}

/// Starts a container (the image of `$SMTA_VERIFY_IMAGE`, else the default) and
/// removes it again; returns the time to ready.
pub fn container_start() -> Result<Duration, Error> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let started = Instant::now();
        let server = Server::start(&ServerSpec::new(Backend::Container)).await?;
        let ready = started.elapsed();
        server.shutdown().await;
        Ok(ready)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("a runtime: {e}")))
}

/// A local server with a schema installed, a worker database and a connection: the
/// state a worker has between cases.
pub struct Pipeline {
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    flavor: Flavor,
    sources: Vec<SqlSource>,
    template: Template,
    database: Database,
    conn: Option<PgConnection>,
    catalog: Catalog,
    model: AccessModel,
}

impl Pipeline {
    /// The reference schema of `flavor` plus `extra` SQL (e.g. generated app tables).
    pub fn new(flavor: Flavor, extra: Vec<SqlSource>) -> Result<Self, Error> {
        let runtime = runtime()?;
        let mut sources = SqlSource::reference(flavor)?;
        sources.extend(extra);
        let (server, template, database, conn, catalog, model) = runtime.block_on(async {
            let server = Server::start(&ServerSpec::new(Backend::Local)).await?;
            let template = Template::build(&server, flavor, &sources).await?;
            let database = template.clone_database(&server).await?;
            let mut conn = database.connect().await?;
            let catalog = Catalog::load(&mut conn).await?;
            let model = AccessModel::resolve(&RulesSource::Reference, &catalog)?;
            Ok::<_, Error>((server, template, database, conn, catalog, model))
        })?;
        Ok(Self {
            runtime,
            server: Some(server),
            flavor,
            sources,
            template,
            database,
            conn: Some(conn),
            catalog,
            model,
        })
    }

    fn server(&self) -> &Server {
        self.server
            .as_ref()
            .expect("the server lives as long as the pipeline")
    }

    /// Installs the schema into a fresh template database (the install stage).
    pub fn install(&self) -> Result<(), Error> {
        self.runtime
            .block_on(Template::build(self.server(), self.flavor, &self.sources))
            .map(drop)
    }

    /// Clones the template into a new worker database (the clone stage).
    pub fn clone_database(&self) -> Result<(), Error> {
        self.runtime
            .block_on(self.template.clone_database(self.server()))
            .map(drop)
    }

    /// A deterministic world of `size` (the `n`th of its kind).
    pub fn world(&self, size: WorldSize, n: u64) -> World {
        let bounds = Bounds {
            users: (size.users, size.users),
            organizations: (size.organizations, size.organizations),
            max_each: size.each,
            generic_tables: generic_tables(&self.model).len(),
            max_generic: size.generic,
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        worlds(bounds)
            .new_tree(&mut runner)
            .expect("worlds generate")
            .current()
    }

    /// Seeds `world` and reads the ground truth back, in a rolled-back transaction;
    /// returns the rows of ground truth.
    pub fn seed(&mut self, world: &World) -> Result<usize, Error> {
        let conn = self.conn.as_mut().expect("connected");
        let (catalog, model) = (&self.catalog, &self.model);
        self.runtime.block_on(async {
            sqlx::raw_sql("BEGIN")
                .execute(&mut *conn)
                .await
                .map_err(|e| Error::database("begin", e))?;
            let seeded = crate::world::seed(conn, catalog, model, world).await;
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut *conn)
                .await
                .map_err(|e| Error::database("roll back", e))?;
            Ok(seeded?.truth.row_count())
        })
    }

    /// One whole property case: seed, every probe of every actor, judge, roll back.
    pub fn case(&mut self, world: &World, families: Families) -> Result<CaseStats, Error> {
        let conn = self.conn.as_mut().expect("connected");
        let env = Environment {
            flavor: self.flavor,
            catalog: &self.catalog,
            model: &self.model,
            families,
        };
        let result = self.runtime.block_on(env.run_case(
            conn,
            world,
            &crate::checks::isolation::Focus::Everything,
        ))?;
        Ok(CaseStats {
            probes: result.probes,
            rows: result.rows,
            observations: result.observations.len(),
            findings: result.findings.len(),
        })
    }

    /// The RPC matrix on the fixture world: every callable `public` function × every
    /// kind of caller × every argument aim, judged, in its rolled-back transaction.
    pub fn rpc_matrix(&mut self) -> Result<MatrixStats, Error> {
        let conn = self.conn.as_mut().expect("connected");
        let contracts = crate::access::contracts::Contracts::reference();
        let outcome = self.runtime.block_on(crate::checks::rpc_matrix::check(
            conn,
            self.flavor,
            &self.catalog,
            &self.model,
            &contracts,
        ))?;
        Ok(MatrixStats {
            functions: outcome.matrix.functions.len(),
            calls: outcome.matrix.calls,
            findings: outcome.findings.len(),
        })
    }

    /// The number of tables the access model covers.
    pub fn tables(&self) -> usize {
        self.model.tables.len()
    }

    /// The worker database (for benchmarks that open their own sessions).
    pub fn database_name(&self) -> &str {
        &self.database.name
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = self.runtime.block_on(conn.close());
        }
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// What one case did.
#[derive(Debug, Clone, Copy)]
pub struct CaseStats {
    pub probes: usize,
    pub rows: usize,
    /// Actor × table × operation comparisons judged.
    pub observations: usize,
    pub findings: usize,
}

/// What one RPC matrix did.
#[derive(Debug, Clone, Copy)]
pub struct MatrixStats {
    pub functions: usize,
    pub calls: u64,
    pub findings: usize,
}

/// `count` generated `app` tables, each tenant-scoped through `organization_id` with
/// member policies, for measuring how cost grows with the number of tables.
pub fn app_tables(count: usize) -> SqlSource {
    let mut sql = String::new();
    for i in 0..count {
        sql.push_str(&format!(
            "CREATE TABLE app.bench_{i} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), \
             organization_id uuid NOT NULL REFERENCES core.organizations (id), label text);\n\
             ALTER TABLE app.bench_{i} ENABLE ROW LEVEL SECURITY;\n\
             CREATE POLICY bench_{i}_members ON app.bench_{i} TO app_user \
             USING (core.is_org_member(organization_id)) WITH CHECK (core.is_org_member(organization_id));\n\
             GRANT SELECT, INSERT, UPDATE ON app.bench_{i} TO app_user;\n\
             GRANT ALL ON app.bench_{i} TO app_admin;\n"
        ));
    }
    SqlSource {
        name: format!("bench/app_tables_{count}.sql"),
        sql,
    }
}
