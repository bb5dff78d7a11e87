//! What the three mutant tables (`fixtures/mutants/`, `rpc/`, `matrix/`) share: their
//! files on disk, the comment every mutant starts with, and the
//! `SMTA_VERIFY_MUTANTS=name,name` filter for working on one mutant.

// Each file under tests/ is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `fixtures/mutants/<sub>` (`""` for the directory itself).
pub fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mutants")
        .join(sub)
}

/// A table of `dir`'s mutants (`mutants.toml`), in the test's own row type.
pub fn table<T: serde::de::DeserializeOwned>(dir: &Path) -> T {
    let path = dir.join("mutants.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The `.sql` file names directly in `dir`.
pub fn sql_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".sql"))
        .collect()
}

/// A mutant file starts by saying what the defect is (and why it is realistic).
pub fn assert_says_what_it_breaks(dir: &Path, file: &str) {
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{file} is listed but cannot be read: {e}"));
    assert!(
        text.starts_with("-- Mutant: "),
        "{file}: a mutant starts with a comment saying what the defect is and why it is realistic"
    );
}

/// The mutants `SMTA_VERIFY_MUTANTS` selects (file names without `.sql`), if set.
pub fn selected() -> Option<BTreeSet<String>> {
    std::env::var("SMTA_VERIFY_MUTANTS")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}
