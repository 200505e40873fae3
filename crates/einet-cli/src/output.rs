//! Writing output files atomically ([`einet::core::write_atomic`]: a temporary file in the same
//! folder, renamed into place), so a failed command never leaves a partial file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `path` through `fill`, atomically; errors name `path`.
pub fn atomic_write(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    einet::core::write_atomic(path, fill)
        .with_context(|| format!("cannot write {}", path.display()))
}
