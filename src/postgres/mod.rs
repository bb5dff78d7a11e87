//! Where a database comes from: a local throwaway cluster, a container, or a URL.
//!
//! This is the only module that runs `initdb`, talks to Docker or reads a server URL.
//! Callers get a [`Server`]: connect options for any database on it, a description for
//! reports (never with a password), the creation of scratch databases, and teardown —
//! `shutdown().await` on the normal path, `Drop` as the fallback on every other one.
//! Which backend `auto` picks is decided here too (SPEC §6): the URL if one is given,
//! else a container if an image was named explicitly, else the local binaries if
//! found, else a container.

mod binaries;
mod container;
mod initdb_cache;
mod local;
mod owner;
mod url;
mod watchdog;

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

use binaries::PgBinaries;
use container::{ContainerServer, ImageRef};
use local::LocalCluster;
use url::{SecretUrl, UrlServer};

/// Every database the harness creates is named with this prefix; on a shared server
/// (the URL backend) it is how anyone can tell which databases are ours.
pub(crate) const SCRATCH_PREFIX: &str = "smta_verify_";

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
         hint: install PostgreSQL (Debian: apt-get install postgresql-15), name the \
         directory with --pg-bin DIR (or SMTA_VERIFY_PG_BIN), or use --backend container \
         or --database-url",
        tried.join(", ")
    )]
    NoPostgres { tried: Vec<String> },
    #[error(
        "{dir} (named by {named_by}) holds no PostgreSQL server binaries: initdb and postgres \
         must both be there.\n\
         hint: name the bin directory of a PostgreSQL installation (Debian: \
         /usr/lib/postgresql/<version>/bin; `pg_config --bindir` prints it)"
    )]
    NotABindir { dir: String, named_by: &'static str },
    #[error(
        "no PostgreSQL to run against: no server binaries here (looked in: {}), and \
         Docker is not reachable at {docker_endpoint} ({docker_reason}).\n\
         hint: install PostgreSQL (Debian: apt-get install postgresql-15), start Docker, \
         or pass --database-url for an existing server",
        tried.join(", ")
    )]
    NothingToRunOn {
        tried: Vec<String>,
        docker_endpoint: String,
        docker_reason: String,
    },
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
    #[error(
        "Docker is not reachable at {endpoint}: {reason}\n\
         hint: start the Docker engine (e.g. `systemctl start docker`, or run `dockerd`), \
         point DOCKER_HOST at a running engine, or use --backend local (PostgreSQL \
         installed on this machine) or --database-url"
    )]
    DockerUnavailable { endpoint: String, reason: String },
    #[error("{image:?} is not a usable image reference: {reason} (expected NAME[:TAG], e.g. postgres:15)")]
    BadImage { image: String, reason: String },
    #[error(
        "the image {image} is not present locally and could not be pulled: {reason}\n\
         hint: pull it where a registry is reachable (`docker pull {image}`), load it with \
         `docker load`, or name a local image with --image (see `docker images`; \
         ci/build-postgres-image.sh --version 15|17|18 builds smta-verify/postgres:N without a \
         registry)"
    )]
    ImageUnavailable { image: String, reason: String },
    #[error("the PostgreSQL container from {image} did not start: {reason}{}", log_suffix(.log))]
    ContainerDidNotStart {
        image: String,
        reason: String,
        log: String,
    },
    #[error(
        "--backend url needs a database URL: pass --database-url postgres://USER@HOST/DB \
         (or set SMTA_VERIFY_DATABASE_URL; the library: Verifier::database_url)"
    )]
    UrlMissing,
    #[error("conflicting backend options: {0}")]
    Conflict(String),
    #[error(
        "the database URL is not valid: {reason}\n\
         hint: postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE]"
    )]
    BadUrl { reason: String },
    #[error(
        "could not connect to the {server}: {reason}\n\
         hint: check the host, port, user and password in the URL, and that the server \
         accepts connections from this machine"
    )]
    UrlUnreachable { server: String, reason: String },
    #[error(
        "the role {role} on the {server} may not create databases (it lacks CREATEDB); the \
         url backend works only in scratch databases it creates and drops again.\n\
         hint: ALTER ROLE {role} CREATEDB, or use a URL with a role that has it"
    )]
    NoCreateDb { role: String, server: String },
    #[error("could not {action} on the {server}: {reason}")]
    UrlQuery {
        action: &'static str,
        server: String,
        reason: String,
    },
}

fn log_suffix(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        format!("; its log ends with:\n{log}")
    }
}

impl BackendError {
    pub(crate) fn io(action: &'static str, source: std::io::Error) -> Self {
        Self::Io { action, source }
    }
}

/// Where PostgreSQL comes from: a backend and what it needs (an image, a URL).
///
/// `auto` (the default) picks, in order: the URL if one is given; a container if an
/// image is named here; the local PostgreSQL binaries if found; a container of
/// `$SMTA_VERIFY_IMAGE`, else `postgres:15`. Asking for a backend that is not
/// available is an error, never a silent fallback to another one.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerSpec {
    backend: Backend,
    image: Option<String>,
    database_url: Option<SecretUrl>,
    pg_bin: Option<PathBuf>,
}

impl ServerSpec {
    /// A spec for `backend`, with no image and no URL.
    pub(crate) fn new(backend: Backend) -> Self {
        Self {
            backend,
            ..Self::default()
        }
    }

    /// The container image, `NAME[:TAG]`. Default: `$SMTA_VERIFY_IMAGE`, else
    /// `postgres:15` (the official image). `supabase/postgres:<tag>` is the
    /// high-fidelity choice for Supabase projects. A locally present image is used without contacting a
    /// registry. Naming an image makes `auto` choose the container backend.
    pub(crate) fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// An existing server, `postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE]`: the
    /// harness works there only in scratch databases it creates (the role needs
    /// CREATEDB) and drops. Default: none. The password never appears in output.
    pub(crate) fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(SecretUrl::new(url));
        self
    }

    /// The directory of the local backend's `initdb` and `postgres` (e.g.
    /// `/usr/lib/postgresql/17/bin`). Default: `$SMTA_VERIFY_PG_BIN`, else found by
    /// search (see `binaries`). Naming it makes `auto` choose the local backend.
    pub(crate) fn pg_bin(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pg_bin = Some(dir.into());
        self
    }

    /// Replaces the backend, keeping the image and URL.
    pub(crate) fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    fn plan(&self) -> Result<Plan, BackendError> {
        let image = self.image.as_deref().map(ImageRef::parse).transpose()?;
        if let Some(dir) = &self.pg_bin {
            let other = match (&self.database_url, &image, self.backend) {
                (Some(_), _, _) => Some("a database URL (--database-url)".to_string()),
                (None, Some(image), _) => Some(format!("an image ({image})")),
                (None, None, backend @ (Backend::Container | Backend::Url)) => {
                    Some(format!("--backend {backend}"))
                }
                (None, None, Backend::Auto | Backend::Local) => None,
            };
            return match other {
                Some(other) => Err(BackendError::Conflict(format!(
                    "PostgreSQL binaries (--pg-bin {}) were given with {other}; the binaries \
                     are for the local backend: keep one",
                    dir.display()
                ))),
                None => Ok(Plan::Local),
            };
        }
        match (self.backend, &self.database_url, image) {
            (_, Some(_), Some(_)) => Err(BackendError::Conflict(
                "an image (--image) and a database URL (--database-url) were both given; \
                 a URL names a running server, an image one to start: keep one"
                    .to_string(),
            )),
            (Backend::Auto | Backend::Url, Some(url), None) => Ok(Plan::Url(url.clone())),
            (backend @ (Backend::Local | Backend::Container), Some(_), None) => {
                Err(BackendError::Conflict(format!(
                    "a database URL (--database-url) was given with --backend {backend}; \
                     use --backend url (or auto) for the server it names, or drop the URL"
                )))
            }
            (Backend::Url, None, _) => Err(BackendError::UrlMissing),
            (Backend::Local, None, Some(image)) => Err(BackendError::Conflict(format!(
                "an image ({image}) was given with --backend local; images are for \
                 --backend container"
            ))),
            (Backend::Auto | Backend::Container, None, Some(image)) => Ok(Plan::Container(image)),
            (Backend::Container, None, None) => {
                Ok(Plan::Container(ImageRef::from_env_or_default()?))
            }
            (Backend::Local, None, None) => Ok(Plan::Local),
            (Backend::Auto, None, None) => Ok(Plan::LocalElseContainer),
        }
    }
}

/// What [`ServerSpec`] resolves to before anything is started.
enum Plan {
    Url(SecretUrl),
    Local,
    Container(ImageRef),
    LocalElseContainer,
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
    // Boxed: testcontainers' handle and sqlx's connect options are many times the
    // size of the local cluster's few fields.
    Container(Box<ContainerServer>),
    Url(Box<UrlServer>),
}

impl Server {
    /// Starts (or reaches) the server `spec` asks for.
    pub(crate) async fn start(spec: &ServerSpec) -> Result<Self, BackendError> {
        let started = Instant::now();
        let server = match spec.plan()? {
            Plan::Url(url) => Self::new(
                Backend::Url,
                Inner::Url(Box::new(UrlServer::start(&url).await?)),
            ),
            Plan::Local => Self::start_local(spec.pg_bin.clone()).await?,
            Plan::Container(image) => {
                let docker = container::connect_docker().await?;
                Self::start_container(&docker, image).await?
            }
            Plan::LocalElseContainer => match PgBinaries::locate(None) {
                Ok(_) => Self::start_local(None).await?,
                Err(BackendError::NoPostgres { tried }) => {
                    let docker = container::connect_docker().await.map_err(|e| match e {
                        BackendError::DockerUnavailable { endpoint, reason } => {
                            BackendError::NothingToRunOn {
                                tried,
                                docker_endpoint: endpoint,
                                docker_reason: reason,
                            }
                        }
                        other => other,
                    })?;
                    tracing::info!("no PostgreSQL binaries on this machine; using a container");
                    Self::start_container(&docker, ImageRef::from_env_or_default()?).await?
                }
                Err(other) => return Err(other),
            },
        };
        tracing::info!(
            elapsed = ?started.elapsed(),
            backend = %server.backend,
            "server ready: {}",
            server.describe()
        );
        Ok(server)
    }

    fn new(backend: Backend, inner: Inner) -> Self {
        Self { backend, inner }
    }

    async fn start_local(pg_bin: Option<PathBuf>) -> Result<Self, BackendError> {
        let cluster = tokio::task::spawn_blocking(move || LocalCluster::start(pg_bin.as_deref()))
            .await
            .expect("cluster start does not panic")?;
        Ok(Self::new(Backend::Local, Inner::Local(cluster)))
    }

    async fn start_container(
        docker: &testcontainers::bollard::Docker,
        image: ImageRef,
    ) -> Result<Self, BackendError> {
        let container = ContainerServer::start(docker, image).await?;
        Ok(Self::new(
            Backend::Container,
            Inner::Container(Box::new(container)),
        ))
    }

    /// The backend actually in use (never `Auto`).
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Connect options for `database` with the server's administrative role.
    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        match &self.inner {
            Inner::Local(cluster) => cluster.connect_options(database),
            Inner::Container(container) => container.connect_options(database),
            Inner::Url(server) => server.connect_options(database),
        }
    }

    /// The database that always exists and is used to create and drop others.
    pub(crate) fn maintenance_database(&self) -> &str {
        match &self.inner {
            Inner::Url(server) => server.maintenance_database(),
            Inner::Local(_) | Inner::Container(_) => "postgres",
        }
    }

    /// Where the server is, for logs and reports (never with a password).
    pub(crate) fn describe(&self) -> String {
        match &self.inner {
            Inner::Local(cluster) => cluster.describe(),
            Inner::Container(container) => container.describe(),
            Inner::Url(server) => server.describe(),
        }
    }

    /// Creates the scratch database `name` (a copy of `template`, else empty). On a
    /// shared server it is tracked, stamped with its owner and dropped at teardown.
    pub(crate) async fn create_database(
        &self,
        name: &str,
        template: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        assert!(
            name.starts_with(SCRATCH_PREFIX),
            "scratch databases are named {SCRATCH_PREFIX}…, not {name}"
        );
        let mut admin =
            PgConnection::connect_with(&self.connect_options(self.maintenance_database())).await?;
        if let Inner::Url(server) = &self.inner {
            server.track(name);
        }
        // On a throwaway server a clone may copy files after a checkpoint (FILE_COPY,
        // PostgreSQL 15+) instead of writing the whole template through the WAL: about
        // 10 % faster here. A shared server keeps its default: forcing checkpoints
        // on someone else's database is not ours to do.
        let file_copy = !matches!(self.inner, Inner::Url(_))
            && sqlx::query_scalar::<_, String>("SELECT current_setting('server_version_num')")
                .fetch_one(&mut admin)
                .await?
                .parse::<u32>()
                .is_ok_and(|version| version >= 150_000);
        let sql = format!(
            "CREATE DATABASE {name} TEMPLATE {}{}",
            template.unwrap_or("template0"),
            if file_copy { " STRATEGY FILE_COPY" } else { "" }
        );
        let mut result = admin.execute(sql.as_str()).await.map(drop);
        if let (Ok(()), Inner::Url(_)) = (&result, &self.inner) {
            result = admin
                .execute(UrlServer::stamp_sql(name).as_str())
                .await
                .map(drop);
        }
        let _ = admin.close().await;
        result
    }

    /// Drops the scratch database `name` before teardown: a run that makes one
    /// database per mutant must not keep hundreds of them until the end.
    pub(crate) async fn drop_database(&self, name: &str) -> Result<(), sqlx::Error> {
        assert!(
            name.starts_with(SCRATCH_PREFIX),
            "scratch databases are named {SCRATCH_PREFIX}…, not {name}"
        );
        let mut admin =
            PgConnection::connect_with(&self.connect_options(self.maintenance_database())).await?;
        let result = admin.execute(url::drop_sql(name).as_str()).await.map(drop);
        let _ = admin.close().await;
        if let (Ok(()), Inner::Url(server)) = (&result, &self.inner) {
            server.untrack(name);
        }
        result
    }

    /// Tears the server down and waits until it is gone: the local cluster is
    /// stopped and deleted, the container removed, the URL server's scratch databases
    /// dropped. Dropping a `Server` does the same, blocking.
    pub(crate) async fn shutdown(self) {
        match self.inner {
            Inner::Local(cluster) => {
                let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
            }
            Inner::Container(container) => container.shutdown().await,
            Inner::Url(server) => server.drop_created().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(spec: ServerSpec) -> Result<Plan, String> {
        spec.plan().map_err(|e| e.to_string())
    }

    #[test]
    fn auto_prefers_a_url_then_a_named_image_then_the_machine() {
        let url = "postgres://u:pw@db/x";
        assert!(matches!(
            plan(ServerSpec::default().database_url(url)),
            Ok(Plan::Url(_))
        ));
        assert!(matches!(
            plan(ServerSpec::default().image("postgres:16")),
            Ok(Plan::Container(image)) if image.to_string() == "postgres:16"
        ));
        assert!(matches!(
            plan(ServerSpec::default()),
            Ok(Plan::LocalElseContainer)
        ));
    }

    #[test]
    fn named_binaries_choose_the_local_backend() {
        assert!(matches!(
            plan(ServerSpec::default().pg_bin("/usr/lib/postgresql/17/bin")),
            Ok(Plan::Local)
        ));
        assert!(matches!(
            plan(ServerSpec::new(Backend::Local).pg_bin("/x")),
            Ok(Plan::Local)
        ));
    }

    #[test]
    fn a_named_backend_is_taken_at_its_word() {
        assert!(matches!(
            plan(ServerSpec::new(Backend::Local)),
            Ok(Plan::Local)
        ));
        assert!(matches!(
            plan(ServerSpec::new(Backend::Container).image("pg:1")),
            Ok(Plan::Container(_))
        ));
        assert!(matches!(
            plan(ServerSpec::new(Backend::Url).database_url("postgres://h/d")),
            Ok(Plan::Url(_))
        ));
    }

    #[test]
    fn contradictions_are_errors_that_say_what_to_drop() {
        let cases = [
            (ServerSpec::new(Backend::Url), "needs a database URL"),
            (
                ServerSpec::new(Backend::Local).database_url("postgres://h/d"),
                "--backend local",
            ),
            (
                ServerSpec::new(Backend::Container).database_url("postgres://h/d"),
                "--backend container",
            ),
            (
                ServerSpec::new(Backend::Local).image("pg:1"),
                "--backend local",
            ),
            (
                ServerSpec::default()
                    .image("pg:1")
                    .database_url("postgres://h/d"),
                "keep one",
            ),
            (ServerSpec::default().image("pg@sha256:00"), "digests"),
            (
                ServerSpec::default().image("pg:1").pg_bin("/x"),
                "--pg-bin /x",
            ),
            (
                ServerSpec::new(Backend::Container).pg_bin("/x"),
                "--backend container",
            ),
            (
                ServerSpec::default()
                    .database_url("postgres://h/d")
                    .pg_bin("/x"),
                "--database-url",
            ),
        ];
        for (spec, expected) in cases {
            let debug = format!("{spec:?}");
            let err = plan(spec).err().unwrap_or_default();
            assert!(err.contains(expected), "{debug}: {err}");
        }
    }

    #[test]
    fn the_spec_never_shows_the_password() {
        let spec = ServerSpec::default().database_url("postgres://u:hunter2@db/x");
        assert!(!format!("{spec:?}").contains("hunter2"));
    }
}
