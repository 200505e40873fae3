//! The training record stored in a model file (`Einet::training`), and model loading.

use std::path::Path;

use einet_core::{Einet, EmConfig, EmMode, LeafFamily, LeafInit, StepwiseRule};
use einet_data::DataInfo;
use serde::{Deserialize, Serialize};

use crate::device::{Device, Precision};
use crate::error::{Error, ErrorContext, Result};
use crate::model_spec::TrainingData;
use crate::structure::StructureRecord;
use crate::train::{TrainConfig, Trained};

/// What training stores in a model file besides the parameters (`Einet::training`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The program that wrote the model.
    pub tool: String,
    /// The data set, its shape and scale.
    pub data: DataInfo,
    /// How the structure was built.
    pub structure: StructureRecord,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Leaf family (of a table with a family per column: the most common one; the model's
    /// configuration has them all).
    pub leaf: LeafFamily,
    /// EM settings.
    pub em: EmRecord,
    /// How the leaf parameters started (models written before it was recorded: random).
    #[serde(default)]
    pub leaf_init: LeafInit,
    /// Epochs run.
    pub epochs: usize,
    /// Stepwise EM: the step size the mini-batch epochs were annealed to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size_end: Option<f32>,
    /// Full-batch EM epochs configured after the mini-batch ones.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub full_batch_epochs: usize,
    /// Whether every mini-batch epoch ran before the full-batch ones, whatever the patience.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mini_batch_runs_all_epochs: bool,
    /// Data softening of the discrete leaves (`einet_core::em::Regularisation`).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub softening: f64,
    /// Entropy regularisation of the sum weights.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub entropy: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of the structure, initialisation and batch order.
    pub seed: u64,
    /// Backend used.
    pub backend: String,
    /// Operand precision of the einsum and CP sums on tensor cores (`Precision`; models written
    /// before it was recorded: fp32).
    #[serde(default, skip_serializing_if = "is_fp32")]
    pub precision: Precision,
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

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

fn is_fp32(p: &Precision) -> bool {
    *p == Precision::Fp32
}

/// Loads a model file with a message that names it.
pub fn load_model(path: &Path) -> Result<Einet> {
    let einet =
        Einet::load(path).with_context(|| format!("cannot load the model {}", path.display()))?;
    data_info(&einet, path)?;
    check_record(&einet).map_err(|what| {
        Error::invalid(format!(
            "{}: the training record contradicts the model: {what}",
            path.display()
        ))
    })?;
    Ok(einet)
}

/// Checks the fields of a training record that restate the model (vector lengths, leaf
/// family, learned trees) against it; records without them (other tools, older files) pass.
fn check_record(einet: &Einet) -> Result<(), String> {
    let record = &einet.training;
    let config = &einet.config;
    for (field, value) in [("k_sum", config.k_sum), ("k_leaf", config.k_leaf)] {
        if let Some(found) = record.get(field) {
            if found.as_u64() != Some(value as u64) {
                return Err(format!("{field} is {found}, but the model's is {value}"));
            }
        }
    }
    if let Some(found) = record.get("leaf") {
        let leaf: LeafFamily = serde_json::from_value(found.clone())
            .map_err(|e| format!("leaf is {found}, not a leaf family ({e})"))?;
        if leaf != config.leaves.default {
            return Err(format!(
                "leaf is {}, but the model's is {}",
                leaf.name(),
                config.leaves.default.name()
            ));
        }
    }
    if let Some(found) = record.get("structure") {
        let structure: StructureRecord = serde_json::from_value(found.clone())
            .map_err(|e| format!("structure is not a structure record ({e})"))?;
        if let StructureRecord::Hclt { trees, .. } = structure {
            let vars = einet.layout.num_vars;
            for (t, tree) in trees.iter().enumerate() {
                tree.check().map_err(|e| format!("tree {t}: {e}"))?;
                if tree.num_vars() != vars {
                    return Err(format!(
                        "tree {t} spans {} variables, but the model has {vars}",
                        tree.num_vars()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The data information of a model read from `path`: `None` when its training record has
/// none, an error naming the file and the field when it is malformed or does not fit the
/// model's layout.
pub fn data_info(einet: &Einet, path: &Path) -> Result<Option<DataInfo>> {
    let Some(data) = einet.training.get("data") else {
        return Ok(None);
    };
    let bad = |what: String| {
        Error::invalid(format!(
            "{}: the training record's data information is not usable: {what}",
            path.display()
        ))
    };
    let info: DataInfo = serde_json::from_value(data.clone()).map_err(|e| bad(e.to_string()))?;
    check_data_info(&info, einet.layout.num_vars, einet.layout.num_channels).map_err(bad)?;
    Ok(Some(info))
}

/// Checks recorded data information against a model of `num_vars` variables × `channels`.
fn check_data_info(info: &DataInfo, num_vars: usize, channels: usize) -> Result<(), String> {
    if info.num_vars != num_vars {
        return Err(format!(
            "num_vars is {}, but the model has {num_vars} variables",
            info.num_vars
        ));
    }
    if info.channels != channels {
        return Err(format!(
            "channels is {}, but the model has {channels} channels per variable",
            info.channels
        ));
    }
    if let Some([h, w]) = info.image_shape {
        if h.checked_mul(w) != Some(num_vars) {
            return Err(format!(
                "image_shape is {h}x{w}, which is not the model's {num_vars} variables"
            ));
        }
    }
    if let Some(table) = &info.table {
        if table.columns.len() != num_vars {
            return Err(format!(
                "the table has {} columns, but the model has {num_vars} variables",
                table.columns.len()
            ));
        }
        if let Some(c) = table.columns.iter().find(|c| !c.offset.is_finite()) {
            return Err(format!(
                "the offset of column '{}' is {}, not a number",
                c.name, c.offset
            ));
        }
    }
    if !(info.scale.is_finite() && info.scale > 0.0) {
        return Err(format!("scale is {}, not a positive number", info.scale));
    }
    if let Some(max) = info.pixel_max.filter(|m| !(m.is_finite() && *m > 0.0)) {
        return Err(format!("pixel_max is {max}, not a positive number"));
    }
    Ok(())
}

/// `x` as the `f64` of its shortest decimal form, so that 0.05 is written as 0.05, not
/// 0.0500000007.
pub fn decimal_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// EM settings as a training record stores them, with the `f32` values written the way
/// they were given (0.05, not 0.0500000007).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum EmRecord {
    /// Stepwise EM.
    Stepwise {
        /// Batches between updates.
        frequency: usize,
        /// Step size.
        step_size: f64,
        /// How a step blends a batch in.
        rule: StepwiseRule,
        /// Pseudocount.
        pseudocount: f64,
    },
    /// Full-batch EM.
    Full {
        /// Pseudocount.
        pseudocount: f64,
    },
}

impl From<&EmConfig> for EmRecord {
    fn from(em: &EmConfig) -> Self {
        let pseudocount = decimal_f64(em.pseudocount);
        match em.mode {
            EmMode::Stepwise {
                frequency,
                step_size,
                rule,
            } => EmRecord::Stepwise {
                frequency,
                step_size: decimal_f64(step_size),
                rule,
                pseudocount,
            },
            EmMode::FullBatch => EmRecord::Full { pseudocount },
        }
    }
}

impl TrainingRecord {
    /// The record of `trained` on `data` with `config` on `device`; `tool` names the program
    /// (e.g. `einet-cli 0.1.0 (train)`).
    pub fn new(
        trained: &Trained,
        data: &TrainingData,
        config: &TrainConfig,
        device: &Device,
        tool: String,
    ) -> Self {
        let best = trained.best();
        let info = &data.data.info;
        TrainingRecord {
            tool,
            data: info.clone(),
            structure: trained.structure.clone(),
            k_leaf: trained.k_leaf,
            k_sum: trained.k_sum,
            leaf: data.leaves.default,
            em: EmRecord::from(&config.em),
            mini_batch_runs_all_epochs: config.mini_batch_runs_all_epochs,
            softening: decimal_f64(config.em.regularisation.softening),
            entropy: decimal_f64(config.em.regularisation.entropy),
            leaf_init: config.leaf_init,
            // Epochs run: fewer than configured when the patience stopped training early.
            epochs: trained.history.len(),
            step_size_end: config.step_size_end,
            full_batch_epochs: config.full_batch_epochs,
            batch_size: config.batch_size,
            seed: config.seed,
            backend: device.name().into(),
            precision: device.precision(),
            threads: device.threads(),
            best_epoch: best.epoch,
            train_ll: best.train_ll,
            valid_ll: best.valid_ll,
            test_ll: best.test_ll,
            test_bpd: info.bits_per_dim(best.test_ll),
            seconds: trained.seconds,
        }
    }

    /// The record as the JSON a model file stores.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use einet_core::{EinetConfig, random_binary_trees};
    use serde_json::json;

    /// A 6-variable Bernoulli model whose training record holds `data`.
    fn model_with(data: serde_json::Value) -> Einet {
        let graph = random_binary_trees(6, 1, 1, 0).unwrap();
        let mut einet = Einet::new(graph, EinetConfig::new(2, LeafFamily::Bernoulli), 0).unwrap();
        einet.training = json!({ "data": data });
        einet
    }

    fn info(
        num_vars: usize,
        channels: usize,
        image_shape: Option<[usize; 2]>,
    ) -> serde_json::Value {
        json!({
            "dataset": "digits",
            "num_vars": num_vars,
            "channels": channels,
            "image_shape": image_shape,
            "pixel_max": 16.0,
            "scale": 1.0,
        })
    }

    #[test]
    fn records_that_contradict_the_model_are_refused_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.einet");
        let base = model_with(info(6, 1, None));
        let tree = json!({"root": 0, "parent": [null, 0, 0, 1, 1, 2]});
        let hclt = |parent: serde_json::Value| {
            json!({"kind": "hclt", "trees": [{"root": 0, "parent": parent}],
                   "bins": 8, "rows": 10, "pseudocount": 0.1, "seed": 0})
        };
        let mut good = base.clone();
        good.training["k_sum"] = json!(2);
        good.training["k_leaf"] = json!(2);
        good.training["leaf"] = serde_json::to_value(LeafFamily::Bernoulli).unwrap();
        good.training["structure"] = hclt(tree["parent"].clone());
        good.save(&path).unwrap();
        load_model(&path).unwrap();
        for (field, value, what) in [
            ("k_sum", json!(3), "k_sum is 3, but the model's is 2"),
            (
                "k_leaf",
                json!("two"),
                "k_leaf is \"two\", but the model's is 2",
            ),
            (
                "leaf",
                serde_json::to_value(LeafFamily::Binomial { trials: 3 }).unwrap(),
                "leaf is binomial(3), but the model's is bernoulli",
            ),
            (
                "structure",
                hclt(json!([null, 0, 0])),
                "tree 0 spans 3 variables, but the model has 6",
            ),
            ("structure", hclt(json!([null, 2, 1, 0, 0, 0])), "tree 0:"),
            ("data", info(7, 1, None), "num_vars is 7"),
        ] {
            let mut bad = good.clone();
            bad.training[field] = value;
            bad.save(&path).unwrap();
            let err = format!("{:#}", load_model(&path).unwrap_err());
            assert!(err.contains(what), "{what}: {err}");
            assert!(err.contains("m.einet"), "{err}");
        }
    }

    #[test]
    fn data_info_is_checked_against_the_layout() {
        let path = Path::new("m.einet");
        let ok = data_info(&model_with(info(6, 1, Some([2, 3]))), path).unwrap();
        assert_eq!(ok.unwrap().image_shape, Some([2, 3]));
        let mut none = model_with(json!(null));
        none.training = json!({ "epochs": 1 });
        assert!(data_info(&none, path).unwrap().is_none());
        for (data, what) in [
            (
                info(0, 1, Some([0, 0])),
                "num_vars is 0, but the model has 6",
            ),
            (info(6, 0, None), "channels is 0, but the model has 1"),
            (info(6, 3, Some([2, 3])), "channels is 3"),
            (info(6, 1, Some([8, 8])), "image_shape is 8x8"),
            (info(6, 1, Some([usize::MAX, 2])), "image_shape is"),
            (json!({ "dataset": "digits" }), "missing field `num_vars`"),
            (json!("digits"), "invalid type"),
        ] {
            let err = data_info(&model_with(data), path).unwrap_err().to_string();
            assert!(
                err.starts_with("m.einet: the training record's data"),
                "{err}"
            );
            assert!(err.contains(what), "{what}: {err}");
        }
        let mut zero_scale = info(6, 1, None);
        zero_scale["scale"] = json!(0.0);
        let err = data_info(&model_with(zero_scale), path).unwrap_err();
        assert!(err.to_string().contains("scale is 0"), "{err}");
    }

    #[test]
    fn the_precision_is_recorded_and_earlier_records_read_as_fp32() {
        // The training record of an einet-cli 0.1.0 model written before precisions existed.
        let earlier = json!({"backend": "cpu", "batch_size": 100, "best_epoch": 1,
            "data": {"channels": 1, "data_dir": "data", "dataset": "nltcs", "image_shape": null,
                "num_vars": 16,
                "pixel_max": null, "rows": [16181, 2157, 3236], "scale": 1.0, "split_seed": 0},
            "em": {"frequency": 1, "mode": "stepwise", "pseudocount": 0.0,
                "rule": "parameters", "step_size": 0.05},
            "epochs": 1, "k_leaf": 20, "k_sum": 20, "leaf": {"family": "bernoulli"},
            "leaf_init": {"init": "random"}, "seconds": 4.3, "seed": 0,
            "structure": {"depth": 3, "kind": "rat", "repetitions": 10, "seed": 0},
            "test_bpd": null, "test_ll": -6.1, "threads": 2, "tool": "einet-cli 0.1.0 (train)",
            "train_ll": -6.09, "valid_ll": -6.06});
        let mut record: TrainingRecord = serde_json::from_value(earlier.clone()).unwrap();
        assert_eq!(record.precision, Precision::Fp32);
        assert_eq!(
            record.to_json(),
            earlier,
            "an fp32 record is written as before"
        );
        record.precision = Precision::Bf16;
        let written = record.to_json();
        assert_eq!(written["precision"], "bf16");
        let read: TrainingRecord = serde_json::from_value(written).unwrap();
        assert_eq!(read.precision, Precision::Bf16);
    }

    #[test]
    fn decimal_f64_keeps_the_written_digits() {
        assert_eq!(decimal_f64(0.05), 0.05);
        assert_ne!(f64::from(0.05f32), 0.05);
        assert_eq!(decimal_f64(1e-6), 1e-6);
    }
}

#[cfg(test)]
mod em_record_tests {
    use super::*;

    #[test]
    fn em_records_are_the_json_of_earlier_model_files() {
        let stepwise = EmRecord::from(&EmConfig::default());
        assert_eq!(
            serde_json::to_value(&stepwise).unwrap(),
            serde_json::json!({"mode": "stepwise", "frequency": 1, "step_size": 0.05,
                "rule": "parameters", "pseudocount": 0.0})
        );
        let full = EmRecord::from(&EmConfig {
            mode: EmMode::FullBatch,
            pseudocount: 0.1,
            regularisation: Default::default(),
        });
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            serde_json::json!({"mode": "full", "pseudocount": 0.1})
        );
    }
}
