//! Data-parallel EM over MPI (feature `mpi`): this binary starts `mpirun` on itself with 2
//! and 3 ranks (oversubscribing small machines); every rank trains each case of
//! `common::cases` as a rank of the job and as one process, and checks that the parameters
//! after every epoch agree.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{assert_close, cases, nltcs, train};
use einet::distributed::{Communicator, Mpi};

/// Set by Open MPI's launcher in every rank.
const RANK_VAR: &str = "OMPI_COMM_WORLD_RANK";

fn main() {
    if std::env::var_os(RANK_VAR).is_some() {
        return rank();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    for ranks in [2, 3] {
        let status = Command::new("mpirun")
            .args(["--oversubscribe", "-np", &ranks.to_string()])
            .arg(&exe)
            // Allowed when the tests run as root (containers, CI).
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("RAYON_NUM_THREADS", "1")
            .status()
            .expect("mpirun (Open MPI: apt-get install openmpi-bin) runs");
        assert!(status.success(), "{ranks} ranks: {status}");
    }
}

/// One rank of the job.
fn rank() {
    let mpi = Arc::new(Mpi::init().expect("MPI starts"));
    for case in cases() {
        let data = nltcs(&case.spec);
        let comm: Arc<dyn Communicator> = mpi.clone();
        let (ranks, _) = train(&case, &data, Some(comm)).unwrap();
        let (single, _) = train(&case, &data, None).unwrap();
        let diff = assert_close(&case, &ranks, &single);
        if mpi.rank() == 0 {
            println!(
                "{}, {} MPI ranks: largest relative difference {diff:e}",
                case.name,
                mpi.size()
            );
        }
    }
}
