//! Leaf families as users choose them, with defaults taken from the data.

use std::str::FromStr;

use einet_core::LeafFamily;
use einet_core::leaf::MAX_SUPPORT;
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
    let need_counts = |what: &str| -> Result<u32> {
        match max {
            Some(m) => Ok(m),
            None => Err(Error::invalid(format!(
                "{what} leaves need non-negative integer data, but '{}' has real values; \
                 use --leaf normal",
                data.spec
            ))),
        }
    };
    Ok(match arg {
        LeafChoice::Bernoulli => (LeafFamily::Bernoulli, 1.0),
        LeafChoice::Categorical(n) => {
            let categories = match n {
                Some(n) => n,
                None => need_counts("categorical")? + 1,
            };
            (LeafFamily::Categorical { categories }, 1.0)
        }
        LeafChoice::Binomial(n) => {
            let trials = match n {
                Some(n) => n,
                None => need_counts("binomial")?,
            };
            (LeafFamily::Binomial { trials }, 1.0)
        }
        LeafChoice::Normal(bounds) => {
            let scale = match (image, max) {
                (true, Some(m)) => 1.0 / m as f32,
                _ => 1.0,
            };
            let family = match bounds {
                Some((min_var, max_var)) => LeafFamily::Normal { min_var, max_var },
                None if image => LeafFamily::PIXEL_NORMAL,
                None => LeafFamily::Normal {
                    min_var: 1e-6,
                    max_var: data.max_variance().max(1e-3),
                },
            };
            (family, scale)
        }
    })
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
