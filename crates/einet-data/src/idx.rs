//! MNIST in LeCun's IDX format (big-endian header, unsigned bytes).

use std::path::Path;

use crate::dataset::Splits;
use crate::file::{find_data_file, read_bytes};
use crate::{DataError, Dataset};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header.
    pub dims: Vec<usize>,
    /// The `dims.iter().product()` bytes, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file (gzip detected by content) whose magic number must be `magic`
/// (2051 for image files, 2049 for label files); its size must match the header exactly.
pub fn read_idx(path: impl AsRef<Path>, magic: u32) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    parse_idx(path, bytes, magic)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_idx(path: &Path, mut bytes: Vec<u8>, magic: u32) -> Result<IdxArray, DataError> {
    let truncated = |expected: u64, found: usize| DataError::Truncated {
        path: path.to_path_buf(),
        expected,
        found: found as u64,
    };
    if bytes.len() < 4 {
        if bytes.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        return Err(truncated(4, bytes.len()));
    }
    let found = be_u32(&bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
        });
    }
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(truncated(header as u64, bytes.len()));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| be_u32(&bytes, 4 + 4 * d) as usize)
        .collect();
    let Some(expected) = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .and_then(|body| body.checked_add(header as u64))
    else {
        return Err(DataError::Inconsistent {
            path: path.to_path_buf(),
            message: format!(
                "the header's dimensions {dims:?} describe more bytes than any file holds"
            ),
        });
    };
    let len = bytes.len() as u64;
    if len < expected {
        return Err(truncated(expected, bytes.len()));
    }
    if len > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            found: len,
        });
    }
    bytes.drain(..header);
    Ok(IdxArray { dims, data: bytes })
}

/// Reads one MNIST part from an images file and a labels file: `rows × (H·W)` values 0..=255,
/// one channel, labels, image shape `(H, W)`.
pub fn mnist_part(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    name: &str,
) -> Result<Dataset, DataError> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let img = read_idx(images, IDX_IMAGES_MAGIC)?;
    let lab = read_idx(labels, IDX_LABELS_MAGIC)?;
    let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
    if h == 0 || w == 0 {
        return Err(DataError::Inconsistent {
            path: images.to_path_buf(),
            message: format!("image size {h}x{w} is empty"),
        });
    }
    if n == 0 {
        return Err(DataError::Empty {
            path: images.to_path_buf(),
        });
    }
    if lab.dims[0] != n {
        return Err(DataError::Inconsistent {
            path: labels.to_path_buf(),
            message: format!(
                "has {} labels but {} has {n} images",
                lab.dims[0],
                images.display()
            ),
        });
    }
    let values = img.data.iter().map(|&b| f32::from(b)).collect();
    Dataset::new(name, h * w, 1, values)?
        .with_labels(lab.data.iter().map(|&b| u32::from(b)).collect())?
        .with_image_shape(h, w)
}

/// Reads MNIST (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
/// `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`; the uncompressed names without
/// `.gz` also work) from `dir` or `dir/mnist`. There is no validation part; see
/// [`Splits::with_validation`].
pub fn mnist(dir: impl AsRef<Path>) -> Result<Splits, DataError> {
    let dir = dir.as_ref();
    let find = |stem: &str| find_data_file(dir, "mnist", stem);
    let train = mnist_part(
        find("train-images-idx3-ubyte")?,
        find("train-labels-idx1-ubyte")?,
        "mnist.train",
    )?;
    let test = mnist_part(
        find("t10k-images-idx3-ubyte")?,
        find("t10k-labels-idx1-ubyte")?,
        "mnist.test",
    )?;
    Ok(Splits {
        train,
        valid: None,
        test,
    })
}
