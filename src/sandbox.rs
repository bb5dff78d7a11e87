//! A database with a schema installed, kept running for a person with psql.
//!
//! Findings come with psql reproduction scripts; `smta-verify serve` (built on this)
//! gives the reader a fresh install to run them against, on the same backends the
//! checks use. Dropping the sandbox removes everything, like any other run.

use sqlx::postgres::PgConnectOptions;

use crate::error::Error;
use crate::flavor::Flavor;
use crate::install::{SqlSource, Template};
use crate::postgres::{Backend, Server};

/// A running server with one database holding the installed sources.
#[derive(Debug)]
pub struct Sandbox {
    server: Server,
    database: String,
    options: PgConnectOptions,
}

impl Sandbox {
    /// Starts a server of kind `backend` and installs `sources` (then the harness's
    /// roles for `flavor`) into a fresh database.
    pub async fn start(
        backend: Backend,
        flavor: Flavor,
        sources: &[SqlSource],
    ) -> Result<Self, Error> {
        let server = Server::start(backend).await?;
        let template = Template::build(&server, flavor, sources).await?;
        let database = template.name().to_string();
        let options = server.connect_options(&database);
        Ok(Self {
            server,
            database,
            options,
        })
    }

    /// A libpq connection string for psql (no password is ever included).
    pub fn connection_string(&self) -> String {
        let host = self
            .options
            .get_socket()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| self.options.get_host().to_string());
        format!(
            "host={host} port={} user={} dbname={}",
            self.options.get_port(),
            self.options.get_username(),
            self.database
        )
    }

    /// Connect options for the installed database, as the server's administrative
    /// role: integration tests open their own sessions and act as any actor from there.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// Which backend runs it, and where.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.server.backend(), self.server.describe())
    }
}
