//! Leaf families as users choose them, with defaults taken from the data.

use std::str::FromStr;

use einet_core::leaf::MAX_SUPPORT;
use einet_core::{Einet, LeafFamily, LeafSpec};
use einet_data::{DataKind, DatasetSpec, Loaded};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A leaf family as a user names it, its size optional (taken from the data when left out):
/// `bernoulli`, `categorical[:N]`, `binomial[:N]` or `normal[:MIN_VAR,MAX_VAR]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", content = "size", rename_all = "lowercase")]
pub enum LeafChoice {
    /// `bernoulli`.
    Bernoulli,
    /// `categorical[:N]`.
    Categorical(Option<u32>),
    /// `binomial[:N]`.
    Binomial(Option<u32>),
    /// `normal[:MIN_VAR,MAX_VAR]`.
    Normal(Option<(f32, f32)>),
}

impl FromStr for LeafChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse_text(s).map_err(Error::Invalid)
    }
}

impl std::fmt::Display for LeafChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeafChoice::Bernoulli => f.write_str("bernoulli"),
            LeafChoice::Categorical(None) => f.write_str("categorical"),
            LeafChoice::Categorical(Some(n)) => write!(f, "categorical:{n}"),
            LeafChoice::Binomial(None) => f.write_str("binomial"),
            LeafChoice::Binomial(Some(n)) => write!(f, "binomial:{n}"),
            LeafChoice::Normal(None) => f.write_str("normal"),
            LeafChoice::Normal(Some((lo, hi))) => write!(f, "normal:{lo},{hi}"),
        }
    }
}

impl LeafChoice {
    fn parse_text(s: &str) -> std::result::Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let count = |what: &str, min: u32| -> std::result::Result<Option<u32>, String> {
            arg.map(|a| match a.trim().parse::<u32>() {
                Ok(n) if (min..=MAX_SUPPORT).contains(&n) => Ok(n),
                _ => Err(format!(
                    "{what} must be an integer from {min} to {MAX_SUPPORT}, got '{a}'"
                )),
            })
            .transpose()
        };
        match name {
            "bernoulli" if arg.is_none() => Ok(LeafChoice::Bernoulli),
            "categorical" => Ok(LeafChoice::Categorical(count(
                "the number of categories",
                2,
            )?)),
            "binomial" => Ok(LeafChoice::Binomial(count("the number of trials", 1)?)),
            "normal" | "gaussian" => {
                let bounds = arg
                    .map(|a| {
                        let parsed = a.split_once(',').and_then(|(lo, hi)| {
                            Some((lo.trim().parse::<f32>().ok()?, hi.trim().parse::<f32>().ok()?))
                        });
                        match parsed {
                            Some((lo, hi)) if lo > 0.0 && hi >= lo && hi.is_finite() => {
                                Ok((lo, hi))
                            }
                            _ => Err(format!(
                                "normal variance bounds must be MIN,MAX with 0 < MIN <= MAX, got '{a}'"
                            )),
                        }
                    })
                    .transpose()?;
                Ok(LeafChoice::Normal(bounds))
            }
            _ => Err(format!(
                "unknown leaf family '{s}'; use bernoulli, categorical[:N], binomial[:N] or \
                 normal[:MIN_VAR,MAX_VAR]"
            )),
        }
    }
}

/// A leaf family for one column of a table, as a user names it: `NAME=FAMILY` (the column
/// by its header name or 1-based number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnLeaf {
    /// The column.
    pub column: String,
    /// Its leaf family.
    pub leaf: LeafChoice,
}

impl FromStr for ColumnLeaf {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (column, leaf) = s
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("'{s}' is not NAME=FAMILY (e.g. age=normal)")))?;
        if column.trim().is_empty() {
            return Err(Error::invalid(format!("'{s}' names no column before '='")));
        }
        Ok(ColumnLeaf {
            column: column.trim().to_string(),
            leaf: leaf.trim().parse()?,
        })
    }
}

/// Integer columns of a table whose values span at most this many integers get categorical
/// leaves when no family is given (over `min..=max`); others get normal leaves.
pub const TABLE_CATEGORIES: u32 = 32;

/// A column's observed values.
struct Values {
    /// All 0 or 1.
    binary: bool,
    /// All integers (of magnitude below 65536).
    integers: bool,
    min: f64,
    max: f64,
    /// Mean and variance of the training rows.
    mean: f64,
    variance: f64,
}

/// The family of column `var` of a table and its offset (model value = file value − offset):
/// `choice` when given, else inferred — strings → categorical (one per category), 0/1 →
/// bernoulli, integers spanning at most [`TABLE_CATEGORIES`] values → categorical over their
/// range (offset: the smallest), else normal with variance bounds from the column's variance.
/// Normal columns are centred on their mean (offset), so that their `E[x²]` statistics keep
/// their precision in `f32`.
fn table_family(
    data: &Loaded,
    var: usize,
    choice: Option<LeafChoice>,
) -> Result<(LeafFamily, f32)> {
    let column = data.info.table.as_ref().map(|t| &t.columns[var]);
    let name = column.map_or_else(|| var.to_string(), |c| c.name.clone());
    let categories = column.map_or(0, |c| c.categories.len() as u32);
    let values = column_values(data, var);
    let span = values.max - values.min + 1.0;
    let choice = match choice {
        Some(choice) => choice,
        None if categories > 0 => LeafChoice::Categorical(Some(categories.max(2))),
        None if values.binary => LeafChoice::Bernoulli,
        None if values.integers && span <= f64::from(TABLE_CATEGORIES) => {
            LeafChoice::Categorical(None)
        }
        None => LeafChoice::Normal(None),
    };
    if categories > 0 && !matches!(choice, LeafChoice::Categorical(_) | LeafChoice::Bernoulli) {
        return Err(Error::invalid(format!(
            "column '{name}' holds strings ({} categories); it needs categorical leaves, not \
             {choice}",
            categories
        )));
    }
    // Categories without a count span the column's integers; normal columns are centred.
    let (offset, max) = match choice {
        LeafChoice::Normal(_) => (values.mean, None),
        LeafChoice::Categorical(None) if values.integers => (values.min, Some((span - 1.0) as u32)),
        _ if values.integers && values.min >= 0.0 => (0.0, Some((values.max as u32).max(1))),
        _ => (0.0, None),
    };
    let what = format!("column '{name}' of '{}'", data.spec);
    let family = family_of(choice, max, &what, || {
        // Variances from a thousandth of the column's up to the column's own.
        let variance = (values.variance as f32).max(1e-6);
        LeafFamily::Normal {
            min_var: (variance * 1e-3).max(1e-6),
            max_var: variance,
        }
    })?;
    Ok((family, offset as f32))
}

/// The observed values of variable `var`: kind and range over every part (so that the
/// validation and test rows fit the leaves too), mean and variance over the training rows.
fn column_values(data: &Loaded, var: usize) -> Values {
    let observed = |part: &'_ einet_data::Dataset| -> Vec<f64> {
        part.values
            .iter()
            .skip(var)
            .step_by(part.row_len())
            .filter(|v| !v.is_nan())
            .map(|&v| f64::from(v))
            .collect()
    };
    let train = observed(&data.train);
    let all: Vec<f64> = [&data.train, &data.valid, &data.test]
        .into_iter()
        .flat_map(observed)
        .collect();
    let n = train.len().max(1) as f64;
    let mean = train.iter().sum::<f64>() / n;
    let variance = train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    Values {
        binary: all.iter().all(|&v| v == 0.0 || v == 1.0),
        integers: !all.is_empty() && all.iter().all(|&v| v.fract() == 0.0 && v.abs() < 65_536.0),
        min: finite(all.iter().copied().fold(f64::INFINITY, f64::min)),
        max: finite(all.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        mean,
        variance,
    }
}

/// The family `choice` names, its size taken from the largest value `max` when left out;
/// `what` names the data in errors, `normal` gives the default normal bounds.
fn family_of(
    choice: LeafChoice,
    max: Option<u32>,
    what: &str,
    normal: impl FnOnce() -> LeafFamily,
) -> Result<LeafFamily> {
    let need_counts = |leaves: &str| -> Result<u32> {
        max.ok_or_else(|| {
            Error::invalid(format!(
                "{leaves} leaves need non-negative integer data, but {what} has real values; \
                 use normal leaves"
            ))
        })
    };
    Ok(match choice {
        LeafChoice::Bernoulli => LeafFamily::Bernoulli,
        LeafChoice::Categorical(n) => LeafFamily::Categorical {
            categories: match n {
                Some(n) => n,
                None => need_counts("categorical")? + 1,
            },
        },
        LeafChoice::Binomial(n) => LeafFamily::Binomial {
            trials: match n {
                Some(n) => n,
                None => need_counts("binomial")?,
            },
        },
        LeafChoice::Normal(Some((min_var, max_var))) => LeafFamily::Normal { min_var, max_var },
        LeafChoice::Normal(None) => normal(),
    })
}

/// The leaves for `data` and the scale to apply to the raw values (1/max for normal leaves
/// on images, else 1): `arg` for every variable (the data's default when `None`), except
/// the columns of `columns`. A table (`csv:PATH`) without `arg` gets a family per column
/// ([`TABLE_CATEGORIES`]), and its columns are shifted by their offsets (recorded in the
/// data information); per-column families need a table.
pub fn resolve_leaves(
    arg: Option<LeafChoice>,
    columns: &[ColumnLeaf],
    data: &mut Loaded,
) -> Result<(LeafSpec, f32)> {
    let Some(table) = data.info.table.clone() else {
        if let Some(c) = columns.first() {
            return Err(Error::invalid(format!(
                "a leaf family per column ({}={}) needs a table (csv:PATH) whose columns have \
                 names; '{}' is not one",
                c.column, c.leaf, data.spec
            )));
        }
        let (family, scale) = resolve(arg, data)?;
        return Ok((LeafSpec::uniform(family), scale));
    };
    let mut chosen: Vec<Option<LeafChoice>> = vec![arg; table.columns.len()];
    for c in columns {
        let var = table.require(&c.column).map_err(Error::Invalid)?;
        chosen[var] = Some(c.leaf);
    }
    let (families, offsets): (Vec<LeafFamily>, Vec<f32>) = chosen
        .into_iter()
        .enumerate()
        .map(|(var, choice)| table_family(data, var, choice))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let mut shift = table.clone();
    for (column, offset) in shift.columns.iter_mut().zip(&offsets) {
        column.offset = *offset;
    }
    for part in [&mut data.train, &mut data.valid, &mut data.test] {
        shift.shift(part);
    }
    if let Some(table) = &mut data.info.table {
        for (column, offset) in table.columns.iter_mut().zip(&offsets) {
            column.offset += *offset;
        }
    }
    Ok((LeafSpec::per_variable(&families), 1.0))
}

/// A variable whose normal leaves ended with many variances on their lower bound.
#[derive(Clone, Debug, PartialEq)]
pub struct CollapsedVariances {
    /// The variable.
    pub var: usize,
    /// Its leaf components (states × leaf regions × channels) with a variance within 1 % of
    /// the lower bound.
    pub at_floor: usize,
    /// Its leaf components.
    pub components: usize,
    /// The lower bound.
    pub min_var: f32,
}

/// The variables with normal leaves of which more than half the components have collapsed
/// onto the variance's lower bound — a sign of overfitting: a component that fits a few
/// rows (or one repeated value) exactly.
pub fn collapsed_variances(einet: &Einet) -> Vec<CollapsedVariances> {
    let leaf = &einet.layout.leaf;
    let d = einet.layout.num_channels;
    let mut by_var: Vec<Option<CollapsedVariances>> = vec![None; einet.layout.num_vars];
    for e in 0..leaf.vars.len() {
        let LeafFamily::Normal { min_var, .. } = leaf.family(e) else {
            continue;
        };
        let start = leaf.param_offsets[e] as usize;
        let phi = &einet.params.leaf[start..start + leaf.k * d * 2];
        let at_floor = phi
            .chunks_exact(2)
            .filter(|p| p[1] - p[0] * p[0] <= min_var * 1.01)
            .count();
        let var = leaf.vars[e] as usize;
        let entry = by_var[var].get_or_insert(CollapsedVariances {
            var,
            at_floor: 0,
            components: 0,
            min_var,
        });
        entry.at_floor += at_floor;
        entry.components += leaf.k * d;
    }
    by_var
        .into_iter()
        .flatten()
        .filter(|c| 2 * c.at_floor > c.components)
        .collect()
}

/// The family for `data` (the data's default when `arg` is `None`) and the scale to apply to
/// the raw values (1/max for Normal leaves on images, else 1).
pub fn resolve(arg: Option<LeafChoice>, data: &Loaded) -> Result<(LeafFamily, f32)> {
    let image = data.info.is_image();
    let max = match data.kind {
        DataKind::Binary => Some(1),
        DataKind::Counts { max } => Some(max.max(1)),
        DataKind::Real => None,
    };
    let arg = arg.unwrap_or(match (data.kind, &data.spec) {
        (_, DatasetSpec::Cifar) => LeafChoice::Normal(None),
        (DataKind::Binary, _) => LeafChoice::Bernoulli,
        (DataKind::Counts { .. }, _) if image => LeafChoice::Binomial(None),
        (DataKind::Counts { max }, _) if max < 256 => LeafChoice::Categorical(None),
        (DataKind::Counts { .. }, _) => LeafChoice::Binomial(None),
        (DataKind::Real, _) => LeafChoice::Normal(None),
    });
    let scale = match (arg, image, max) {
        (LeafChoice::Normal(_), true, Some(m)) => 1.0 / m as f32,
        _ => 1.0,
    };
    let family = family_of(arg, max, &format!("'{}'", data.spec), || {
        if image {
            LeafFamily::PIXEL_NORMAL
        } else {
            LeafFamily::Normal {
                min_var: 1e-6,
                max_var: data.max_variance().max(1e-3),
            }
        }
    })?;
    Ok((family, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_args_parse() {
        assert_eq!(
            "bernoulli".parse::<LeafChoice>().unwrap(),
            LeafChoice::Bernoulli
        );
        assert_eq!(
            "categorical".parse::<LeafChoice>().unwrap(),
            LeafChoice::Categorical(None)
        );
        assert_eq!(
            "binomial:16".parse::<LeafChoice>().unwrap(),
            LeafChoice::Binomial(Some(16))
        );
        assert_eq!(
            "normal:1e-6,0.1".parse::<LeafChoice>().unwrap(),
            LeafChoice::Normal(Some((1e-6, 0.1)))
        );
        assert!("categorical:1".parse::<LeafChoice>().is_err());
        assert_eq!(
            "categorical:65536".parse::<LeafChoice>().unwrap(),
            LeafChoice::Categorical(Some(65_536))
        );
        for too_many in [
            "binomial:4000000000",
            "categorical:65537",
            "binomial:99999999999",
        ] {
            let err = too_many.parse::<LeafChoice>().unwrap_err().to_string();
            assert!(err.contains("from") && err.contains("to 65536"), "{err}");
        }
        assert!("normal:1,0.5".parse::<LeafChoice>().is_err());
        assert!("poisson".parse::<LeafChoice>().is_err());
    }

    /// Tabular integer data whose largest value is `max`.
    fn counts(max: u32) -> Loaded {
        let part = |name: &str| {
            einet_data::Dataset::new(name, 2, 1, vec![0.0, max as f32]).expect("one row")
        };
        Loaded {
            spec: DatasetSpec::Csv("counts.csv".into()),
            train: part("train"),
            valid: part("valid"),
            test: part("test"),
            kind: DataKind::Counts { max },
            info: einet_data::DataInfo {
                dataset: "csv:counts.csv".into(),
                data_dir: None,
                num_vars: 2,
                channels: 1,
                image_shape: None,
                pixel_max: None,
                scale: 1.0,
                split_seed: 0,
                rows: [1; 3],
                table: None,
            },
        }
    }

    #[test]
    fn default_leaf_of_integer_data_is_the_one_the_help_names() {
        let (family, _) = resolve(None, &counts(255)).unwrap();
        assert_eq!(family, LeafFamily::Categorical { categories: 256 });
        let (family, _) = resolve(None, &counts(256)).unwrap();
        assert_eq!(family, LeafFamily::Binomial { trials: 256 });
    }
}
