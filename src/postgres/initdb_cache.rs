//! A pristine `initdb` result, made once per machine and copied for every run.
//!
//! `initdb` is most of a local cluster's start-up (it creates and fills three
//! databases); copying its result is several times faster. The copy is keyed by the
//! server binaries (path, size, modification time) and the initdb arguments, written
//! atomically (a staging directory of its own per store, renamed into place; two runs
//! of one process storing at once must not share one), checked for completeness before
//! it is trusted, and lives in the user's
//! cache directory — `$SMTA_VERIFY_CACHE_DIR`, else `$XDG_CACHE_HOME/smta-verify`,
//! else `~/.cache/smta-verify`. `SMTA_VERIFY_NO_CACHE=1` turns it off. It is a cache,
//! not a run's state: deleting it at any time is safe.

use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::unistd::{Gid, Uid};

/// Where a pristine data directory for these binaries and arguments is cached, or
/// `None` when caching is off or there is no cache directory.
pub(crate) fn entry(postgres: &Path, initdb_args: &[&str]) -> Option<PathBuf> {
    if std::env::var_os("SMTA_VERIFY_NO_CACHE").is_some() {
        return None;
    }
    let root = std::env::var_os("SMTA_VERIFY_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("smta-verify"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/smta-verify"))
        })?;
    entry_in(&root, postgres, initdb_args)
}

fn entry_in(root: &Path, postgres: &Path, initdb_args: &[&str]) -> Option<PathBuf> {
    let meta = fs::metadata(postgres).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    postgres.hash(&mut hasher);
    (meta.len(), meta.mtime(), meta.mtime_nsec()).hash(&mut hasher);
    initdb_args.hash(&mut hasher);
    Some(root.join(format!("initdb-{:016x}", hasher.finish())))
}

/// Files every data directory `initdb` writes has; an entry without them is a
/// damaged cache (an interrupted copy, or one made by an older version of this file
/// whose concurrent stores could interleave), never something to start a server on.
const REQUIRED: [&str; 3] = ["PG_VERSION", "global/pg_control", "postgresql.conf"];

/// Copies the cached data directory into `target` (which must not exist), owned by
/// `owner`. False when there is nothing usable cached; a damaged entry is removed so
/// that the next `initdb` result replaces it.
pub(crate) fn restore(
    entry: &Path,
    target: &Path,
    owner: Option<(Uid, Gid)>,
) -> std::io::Result<bool> {
    if !entry.is_dir() {
        return Ok(false);
    }
    if !complete(entry) {
        tracing::warn!(
            "the initdb cache entry {} is incomplete; removing it",
            entry.display()
        );
        let _ = fs::remove_dir_all(entry);
        return Ok(false);
    }
    copy_tree(entry, target, owner)?;
    Ok(true)
}

fn complete(dir: &Path) -> bool {
    REQUIRED.iter().all(|f| dir.join(f).is_file())
}

/// Stores a fresh data directory (not yet started) as the cache entry. Losing a race
/// with another run storing the same entry is fine: theirs is as good as ours.
pub(crate) fn store(data: &Path, entry: &Path) -> std::io::Result<()> {
    let parent = entry.parent().expect("cache entries live in a directory");
    fs::create_dir_all(parent)?;
    // Unique per store, not per process: the parallel runs of one test binary store
    // the same entry at the same moment.
    static STORES: AtomicU64 = AtomicU64::new(0);
    let staging = parent.join(format!(
        ".{}.tmp-{}-{}",
        entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("initdb"),
        std::process::id(),
        STORES.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&staging);
    let copied = copy_tree(data, &staging, None);
    if copied.is_err() || !complete(&staging) || fs::rename(&staging, entry).is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    copied
}

/// Recursively copies `from` to `to`, keeping permissions, optionally handing every
/// file to `owner`.
fn copy_tree(from: &Path, to: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    fs::create_dir(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    chown(to, owner)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&source, &dest, owner)?;
        } else if kind.is_file() {
            fs::copy(&source, &dest)?;
            fs::set_permissions(
                &dest,
                fs::Permissions::from_mode(fs::metadata(&source)?.permissions().mode()),
            )?;
            chown(&dest, owner)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &dest)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(path, Some(uid), Some(gid)).map_err(std::io::Error::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_tree_is_restored_with_its_files_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("base/1")).unwrap();
        fs::write(data.join("base/1/1259"), b"pages").unwrap();
        fs::write(data.join("PG_VERSION"), b"15\n").unwrap();
        fs::create_dir_all(data.join("global")).unwrap();
        fs::write(data.join("global/pg_control"), b"control").unwrap();
        fs::write(data.join("postgresql.conf"), b"").unwrap();
        fs::set_permissions(data.join("PG_VERSION"), fs::Permissions::from_mode(0o600)).unwrap();
        let entry = dir.path().join("cache/initdb-test");
        store(&data, &entry).unwrap();
        let target = dir.path().join("restored");
        assert!(restore(&entry, &target, None).unwrap());
        assert_eq!(fs::read(target.join("base/1/1259")).unwrap(), b"pages");
        let mode = fs::metadata(target.join("PG_VERSION"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!restore(
            &dir.path().join("cache/missing"),
            &dir.path().join("x"),
            None
        )
        .unwrap());
    }

    /// The race seen when two mutant runs of one test binary started on an empty
    /// cache: both stored through one staging directory and the entry lost files.
    #[test]
    fn concurrent_stores_of_one_entry_leave_a_complete_entry() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("global")).unwrap();
        for i in 0..200 {
            fs::write(data.join(format!("global/{i}")), b"x").unwrap();
        }
        fs::write(data.join("global/pg_control"), b"control").unwrap();
        fs::write(data.join("PG_VERSION"), b"15\n").unwrap();
        fs::write(data.join("postgresql.conf"), b"").unwrap();
        let entry = dir.path().join("cache/initdb-race");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| store(&data, &entry).unwrap());
            }
        });
        assert!(complete(&entry));
        assert_eq!(fs::read_dir(entry.join("global")).unwrap().count(), 201);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    }

    #[test]
    fn a_damaged_entry_is_not_restored_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("cache/initdb-damaged");
        fs::create_dir_all(entry.join("base/1")).unwrap();
        let target = dir.path().join("restored");
        assert!(!restore(&entry, &target, None).unwrap());
        assert!(!entry.exists() && !target.exists());
    }

    #[test]
    fn the_key_changes_with_the_arguments() {
        let exe = std::env::current_exe().unwrap();
        let root = Path::new("/tmp/smta-cache-key-test");
        let a = entry_in(root, &exe, &["-E", "UTF8"]).unwrap();
        let b = entry_in(root, &exe, &["-E", "SQL_ASCII"]).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(root));
    }
}
