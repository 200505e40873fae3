//! `kernels/backtrack.cu`: top-down backtracking, which draws samples and conditional
//! samples and completes rows with MPE values; and filling a buffer with one value.

use einet_core::BackendError;

use super::{Ops, blocks, count};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::{BACKTRACK_THREADS, THREADS};

/// One backtracking launch over the rows of the output buffer.
#[derive(Clone, Copy)]
pub(crate) struct Backtrack<'a> {
    /// Rows in the output buffer.
    pub rows: usize,
    /// Index of its first row in the whole request (the first row's random stream).
    pub first_row: usize,
    /// The values of a forward pass over the rows (evidence), or `None` to sample
    /// unconditionally.
    pub values: Option<&'a DevBuf<f32>>,
    /// The class to start from (`None`: drawn, or the best one).
    pub class: Option<usize>,
    /// Take the most probable child and value instead of drawing one.
    pub argmax: bool,
    /// Seed of the random streams.
    pub seed: u64,
    /// Factor on the standard deviation of sampled Normal leaves.
    pub std_correction: f32,
}

impl Ops<'_> {
    /// Backtracks `b.rows` rows of `out` (missing values NaN), filling in their missing
    /// values; `weights`, `leaf_params` and `table` are the model's parameters and leaf
    /// tables.
    pub(crate) fn backtrack(
        &self,
        b: &Backtrack<'_>,
        weights: &DevBuf<f32>,
        leaf_params: &DevBuf<f32>,
        table: &DevBuf<f32>,
        out: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let (i, d) = (self.idx, self.dims);
        self.exec.launch(
            Kernel::Backtrack,
            (blocks(b.rows, 1)?, 1, 1),
            BACKTRACK_THREADS,
            self.plan.backtrack_smem(),
            &[
                count(b.rows),
                Arg::U64(b.seed),
                Arg::U64(b.first_row as u64),
                Arg::U32(u32::from(b.argmax)),
                Arg::F32(b.std_correction),
                Arg::U32(u32::from(b.values.is_some())),
                b.values.map_or(Arg::Ptr(0), DevBuf::arg),
                Arg::U32(b.class.map_or(u32::MAX, |c| c as u32)),
                Arg::U32(d.root),
                i.nodes.arg(),
                i.node_lists.arg(),
                i.k.arg(),
                i.koff.arg(),
                weights.arg(),
                i.var_offsets.arg(),
                i.vars.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.param_offsets.arg(),
                leaf_params.arg(),
                i.tab_offsets.arg(),
                table.arg(),
                count(d.k_leaf),
                count(d.num_vars),
                count(d.channels),
                Arg::U32(self.plan.backtrack_scores),
                Arg::U32(self.plan.backtrack_depth),
                out.arg(),
            ],
        )
    }

    /// Sets the first `n` values of `buf` to `value`.
    pub(crate) fn fill(&self, buf: &DevBuf<f32>, n: usize, value: f32) -> Result<(), BackendError> {
        self.exec.launch(
            Kernel::FillF32,
            (blocks(n, THREADS)?, 1, 1),
            THREADS,
            0,
            &[buf.arg(), Arg::U64(n as u64), Arg::F32(value)],
        )
    }
}
