//! The training record stored in a model file (`Einet::training`), and model loading.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use einet_core::{Einet, EmConfig, EmMode, LeafFamily, LeafInit};
use serde::{Deserialize, Serialize};

use einet_data::registry::DataInfo;

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

/// The data information of a model read from `path`: `None` when its training record has
/// none, an error naming the file and the field when it is malformed or does not fit the
/// model's layout.
pub fn data_info(einet: &Einet, path: &Path) -> Result<Option<DataInfo>> {
    let Some(data) = einet.training.get("data") else {
        return Ok(None);
    };
    let bad = |what: String| {
        anyhow!(
            "{}: the training record's data information is not usable: {what}",
            path.display()
        )
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

/// The EM settings as JSON, with the `f32` values printed the way they were given.
pub fn em_json(em: &EmConfig) -> serde_json::Value {
    let num = decimal_f64;
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
    fn decimal_f64_keeps_the_written_digits() {
        assert_eq!(decimal_f64(0.05), 0.05);
        assert_ne!(f64::from(0.05f32), 0.05);
        assert_eq!(decimal_f64(1e-6), 1e-6);
    }
}
