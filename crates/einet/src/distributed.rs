//! Data-parallel EM across processes. Every rank holds the whole data set and draws the same
//! batches (the batch order follows from the seed); it runs the E-step on its contiguous
//! block of rows of each batch, the EM statistics and log-likelihood sums are summed over the
//! ranks, and every rank makes the same M-step. The parameters therefore equal those of one
//! process with the same global batches, up to the rounding of the summation order.
//! Evaluation is sharded the same way: each rank evaluates its block of every split and the
//! sums are all-reduced, so every rank takes the same decisions (best epoch, patience,
//! divergence).
//!
//! [`Trainer::with_communicator`](crate::Trainer::with_communicator) takes a
//! [`Communicator`]: [`Single`] is one process, `Mpi` (feature `mpi`) the processes of an
//! `mpirun` job.

use std::ops::Range;

use einet_core::em::EmStatistics;
use einet_core::{BackendError, BackendModel, Einet};
use einet_data::{Dataset, Loaded};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::train::TrainConfig;

#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;

/// The ranks of a data-parallel run, as the [`Trainer`](crate::Trainer) sees them. Every
/// rank makes the same calls in the same order; the collectives block until all ranks made
/// them.
pub trait Communicator: Send + Sync {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Sums `values` element-wise over the ranks, in place. Every rank passes the same number
    /// of values and receives the same sums.
    fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()>;

    /// Sums `f32` values (EM statistics) over the ranks in `f64`, rounding once, so that the
    /// sums do not depend on the order of the ranks. The default goes through
    /// [`all_reduce_sum`](Communicator::all_reduce_sum).
    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
        let mut wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        self.all_reduce_sum(&mut wide)?;
        values.iter_mut().zip(wide).for_each(|(v, w)| *v = w as f32);
        Ok(())
    }

    /// Loads `einet` onto `device` for training with this group. The default is
    /// [`Device::load`]; `Mpi` (feature `mpi`) joins the GPUs of its ranks with NCCL.
    fn load(&self, device: &Device, einet: &Einet) -> Result<Box<dyn BackendModel>> {
        device.load(einet)
    }
}

/// One process: the collectives do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Communicator for Single {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _values: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

/// The rows of a block of `rows` that `comm`'s rank takes: `rows·rank/size .. rows·(rank+1)/size`.
pub(crate) fn shard(comm: &dyn Communicator, rows: usize) -> Range<usize> {
    let (rank, size) = (comm.rank(), comm.size());
    rows * rank / size..rows * (rank + 1) / size
}

/// Bytes of an error message that [`agree`] passes from the failing rank to the others.
const MESSAGE_BYTES: usize = 1024;

/// Sums `local`'s values over the ranks, or, when `local` failed on any rank, fails on
/// every rank with [`Error::RankFailed`] and the message of the lowest failing rank (one
/// process returns its own error). Every rank passes `N` values.
pub(crate) fn sum_agreed<T, const N: usize>(
    comm: &dyn Communicator,
    local: Result<(T, [f64; N])>,
) -> Result<(T, [f64; N])> {
    let size = comm.size();
    if size == 1 {
        return local;
    }
    let mut sums = vec![0.0; N + size];
    match &local {
        Ok((_, values)) => sums[..N].copy_from_slice(values),
        Err(_) => sums[N + comm.rank()] = 1.0,
    }
    comm.all_reduce_sum(&mut sums)?;
    let Some(failed) = sums[N..].iter().position(|&f| f > 0.0) else {
        let (value, _) = local?;
        let mut values = [0.0; N];
        values.copy_from_slice(&sums[..N]);
        return Ok((value, values));
    };
    let mut message = vec![0.0; MESSAGE_BYTES];
    if let Err(e) = &local {
        if comm.rank() == failed {
            let text = e.report();
            let mut end = text.len().min(MESSAGE_BYTES);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            for (m, b) in message.iter_mut().zip(&text.as_bytes()[..end]) {
                *m = f64::from(*b);
            }
        }
    }
    comm.all_reduce_sum(&mut message)?;
    let bytes: Vec<u8> = message
        .iter()
        .map(|&b| b as u8)
        .take_while(|&b| b != 0)
        .collect();
    Err(Error::RankFailed {
        rank: failed,
        size,
        message: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Makes a step that may fail on some ranks only (reading a file, a batch's input check)
/// a collective one: every rank calls it with its result, and when any failed every rank
/// fails with [`Error::RankFailed`], which carries the message of the lowest failing rank,
/// so that rank 0 can report it. One process gets its result back as it is.
pub fn agree<T>(comm: &dyn Communicator, result: Result<T>) -> Result<T> {
    sum_agreed(comm, result.map(|value| (value, []))).map(|(value, [])| value)
}

/// Whether `flag` is set on any rank.
pub(crate) fn any(comm: &dyn Communicator, flag: bool) -> Result<bool> {
    let mut sum = [f64::from(u8::from(flag))];
    comm.all_reduce_sum(&mut sum)?;
    Ok(sum[0] > 0.0)
}

/// Sums the statistics a model accumulated since its last M-step over the ranks.
pub(crate) fn all_reduce_statistics(
    comm: &dyn Communicator,
    model: &mut dyn BackendModel,
) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    model.all_reduce_em_statistics(&mut |values| {
        comm.all_reduce_sum_f32(values)
            .map_err(|e| BackendError::Device(e.report()))
    })?;
    Ok(())
}

/// Sums a copy of the statistics over the ranks (for a checkpoint, which must hold all of
/// them), with their log-likelihood and sample count.
pub(crate) fn sum_statistics(comm: &dyn Communicator, stats: &mut EmStatistics) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let mut flat = stats.flatten();
    comm.all_reduce_sum_f32(&mut flat)?;
    stats.unflatten(&flat)?;
    let mut totals = [stats.log_likelihood, stats.samples as f64];
    comm.all_reduce_sum(&mut totals)?;
    stats.log_likelihood = totals[0];
    stats.samples = totals[1] as usize;
    Ok(())
}

/// Checks that every rank has the same data, model and schedule as rank 0 (row counts, a
/// checksum of the values, the number of parameters and their sum, the settings); when one
/// differs every rank fails, naming it.
pub(crate) fn check_same_run(
    comm: &dyn Communicator,
    data: &Loaded,
    einet: &Einet,
    config: &TrainConfig,
) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let values = |d: &Dataset| {
        let finite = d.values.iter().filter(|v| v.is_finite());
        let sum: f64 = finite.clone().map(|&v| f64::from(v)).sum();
        [d.rows() as f64, finite.count() as f64, sum]
    };
    let params = &einet.params;
    let all_params = params.layers.iter().flatten().chain(&params.leaf);
    let settings = serde_json::to_string(config).unwrap_or_default();
    let fingerprint: Vec<f64> = [data.train.row_len() as f64]
        .into_iter()
        .chain(
            [&data.train, &data.valid, &data.test]
                .into_iter()
                .flat_map(values),
        )
        .chain([
            all_params.clone().count() as f64,
            all_params.map(|&p| f64::from(p)).sum(),
            checksum(settings.as_bytes()),
        ])
        .collect();
    let mut first = if comm.rank() == 0 {
        fingerprint.clone()
    } else {
        vec![0.0; fingerprint.len()]
    };
    comm.all_reduce_sum(&mut first)?;
    let same = if first == fingerprint {
        Ok(())
    } else {
        Err(Error::invalid(
            "its data, model or training settings differ from rank 0's (every rank must read \
             the same data set with the same command line)",
        ))
    };
    agree(comm, same)
}

/// A checksum of `bytes` that is exact in `f64`: the sum of each byte times its position.
fn checksum(bytes: &[u8]) -> f64 {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| (i as f64 + 1.0) * f64::from(b))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_rows_once_in_order() {
        struct Rank(usize, usize);
        impl Communicator for Rank {
            fn rank(&self) -> usize {
                self.0
            }
            fn size(&self) -> usize {
                self.1
            }
            fn all_reduce_sum(&self, _: &mut [f64]) -> Result<()> {
                Ok(())
            }
        }
        for (rows, size) in [(10, 3), (2, 3), (0, 2), (100, 1)] {
            let blocks: Vec<_> = (0..size).map(|r| shard(&Rank(r, size), rows)).collect();
            assert_eq!(blocks[0].start, 0);
            assert_eq!(blocks[size - 1].end, rows);
            assert!(blocks.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn one_process_gets_its_own_error_back() {
        let err = agree::<()>(&Single, Err(Error::invalid("bad shard"))).unwrap_err();
        assert!(matches!(err, Error::Invalid(m) if m == "bad shard"));
    }
}
