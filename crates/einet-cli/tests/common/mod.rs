//! Helpers shared by the end-to-end tests of the `einet` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `einet` binary under test.
pub const EINET: &str = env!("CARGO_BIN_EXE_einet");

/// The repository's shipped data folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
}

/// Runs `einet args…` in `cwd` with no `EINET_DATA` in the environment.
pub fn einet_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(EINET)
        .args(args)
        .current_dir(cwd)
        .env_remove("EINET_DATA")
        .output()
        .expect("the einet binary runs")
}

/// Lossy UTF-8 text of a process output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
