//! A database with a schema installed, kept running for a person with psql.
//!
//! Findings come with psql reproduction scripts; `smta-verify serve` (built on this)
//! gives the reader a fresh install to run them against, on the same backends the
//! checks use. Stopping or dropping the sandbox removes everything, like any other run.

use std::fmt;

use sqlx::postgres::PgConnectOptions;

use crate::error::Error;
use crate::flavor::Flavor;
use crate::install::{SqlSource, Template};
use crate::postgres::{Backend, Server, ServerSpec};

/// A running server with one database holding the installed sources.
pub struct Sandbox {
    server: Server,
    database: String,
    options: PgConnectOptions,
}

// By hand: the connect options of a URL server may carry its password.
impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("server", &self.describe())
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a server of kind `backend` and installs `sources` (then the harness's
    /// roles for `flavor`) into a fresh database. For an image or a database URL, use
    /// [`Verifier::sandbox`](crate::Verifier::sandbox).
    pub async fn start(
        backend: Backend,
        flavor: Flavor,
        sources: &[SqlSource],
    ) -> Result<Self, Error> {
        Self::start_with(&ServerSpec::new(backend), flavor, sources).await
    }

    pub(crate) async fn start_with(
        spec: &ServerSpec,
        flavor: Flavor,
        sources: &[SqlSource],
    ) -> Result<Self, Error> {
        let server = Server::start(spec).await?;
        let template = match Template::build(&server, flavor, sources).await {
            Ok(template) => template,
            Err(e) => {
                server.shutdown().await;
                return Err(e);
            }
        };
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

    /// The same as a `postgres://` URL for `database` on the sandbox's server (a unix
    /// socket directory goes percent-encoded in the host part; no password).
    pub fn connection_url(&self, database: &str) -> String {
        let host = match self.options.get_socket() {
            Some(dir) => percent_encode(&dir.display().to_string()),
            None => self.options.get_host().to_string(),
        };
        format!(
            "postgres://{}@{host}:{}/{database}",
            percent_encode(self.options.get_username()),
            self.options.get_port(),
        )
    }

    /// The database holding the installed sources.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Which backend runs it, and where.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.server.backend(), self.server.describe())
    }

    /// Stops the server (or drops the scratch databases on a URL server) and waits
    /// until nothing is left. Dropping the sandbox does the same, blocking.
    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
