//! The EM trainer: stepwise or full-batch EM over epochs, keeping the parameters of the epoch
//! with the best validation log-likelihood. The recipe that hidden Chow–Liu trees are trained
//! with in Juice.jl and PyJuice is available for every structure: a stepwise step size
//! annealed linearly over the mini-batch epochs (`step_size_end`), then full-batch epochs
//! (`full_batch_epochs`), each phase stopped early by `patience`.

use std::sync::Arc;
use std::time::Instant;

use einet_core::leaf_init::leaves_from_rows;
use einet_core::memory::{self, Budget};
use einet_core::{BackendModel, EmConfig, EmMode, Layout, LeafInit, MStep, Params, Root};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, EpochProgress, RunState};
use crate::device::Device;
use crate::distributed::{self, Communicator, Single};
use crate::error::{Error, ErrorContext, Result};
use crate::model_spec::{BuiltModel, TrainingData};
use crate::queries::rows_log_likelihoods;
use crate::structure::StructureRecord;

/// Rows per batch when evaluating, at least.
const MIN_EVAL_BATCH: usize = 256;
/// Laplace smoothing of data-initialised discrete leaves.
pub const INIT_PSEUDOCOUNT: f32 = 1.0;

/// The EM schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// EM mode (stepwise with its step size, frequency and rule, or full-batch) and
    /// pseudocount.
    pub em: EmConfig,
    /// How leaf parameters start.
    pub leaf_init: LeafInit,
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// Seed of the data initialisation of the leaves and of the batch order (reshuffled every
    /// epoch).
    pub seed: u64,
    /// Evaluate the training set after each epoch; otherwise its running log-likelihood during
    /// the epoch (before each batch's update) stands in for it.
    pub eval_train: bool,
    /// End a phase (the mini-batch epochs, then the full-batch ones) after this many of its
    /// epochs without a better validation log-likelihood.
    pub patience: Option<usize>,
    /// Run every mini-batch epoch before the full-batch ones, whatever `patience` says (it
    /// then ends the full-batch phase only), as Juice.jl's HCLT recipe does.
    #[serde(default)]
    pub mini_batch_runs_all_epochs: bool,
    /// Stepwise EM: the step size of the last update of the mini-batch epochs; the step size
    /// goes linearly from the mode's `step_size` to this one over them [default: constant].
    #[serde(default)]
    pub step_size_end: Option<f32>,
    /// Full-batch EM epochs after the `epochs` mini-batch epochs.
    #[serde(default)]
    pub full_batch_epochs: usize,
}

impl TrainConfig {
    /// Epochs of both phases.
    pub fn total_epochs(&self) -> usize {
        self.epochs + self.full_batch_epochs
    }

    /// Stepwise updates of the mini-batch epochs on `rows` training rows (0 for full-batch
    /// EM).
    pub fn stepwise_updates(&self, rows: usize) -> usize {
        match self.em.mode {
            EmMode::Stepwise { frequency, .. } => {
                self.epochs * rows.div_ceil(self.batch_size.max(1)) / frequency.max(1)
            }
            EmMode::FullBatch => 0,
        }
    }

    /// Every EM update of the whole schedule on `rows` training rows (stepwise updates, and
    /// one per full-batch epoch), when no epoch is skipped by `patience`.
    pub fn updates(&self, rows: usize) -> usize {
        match self.em.mode {
            EmMode::Stepwise { .. } => self.stepwise_updates(rows) + self.full_batch_epochs,
            EmMode::FullBatch => self.total_epochs(),
        }
    }

    /// The step size of stepwise update `u` of `updates` in the mini-batch phase.
    pub fn step_size(&self, start: f32, u: usize, updates: usize) -> f32 {
        match self.step_size_end {
            Some(end) if updates > 1 => {
                let t = (u as f32 / (updates - 1) as f32).min(1.0);
                start + (end - start) * t
            }
            _ => start,
        }
    }
}

impl Default for TrainConfig {
    /// `einet train`'s defaults: the reference's stepwise EM (step 0.05 every batch), random
    /// leaves, 10 epochs of batches of 100, seed 0, the training set evaluated every epoch.
    fn default() -> Self {
        TrainConfig {
            em: EmConfig::default(),
            leaf_init: LeafInit::Random,
            epochs: 10,
            batch_size: 100,
            seed: 0,
            eval_train: true,
            patience: None,
            mini_batch_runs_all_epochs: false,
            step_size_end: None,
            full_batch_epochs: 0,
        }
    }
}

/// The log-likelihoods and timing of one epoch (nats per instance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean LL of the training set after the epoch (the running LL when it is not evaluated).
    pub train_ll: f64,
    /// Mean LL of the training batches during the epoch, each before its update.
    pub train_ll_running: f64,
    /// Mean LL of the validation set after the epoch.
    pub valid_ll: f64,
    /// Mean LL of the test set after the epoch.
    pub test_ll: f64,
    /// Seconds of the EM pass.
    pub seconds: f64,
    /// Seconds of the evaluation.
    pub eval_seconds: f64,
    /// Training throughput.
    pub samples_per_s: f64,
    /// Whether the validation LL was the best so far.
    pub improved: bool,
}

/// The state of an epoch after a batch, for progress displays.
#[derive(Clone, Copy, Debug)]
pub struct BatchProgress {
    /// Batches done in this epoch.
    pub batches: usize,
    /// Mean LL of this epoch's rows so far, each before its batch's update.
    pub running_ll: f64,
    /// Rows per second so far in this epoch.
    pub samples_per_s: f64,
}

/// Sees a training run as it goes. Every method has a default that does nothing; an error
/// from [`TrainObserver::epoch_done`] stops training and is returned.
///
/// In a data-parallel run every rank has its observer: training stops or takes a checkpoint
/// when any rank's observer asks for it, every rank sees the same metrics, and the
/// checkpoint holds the statistics of all ranks (a front end writes it from rank 0).
pub trait TrainObserver {
    /// Epoch `epoch` of `epochs` starts, with `batches` batches.
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        let _ = (epoch, epochs, batches);
    }
    /// A batch was added to the statistics (and maybe a stepwise update made).
    fn batch_done(&mut self, progress: &BatchProgress) {
        let _ = progress;
    }
    /// Asked after every batch: `true` stops training after that batch, and
    /// [`Trainer::fit`] returns [`Error::Interrupted`] (for Ctrl-C).
    fn stop_requested(&mut self) -> bool {
        false
    }
    /// Whether to take a checkpoint `at` this point; the default never does.
    fn checkpoint_due(&mut self, at: CheckpointAt) -> bool {
        let _ = at;
        false
    }
    /// A checkpoint, taken when [`checkpoint_due`](TrainObserver::checkpoint_due) asked for
    /// one; an error stops training and is returned.
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        let _ = checkpoint;
        Ok(())
    }
    /// The EM pass of `epoch` ended; evaluation starts.
    fn evaluating(&mut self, epoch: usize) {
        let _ = epoch;
    }
    /// The epoch's metrics are known.
    fn epoch_done(&mut self, metrics: &EpochMetrics) -> Result<()> {
        let _ = metrics;
        Ok(())
    }
}

/// An observer that ignores everything.
impl TrainObserver for () {}

/// A trained model: the parameters of the best-validation epoch and every epoch's metrics.
pub struct Trained {
    /// The model, holding the parameters of the best epoch.
    pub einet: einet_core::Einet,
    /// How the structure was built.
    pub structure: StructureRecord,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
    /// Every epoch run, in order.
    pub history: Vec<EpochMetrics>,
    /// Index into `history` of the kept (best-validation) epoch.
    pub best: usize,
    /// Wall-clock seconds of training and evaluation.
    pub seconds: f64,
}

impl Trained {
    /// The metrics of the kept epoch.
    pub fn best(&self) -> &EpochMetrics {
        &self.history[self.best]
    }
}

/// Trains models with EM on a device, in one process or as a rank of a data-parallel run
/// ([`Trainer::with_communicator`]).
pub struct Trainer {
    /// Where the model runs.
    pub device: Device,
    /// The schedule.
    pub config: TrainConfig,
    communicator: Arc<dyn Communicator>,
}

/// Refuses batches of `rows` training rows and `eval_rows` evaluation rows whose node values
/// and gradients (4 bytes each) would not fit `budget`, before they are allocated.
fn check_batch_memory(
    layout: &Layout,
    rows: usize,
    eval_rows: usize,
    budget: Option<Budget>,
) -> Result<()> {
    let per_row = (layout.activation_len as u64).saturating_mul(8);
    memory::check((rows as u64).saturating_mul(per_row), budget, || {
        format!("a batch of {rows} rows (node values and gradients)")
    })
    .map_err(|e| Error::invalid(format!("{e}; choose a smaller --batch-size")))?;
    memory::check(
        (eval_rows as u64).saturating_mul(per_row / 2),
        budget,
        || format!("evaluating {eval_rows} rows at once"),
    )
    .map_err(|e| Error::invalid(format!("{e}; choose a smaller --batch-size")))
}

/// The mean log-likelihood of `data`: each rank evaluates its block of rows, and the sums are
/// added over the ranks.
fn mean_log_likelihood(
    comm: &dyn Communicator,
    model: &mut dyn BackendModel,
    data: &einet_data::Dataset,
    batch: usize,
) -> Result<f64> {
    let local = rows_log_likelihoods(model, data, distributed::shard(comm, data.rows()), batch)
        .map(|ll| ((), [ll.iter().map(|&l| f64::from(l)).sum::<f64>()]));
    let ((), [sum]) = distributed::sum_agreed(comm, local)?;
    Ok(sum / data.rows() as f64)
}

/// Where a checkpoint is offered ([`TrainObserver::checkpoint_due`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointAt {
    /// After a batch, in the middle of an epoch.
    Batch,
    /// After an epoch ended (evaluated, and the early-stopping decision made).
    EpochEnd,
    /// Training is about to stop on request ([`TrainObserver::stop_requested`]).
    Interrupted,
}

/// What a run starts from.
enum Start {
    Fresh(Box<BuiltModel>),
    Resume(Box<Checkpoint>),
}

impl Trainer {
    /// A trainer for `config` on `device`.
    pub fn new(device: Device, config: TrainConfig) -> Self {
        Trainer {
            device,
            config,
            communicator: Arc::new(Single),
        }
    }

    /// Trains as one rank of the data-parallel run of `communicator` (see
    /// [`distributed`]): every rank calls [`fit`](Trainer::fit) or
    /// [`resume`](Trainer::resume) with the same data, model and schedule, takes its block of
    /// rows of every batch and of every evaluated split, and ends with the same parameters.
    pub fn with_communicator(mut self, communicator: Arc<dyn Communicator>) -> Self {
        self.communicator = communicator;
        self
    }

    /// Trains `built` on `data`, keeping the parameters of the epoch with the best validation
    /// log-likelihood; `observer` sees every batch and epoch and is offered checkpoints.
    /// Fails when training diverges (a non-finite log-likelihood), when the observer fails,
    /// or with [`Error::Interrupted`] when it asks to stop.
    pub fn fit(
        &self,
        built: BuiltModel,
        data: &TrainingData,
        observer: &mut dyn TrainObserver,
    ) -> Result<Trained> {
        self.run(Start::Fresh(Box::new(built)), data, observer)
    }

    /// Continues the run of `checkpoint` on `data` to its end: the result equals that of
    /// the uninterrupted run (same parameters, same metrics but for the timings). The
    /// trainer's schedule and the data must be the checkpoint's.
    pub fn resume(
        &self,
        checkpoint: Checkpoint,
        data: &TrainingData,
        observer: &mut dyn TrainObserver,
    ) -> Result<Trained> {
        if checkpoint.config != self.config {
            return Err(Error::invalid(
                "the checkpoint was written with other training settings than this trainer's",
            ));
        }
        let (dataset, rows) = (data.data.spec.to_string(), data.data.train.rows());
        if checkpoint.dataset != dataset || checkpoint.train_rows != rows {
            return Err(Error::invalid(format!(
                "the checkpoint was written for the data set '{}' with {} training rows, not \
                 '{dataset}' with {rows}",
                checkpoint.dataset, checkpoint.train_rows
            )));
        }
        self.run(Start::Resume(Box::new(checkpoint)), data, observer)
    }

    /// Refuses batches of `layout`'s node values on `data` that would not fit the memory
    /// budget ([`memory::budget`]); [`fit`](Trainer::fit) and [`resume`](Trainer::resume)
    /// check it first, and front ends may before they create anything.
    pub fn check_memory(&self, layout: &Layout, data: &TrainingData) -> Result<()> {
        let (config, data) = (&self.config, &data.data);
        let largest = data
            .train
            .rows()
            .max(data.valid.rows())
            .max(data.test.rows());
        check_batch_memory(
            layout,
            config.batch_size.min(data.train.rows()),
            config.batch_size.max(MIN_EVAL_BATCH).min(largest),
            memory::budget(),
        )
    }

    fn run(
        &self,
        start: Start,
        training_data: &TrainingData,
        observer: &mut dyn TrainObserver,
    ) -> Result<Trained> {
        let comm = self.communicator.as_ref();
        let config = &self.config;
        let data = &training_data.data;
        let started = Instant::now();
        let (mut einet, structure, k_sum, k_leaf, mut state, mut best_params, mut em_state) =
            match start {
                Start::Fresh(built) => {
                    let built = *built;
                    let mut einet = built.einet;
                    if let LeafInit::Data { rows, pseudocount } = config.leaf_init {
                        leaves_from_rows(
                            &einet.layout,
                            &mut einet.params,
                            &data.train.values,
                            rows,
                            pseudocount,
                            config.seed,
                        );
                    }
                    let state = RunState {
                        epoch: 0,
                        running: None,
                        batches_seen: 0,
                        phase_start: 0,
                        finished: false,
                        history: Vec::with_capacity(config.total_epochs()),
                        best: None,
                        seconds: 0.0,
                    };
                    let (k_sum, k_leaf) = (built.k_sum, built.k_leaf);
                    (einet, built.structure, k_sum, k_leaf, state, None, None)
                }
                Start::Resume(c) => {
                    let c = *c;
                    (
                        c.einet,
                        c.structure,
                        c.k_sum,
                        c.k_leaf,
                        c.state,
                        c.best_params,
                        Some(c.em),
                    )
                }
            };
        let seconds_before = state.seconds;
        self.check_memory(&einet.layout, training_data)?;
        distributed::check_same_run(comm, data, &einet, config)?;
        let mut model = distributed::agree(comm, comm.load(&self.device, &einet))?;
        if let Some(em_state) = &mut em_state {
            // The checkpoint holds the statistics of all ranks: rank 0 takes them over.
            if comm.rank() != 0 {
                em_state.statistics.clear();
            }
            model.set_em_state(em_state)?;
        }
        let em = config.em;
        let eval_batch = config.batch_size.max(MIN_EVAL_BATCH);
        let total_epochs = config.total_epochs();
        let updates = config.stepwise_updates(data.train.rows());
        let mut checkpoint = |at: CheckpointAt,
                              observer: &mut dyn TrainObserver,
                              model: &mut dyn BackendModel,
                              state: &RunState,
                              best_params: &Option<Params>|
         -> Result<()> {
            if !distributed::any(comm, observer.checkpoint_due(at))? {
                return Ok(());
            }
            let mut state = state.clone();
            state.seconds = seconds_before + started.elapsed().as_secs_f64();
            einet.params = model.params()?;
            let mut em = model.em_state()?;
            distributed::sum_statistics(comm, &mut em.statistics)?;
            let written = observer.checkpoint(&Checkpoint {
                einet: einet.clone(),
                structure: structure.clone(),
                k_sum,
                k_leaf,
                config: *config,
                dataset: data.spec.to_string(),
                train_rows: data.train.rows(),
                state,
                best_params: best_params.clone(),
                em,
            });
            distributed::agree(comm, written)
        };
        while !state.finished {
            let progress = match state.running {
                Some(progress) => progress,
                None if state.epoch < total_epochs => {
                    state.epoch += 1;
                    if state.epoch == config.epochs + 1 {
                        state.phase_start = state.history.len();
                    }
                    EpochProgress {
                        batches: 0,
                        samples: 0,
                        ll_sum: 0.0,
                        seconds: 0.0,
                    }
                }
                None => break,
            };
            let epoch = state.epoch;
            let full_batch = em.mode == EmMode::FullBatch || epoch > config.epochs;
            let batches =
                data.train
                    .epoch_batches(config.batch_size, Some(config.seed), epoch as u64);
            observer.epoch_started(epoch, total_epochs, batches.len());
            let epoch_start = Instant::now();
            let seconds = |p: &EpochProgress| p.seconds + epoch_start.elapsed().as_secs_f64();
            let running_ll = |p: &EpochProgress| p.ll_sum / p.samples.max(1) as f64;
            let per_second = |p: &EpochProgress| p.samples as f64 / seconds(p).max(1e-9);
            let mut progress = progress;
            let width = data.train.row_len();
            for batch in batches.skip(progress.batches) {
                let rows = distributed::shard(comm, batch.rows());
                let local = match &batch.values()[rows.start * width..rows.end * width] {
                    [] => Ok(0.0),
                    x => model
                        .em_accumulate(x, Root::Mixture)
                        .with_context(|| format!("EM statistics failed in epoch {epoch}")),
                };
                let ((), [ll]) = distributed::sum_agreed(comm, local.map(|ll| ((), [ll])))?;
                progress.samples += batch.rows();
                progress.ll_sum += ll;
                progress.batches += 1;
                observer.batch_done(&BatchProgress {
                    batches: progress.batches,
                    running_ll: running_ll(&progress),
                    samples_per_s: per_second(&progress),
                });
                state.batches_seen += 1;
                if let (
                    EmMode::Stepwise {
                        frequency,
                        step_size,
                        rule,
                    },
                    false,
                ) = (em.mode, full_batch)
                {
                    if state.batches_seen % frequency == 0 {
                        let u = state.batches_seen / frequency - 1;
                        distributed::all_reduce_statistics(comm, model.as_mut())?;
                        model.em_update(MStep {
                            step_size: config.step_size(step_size, u, updates),
                            rule,
                            pseudocount: em.pseudocount,
                            regularisation: em.regularisation,
                        })?;
                    }
                }
                let stop = distributed::any(comm, observer.stop_requested())?;
                let at = if stop {
                    CheckpointAt::Interrupted
                } else {
                    CheckpointAt::Batch
                };
                state.running = Some(EpochProgress {
                    seconds: seconds(&progress),
                    ..progress
                });
                checkpoint(at, observer, model.as_mut(), &state, &best_params)?;
                if stop {
                    return Err(Error::Interrupted {
                        epoch,
                        batches: progress.batches,
                    });
                }
            }
            if full_batch {
                distributed::all_reduce_statistics(comm, model.as_mut())?;
                model.em_update(MStep {
                    regularisation: em.regularisation,
                    ..MStep::full_batch(em.pseudocount)
                })?;
            }
            let (epoch_seconds, samples_per_s, running) = (
                seconds(&progress),
                per_second(&progress),
                running_ll(&progress),
            );
            observer.evaluating(epoch);
            let eval_start = Instant::now();
            let mut evaluate = |data| mean_log_likelihood(comm, model.as_mut(), data, eval_batch);
            let train_ll = if config.eval_train {
                evaluate(&data.train)?
            } else {
                running
            };
            let valid_ll = evaluate(&data.valid)?;
            let test_ll = evaluate(&data.test)?;
            if !(train_ll.is_finite() && valid_ll.is_finite() && test_ll.is_finite()) {
                return Err(Error::invalid(format!(
                    "training diverged in epoch {epoch} (train LL {train_ll}, valid LL \
                     {valid_ll}); try a smaller --step-size or a positive --pseudocount"
                )));
            }
            let improved = state
                .best
                .is_none_or(|i| valid_ll > state.history[i].valid_ll);
            if improved {
                state.best = Some(state.history.len());
                best_params = Some(model.params()?);
            }
            let metrics = EpochMetrics {
                epoch,
                train_ll,
                train_ll_running: running,
                valid_ll,
                test_ll,
                seconds: epoch_seconds,
                eval_seconds: eval_start.elapsed().as_secs_f64(),
                samples_per_s,
                improved,
            };
            distributed::agree(comm, observer.epoch_done(&metrics))?;
            state.history.push(metrics);
            state.running = None;
            let mini_batch_goes_on = config.mini_batch_runs_all_epochs
                && epoch <= config.epochs
                && config.full_batch_epochs > 0;
            if let (Some(patience), Some(b), false) =
                (config.patience, state.best, mini_batch_goes_on)
            {
                if state.history.len() - (b + 1).max(state.phase_start) >= patience {
                    if epoch > config.epochs || config.full_batch_epochs == 0 {
                        state.finished = true;
                    } else {
                        // Skip the rest of the mini-batch phase.
                        state.epoch = config.epochs;
                    }
                }
            }
            if state.epoch >= total_epochs {
                state.finished = true;
            }
            let stop = distributed::any(comm, observer.stop_requested())? && !state.finished;
            let at = if stop {
                CheckpointAt::Interrupted
            } else {
                CheckpointAt::EpochEnd
            };
            checkpoint(at, observer, model.as_mut(), &state, &best_params)?;
            if stop {
                return Err(Error::Interrupted {
                    epoch,
                    batches: progress.batches,
                });
            }
        }
        let (Some(best), Some(params)) = (state.best, best_params) else {
            return Err(Error::invalid("no epoch was run"));
        };
        einet.params = params;
        Ok(Trained {
            einet,
            structure,
            k_sum,
            k_leaf,
            history: state.history,
            best,
            seconds: seconds_before + started.elapsed().as_secs_f64(),
        })
    }
}
