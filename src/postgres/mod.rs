//! Where a database comes from: a local throwaway cluster, a container, or a URL.
//!
//! This is the only module that runs `initdb`, talks to Docker or reads a server URL.
//! Callers get a [`Server`]: connect options for any database on it, a description for
//! reports, and teardown when it is dropped. Which backend `auto` picks is decided here
//! too (SPEC §6): the URL if one is given, else the local binaries, else a container.

mod binaries;
mod local;
mod owner;
mod watchdog;

use std::fmt;

use sqlx::postgres::PgConnectOptions;

use local::LocalCluster;

/// Which kind of PostgreSQL to run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// A URL if one is given, else the local binaries, else a container.
    #[default]
    Auto,
    /// A throwaway cluster from the PostgreSQL binaries on this machine.
    Local,
    /// A PostgreSQL container started through testcontainers.
    Container,
    /// An existing server reached by URL; the harness works in its own scratch database.
    Url,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Local => "local",
            Backend::Container => "container",
            Backend::Url => "url",
        })
    }
}

/// Why no server could be had. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    #[error(
        "no PostgreSQL server binaries (initdb and postgres) found; looked in: {}.\n\
         hint: install PostgreSQL (Debian: apt-get install postgresql-15), set \
         SMTA_VERIFY_PG_BINDIR, or use --backend container or --database-url",
        tried.join(", ")
    )]
    NoPostgres { tried: Vec<String> },
    #[error(
        "running as root, but neither a `postgres` nor a `nobody` OS user exists to run \
         the server (PostgreSQL refuses to run as root)"
    )]
    NoServerUser,
    #[error("could not {action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("initdb failed ({status}):\n{stderr}")]
    Initdb { status: String, stderr: String },
    #[error("the local PostgreSQL server did not become ready; its log ends with:\n{log}")]
    ServerDidNotStart { log: String },
    #[error("--backend {0} is not available in this build yet")]
    Unsupported(Backend),
}

impl BackendError {
    pub(crate) fn io(action: &'static str, source: std::io::Error) -> Self {
        Self::Io { action, source }
    }
}

/// A running PostgreSQL server the harness may create databases on.
#[derive(Debug)]
pub(crate) struct Server {
    backend: Backend,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Local(LocalCluster),
}

impl Server {
    /// Starts (or reaches) a server of the requested kind.
    pub(crate) async fn start(requested: Backend) -> Result<Self, BackendError> {
        match requested {
            Backend::Auto | Backend::Local => {
                let cluster = tokio::task::spawn_blocking(LocalCluster::start)
                    .await
                    .expect("cluster start does not panic")?;
                Ok(Self {
                    backend: Backend::Local,
                    inner: Inner::Local(cluster),
                })
            }
            other => Err(BackendError::Unsupported(other)),
        }
    }

    /// The backend actually in use (never `Auto`).
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Connect options for `database` with the server's administrative role.
    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        match &self.inner {
            Inner::Local(cluster) => cluster.connect_options(database),
        }
    }

    /// The database that always exists and is used to create and drop others.
    pub(crate) fn maintenance_database(&self) -> &str {
        "postgres"
    }

    /// Where the server is, for logs and reports (never with a password).
    pub(crate) fn describe(&self) -> String {
        match &self.inner {
            Inner::Local(cluster) => cluster.describe(),
        }
    }
}
