//! `kernels/cp.cu`: CP products (element-wise, any number of children) and dense CP sums,
//! forward in either semiring and the EM backward pass.

use einet_core::BackendError;

use super::{Ops, Semiring, TC_SMEM, TC_THREADS, blocks, count, tensor_core_kernel};
use crate::Precision;
use crate::abi::{TC_COLS, TC_ROWS};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::{CpPlan, THREADS};

/// Rows one block of the CP counts kernel sums over.
const COUNTS_ROWS: u32 = 256;

impl Ops<'_> {
    /// The first arguments of every CP kernel: layer `l`'s output nodes and their lists.
    fn cp_nodes(&self, l: &CpPlan) -> [Arg; 4] {
        let i = self.idx;
        [
            i.cp_out.at(l.index),
            i.cp_list_start.at(l.index),
            i.cp_list_len.at(l.index),
            i.node_lists.arg(),
        ]
    }

    /// The first arguments of every CP sum kernel: [`Self::cp_nodes`], the weight offsets and
    /// widths, and every node's K and activation offset.
    fn cp_sums(&self, l: &CpPlan) -> Vec<Arg> {
        let i = self.idx;
        let mut args = self.cp_nodes(l).to_vec();
        args.extend([
            i.cp_wofs.at(l.index),
            i.cp_width.at(l.index),
            i.k.arg(),
            i.koff.arg(),
        ]);
        args
    }

    /// The forward pass of CP product layer `l` over `rows` rows of `act` (either semiring).
    pub(crate) fn cp_product_forward(
        &self,
        l: &CpPlan,
        rows: usize,
        act: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        self.cp_products(Kernel::CpProductForward, l, rows, act)
    }

    /// Adds the gradients of CP product layer `l`'s outputs to its children's in `grad`.
    pub(crate) fn cp_product_backward(
        &self,
        l: &CpPlan,
        rows: usize,
        grad: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        self.cp_products(Kernel::CpProductBackward, l, rows, grad)
    }

    /// Launches the product kernel `kernel` (same arguments both ways) on `buf`.
    fn cp_products(
        &self,
        kernel: Kernel,
        l: &CpPlan,
        rows: usize,
        buf: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let i = self.idx;
        self.exec.launch(
            kernel,
            (blocks(rows * l.k_max as usize, THREADS)?, l.nodes, 1),
            THREADS,
            0,
            &[
                &self.cp_nodes(l)[..],
                &[i.k.arg(), i.koff.arg(), count(rows), buf.arg()],
            ]
            .concat(),
        )
    }

    /// The forward pass of CP sum layer `l` over `rows` rows of `act`; `weights` holds W
    /// under [`Semiring::Sum`] and log W under [`Semiring::Max`]. Sums run in `precision`
    /// (on tensor cores unless fp32); maxima always in fp32.
    pub(crate) fn cp_sum_forward(
        &self,
        l: &CpPlan,
        rows: usize,
        weights: &DevBuf<f32>,
        semiring: Semiring,
        precision: Precision,
        act: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let mut args = self.cp_sums(l);
        args.push(weights.arg());
        let tensor_cores = [Kernel::CpSumForwardTf32, Kernel::CpSumForwardBf16];
        let Some(kernel) = tensor_core_kernel(semiring, precision, tensor_cores) else {
            args.extend([count(rows), semiring.flag(), act.arg()]);
            return self.exec.launch(
                Kernel::CpSumForward,
                (blocks(rows * l.k_max as usize, THREADS)?, l.nodes, 1),
                THREADS,
                0,
                &args,
            );
        };
        args.extend([count(rows), act.arg()]);
        self.exec.launch(
            kernel,
            (
                blocks(rows, TC_ROWS)?,
                l.nodes,
                blocks(l.k_max as usize, TC_COLS)?,
            ),
            TC_THREADS,
            TC_SMEM,
            &args,
        )
    }

    /// Adds the expected counts of CP sum layer `l` over `rows` rows (values `act`, gradients
    /// `grad`) to `counts`, in `precision` (on tensor cores unless fp32).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cp_sum_counts(
        &self,
        l: &CpPlan,
        rows: usize,
        act: &DevBuf<f32>,
        grad: &DevBuf<f32>,
        weights: &DevBuf<f32>,
        counts: &DevBuf<f32>,
        precision: Precision,
    ) -> Result<(), BackendError> {
        let mut args = self.cp_sums(l);
        args.extend([
            act.arg(),
            grad.arg(),
            weights.arg(),
            counts.arg(),
            count(rows),
            Arg::U32(COUNTS_ROWS),
        ]);
        let row_blocks = blocks(rows, COUNTS_ROWS)?;
        let tensor_cores = [Kernel::CpSumCountsTf32, Kernel::CpSumCountsBf16];
        let Some(kernel) = tensor_core_kernel(Semiring::Sum, precision, tensor_cores) else {
            let weights_per_node = l.k_max as usize * l.width_max as usize;
            return self.exec.launch(
                Kernel::CpSumCounts,
                (blocks(weights_per_node, THREADS)?, l.nodes, row_blocks),
                THREADS,
                0,
                &args,
            );
        };
        let j_tiles = blocks(l.width_max as usize, TC_ROWS)?;
        args.push(Arg::U32(j_tiles));
        let o_tiles = blocks(l.k_max as usize, TC_COLS)?;
        // One block per (input tile, output tile).
        let tiles = blocks(j_tiles as usize * o_tiles as usize, 1)?;
        self.exec.launch(
            kernel,
            (tiles, l.nodes, row_blocks),
            TC_THREADS,
            TC_SMEM,
            &args,
        )
    }

    /// Adds the gradients of CP sum layer `l`'s inputs over `rows` rows to `grad`, in
    /// `precision` (on tensor cores unless fp32).
    pub(crate) fn cp_sum_grads(
        &self,
        l: &CpPlan,
        rows: usize,
        act: &DevBuf<f32>,
        grad: &DevBuf<f32>,
        weights: &DevBuf<f32>,
        precision: Precision,
    ) -> Result<(), BackendError> {
        let mut args = self.cp_sums(l);
        args.extend([act.arg(), grad.arg(), weights.arg(), count(rows)]);
        let tensor_cores = [Kernel::CpSumGradsTf32, Kernel::CpSumGradsBf16];
        let Some(kernel) = tensor_core_kernel(Semiring::Sum, precision, tensor_cores) else {
            return self.exec.launch(
                Kernel::CpSumGrads,
                (blocks(rows * l.width_max as usize, THREADS)?, l.nodes, 1),
                THREADS,
                0,
                &args,
            );
        };
        self.exec.launch(
            kernel,
            (
                blocks(rows, TC_ROWS)?,
                l.nodes,
                blocks(l.width_max as usize, TC_COLS)?,
            ),
            TC_THREADS,
            TC_SMEM,
            &args,
        )
    }
}
