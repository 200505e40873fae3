//! Data-parallel EM without MPI: ranks on threads of one process, summing through an
//! in-process communicator, end every epoch with the parameters of one process (every
//! structure, full-batch and stepwise EM); a checkpoint of such a run resumes in one process
//! or on other ranks; a bad row in one rank's part of a batch, or data that differ on one
//! rank, make every rank fail with that rank's error.

mod common;

use std::sync::{Arc, Barrier, Mutex, PoisonError};

use common::{Case, EpochParams, assert_close, cases, nltcs, train};
use einet::distributed::Communicator;
use einet::{Checkpoint, CheckpointAt, Device, EpochMetrics, Error, TrainObserver, Trainer};

/// The ranks of one process, on threads: each sum waits for every rank, then every rank adds
/// the ranks' values in rank order.
struct Threads {
    rank: usize,
    group: Arc<Group>,
}

struct Group {
    values: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

impl Communicator for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.group
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn all_reduce_sum(&self, values: &mut [f64]) -> einet::Result<()> {
        let lock = || {
            self.group
                .values
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        lock()[self.rank] = values.to_vec();
        self.group.barrier.wait();
        {
            let all = lock();
            for (i, v) in values.iter_mut().enumerate() {
                *v = all.iter().map(|r| r[i]).sum();
            }
        }
        self.group.barrier.wait();
        Ok(())
    }
}

/// Runs `f` on `size` ranks, each on its thread with its rank and communicator.
fn on_ranks<T: Send>(size: usize, f: impl Fn(usize, Arc<dyn Communicator>) -> T + Sync) -> Vec<T> {
    let group = Arc::new(Group {
        values: Mutex::new(vec![Vec::new(); size]),
        barrier: Barrier::new(size),
    });
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let comm = Arc::new(Threads {
                    rank,
                    group: group.clone(),
                });
                s.spawn(move || f(rank, comm))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The log-likelihoods of every epoch.
fn lls(history: &[EpochMetrics]) -> Vec<[f64; 4]> {
    history
        .iter()
        .map(|m| [m.train_ll, m.train_ll_running, m.valid_ll, m.test_ll])
        .collect()
}

fn assert_same_lls(case: &Case, ranks: &[EpochMetrics], single: &[EpochMetrics]) {
    for (a, b) in lls(ranks).iter().zip(lls(single)) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= f64::from(case.tolerance()) * y.abs(),
                "{}: log-likelihoods {a:?} and {b:?}",
                case.name
            );
        }
    }
}

#[test]
fn ranks_on_threads_end_every_epoch_with_the_parameters_of_one_process() {
    for (i, case) in cases().iter().enumerate() {
        let size = 2 + i % 2;
        let data = nltcs(&case.spec);
        let (single, one) = train(case, &data, None).unwrap();
        let runs = on_ranks(size, |_, comm| train(case, &data, Some(comm)).unwrap());
        for (params, trained) in &runs {
            assert_eq!(params, &runs[0].0, "{}: the ranks differ", case.name);
            assert_eq!(trained.best, one.best, "{}", case.name);
            assert_same_lls(case, &trained.history, &one.history);
        }
        let diff = assert_close(case, &runs[0].0, &single);
        println!(
            "{}, {size} ranks: largest relative difference {diff:e}",
            case.name
        );
    }
}

/// Stops after epoch `epoch` and keeps the checkpoint taken then.
struct StopAfter {
    epoch: usize,
    ended: usize,
    checkpoint: Option<Checkpoint>,
}

impl TrainObserver for StopAfter {
    fn epoch_done(&mut self, metrics: &EpochMetrics) -> einet::Result<()> {
        self.ended = metrics.epoch;
        Ok(())
    }
    fn stop_requested(&mut self) -> bool {
        self.ended == self.epoch
    }
    fn checkpoint_due(&mut self, at: CheckpointAt) -> bool {
        at == CheckpointAt::Interrupted
    }
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> einet::Result<()> {
        self.checkpoint = Some(checkpoint.clone());
        Ok(())
    }
}

#[test]
fn a_checkpoint_of_three_ranks_resumes_in_one_process_or_on_two_ranks() {
    // Statistics pending across the epoch end: they are in the checkpoint, summed.
    let case = cases()
        .into_iter()
        .find(|c| c.name == "rat, stepwise-statistics")
        .unwrap();
    let data = nltcs(&case.spec);
    let (_, whole) = train(&case, &data, None).unwrap();
    let stopped = on_ranks(3, |rank, comm| {
        // Rank 1 asks to stop: every rank stops, and every rank gets the checkpoint.
        let mut observer = StopAfter {
            epoch: if rank == 1 { 1 } else { usize::MAX },
            ended: 0,
            checkpoint: None,
        };
        let trainer = Trainer::new(Device::cpu(), case.config).with_communicator(comm);
        let err = trainer
            .fit(case.spec.build(&data, 0).unwrap(), &data, &mut observer)
            .err();
        assert!(
            matches!(err, Some(Error::Interrupted { epoch: 1, .. })),
            "{err:?}"
        );
        observer.checkpoint.expect("a checkpoint on interruption")
    });
    let checkpoint = &stopped[0];
    assert!(stopped.iter().all(|c| c.em == checkpoint.em));
    let resumed = Trainer::new(Device::cpu(), case.config)
        .resume(checkpoint.clone(), &data, &mut ())
        .unwrap();
    assert_same_lls(&case, &resumed.history, &whole.history);
    let on_two = on_ranks(2, |_, comm| {
        Trainer::new(Device::cpu(), case.config)
            .with_communicator(comm)
            .resume(checkpoint.clone(), &data, &mut ())
            .unwrap()
    });
    for trained in on_two.iter().chain([&resumed]) {
        assert_close(
            &case,
            std::slice::from_ref(&trained.einet.params),
            std::slice::from_ref(&whole.einet.params),
        );
    }
}

#[test]
fn a_bad_row_in_one_ranks_part_of_a_batch_fails_every_rank_with_its_error() {
    let case = &cases()[0];
    let mut data = nltcs(&case.spec);
    let rows = &data.data.train;
    let first_batch = rows.epoch_batches(case.config.batch_size, Some(case.config.seed), 1);
    // The last row of the first batch is in the last rank's part.
    let row = first_batch.order()[case.config.batch_size - 1];
    let width = rows.row_len();
    data.data.train.values[row * width] = 2.0;
    let errors = on_ranks(3, |_, comm| train_err(case, &data, comm));
    for e in &errors {
        let Error::RankFailed {
            rank,
            size,
            message,
        } = e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*rank, *size), (2, 3), "{e}");
        assert!(
            message.contains("EM statistics failed in epoch 1")
                && message.contains("value 2 is not valid for bernoulli leaves"),
            "{message}"
        );
    }
}

#[test]
fn a_rank_whose_data_differ_fails_every_rank() {
    let case = &cases()[0];
    let data = nltcs(&case.spec);
    let mut other = nltcs(&case.spec);
    other.data.train.values[0] = 1.0 - other.data.train.values[0];
    let errors = on_ranks(2, |rank, comm| {
        train_err(case, if rank == 1 { &other } else { &data }, comm)
    });
    for e in &errors {
        assert!(
            matches!(e, Error::RankFailed { rank: 1, size: 2, message }
                if message.contains("differ from rank 0's")),
            "{e}"
        );
    }
}

/// The error of training `case` on `data` as a rank of `comm`.
fn train_err(case: &Case, data: &einet::TrainingData, comm: Arc<dyn Communicator>) -> Error {
    let mut observer = EpochParams::default();
    Trainer::new(Device::cpu(), case.config)
        .with_communicator(comm)
        .fit(case.spec.build(data, 0).unwrap(), data, &mut observer)
        .err()
        .expect("training fails")
}
