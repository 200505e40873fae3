//! The training record stored in a model file (`Einet::training`), and model loading.

use std::path::Path;

use anyhow::{Context, Result};
use einet_core::{Einet, EmConfig, EmMode, LeafFamily, LeafInit};
use serde::{Deserialize, Serialize};

use crate::dataset_arg::DataInfo;

/// What `einet train` stores in the model file besides the parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The program that wrote the model.
    pub tool: String,
    /// The data set, its shape and scale.
    pub data: DataInfo,
    /// How the structure was built.
    pub structure: serde_json::Value,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Leaf family.
    pub leaf: LeafFamily,
    /// EM settings: `mode` (stepwise or full), `frequency`, `step_size`, `pseudocount`.
    pub em: serde_json::Value,
    /// How the leaf parameters started (models written before it was recorded: random).
    #[serde(default)]
    pub leaf_init: LeafInit,
    /// Epochs run.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of the structure, initialisation and batch order.
    pub seed: u64,
    /// Backend used.
    pub backend: String,
    /// Worker threads.
    pub threads: usize,
    /// Epoch whose parameters were kept (best validation log-likelihood).
    pub best_epoch: usize,
    /// Mean train log-likelihood of the kept parameters (nats per instance).
    pub train_ll: f64,
    /// Mean validation log-likelihood of the kept parameters.
    pub valid_ll: f64,
    /// Mean test log-likelihood of the kept parameters.
    pub test_ll: f64,
    /// Bits per dimension on test, for image data.
    pub test_bpd: Option<f64>,
    /// Wall-clock seconds of training.
    pub seconds: f64,
}

/// Loads a model file with a message that names it.
pub fn load_model(path: &Path) -> Result<Einet> {
    Einet::load(path).with_context(|| format!("cannot load the model {}", path.display()))
}

/// The data information of a model written by `einet train`, if present.
pub fn data_info(einet: &Einet) -> Option<DataInfo> {
    serde_json::from_value(einet.training.get("data")?.clone()).ok()
}

/// The EM settings as JSON, with the `f32` values printed the way they were given.
pub fn em_json(em: &EmConfig) -> serde_json::Value {
    let num = |x: f32| x.to_string().parse::<f64>().unwrap_or(f64::from(x));
    match em.mode {
        EmMode::Stepwise {
            frequency,
            step_size,
            rule,
        } => serde_json::json!({
            "mode": "stepwise",
            "frequency": frequency,
            "step_size": num(step_size),
            "rule": rule,
            "pseudocount": num(em.pseudocount),
        }),
        EmMode::FullBatch => serde_json::json!({
            "mode": "full",
            "pseudocount": num(em.pseudocount),
        }),
    }
}
