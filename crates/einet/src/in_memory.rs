//! Training data from rows a front end already holds in memory (numpy arrays in the Python
//! module) rather than a data set of the registry.

use std::path::PathBuf;

use einet_data::registry::{SPLIT_SEED, csv_kind};
use einet_data::{DataInfo, DataKind, Dataset, DatasetSpec, Loaded};

use crate::error::{Error, Result};
use crate::model_spec::{ModelSpec, TrainingData};

impl ModelSpec {
    /// Training data from rows in memory: `train`, the `valid` rows that pick the kept epoch
    /// (the training rows when `None`) and the `test` rows (the validation rows when
    /// `None`). `name` is the data set in messages and in the model's training record. Every
    /// part must have the variables and channels of `train`; the kind of the values, which
    /// fixes the default leaf family, is that of all parts together (as for a CSV file), and
    /// the data are images when `train` has an image shape. Then as [`ModelSpec::prepare`].
    ///
    /// ```
    /// use einet::{Dataset, ModelSpec};
    ///
    /// let rows = Dataset::new("x_train", 2, 1, vec![0.0, 1.0, 1.0, 1.0])?;
    /// let data = ModelSpec::default().prepare_rows("arrays", rows, None, None)?;
    /// assert_eq!(data.leaves.name(), "bernoulli");
    /// assert_eq!(data.data.info.rows, [2, 2, 2]);
    /// # Ok::<(), einet::Error>(())
    /// ```
    pub fn prepare_rows(
        &self,
        name: &str,
        train: Dataset,
        valid: Option<Dataset>,
        test: Option<Dataset>,
    ) -> Result<TrainingData> {
        for part in std::iter::once(&train).chain(&valid).chain(&test) {
            if (part.num_vars, part.num_channels) != (train.num_vars, train.num_channels) {
                return Err(Error::invalid(format!(
                    "{} has {} variables × {} channels, but {} has {} × {}",
                    part.name,
                    part.num_vars,
                    part.num_channels,
                    train.name,
                    train.num_vars,
                    train.num_channels
                )));
            }
            if part.is_empty() {
                return Err(Error::invalid(format!("{} has no rows", part.name)));
            }
        }
        let valid = valid.unwrap_or_else(|| train.clone());
        let test = test.unwrap_or_else(|| valid.clone());
        let kind = [&train, &valid, &test]
            .map(csv_kind)
            .into_iter()
            .fold(DataKind::Binary, wider);
        let image_shape = train.image_shape.map(|(h, w)| [h, w]);
        let info = DataInfo {
            dataset: name.into(),
            data_dir: None,
            num_vars: train.num_vars,
            channels: train.num_channels,
            image_shape,
            pixel_max: match (image_shape, kind) {
                (Some(_), DataKind::Counts { max }) => Some(max as f32),
                (Some(_), DataKind::Binary) => Some(1.0),
                _ => None,
            },
            scale: 1.0,
            table: None,
            split_seed: SPLIT_SEED,
            rows: [train.rows(), valid.rows(), test.rows()],
        };
        self.prepare(Loaded {
            spec: DatasetSpec::Csv(PathBuf::from(name)),
            train,
            valid,
            test,
            kind,
            info,
        })
    }
}

/// The narrowest kind that holds the values of both kinds.
fn wider(a: DataKind, b: DataKind) -> DataKind {
    match (a, b) {
        (DataKind::Real, _) | (_, DataKind::Real) => DataKind::Real,
        (DataKind::Counts { max: x }, DataKind::Counts { max: y }) => {
            DataKind::Counts { max: x.max(y) }
        }
        (DataKind::Counts { max }, DataKind::Binary)
        | (DataKind::Binary, DataKind::Counts { max }) => DataKind::Counts { max: max.max(1) },
        (DataKind::Binary, DataKind::Binary) => DataKind::Binary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use einet_core::LeafFamily;

    fn rows(name: &str, num_vars: usize, values: &[f32]) -> Dataset {
        Dataset::new(name, num_vars, 1, values.to_vec()).unwrap()
    }

    #[test]
    fn the_kind_of_all_parts_fixes_the_default_leaf() {
        let spec = ModelSpec::default();
        let train = rows("x_train", 2, &[0.0, 1.0, 1.0, 0.0]);
        let data = spec
            .prepare_rows("arrays", train.clone(), None, None)
            .unwrap();
        assert_eq!(data.leaves.default, LeafFamily::Bernoulli);
        assert_eq!(data.data.info.dataset, "arrays");
        let valid = rows("x_valid", 2, &[3.0, f32::NAN]);
        let data = spec
            .prepare_rows("arrays", train.clone(), Some(valid), None)
            .unwrap();
        assert_eq!(
            data.leaves.default,
            LeafFamily::Categorical { categories: 4 }
        );
        assert_eq!(data.data.test.name, "x_valid");
        let test = rows("x_test", 2, &[0.5, 1.0]);
        let data = spec
            .prepare_rows("arrays", train, None, Some(test))
            .unwrap();
        assert!(matches!(data.leaves.default, LeafFamily::Normal { .. }));
        assert_eq!(data.data.valid.name, "x_train");
    }

    #[test]
    fn parts_of_another_shape_and_values_outside_the_leaf_are_refused() {
        let spec = ModelSpec {
            leaf: Some(crate::LeafChoice::Bernoulli),
            ..ModelSpec::default()
        };
        let train = rows("x_train", 2, &[0.0, 1.0]);
        let err = spec
            .prepare_rows(
                "arrays",
                train.clone(),
                Some(rows("x_valid", 3, &[0.0; 3])),
                None,
            )
            .err()
            .expect("refused")
            .report();
        assert_eq!(
            err,
            "x_valid has 3 variables × 1 channels, but x_train has 2 × 1"
        );
        let err = spec
            .prepare_rows("arrays", train.clone(), None, Some(rows("x_test", 2, &[])))
            .err()
            .expect("refused")
            .report();
        assert_eq!(err, "x_test has no rows");
        let err = spec
            .prepare_rows("arrays", train, Some(rows("x_valid", 2, &[0.0, 2.0])), None)
            .err()
            .expect("refused")
            .report();
        assert!(
            err.contains("x_valid row 0, variable 1: value 2 is not valid for bernoulli"),
            "{err}"
        );
    }
}
