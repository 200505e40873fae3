//! Training checkpoints: everything a stopped run needs to continue exactly where it was —
//! the parameters, the best epoch's parameters, the EM state (pending statistics and the
//! running mass of stepwise EM), the position in the schedule and the metrics so far. The
//! batch order needs no RNG state: each epoch's order follows from the seed and the epoch.
//!
//! A checkpoint file is a model file ([`Einet::save_with`]): `einet info` and `einet eval`
//! read it as the model at the checkpoint; its training record holds the run's state, and
//! extra tensors hold the best parameters and the EM state. It is written atomically.

use std::path::Path;

use einet_core::{EmState, EmStatistics, Params, RunningMass};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Einet;
use crate::error::{Error, ErrorContext, Result};
use crate::structure::StructureRecord;
use crate::train::{EpochMetrics, TrainConfig};

/// The version of the checkpoint record this build reads and writes.
const CHECKPOINT_VERSION: u32 = 1;

/// Where a run is in its schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs started, from 1 (0 before the first).
    pub epoch: usize,
    /// The progress of epoch `epoch` while it runs; `None` once it has ended.
    pub running: Option<EpochProgress>,
    /// Batches seen in all epochs so far.
    pub batches_seen: usize,
    /// Index into `history` of the first epoch of the running phase.
    pub phase_start: usize,
    /// Whether the run is over (every epoch run, or stopped early by patience).
    pub finished: bool,
    /// Every epoch ended so far.
    pub history: Vec<EpochMetrics>,
    /// Index into `history` of the best-validation epoch.
    pub best: Option<usize>,
    /// Wall-clock seconds of the run so far.
    pub seconds: f64,
}

/// How far an epoch has got.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    /// Batches done.
    pub batches: usize,
    /// Rows of those batches.
    pub samples: usize,
    /// Sum of their log-likelihoods, each before its batch's update.
    pub ll_sum: f64,
    /// Seconds of EM in this epoch so far.
    pub seconds: f64,
}

/// A run's full state at a batch or epoch boundary ([`Trainer::resume`] continues it).
///
/// [`Trainer::resume`]: crate::Trainer::resume
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The model with its parameters at the checkpoint.
    pub einet: Einet,
    /// How the structure was built.
    pub structure: StructureRecord,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
    /// The schedule of the run.
    pub config: TrainConfig,
    /// The training data the run uses (its spec) and its training rows.
    pub dataset: String,
    /// Rows of the training set.
    pub train_rows: usize,
    /// Where the run is.
    pub state: RunState,
    /// The parameters of the best epoch so far.
    pub best_params: Option<Params>,
    /// The EM state.
    pub em: EmState,
}

/// The checkpoint record stored in the model file's training record.
#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    structure: StructureRecord,
    k_sum: usize,
    k_leaf: usize,
    config: TrainConfig,
    dataset: String,
    train_rows: usize,
    state: RunState,
    has_best: bool,
    em_log_likelihood: f64,
    em_samples: usize,
}

fn tensors(prefix: &str, params: &Params) -> Vec<(String, Vec<f32>)> {
    params
        .layers
        .iter()
        .enumerate()
        .map(|(i, w)| (format!("{prefix}.layer.{i}"), w.clone()))
        .chain(std::iter::once((
            format!("{prefix}.leaf"),
            params.leaf.clone(),
        )))
        .collect()
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically, with `front_end`: what the program that
    /// trains needs to restart itself (the CLI stores its command line).
    pub fn save(&self, path: &Path, front_end: &Value) -> Result<()> {
        let stats = &self.em.statistics;
        let record = Record {
            version: CHECKPOINT_VERSION,
            structure: self.structure.clone(),
            k_sum: self.k_sum,
            k_leaf: self.k_leaf,
            config: self.config,
            dataset: self.dataset.clone(),
            train_rows: self.train_rows,
            state: self.state.clone(),
            has_best: self.best_params.is_some(),
            em_log_likelihood: stats.log_likelihood,
            em_samples: stats.samples,
        };
        let mut einet = self.einet.clone();
        einet.training = serde_json::json!({
            "checkpoint": serde_json::to_value(&record).map_err(|e| Error::invalid(e.to_string()))?,
            "front_end": front_end,
        });
        let mut extra = self
            .best_params
            .as_ref()
            .map(|p| tensors("best", p))
            .unwrap_or_default();
        extra.extend(
            stats
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("em.counts.{i}"), c.clone())),
        );
        extra.extend([
            ("em.leaf_mass".to_string(), stats.leaf_mass.clone()),
            ("em.leaf_stats".to_string(), stats.leaf_stats.clone()),
            (
                "em.running.weights".to_string(),
                self.em.running.weights.clone(),
            ),
            (
                "em.running.leaves".to_string(),
                self.em.running.leaves.clone(),
            ),
        ]);
        einet
            .save_with(path, &extra)
            .with_context(|| format!("cannot write the checkpoint {}", path.display()))
    }

    /// Reads a checkpoint written by [`save`](Checkpoint::save) and its front end's value;
    /// anything missing, of the wrong size or impossible is an error naming the file.
    pub fn load(path: &Path) -> Result<(Checkpoint, Value)> {
        let (mut einet, extra) = Einet::load_with(path)
            .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
        let bad = |what: String| {
            Error::invalid(format!(
                "{} is not a usable training checkpoint: {what}",
                path.display()
            ))
        };
        let training = std::mem::take(&mut einet.training);
        let record = training
            .get("checkpoint")
            .ok_or_else(|| bad("its training record has no checkpoint".into()))?;
        let record: Record = serde_json::from_value(record.clone())
            .map_err(|e| bad(format!("the checkpoint record is malformed ({e})")))?;
        if record.version != CHECKPOINT_VERSION {
            return Err(bad(format!(
                "checkpoint version {} (this build reads version {CHECKPOINT_VERSION})",
                record.version
            )));
        }
        let mut extra: std::collections::HashMap<String, Vec<f32>> = extra.into_iter().collect();
        let mut take = |name: String| {
            extra
                .remove(&name)
                .ok_or_else(|| bad(format!("the tensor '{name}' is missing")))
        };
        let layout = &einet.layout;
        let best_params = if record.has_best {
            let params = Params {
                layers: (0..layout.layers.len())
                    .map(|i| take(format!("best.layer.{i}")))
                    .collect::<Result<Vec<_>>>()?,
                leaf: take("best.leaf".into())?,
            };
            if !params.fits(layout) {
                return Err(bad("the best parameters do not fit the model".into()));
            }
            params
                .check(layout)
                .map_err(|e| bad(format!("the best parameters: {e}")))?;
            Some(params)
        } else {
            None
        };
        let counts = (0..layout.layers.len())
            .map(|i| take(format!("em.counts.{i}")))
            .collect::<Result<Vec<_>>>()?;
        let em = EmState {
            statistics: EmStatistics {
                counts,
                leaf_mass: take("em.leaf_mass".into())?,
                leaf_stats: take("em.leaf_stats".into())?,
                log_likelihood: record.em_log_likelihood,
                samples: record.em_samples,
            },
            running: RunningMass {
                weights: take("em.running.weights".into())?,
                leaves: take("em.running.leaves".into())?,
            },
        };
        em.check(layout).map_err(|e| bad(e.to_string()))?;
        let state = &record.state;
        if state.best.is_some_and(|b| b >= state.history.len())
            || state.best.is_some() != record.has_best
            || state.phase_start > state.history.len()
        {
            return Err(bad("its run state contradicts itself".into()));
        }
        let front_end = training.get("front_end").cloned().unwrap_or(Value::Null);
        Ok((
            Checkpoint {
                einet,
                structure: record.structure,
                k_sum: record.k_sum,
                k_leaf: record.k_leaf,
                config: record.config,
                dataset: record.dataset,
                train_rows: record.train_rows,
                state: record.state,
                best_params,
                em,
            },
            front_end,
        ))
    }
}
