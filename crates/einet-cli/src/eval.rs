//! `einet eval`: the log-likelihood of a data split.

use std::time::Instant;

use anyhow::Result;
use einet::queries::{check_data, mean_log_likelihood};
use einet::registry::load_for_model;
use einet::{Einet, Loaded, data_info, load_model};
use serde_json::json;

use crate::EvalArgs;

/// Loads the model and the data a command names (or the model's own data set).
pub fn model_and_data(data: &crate::ModelData) -> Result<(Einet, Loaded)> {
    let einet = load_model(&data.model)?;
    let info = data_info(&einet, &data.model)?;
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
    let device = args.run.device()?;
    let (einet, loaded) = model_and_data(&args.data)?;
    let data = loaded.part(args.data.split);
    let mut model = device.load(&einet)?;
    let start = Instant::now();
    let ll = mean_log_likelihood(model.as_mut(), data, args.batch_size)?;
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
