//! Datasets for Einsum Networks: readers for the DEBD binary benchmarks, MNIST (IDX),
//! CIFAR-10 binary records, scikit-learn's digits and generic CSV; train/valid/test splits;
//! seeded shuffling and batching; the [`registry`] of named data sets with their splits,
//! image shapes and bits per dimension; and k-means for mixtures of EiNets.
//!
//! Values are `f32`, shaped `(rows, num_vars, num_channels)` row-major, with NaN marking a
//! missing value. Gzip files are recognised by their magic bytes, whatever their name.
//! Errors ([`DataError`]) name the file and, for text, the 1-based line and column.
//!
//! ```
//! use einet_core::LeafFamily;
//! use einet_data::{data_root, debd};
//!
//! // The repository ships NLTCS; `--data-dir` or `EINET_DATA` can point elsewhere.
//! let splits = debd(data_root(None).join("debd"), "nltcs")?;
//! assert_eq!(splits.train.num_vars, 16);
//! splits.train.check_family(&LeafFamily::Bernoulli)?;
//! for batch in splits.train.batches(1000, Some(42)).take(1) {
//!     assert_eq!(batch.values().len(), batch.rows() * 16);
//! }
//! # Ok::<(), einet_data::DataError>(())
//! ```

mod batch;
mod cifar;
mod dataset;
mod error;
mod file;
mod idx;
mod kmeans;
mod location;
pub mod registry;
pub mod table;
mod text;

pub use batch::{Batch, Batches};
pub use cifar::{CIFAR_PIXELS, CIFAR_RECORD, cifar10_file, cifar10_subset};
pub use dataset::{Dataset, Provenance, Splits, shuffled_indices};
pub use error::DataError;
pub use file::{GZIP_MAGIC, read_bytes};
pub use idx::{IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IdxArray, mnist, mnist_part, read_idx};
pub use kmeans::{KMeans, kmeans};
pub use location::{DATA_ENV, data_root, data_root_with, repo_data_dir, shared_data_dir};
pub use registry::{DataInfo, DataKind, DatasetSpec, Loaded, RegistryError, Split};
pub use text::{CsvOptions, DEBD_NAMES, csv, debd, sklearn_digits};
