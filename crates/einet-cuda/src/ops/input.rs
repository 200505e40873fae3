//! `kernels/input.cu`: the device-side check of input values.

use einet_core::BackendError;

use super::{Ops, blocks, count};
use crate::device::{Arg, DevBuf};
use crate::kernels::Kernel;
use crate::plan::THREADS;

impl Ops<'_> {
    /// Sets `invalid[0]` when one of the first `len` values of `x` is not allowed at its
    /// position of a row (NaN, i.e. missing, is allowed everywhere).
    pub(crate) fn check_values(
        &self,
        x: &DevBuf<f32>,
        len: usize,
        invalid: &DevBuf<u32>,
    ) -> Result<(), BackendError> {
        let i = self.idx;
        self.exec.launch(
            Kernel::CheckValues,
            (blocks(len, THREADS)?, 1, 1),
            THREADS,
            0,
            &[
                x.arg(),
                Arg::U64(len as u64),
                count(self.dims.row_len()),
                i.value_min.arg(),
                i.value_below.arg(),
                i.value_whole.arg(),
                invalid.arg(),
            ],
        )
    }
}
