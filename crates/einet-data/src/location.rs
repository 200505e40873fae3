//! Where the data lives: `--data-dir`, then `EINET_DATA`, then the repository's `data/`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable naming the data folder.
pub const DATA_ENV: &str = "EINET_DATA";

/// The repository's own `data/` folder (holds the small shipped datasets).
pub fn repo_data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data"))
}

/// The full benchmark data that tests and benchmarks read (the 20 DEBD sets, MNIST, the
/// CIFAR-10 subset): `$EINET_DATA` if set and non-empty, else `shared/data` beside the
/// repository. Callers check for the files they need and skip when they are absent.
pub fn shared_data_dir() -> PathBuf {
    match std::env::var_os(DATA_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
    }
}

/// The data folder: `cli` (a `--data-dir` argument) if given, else `$EINET_DATA` if set and
/// non-empty, else the repository's `data/` folder. The folder is laid out like
/// `shared/data`: `debd/`, `mnist/`, `cifar10-subset/`, `sklearn-digits/`.
pub fn data_root(cli: Option<&Path>) -> PathBuf {
    data_root_with(cli, std::env::var_os(DATA_ENV).as_deref())
}

/// [`data_root`] with the value of `EINET_DATA` passed in (for tests and embedding).
pub fn data_root_with(cli: Option<&Path>, env: Option<&OsStr>) -> PathBuf {
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    match env {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_data_dir(),
    }
}
