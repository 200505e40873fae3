//! The backend trait: what the CPU and CUDA backends implement.
//!
//! Inputs are row-major `(rows, num_vars, num_channels)` `f32` values; NaN marks a missing
//! channel, which is marginalised exactly. Every method returns a [`BackendError`] on bad
//! input or device failure and never panics.

use crate::em::{EmState, EmStatistics, MStep};
pub use crate::error::BackendError;
use crate::layout::Layout;
use crate::leaf::Values;
use crate::model::Einet;
use crate::params::Params;

/// Which root output defines the likelihood.
#[derive(Clone, Copy, Debug)]
pub enum Root<'a> {
    /// The uniform mixture over the classes (the only class of a one-class model).
    Mixture,
    /// One class for every sample.
    Class(usize),
    /// One class per sample.
    Labels(&'a [u32]),
}

/// The two MPE queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpeKind {
    /// The reference's approximation: a sum-product forward pass, then arg-max backtracking
    /// over the posteriors of each sum choice, and the mode of each chosen leaf factor.
    Approximate,
    /// Exact max-product (Viterbi) MPE of the augmented model: a max-product forward pass and
    /// backtracking; returns the most probable joint state of the variables and the latent
    /// sum choices.
    MaxProduct,
}

/// A backend: creates device-resident models.
pub trait Backend {
    /// The model type of this backend.
    type Model: BackendModel;
    /// A short name (`cpu`, `cuda`).
    fn name(&self) -> String;
    /// Copies `einet`'s layout and parameters to the backend.
    fn load(&self, einet: &Einet) -> Result<Self::Model, BackendError>;
    /// The device the models run on, in words (`None` where there is nothing to say beyond
    /// [`name`](Backend::name)).
    fn device_name(&self) -> Option<String> {
        None
    }
    /// Bytes of device memory this backend's models hold now (`None` where not tracked).
    fn memory_allocated(&self) -> Option<u64> {
        None
    }
    /// The most bytes of device memory held at once since the last
    /// [`reset_peak_memory`](Backend::reset_peak_memory) (`None` where not tracked).
    fn peak_memory_allocated(&self) -> Option<u64> {
        None
    }
    /// Restarts the peak-memory count from the memory in use now.
    fn reset_peak_memory(&self) {}
}

/// A model living on a backend. It is [`Send`], so that a front end can run it on another
/// thread than the one that loaded it (the Python module releases the GIL around each call).
pub trait BackendModel: Send {
    /// The layout the model was loaded with.
    fn layout(&self) -> &Layout;
    /// Log-likelihood of each row under `root`.
    fn log_likelihood(&mut self, x: &[f32], root: Root<'_>) -> Result<Vec<f32>, BackendError>;
    /// Log-likelihood of each row under each class, `(rows, classes)` row-major.
    fn class_log_likelihoods(&mut self, x: &[f32]) -> Result<Vec<f32>, BackendError>;
    /// E-step: adds the expected statistics of `x` to the model's accumulators and returns
    /// the summed log-likelihood of the rows.
    fn em_accumulate(&mut self, x: &[f32], root: Root<'_>) -> Result<f64, BackendError>;
    /// The accumulated statistics.
    fn em_statistics(&self) -> Result<EmStatistics, BackendError>;
    /// The statistics accumulated since the last M-step and the running mass of stepwise EM.
    fn em_state(&self) -> Result<EmState, BackendError>;
    /// Restores a state read by [`em_state`](BackendModel::em_state) (after
    /// [`set_params`](BackendModel::set_params), which forgets the running mass).
    fn set_em_state(&mut self, state: &EmState) -> Result<(), BackendError>;
    /// Sums the statistics accumulated since the last M-step over the processes of a
    /// data-parallel run, in place; `sum` sums a host buffer over the processes. The default
    /// reads the statistics as one buffer ([`EmStatistics::flatten`]), sums it and writes it
    /// back; a backend may sum on its device instead (the CUDA backend with NCCL). The
    /// running mass, the same on every process, is left alone.
    fn all_reduce_em_statistics(
        &mut self,
        sum: &mut dyn FnMut(&mut [f32]) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        all_reduce_on_host(self, sum)
    }
    /// M-step with the accumulated statistics, then clears the accumulators. The running
    /// mass of [`StepwiseRule::Statistics`](crate::em::StepwiseRule::Statistics) lives in
    /// the model and restarts from zero when the parameters are replaced.
    fn em_update(&mut self, step: MStep) -> Result<(), BackendError>;
    /// The current parameters.
    fn params(&self) -> Result<Params, BackendError>;
    /// Replaces the parameters and forgets the running mass of stepwise EM.
    fn set_params(&mut self, params: &Params) -> Result<(), BackendError>;
    /// `n` unconditional samples (of `class`, or of the class mixture), reproducible by `seed`.
    /// Normal leaves scale their standard deviation by `std_correction`.
    fn sample(
        &mut self,
        n: usize,
        class: Option<usize>,
        seed: u64,
        std_correction: f32,
    ) -> Result<Vec<f32>, BackendError>;
    /// One sample per row of `evidence` from `p(missing | observed)`; observed values are kept.
    fn sample_conditional(
        &mut self,
        evidence: &[f32],
        seed: u64,
        std_correction: f32,
    ) -> Result<Vec<f32>, BackendError>;
    /// Completes every row of `evidence` with an MPE state of its missing values.
    fn mpe(&mut self, evidence: &[f32], kind: MpeKind) -> Result<Vec<f32>, BackendError>;

    /// `log p(x_q | x_e)` per row: `joint` holds query and evidence values, `evidence` the same
    /// rows with the query variables missing (NaN).
    fn log_conditional(
        &mut self,
        joint: &[f32],
        evidence: &[f32],
    ) -> Result<Vec<f32>, BackendError> {
        if joint.len() != evidence.len() {
            return Err(BackendError::Input(format!(
                "joint and evidence differ in size ({} and {} values)",
                joint.len(),
                evidence.len()
            )));
        }
        let mut ll = self.log_likelihood(joint, Root::Mixture)?;
        let le = self.log_likelihood(evidence, Root::Mixture)?;
        ll.iter_mut().zip(le).for_each(|(a, b)| *a -= b);
        Ok(ll)
    }
}

/// The default [`BackendModel::all_reduce_em_statistics`]: the statistics read into one host
/// buffer, summed by `sum` and written back.
pub fn all_reduce_on_host<M: BackendModel + ?Sized>(
    model: &mut M,
    sum: &mut dyn FnMut(&mut [f32]) -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    let mut state = model.em_state()?;
    let mut flat = state.statistics.flatten();
    sum(&mut flat)?;
    state.statistics.unflatten(&flat)?;
    model.set_em_state(&state)
}

/// Checks that `x` holds whole rows for `layout` (not their values); returns the row count.
pub fn row_count(layout: &Layout, x: &[f32]) -> Result<usize, BackendError> {
    let width = layout.row_len();
    if x.len() % width != 0 {
        return Err(BackendError::Input(format!(
            "{} values are not whole rows of {} variables × {} channels",
            x.len(),
            layout.num_vars,
            layout.num_channels
        )));
    }
    Ok(x.len() / width)
}

/// The values allowed at every position of a row (variable-major, channels inner).
pub fn allowed_values(layout: &Layout) -> Vec<Values> {
    let leaf = &layout.leaf;
    (0..layout.row_len())
        .map(|j| leaf.families[leaf.var_family[j / layout.num_channels] as usize].values())
        .collect()
}

/// Checks that `x` holds whole rows of valid values for `layout`; returns the row count.
pub fn check_input(layout: &Layout, x: &[f32]) -> Result<usize, BackendError> {
    let rows = row_count(layout, x)?;
    let width = layout.row_len();
    let leaf = &layout.leaf;
    let allowed = allowed_values(layout);
    for (i, row) in x.chunks_exact(width).enumerate() {
        let valid = row
            .iter()
            .zip(&allowed)
            .fold(true, |all, (&value, values)| all & values.contains(value));
        if !valid {
            let j = (0..width)
                .find(|&j| !allowed[j].contains(row[j]))
                .expect("an invalid value");
            let v = j / layout.num_channels;
            return Err(BackendError::Input(format!(
                "row {i}, variable {v}: value {} is not valid for {} leaves",
                row[j],
                leaf.families[leaf.var_family[v] as usize].name()
            )));
        }
    }
    Ok(rows)
}

/// Checks a request for `n` unconditional samples (of `class`, else of the class mixture)
/// and returns how many values they fill.
pub fn check_sample_request(
    layout: &Layout,
    n: usize,
    class: Option<usize>,
) -> Result<usize, BackendError> {
    if let Some(c) = class {
        check_root(layout, Root::Class(c), n)?;
    }
    n.checked_mul(layout.row_len()).ok_or_else(|| {
        BackendError::Input(format!(
            "{n} samples of {} values overflow",
            layout.row_len()
        ))
    })
}

/// Checks a [`Root`] against the model and row count.
pub fn check_root(layout: &Layout, root: Root<'_>, rows: usize) -> Result<(), BackendError> {
    let classes = layout.num_classes();
    match root {
        Root::Mixture => Ok(()),
        Root::Class(c) if c < classes => Ok(()),
        Root::Class(c) => Err(BackendError::Input(format!(
            "class {c} does not exist; the model has {classes} classes"
        ))),
        Root::Labels(labels) if labels.len() != rows => Err(BackendError::Input(format!(
            "{} labels for {rows} rows",
            labels.len()
        ))),
        Root::Labels(labels) => match labels.iter().find(|&&c| c as usize >= classes) {
            Some(c) => Err(BackendError::Input(format!(
                "label {c} does not exist; the model has {classes} classes"
            ))),
            None => Ok(()),
        },
    }
}
