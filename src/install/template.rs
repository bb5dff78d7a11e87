//! The installed schema as a template database, and the clones workers run in.
//!
//! Every database the harness creates is named `smta_verify_…`, so that on a shared
//! server (the URL backend) it is obvious which databases are ours, and nothing else
//! is ever created or dropped.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};

use super::{apply, SqlSource};
use crate::error::Error;
use crate::flavor::Flavor;
use crate::postgres::Server;

/// A database holding the installed schema, used only as a template for clones.
#[derive(Debug)]
pub(crate) struct Template {
    name: String,
}

/// A database the harness created for itself.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub(crate) name: String,
    pub(crate) options: PgConnectOptions,
}

impl Database {
    pub(crate) async fn connect(&self) -> Result<PgConnection, Error> {
        PgConnection::connect_with(&self.options)
            .await
            .map_err(|e| Error::database("connect to a scratch database", e))
    }
}

pub(crate) fn scratch_name(kind: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("smta_verify_{kind}_{}", &id[..12])
}

async fn create_database(
    server: &Server,
    name: &str,
    template: Option<&str>,
) -> Result<Database, Error> {
    let mut admin =
        PgConnection::connect_with(&server.connect_options(server.maintenance_database()))
            .await
            .map_err(|e| Error::database("connect to the server", e))?;
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name} TEMPLATE template0"),
    };
    admin
        .execute(sql.as_str())
        .await
        .map_err(|e| Error::database("create a scratch database", e))?;
    let _ = admin.close().await;
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
