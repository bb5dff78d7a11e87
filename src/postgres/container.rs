//! PostgreSQL in a throwaway Docker container, started through testcontainers.
//!
//! For machines without PostgreSQL installed, and for fidelity: the image decides which
//! server runs. The default is the official `postgres:15`; `supabase/postgres` is the
//! high-fidelity choice for Supabase projects (its roles and extensions are the real
//! ones). A locally present image is used as is — testcontainers pulls only when the
//! engine reports the image missing — so an image built or loaded on a machine without
//! registry access works.
//!
//! The data directory lives on a tmpfs (nothing in it must survive, and on the
//! overlay storage of CI machines every write is slow). The port is published on
//! 127.0.0.1 only when the engine is local: the server trusts every connection, so it
//! must not be reachable from the network. Readiness is a real connection from us to
//! the published port, retried while the server starts; the image's own log lines
//! differ between images (the official one prints "ready" twice, once for the
//! temporary init server) and are not relied upon.
//!
//! Nothing may outlive the run: every container carries owner labels; a watchdog
//! removes the run's containers with the `docker` CLI when this process ends in any
//! way (testcontainers' own `Drop` does not run on SIGKILL or Ctrl-C); and containers
//! whose owner is gone are removed at the next start, for the case where the watchdog
//! itself was killed.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgConnection};
use testcontainers::bollard::models::PortBinding;
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::client::ClientError;
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use super::owner::{self, stamp_is_dead, Owner};
use super::watchdog::Watchdog;
use super::BackendError;

/// The image used when none is named.
pub(crate) const DEFAULT_IMAGE: &str = "postgres:15";
/// Names the image when the builder or the command line does not.
pub(crate) const IMAGE_ENV: &str = "SMTA_VERIFY_IMAGE";
/// Every image we know of creates this superuser; with trust auth it needs no password.
const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;
/// First start of an image initialises a cluster; on a loaded 2-core CI machine with
/// slow storage that has been seen to take tens of seconds.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Where the official image (and images derived from it) keep their cluster when the
/// image does not say otherwise in its environment.
const DEFAULT_PGDATA: &str = "/var/lib/postgresql/data";

/// `pid:start-time` of the process that started the container.
pub(crate) const LABEL_OWNER: &str = "smta-verify.owner";
/// The boot and pid namespace the owner pid belongs to (see `owner`).
pub(crate) const LABEL_SCOPE: &str = "smta-verify.scope";
/// One id per started server, so the watchdog can find its container by label even
/// if the process died before it learnt the container's id.
pub(crate) const LABEL_RUN: &str = "smta-verify.run";

/// An image reference, `NAME[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    name: String,
    tag: String,
}

impl ImageRef {
    /// Parses `NAME[:TAG]`; a missing tag means `latest`, as for `docker run`. The
    /// name may include a registry with a port (`host:5000/pg:15`).
    pub(crate) fn parse(reference: &str) -> Result<Self, BackendError> {
        let bad = |reason: &str| BackendError::BadImage {
            image: reference.to_string(),
            reason: reason.to_string(),
        };
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(bad("it is empty"));
        }
        if reference.chars().any(char::is_whitespace) {
            return Err(bad("it contains whitespace"));
        }
        if reference.contains('@') {
            return Err(bad("digests are not supported; name the image as NAME:TAG"));
        }
        let last_component = reference.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match reference[last_component..].rfind(':') {
            Some(i) => (
                &reference[..last_component + i],
                &reference[last_component + i + 1..],
            ),
            None => (reference, "latest"),
        };
        if name.is_empty() || name.ends_with('/') {
            return Err(bad("the image name is missing"));
        }
        if tag.is_empty() {
            return Err(bad("the tag after ':' is empty"));
        }
        Ok(Self {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// The image named by `SMTA_VERIFY_IMAGE`, else [`DEFAULT_IMAGE`].
    pub(crate) fn from_env_or_default() -> Result<Self, BackendError> {
        match std::env::var(IMAGE_ENV) {
            Ok(value) if !value.trim().is_empty() => Self::parse(&value),
            _ => Self::parse(DEFAULT_IMAGE),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// The engine endpoint, as the Docker client libraries resolve it, for messages.
fn docker_endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Connects to the Docker engine and makes sure it answers.
pub(crate) async fn connect_docker() -> Result<Docker, BackendError> {
    let unavailable = |reason: String| BackendError::DockerUnavailable {
        endpoint: docker_endpoint(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unavailable(error_chain(&e)))?;
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(unavailable(error_chain(&e))),
        Err(_) => Err(unavailable("it did not answer within 10 s".to_string())),
    }
}

/// A running PostgreSQL container; [`shutdown`](Self::shutdown) or dropping it removes
/// the container.
pub(crate) struct ContainerServer {
    container: Option<ContainerAsync<GenericImage>>,
    watchdog: Option<Watchdog>,
    image: ImageRef,
    id: String,
    host: String,
    port: u16,
}

impl fmt::Debug for ContainerServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerServer")
            .field("image", &self.image.to_string())
            .field("id", &self.id)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl ContainerServer {
    pub(crate) async fn start(docker: &Docker, image: ImageRef) -> Result<Self, BackendError> {
        reap_stale_containers(docker).await;
        let run = uuid::Uuid::new_v4().simple().to_string();
        // Armed before the container exists: whatever happens from here on, the
        // container carrying this run label is removed when we go.
        let watchdog = spawn_watchdog(&run)?;
        let pgdata = image_pgdata(docker, &image).await;

        let mut request = GenericImage::new(image.name.clone(), image.tag.clone())
            .with_exposed_port(PORT.tcp())
            .with_label(LABEL_OWNER, Owner::current().stamp())
            .with_label(LABEL_SCOPE, owner::scope())
            .with_label(LABEL_RUN, run)
            .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
            .with_mount(Mount::tmpfs_mount(pgdata))
            .with_startup_timeout(STARTUP_TIMEOUT);
        if engine_is_local() {
            request = request.with_host_config_modifier(|host_config| {
                let binding = PortBinding {
                    host_ip: Some("127.0.0.1".to_string()),
                    // Empty: the engine picks a free port.
                    host_port: Some(String::new()),
                };
                host_config.publish_all_ports = Some(false);
                host_config.port_bindings = Some(HashMap::from([(
                    format!("{PORT}/tcp"),
                    Some(vec![binding]),
                )]));
            });
        }

        let container = request.start().await.map_err(|e| start_error(&image, e))?;
        let mut server = Self {
            id: container.id().to_string(),
            container: None,
            watchdog,
            image,
            host: String::new(),
            port: 0,
        };
        let (host, port) = match published_address(&container).await {
            Ok(address) => address,
            Err(reason) => {
                server.container = Some(container);
                return Err(server.did_not_start(reason, String::new()));
            }
        };
        server.host = host;
        server.port = port;
        let ready = wait_until_ready(&container, server.connect_options(SUPERUSER)).await;
        server.container = Some(container);
        match ready {
            Ok(()) => Ok(server),
            Err(reason) => {
                let log = match &server.container {
                    Some(c) => container_log_tail(c).await,
                    None => String::new(),
                };
                Err(server.did_not_start(reason, log))
            }
        }
    }

    fn did_not_start(&self, reason: String, log: String) -> BackendError {
        BackendError::ContainerDidNotStart {
            image: self.image.to_string(),
            reason,
            log,
        }
    }

    /// Connect options for `database` as the image's superuser, over TCP.
    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .username(SUPERUSER)
            .database(database)
            // A throwaway server on loopback has no certificate to offer; a PGSSLMODE
            // meant for other servers must not make every connection fail.
            .ssl_mode(PgSslMode::Disable)
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "container {} from {}, port {}:{}",
            &self.id[..self.id.len().min(12)],
            self.image,
            self.host,
            self.port
        )
    }

    /// Removes the container and waits until it is gone.
    pub(crate) async fn shutdown(mut self) {
        if let Some(container) = self.container.take() {
            if let Err(e) = container.rm().await {
                tracing::debug!("removing container {}: {e}", self.id);
            }
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            // The watchdog only checks that nothing of this run is left; its `docker`
            // call blocks, so it runs off the async workers.
            let _ = tokio::task::spawn_blocking(move || watchdog.release()).await;
        }
    }
}

impl Drop for ContainerServer {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        match self.watchdog.as_mut() {
            Some(watchdog) => {
                watchdog.release();
                // Already removed by the watchdog. testcontainers' own Drop would try
                // again, and needs a tokio runtime that may be gone by now.
                std::mem::forget(container);
            }
            None if tokio::runtime::Handle::try_current().is_ok() => drop(container),
            None => {
                tracing::warn!(
                    "container {} is left running until the next smta-verify start removes it",
                    self.id
                );
                std::mem::forget(container);
            }
        }
    }
}

/// The `docker` CLI the watchdog calls, found on `PATH`.
fn docker_cli() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("docker"))
        .find(|path| path.is_file())
}

fn spawn_watchdog(run: &str) -> Result<Option<Watchdog>, BackendError> {
    let Some(cli) = docker_cli() else {
        tracing::warn!(
            "no `docker` command on PATH: a container of a run that is killed stays until \
             the next smta-verify start removes it"
        );
        return Ok(None);
    };
    let script = format!(
        r#"ids=$("$DOCKER" ps -aq --filter "label={LABEL_RUN}=$RUN" 2>/dev/null) || exit 0
[ -z "$ids" ] || "$DOCKER" rm -f -v $ids >/dev/null 2>&1 || :"#
    );
    Watchdog::spawn(
        &script,
        &[
            ("DOCKER", cli.display().to_string()),
            ("RUN", run.to_string()),
        ],
    )
    .map(Some)
    .map_err(|e| BackendError::io("start the cleanup watchdog", e))
}

/// Removes containers whose owner process is gone (same boot and pid namespace only).
async fn reap_stale_containers(docker: &Docker) {
    let filters = HashMap::from([("label", vec![LABEL_OWNER])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let containers = match docker.list_containers(Some(options)).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!("could not list containers to reap stale ones: {e}");
            return;
        }
    };
    let scope = owner::scope();
    for container in containers {
        let labels = container.labels.unwrap_or_default();
        if labels.get(LABEL_SCOPE) != Some(&scope) {
            continue;
        }
        let (Some(stamp), Some(id)) = (labels.get(LABEL_OWNER), container.id) else {
            continue;
        };
        if !stamp_is_dead(stamp) {
            continue;
        }
        tracing::info!("removing container {id}: its owner {stamp} is gone");
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        if let Err(e) = docker.remove_container(&id, Some(options)).await {
            // Typically the dead run's watchdog is removing it at the same moment.
            tracing::debug!("removing stale container {id}: {e}");
        }
    }
}

/// The data directory the image declares in its environment, so the tmpfs lands on
/// it (the official image moved it between major versions).
async fn image_pgdata(docker: &Docker, image: &ImageRef) -> String {
    let declared = docker
        .inspect_image(&image.to_string())
        .await
        .ok()
        .and_then(|inspect| inspect.config)
        .and_then(|config| config.env)
        .and_then(|env| {
            env.iter()
                .find_map(|var| var.strip_prefix("PGDATA=").map(str::to_string))
        });
    declared.unwrap_or_else(|| DEFAULT_PGDATA.to_string())
}

/// A local engine publishes on this machine's loopback; a remote one (DOCKER_HOST
/// over tcp) or a sibling engine seen from inside a container cannot.
fn engine_is_local() -> bool {
    let endpoint = docker_endpoint();
    endpoint.starts_with("unix://") && !Path::new("/.dockerenv").exists()
}

async fn published_address(
    container: &ContainerAsync<GenericImage>,
) -> Result<(String, u16), String> {
    let port = container
        .get_host_port_ipv4(PORT)
        .await
        .map_err(|e| format!("its port {PORT} is not published: {e}"))?;
    let host = container
        .get_host()
        .await
        .map_err(|e| format!("the engine's host is unknown: {e}"))?
        .to_string();
    // "localhost" may resolve to ::1 first, where the port is not published.
    if host == "localhost" {
        return Ok(("127.0.0.1".to_string(), port));
    }
    Ok((host, port))
}

/// Connects until the server answers a query. Every attempt is a real connection, so
/// "ready" means what the harness needs; the official image's temporary init server
/// listens on no TCP port and cannot be mistaken for the real one.
async fn wait_until_ready(
    container: &ContainerAsync<GenericImage>,
    options: PgConnectOptions,
) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(10), async {
            let mut conn = PgConnection::connect_with(&options).await?;
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            conn.close().await
        })
        .await;
        let error = match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "a connection attempt hung for 10 s".to_string(),
        };
        if !container.is_running().await.unwrap_or(false) {
            let code = container.exit_code().await.ok().flatten();
            return Err(match code {
                Some(code) => format!("the container exited with status {code}"),
                None => "the container stopped".to_string(),
            });
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the server did not accept connections within {} s (last error: {error})",
                STARTUP_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

async fn container_log_tail(container: &ContainerAsync<GenericImage>) -> String {
    let mut log = container.stdout_to_vec().await.unwrap_or_default();
    log.extend(container.stderr_to_vec().await.unwrap_or_default());
    let log = String::from_utf8_lossy(&log);
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn start_error(image: &ImageRef, error: TestcontainersError) -> BackendError {
    if let TestcontainersError::Client(ClientError::PullImage { err, .. }) = &error {
        return BackendError::ImageUnavailable {
            image: image.to_string(),
            reason: error_chain(err),
        };
    }
    BackendError::ContainerDidNotStart {
        image: image.to_string(),
        reason: error_chain(&error),
        log: String::new(),
    }
}

/// An error with its sources, `a: b: c`, skipping repeats (wrappers often print
/// their source in their own message).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_parse_like_docker_run() {
        let cases = [
            ("postgres:15", "postgres", "15"),
            ("postgres", "postgres", "latest"),
            (
                "supabase/postgres:15.8.1.085",
                "supabase/postgres",
                "15.8.1.085",
            ),
            ("localhost:5000/pg:15", "localhost:5000/pg", "15"),
            ("localhost:5000/pg", "localhost:5000/pg", "latest"),
        ];
        for (input, name, tag) in cases {
            let image = ImageRef::parse(input).unwrap();
            assert_eq!(
                (image.name.as_str(), image.tag.as_str()),
                (name, tag),
                "{input}"
            );
        }
        assert_eq!(ImageRef::parse("pg").unwrap().to_string(), "pg:latest");
    }

    #[test]
    fn bad_image_references_say_why() {
        for (input, why) in [
            ("", "empty"),
            ("post gres:15", "whitespace"),
            ("postgres@sha256:abc", "digests"),
            ("postgres:", "tag"),
            (":15", "name"),
        ] {
            let err = ImageRef::parse(input).unwrap_err().to_string();
            assert!(err.contains(why), "{input:?}: {err}");
        }
    }
}
