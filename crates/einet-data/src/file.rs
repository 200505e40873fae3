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
    let budget = einet_core::memory::budget();
    if let (Ok(meta), Some(budget)) = (std::fs::metadata(path), budget) {
        if meta.len() > budget.bytes() {
            return Err(DataError::TooLarge {
                path: path.to_path_buf(),
                reason: format!(
                    "the file holds {}, but {budget}",
                    einet_core::memory::gigabytes(meta.len())
                ),
            });
        }
    }
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
    let limit = budget.map_or(u64::MAX, |b| b.bytes());
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit as usize));
    MultiGzDecoder::new(raw.as_slice())
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            path: path.to_path_buf(),
            reason: gzip_reason(&e),
        })?;
    if let Some(budget) = budget.filter(|b| out.len() as u64 > b.bytes()) {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            reason: format!(
                "it decompresses to more than {}, but {budget}",
                einet_core::memory::gigabytes(budget.bytes())
            ),
        });
    }
    Ok(out)
}

fn gzip_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the compressed stream ends early".into(),
        _ => e.to_string(),
    }
}

/// Finds the data file `name` in `dir` or its sub-folder `dir/sub`, gzipped (`name.gz`,
/// preferred) or not: the first of `dir/name.gz`, `dir/name`, `dir/sub/name.gz`,
/// `dir/sub/name` that is a file, or [`DataError::NotFound`] listing them all.
pub(crate) fn find_data_file(dir: &Path, sub: &str, name: &str) -> Result<PathBuf, DataError> {
    let candidates: Vec<PathBuf> = [dir.to_path_buf(), dir.join(sub)]
        .iter()
        .flat_map(|d| [d.join(format!("{name}.gz")), d.join(name)])
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(DataError::NotFound { tried: candidates }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_are_found_gzipped_first_then_in_the_sub_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let Err(DataError::NotFound { tried }) = find_data_file(root, "sub", "x.bin") else {
            panic!("nothing to find yet");
        };
        assert_eq!(
            tried,
            [
                root.join("x.bin.gz"),
                root.join("x.bin"),
                root.join("sub/x.bin.gz"),
                root.join("sub/x.bin"),
            ]
        );
        std::fs::create_dir(root.join("sub")).unwrap();
        for found in tried.iter().rev() {
            std::fs::write(found, b"").unwrap();
            assert_eq!(&find_data_file(root, "sub", "x.bin").unwrap(), found);
        }
        // A folder of that name is not a file.
        std::fs::create_dir(root.join("y")).unwrap();
        assert!(find_data_file(root, "sub", "y").is_err());
    }
}
