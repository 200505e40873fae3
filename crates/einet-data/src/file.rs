//! Reading whole files, transparently decompressing gzip (detected by its magic bytes).

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path` completely; if its content starts with the gzip magic bytes `1f 8b` it is
/// decompressed (all members), whatever the file's name.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            tried: vec![path.to_path_buf()],
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            err,
        },
    })?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            path: path.to_path_buf(),
            reason: gzip_reason(&e),
        })?;
    Ok(out)
}

fn gzip_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the compressed stream ends early".into(),
        _ => e.to_string(),
    }
}

/// The first of `candidates` that exists, or [`DataError::NotFound`] listing them all.
pub(crate) fn first_existing(candidates: Vec<PathBuf>) -> Result<PathBuf, DataError> {
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(DataError::NotFound { tried: candidates }),
    }
}
