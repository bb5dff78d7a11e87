//! The installed schema as a template database, and the clones workers run in.
//!
//! Every database the harness creates is named `smta_verify_…`, so that on a shared
//! server (the URL backend) it is obvious which databases are ours, and nothing else
//! is ever created or dropped. The [`Server`] creates them, so that it knows every
//! database it must drop when it goes.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;

use super::{apply, SqlSource};
use crate::error::Error;
use crate::flavor::Flavor;
use crate::postgres::{Server, SCRATCH_PREFIX};

/// A database holding the installed schema, used only as a template for clones.
#[derive(Debug)]
pub(crate) struct Template {
    name: String,
}

/// A database the harness created for itself.
#[derive(Clone)]
pub(crate) struct Database {
    pub(crate) name: String,
    pub(crate) options: PgConnectOptions,
}

// By hand: the connect options of a URL server may carry its password.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Database {
    pub(crate) async fn connect(&self) -> Result<PgConnection, Error> {
        // No statement logging: a probe batch carries its whole plan (the RPC matrix's
        // is over half a megabyte), and sqlx would print it as a "slow statement"
        // warning whenever a busy machine makes it take more than a second. The
        // harness traces its own phases and their times.
        let options = sqlx::ConnectOptions::disable_statement_logging(self.options.clone());
        PgConnection::connect_with(&options)
            .await
            .map_err(|e| Error::database("connect to a scratch database", e))
    }
}

pub(crate) fn scratch_name(kind: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{SCRATCH_PREFIX}{kind}_{}", &id[..12])
}

async fn create_database(
    server: &Server,
    name: &str,
    template: Option<&str>,
) -> Result<Database, Error> {
    server
        .create_database(name, template)
        .await
        .map_err(|e| Error::database("create a scratch database", e))?;
    Ok(Database {
        name: name.to_string(),
        options: server.connect_options(name),
    })
}

impl Template {
    /// Creates a fresh database and applies `sources` plus the harness's roles to it.
    pub(crate) async fn build(
        server: &Server,
        flavor: Flavor,
        sources: &[SqlSource],
    ) -> Result<Self, Error> {
        let name = scratch_name("tpl");
        let database = create_database(server, &name, None).await?;
        let mut conn = database.connect().await?;
        apply(&mut conn, sources).await?;
        sqlx::raw_sql(&flavor.harness_roles_sql())
            .execute(&mut conn)
            .await
            .map_err(|e| Error::database("create the harness roles", e))?;
        // A template must have no open sessions when it is cloned.
        let _ = conn.close().await;
        Ok(Self { name })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A new database with the template's contents.
    pub(crate) async fn clone_database(&self, server: &Server) -> Result<Database, Error> {
        create_database(server, &scratch_name("db"), Some(&self.name)).await
    }
}
