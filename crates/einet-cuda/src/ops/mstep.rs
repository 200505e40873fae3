//! `kernels/mstep.cu`: the M-step of the sum weights and of the leaf parameters, full-batch
//! or stepwise under either rule.

use einet_core::BackendError;
use einet_core::em::{MStep, StepwiseRule};

use super::{Ops, blocks, count};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::THREADS;

/// The kernels' flag of the statistics rule.
fn statistics_rule(step: &MStep) -> Arg {
    Arg::U32(u32::from(step.rule == StepwiseRule::Statistics))
}

impl Ops<'_> {
    /// Updates every weight vector of `weights` from its expected `counts` (and its running
    /// mass `running` under the statistics rule).
    pub(crate) fn mstep_weights(
        &self,
        step: &MStep,
        weights: &DevBuf<f32>,
        counts: &DevBuf<f32>,
        running: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let i = self.idx;
        let vectors = self.plan.vec_start.len();
        self.exec.launch(
            Kernel::MstepWeights,
            (blocks(vectors * 32, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                weights.arg(),
                counts.arg(),
                running.arg(),
                i.vec_start.arg(),
                i.vec_len.arg(),
                count(vectors),
                Arg::F32(step.step_size),
                statistics_rule(step),
                Arg::F32(step.pseudocount),
                Arg::F32(step.regularisation.entropy),
            ],
        )
    }

    /// Updates the leaf parameters `leaf_params` from their EM statistics (`mass`, `stats`,
    /// and the running mass `running` under the statistics rule).
    pub(crate) fn mstep_leaves(
        &self,
        step: &MStep,
        leaf_params: &DevBuf<f32>,
        mass: &DevBuf<f32>,
        stats: &DevBuf<f32>,
        running: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let (i, d) = (self.idx, self.dims);
        self.exec.launch(
            Kernel::MstepLeaves,
            (blocks(d.entries * d.k_leaf * d.channels, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                leaf_params.arg(),
                mass.arg(),
                stats.arg(),
                running.arg(),
                i.param_offsets.arg(),
                i.entry_family.arg(),
                i.families.arg(),
                count(d.entries),
                count(d.k_leaf),
                count(d.channels),
                Arg::F32(step.step_size),
                statistics_rule(step),
                Arg::F32(step.pseudocount),
                Arg::F32(step.regularisation.softening),
            ],
        )
    }
}
