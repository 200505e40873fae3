//! The records of `debd.json`: one [`DebdEntry`] per data set, setting and seed, with the
//! configuration it chose and, for the tuned setting, every grid point it tried. Training is
//! deterministic, so a point already run with the same configuration and seed is taken from
//! these records instead of trained again ([`earlier_result`]).

use anyhow::Result;
use einet::provenance::Provenance;
use einet::{Device, EpochMetrics, LeafInit, StepwiseRule, Trainer, TrainingData};
use serde::{Deserialize, Serialize};

use super::grid::{Point, Setting, TUNED_REFERENCE_INIT};

/// A training configuration as an entry records it (its `config`, and the configuration part
/// of each grid point).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// The structure builder: `rat`.
    pub structure: String,
    /// RAT depth.
    pub depth: usize,
    /// RAT repetitions.
    pub repetitions: usize,
    /// K of sums and leaves.
    pub k: usize,
    /// The leaf family, e.g. `categorical(2)`.
    pub leaf: String,
    /// `stepwise` or `full`.
    pub em: String,
    /// Batches between stepwise updates (none for full-batch EM).
    pub frequency: Option<usize>,
    /// Stepwise step size (none for full-batch EM).
    pub step_size: Option<f64>,
    /// Pseudocount added to every expected count.
    pub pseudocount: f64,
    /// Rows per batch.
    pub batch_size: usize,
    /// Epochs at most.
    pub max_epochs: usize,
    /// Epochs without a better validation LL after which training stops.
    pub patience: Option<usize>,
    /// How leaf parameters start.
    pub leaf_init: LeafInit,
    /// How a stepwise M-step blends a batch in (none for full-batch EM).
    pub rule: Option<StepwiseRule>,
    /// [`Point::label`].
    pub label: String,
}

impl ConfigRecord {
    /// The record of `point` with leaves of the family named `leaf`.
    pub fn new(point: &Point, leaf: &str) -> Self {
        let stepwise = point.step_size.is_some();
        ConfigRecord {
            structure: "rat".into(),
            depth: point.depth,
            repetitions: point.repetitions,
            k: point.k,
            leaf: leaf.into(),
            em: point.em.into(),
            frequency: stepwise.then_some(1),
            step_size: point.step_size,
            pseudocount: point.pseudocount,
            batch_size: point.batch_size,
            max_epochs: point.epochs,
            patience: point.patience,
            leaf_init: point.leaf_init,
            rule: stepwise.then_some(point.rule),
            label: point.label(),
        }
    }
}

/// One epoch of a run's history (nats per instance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean LL of the training set after the epoch (its running LL when not evaluated).
    pub train_ll: f64,
    /// Mean LL of the validation set after the epoch.
    pub valid_ll: f64,
    /// Mean LL of the test set after the epoch.
    pub test_ll: f64,
    /// Seconds of the epoch's EM pass and evaluation.
    pub seconds: f64,
}

impl From<&EpochMetrics> for EpochRecord {
    fn from(m: &EpochMetrics) -> Self {
        EpochRecord {
            epoch: m.epoch,
            train_ll: m.train_ll,
            valid_ll: m.valid_ll,
            test_ll: m.test_ll,
            seconds: m.seconds + m.eval_seconds,
        }
    }
}

/// The result of one configuration, at its epoch with the best validation LL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitRecord {
    /// Mean validation LL.
    pub valid_ll: f64,
    /// Mean test LL.
    pub test_ll: f64,
    /// Mean training LL (unknown for grid points of earlier runs that did not record it).
    pub train_ll: Option<f64>,
    /// The kept epoch.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// Seconds of training and evaluation.
    pub seconds: f64,
    /// Parameters of the model.
    pub params: usize,
    /// Where the result was taken from instead of training (`demo run`, `earlier tuned run`).
    pub reused_from: Option<String>,
}

/// A configuration's result with its history.
pub struct Fitted {
    /// The result.
    pub record: FitRecord,
    /// Every epoch run (empty for a grid point taken from an earlier run).
    pub history: Vec<EpochRecord>,
}

/// A point tried for an entry and what came of it.
pub struct Outcome {
    /// The configuration.
    pub point: Point,
    /// Its result, or why it failed.
    pub result: Result<Fitted>,
}

/// What came of a grid point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GridResult {
    /// It was trained (or taken from an earlier run).
    Fitted(FitRecord),
    /// It failed.
    Failed {
        /// The error, in one line.
        error: String,
    },
}

/// A grid point of a tuned entry: its configuration and result side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    /// The configuration.
    #[serde(flatten)]
    pub config: ConfigRecord,
    /// What came of it.
    #[serde(flatten)]
    pub result: GridResult,
}

impl GridPoint {
    /// The grid point of `outcome`, with leaves of the family named `leaf`.
    pub fn new(outcome: &Outcome, leaf: &str) -> Self {
        GridPoint {
            config: ConfigRecord::new(&outcome.point, leaf),
            result: match &outcome.result {
                Ok(f) => GridResult::Fitted(f.record.clone()),
                Err(e) => GridResult::Failed {
                    error: einet::error::chain_message(e.chain()),
                },
            },
        }
    }
}

/// One entry of `debd.json`: the configuration a setting chose for a data set and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DebdEntry {
    /// The DEBD data set.
    pub dataset: String,
    /// The setting's name (`demo`, a demo variant such as `demo-data-init`, or `tuned`).
    pub setting: String,
    /// Seed of the structure, initial parameters and batch order.
    pub seed: u64,
    /// Variables.
    pub vars: usize,
    /// Training rows.
    pub train_rows: usize,
    /// Validation rows.
    pub valid_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Mean test LL of the chosen configuration at its best validation epoch.
    pub test_ll: f64,
    /// Its mean validation LL.
    pub valid_ll: f64,
    /// Its mean training LL (unknown when the chosen point came from an earlier grid that
    /// did not record it).
    pub train_ll: Option<f64>,
    /// Epochs it ran.
    pub epochs: usize,
    /// Its kept epoch.
    pub best_epoch: usize,
    /// Seconds of its training and evaluation.
    pub seconds: f64,
    /// Its parameters.
    pub params: usize,
    /// The chosen configuration.
    pub config: ConfigRecord,
    /// Its epochs.
    pub history: Vec<EpochRecord>,
    /// Where and how the run was made.
    pub run: Provenance,
    /// Demo: the reference's test LL on the data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_test_ll: Option<f64>,
    /// Tuned: seconds of the whole data set, grid included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_seconds: Option<f64>,
    /// Tuned: seconds of all grid points (points of earlier runs with their time there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_seconds: Option<f64>,
    /// Tuned: every point tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<Vec<GridPoint>>,
}

/// Trains `point` on `data` with `seed` on `device`; `eval_train` evaluates the training set
/// after every epoch.
pub fn fit_point(
    point: &Point,
    data: &TrainingData,
    seed: u64,
    device: Device,
    eval_train: bool,
) -> Result<Fitted> {
    let built = point.model_spec().build(data, seed)?;
    let params = built.einet.layout.num_params();
    let config = point.train_config(seed, eval_train);
    let trained = Trainer::new(device, config).fit(built, data, &mut ())?;
    let best = trained.best();
    Ok(Fitted {
        record: FitRecord {
            valid_ll: best.valid_ll,
            test_ll: best.test_ll,
            train_ll: Some(best.train_ll),
            best_epoch: best.epoch,
            epochs_run: trained.history.len(),
            seconds: trained.seconds,
            params,
            reused_from: None,
        },
        history: trained.history.iter().map(EpochRecord::from).collect(),
    })
}

/// The result of `point` on `dataset` from an earlier run in `entries` with the same
/// configuration and `seed` (training is deterministic): the demo entry for the demo point,
/// else the grid of the tuned entry.
pub fn earlier_result(
    entries: &[DebdEntry],
    dataset: &str,
    seed: u64,
    point: &Point,
) -> Option<Fitted> {
    let label = point.label();
    let entry = |setting: &str| {
        entries
            .iter()
            .find(|e| e.dataset == dataset && e.setting == setting && e.seed == seed)
    };
    if point.is_demo() {
        let demo = entry(&Setting::Demo.name(point));
        if let Some(e) = demo.filter(|e| e.config.label == label) {
            return Some(Fitted {
                record: FitRecord {
                    valid_ll: e.valid_ll,
                    test_ll: e.test_ll,
                    train_ll: e.train_ll,
                    best_epoch: e.best_epoch,
                    epochs_run: e.epochs,
                    seconds: e.seconds,
                    params: e.params,
                    reused_from: Some("demo run".into()),
                },
                history: e.history.clone(),
            });
        }
    }
    let (tuned, fitted) = ["tuned", TUNED_REFERENCE_INIT]
        .into_iter()
        .filter_map(entry)
        .find_map(|tuned| {
            let fitted = tuned.grid.as_ref()?.iter().find_map(|g| match &g.result {
                GridResult::Fitted(f)
                    if g.config.label == label && g.config.patience == point.patience =>
                {
                    Some(f)
                }
                _ => None,
            })?;
            Some((tuned, fitted))
        })?;
    // The chosen point's history and training LL are in the entry itself.
    let chosen = tuned.config.label == label;
    Some(Fitted {
        record: FitRecord {
            train_ll: if chosen {
                tuned.train_ll
            } else {
                fitted.train_ll
            },
            reused_from: Some("earlier tuned run".into()),
            ..fitted.clone()
        },
        history: if chosen {
            tuned.history.clone()
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A grid point of `docs/results/debd.json`.
    fn grid_point() -> Value {
        json!({
            "batch_size": 2000, "best_epoch": 2, "depth": 3, "em": "stepwise", "epochs_run": 5,
            "frequency": 1, "k": 20, "label": "d3 r10 K20 stepwise s0.7 pc0 b2000 e15",
            "leaf": "categorical(2)", "leaf_init": {"init": "random"}, "max_epochs": 15,
            "params": 490410, "patience": 3, "pseudocount": 0.0, "repetitions": 10,
            "reused_from": "earlier tuned run", "rule": "parameters", "seconds": 4.399201653,
            "step_size": 0.7, "structure": "rat", "test_ll": -6.161530387195286,
            "train_ll": null, "valid_ll": -6.105928002323439
        })
    }

    #[test]
    fn grid_points_read_and_write_the_fields_of_earlier_results() {
        let point: GridPoint = serde_json::from_value(grid_point()).unwrap();
        assert!(matches!(
            point.result,
            GridResult::Fitted(FitRecord {
                train_ll: None,
                epochs_run: 5,
                ..
            })
        ));
        assert_eq!(serde_json::to_value(&point).unwrap(), grid_point());

        let failed = json!({"label": "x", "error": "diverged"});
        let mut config = grid_point();
        for key in [
            "best_epoch",
            "epochs_run",
            "params",
            "reused_from",
            "seconds",
            "test_ll",
        ] {
            config.as_object_mut().unwrap().remove(key);
        }
        for key in ["train_ll", "valid_ll"] {
            config.as_object_mut().unwrap().remove(key);
        }
        config["error"] = failed["error"].clone();
        let point: GridPoint = serde_json::from_value(config.clone()).unwrap();
        assert_eq!(
            point.result,
            GridResult::Failed {
                error: "diverged".into()
            }
        );
        assert_eq!(serde_json::to_value(&point).unwrap(), config);
    }

    #[test]
    fn a_demo_config_is_recorded_as_before() {
        let record = ConfigRecord::new(&Point::demo(), "categorical(2)");
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({
                "batch_size": 100, "depth": 3, "em": "stepwise", "frequency": 1, "k": 20,
                "label": "d3 r10 K20 stepwise s0.05 pc0 b100 e10", "leaf": "categorical(2)",
                "leaf_init": {"init": "random"}, "max_epochs": 10, "patience": null,
                "pseudocount": 0.0, "repetitions": 10, "rule": "parameters",
                "step_size": 0.05, "structure": "rat"
            })
        );
    }
}
