//! [`CudaModel`]: an Einsum Network resident on the device.
//!
//! Loading uploads the layout's index arrays (as `u32`) and the parameters once; activations,
//! gradients and EM statistics stay on the device, and only inputs, per-row results and
//! requested statistics or parameters cross the bus. Large inputs are processed in chunks of
//! rows sized to the device's memory; sampling streams are global row indices, so results do
//! not depend on the chunking.

use std::sync::Arc;

use einet_core::backend::{check_input, check_root, check_sample_request, row_count};
use einet_core::em::{EmState, EmStatistics, MStep, RunningMass};
use einet_core::layout::Layout;
use einet_core::{BackendError, BackendModel, Einet, MpeKind, Params, Root};

use crate::device::{DevBuf, Exec, Staging};
use crate::ops::backtrack::Backtrack;
use crate::ops::mixing::RootChoice;
use crate::ops::{Dims, Indices, Ops, Semiring};
use crate::plan::{LayerPlan, Plan};
use crate::{Device, Precision};

/// Per-batch buffers, grown on demand.
struct Scratch {
    rows: usize,
    /// Inputs, and the output rows of sampling and MPE.
    x: DevBuf<f32>,
    /// Host memory the inputs are uploaded through.
    staging: Staging,
    act: DevBuf<f32>,
    grad: Option<DevBuf<f32>>,
    ll: DevBuf<f32>,
    labels: DevBuf<u32>,
}

/// An Einsum Network on a CUDA device, with its EM accumulators.
pub struct CudaModel {
    dev: Arc<Device>,
    layout: Layout,
    plan: Plan,
    dims: Dims,
    idx: Indices,
    /// The precision of the einsum and CP sum layers' sum-product forward pass.
    precision: Precision,
    weights: DevBuf<f32>,
    /// log of `weights`, computed when a max-product pass needs it.
    logw: Option<DevBuf<f32>>,
    counts: DevBuf<f32>,
    leaf_params: DevBuf<f32>,
    leaf_mass: DevBuf<f32>,
    leaf_stats: DevBuf<f32>,
    /// Running mass of every weight vector under the statistics rule of stepwise EM.
    weight_running: DevBuf<f32>,
    /// Running mass of every leaf factor channel under the statistics rule.
    leaf_running: DevBuf<f32>,
    table: DevBuf<f32>,
    /// Set by the input check when a value is invalid.
    invalid: DevBuf<u32>,
    scratch: Option<Scratch>,
    log_likelihood: f64,
    samples: usize,
    chunk_rows: usize,
    /// The NCCL group whose GPUs sum their statistics with this model's.
    #[cfg(feature = "nccl")]
    nccl: Option<crate::nccl::Nccl>,
}

/// Refuses a model whose parameters and EM buffers (weights, their logs and counts; leaf
/// parameters and statistics; running masses and the leaf table, 4 bytes each) would not fit
/// the `free` bytes of device memory, before any is allocated.
fn check_device_memory(
    layout: &Layout,
    plan: &Plan,
    free: Option<u64>,
) -> Result<(), BackendError> {
    let floats = 3 * plan.num_weights as u64
        + 2 * layout.leaf.num_params as u64
        + plan.vec_start.len() as u64
        + 2 * (layout.leaf.vars.len() * layout.leaf.k * layout.num_channels) as u64
        + plan.table_len as u64;
    let needed = floats.saturating_mul(4);
    match free {
        Some(free) if needed > free => Err(BackendError::Device(format!(
            "the model's parameters and EM statistics need {} of GPU memory, but {} is free; \
             choose a smaller -k, fewer --repetitions or a shallower structure",
            einet_core::memory::gigabytes(needed),
            einet_core::memory::gigabytes(free)
        ))),
        _ => Ok(()),
    }
}

fn at(start: usize, chunk: usize, total: usize) -> std::ops::Range<usize> {
    start..(start + chunk).min(total)
}

impl CudaModel {
    /// Uploads `einet` to `dev`; einsum and CP sum layers will run in `precision`.
    pub(crate) fn new(
        dev: Arc<Device>,
        einet: &Einet,
        precision: Precision,
    ) -> Result<Self, BackendError> {
        let layout = einet.layout.clone();
        let plan = Plan::new(&layout)?;
        check_param_shapes(&layout, &einet.params)?;
        let exec = &dev.exec;
        check_device_memory(&layout, &plan, exec.memory().map(|(free, _)| free as u64))?;
        let idx = Indices::upload(exec, &plan)?;
        let weights: Vec<f32> = einet.params.layers.concat();
        let stats_len = layout.leaf.vars.len() * layout.leaf.k * layout.num_channels;
        // Two activation-sized buffers (values and gradients) per row bound the chunk size.
        let per_row = (2 * layout.activation_len + layout.num_vars * layout.num_channels + 4) * 4;
        let budget = match exec.memory() {
            Some((free, _)) => (free / 4).clamp(64 << 20, 8 << 30),
            None => 256 << 20,
        };
        let chunk_rows = (budget / per_row).clamp(1, 200_000);
        let mut model = CudaModel {
            weights: exec.upload(&weights)?,
            logw: None,
            counts: exec.alloc(plan.num_weights)?,
            leaf_params: exec.upload(&einet.params.leaf)?,
            leaf_mass: exec.alloc(stats_len)?,
            leaf_stats: exec.alloc(layout.leaf.num_params)?,
            weight_running: exec.alloc(plan.vec_start.len())?,
            leaf_running: exec.alloc(stats_len)?,
            table: exec.alloc(plan.table_len)?,
            invalid: exec.alloc(1)?,
            scratch: None,
            log_likelihood: 0.0,
            samples: 0,
            chunk_rows,
            #[cfg(feature = "nccl")]
            nccl: None,
            dims: Dims::of(&layout),
            precision,
            dev,
            layout,
            plan,
            idx,
        };
        model.prepare_leaves()?;
        model.exec().sync()?;
        Ok(model)
    }

    fn exec(&self) -> &Exec {
        &self.dev.exec
    }

    /// Joins the model to rank `rank` of the NCCL group of `size` GPUs that `id` names (made
    /// by [`crate::nccl::unique_id`] on rank 0): from then on
    /// [`all_reduce_em_statistics`](BackendModel::all_reduce_em_statistics) sums on the
    /// devices. Blocks until every rank has joined; fails on the emulator.
    #[cfg(feature = "nccl")]
    pub fn join_nccl(
        &mut self,
        rank: usize,
        size: usize,
        id: &[u8; crate::nccl::ID_BYTES],
    ) -> Result<(), BackendError> {
        let stream = self.exec().cuda_stream().ok_or_else(|| {
            BackendError::Unavailable("NCCL needs a CUDA device, not the emulator".into())
        })?;
        self.nccl = Some(crate::nccl::Nccl::join(stream.clone(), rank, size, id)?);
        Ok(())
    }

    /// The launcher of this model's kernels.
    fn ops(&self) -> Ops<'_> {
        Ops {
            exec: &self.dev.exec,
            idx: &self.idx,
            plan: &self.plan,
            dims: &self.dims,
        }
    }

    fn width(&self) -> usize {
        self.layout.row_len()
    }

    /// Makes the per-batch buffers hold `rows` rows (and gradients if `grad`).
    fn ensure_scratch(&mut self, rows: usize, grad: bool) -> Result<(), BackendError> {
        let width = self.width();
        let act_len = self.layout.activation_len;
        let fits = self.scratch.as_ref().is_some_and(|s| s.rows >= rows);
        if !fits {
            let rows = rows.max(self.scratch.as_ref().map_or(0, |s| s.rows));
            // Free the old device buffers first; keep the host staging memory.
            let (had_grad, staging) = match self.scratch.take() {
                Some(old) => (old.grad.is_some(), old.staging),
                None => (false, Staging::default()),
            };
            let exec = &self.dev.exec;
            self.scratch = Some(Scratch {
                rows,
                x: exec.alloc(rows * width)?,
                staging,
                act: exec.alloc(rows * act_len)?,
                grad: if had_grad {
                    Some(exec.alloc(rows * act_len)?)
                } else {
                    None
                },
                ll: exec.alloc(rows)?,
                labels: exec.alloc(rows)?,
            });
        }
        if grad {
            let exec = &self.dev.exec;
            let s = self.scratch.as_mut().expect("allocated above");
            if s.grad.is_none() {
                s.grad = Some(exec.alloc(s.rows * act_len)?);
            }
        }
        Ok(())
    }

    fn scratch(&self) -> &Scratch {
        self.scratch.as_ref().expect("ensure_scratch runs first")
    }

    /// Rebuilds the leaf log-density tables from the leaf parameters.
    fn prepare_leaves(&mut self) -> Result<(), BackendError> {
        self.ops().leaf_prepare(&self.leaf_params, &self.table)
    }

    /// Computes log W for the max-product pass, if not current.
    fn ensure_log_weights(&mut self) -> Result<(), BackendError> {
        if self.logw.is_some() {
            return Ok(());
        }
        let logw = self.dev.exec.alloc::<f32>(self.plan.num_weights)?;
        self.ops().log_weights(&self.weights, &logw)?;
        self.logw = Some(logw);
        Ok(())
    }

    /// Checks that `x` holds whole rows and returns their number. Their values are checked
    /// on the device as each chunk is uploaded ([`CudaModel::upload_rows`]); an input of
    /// several chunks is checked on the host first, so that an invalid value in a later
    /// chunk fails the call before an earlier one changes anything.
    fn check_rows(&self, x: &[f32]) -> Result<usize, BackendError> {
        let rows = row_count(&self.layout, x)?;
        if rows > self.chunk_rows {
            check_input(&self.layout, x)?;
        }
        Ok(rows)
    }

    /// Uploads `chunk` (whole rows of the caller's `input`) into the input buffer and checks
    /// its values on the device; an invalid value is then named by a host pass over `input`,
    /// so that its row number is the caller's.
    fn upload_rows(&mut self, chunk: &[f32], input: &[f32]) -> Result<(), BackendError> {
        let s = self.scratch.as_mut().expect("ensure_scratch runs first");
        let exec = &self.dev.exec;
        exec.write_staged(&mut s.x, chunk, &mut s.staging)?;
        exec.zero(&mut self.invalid, 0..1)?;
        let ops = Ops {
            exec,
            idx: &self.idx,
            plan: &self.plan,
            dims: &self.dims,
        };
        ops.check_values(&s.x, chunk.len(), &self.invalid)?;
        if exec.read(&self.invalid, 0..1)?[0] == 0 {
            return Ok(());
        }
        check_input(&self.layout, input)?;
        Err(BackendError::Device(
            "internal error: the device found an invalid input value that the host did not".into(),
        ))
    }

    /// Forward pass over the `rows` rows in the input buffer.
    fn forward(&mut self, rows: usize, semiring: Semiring) -> Result<(), BackendError> {
        if semiring == Semiring::Max {
            self.ensure_log_weights()?;
        }
        let ops = self.ops();
        let s = self.scratch();
        ops.leaf_forward(rows, &s.x, &self.table, semiring, &s.act)?;
        // Max-product einsum and CP sum layers take log W; mixing layers take W either way.
        let einsum_weights = match semiring {
            Semiring::Sum => &self.weights,
            Semiring::Max => self.logw.as_ref().expect("computed above"),
        };
        for layer in &self.plan.layers {
            match layer {
                LayerPlan::Einsum(e) => {
                    ops.einsum_forward(e, rows, einsum_weights, semiring, self.precision, &s.act)?;
                }
                LayerPlan::Mixing(m) => {
                    ops.mixing_forward(m, rows, &self.weights, semiring, &s.act)?;
                }
                LayerPlan::CpProduct(l) => ops.cp_product_forward(l, rows, &s.act)?,
                LayerPlan::CpSum(l) => {
                    ops.cp_sum_forward(l, rows, einsum_weights, semiring, self.precision, &s.act)?;
                }
            }
        }
        Ok(())
    }

    /// Start of the root's block in the activation buffer of `rows` rows.
    fn root_offset(&self, rows: usize) -> usize {
        rows * self.layout.k_offset[self.layout.root as usize] as usize
    }

    /// Queues the per-row log-likelihood under `root` of the last forward pass into the `ll`
    /// buffer; with `delta`, also writes d ll / d root into the (zeroed) gradient buffer.
    fn launch_root(
        &mut self,
        rows: usize,
        root: Root<'_>,
        delta: bool,
    ) -> Result<(), BackendError> {
        let choice = match root {
            Root::Mixture => RootChoice::Mixture,
            Root::Class(c) => RootChoice::Class(c as u32),
            Root::Labels(labels) => {
                let s = self.scratch.as_mut().expect("ensure_scratch runs first");
                self.dev.exec.write(&mut s.labels, 0, labels)?;
                RootChoice::Labels
            }
        };
        let off = self.root_offset(rows);
        let s = self.scratch();
        let root_grad = s.grad.as_ref().filter(|_| delta).map(|g| g.at(off));
        self.ops()
            .root_likelihood(rows, choice, s.act.at(off), &s.labels, &s.ll, root_grad)
    }

    /// The per-row log-likelihoods computed by [`Self::launch_root`].
    fn read_ll(&self, rows: usize) -> Result<Vec<f32>, BackendError> {
        self.exec().read(&self.scratch().ll, 0..rows)
    }

    /// The EM backward pass over `rows` rows, after the forward pass and the root gradient.
    fn backward(&mut self, rows: usize) -> Result<(), BackendError> {
        let ops = self.ops();
        let s = self.scratch();
        let grad = s.grad.as_ref().expect("allocated for EM");
        let (weights, counts, precision) = (&self.weights, &self.counts, self.precision);
        for layer in self.plan.layers.iter().rev() {
            match layer {
                LayerPlan::Einsum(e) => {
                    ops.einsum_counts(e, rows, &s.act, grad, weights, counts, precision)?;
                    ops.einsum_grads(e, rows, &s.act, grad, weights, precision)?;
                }
                LayerPlan::Mixing(m) => {
                    ops.mixing_backward(m, rows, weights, counts, &s.act, grad)?;
                }
                LayerPlan::CpProduct(l) => ops.cp_product_backward(l, rows, grad)?,
                LayerPlan::CpSum(l) => {
                    ops.cp_sum_counts(l, rows, &s.act, grad, weights, counts, precision)?;
                    ops.cp_sum_grads(l, rows, &s.act, grad, weights, precision)?;
                }
            }
        }
        ops.leaf_backward(rows, &s.x, grad, &self.leaf_mass, &self.leaf_stats)
    }

    /// Backtracks every row in the output buffer (`b.rows` rows, missing values NaN);
    /// `b.values` refers to the activations when a forward pass over them ran.
    fn backtrack(&self, b: &Backtrack<'_>) -> Result<(), BackendError> {
        let s = self.scratch();
        self.ops()
            .backtrack(b, &self.weights, &self.leaf_params, &self.table, &s.x)
    }

    /// The activations of the last forward pass, for [`Backtrack::values`].
    fn activations(&self) -> &DevBuf<f32> {
        &self.scratch().act
    }

    /// Clears the device accumulators.
    fn clear_statistics(&mut self) -> Result<(), BackendError> {
        let exec = &self.dev.exec;
        let n = self.counts.len();
        exec.zero(&mut self.counts, 0..n)?;
        let n = self.leaf_mass.len();
        exec.zero(&mut self.leaf_mass, 0..n)?;
        let n = self.leaf_stats.len();
        exec.zero(&mut self.leaf_stats, 0..n)?;
        self.log_likelihood = 0.0;
        self.samples = 0;
        Ok(())
    }

    /// Fills the output rows of unconditional sampling for one chunk with NaN (missing).
    fn fill_missing(&mut self, rows: usize) -> Result<(), BackendError> {
        let n = rows * self.width();
        self.ops().fill(&self.scratch().x, n, f32::NAN)
    }

    fn read_output(&self, rows: usize) -> Result<Vec<f32>, BackendError> {
        self.exec().read(&self.scratch().x, 0..rows * self.width())
    }
}

/// Checks that `params` has the layout's shapes.
fn check_param_shapes(layout: &Layout, params: &Params) -> Result<(), BackendError> {
    if params.fits(layout) {
        Ok(())
    } else {
        Err(BackendError::Input(
            "parameters do not match the model's layout".into(),
        ))
    }
}

impl BackendModel for CudaModel {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn log_likelihood(&mut self, x: &[f32], root: Root<'_>) -> Result<Vec<f32>, BackendError> {
        let rows = self.check_rows(x)?;
        check_root(&self.layout, root, rows)?;
        let width = self.width();
        let mut out = Vec::with_capacity(rows);
        for start in (0..rows).step_by(self.chunk_rows) {
            let r = at(start, self.chunk_rows, rows);
            let n = r.len();
            self.ensure_scratch(n, false)?;
            self.upload_rows(&x[r.start * width..r.end * width], x)?;
            self.forward(n, Semiring::Sum)?;
            let chunk_root = match root {
                Root::Labels(l) => Root::Labels(&l[r.clone()]),
                other => other,
            };
            self.launch_root(n, chunk_root, false)?;
            out.extend(self.read_ll(n)?);
        }
        Ok(out)
    }

    fn class_log_likelihoods(&mut self, x: &[f32]) -> Result<Vec<f32>, BackendError> {
        let rows = self.check_rows(x)?;
        let width = self.width();
        let classes = self.layout.num_classes();
        let mut out = Vec::with_capacity(rows * classes);
        for start in (0..rows).step_by(self.chunk_rows) {
            let r = at(start, self.chunk_rows, rows);
            let n = r.len();
            self.ensure_scratch(n, false)?;
            self.upload_rows(&x[r.start * width..r.end * width], x)?;
            self.forward(n, Semiring::Sum)?;
            let off = self.root_offset(n);
            out.extend(
                self.exec()
                    .read(&self.scratch().act, off..off + n * classes)?,
            );
        }
        Ok(out)
    }

    fn em_accumulate(&mut self, x: &[f32], root: Root<'_>) -> Result<f64, BackendError> {
        let rows = self.check_rows(x)?;
        check_root(&self.layout, root, rows)?;
        let width = self.width();
        let act_len = self.layout.activation_len;
        let mut total = 0.0f64;
        for start in (0..rows).step_by(self.chunk_rows) {
            let r = at(start, self.chunk_rows, rows);
            let n = r.len();
            self.ensure_scratch(n, true)?;
            self.upload_rows(&x[r.start * width..r.end * width], x)?;
            self.forward(n, Semiring::Sum)?;
            {
                let s = self.scratch.as_mut().expect("allocated above");
                let grad = s.grad.as_mut().expect("allocated above");
                self.dev.exec.zero(grad, 0..n * act_len)?;
            }
            let chunk_root = match root {
                Root::Labels(l) => Root::Labels(&l[r.clone()]),
                other => other,
            };
            // Queue the whole pass before reading the likelihoods back.
            self.launch_root(n, chunk_root, true)?;
            self.backward(n)?;
            total += self.read_ll(n)?.iter().map(|&l| f64::from(l)).sum::<f64>();
        }
        self.exec().sync()?;
        self.log_likelihood += total;
        self.samples += rows;
        Ok(total)
    }

    fn em_statistics(&self) -> Result<EmStatistics, BackendError> {
        let exec = self.exec();
        let counts = exec.read(&self.counts, 0..self.plan.num_weights)?;
        Ok(EmStatistics {
            counts: self
                .plan
                .layer_weights
                .iter()
                .map(|r| counts[r.clone()].to_vec())
                .collect(),
            leaf_mass: exec.read(&self.leaf_mass, 0..self.leaf_mass.len())?,
            leaf_stats: exec.read(&self.leaf_stats, 0..self.leaf_stats.len())?,
            log_likelihood: self.log_likelihood,
            samples: self.samples,
        })
    }

    fn em_state(&self) -> Result<EmState, BackendError> {
        let exec = self.exec();
        Ok(EmState {
            statistics: self.em_statistics()?,
            running: RunningMass {
                weights: exec.read(&self.weight_running, 0..self.weight_running.len())?,
                leaves: exec.read(&self.leaf_running, 0..self.leaf_running.len())?,
            },
        })
    }

    fn set_em_state(&mut self, state: &EmState) -> Result<(), BackendError> {
        state.check(&self.layout)?;
        let stats = &state.statistics;
        let exec = &self.dev.exec;
        exec.write(&mut self.counts, 0, &stats.counts.concat())?;
        exec.write(&mut self.leaf_mass, 0, &stats.leaf_mass)?;
        exec.write(&mut self.leaf_stats, 0, &stats.leaf_stats)?;
        exec.write(&mut self.weight_running, 0, &state.running.weights)?;
        exec.write(&mut self.leaf_running, 0, &state.running.leaves)?;
        self.log_likelihood = stats.log_likelihood;
        self.samples = stats.samples;
        exec.sync()
    }

    /// On the devices with NCCL once [`join_nccl`](CudaModel::join_nccl) was called, else
    /// through the host.
    #[cfg(feature = "nccl")]
    fn all_reduce_em_statistics(
        &mut self,
        sum: &mut dyn FnMut(&mut [f32]) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let Some(nccl) = &self.nccl else {
            return einet_core::backend::all_reduce_on_host(self, sum);
        };
        let (Some(counts), Some(mass), Some(stats)) = (
            self.counts.cuda_slice_mut(),
            self.leaf_mass.cuda_slice_mut(),
            self.leaf_stats.cuda_slice_mut(),
        ) else {
            return Err(BackendError::Device(
                "internal error: NCCL with emulator buffers".into(),
            ));
        };
        nccl.all_reduce([counts, mass, stats])?;
        self.dev.exec.sync()
    }

    fn em_update(&mut self, step: MStep) -> Result<(), BackendError> {
        step.check()?;
        let ops = self.ops();
        ops.mstep_weights(&step, &self.weights, &self.counts, &self.weight_running)?;
        ops.mstep_leaves(
            &step,
            &self.leaf_params,
            &self.leaf_mass,
            &self.leaf_stats,
            &self.leaf_running,
        )?;
        self.logw = None;
        self.prepare_leaves()?;
        self.clear_statistics()?;
        self.exec().sync()
    }

    fn params(&self) -> Result<Params, BackendError> {
        let exec = self.exec();
        let weights = exec.read(&self.weights, 0..self.plan.num_weights)?;
        Ok(Params {
            layers: self
                .plan
                .layer_weights
                .iter()
                .map(|r| weights[r.clone()].to_vec())
                .collect(),
            leaf: exec.read(&self.leaf_params, 0..self.layout.leaf.num_params)?,
        })
    }

    fn set_params(&mut self, params: &Params) -> Result<(), BackendError> {
        check_param_shapes(&self.layout, params)?;
        let weights: Vec<f32> = params.layers.concat();
        self.dev.exec.write(&mut self.weights, 0, &weights)?;
        self.dev
            .exec
            .write(&mut self.leaf_params, 0, &params.leaf)?;
        let exec = &self.dev.exec;
        let n = self.weight_running.len();
        exec.zero(&mut self.weight_running, 0..n)?;
        let n = self.leaf_running.len();
        exec.zero(&mut self.leaf_running, 0..n)?;
        self.logw = None;
        self.prepare_leaves()?;
        self.exec().sync()
    }

    fn sample(
        &mut self,
        n: usize,
        class: Option<usize>,
        seed: u64,
        std_correction: f32,
    ) -> Result<Vec<f32>, BackendError> {
        let total = check_sample_request(&self.layout, n, class)?;
        let mut out = Vec::with_capacity(total.min(1 << 26));
        for start in (0..n).step_by(self.chunk_rows) {
            let rows = at(start, self.chunk_rows, n).len();
            self.ensure_scratch(rows, false)?;
            self.fill_missing(rows)?;
            self.backtrack(&Backtrack {
                rows,
                first_row: start,
                values: None,
                class,
                argmax: false,
                seed,
                std_correction,
            })?;
            out.extend(self.read_output(rows)?);
        }
        Ok(out)
    }

    fn sample_conditional(
        &mut self,
        evidence: &[f32],
        seed: u64,
        std_correction: f32,
    ) -> Result<Vec<f32>, BackendError> {
        let rows = self.check_rows(evidence)?;
        let width = self.width();
        let mut out = Vec::with_capacity(evidence.len());
        for start in (0..rows).step_by(self.chunk_rows) {
            let r = at(start, self.chunk_rows, rows);
            let n = r.len();
            let chunk = &evidence[r.start * width..r.end * width];
            self.ensure_scratch(n, false)?;
            self.upload_rows(chunk, evidence)?;
            self.forward(n, Semiring::Sum)?;
            self.backtrack(&Backtrack {
                rows: n,
                first_row: start,
                values: Some(self.activations()),
                class: None,
                argmax: false,
                seed,
                std_correction,
            })?;
            out.extend(self.read_output(n)?);
        }
        Ok(out)
    }

    fn mpe(&mut self, evidence: &[f32], kind: MpeKind) -> Result<Vec<f32>, BackendError> {
        let rows = self.check_rows(evidence)?;
        let semiring = match kind {
            MpeKind::Approximate => Semiring::Sum,
            MpeKind::MaxProduct => Semiring::Max,
        };
        let width = self.width();
        let mut out = Vec::with_capacity(evidence.len());
        for start in (0..rows).step_by(self.chunk_rows) {
            let r = at(start, self.chunk_rows, rows);
            let n = r.len();
            self.ensure_scratch(n, false)?;
            self.upload_rows(&evidence[r.start * width..r.end * width], evidence)?;
            self.forward(n, semiring)?;
            self.backtrack(&Backtrack {
                rows: n,
                first_row: start,
                values: Some(self.activations()),
                class: None,
                argmax: true,
                seed: 0,
                std_correction: 0.0,
            })?;
            out.extend(self.read_output(n)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;
    use einet_core::{Einet, EinetConfig, LeafFamily, random_binary_trees};

    #[test]
    fn models_larger_than_the_free_gpu_memory_are_refused_with_both_sizes() {
        let graph = random_binary_trees(8, 2, 3, 1).unwrap();
        let einet = Einet::new(graph, EinetConfig::new(3, LeafFamily::Bernoulli), 0).unwrap();
        let plan = Plan::new(&einet.layout).unwrap();
        let layout = &einet.layout;
        assert!(check_device_memory(layout, &plan, None).is_ok());
        assert!(check_device_memory(layout, &plan, Some(1 << 30)).is_ok());
        let floats = 3 * plan.num_weights
            + 2 * layout.leaf.num_params
            + plan.vec_start.len()
            + 2 * layout.leaf.vars.len() * layout.leaf.k * layout.num_channels
            + plan.table_len;
        let needed = 4 * floats as u64;
        assert!(check_device_memory(layout, &plan, Some(needed)).is_ok());
        let err = check_device_memory(layout, &plan, Some(needed - 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("of GPU memory") && err.contains("is free"),
            "{err}"
        );
    }
}
