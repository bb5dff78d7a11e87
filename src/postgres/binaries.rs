//! Finding the PostgreSQL server binaries on this machine.
//!
//! The local backend needs `initdb` and `postgres` from one installation. We look where
//! PostgreSQL's own tooling says they are (`pg_config --bindir`), then on `PATH`, then in
//! Debian's versioned layout, and report every place we tried when nothing fits, so the
//! user knows what to install or which other backend to pick.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::BackendError;

/// A directory holding `initdb` and `postgres` of one PostgreSQL installation.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    pub(crate) bindir: PathBuf,
}

/// The environment variable naming the directory of `initdb` and `postgres` (the
/// command line's `--pg-bin`). `SMTA_VERIFY_PG_BINDIR` is its older spelling.
pub(crate) const PG_BIN_ENV: &str = "SMTA_VERIFY_PG_BIN";
const PG_BIN_ENV_OLD: &str = "SMTA_VERIFY_PG_BINDIR";

impl PgBinaries {
    pub(crate) fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    pub(crate) fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }

    /// The binaries in `explicit` (`--pg-bin`), else in `$SMTA_VERIFY_PG_BIN`: a
    /// directory named there must hold them, there is no search. Otherwise looks in
    /// order: `pg_config --bindir`, `PATH`, `/usr/lib/postgresql/<newest>/bin`.
    pub(crate) fn locate(explicit: Option<&Path>) -> Result<Self, BackendError> {
        let named = explicit
            .map(|dir| (dir.to_path_buf(), "--pg-bin"))
            .or_else(|| named_by_env(PG_BIN_ENV).map(|d| (d, PG_BIN_ENV)))
            .or_else(|| named_by_env(PG_BIN_ENV_OLD).map(|d| (d, PG_BIN_ENV_OLD)));
        if let Some((dir, source)) = named {
            return if is_server_bindir(&dir) {
                Ok(Self { bindir: dir })
            } else {
                Err(BackendError::NotABindir {
                    dir: dir.display().to_string(),
                    named_by: source,
                })
            };
        }
        let mut tried = Vec::new();
        for candidate in candidates() {
            if is_server_bindir(&candidate) {
                return Ok(Self { bindir: candidate });
            }
            tried.push(candidate.display().to_string());
        }
        Err(BackendError::NoPostgres { tried })
    }
}

fn named_by_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn is_server_bindir(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        if output.status.success() {
            let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if !dir.is_empty() {
                out.push(PathBuf::from(dir));
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                // Debian links /usr/local/bin/initdb into the versioned bindir, where
                // `postgres` lives too: follow the link to find the pair.
                match std::fs::canonicalize(&initdb) {
                    Ok(real) => out.extend(real.parent().map(Path::to_path_buf)),
                    Err(_) => out.push(dir),
                }
            }
        }
    }
    out.extend(debian_bindirs(Path::new("/usr/lib/postgresql")));
    out.dedup();
    out
}

/// `/usr/lib/postgresql/*/bin`, newest major version first.
fn debian_bindirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_layout_lists_newest_major_first() {
        let root = tempfile::tempdir().unwrap();
        for v in ["13", "15", "9", "notaversion"] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        let dirs = debian_bindirs(root.path());
        let names: Vec<_> = dirs
            .iter()
            .map(|d| d.parent().unwrap().file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["15", "13", "9"]);
    }

    #[test]
    fn a_named_directory_without_the_binaries_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = PgBinaries::locate(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains("--pg-bin"), "{err}");
        std::fs::write(dir.path().join("initdb"), "").unwrap();
        std::fs::write(dir.path().join("postgres"), "").unwrap();
        let found = PgBinaries::locate(Some(dir.path())).unwrap();
        assert_eq!(found.bindir, dir.path());
    }

    #[test]
    fn a_directory_without_both_binaries_is_not_a_server_bindir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("initdb"), "").unwrap();
        assert!(!is_server_bindir(dir.path()));
        std::fs::write(dir.path().join("postgres"), "").unwrap();
        assert!(is_server_bindir(dir.path()));
    }
}
