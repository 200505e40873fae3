//! [`CudaModel`]: an Einsum Network resident on the device.
//!
//! Loading uploads the layout's index arrays (as `u32`) and the parameters once; activations,
//! gradients and EM statistics stay on the device, and only inputs, per-row results and
//! requested statistics or parameters cross the bus. Large inputs are processed in chunks of
//! rows sized to the device's memory; sampling streams are global row indices, so results do
//! not depend on the chunking.

use std::sync::Arc;

use einet_core::backend::{check_input, check_root, check_sample_request, row_count};
use einet_core::em::{EmStatistics, MStep, StepwiseRule};
use einet_core::layout::Layout;
use einet_core::{BackendError, BackendModel, Einet, MpeKind, Params, Root};

use crate::Device;
use crate::device::{Arg, DevBuf, Exec, Staging};
use crate::kernels::Kernel;
use crate::plan::{BACKTRACK_THREADS, LEAF_BACKWARD_ROWS, LayerPlan, Plan, THREADS};

/// Index arrays, uploaded once.
struct Indices {
    value_min: DevBuf<f32>,
    value_below: DevBuf<f32>,
    value_whole: DevBuf<u32>,
    k: DevBuf<u32>,
    koff: DevBuf<u32>,
    var_offsets: DevBuf<u32>,
    vars: DevBuf<u32>,
    entry_family: DevBuf<u32>,
    entry_leaf: DevBuf<u32>,
    param_offsets: DevBuf<u32>,
    tab_offsets: DevBuf<u32>,
    families: DevBuf<u32>,
    lbinom: DevBuf<f32>,
    ein_left: DevBuf<u32>,
    ein_right: DevBuf<u32>,
    ein_out: DevBuf<u32>,
    ein_wofs: DevBuf<u32>,
    mix_out: DevBuf<u32>,
    mix_comps: DevBuf<u32>,
    mix_ncomp: DevBuf<u32>,
    nodes: DevBuf<u32>,
    vec_start: DevBuf<u32>,
    vec_len: DevBuf<u32>,
}

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

/// How a forward pass combines values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Semiring {
    Sum,
    Max,
}

/// An Einsum Network on a CUDA device, with its EM accumulators.
pub struct CudaModel {
    dev: Arc<Device>,
    layout: Layout,
    plan: Plan,
    idx: Indices,
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
}

fn blocks(n: usize, per_block: u32) -> Result<u32, BackendError> {
    u32::try_from(n.div_ceil(per_block as usize))
        .map_err(|_| BackendError::Device(format!("internal error: {n} threads exceed one launch")))
}

fn rows_u32(rows: usize) -> Arg {
    Arg::U32(rows as u32)
}

fn at(start: usize, chunk: usize, total: usize) -> std::ops::Range<usize> {
    start..(start + chunk).min(total)
}

impl CudaModel {
    /// Uploads `einet` to `dev`.
    pub(crate) fn new(dev: Arc<Device>, einet: &Einet) -> Result<Self, BackendError> {
        let layout = einet.layout.clone();
        let plan = Plan::new(&layout)?;
        check_param_shapes(&layout, &einet.params)?;
        let exec = &dev.exec;
        let idx = Indices {
            value_min: exec.upload(&plan.value_min)?,
            value_below: exec.upload(&plan.value_below)?,
            value_whole: exec.upload(&plan.value_whole)?,
            k: exec.upload(&plan.k)?,
            koff: exec.upload(&plan.koff)?,
            var_offsets: exec.upload(&plan.var_offsets)?,
            vars: exec.upload(&plan.vars)?,
            entry_family: exec.upload(&plan.entry_family)?,
            entry_leaf: exec.upload(&plan.entry_leaf)?,
            param_offsets: exec.upload(&plan.param_offsets)?,
            tab_offsets: exec.upload(&plan.tab_offsets)?,
            families: exec.upload(&plan.families)?,
            lbinom: exec.upload(&plan.lbinom)?,
            ein_left: exec.upload(&plan.ein_left)?,
            ein_right: exec.upload(&plan.ein_right)?,
            ein_out: exec.upload(&plan.ein_out)?,
            ein_wofs: exec.upload(&plan.ein_wofs)?,
            mix_out: exec.upload(&plan.mix_out)?,
            mix_comps: exec.upload(&plan.mix_comps)?,
            mix_ncomp: exec.upload(&plan.mix_ncomp)?,
            nodes: exec.upload(&plan.nodes)?,
            vec_start: exec.upload(&plan.vec_start)?,
            vec_len: exec.upload(&plan.vec_len)?,
        };
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
        let leaf = &self.layout.leaf;
        let (e, k, d) = (leaf.vars.len(), leaf.k, self.layout.num_channels);
        let i = &self.idx;
        self.dev.exec.launch(
            Kernel::LeafPrepare,
            (blocks(e * k * d, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                self.leaf_params.arg(),
                i.param_offsets.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.tab_offsets.arg(),
                i.lbinom.arg(),
                Arg::U32(e as u32),
                Arg::U32(k as u32),
                Arg::U32(d as u32),
                self.table.arg(),
            ],
        )
    }

    /// Computes log W for the max-product pass, if not current.
    fn ensure_log_weights(&mut self) -> Result<(), BackendError> {
        if self.logw.is_some() {
            return Ok(());
        }
        let n = self.plan.num_weights;
        let logw = self.dev.exec.alloc::<f32>(n)?;
        self.dev.exec.launch(
            Kernel::LogWeights,
            (blocks(n, THREADS)?, 1, 1),
            THREADS,
            0,
            &[self.weights.arg(), Arg::U64(n as u64), logw.arg()],
        )?;
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
        let i = &self.idx;
        exec.launch(
            Kernel::CheckValues,
            (blocks(chunk.len(), THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                s.x.arg(),
                Arg::U64(chunk.len() as u64),
                Arg::U32(self.layout.row_len() as u32),
                i.value_min.arg(),
                i.value_below.arg(),
                i.value_whole.arg(),
                self.invalid.arg(),
            ],
        )?;
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
        let max = semiring == Semiring::Max;
        if max {
            self.ensure_log_weights()?;
        }
        let exec = &self.dev.exec;
        let s = self.scratch();
        let i = &self.idx;
        let leaf = &self.layout.leaf;
        let k = leaf.k;
        let per_node = blocks(rows * k, THREADS)?;
        let grid = u32::try_from(per_node as usize * leaf.len())
            .map_err(|_| BackendError::Device("internal error: leaf grid too large".into()))?;
        exec.launch(
            Kernel::LeafForward,
            (grid, 1, 1),
            THREADS,
            0,
            &[
                s.x.arg(),
                rows_u32(rows),
                Arg::U32(self.layout.num_vars as u32),
                Arg::U32(self.layout.num_channels as u32),
                i.var_offsets.arg(),
                i.vars.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.tab_offsets.arg(),
                self.table.arg(),
                i.lbinom.arg(),
                Arg::U32(k as u32),
                Arg::U32(per_node),
                Arg::U32(u32::from(max)),
                s.act.arg(),
            ],
        )?;
        for layer in &self.plan.layers {
            match layer {
                LayerPlan::Einsum(e) => {
                    let f = e.forward_launch(rows);
                    let (kernel, w) = if max {
                        let logw = self.logw.as_ref().expect("computed above");
                        (Kernel::EinsumForwardMax, logw.at(e.weights))
                    } else {
                        (Kernel::EinsumForward, self.weights.at(e.weights))
                    };
                    exec.launch(
                        kernel,
                        (e.products * f.o_tiles, blocks(rows, f.tr)?, 1),
                        f.tr,
                        f.smem,
                        &[
                            i.ein_left.at(e.index),
                            i.ein_right.at(e.index),
                            i.ein_out.at(e.index),
                            i.ein_wofs.at(e.index),
                            i.k.arg(),
                            i.koff.arg(),
                            w,
                            rows_u32(rows),
                            Arg::U32(f.o_tiles),
                            Arg::U32(e.kl_max),
                            Arg::U32(e.kr_max),
                            Arg::U32(f.ic),
                            s.act.arg(),
                        ],
                    )?;
                }
                LayerPlan::Mixing(m) => {
                    let n = m.regions as usize * rows * m.k as usize;
                    exec.launch(
                        Kernel::MixingForward,
                        (blocks(n, THREADS)?, 1, 1),
                        THREADS,
                        0,
                        &[
                            i.mix_out.at(m.index),
                            i.mix_comps.at(m.comps),
                            i.mix_ncomp.at(m.index),
                            i.koff.arg(),
                            self.weights.at(m.weights),
                            Arg::U32(m.regions),
                            Arg::U32(m.k),
                            Arg::U32(m.cmax),
                            rows_u32(rows),
                            Arg::U32(u32::from(max)),
                            s.act.arg(),
                        ],
                    )?;
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
        let (mode, class) = match root {
            Root::Mixture => (0, 0),
            Root::Class(c) => (1, c as u32),
            Root::Labels(labels) => {
                let s = self.scratch.as_mut().expect("ensure_scratch runs first");
                self.dev.exec.write(&mut s.labels, 0, labels)?;
                (2, 0)
            }
        };
        let off = self.root_offset(rows);
        let s = self.scratch();
        let delta = match (&s.grad, delta) {
            (Some(g), true) => g.at(off),
            _ => Arg::Ptr(0),
        };
        self.exec().launch(
            Kernel::RootLikelihood,
            (blocks(rows, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                s.act.at(off),
                rows_u32(rows),
                Arg::U32(self.layout.num_classes() as u32),
                Arg::U32(mode),
                Arg::U32(class),
                s.labels.arg(),
                s.ll.arg(),
                delta,
            ],
        )
    }

    /// The per-row log-likelihoods computed by [`Self::launch_root`].
    fn read_ll(&self, rows: usize) -> Result<Vec<f32>, BackendError> {
        self.exec().read(&self.scratch().ll, 0..rows)
    }

    /// The EM backward pass over `rows` rows, after the forward pass and the root gradient.
    fn backward(&mut self, rows: usize) -> Result<(), BackendError> {
        let exec = &self.dev.exec;
        let s = self.scratch();
        let grad = s.grad.as_ref().expect("allocated for EM");
        let i = &self.idx;
        let row_blocks = blocks(rows, LEAF_BACKWARD_ROWS)?;
        for layer in self.plan.layers.iter().rev() {
            match layer {
                LayerPlan::Einsum(e) => {
                    let c = e.counts_launch(rows);
                    let rows_per_block = e.counts_rows_per_block(rows);
                    exec.launch(
                        Kernel::EinsumCounts,
                        (
                            e.products * e.counts_mt_blocks,
                            blocks(rows, rows_per_block)?,
                            1,
                        ),
                        e.counts_threads,
                        c.smem,
                        &[
                            i.ein_left.at(e.index),
                            i.ein_right.at(e.index),
                            i.ein_out.at(e.index),
                            i.ein_wofs.at(e.index),
                            i.k.arg(),
                            i.koff.arg(),
                            s.act.arg(),
                            grad.arg(),
                            self.weights.at(e.weights),
                            self.counts.at(e.weights),
                            rows_u32(rows),
                            Arg::U32(e.counts_mt_blocks),
                            Arg::U32(e.kl_max),
                            Arg::U32(c.krp_max),
                            Arg::U32(c.kop_max),
                            Arg::U32(c.sub_rows),
                            Arg::U32(rows_per_block),
                        ],
                    )?;
                    let g = e.grads_launch(rows);
                    exec.launch(
                        Kernel::EinsumGrads,
                        (e.products, blocks(rows, g.tr)?, 1),
                        g.threads,
                        g.smem,
                        &[
                            i.ein_left.at(e.index),
                            i.ein_right.at(e.index),
                            i.ein_out.at(e.index),
                            i.ein_wofs.at(e.index),
                            i.k.arg(),
                            i.koff.arg(),
                            s.act.arg(),
                            grad.arg(),
                            self.weights.at(e.weights),
                            rows_u32(rows),
                            Arg::U32(g.tr),
                            Arg::U32(e.kl_max),
                            Arg::U32(g.krp_max),
                            Arg::U32(e.ko_max),
                            Arg::U32(g.ic),
                        ],
                    )?;
                }
                LayerPlan::Mixing(m) => {
                    exec.launch(
                        Kernel::MixingBackward,
                        (blocks(rows * m.k as usize, THREADS)?, m.regions, 1),
                        THREADS,
                        m.smem,
                        &[
                            i.mix_out.at(m.index),
                            i.mix_comps.at(m.comps),
                            i.mix_ncomp.at(m.index),
                            i.koff.arg(),
                            self.weights.at(m.weights),
                            self.counts.at(m.weights),
                            Arg::U32(m.k),
                            Arg::U32(m.cmax),
                            rows_u32(rows),
                            s.act.arg(),
                            grad.arg(),
                        ],
                    )?;
                }
            }
        }
        let leaf = &self.layout.leaf;
        let entries = leaf.vars.len();
        exec.launch(
            Kernel::LeafBackward,
            (blocks(entries * leaf.k, THREADS)?, row_blocks, 1),
            THREADS,
            0,
            &[
                s.x.arg(),
                rows_u32(rows),
                Arg::U32(self.layout.num_vars as u32),
                Arg::U32(self.layout.num_channels as u32),
                i.vars.arg(),
                i.entry_leaf.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.param_offsets.arg(),
                Arg::U32(entries as u32),
                Arg::U32(leaf.k as u32),
                Arg::U32(LEAF_BACKWARD_ROWS),
                grad.arg(),
                self.leaf_mass.arg(),
                self.leaf_stats.arg(),
            ],
        )
    }

    /// Backtracks every row in the output buffer (`rows` rows, missing values NaN), first row
    /// `first_row` of the whole request; `values` if a forward pass over them is in `act`.
    #[allow(clippy::too_many_arguments)]
    fn backtrack(
        &mut self,
        rows: usize,
        first_row: usize,
        values: bool,
        class: Option<usize>,
        argmax: bool,
        seed: u64,
        std_correction: f32,
    ) -> Result<(), BackendError> {
        let s = self.scratch();
        let i = &self.idx;
        let leaf = &self.layout.leaf;
        self.exec().launch(
            Kernel::Backtrack,
            (blocks(rows, 1)?, 1, 1),
            BACKTRACK_THREADS,
            self.plan.backtrack_smem(),
            &[
                rows_u32(rows),
                Arg::U64(seed),
                Arg::U64(first_row as u64),
                Arg::U32(u32::from(argmax)),
                Arg::F32(std_correction),
                Arg::U32(u32::from(values)),
                if values { s.act.arg() } else { Arg::Ptr(0) },
                Arg::U32(class.map_or(u32::MAX, |c| c as u32)),
                Arg::U32(self.layout.root),
                i.nodes.arg(),
                i.mix_comps.arg(),
                i.k.arg(),
                i.koff.arg(),
                self.weights.arg(),
                i.var_offsets.arg(),
                i.vars.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.param_offsets.arg(),
                self.leaf_params.arg(),
                i.tab_offsets.arg(),
                self.table.arg(),
                Arg::U32(leaf.k as u32),
                Arg::U32(self.layout.num_vars as u32),
                Arg::U32(self.layout.num_channels as u32),
                Arg::U32(self.plan.backtrack_scores),
                s.x.arg(),
            ],
        )
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
        let s = self.scratch();
        self.exec().launch(
            Kernel::FillF32,
            (blocks(n, THREADS)?, 1, 1),
            THREADS,
            0,
            &[s.x.arg(), Arg::U64(n as u64), Arg::F32(f32::NAN)],
        )
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

    fn em_update(&mut self, step: MStep) -> Result<(), BackendError> {
        step.check()?;
        let statistics_rule = Arg::U32(u32::from(step.rule == StepwiseRule::Statistics));
        let nvec = self.plan.vec_start.len();
        let i = &self.idx;
        self.dev.exec.launch(
            Kernel::MstepWeights,
            (blocks(nvec * 32, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                self.weights.arg(),
                self.counts.arg(),
                self.weight_running.arg(),
                i.vec_start.arg(),
                i.vec_len.arg(),
                Arg::U32(nvec as u32),
                Arg::F32(step.step_size),
                statistics_rule,
                Arg::F32(step.pseudocount),
            ],
        )?;
        let leaf = &self.layout.leaf;
        let (e, k, d) = (leaf.vars.len(), leaf.k, self.layout.num_channels);
        self.dev.exec.launch(
            Kernel::MstepLeaves,
            (blocks(e * k * d, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                self.leaf_params.arg(),
                self.leaf_mass.arg(),
                self.leaf_stats.arg(),
                self.leaf_running.arg(),
                i.param_offsets.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                Arg::U32(e as u32),
                Arg::U32(k as u32),
                Arg::U32(d as u32),
                Arg::F32(step.step_size),
                statistics_rule,
                Arg::F32(step.pseudocount),
            ],
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
            self.backtrack(rows, start, false, class, false, seed, std_correction)?;
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
            self.backtrack(n, start, true, None, false, seed, std_correction)?;
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
            self.backtrack(n, start, true, None, true, 0, 0.0)?;
            out.extend(self.read_output(n)?);
        }
        Ok(out)
    }
}
