//! `einet train --distributed`: the ranks of an MPI job (`mpirun -np N einet train
//! --distributed …`, binaries built with `--features mpi`).

use std::sync::Arc;

use anyhow::Result;
use einet::distributed::{Communicator, Single};

/// The ranks this process trains with, and the GPU it uses (one process per GPU).
pub struct Ranks {
    /// The communicator the trainer sums over.
    pub comm: Arc<dyn Communicator>,
    /// The ordinal of this process's GPU among its machine's.
    pub gpu: usize,
}

impl Ranks {
    /// Whether this process writes the output: rank 0.
    pub fn lead(&self) -> bool {
        self.comm.rank() == 0
    }
}

/// Runs `train` in this process, or with `distributed` as one rank of the MPI job. After an
/// error that every rank knows of ([`einet::Error::RankFailed`], a stop) rank 0 prints it,
/// the other ranks wait for that and every rank exits with its code; a rank with an error that only it knows of prints it
/// and ends the whole job, so that no rank waits for it.
pub fn run(distributed: bool, train: impl FnOnce(&Ranks) -> Result<()>) -> Result<()> {
    if !distributed {
        return train(&Ranks {
            comm: Arc::new(Single),
            gpu: 0,
        });
    }
    #[cfg(feature = "mpi")]
    return mpi::run(train);
    #[cfg(not(feature = "mpi"))]
    {
        let _ = train;
        anyhow::bail!(
            "--distributed needs an einet built with MPI: cargo build --release -p einet-cli \
             --features mpi (with Open MPI: apt-get install libopenmpi-dev openmpi-bin), then \
             mpirun -np N einet train --distributed …"
        )
    }
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::sync::Arc;

    use anyhow::Result;
    use einet::distributed::{Communicator, Mpi};

    use super::Ranks;

    pub(super) fn run(train: impl FnOnce(&Ranks) -> Result<()>) -> Result<()> {
        let mpi = Arc::new(Mpi::init()?);
        let (rank, size) = (mpi.rank(), mpi.size());
        if rank == 0 {
            println!("distributed: {size} MPI ranks, each taking 1/{size} of every batch");
        }
        let ranks = Ranks {
            comm: mpi.clone(),
            gpu: mpi.local_rank(),
        };
        let result = train(&ranks);
        drop(ranks);
        let Err(e) = result else {
            return Ok(());
        };
        let known = e
            .chain()
            .find_map(|c| match c.downcast_ref::<einet::Error>() {
                Some(einet::Error::RankFailed { .. }) => Some(1),
                Some(einet::Error::Interrupted { .. }) => Some(130),
                _ => None,
            });
        match known {
            Some(code) => {
                if rank == 0 {
                    crate::print_error(&e);
                }
                // A barrier: no rank exits, which has mpirun end the job, before rank 0 has
                // written the error. A failed barrier leaves nothing to wait for.
                let _ = mpi.all_reduce_sum(&mut [0.0]);
                // The last reference: MPI is finalised with every rank.
                drop(mpi);
                use std::io::Write;
                let _ = std::io::stdout().flush();
                std::process::exit(code)
            }
            None => {
                eprintln!(
                    "error: rank {rank} of {size}: {}",
                    einet::error::chain_message(e.chain())
                );
                mpi.abort(1)
            }
        }
    }
}
