//! An existing PostgreSQL server reached by URL, shared with whatever else lives there.
//!
//! The harness is a guest on such a server: it works only in scratch databases it
//! creates (`smta_verify_…`, see `install::template`), drops every one of them at the
//! end, and never connects to, alters or drops any other database. Each scratch
//! database is stamped with its owner in its comment, so that databases left by a run
//! that was killed are dropped by the next run from the same machine — and by no
//! one else. The role in the URL needs CREATEDB; it is checked up front. Roles are
//! server-wide in PostgreSQL: the SMTA roles a schema creates (when missing) stay,
//! since other databases on the server may use them.
//!
//! The URL is `postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE][?PARAMS]`, parsed by
//! sqlx: a host starting with `/` (percent-encoded, or `?host=/path`) is a unix socket
//! directory; `sslmode`, `sslrootcert` and friends are accepted. What the URL leaves
//! out comes from the libpq environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//! `PGSSLMODE`, …) and `~/.pgpass`, as with psql. The database in the URL is only
//! used to issue `CREATE DATABASE`/`DROP DATABASE`; it defaults to `postgres`.
//!
//! The password never leaves this module: descriptions are built from the parsed
//! options without it, `Debug` redacts, and every message that quotes the server or
//! a driver error is scrubbed of it.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, Row};

use super::owner::{self, stamp_is_dead, Owner};
use super::{BackendError, SCRATCH_PREFIX};

/// Comments of our scratch databases start with this.
const COMMENT_PREFIX: &str = "smta-verify scratch database; owner=";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A database URL that may hold a password: shown only redacted.
#[derive(Clone)]
pub(crate) struct SecretUrl(String);

impl SecretUrl {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The passwords a message could leak: the URL's, raw and percent-decoded, and a
    /// `password=` query parameter.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        let url = &self.0;
        if let Some(rest) = url.split_once("://").map(|(_, rest)| rest) {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    secrets.push(password.to_string());
                }
            }
        }
        if let Some((_, query)) = url.split_once('?') {
            for pair in query.split('&') {
                if let Some(value) = pair.strip_prefix("password=") {
                    secrets.push(value.to_string());
                }
            }
        }
        let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
        secrets.extend(decoded);
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a password containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }

    /// `text` with every occurrence of the password replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets() {
            out = out.replace(&secret, "***");
        }
        out
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUrl(<redacted>)")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server reached by URL, and the scratch databases we created on it.
pub(crate) struct UrlServer {
    url: SecretUrl,
    options: PgConnectOptions,
    maintenance: String,
    description: String,
    created: Mutex<Vec<String>>,
}

impl fmt::Debug for UrlServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlServer")
            .field("server", &self.description)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl UrlServer {
    pub(crate) async fn start(url: &SecretUrl) -> Result<Self, BackendError> {
        let scheme_ok = ["postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.0.starts_with(scheme));
        if !scheme_ok {
            return Err(BackendError::BadUrl {
                reason: "it must start with postgres:// or postgresql://".to_string(),
            });
        }
        let options = PgConnectOptions::from_str(&url.0).map_err(|e| BackendError::BadUrl {
            reason: url.scrub(&e.to_string()),
        })?;
        let maintenance = options.get_database().unwrap_or("postgres").to_string();
        let description = describe(&options, &maintenance);
        let server = Self {
            url: url.clone(),
            options,
            maintenance,
            description,
            created: Mutex::new(Vec::new()),
        };
        let mut conn = server.connect_maintenance().await?;
        let row = sqlx::query(
            "SELECT current_user::text AS role, \
                    (rolcreatedb OR rolsuper) AS may_create \
             FROM pg_catalog.pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| server.query_error("read the role's attributes", &e))?;
        let role: String = row.get("role");
        if !row.get::<bool, _>("may_create") {
            let _ = conn.close().await;
            return Err(BackendError::NoCreateDb {
                role,
                server: server.description.clone(),
            });
        }
        server.reap_stale_databases(&mut conn).await;
        let _ = conn.close().await;
        Ok(server)
    }

    async fn connect_maintenance(&self) -> Result<PgConnection, BackendError> {
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            PgConnection::connect_with(&self.connect_options(&self.maintenance)),
        )
        .await;
        let reason = match attempt {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => self.url.scrub(&e.to_string()),
            Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        };
        Err(BackendError::UrlUnreachable {
            server: self.description.clone(),
            reason,
        })
    }

    fn query_error(&self, action: &'static str, error: &sqlx::Error) -> BackendError {
        BackendError::UrlQuery {
            action,
            server: self.description.clone(),
            reason: self.url.scrub(&error.to_string()),
        }
    }

    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        self.options.clone().database(database)
    }

    pub(crate) fn maintenance_database(&self) -> &str {
        &self.maintenance
    }

    pub(crate) fn describe(&self) -> String {
        self.description.clone()
    }

    /// Remembers `name` before it is created, so a database whose creation succeeded
    /// but whose reply was lost is still dropped (`IF EXISTS`).
    pub(crate) fn track(&self, name: &str) {
        self.created
            .lock()
            .expect("database list")
            .push(name.to_string());
    }

    /// Forgets `name`: it was dropped before teardown.
    pub(crate) fn untrack(&self, name: &str) {
        self.created
            .lock()
            .expect("database list")
            .retain(|n| n != name);
    }

    /// The comment that marks `name` as ours, for reaping after a crash.
    pub(crate) fn stamp_sql(name: &str) -> String {
        format!(
            "COMMENT ON DATABASE {} IS '{COMMENT_PREFIX}{} scope={}'",
            quote_ident(name),
            Owner::current().stamp(),
            owner::scope()
        )
    }

    /// Drops every database this server created, newest first.
    pub(crate) async fn drop_created(&self) {
        let names: Vec<String> = std::mem::take(&mut *self.created.lock().expect("database list"));
        if names.is_empty() {
            return;
        }
        let mut conn = match self.connect_maintenance().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(
                    "could not drop the scratch databases {names:?}: {e}; the next run \
                     from this machine drops them"
                );
                return;
            }
        };
        for name in names.iter().rev() {
            if let Err(e) = conn.execute(drop_sql(name).as_str()).await {
                tracing::warn!(
                    "could not drop the scratch database {name} on {}: {}",
                    self.description,
                    self.url.scrub(&e.to_string())
                );
            }
        }
        let _ = conn.close().await;
    }

    /// Drops scratch databases stamped by a process of our scope that is gone.
    async fn reap_stale_databases(&self, conn: &mut PgConnection) {
        let rows = sqlx::query(
            "SELECT d.datname::text AS name, \
                    pg_catalog.shobj_description(d.oid, 'pg_database') AS comment \
             FROM pg_catalog.pg_database d \
             WHERE starts_with(d.datname::text, $1)",
        )
        .bind(SCRATCH_PREFIX)
        .fetch_all(&mut *conn)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("could not look for stale scratch databases: {e}");
                return;
            }
        };
        let scope = owner::scope();
        for row in rows {
            let name: String = row.get("name");
            let comment: Option<String> = row.get("comment");
            let Some((stamp, stamp_scope)) = comment.as_deref().and_then(parse_comment) else {
                continue;
            };
            if stamp_scope != scope || !stamp_is_dead(stamp) {
                continue;
            }
            tracing::info!("dropping scratch database {name}: its owner {stamp} is gone");
            if let Err(e) = conn.execute(drop_sql(&name).as_str()).await {
                tracing::debug!("dropping stale scratch database {name}: {e}");
            }
        }
    }
}

impl Drop for UrlServer {
    fn drop(&mut self) {
        if self.created.lock().map(|c| c.is_empty()).unwrap_or(true) {
            return;
        }
        // Reached when a run ends without `shutdown` (an error, a panic, a cancelled
        // future). Dropping needs async I/O and we may be inside a runtime or not, so
        // it runs on a thread of its own with a runtime of its own.
        let server = Self {
            url: self.url.clone(),
            options: self.options.clone(),
            maintenance: self.maintenance.clone(),
            description: self.description.clone(),
            created: Mutex::new(std::mem::take(
                &mut *self.created.lock().expect("database list"),
            )),
        };
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(server.drop_created()),
                Err(e) => tracing::warn!("no runtime to drop the scratch databases: {e}"),
            }
        });
        let _ = cleanup.join();
    }
}

/// `DROP DATABASE`, ending our own sessions still connected to it (a cancelled run
/// may leave workers connected).
pub(crate) fn drop_sql(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `(owner stamp, scope)` from a comment we wrote; `None` for anything else.
fn parse_comment(comment: &str) -> Option<(&str, &str)> {
    let rest = comment.strip_prefix(COMMENT_PREFIX)?;
    let (stamp, scope) = rest.split_once(" scope=")?;
    Some((stamp, scope))
}

/// `url postgres://user@host:port/db`, from the parsed options: no password, ever.
fn describe(options: &PgConnectOptions, database: &str) -> String {
    let host = match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => options.get_host().to_string(),
    };
    format!(
        "server postgres://{}@{}:{}/{}",
        options.get_username(),
        host,
        options.get_port(),
        database
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_password_in_every_form() {
        let url = SecretUrl::new("postgres://me:p%40ss%2Fw0rd@db.example:5432/app?password=other");
        let text = "failed for p%40ss%2Fw0rd, p@ss/w0rd and other";
        let scrubbed = url.scrub(text);
        assert!(!scrubbed.contains("w0rd"), "{scrubbed}");
        assert!(!scrubbed.contains("other"), "{scrubbed}");
        assert_eq!(format!("{url:?}"), "SecretUrl(<redacted>)");
    }

    #[test]
    fn a_url_without_password_scrubs_nothing() {
        let url = SecretUrl::new("postgres://me@db.example/app");
        assert_eq!(url.scrub("me@db.example"), "me@db.example");
    }

    #[test]
    fn description_never_holds_the_password() {
        let options =
            PgConnectOptions::from_str("postgres://me:hunter2@db.example:6543/app").unwrap();
        let text = describe(&options, "app");
        assert_eq!(text, "server postgres://me@db.example:6543/app");
    }

    #[test]
    fn only_our_comments_parse() {
        let comment = format!("{COMMENT_PREFIX}12:34 scope=b/1");
        assert_eq!(parse_comment(&comment), Some(("12:34", "b/1")));
        assert_eq!(parse_comment("a database of someone else"), None);
    }
}
