//! [`Mpi`]: the processes of an MPI job (rsmpi over the system's MPI, e.g. Open MPI).

use ::mpi::Threading;
use ::mpi::collective::{CommunicatorCollectives, SystemOperation};
use ::mpi::environment::Universe;
use ::mpi::topology::Communicator as _;

use super::Communicator;
use crate::error::{Error, Result};

/// The processes of an MPI job (`mpirun -np N …`), over `MPI_COMM_WORLD`. Creating it
/// initialises MPI and dropping it finalises MPI, once per process. On GPUs the ranks sum
/// their EM statistics on the devices with NCCL when every rank can open libnccl, else
/// through the host with MPI.
pub struct Mpi {
    universe: Universe,
    rank: usize,
    size: usize,
    local_rank: usize,
}

impl Mpi {
    /// Initialises MPI; fails when this process already did.
    pub fn init() -> Result<Self> {
        let (universe, _) = ::mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::invalid("MPI is already initialised in this process"))?;
        let world = universe.world();
        let local_rank = world.split_shared(world.rank()).rank();
        Ok(Mpi {
            rank: world.rank() as usize,
            size: world.size() as usize,
            local_rank: local_rank as usize,
            universe,
        })
    }

    /// The rank among the processes on this machine: the GPU to use, one process per GPU.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// Ends the whole job at once (`MPI_Abort`) with exit status `code`: what a process does
    /// after an error the other ranks do not know of, so that they do not wait for it.
    pub fn abort(&self, code: i32) -> ! {
        self.universe.world().abort(code)
    }
}

impl Communicator for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()> {
        let send = values.to_vec();
        self.universe
            .world()
            .all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn load(
        &self,
        device: &crate::Device,
        einet: &einet_core::Einet,
    ) -> Result<Box<dyn einet_core::BackendModel>> {
        use ::mpi::collective::Root;
        use einet_cuda::nccl;
        let crate::Device::Cuda { ordinal, precision } = *device else {
            return device.load(einet);
        };
        let mut ready = [f64::from(u8::from(nccl::available()))];
        self.all_reduce_sum(&mut ready)?;
        if self.size == 1 || ready[0] < self.size as f64 {
            return device.load(einet);
        }
        let id = match self.rank {
            0 => nccl::unique_id().map_err(Error::from),
            _ => Ok([0; nccl::ID_BYTES]),
        };
        let mut id = super::agree(self, id)?;
        self.universe
            .world()
            .process_at_rank(0)
            .broadcast_into(&mut id[..]);
        let mut model = super::agree(self, crate::device::load_cuda(ordinal, precision, einet))?;
        let joined = model.join_nccl(self.rank, self.size, &id);
        super::agree(self, joined.map_err(Error::from))?;
        Ok(Box::new(model))
    }
}
