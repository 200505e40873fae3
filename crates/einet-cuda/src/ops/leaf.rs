//! `kernels/leaf.cu`: leaf log-density tables, the fused leaf forward pass, and the leaves'
//! EM statistics.

use einet_core::BackendError;

use super::{Ops, Semiring, blocks, count};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::{LEAF_BACKWARD_ROWS, THREADS};

impl Ops<'_> {
    /// Rebuilds the log-density tables `table` from the leaf parameters `leaf_params`.
    pub(crate) fn leaf_prepare(
        &self,
        leaf_params: &DevBuf<f32>,
        table: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let (i, d) = (self.idx, self.dims);
        self.exec.launch(
            Kernel::LeafPrepare,
            (blocks(d.entries * d.k_leaf * d.channels, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                leaf_params.arg(),
                i.param_offsets.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.tab_offsets.arg(),
                i.lbinom.arg(),
                count(d.entries),
                count(d.k_leaf),
                count(d.channels),
                table.arg(),
            ],
        )
    }

    /// The leaf layer of a forward pass over `rows` rows of `x`: every leaf's log-density
    /// (summed over its variables, missing values marginalised, or maximised under
    /// [`Semiring::Max`]) into its block of `act`.
    pub(crate) fn leaf_forward(
        &self,
        rows: usize,
        x: &DevBuf<f32>,
        table: &DevBuf<f32>,
        semiring: Semiring,
        act: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let (i, d) = (self.idx, self.dims);
        let per_node = blocks(rows * d.k_leaf, THREADS)?;
        let grid = u32::try_from(per_node as usize * d.leaves)
            .map_err(|_| BackendError::Device("internal error: leaf grid too large".into()))?;
        self.exec.launch(
            Kernel::LeafForward,
            (grid, 1, 1),
            THREADS,
            0,
            &[
                x.arg(),
                count(rows),
                count(d.num_vars),
                count(d.channels),
                i.var_offsets.arg(),
                i.vars.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.tab_offsets.arg(),
                table.arg(),
                i.lbinom.arg(),
                count(d.k_leaf),
                Arg::U32(per_node),
                semiring.flag(),
                act.arg(),
            ],
        )
    }

    /// Adds the leaves' EM statistics of `rows` rows of `x` (responsibilities from the
    /// leaf gradients in `grad`) to `leaf_mass` and `leaf_stats`.
    pub(crate) fn leaf_backward(
        &self,
        rows: usize,
        x: &DevBuf<f32>,
        grad: &DevBuf<f32>,
        leaf_mass: &DevBuf<f32>,
        leaf_stats: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let (i, d) = (self.idx, self.dims);
        self.exec.launch(
            Kernel::LeafBackward,
            (
                blocks(d.entries * d.k_leaf, THREADS)?,
                blocks(rows, LEAF_BACKWARD_ROWS)?,
                1,
            ),
            THREADS,
            0,
            &[
                x.arg(),
                count(rows),
                count(d.num_vars),
                count(d.channels),
                i.vars.arg(),
                i.entry_leaf.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                i.param_offsets.arg(),
                count(d.entries),
                count(d.k_leaf),
                Arg::U32(LEAF_BACKWARD_ROWS),
                grad.arg(),
                leaf_mass.arg(),
                leaf_stats.arg(),
            ],
        )
    }
}
