//! `einet eval`: the log-likelihood of a data split.

use std::time::Instant;

use std::fmt::Write as _;

use anyhow::{Context, Result};
use einet::core::write_atomic;
use einet::queries::{check_data, log_likelihoods};
use einet::registry::load_for_model;
use einet::{Einet, Loaded, Split, data_info, load_model};
use serde::Serialize;
use serde_json::json;

use crate::{EvalArgs, ModelSource};

/// Loads the model and the data a command names (or the model's own data set), checking
/// the `parts` it will use against the model.
pub fn model_and_data(source: &ModelSource, parts: &[Split]) -> Result<(Einet, Loaded)> {
    let einet = load_model(&source.model)?;
    let info = data_info(&einet, &source.model)?;
    let loaded = load_for_model(
        source.dataset.as_ref(),
        source.data_dir.as_deref(),
        info.as_ref(),
        einet.layout.num_vars,
        einet.layout.num_channels,
    )?;
    for &part in parts {
        check_data(&einet, loaded.part(part))?;
    }
    Ok((einet, loaded))
}

/// The log-likelihood of one part.
#[derive(Serialize)]
struct PartResult {
    split: String,
    rows: usize,
    log_likelihood: f64,
    bits_per_dim: Option<f64>,
}

/// Runs `einet eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let device = args.run.device()?;
    let parts = args.split.parts();
    let (einet, loaded) = model_and_data(&args.source, &parts)?;
    let mut model = device.load(&einet)?;
    let start = Instant::now();
    let mut results = Vec::new();
    let mut per_row = String::from("split,row,line,log_likelihood\n");
    let (mut total, mut rows) = (0.0f64, 0usize);
    for &part in &parts {
        let data = loaded.part(part);
        let ll = log_likelihoods(model.as_mut(), data, args.batch_size)?;
        let sum: f64 = ll.iter().map(|&l| f64::from(l)).sum();
        if args.per_row.is_some() {
            let lines = data.provenance.as_ref().map(|p| &p.lines[..]);
            for (r, l) in ll.iter().enumerate() {
                let line = lines
                    .and_then(|lines| lines.get(r))
                    .map_or(String::new(), usize::to_string);
                writeln!(per_row, "{part},{r},{line},{l}")?;
            }
        }
        let mean = sum / data.rows() as f64;
        (total, rows) = (total + sum, rows + data.rows());
        results.push(PartResult {
            split: part.to_string(),
            rows: data.rows(),
            log_likelihood: mean,
            bits_per_dim: loaded.info.bits_per_dim(mean),
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(path) = &args.per_row {
        write_atomic(path, |w| w.write_all(per_row.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let overall = PartResult {
        split: if parts.len() == 1 {
            parts[0].to_string()
        } else {
            "all".into()
        },
        rows,
        log_likelihood: total / rows as f64,
        bits_per_dim: loaded.info.bits_per_dim(total / rows as f64),
    };
    if args.json {
        let mut out = json!({
            "model": args.source.model,
            "dataset": loaded.spec.to_string(),
            "split": overall.split,
            "rows": overall.rows,
            "log_likelihood": overall.log_likelihood,
            "bits_per_dim": overall.bits_per_dim,
            "seconds": seconds,
            "backend": args.run.backend,
        });
        if parts.len() > 1 {
            out["parts"] = serde_json::to_value(&results)?;
        }
        if let Some(path) = &args.per_row {
            out["per_row"] = json!(path);
        }
        println!("{out}");
    } else {
        let shown = if parts.len() > 1 {
            results
                .iter()
                .chain(std::iter::once(&overall))
                .collect::<Vec<_>>()
        } else {
            vec![&overall]
        };
        for r in shown {
            println!(
                "{} {}: log-likelihood {:.6} nats/instance over {} rows{}",
                loaded.spec,
                r.split,
                r.log_likelihood,
                r.rows,
                match r.bits_per_dim {
                    Some(b) => format!(" ({b:.4} bits/dim)"),
                    None => String::new(),
                }
            );
        }
    }
    if let (Some(path), false) = (&args.per_row, args.json) {
        println!("wrote {}", path.display());
    }
    Ok(())
}
