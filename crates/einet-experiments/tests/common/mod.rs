//! Helpers of the `einet-experiments` end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `einet-experiments` binary cargo built for these tests.
pub const EXPERIMENTS: &str = env!("CARGO_BIN_EXE_einet-experiments");

/// The repository's `data/` folder (the shipped data sets).
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
}

/// Runs `einet-experiments args…` in `cwd` with no `EINET_DATA` in the environment.
pub fn experiments_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(EXPERIMENTS)
        .args(args)
        .current_dir(cwd)
        .env_remove("EINET_DATA")
        .output()
        .expect("the einet-experiments binary runs")
}

/// Lossy UTF-8 text of a process output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
