//! NCCL: the GPUs of a data-parallel run sum their EM statistics on the devices (feature
//! `nccl`, with `cuda`). libnccl is opened at run time; a missing library is
//! [`BackendError::Unavailable`], never a panic.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};
use cudarc::nccl::safe::{Comm, Id, ReduceOp, group_end, group_start};
use einet_core::BackendError;

/// Bytes of an NCCL unique id: rank 0 makes it ([`unique_id`]) and sends it to the others.
pub const ID_BYTES: usize = 128;

fn nccl_err(what: &str) -> impl Fn(cudarc::nccl::result::NcclError) -> BackendError + '_ {
    move |e| BackendError::Device(format!("NCCL {what} failed: {e:?}"))
}

/// Whether libnccl can be opened.
pub fn available() -> bool {
    // SAFETY: only tries to open the library by its usual names.
    unsafe { cudarc::nccl::sys::is_culib_present() }
}

/// A new unique id of an NCCL group, made on its rank 0.
pub fn unique_id() -> Result<[u8; ID_BYTES], BackendError> {
    if !available() {
        return Err(BackendError::Unavailable(
            "NCCL: libnccl.so was not found".into(),
        ));
    }
    let id = Id::new().map_err(nccl_err("ncclGetUniqueId"))?;
    Ok(id.internal().map(|c| c as u8))
}

/// One rank's NCCL communicator, on the stream of the model that owns it.
pub(crate) struct Nccl(Comm);

// SAFETY: an NCCL communicator may be used from any thread as long as calls on it do not
// overlap; the `CudaModel` that owns it makes its calls through `&mut self`.
unsafe impl Send for Nccl {}

impl Nccl {
    /// Joins the group `id` of `size` ranks as `rank` on `stream`; blocks until every rank
    /// has joined.
    pub(crate) fn join(
        stream: Arc<CudaStream>,
        rank: usize,
        size: usize,
        id: &[u8; ID_BYTES],
    ) -> Result<Self, BackendError> {
        let id = Id::uninit(id.map(|b| b as std::ffi::c_char));
        Comm::from_rank(stream, rank, size, id)
            .map(Nccl)
            .map_err(nccl_err("ncclCommInitRank"))
    }

    /// Sums `buffers` over the group in place, as one fused NCCL call.
    pub(crate) fn all_reduce(&self, buffers: [&mut CudaSlice<f32>; 3]) -> Result<(), BackendError> {
        group_start().map_err(nccl_err("ncclGroupStart"))?;
        let queued = buffers
            .into_iter()
            .try_for_each(|b| self.0.all_reduce_in_place(b, &ReduceOp::Sum).map(drop));
        let ended = group_end().map_err(nccl_err("ncclGroupEnd"));
        queued.map_err(nccl_err("ncclAllReduce"))?;
        ended.map(drop)
    }
}
