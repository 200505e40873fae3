//! The in-memory dataset, its train/valid/test splits and seeded index shuffling.

use std::path::PathBuf;

use einet_core::LeafFamily;
use einet_core::rng::Rng;

use crate::DataError;

/// Philox stream for [`shuffled_indices`] (splits, batch order).
const SHUFFLE_STREAM: u64 = 0x5348_5546_464C_4531; // "SHUFFLE1"

/// Where the rows and variables of a text-sourced dataset came from, so that errors found
/// later (e.g. by [`Dataset::check_family`]) can name the file line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The file the rows were read from.
    pub file: PathBuf,
    /// 1-based file line of each row (one entry per row).
    pub lines: Vec<usize>,
    /// 1-based file column of each variable (one entry per variable).
    pub columns: Vec<usize>,
}

/// A dataset in memory: `rows × num_vars × num_channels` values, row-major, NaN = missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// A short name for messages, e.g. `nltcs.train`.
    pub name: String,
    /// Number of random variables (pixels for images).
    pub num_vars: usize,
    /// Values per variable: 3 for RGB images, else 1.
    pub num_channels: usize,
    /// The values, shaped `(rows, num_vars, num_channels)` row-major; NaN marks a missing value.
    pub values: Vec<f32>,
    /// Class labels, one per row, when the data has them.
    pub labels: Option<Vec<u32>>,
    /// `(height, width)` of image data (`height * width == num_vars`).
    pub image_shape: Option<(usize, usize)>,
    /// File line/column of each row/variable, for data read from text.
    pub provenance: Option<Provenance>,
}

impl Dataset {
    /// A dataset from raw values; fails unless `values.len()` is a multiple of
    /// `num_vars * num_channels` (both > 0).
    pub fn new(
        name: impl Into<String>,
        num_vars: usize,
        num_channels: usize,
        values: Vec<f32>,
    ) -> Result<Self, DataError> {
        let name = name.into();
        if num_vars == 0 || num_channels == 0 {
            return Err(DataError::InvalidArgument(format!(
                "{name}: num_vars ({num_vars}) and num_channels ({num_channels}) must be positive"
            )));
        }
        if values.len() % (num_vars * num_channels) != 0 {
            return Err(DataError::InvalidArgument(format!(
                "{name}: {} values do not fill whole rows of {num_vars} x {num_channels}",
                values.len()
            )));
        }
        Ok(Dataset {
            name,
            num_vars,
            num_channels,
            values,
            labels: None,
            image_shape: None,
            provenance: None,
        })
    }

    /// Attaches labels (one per row).
    pub fn with_labels(mut self, labels: Vec<u32>) -> Result<Self, DataError> {
        if labels.len() != self.rows() {
            return Err(DataError::InvalidArgument(format!(
                "{}: {} labels for {} rows",
                self.name,
                labels.len(),
                self.rows()
            )));
        }
        self.labels = Some(labels);
        Ok(self)
    }

    /// Marks the data as `height × width` images.
    pub fn with_image_shape(mut self, height: usize, width: usize) -> Result<Self, DataError> {
        if height * width != self.num_vars {
            return Err(DataError::InvalidArgument(format!(
                "{}: image shape {height}x{width} does not match {} variables",
                self.name, self.num_vars
            )));
        }
        self.image_shape = Some((height, width));
        Ok(self)
    }

    /// Values per row: `num_vars * num_channels`.
    pub fn row_len(&self) -> usize {
        self.num_vars * self.num_channels
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.values.len() / self.row_len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `i` (`num_vars * num_channels` values, variable-major). Panics if out of range.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        &self.values[i * n..(i + 1) * n]
    }

    /// Copies the rows `indices` (in that order, repeats allowed) into one contiguous buffer.
    /// Panics if an index is out of range.
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * self.row_len());
        for &i in indices {
            out.extend_from_slice(self.row(i));
        }
        out
    }

    /// A new dataset of the rows `indices` (in that order), with their labels and provenance.
    /// Panics if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            num_vars: self.num_vars,
            num_channels: self.num_channels,
            values: self.gather(indices),
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            image_shape: self.image_shape,
            provenance: self.provenance.as_ref().map(|p| Provenance {
                file: p.file.clone(),
                lines: indices.iter().map(|&i| p.lines[i]).collect(),
                columns: p.columns.clone(),
            }),
        }
    }

    /// The row indices `0..rows()` in a random order fixed by `seed`.
    pub fn shuffled_indices(&self, seed: u64) -> Vec<usize> {
        shuffled_indices(self.rows(), seed)
    }

    /// Splits the rows at random (fixed by `seed`) into `(rest, held_out)`, where `held_out`
    /// gets `round(fraction * rows)` rows. Both keep the original row order.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(DataError::InvalidArgument(format!(
                "split fraction {fraction} is not in [0, 1]"
            )));
        }
        let n = self.rows();
        let take = ((fraction * n as f64).round() as usize).min(n);
        let order = self.shuffled_indices(seed);
        let mut held: Vec<usize> = order[..take].to_vec();
        let mut rest: Vec<usize> = order[take..].to_vec();
        held.sort_unstable();
        rest.sort_unstable();
        Ok((self.select(&rest), self.select(&held)))
    }

    /// Returns the same dataset under another name.
    pub fn renamed(mut self, name: impl Into<String>) -> Dataset {
        self.name = name.into();
        self
    }

    /// Checks that every value (NaN = missing is always fine) lies in the support of
    /// `family`; the error names the first offending value by file line and column for data
    /// read from text, else by row and variable.
    pub fn check_family(&self, family: &LeafFamily) -> Result<(), DataError> {
        self.check_families(|_| family)
    }

    /// [`Dataset::check_family`] with a family per variable: `family_of(var)`.
    pub fn check_families<'a>(
        &self,
        family_of: impl Fn(usize) -> &'a LeafFamily,
    ) -> Result<(), DataError> {
        let width = self.row_len();
        let Some(pos) = self
            .values
            .iter()
            .enumerate()
            .position(|(i, &x)| !family_of((i % width) / self.num_channels).accepts(x))
        else {
            return Ok(());
        };
        let row = pos / width;
        let var = (pos % width) / self.num_channels;
        let channel = pos % self.num_channels;
        Err(DataError::OutOfRange {
            location: self.location(row, var, channel),
            row,
            var,
            channel,
            value: self.values[pos],
            family: family_of(var).name(),
        })
    }

    /// Human-readable place of a value: `FILE line L, column C` when provenance is known,
    /// else `NAME row R, variable V[, channel C]` (0-based).
    pub fn location(&self, row: usize, var: usize, channel: usize) -> String {
        if let Some(p) = &self.provenance {
            if let (Some(line), Some(col)) = (p.lines.get(row), p.columns.get(var)) {
                let file = p
                    .file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.file.display().to_string());
                return format!("{file} line {line}, column {col}");
            }
        }
        if self.num_channels > 1 {
            format!("{} row {row}, variable {var}, channel {channel}", self.name)
        } else {
            format!("{} row {row}, variable {var}", self.name)
        }
    }
}

/// `0..n` in a random order fixed by `seed` (Philox Fisher–Yates).
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed, SHUFFLE_STREAM).shuffle(&mut idx);
    idx
}

/// Training, optional validation, and test data.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows, when the source has them or one was carved out of `train`.
    pub valid: Option<Dataset>,
    /// Test rows.
    pub test: Dataset,
}

impl Splits {
    /// Ensures a validation set: if there is none, a random `fraction` of `train` (fixed by
    /// `seed`) becomes `valid`; an existing validation set is kept as it is.
    pub fn with_validation(self, fraction: f64, seed: u64) -> Result<Splits, DataError> {
        if self.valid.is_some() {
            return Ok(self);
        }
        let base = base_name(&self.train.name);
        let (train, valid) = self.train.split(fraction, seed)?;
        Ok(Splits {
            train: train.renamed(format!("{base}.train")),
            valid: Some(valid.renamed(format!("{base}.valid"))),
            test: self.test,
        })
    }

    /// Splits one dataset at random (fixed by `seed`) into train/valid/test, with
    /// `round(valid_fraction * rows)` validation and `round(test_fraction * rows)` test rows
    /// (e.g. `0.1, 0.2` for a 70/10/20 split). Each part keeps the original row order.
    pub fn random(
        data: &Dataset,
        valid_fraction: f64,
        test_fraction: f64,
        seed: u64,
    ) -> Result<Splits, DataError> {
        let ok = |f: f64| (0.0..=1.0).contains(&f);
        if !ok(valid_fraction) || !ok(test_fraction) || valid_fraction + test_fraction > 1.0 {
            return Err(DataError::InvalidArgument(format!(
                "valid fraction {valid_fraction} and test fraction {test_fraction} must be in \
                 [0, 1] and sum to at most 1"
            )));
        }
        let n = data.rows();
        let n_test = (test_fraction * n as f64).round() as usize;
        let n_valid = ((valid_fraction * n as f64).round() as usize).min(n - n_test);
        let order = data.shuffled_indices(seed);
        let part = |r: std::ops::Range<usize>, suffix: &str| {
            let mut idx = order[r].to_vec();
            idx.sort_unstable();
            data.select(&idx).renamed(format!("{}.{suffix}", data.name))
        };
        Ok(Splits {
            test: part(0..n_test, "test"),
            valid: Some(part(n_test..n_test + n_valid, "valid")),
            train: part(n_test + n_valid..n, "train"),
        })
    }

    /// The parts that are present, in the order train, valid, test.
    pub fn parts(&self) -> Vec<&Dataset> {
        let mut v = vec![&self.train];
        v.extend(self.valid.as_ref());
        v.push(&self.test);
        v
    }
}

fn base_name(name: &str) -> &str {
    name.strip_suffix(".train").unwrap_or(name)
}
