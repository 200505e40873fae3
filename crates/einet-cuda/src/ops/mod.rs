//! The kernel launches, one module per kernel file (`kernels/*.cu`): [`input`], [`leaf`],
//! [`einsum`], [`mixing`], [`cp`], [`mstep`] and [`backtrack`]. Each op is one named method of
//! [`Ops`] that launches one kernel and owns its argument list, in the order the kernel
//! declares its parameters; `CudaModel` only decides what runs when.

pub(crate) mod backtrack;
pub(crate) mod cp;
pub(crate) mod einsum;
pub(crate) mod input;
pub(crate) mod leaf;
pub(crate) mod mixing;
pub(crate) mod mstep;

use einet_core::BackendError;
use einet_core::layout::Layout;

use crate::Precision;
use crate::abi::{TC_COLS, TC_DEPTH, TC_ROWS};
use crate::device::{Arg, DevBuf, Exec};
use crate::kernels::Kernel;
use crate::plan::Plan;

/// How a forward pass combines values: sums (likelihoods) or maxima (max-product MPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Semiring {
    Sum,
    Max,
}

impl Semiring {
    /// The kernels' `max` flag.
    fn flag(self) -> Arg {
        Arg::U32(u32::from(self == Semiring::Max))
    }
}

/// Threads per block of the tensor-core forward kernels (`tc_log_matmul` in common.cuh).
const TC_THREADS: u32 = 2 * TC_ROWS;
/// Dynamic shared memory bytes of the tensor-core forward kernels.
const TC_SMEM: u32 = 4 * ((TC_ROWS + TC_COLS) * TC_DEPTH + TC_ROWS);

/// Which of a layer's tensor-core forward kernels `[tf32, bf16]` a pass in `semiring` at
/// `precision` runs; `None` (the fp32 kernel) for fp32 and for max-product.
fn tensor_core_kernel(
    semiring: Semiring,
    precision: Precision,
    [tf32, bf16]: [Kernel; 2],
) -> Option<Kernel> {
    match (semiring, precision) {
        (Semiring::Max, _) | (_, Precision::Fp32) => None,
        (Semiring::Sum, Precision::Tf32) => Some(tf32),
        (Semiring::Sum, Precision::Bf16) => Some(bf16),
    }
}

/// The sizes of a model that the launches need besides its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    /// Leaf nodes.
    pub leaves: usize,
    /// Leaf entries (leaf nodes × their variables).
    pub entries: usize,
    /// Leaf vector length K.
    pub k_leaf: usize,
    /// Channels per variable.
    pub channels: usize,
    /// Variables per row.
    pub num_vars: usize,
    /// Classes of the root.
    pub classes: usize,
    /// The root node.
    pub root: u32,
}

impl Dims {
    /// The sizes of `layout`.
    pub(crate) fn of(layout: &Layout) -> Dims {
        Dims {
            leaves: layout.leaf.len(),
            entries: layout.leaf.vars.len(),
            k_leaf: layout.leaf.k,
            channels: layout.num_channels,
            num_vars: layout.num_vars,
            classes: layout.num_classes(),
            root: layout.root,
        }
    }

    /// Values per row.
    pub(crate) fn row_len(&self) -> usize {
        self.num_vars * self.channels
    }
}

/// The plan's index arrays on the device, uploaded once per model.
pub(crate) struct Indices {
    pub value_min: DevBuf<f32>,
    pub value_below: DevBuf<f32>,
    pub value_whole: DevBuf<u32>,
    pub k: DevBuf<u32>,
    pub koff: DevBuf<u32>,
    pub var_offsets: DevBuf<u32>,
    pub vars: DevBuf<u32>,
    pub entry_family: DevBuf<u32>,
    pub entry_leaf: DevBuf<u32>,
    pub param_offsets: DevBuf<u32>,
    pub tab_offsets: DevBuf<u32>,
    pub families: DevBuf<u32>,
    pub lbinom: DevBuf<f32>,
    pub ein_left: DevBuf<u32>,
    pub ein_right: DevBuf<u32>,
    pub ein_out: DevBuf<u32>,
    pub ein_wofs: DevBuf<u32>,
    pub mix_out: DevBuf<u32>,
    pub node_lists: DevBuf<u32>,
    pub mix_ncomp: DevBuf<u32>,
    pub cp_out: DevBuf<u32>,
    pub cp_list_start: DevBuf<u32>,
    pub cp_list_len: DevBuf<u32>,
    pub cp_wofs: DevBuf<u32>,
    pub cp_width: DevBuf<u32>,
    pub nodes: DevBuf<u32>,
    pub vec_start: DevBuf<u32>,
    pub vec_len: DevBuf<u32>,
}

impl Indices {
    /// Uploads the index arrays of `plan`.
    pub(crate) fn upload(exec: &Exec, plan: &Plan) -> Result<Indices, BackendError> {
        Ok(Indices {
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
            node_lists: exec.upload(&plan.node_lists)?,
            mix_ncomp: exec.upload(&plan.mix_ncomp)?,
            cp_out: exec.upload(&plan.cp_out)?,
            cp_list_start: exec.upload(&plan.cp_list_start)?,
            cp_list_len: exec.upload(&plan.cp_list_len)?,
            cp_wofs: exec.upload(&plan.cp_wofs)?,
            cp_width: exec.upload(&plan.cp_width)?,
            nodes: exec.upload(&plan.nodes)?,
            vec_start: exec.upload(&plan.vec_start)?,
            vec_len: exec.upload(&plan.vec_len)?,
        })
    }
}

/// What every launch of one model needs: the executor, the model's index arrays, its plan
/// and its sizes.
#[derive(Clone, Copy)]
pub(crate) struct Ops<'a> {
    pub exec: &'a Exec,
    pub idx: &'a Indices,
    pub plan: &'a Plan,
    pub dims: &'a Dims,
}

/// Blocks of `per_block` threads (or rows) that cover `n`.
pub(crate) fn blocks(n: usize, per_block: u32) -> Result<u32, BackendError> {
    u32::try_from(n.div_ceil(per_block as usize))
        .map_err(|_| BackendError::Device(format!("internal error: {n} threads exceed one launch")))
}

/// A count as a `u32` kernel argument (the plan checked that every size fits).
fn count(n: usize) -> Arg {
    Arg::U32(n as u32)
}
