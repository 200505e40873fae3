//! `kernels/mixing.cu`: mixing layers forward and backward, and the root's per-row
//! log-likelihood.

use einet_core::BackendError;

use super::{Ops, Semiring, blocks, count};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::{MixingPlan, THREADS};

/// Which root value is a row's log-likelihood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootChoice {
    /// The mixture of the classes with their prior weights.
    Mixture,
    /// One class for every row.
    Class(u32),
    /// The class of each row, from the `labels` buffer.
    Labels,
}

impl RootChoice {
    /// The kernel's `mode` and `class` arguments.
    fn mode_and_class(self) -> (u32, u32) {
        match self {
            RootChoice::Mixture => (0, 0),
            RootChoice::Class(c) => (1, c),
            RootChoice::Labels => (2, 0),
        }
    }
}

impl Ops<'_> {
    /// The forward pass of mixing layer `m` over `rows` rows of `act` (sums, or maxima under
    /// [`Semiring::Max`]).
    pub(crate) fn mixing_forward(
        &self,
        m: &MixingPlan,
        rows: usize,
        weights: &DevBuf<f32>,
        semiring: Semiring,
        act: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let i = self.idx;
        let n = m.regions as usize * rows * m.k as usize;
        self.exec.launch(
            Kernel::MixingForward,
            (blocks(n, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                i.mix_out.at(m.index),
                i.node_lists.at(m.comps),
                i.mix_ncomp.at(m.index),
                i.koff.arg(),
                weights.at(m.weights),
                Arg::U32(m.regions),
                Arg::U32(m.k),
                Arg::U32(m.cmax),
                count(rows),
                semiring.flag(),
                act.arg(),
            ],
        )
    }

    /// The EM backward pass of mixing layer `m` over `rows` rows: its counts into `counts`,
    /// its components' gradients into `grad`.
    pub(crate) fn mixing_backward(
        &self,
        m: &MixingPlan,
        rows: usize,
        weights: &DevBuf<f32>,
        counts: &DevBuf<f32>,
        act: &DevBuf<f32>,
        grad: &DevBuf<f32>,
    ) -> Result<(), BackendError> {
        let i = self.idx;
        self.exec.launch(
            Kernel::MixingBackward,
            (blocks(rows * m.k as usize, THREADS)?, m.regions, 1),
            THREADS,
            m.smem,
            &[
                i.mix_out.at(m.index),
                i.node_lists.at(m.comps),
                i.mix_ncomp.at(m.index),
                i.koff.arg(),
                weights.at(m.weights),
                counts.at(m.weights),
                Arg::U32(m.k),
                Arg::U32(m.cmax),
                count(rows),
                act.arg(),
                grad.arg(),
            ],
        )
    }

    /// The log-likelihood of each of `rows` rows under `choice` from the root's values
    /// `root_act` into `ll`; with `root_grad`, also d ll / d root into that (zeroed) block of
    /// the gradient buffer.
    pub(crate) fn root_likelihood(
        &self,
        rows: usize,
        choice: RootChoice,
        root_act: Arg,
        labels: &DevBuf<u32>,
        ll: &DevBuf<f32>,
        root_grad: Option<Arg>,
    ) -> Result<(), BackendError> {
        let (mode, class) = choice.mode_and_class();
        self.exec.launch(
            Kernel::RootLikelihood,
            (blocks(rows, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                root_act,
                count(rows),
                count(self.dims.classes),
                Arg::U32(mode),
                Arg::U32(class),
                labels.arg(),
                ll.arg(),
                root_grad.unwrap_or(Arg::Ptr(0)),
            ],
        )
    }
}
