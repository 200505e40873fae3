//! `--leaf`: the leaf family, with defaults chosen from the data.

use std::str::FromStr;

use anyhow::{Result, bail};
use einet_core::LeafFamily;

use crate::dataset_arg::{DataKind, DatasetSpec, Loaded};

/// Variance bounds of Normal leaves on images scaled to [0, 1] (the reference's SVHN setting).
pub const IMAGE_VARIANCE: (f32, f32) = (1e-6, 0.01);

/// A `--leaf` value: a family, its size optional (taken from the data when left out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LeafArg {
    /// `bernoulli`.
    Bernoulli,
    /// `categorical[:N]`.
    Categorical(Option<u32>),
    /// `binomial[:N]`.
    Binomial(Option<u32>),
    /// `normal[:MIN_VAR,MAX_VAR]`.
    Normal(Option<(f32, f32)>),
}

impl FromStr for LeafArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let count = |what: &str, min: u32| -> Result<Option<u32>, String> {
            arg.map(|a| match a.trim().parse::<u32>() {
                Ok(n) if n >= min => Ok(n),
                _ => Err(format!("{what} must be an integer >= {min}, got '{a}'")),
            })
            .transpose()
        };
        match name {
            "bernoulli" if arg.is_none() => Ok(LeafArg::Bernoulli),
            "categorical" => Ok(LeafArg::Categorical(count("the number of categories", 2)?)),
            "binomial" => Ok(LeafArg::Binomial(count("the number of trials", 1)?)),
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
                Ok(LeafArg::Normal(bounds))
            }
            _ => Err(format!(
                "unknown leaf family '{s}'; use bernoulli, categorical[:N], binomial[:N] or \
                 normal[:MIN_VAR,MAX_VAR]"
            )),
        }
    }
}

/// The family for `data` (the default when `arg` is `None`) and the scale to apply to the raw
/// values (1/max for Normal leaves on images, else 1).
pub fn resolve(arg: Option<LeafArg>, data: &Loaded) -> Result<(LeafFamily, f32)> {
    let image = data.info.is_image();
    let max = match data.kind {
        DataKind::Binary => Some(1),
        DataKind::Counts { max } => Some(max.max(1)),
        DataKind::Real => None,
    };
    let arg = arg.unwrap_or(match (data.kind, &data.spec) {
        (_, DatasetSpec::Cifar) => LeafArg::Normal(None),
        (DataKind::Binary, _) => LeafArg::Bernoulli,
        (DataKind::Counts { .. }, _) if image => LeafArg::Binomial(None),
        (DataKind::Counts { max }, _) if max < 256 => LeafArg::Categorical(None),
        (DataKind::Counts { .. }, _) => LeafArg::Binomial(None),
        (DataKind::Real, _) => LeafArg::Normal(None),
    });
    let need_counts = |what: &str| -> Result<u32> {
        match max {
            Some(m) => Ok(m),
            None => bail!(
                "{what} leaves need non-negative integer data, but '{}' has real values; \
                 use --leaf normal",
                data.spec
            ),
        }
    };
    Ok(match arg {
        LeafArg::Bernoulli => (LeafFamily::Bernoulli, 1.0),
        LeafArg::Categorical(n) => {
            let categories = match n {
                Some(n) => n,
                None => need_counts("categorical")? + 1,
            };
            (LeafFamily::Categorical { categories }, 1.0)
        }
        LeafArg::Binomial(n) => {
            let trials = match n {
                Some(n) => n,
                None => need_counts("binomial")?,
            };
            (LeafFamily::Binomial { trials }, 1.0)
        }
        LeafArg::Normal(bounds) => {
            let scale = match (image, max) {
                (true, Some(m)) => 1.0 / m as f32,
                _ => 1.0,
            };
            let (min_var, max_var) = match bounds {
                Some(b) => b,
                None if image => IMAGE_VARIANCE,
                None => (1e-6, data.max_variance().max(1e-3)),
            };
            (LeafFamily::Normal { min_var, max_var }, scale)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_args_parse() {
        assert_eq!("bernoulli".parse(), Ok(LeafArg::Bernoulli));
        assert_eq!("categorical".parse(), Ok(LeafArg::Categorical(None)));
        assert_eq!("binomial:16".parse(), Ok(LeafArg::Binomial(Some(16))));
        assert_eq!(
            "normal:1e-6,0.1".parse(),
            Ok(LeafArg::Normal(Some((1e-6, 0.1))))
        );
        assert!("categorical:1".parse::<LeafArg>().is_err());
        assert!("normal:1,0.5".parse::<LeafArg>().is_err());
        assert!("poisson".parse::<LeafArg>().is_err());
    }
}
