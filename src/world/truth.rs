//! The ground truth: every row of every checked table, read back after seeding.
//!
//! The oracle judges observations against this, never against the generated world,
//! because triggers add and change rows (SPEC §4: never assume what triggers did).
//! It is read as the superuser in one round trip, as JSON keyed by table.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::access::AccessModel;
use crate::sql::{quote_literal, quote_qualified};

/// A row as column → JSON value.
pub(crate) type Row = Map<String, Value>;

/// The rows of one table, addressable by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableRows {
    pub(crate) key_columns: Vec<String>,
    pub(crate) rows: Vec<Row>,
    by_key: HashMap<String, usize>,
}

impl TableRows {
    pub(crate) fn get(&self, key: &str) -> Option<&Row> {
        self.by_key.get(key).map(|&i| &self.rows[i])
    }

    /// The rows in key order. A table reads back in the order its rows lie on disk,
    /// which changes with what vacuum freed between cases; the probes take rows in
    /// this order, so the same world must give the same order whatever the disk did.
    fn new(key_columns: Vec<String>, mut rows: Vec<Row>) -> Self {
        rows.sort_by_cached_key(|r| row_key(r, &key_columns));
        let by_key = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (row_key(r, &key_columns), i))
            .collect();
        TableRows {
            key_columns,
            rows,
            by_key,
        }
    }

    pub(crate) fn key_of(&self, row: &Row) -> String {
        row_key(row, &self.key_columns)
    }

    /// Rows whose `column` holds `value` (as text).
    pub(crate) fn find<'a>(
        &'a self,
        column: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = &'a Row> {
        self.rows
            .iter()
            .filter(move |r| text(r.get(column)).as_deref() == Some(value))
    }
}

/// All rows of all tables the access model covers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Truth {
    pub(crate) tables: BTreeMap<String, TableRows>,
    /// The database's `now()` when the truth was read, as timestamptz text in UTC.
    pub(crate) now: String,
}

impl Truth {
    /// The SQL that reads every table of `model` as one JSON object.
    pub(crate) fn query(model: &AccessModel) -> String {
        let parts: Vec<String> = model
            .tables
            .keys()
            .map(|t| {
                format!(
                    "{}, (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM {} t)",
                    quote_literal(t),
                    quote_qualified(t)
                )
            })
            .collect();
        // jsonb_build_object takes at most 100 arguments: merge chunks of 40 pairs.
        let mut chunks: Vec<String> = parts
            .chunks(40)
            .map(|c| format!("jsonb_build_object({})", c.join(", ")))
            .collect();
        chunks.push("jsonb_build_object('now', to_jsonb(now()))".to_string());
        format!("SELECT ({})::text AS truth", chunks.join(" || "))
    }

    pub(crate) fn from_json(json: &str, model: &AccessModel) -> Self {
        let mut parsed: BTreeMap<String, Value> =
            serde_json::from_str(json).expect("the truth query returns an object");
        let now = text(parsed.remove("now").as_ref()).unwrap_or_default();
        let mut tables = BTreeMap::new();
        for (name, rows) in parsed {
            let rows: Vec<Row> =
                serde_json::from_value(rows).expect("each table is an array of rows");
            let key_columns = model
                .tables
                .get(&name)
                .map(|t| t.key.clone())
                .unwrap_or_default();
            tables.insert(name, TableRows::new(key_columns, rows));
        }
        Self { tables, now }
    }

    /// Replaces a table's rows (the state after a call, for judging it).
    pub(crate) fn replace(&mut self, name: &str, rows: Vec<Row>) {
        let key_columns = self
            .tables
            .get(name)
            .map(|t| t.key_columns.clone())
            .unwrap_or_default();
        self.tables
            .insert(name.to_string(), TableRows::new(key_columns, rows));
    }

    pub(crate) fn table(&self, name: &str) -> Option<&TableRows> {
        self.tables.get(name)
    }

    pub(crate) fn row_count(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }
}

/// A JSON value as PostgreSQL's text output would show it (`NULL` → `None`).
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// The key of a row: its key columns' text, joined by `|` when there are several.
pub(crate) fn row_key(row: &Row, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| text(row.get(c)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|")
}

/// The SQL expression that yields the same key text from a row alias `t`. The ground
/// truth arrives as JSON, so each column is rendered as JSON renders it (`::text`
/// would write a timestamp in a key as `2026-01-01 00:00:00+00`, JSON as
/// `2026-01-01T00:00:00+00:00`, and the same row would count as two).
pub(crate) fn key_sql(columns: &[String]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| format!("(to_jsonb(t.{}) #>> '{{}}')", crate::sql::quote_ident(c)))
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("concat_ws('|', {})", parts.join(", "))
    }
}
