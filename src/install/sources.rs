//! SQL sources: the files a run installs, in order, from disk or from the binary.
//!
//! The reference schema is compiled into the binary, so `smta-verify check` works from
//! any directory; its per-flavour manifest (`schema/<flavor>.order`) is the load order,
//! the same one a psql user follows. User-given paths keep the order they were given;
//! a directory contributes its `.sql` files in path order, recursively (SPEC §5).

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use crate::flavor::Flavor;

static REFERENCE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/schema");

/// One SQL file to apply, named the way error messages and reports should name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSource {
    /// The path as the user knows it (`schema/…` for the built-in reference).
    pub name: String,
    pub sql: String,
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no .sql files in this directory")]
    EmptyDirectory { path: PathBuf },
    #[error("schema/{manifest}: lists `{entry}`, which is not in the built-in schema")]
    MissingReferenceFile { manifest: String, entry: String },
}

impl SqlSource {
    /// A file, or every `.sql` file below a directory in path order.
    pub fn from_path(path: &Path) -> Result<Vec<SqlSource>, SourceError> {
        let read_err = |source| SourceError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.is_file() {
            return Ok(vec![Self::read_file(path)?]);
        }
        let mut files = Vec::new();
        collect_sql_files(path, &mut files).map_err(read_err)?;
        if files.is_empty() {
            return Err(SourceError::EmptyDirectory {
                path: path.to_path_buf(),
            });
        }
        files.sort();
        files.iter().map(|f| Self::read_file(f)).collect()
    }

    fn read_file(path: &Path) -> Result<SqlSource, SourceError> {
        let sql = std::fs::read_to_string(path).map_err(|source| SourceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(SqlSource {
            name: path.display().to_string(),
            sql,
        })
    }

    /// The built-in reference schema of `flavor`, in manifest order.
    pub fn reference(flavor: Flavor) -> Result<Vec<SqlSource>, SourceError> {
        let manifest = format!("{}.order", flavor.name());
        let order = REFERENCE
            .get_file(&manifest)
            .and_then(|f| f.contents_utf8())
            .unwrap_or_default();
        manifest_entries(order)
            .map(|entry| {
                let sql = REFERENCE
                    .get_file(entry)
                    .and_then(|f| f.contents_utf8())
                    .ok_or_else(|| SourceError::MissingReferenceFile {
                        manifest: manifest.clone(),
                        entry: entry.to_string(),
                    })?;
                Ok(SqlSource {
                    name: format!("schema/{entry}"),
                    sql: sql.to_string(),
                })
            })
            .collect()
    }
}

/// The paths of a manifest: one per line, `#` starts a comment.
pub(crate) fn manifest_entries(manifest: &str) -> impl Iterator<Item = &str> {
    manifest
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
}

fn collect_sql_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_sql_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_contribute_sql_files_in_path_order_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("20_b")).unwrap();
        std::fs::write(p.join("20_b/1.sql"), "select 2;").unwrap();
        std::fs::write(p.join("10_a.sql"), "select 1;").unwrap();
        std::fs::write(p.join("notes.txt"), "not sql").unwrap();
        let names: Vec<_> = SqlSource::from_path(p)
            .unwrap()
            .into_iter()
            .map(|s| {
                s.name
                    .strip_prefix(&p.display().to_string())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["/10_a.sql", "/20_b/1.sql"]);
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let err = SqlSource::from_path(Path::new("/no/such/schema.sql")).unwrap_err();
        assert!(err.to_string().starts_with("/no/such/schema.sql"), "{err}");
    }

    #[test]
    fn manifests_skip_comments_and_blank_lines() {
        let entries: Vec<_> = manifest_entries("# head\n\na.sql # why\n  b/c.sql\n").collect();
        assert_eq!(entries, ["a.sql", "b/c.sql"]);
    }

    #[test]
    fn every_flavor_manifest_resolves_to_embedded_files() {
        for flavor in Flavor::ALL {
            let sources = SqlSource::reference(flavor).unwrap();
            assert!(sources.len() > 5, "{flavor}: only {} files", sources.len());
        }
    }
}
