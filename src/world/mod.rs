//! The generated multi-tenant world: model, proptest strategies, seeding, ground truth.

pub mod model;
pub(crate) mod seed;
pub(crate) mod strategy;
pub(crate) mod truth;

use sqlx::{PgConnection, Row as _};

use crate::access::AccessModel;
use crate::catalog::Catalog;
use crate::error::Error;
use model::World;
use seed::{seed_block, Seeder};
use truth::Truth;

/// A world written into the current transaction, and what the database made of it.
pub(crate) struct Seeded {
    /// The seed as one psql-runnable statement (reproduction scripts start with it).
    pub(crate) sql: String,
    pub(crate) truth: Truth,
    /// Rows the database refused and that were skipped, as "table: message (SQLSTATE)".
    pub(crate) notes: Vec<String>,
}

/// Seeds `world` inside the connection's open transaction and reads the ground truth
/// back, in one round trip. A refused row the checks cannot do without (a user, an
/// organization) is an error; other refused rows become notes.
pub(crate) async fn seed(
    conn: &mut PgConnection,
    catalog: &Catalog,
    model: &AccessModel,
    world: &World,
) -> Result<Seeded, Error> {
    let statements = Seeder::new(catalog, model).statements(world);
    let sql = seed_block(&statements);
    let batch = format!(
        "{sql}\nSELECT current_setting('smta_verify.seed_errors', true) AS seed_errors;\n{};",
        Truth::query(model)
    );
    let rows = sqlx::raw_sql(&batch)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| Error::database("seed the world", e))?;
    let mut seed_errors = String::new();
    let mut truth_json = String::new();
    for row in &rows {
        if let Ok(v) = row.try_get::<Option<String>, _>("seed_errors") {
            seed_errors = v.unwrap_or_default();
        }
        if let Ok(v) = row.try_get::<String, _>("truth") {
            truth_json = v;
        }
    }
    let mut notes = Vec::new();
    if let Ok(errors) = serde_json::from_str::<Vec<serde_json::Value>>(&seed_errors) {
        for e in errors {
            let note = format!(
                "{}: {} ({})",
                e["table"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("?"),
                e["sqlstate"].as_str().unwrap_or("?")
            );
            if e["required"].as_bool().unwrap_or(false) {
                return Err(Error::Seed(note));
            }
            notes.push(note);
        }
    }
    Ok(Seeded {
        sql,
        truth: Truth::from_json(&truth_json, model),
        notes,
    })
}
