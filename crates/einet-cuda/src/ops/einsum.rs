//! `kernels/einsum.cu`: the fused log-einsum-exp forward pass (sum- and max-product), the
//! log of the weights for max-product, and the EM backward pass (expected counts and child
//! gradients) of one einsum layer.

use einet_core::BackendError;

use super::{Ops, Semiring, TC_SMEM, TC_THREADS, blocks, count, tensor_core_kernel};
use crate::Precision;
use crate::abi::{TC_COLS, TC_ROWS};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::{EinsumPlan, THREADS};

impl Ops<'_> {
    /// The first arguments of every einsum kernel: layer `e`'s products (left child, right
    /// child, output node, weight offset) and every node's K and activation offset.
    fn einsum_nodes(&self, e: &EinsumPlan) -> [Arg; 6] {
        let i = self.idx;
        [
            i.ein_left.at(e.index),
            i.ein_right.at(e.index),
            i.ein_out.at(e.index),
            i.ein_wofs.at(e.index),
            i.k.arg(),
            i.koff.arg(),
        ]
    }

    /// `logw = log(weights)`, element-wise over all sum weights.
    pub(crate) fn log_weights(
        &self,
        weights: &DevBuf<f32>,
        logw: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let n = self.plan.num_weights;
        self.exec.launch(
            Kernel::LogWeights,
            (blocks(n, THREADS)?, 1, 1),
            THREADS,
            0,
            &[weights.arg(), Arg::U64(n as u64), logw.arg()],
        )
    }

    /// The forward pass of einsum layer `e` over `rows` rows of `act`. `weights` holds the
    /// sum weights W under [`Semiring::Sum`] and log W under [`Semiring::Max`]. Sums run in
    /// `precision` (on tensor cores unless fp32); maxima always in fp32.
    pub(crate) fn einsum_forward(
        &self,
        e: &EinsumPlan,
        rows: usize,
        weights: &DevBuf<f32>,
        semiring: Semiring,
        precision: Precision,
        act: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let tensor_cores = [Kernel::EinsumForwardTf32, Kernel::EinsumForwardBf16];
        if let Some(kernel) = tensor_core_kernel(semiring, precision, tensor_cores) {
            return self.exec.launch(
                kernel,
                (
                    e.products,
                    blocks(rows, TC_ROWS)?,
                    blocks(e.ko_max as usize, TC_COLS)?,
                ),
                TC_THREADS,
                TC_SMEM,
                &[
                    &self.einsum_nodes(e)[..],
                    &[weights.at(e.weights), count(rows), act.arg()],
                ]
                .concat(),
            );
        }
        let f = e.forward_launch(rows);
        let kernel = match semiring {
            Semiring::Sum => Kernel::EinsumForward,
            Semiring::Max => Kernel::EinsumForwardMax,
        };
        self.exec.launch(
            kernel,
            (e.products * f.o_tiles, blocks(rows, f.tr)?, 1),
            f.tr,
            f.smem,
            &[
                &self.einsum_nodes(e)[..],
                &[
                    weights.at(e.weights),
                    count(rows),
                    Arg::U32(f.o_tiles),
                    Arg::U32(e.kl_max),
                    Arg::U32(e.kr_max),
                    Arg::U32(f.ic),
                    act.arg(),
                ],
            ]
            .concat(),
        )
    }

    /// Adds the expected counts of einsum layer `e` over `rows` rows (values `act`,
    /// gradients `grad`) to `counts`, in `precision` (on tensor cores unless fp32 or the
    /// layer's K exceed their staging).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn einsum_counts(
        &self,
        e: &EinsumPlan,
        rows: usize,
        act: &DevBuf<f32>,
        grad: &DevBuf<f32>,
        weights: &DevBuf<f32>,
        counts: &DevBuf<f32>,
        precision: Precision,
    ) -> Result<(), BackendError> {
        let buffers = [
            act.arg(),
            grad.arg(),
            weights.at(e.weights),
            counts.at(e.weights),
            count(rows),
        ];
        let tensor_cores = [Kernel::EinsumCountsTf32, Kernel::EinsumCountsBf16];
        let tc = tensor_core_kernel(Semiring::Sum, precision, tensor_cores)
            .zip(e.tc_counts_launch(rows));
        if let Some((kernel, c)) = tc {
            return self.exec.launch(
                kernel,
                (e.products, c.tiles, blocks(rows, c.rows_per_block)?),
                TC_THREADS,
                c.smem,
                &[
                    &self.einsum_nodes(e)[..],
                    &buffers,
                    &[
                        Arg::U32(c.rows_per_block),
                        Arg::U32(c.j_tiles),
                        Arg::U32(e.kl_max),
                        Arg::U32(c.krp_max),
                        Arg::U32(c.kop_max),
                    ],
                ]
                .concat(),
            );
        }
        let c = e.counts_launch(rows);
        let rows_per_block = e.counts_rows_per_block(rows);
        self.exec.launch(
            Kernel::EinsumCounts,
            (
                e.products * e.counts_mt_blocks,
                blocks(rows, rows_per_block)?,
                1,
            ),
            e.counts_threads,
            c.smem,
            &[
                &self.einsum_nodes(e)[..],
                &buffers,
                &[
                    Arg::U32(e.counts_mt_blocks),
                    Arg::U32(e.kl_max),
                    Arg::U32(c.krp_max),
                    Arg::U32(c.kop_max),
                    Arg::U32(c.sub_rows),
                    Arg::U32(rows_per_block),
                ],
            ]
            .concat(),
        )
    }

    /// Adds the gradients of einsum layer `e`'s children over `rows` rows to `grad`, in
    /// `precision` (on tensor cores unless fp32 or the layer's K exceed their tiles).
    pub(crate) fn einsum_grads(
        &self,
        e: &EinsumPlan,
        rows: usize,
        act: &DevBuf<f32>,
        grad: &DevBuf<f32>,
        weights: &DevBuf<f32>,
        precision: Precision,
    ) -> Result<(), BackendError> {
        let buffers = [act.arg(), grad.arg(), weights.at(e.weights), count(rows)];
        let tensor_cores = [Kernel::EinsumGradsTf32, Kernel::EinsumGradsBf16];
        let tc =
            tensor_core_kernel(Semiring::Sum, precision, tensor_cores).zip(e.tc_grads_launch());
        if let Some((kernel, g)) = tc {
            return self.exec.launch(
                kernel,
                (
                    e.products,
                    blocks(rows, g.tile_rows)?,
                    blocks(e.kr_max as usize, TC_COLS)?,
                ),
                g.threads,
                g.smem,
                &[
                    &self.einsum_nodes(e)[..],
                    &buffers,
                    &[
                        Arg::U32(e.kl_max),
                        Arg::U32(g.krp_max),
                        Arg::U32(g.ko16_max),
                    ],
                ]
                .concat(),
            );
        }
        let g = e.grads_launch(rows);
        self.exec.launch(
            Kernel::EinsumGrads,
            (e.products, blocks(rows, g.tr)?, 1),
            g.threads,
            g.smem,
            &[
                &self.einsum_nodes(e)[..],
                &buffers,
                &[
                    Arg::U32(g.tr),
                    Arg::U32(e.kl_max),
                    Arg::U32(g.krp_max),
                    Arg::U32(e.ko_max),
                    Arg::U32(g.ic),
                ],
            ]
            .concat(),
        )
    }
}
