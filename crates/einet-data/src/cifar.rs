//! CIFAR-10 binary records (1 label byte, then 32×32 R, G and B planes).

use std::path::Path;

use crate::dataset::Splits;
use crate::file::{find_data_file, read_bytes};
use crate::{DataError, Dataset};

/// Pixels per CIFAR-10 image (32 × 32).
pub const CIFAR_PIXELS: usize = 1024;
/// Bytes per CIFAR-10 record: one label byte and three 1024-byte colour planes.
pub const CIFAR_RECORD: usize = 1 + 3 * CIFAR_PIXELS;

/// Reads a file of CIFAR-10 binary records (gzip detected by content) into
/// `rows × 1024 variables × 3 channels` (pixel-major: R, G, B of pixel 0, then pixel 1, …),
/// values 0..=255, with labels and image shape 32×32.
pub fn cifar10_file(path: impl AsRef<Path>, name: &str) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if bytes.len() % CIFAR_RECORD != 0 {
        let records = bytes.len().div_ceil(CIFAR_RECORD);
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: (records * CIFAR_RECORD) as u64,
            found: bytes.len() as u64,
        });
    }
    let n = bytes.len() / CIFAR_RECORD;
    let mut values = Vec::with_capacity(n * 3 * CIFAR_PIXELS);
    let mut labels = Vec::with_capacity(n);
    for rec in bytes.chunks_exact(CIFAR_RECORD) {
        labels.push(u32::from(rec[0]));
        let (r, gb) = rec[1..].split_at(CIFAR_PIXELS);
        let (g, b) = gb.split_at(CIFAR_PIXELS);
        for p in 0..CIFAR_PIXELS {
            values.extend([f32::from(r[p]), f32::from(g[p]), f32::from(b[p])]);
        }
    }
    Dataset::new(name, CIFAR_PIXELS, 3, values)?
        .with_labels(labels)?
        .with_image_shape(32, 32)
}

/// Reads the CIFAR-10 subset (`data_batch_1_first4000.bin.gz`, `test_batch_first1000.bin.gz`,
/// or the same names without `.gz`) from `dir` or `dir/cifar10-subset`. There is no
/// validation part; see [`Splits::with_validation`].
pub fn cifar10_subset(dir: impl AsRef<Path>) -> Result<Splits, DataError> {
    let dir = dir.as_ref();
    let find = |file: &str| find_data_file(dir, "cifar10-subset", file);
    let train = cifar10_file(find("data_batch_1_first4000.bin")?, "cifar10.train")?;
    let test = cifar10_file(find("test_batch_first1000.bin")?, "cifar10.test")?;
    Ok(Splits {
        train,
        valid: None,
        test,
    })
}
