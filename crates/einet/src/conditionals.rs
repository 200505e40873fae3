//! Conditional queries of data rows (`einet query`): for each row, `log p(x_T | x_E)` of
//! target variables T given the row's other observed values E, and the marginal `log p(x_E)`.

use einet_data::Dataset;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::queries::Model;

/// The answer for one row: `log p(x_T, x_E)` is the sum of the two.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TargetLikelihood {
    /// `log p(x_T | x_E)` (nats).
    pub log_p_target_given: f32,
    /// `log p(x_E)` (nats; 0 for a row with no evidence).
    pub log_p_given: f32,
}

/// For each row of `data` (the model's shape and scale), `batch_size` rows at a time:
/// `log p(x_T | x_E)` of the variables `targets` (T) given the row's other observed values
/// (E; missing values are marginalised), and `log p(x_E)`. Every row needs its target
/// values: a missing one is an error naming its place (file line and column for data read
/// from text), as is a value outside its variable's leaf family.
pub fn target_log_likelihoods(
    model: &mut Model,
    data: &Dataset,
    targets: &[usize],
    batch_size: usize,
) -> Result<Vec<TargetLikelihood>> {
    model.check(data)?;
    let (num_vars, channels) = (model.layout().num_vars, model.layout().num_channels);
    if targets.is_empty() {
        return Err(Error::invalid(
            "a conditional query needs a target variable",
        ));
    }
    if let Some(v) = targets.iter().find(|&&v| v >= num_vars) {
        return Err(Error::invalid(format!(
            "target variable {v} does not exist; the model has {num_vars} variables"
        )));
    }
    let width = data.row_len();
    for (row, values) in data.values.chunks_exact(width).enumerate() {
        for &var in targets {
            if let Some(c) = (0..channels).find(|c| values[var * channels + c].is_nan()) {
                return Err(Error::invalid(format!(
                    "{}: the target value is missing (each row needs its target values)",
                    data.location(row, var, c)
                )));
            }
        }
    }
    let evidence: Vec<usize> = (0..num_vars).filter(|v| !targets.contains(v)).collect();
    let mut out = Vec::with_capacity(data.rows());
    for batch in data.values.chunks(batch_size.max(1) * width) {
        let joint = model.log_likelihood(batch)?;
        let given = model.marginal_log_likelihood(batch, &evidence)?;
        out.extend(joint.iter().zip(given).map(|(&j, g)| TargetLikelihood {
            log_p_target_given: j - g,
            log_p_given: g,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;
    use einet_core::{Einet, EinetConfig, LeafFamily, random_binary_trees};

    fn model() -> Model {
        let config = EinetConfig::new(3, LeafFamily::Categorical { categories: 3 });
        let einet = Einet::new(random_binary_trees(4, 2, 2, 0).unwrap(), config, 0).unwrap();
        Model::new(einet, Device::cpu()).unwrap()
    }

    #[test]
    fn conditionals_of_every_target_value_sum_to_one() {
        let mut model = model();
        let nan = f32::NAN;
        // Variable 1 takes each of its values; variable 2 is missing; 0 and 3 are evidence.
        let values: Vec<f32> = (0..3).flat_map(|c| [2.0, c as f32, nan, 1.0]).collect();
        let data = Dataset::new("q", 4, 1, values).unwrap();
        let answers = target_log_likelihoods(&mut model, &data, &[1], 2).unwrap();
        let total: f64 = answers
            .iter()
            .map(|a| f64::from(a.log_p_target_given).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // The evidence is the same in each row, and its marginal is that of x0 and x3.
        let given = model.marginal_log_likelihood(data.row(0), &[0, 3]).unwrap()[0];
        assert!(answers.iter().all(|a| (a.log_p_given - given).abs() < 1e-6));
        let joint = model.log_likelihood(data.row(2)).unwrap()[0];
        let a = answers[2];
        assert!((a.log_p_target_given + a.log_p_given - joint).abs() < 1e-5);
    }

    #[test]
    fn a_missing_target_value_is_an_error_naming_its_row() {
        let mut model = model();
        let data = Dataset::new("q", 4, 1, vec![0.0, 1.0, 2.0, 0.0, 0.0, f32::NAN, 2.0, 0.0]);
        let err = target_log_likelihoods(&mut model, &data.unwrap(), &[1], 10)
            .unwrap_err()
            .report();
        assert!(
            err.contains("q row 1, variable 1: the target value is missing"),
            "{err}"
        );
        let data = Dataset::new("q", 4, 1, vec![0.0; 4]).unwrap();
        let err = target_log_likelihoods(&mut model, &data, &[4], 10).unwrap_err();
        assert!(err.report().contains("the model has 4 variables"));
    }
}
