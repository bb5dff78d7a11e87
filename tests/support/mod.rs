//! What the integration tests share: one sandbox per flavour per test binary, a
//! session per test inside a transaction that is never committed, and the SQL that
//! makes such a session act as an end user, an anonymous caller or the service.
//!
//! Starting a cluster and installing the schema is the slow part, so every test of a
//! binary reuses the same database and isolates itself by never committing: the
//! server rolls the transaction back when the session's connection goes away, even
//! when the test panics. Tests therefore must not commit and must not take locks that
//! other tests wait for (see `reference_privileges.rs` for the one exception).
//!
//! The acting SQL is written here rather than borrowed from the library on purpose:
//! these tests check the reference schema against SPEC §2, so they spell out the
//! flavour contract (role + transaction-local identity) independently.

// Each file under tests/ is its own crate and uses a different part of this module.
#![allow(dead_code)]

use smta_verify::{Actor, Backend, Flavor, Sandbox, SqlSource};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::sync::OnceCell;

static SUPABASE: OnceCell<Sandbox> = OnceCell::const_new();
static PAYLOAD: OnceCell<Sandbox> = OnceCell::const_new();

/// The binary's sandbox of `flavor` with the reference schema, started on first use.
/// It lives in a static, so it is never dropped: the library's watchdog removes the
/// cluster when the test process exits.
pub async fn sandbox(flavor: Flavor) -> &'static Sandbox {
    let cell = match flavor {
        Flavor::Supabase => &SUPABASE,
        Flavor::Payload => &PAYLOAD,
    };
    cell.get_or_init(|| async move {
        let sources = SqlSource::reference(flavor).expect("the reference schema is embedded");
        Sandbox::start(Backend::Local, flavor, &sources)
            .await
            .unwrap_or_else(|e| panic!("the {flavor} reference schema did not install: {e}"))
    })
    .await
}

/// The SQLSTATE of a database error, if `error` is one.
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Someone the harness can act as. `Actor` from the library plus one caller it does
/// not model: a client role that carries no user identity (a Payload backend that
/// forgot `app.current_user_id`, a Supabase request whose JWT has no `sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    As(Actor),
    Unidentified,
}

/// SQL that makes the rest of the current transaction (or savepoint) run as `who`
/// under `flavor`. Only `SET LOCAL` and `set_config(…, true)`: rolling back to a
/// savepoint taken before it restores the harness's own role and settings.
pub fn become_sql(flavor: Flavor, who: &Acting) -> String {
    let (role, claims): (&str, Option<String>) = match (flavor, who) {
        (Flavor::Supabase, Acting::As(Actor::User(id))) => (
            "authenticated",
            Some(format!(r#"{{"sub":"{id}","role":"authenticated"}}"#)),
        ),
        (Flavor::Supabase, Acting::Unidentified) => {
            ("authenticated", Some(r#"{"role":"authenticated"}"#.into()))
        }
        (Flavor::Supabase, Acting::As(Actor::Anonymous)) => {
            ("anon", Some(r#"{"role":"anon"}"#.into()))
        }
        (Flavor::Supabase, Acting::As(Actor::Service)) => {
            ("service_role", Some(r#"{"role":"service_role"}"#.into()))
        }
        (Flavor::Payload, Acting::As(Actor::User(id))) => {
            return format!(
                "SET LOCAL ROLE app_user; SELECT set_config('app.current_user_id', '{id}', true);"
            )
        }
        (Flavor::Payload, Acting::Unidentified) => ("app_user", None),
        (Flavor::Payload, Acting::As(Actor::Anonymous)) => ("smta_verify_anon", None),
        (Flavor::Payload, Acting::As(Actor::Service)) => ("app_admin", None),
        (_, Acting::As(Actor::PublicOnly)) => ("smta_verify_public", None),
    };
    match claims {
        Some(claims) => format!(
            "SET LOCAL ROLE {role}; SELECT set_config('request.jwt.claims', '{claims}', true);"
        ),
        None => format!("SET LOCAL ROLE {role};"),
    }
}

/// A connection with an open transaction that is never committed.
pub struct Session {
    pub conn: PgConnection,
    pub flavor: Flavor,
}

impl Session {
    /// A session on the binary's shared sandbox of `flavor`.
    pub async fn begin(flavor: Flavor) -> Session {
        let options = sandbox(flavor).await.connect_options();
        Self::begin_on(flavor, &options).await
    }

    /// A session on any database (the install tests bring their own).
    pub async fn begin_on(flavor: Flavor, options: &PgConnectOptions) -> Session {
        let mut conn = PgConnection::connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("connect to the {flavor} sandbox: {e}"));
        sqlx::raw_sql("BEGIN")
            .execute(&mut conn)
            .await
            .expect("BEGIN");
        Session { conn, flavor }
    }

    /// Runs `sql` (one or more statements), panicking with the SQL on failure: for
    /// seeding and bookkeeping, where an error is a broken test, not an observation.
    pub async fn exec(&mut self, sql: &str) {
        if let Err(e) = sqlx::raw_sql(sql).execute(&mut self.conn).await {
            panic!("{} session: {e}\nSQL:\n{sql}", self.flavor);
        }
    }

    /// Runs `sql`, returning the database's verdict for the test to judge.
    pub async fn try_exec(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sql).execute(&mut self.conn).await.map(|_| ())
    }

    /// The first column of every row of a one-statement query whose first column is
    /// text (or NULL), or the database's error.
    pub async fn try_texts(&mut self, sql: &str) -> Result<Vec<Option<String>>, sqlx::Error> {
        sqlx::query_scalar::<_, Option<String>>(sql)
            .persistent(false)
            .fetch_all(&mut self.conn)
            .await
    }

    /// Like [`Session::try_texts`], panicking with the SQL on failure.
    pub async fn texts(&mut self, sql: &str) -> Vec<Option<String>> {
        match self.try_texts(sql).await {
            Ok(rows) => rows,
            Err(e) => panic!("{} session: {e}\nSQL:\n{sql}", self.flavor),
        }
    }

    /// The single text value a query returns (NULL is a test failure).
    pub async fn text(&mut self, sql: &str) -> String {
        let rows = self.texts(sql).await;
        match rows.as_slice() {
            [Some(value)] => value.clone(),
            other => panic!("expected one non-NULL value, got {other:?}\nSQL:\n{sql}"),
        }
    }

    /// The single boolean a query returns (NULL or no row is a test failure).
    pub async fn truth(&mut self, sql: &str) -> bool {
        let wrapped = format!("SELECT ({sql})::text");
        match self.text(&wrapped).await.as_str() {
            "true" => true,
            "false" => false,
            other => panic!("expected a boolean, got {other}\nSQL:\n{sql}"),
        }
    }
}
