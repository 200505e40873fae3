//! Queries on a model: log-likelihoods with missing values, marginals, conditionals,
//! sampling, conditional sampling and both MPEs.
//!
//! Rows are row-major `(rows, num_vars, num_channels)` `f32` values on the model's scale;
//! NaN marks a missing value, which is marginalised exactly.

use std::path::Path;

use einet_core::{BackendModel, Einet, Layout, MpeKind, Root};
use einet_data::Dataset;

use crate::device::Device;
use crate::error::{Error, ErrorContext, Result};
use crate::record::load_model;

/// Mean log-likelihood (nats per row) of `data` under the class mixture, in batches of
/// `batch_size` rows.
pub fn mean_log_likelihood(
    model: &mut dyn BackendModel,
    data: &Dataset,
    batch_size: usize,
) -> Result<f64> {
    let ll = log_likelihoods(model, data, batch_size)?;
    Ok(ll.iter().map(|&l| f64::from(l)).sum::<f64>() / data.rows() as f64)
}

/// The log-likelihood of every row of `data` (nats), evaluated `batch_size` rows at a time;
/// an empty data set is an error.
pub fn log_likelihoods(
    model: &mut dyn BackendModel,
    data: &Dataset,
    batch_size: usize,
) -> Result<Vec<f32>> {
    rows_log_likelihoods(model, data, 0..data.rows(), batch_size)
}

/// [`log_likelihoods`] of the rows `rows` of `data` (an empty range of a non-empty data set
/// is no error).
pub(crate) fn rows_log_likelihoods(
    model: &mut dyn BackendModel,
    data: &Dataset,
    rows: std::ops::Range<usize>,
    batch_size: usize,
) -> Result<Vec<f32>> {
    if data.is_empty() {
        return Err(Error::invalid(format!("{} has no rows", data.name)));
    }
    let width = data.row_len();
    let values = &data.values[rows.start * width..rows.end * width];
    let mut out = Vec::with_capacity(rows.len());
    for batch in values.chunks(batch_size.max(1) * width) {
        let ll = model
            .log_likelihood(batch, Root::Mixture)
            .with_context(|| format!("cannot evaluate {}", data.name))?;
        out.extend(ll);
    }
    Ok(out)
}

/// Checks that every value of `data` suits the leaf family of its variable, naming the first
/// that does not by its place in the data set (file line and column for text data).
pub fn check_data(einet: &Einet, data: &Dataset) -> Result<()> {
    let layout = &einet.layout;
    if data.row_len() != layout.row_len() {
        return Err(Error::invalid(format!(
            "{} has {} variables × {} channels, but the model expects {} × {}",
            data.name, data.num_vars, data.num_channels, layout.num_vars, layout.num_channels
        )));
    }
    let leaf = &layout.leaf;
    data.check_families(|var| &leaf.families[usize::from(leaf.var_family[var])])
        .context("the data do not fit the model's leaves")
}

/// A model loaded onto a device, with every query in one place.
pub struct Model {
    einet: Einet,
    device: Device,
    backend: Box<dyn BackendModel>,
}

impl Model {
    /// Copies `einet` onto `device`.
    pub fn new(einet: Einet, device: Device) -> Result<Self> {
        let backend = device.load(&einet)?;
        Ok(Model {
            einet,
            device,
            backend,
        })
    }

    /// Reads a model file and copies it onto `device`.
    pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Self> {
        Model::new(load_model(path.as_ref())?, device)
    }

    /// The model with its current parameters.
    pub fn einet(&self) -> Result<Einet> {
        let mut einet = self.einet.clone();
        einet.params = self.backend.params()?;
        Ok(einet)
    }

    /// Writes the model with its current parameters to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.einet()?
            .save(path)
            .with_context(|| format!("cannot save the model to {}", path.display()))
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The model on its backend, for what this type does not wrap (EM, class roots).
    pub fn backend(&mut self) -> &mut dyn BackendModel {
        self.backend.as_mut()
    }

    /// Values per row (variables × channels).
    pub fn row_len(&self) -> usize {
        self.einet.layout.row_len()
    }

    /// The model's layout: variables, channels, leaves and parameters.
    pub fn layout(&self) -> &Layout {
        &self.einet.layout
    }

    /// What training recorded in the model file (`Einet::training`).
    pub fn training(&self) -> &serde_json::Value {
        &self.einet.training
    }

    /// Checks that `data` fit the model ([`check_data`]): its shape, and every value against
    /// its variable's leaf family, naming the first that does not fit.
    pub fn check(&self, data: &Dataset) -> Result<()> {
        check_data(&self.einet, data)
    }

    /// `log p(x)` of each row; missing values (NaN) are marginalised, so a row with missing
    /// values gets the log-probability of its observed part.
    pub fn log_likelihood(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.backend.log_likelihood(x, Root::Mixture)?)
    }

    /// Mean log-likelihood of a data set (nats per row), in batches of `batch_size` rows.
    pub fn mean_log_likelihood(&mut self, data: &Dataset, batch_size: usize) -> Result<f64> {
        check_data(&self.einet, data)?;
        mean_log_likelihood(self.backend.as_mut(), data, batch_size)
    }

    /// `log p(x_A)` of each row for the variables `vars` (every other variable marginalised).
    pub fn marginal_log_likelihood(&mut self, x: &[f32], vars: &[usize]) -> Result<Vec<f32>> {
        let kept = self.keep(x, vars)?;
        self.log_likelihood(&kept)
    }

    /// `log p(x_A | x_B)` of each row for query variables `query` (A) given evidence
    /// variables `evidence` (B); every other variable is marginalised. A and B must not
    /// share a variable.
    pub fn conditional_log_likelihood(
        &mut self,
        x: &[f32],
        query: &[usize],
        evidence: &[usize],
    ) -> Result<Vec<f32>> {
        if let Some(v) = query.iter().find(|v| evidence.contains(v)) {
            return Err(Error::invalid(format!(
                "variable {v} is both a query and an evidence variable"
            )));
        }
        let both: Vec<usize> = query.iter().chain(evidence).copied().collect();
        let joint = self.keep(x, &both)?;
        let given = self.keep(x, evidence)?;
        Ok(self.backend.log_conditional(&joint, &given)?)
    }

    /// `n` samples, reproducible by `seed`.
    pub fn sample(&mut self, n: usize, seed: u64) -> Result<Vec<f32>> {
        Ok(self.backend.sample(n, None, seed, 1.0)?)
    }

    /// One sample per row of `evidence` from `p(missing | observed)`; observed values are
    /// kept.
    pub fn sample_conditional(&mut self, evidence: &[f32], seed: u64) -> Result<Vec<f32>> {
        Ok(self.backend.sample_conditional(evidence, seed, 1.0)?)
    }

    /// Every row of `evidence` completed with an MPE state of its missing values.
    pub fn mpe(&mut self, evidence: &[f32], kind: MpeKind) -> Result<Vec<f32>> {
        Ok(self.backend.mpe(evidence, kind)?)
    }

    /// `x` with every variable outside `vars` missing.
    fn keep(&self, x: &[f32], vars: &[usize]) -> Result<Vec<f32>> {
        let layout = &self.einet.layout;
        let (num_vars, channels) = (layout.num_vars, layout.num_channels);
        if let Some(v) = vars.iter().find(|&&v| v >= num_vars) {
            return Err(Error::invalid(format!(
                "variable {v} does not exist; the model has {num_vars} variables"
            )));
        }
        let mut keep = vec![false; num_vars];
        vars.iter().for_each(|&v| keep[v] = true);
        let mut out = x.to_vec();
        for (j, value) in out.iter_mut().enumerate() {
            if !keep[(j / channels) % num_vars] {
                *value = f32::NAN;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use einet_core::{EinetConfig, LeafFamily, LeafGroup, LeafSpec, random_binary_trees};
    use einet_data::Dataset;

    /// Four variables: Bernoulli leaves, and categorical(3) for variables 2 and 3.
    fn grouped_model() -> Einet {
        let mut config = EinetConfig::new(2, LeafFamily::Bernoulli);
        config.leaves = LeafSpec {
            default: LeafFamily::Bernoulli,
            groups: vec![LeafGroup {
                vars: vec![2, 3],
                family: LeafFamily::Categorical { categories: 3 },
            }],
        };
        Einet::new(random_binary_trees(4, 1, 1, 0).unwrap(), config, 0).unwrap()
    }

    #[test]
    fn values_are_checked_with_their_variables_family_at_their_data_set_row() {
        let einet = grouped_model();
        let mut values = vec![0.0f32; 1500 * 4];
        values[700 * 4 + 2] = 2.0; // a category, though not a Bernoulli value
        let data = Dataset::new("d.test", 4, 1, values.clone()).unwrap();
        check_data(&einet, &data).unwrap();
        values[1200 * 4 + 3] = 3.0;
        let data = Dataset::new("d.test", 4, 1, values.clone()).unwrap();
        let err = check_data(&einet, &data).unwrap_err().report();
        assert!(
            err.contains("d.test row 1200, variable 3: value 3 is not valid for categorical(3)"),
            "{err}"
        );
        values[1200 * 4 + 3] = 0.0;
        values[1300 * 4] = 2.0;
        let data = Dataset::new("d.test", 4, 1, values).unwrap();
        let err = check_data(&einet, &data).unwrap_err().report();
        assert!(
            err.contains("row 1300, variable 0: value 2 is not valid for bernoulli"),
            "{err}"
        );
    }

    #[test]
    fn values_of_a_text_file_are_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut text = String::from("a,b,c,d\n");
        for i in 0..1500 {
            text.push_str(if i == 1200 { "0,1,2,5\n" } else { "0,1,2,0\n" });
        }
        std::fs::write(&path, text).unwrap();
        let data = einet_data::csv(&path, einet_data::CsvOptions::default()).unwrap();
        let err = check_data(&grouped_model(), &data).unwrap_err().report();
        assert!(err.contains("d.csv line 1202, column 4: value 5"), "{err}");
    }

    #[test]
    fn data_of_another_shape_are_refused() {
        let data = Dataset::new("d.test", 3, 1, vec![0.0; 6]).unwrap();
        let err = check_data(&grouped_model(), &data).unwrap_err().report();
        assert!(err.contains("d.test has 3 variables"), "{err}");
    }
}
