//! `einet eval`: the log-likelihood of a data split.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet_core::{BackendModel, Einet, Root};
use einet_data::Dataset;
use serde_json::json;

use crate::EvalArgs;
use crate::dataset_arg::{Loaded, load_for_model};
use crate::record::{data_info, load_model};

/// Mean log-likelihood (nats per row) of `data` under the class mixture, in batches.
pub fn mean_ll(model: &mut dyn BackendModel, data: &Dataset, batch_size: usize) -> Result<f64> {
    if data.is_empty() {
        bail!("{} has no rows", data.name);
    }
    let mut total = 0.0f64;
    for batch in data.values.chunks(batch_size.max(1) * data.row_len()) {
        let ll = model
            .log_likelihood(batch, Root::Mixture)
            .with_context(|| format!("cannot evaluate {}", data.name))?;
        total += ll.iter().map(|&l| f64::from(l)).sum::<f64>();
    }
    Ok(total / data.rows() as f64)
}

/// Checks that every value of `data` suits the model's leaves, naming the first that does not.
pub fn check_data(einet: &Einet, data: &Dataset) -> Result<()> {
    let leaves = &einet.config.leaves;
    if leaves.groups.is_empty() {
        data.check_family(&leaves.default).with_context(|| {
            format!(
                "the data do not fit the model's {} leaves",
                leaves.default.name()
            )
        })?;
    }
    Ok(())
}

/// Loads the model and the data a command names (or the model's own data set).
pub fn model_and_data(data: &crate::ModelData) -> Result<(Einet, Loaded)> {
    let einet = load_model(&data.model)?;
    let info = data_info(&einet);
    let loaded = load_for_model(
        data.dataset.as_ref(),
        data.data_dir.as_deref(),
        info.as_ref(),
        einet.layout.num_vars,
        einet.layout.num_channels,
    )?;
    check_data(&einet, loaded.part(data.split))?;
    Ok((einet, loaded))
}

/// Runs `einet eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    args.run.init()?;
    let (einet, loaded) = model_and_data(&args.data)?;
    let data = loaded.part(args.data.split);
    let mut model = args.run.load(&einet)?;
    let start = Instant::now();
    let ll = mean_ll(model.as_mut(), data, args.batch_size)?;
    let seconds = start.elapsed().as_secs_f64();
    let bpd = loaded.info.bits_per_dim(ll);
    if args.json {
        let out = json!({
            "model": args.data.model,
            "dataset": loaded.spec.to_string(),
            "split": args.data.split,
            "rows": data.rows(),
            "log_likelihood": ll,
            "bits_per_dim": bpd,
            "seconds": seconds,
            "backend": args.run.backend,
        });
        println!("{out}");
    } else {
        println!(
            "{} {}: log-likelihood {ll:.6} nats/instance over {} rows",
            loaded.spec,
            args.data.split,
            data.rows()
        );
        if let Some(bpd) = bpd {
            println!("bits per dimension: {bpd:.4}");
        }
    }
    Ok(())
}
