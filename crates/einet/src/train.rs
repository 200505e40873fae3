//! The EM trainer: stepwise or full-batch EM over epochs, keeping the parameters of the epoch
//! with the best validation log-likelihood. The recipe that hidden Chow–Liu trees are trained
//! with in Juice.jl and PyJuice is available for every structure: a stepwise step size
//! annealed linearly over the mini-batch epochs (`step_size_end`), then full-batch epochs
//! (`full_batch_epochs`), each phase stopped early by `patience`.

use std::time::Instant;

use einet_core::leaf_init::leaves_from_rows;
use einet_core::{EmConfig, EmMode, LeafInit, MStep, Params, Root};
use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::error::{Error, ErrorContext, Result};
use crate::model_spec::{BuiltModel, TrainingData};
use crate::queries::mean_log_likelihood;
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

/// Trains models with EM on a device.
pub struct Trainer {
    /// Where the model runs.
    pub device: Device,
    /// The schedule.
    pub config: TrainConfig,
}

impl Trainer {
    /// A trainer for `config` on `device`.
    pub fn new(device: Device, config: TrainConfig) -> Self {
        Trainer { device, config }
    }

    /// Trains `built` on `data`, keeping the parameters of the epoch with the best validation
    /// log-likelihood; `observer` sees every batch and epoch. Fails when training diverges
    /// (a non-finite log-likelihood) or the observer fails.
    pub fn fit(
        &self,
        built: BuiltModel,
        data: &TrainingData,
        observer: &mut dyn TrainObserver,
    ) -> Result<Trained> {
        let config = &self.config;
        let data = &data.data;
        let started = Instant::now();
        let BuiltModel {
            mut einet,
            structure,
            k_sum,
            k_leaf,
        } = built;
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
        let mut model = self.device.load(&einet)?;
        let em = config.em;
        let eval_batch = config.batch_size.max(MIN_EVAL_BATCH);
        let total_epochs = config.total_epochs();
        let mut history: Vec<EpochMetrics> = Vec::with_capacity(total_epochs);
        let mut best: Option<(usize, Params)> = None;
        let mut batches_seen = 0usize;
        let batches_per_epoch = data.train.rows().div_ceil(config.batch_size.max(1));
        let mut epoch = 0;
        // The first epoch (index into `history`) of the running phase.
        let mut phase_start = 0;
        while epoch < total_epochs {
            epoch += 1;
            let full_batch = em.mode == EmMode::FullBatch || epoch > config.epochs;
            if epoch == config.epochs + 1 {
                phase_start = history.len();
            }
            let batches =
                data.train
                    .epoch_batches(config.batch_size, Some(config.seed), epoch as u64);
            observer.epoch_started(epoch, total_epochs, batches.len());
            let epoch_start = Instant::now();
            let (mut samples, mut ll_sum, mut done) = (0usize, 0.0f64, 0usize);
            let running_ll = |ll_sum: f64, samples: usize| ll_sum / samples.max(1) as f64;
            let per_second =
                |samples: usize| samples as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
            for batch in batches {
                let ll = model
                    .em_accumulate(batch.values(), Root::Mixture)
                    .with_context(|| format!("EM statistics failed in epoch {epoch}"))?;
                samples += batch.rows();
                ll_sum += ll;
                done += 1;
                observer.batch_done(&BatchProgress {
                    batches: done,
                    running_ll: running_ll(ll_sum, samples),
                    samples_per_s: per_second(samples),
                });
                batches_seen += 1;
                if let (
                    EmMode::Stepwise {
                        frequency,
                        step_size,
                        rule,
                    },
                    false,
                ) = (em.mode, full_batch)
                {
                    if batches_seen % frequency == 0 {
                        let updates = config.epochs * batches_per_epoch / frequency;
                        let u = batches_seen / frequency - 1;
                        model.em_update(MStep {
                            step_size: config.step_size(step_size, u, updates),
                            rule,
                            pseudocount: em.pseudocount,
                        })?;
                    }
                }
                if observer.stop_requested() {
                    return Err(Error::Interrupted {
                        epoch,
                        batches: done,
                    });
                }
            }
            if full_batch {
                model.em_update(MStep::full_batch(em.pseudocount))?;
            }
            let (seconds, samples_per_s, running) = (
                epoch_start.elapsed().as_secs_f64(),
                per_second(samples),
                running_ll(ll_sum, samples),
            );
            observer.evaluating(epoch);
            let eval_start = Instant::now();
            let train_ll = if config.eval_train {
                mean_log_likelihood(model.as_mut(), &data.train, eval_batch)?
            } else {
                running
            };
            let valid_ll = mean_log_likelihood(model.as_mut(), &data.valid, eval_batch)?;
            let test_ll = mean_log_likelihood(model.as_mut(), &data.test, eval_batch)?;
            if !(train_ll.is_finite() && valid_ll.is_finite() && test_ll.is_finite()) {
                return Err(Error::invalid(format!(
                    "training diverged in epoch {epoch} (train LL {train_ll}, valid LL \
                     {valid_ll}); try a smaller --step-size or a positive --pseudocount"
                )));
            }
            let improved = best
                .as_ref()
                .is_none_or(|&(i, _)| valid_ll > history[i].valid_ll);
            if improved {
                best = Some((history.len(), model.params()?));
            }
            let metrics = EpochMetrics {
                epoch,
                train_ll,
                train_ll_running: running,
                valid_ll,
                test_ll,
                seconds,
                eval_seconds: eval_start.elapsed().as_secs_f64(),
                samples_per_s,
                improved,
            };
            observer.epoch_done(&metrics)?;
            history.push(metrics);
            if let (Some(patience), Some((b, _))) = (config.patience, &best) {
                if history.len() - (*b + 1).max(phase_start) >= patience {
                    if epoch > config.epochs || config.full_batch_epochs == 0 {
                        break;
                    }
                    // Skip the rest of the mini-batch phase.
                    epoch = config.epochs;
                    phase_start = history.len();
                }
            }
        }
        let Some((best, params)) = best else {
            return Err(Error::invalid("no epoch was run"));
        };
        einet.params = params;
        Ok(Trained {
            einet,
            structure,
            k_sum,
            k_leaf,
            history,
            best,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
