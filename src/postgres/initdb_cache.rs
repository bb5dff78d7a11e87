//! A pristine `initdb` result, made once per machine and copied for every run.
//!
//! `initdb` is most of a local cluster's start-up (it creates and fills three
//! databases); copying its result is several times faster. The copy is keyed by the
//! server binaries (path, size, modification time) and the initdb arguments, written
//! atomically (a temporary directory renamed into place), and lives in the user's
//! cache directory — `$SMTA_VERIFY_CACHE_DIR`, else `$XDG_CACHE_HOME/smta-verify`,
//! else `~/.cache/smta-verify`. `SMTA_VERIFY_NO_CACHE=1` turns it off. It is a cache,
//! not a run's state: deleting it at any time is safe.

use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// Copies the cached data directory into `target` (which must not exist), owned by
/// `owner`. False when there is nothing cached.
pub(crate) fn restore(
    entry: &Path,
    target: &Path,
    owner: Option<(Uid, Gid)>,
) -> std::io::Result<bool> {
    if !entry.is_dir() {
        return Ok(false);
    }
    copy_tree(entry, target, owner)?;
    Ok(true)
}

/// Stores a fresh data directory (not yet started) as the cache entry. Losing a race
/// with another run storing the same entry is fine: theirs is as good as ours.
pub(crate) fn store(data: &Path, entry: &Path) -> std::io::Result<()> {
    let parent = entry.parent().expect("cache entries live in a directory");
    fs::create_dir_all(parent)?;
    let staging = parent.join(format!(
        ".{}.tmp-{}",
        entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("initdb"),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    copy_tree(data, &staging, None)?;
    if fs::rename(&staging, entry).is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    Ok(())
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
