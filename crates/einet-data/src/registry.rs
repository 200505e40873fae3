//! The dataset registry: the data sets einet knows by name (`digits`, the DEBD benchmarks,
//! `mnist`, `cifar`, `csv:PATH`), where they live, how each is split into train, valid and
//! test parts, their kind of values, image shapes and bits per dimension.
//!
//! ```
//! use einet_data::registry::{self, DatasetSpec, SPLIT_SEED};
//!
//! let spec: DatasetSpec = "nltcs".parse()?;
//! let data = registry::load(&spec, &einet_data::data_root(None), SPLIT_SEED)?;
//! assert_eq!(data.info.num_vars, 16);
//! assert_eq!(data.info.rows, [data.train.rows(), data.valid.rows(), data.test.rows()]);
//! # Ok::<(), einet_data::registry::RegistryError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::table::{TableOptions, TableSchema};
use crate::{DATA_ENV, DEBD_NAMES, DataError, Dataset, Splits};

/// Why a data set cannot be named or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The text does not name a data set.
    #[error("{0}")]
    Spec(String),
    /// Reading or splitting the data set's files failed.
    #[error("cannot load data set '{spec}'")]
    Load {
        /// The data set.
        spec: String,
        /// What went wrong.
        #[source]
        source: Box<DataError>,
    },
    /// A `debd:NAME` with a name outside the 20 benchmarks, whose files are not there.
    #[error(
        "cannot load data set '{spec}' ('{name}' is not one of the DEBD names: {})",
        DEBD_NAMES.join(", ")
    )]
    UnknownDebd {
        /// The data set.
        spec: String,
        /// The name asked for.
        name: String,
        /// What went wrong when reading its files.
        #[source]
        source: Box<DataError>,
    },
    /// The data set was read but cannot be used (a folder for a file, too few rows).
    #[error("cannot load data set '{spec}': {reason}")]
    Unusable {
        /// The data set.
        spec: String,
        /// Why.
        reason: String,
    },
    /// The splits came without a validation part.
    #[error("the data set has no validation part")]
    NoValidation,
    /// A model's recorded data set does not parse.
    #[error("the model's recorded data set is not usable ({0}); pass --dataset")]
    RecordedUnusable(String),
    /// Neither a data set nor a recorded one.
    #[error("the model does not record its data set; pass --dataset")]
    NotRecorded,
    /// The data set's shape differs from the model's.
    #[error(
        "data set '{spec}' has {} variables × {} channels, but the model expects {} × {}",
        found[0], found[1], expected[0], expected[1]
    )]
    Shape {
        /// The data set.
        spec: String,
        /// Its variables and channels.
        found: [usize; 2],
        /// The model's variables and channels.
        expected: [usize; 2],
    },
}

/// Seed of the random train/valid/test split of data sets that do not come split; fixed, so
/// that `einet eval` sees the same test rows as `einet train`, whatever the training seed.
pub const SPLIT_SEED: u64 = 0;
/// Validation fraction carved out of MNIST's training part (the usual last 10,000 of 60,000).
const MNIST_VALID: f64 = 10_000.0 / 60_000.0;
/// Validation and test fractions of data sets split at random (70/10/20).
const RANDOM_SPLIT: (f64, f64) = (0.1, 0.2);

/// Which data set to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSpec {
    /// scikit-learn's 8×8 digits (shipped), split 70/10/20 at random.
    Digits,
    /// One of the 20 DEBD binary benchmarks (nltcs is shipped).
    Debd(String),
    /// MNIST, the last sixth of train held out for validation.
    Mnist,
    /// The CIFAR-10 subset (4000 train, 1000 test), a tenth of train held out.
    Cifar,
    /// A table (CSV or TSV, see [`crate::table`]), split 70/10/20 at random unless its
    /// options give other fractions or files of validation and test rows.
    Csv(PathBuf),
}

impl FromStr for DatasetSpec {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, RegistryError> {
        Self::parse_spec(s).map_err(RegistryError::Spec)
    }
}

impl DatasetSpec {
    fn parse_spec(s: &str) -> Result<Self, String> {
        let help = "use digits, nltcs, debd:NAME, mnist, cifar or csv:PATH";
        match s {
            "digits" | "sklearn-digits" => Ok(DatasetSpec::Digits),
            "mnist" => Ok(DatasetSpec::Mnist),
            "cifar" | "cifar10" => Ok(DatasetSpec::Cifar),
            _ => {
                if let Some(name) = s.strip_prefix("debd:") {
                    if name.is_empty() {
                        return Err(format!(
                            "'debd:' needs a data set name, e.g. debd:nltcs; {help}"
                        ));
                    }
                    Ok(DatasetSpec::Debd(name.to_string()))
                } else if let Some(path) = s.strip_prefix("csv:") {
                    if path.is_empty() {
                        return Err(format!("'csv:' needs a file, e.g. csv:data.csv; {help}"));
                    }
                    Ok(DatasetSpec::Csv(PathBuf::from(path)))
                } else if DEBD_NAMES.contains(&s) {
                    Ok(DatasetSpec::Debd(s.to_string()))
                } else {
                    Err(format!("unknown data set '{s}'; {help}"))
                }
            }
        }
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetSpec::Digits => write!(f, "digits"),
            DatasetSpec::Debd(name) if name == "nltcs" => write!(f, "nltcs"),
            DatasetSpec::Debd(name) => write!(f, "debd:{name}"),
            DatasetSpec::Mnist => write!(f, "mnist"),
            DatasetSpec::Cifar => write!(f, "cifar"),
            DatasetSpec::Csv(path) => write!(f, "csv:{}", path.display()),
        }
    }
}

impl DatasetSpec {
    /// A short name for output folders (`runs/<name>`).
    pub fn short_name(&self) -> String {
        match self {
            DatasetSpec::Digits => "digits".into(),
            DatasetSpec::Debd(name) => name.clone(),
            DatasetSpec::Mnist => "mnist".into(),
            DatasetSpec::Cifar => "cifar".into(),
            DatasetSpec::Csv(path) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "csv".into());
                name.split('.').next().unwrap_or("csv").to_string()
            }
        }
    }

    /// The same spec with a CSV path made absolute (for the model's training record).
    pub fn absolute(&self) -> DatasetSpec {
        match self {
            DatasetSpec::Csv(p) => DatasetSpec::Csv(std::path::absolute(p).unwrap_or(p.clone())),
            other => other.clone(),
        }
    }
}

/// What the values are, which fixes the default leaf family.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DataKind {
    /// 0/1 values.
    Binary,
    /// Non-negative integers up to `max` (images: 8×8 digits 0..=16, 8-bit pixels 0..=255).
    Counts {
        /// The largest value the source can hold.
        max: u32,
    },
    /// Real values.
    Real,
}

/// The data set's shape and transformation, stored in a model's training record so that
/// later commands can show samples as images and feed data on the model's scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The `--dataset` spec.
    pub dataset: String,
    /// The data folder used.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Variables (pixels for images).
    pub num_vars: usize,
    /// Values per variable (3 for RGB).
    pub channels: usize,
    /// `[height, width]` of image data.
    #[serde(default)]
    pub image_shape: Option<[usize; 2]>,
    /// The largest raw pixel value (16 for digits, 255 for 8-bit images), for rendering.
    #[serde(default)]
    pub pixel_max: Option<f32>,
    /// Model value = raw value · `scale` (1/255 for 8-bit images with Normal leaves).
    pub scale: f32,
    /// Seed of the random split, for data sets without a given split ([`SPLIT_SEED`] in
    /// records written before it was stored).
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    /// Rows of train, valid and test.
    #[serde(default)]
    pub rows: [usize; 3],
    /// How a table (`csv:PATH`) was read: its columns' names and categories, and options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSchema>,
}

fn default_split_seed() -> u64 {
    SPLIT_SEED
}

impl DataInfo {
    /// The data set, with its rows per part and split seed when recorded, e.g.
    /// `digits (1258 train, 180 valid, 359 test rows; split seed 0)`.
    pub fn summary(&self) -> String {
        let [train, valid, test] = self.rows;
        if self.rows == [0; 3] {
            return self.dataset.clone();
        }
        format!(
            "{} ({train} train, {valid} valid, {test} test rows; split seed {})",
            self.dataset, self.split_seed
        )
    }

    /// Names of the values of a row, for CSV output: a table's column names, else
    /// [`value_names`].
    pub fn column_names(&self) -> Vec<String> {
        match &self.table {
            Some(t) => t.names(),
            None => value_names(self.num_vars, self.channels),
        }
    }

    /// Value `i` of a row (variable-major) in model units as the data writes it: scale and
    /// offset undone, a table's category by name, empty when missing.
    pub fn value_text(&self, i: usize, value: f32) -> String {
        match &self.table {
            Some(t) => t.text(i, value),
            None if value.is_nan() => String::new(),
            None => (value / self.scale).to_string(),
        }
    }

    /// Whether the data are images.
    pub fn is_image(&self) -> bool {
        self.image_shape.is_some()
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.num_vars * self.channels
    }

    /// Bits per dimension of a mean log-likelihood `ll` (nats per instance, model scale) of
    /// image data, on the raw pixel scale: `-(ll + D·ln scale) / (D · ln 2)`.
    pub fn bits_per_dim(&self, ll: f64) -> Option<f64> {
        if !self.is_image() {
            return None;
        }
        let d = self.row_len() as f64;
        let raw_ll = ll + d * f64::from(self.scale).ln();
        Some(-raw_ll / (d * std::f64::consts::LN_2))
    }
}

/// Names of the values of a row of `num_vars` variables: `x0, x1, …` (`x0_c0, …` for several
/// channels).
pub fn value_names(num_vars: usize, channels: usize) -> Vec<String> {
    (0..num_vars)
        .flat_map(|v| {
            (0..channels).map(move |c| {
                if channels == 1 {
                    format!("x{v}")
                } else {
                    format!("x{v}_c{c}")
                }
            })
        })
        .collect()
}

/// Which part of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training rows.
    Train,
    /// Validation rows.
    Valid,
    /// Test rows.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        })
    }
}

/// A loaded data set with train, valid and test parts.
pub struct Loaded {
    /// The spec it was loaded from.
    pub spec: DatasetSpec,
    /// The parts (valid always present), raw values.
    pub train: Dataset,
    /// Validation rows.
    pub valid: Dataset,
    /// Test rows.
    pub test: Dataset,
    /// The kind of values.
    pub kind: DataKind,
    /// Shape and transformation (scale 1 until [`Loaded::rescale`]).
    pub info: DataInfo,
}

impl Loaded {
    /// One part.
    pub fn part(&self, split: Split) -> &Dataset {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }

    /// Multiplies every value by `scale` (records it in `info`).
    pub fn rescale(&mut self, scale: f32) {
        if scale != 1.0 {
            for d in [&mut self.train, &mut self.valid, &mut self.test] {
                d.values.iter_mut().for_each(|v| *v *= scale);
            }
        }
        self.info.scale = scale;
    }

    /// Largest per-variable variance of the training rows (missing values ignored).
    pub fn max_variance(&self) -> f32 {
        let d = &self.train;
        let width = d.row_len();
        let mut sum = vec![0.0f64; width];
        let mut sq = vec![0.0f64; width];
        let mut n = vec![0usize; width];
        for row in d.values.chunks_exact(width) {
            for (j, &v) in row.iter().enumerate() {
                if !v.is_nan() {
                    sum[j] += f64::from(v);
                    sq[j] += f64::from(v) * f64::from(v);
                    n[j] += 1;
                }
            }
        }
        (0..width)
            .filter(|&j| n[j] > 0)
            .map(|j| {
                let m = sum[j] / n[j] as f64;
                (sq[j] / n[j] as f64 - m * m).max(0.0) as f32
            })
            .fold(0.0, f32::max)
    }
}

/// The data folder: `--data-dir`, else `$EINET_DATA`, else the folder recorded in a model
/// (when it still exists), else the repository's `data/`.
pub fn resolve_root(cli: Option<&Path>, recorded: Option<&Path>) -> PathBuf {
    if cli.is_some() || std::env::var_os(DATA_ENV).is_some_and(|v| !v.is_empty()) {
        return crate::data_root(cli);
    }
    match recorded {
        Some(dir) if dir.is_dir() => dir.to_path_buf(),
        _ => crate::data_root(None),
    }
}

/// Loads `spec` from the data folder `root`, drawing random splits with `split_seed`
/// ([`SPLIT_SEED`] for new models); values stay on their raw scale.
pub fn load(spec: &DatasetSpec, root: &Path, split_seed: u64) -> Result<Loaded, RegistryError> {
    load_with(spec, root, split_seed, &TableOptions::default(), None)
}

/// [`load`], reading a table (`csv:PATH`) with `table`'s options, or as a model's `schema`
/// says (its columns, categories and options; then `table` is not used).
pub fn load_with(
    spec: &DatasetSpec,
    root: &Path,
    split_seed: u64,
    table: &TableOptions,
    schema: Option<&TableSchema>,
) -> Result<Loaded, RegistryError> {
    let read = |source: DataError| RegistryError::Load {
        spec: spec.to_string(),
        source: Box::new(source),
    };
    let unusable = |reason: String| RegistryError::Unusable {
        spec: spec.to_string(),
        reason,
    };
    let (valid_fraction, test_fraction) = RANDOM_SPLIT;
    let mut table_schema = None;
    let (splits, kind) = match spec {
        DatasetSpec::Digits => {
            let data = crate::sklearn_digits(root).map_err(read)?;
            (
                Splits::random(&data, valid_fraction, test_fraction, split_seed).map_err(read)?,
                DataKind::Counts { max: 16 },
            )
        }
        DatasetSpec::Debd(name) => {
            let splits = crate::debd(root, name).map_err(|source| {
                if DEBD_NAMES.contains(&name.as_str()) {
                    read(source)
                } else {
                    RegistryError::UnknownDebd {
                        spec: spec.to_string(),
                        name: name.clone(),
                        source: Box::new(source),
                    }
                }
            })?;
            (
                splits.with_validation(0.1, split_seed).map_err(read)?,
                DataKind::Binary,
            )
        }
        DatasetSpec::Mnist => (
            crate::mnist(root)
                .map_err(read)?
                .with_validation(MNIST_VALID, split_seed)
                .map_err(read)?,
            DataKind::Counts { max: 255 },
        ),
        DatasetSpec::Cifar => (
            crate::cifar10_subset(root)
                .map_err(read)?
                .with_validation(0.1, split_seed)
                .map_err(read)?,
            DataKind::Counts { max: 255 },
        ),
        DatasetSpec::Csv(path) => {
            let (splits, kind, schema) =
                load_table(path, table, split_seed, schema).map_err(|e| match e {
                    TableError::Read(source) => read(source),
                    TableError::Unusable(reason) => unusable(reason),
                })?;
            table_schema = Some(schema);
            (splits, kind)
        }
    };
    let Splits { train, valid, test } = splits;
    let valid = valid.ok_or(RegistryError::NoValidation)?;
    for part in [&train, &valid, &test] {
        if part.is_empty() {
            return Err(unusable(format!("the part '{}' has no rows", part.name)));
        }
    }
    let info = DataInfo {
        dataset: spec.absolute().to_string(),
        data_dir: match spec {
            DatasetSpec::Csv(_) => None,
            _ => Some(std::path::absolute(root).unwrap_or(root.to_path_buf())),
        },
        num_vars: train.num_vars,
        channels: train.num_channels,
        image_shape: train.image_shape.map(|(h, w)| [h, w]),
        pixel_max: match (train.image_shape, kind) {
            (Some(_), DataKind::Counts { max }) => Some(max as f32),
            (Some(_), DataKind::Binary) => Some(1.0),
            _ => None,
        },
        scale: 1.0,
        split_seed,
        rows: [train.rows(), valid.rows(), test.rows()],
        table: table_schema,
    };
    Ok(Loaded {
        spec: spec.clone(),
        train,
        valid,
        test,
        kind,
        info,
    })
}

/// Why a table cannot be loaded: its files, or its rows for the split.
enum TableError {
    Read(DataError),
    Unusable(String),
}

impl From<DataError> for TableError {
    fn from(e: DataError) -> Self {
        TableError::Read(e)
    }
}

/// Reads the table at `path` (with its own valid and test files, if any) and splits it.
fn load_table(
    path: &Path,
    options: &TableOptions,
    split_seed: u64,
    schema: Option<&TableSchema>,
) -> Result<(Splits, DataKind, TableSchema), TableError> {
    let mut options = schema.map_or(options, |s| &s.options).clone();
    for file in [
        Some(path),
        options.valid_file.as_deref(),
        options.test_file.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        match std::fs::metadata(file) {
            Ok(m) if m.is_dir() => {
                return Err(TableError::Unusable(format!(
                    "{} is a folder, not a CSV file",
                    file.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TableError::Unusable(format!(
                    "the file {} does not exist",
                    file.display()
                )));
            }
            Err(e) => {
                return Err(TableError::Unusable(format!(
                    "cannot read {}: {e}",
                    file.display()
                )));
            }
        }
    }
    for file in [&mut options.valid_file, &mut options.test_file]
        .into_iter()
        .flatten()
    {
        *file = std::path::absolute(&*file).unwrap_or(file.clone());
    }
    let [valid_fraction, test_fraction] = options.split.unwrap_or([RANDOM_SPLIT.0, RANDOM_SPLIT.1]);
    let mut files = vec![path];
    files.extend(options.valid_file.as_deref());
    files.extend(options.test_file.as_deref());
    let (mut parts, schema) = crate::table::read_tables(&files, &options, schema)?;
    let data = parts.remove(0);
    let kind = csv_kind(&data);
    let rows = data.rows();
    let mut own = parts.into_iter();
    let valid = options.valid_file.as_ref().and_then(|_| own.next());
    let test = options.test_file.as_ref().and_then(|_| own.next());
    let (drawn, splits) = match (valid, test) {
        (Some(valid), Some(test)) => (
            "",
            Splits {
                train: {
                    let name = format!("{}.train", data.name);
                    data.renamed(name)
                },
                valid: Some(valid),
                test,
            },
        ),
        (None, Some(test)) => (
            "validation",
            Splits {
                train: data,
                valid: None,
                test,
            }
            .with_validation(valid_fraction, split_seed)?,
        ),
        (valid, None) => {
            let fractions = if valid.is_some() {
                (0.0, test_fraction)
            } else {
                (valid_fraction, test_fraction)
            };
            let mut splits = Splits::random(&data, fractions.0, fractions.1, split_seed)?;
            let drawn = if valid.is_some() {
                splits.valid = valid;
                "test"
            } else {
                "validation and test"
            };
            (drawn, splits)
        }
    };
    for part in splits.parts() {
        if part.is_empty() {
            return Err(TableError::Unusable(format!(
                "{} has {rows} data rows, too few for the random {drawn} rows (fractions {valid_fraction} \
                 valid, {test_fraction} test) to leave every part a row; give more rows, other \
                 fractions (--split) or files of their own (--valid-file, --test-file)",
                path.display(),
            )));
        }
    }
    Ok((splits, kind, schema))
}

/// The kind of a table's values (a CSV file, or rows a front end holds in memory): binary
/// when every observed value is 0 or 1, counts when all are integers in `[0, 65536)`, else
/// real.
pub fn csv_kind(data: &Dataset) -> DataKind {
    let observed = || data.values.iter().filter(|v| !v.is_nan());
    if observed().all(|&v| v == 0.0 || v == 1.0) {
        DataKind::Binary
    } else if observed().all(|&v| v >= 0.0 && v.fract() == 0.0 && v < 65_536.0) {
        DataKind::Counts {
            max: observed().fold(0.0f32, |a, &b| a.max(b)) as u32,
        }
    } else {
        DataKind::Real
    }
}

/// Loads the data set a command names, or else the one recorded in the model, on the model's
/// scale, split with the recorded seed, a table read with the recorded columns and options,
/// and checks that its shape matches the model.
pub fn load_for_model(
    spec: Option<&DatasetSpec>,
    data_dir: Option<&Path>,
    recorded: Option<&DataInfo>,
    num_vars: usize,
    channels: usize,
) -> Result<Loaded, RegistryError> {
    let spec = match (spec, recorded) {
        (Some(s), _) => s.clone(),
        (None, Some(info)) => info
            .dataset
            .parse()
            .map_err(|e: RegistryError| RegistryError::RecordedUnusable(e.to_string()))?,
        (None, None) => return Err(RegistryError::NotRecorded),
    };
    let root = resolve_root(data_dir, recorded.and_then(|i| i.data_dir.as_deref()));
    let split_seed = recorded.map_or(SPLIT_SEED, |i| i.split_seed);
    // A table is read as the model's was; another file than the model's brings no valid or
    // test files of the model's.
    let schema = recorded.and_then(|i| i.table.as_ref()).map(|s| {
        let mut s = s.clone();
        if recorded.is_some_and(|i| i.dataset != spec.absolute().to_string()) {
            s.options.valid_file = None;
            s.options.test_file = None;
        }
        s
    });
    let mut loaded = load_with(
        &spec,
        &root,
        split_seed,
        &TableOptions::default(),
        schema.as_ref(),
    )?;
    if loaded.info.num_vars != num_vars || loaded.info.channels != channels {
        return Err(RegistryError::Shape {
            spec: spec.to_string(),
            found: [loaded.info.num_vars, loaded.info.channels],
            expected: [num_vars, channels],
        });
    }
    loaded.rescale(recorded.map_or(1.0, |i| i.scale));
    if let Some(info) = recorded {
        loaded.info.pixel_max = loaded.info.pixel_max.or(info.pixel_max);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        for s in [
            "digits",
            "nltcs",
            "debd:accidents",
            "mnist",
            "cifar",
            "csv:a/b.csv",
        ] {
            let spec: DatasetSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        assert_eq!(
            "accidents".parse::<DatasetSpec>().unwrap(),
            DatasetSpec::Debd("accidents".into())
        );
        assert!(
            "foo"
                .parse::<DatasetSpec>()
                .unwrap_err()
                .to_string()
                .contains("unknown")
        );
        assert!("debd:".parse::<DatasetSpec>().is_err());
        assert_eq!(
            "csv:x/y.data.csv"
                .parse::<DatasetSpec>()
                .unwrap()
                .short_name(),
            "y"
        );
    }

    /// A CSV file of `rows` rows `i,0` (i = 0..rows) with a header, in `dir`.
    fn csv_file(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("d.csv");
        let text: String = std::iter::once("a,b\n".to_string())
            .chain((0..rows).map(|i| format!("{i},0\n")))
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn csv_files_need_enough_rows_for_every_part() {
        let dir = tempfile::tempdir().unwrap();
        for rows in [3, 4] {
            let spec = DatasetSpec::Csv(csv_file(dir.path(), rows));
            let err = load(&spec, dir.path(), SPLIT_SEED)
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains(&format!(
                    "has {rows} data rows, too few for the random validation and test rows"
                )),
                "{err}"
            );
        }
        let spec = DatasetSpec::Csv(csv_file(dir.path(), 5));
        let loaded = load(&spec, dir.path(), SPLIT_SEED).unwrap();
        assert_eq!(loaded.info.rows, [3, 1, 1]);
    }

    #[test]
    fn csv_paths_that_are_no_file_say_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DatasetSpec::Csv(dir.path().to_path_buf());
        let err = load(&folder, dir.path(), SPLIT_SEED)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is a folder, not a CSV file"), "{err}");
        let missing = DatasetSpec::Csv(dir.path().join("missing.csv"));
        let err = load(&missing, dir.path(), SPLIT_SEED)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing.csv does not exist"), "{err}");
    }

    #[test]
    fn models_are_evaluated_on_the_split_of_their_recorded_seed() {
        let dir = tempfile::tempdir().unwrap();
        let spec = DatasetSpec::Csv(csv_file(dir.path(), 50));
        let recorded = load(&spec, dir.path(), 7).unwrap().info;
        assert_eq!(recorded.split_seed, 7);
        let seeded = load_for_model(None, None, Some(&recorded), 2, 1).unwrap();
        assert_eq!(seeded.info.split_seed, 7);
        let data = crate::csv(csv_file(dir.path(), 50), crate::CsvOptions::default()).unwrap();
        let want = Splits::random(&data, 0.1, 0.2, 7).unwrap();
        assert_eq!(seeded.test.values, want.test.values);
        let fixed = load_for_model(Some(&spec), None, None, 2, 1).unwrap();
        assert_eq!(fixed.info.split_seed, SPLIT_SEED);
        assert_ne!(fixed.test.values, seeded.test.values);
        // Records written before the seed was stored split with SPLIT_SEED.
        let mut old = serde_json::to_value(&recorded).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("split_seed");
        fields.remove("rows");
        let old: DataInfo = serde_json::from_value(old).unwrap();
        assert_eq!((old.split_seed, old.rows), (SPLIT_SEED, [0; 3]));
        assert_eq!(old.summary(), recorded.dataset);
        assert_eq!(
            recorded.summary(),
            format!(
                "{} (35 train, 5 valid, 10 test rows; split seed 7)",
                recorded.dataset
            )
        );
    }

    #[test]
    fn bits_per_dim_of_8_bit_and_scaled_data() {
        let mut info = DataInfo {
            dataset: "mnist".into(),
            data_dir: None,
            num_vars: 4,
            channels: 1,
            image_shape: Some([2, 2]),
            pixel_max: Some(255.0),
            scale: 1.0,
            split_seed: 0,
            rows: [0; 3],
            table: None,
        };
        let ll = -4.0 * 8.0 * std::f64::consts::LN_2;
        assert!((info.bits_per_dim(ll).unwrap() - 8.0).abs() < 1e-9);
        info.scale = 1.0 / 256.0;
        // A uniform density on [0, 1) is 8 bits per 8-bit pixel.
        assert!((info.bits_per_dim(0.0).unwrap() - 8.0).abs() < 1e-9);
        info.image_shape = None;
        assert!(info.bits_per_dim(ll).is_none());
    }
}
