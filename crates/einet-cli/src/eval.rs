//! `einet eval`: the log-likelihood of a data split.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet_core::{BackendModel, Einet, Root};
use einet_data::Dataset;
use serde_json::json;

use crate::EvalArgs;
use crate::record::{data_info, load_model};
use einet_data::registry::{Loaded, load_for_model};

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

/// Checks that every value of `data` suits the leaf family of its variable, naming the first
/// that does not by its place in the data set (file line and column for text data).
pub fn check_data(einet: &Einet, data: &Dataset) -> Result<()> {
    let layout = &einet.layout;
    if data.row_len() != layout.row_len() {
        bail!(
            "{} has {} variables × {} channels, but the model expects {} × {}",
            data.name,
            data.num_vars,
            data.num_channels,
            layout.num_vars,
            layout.num_channels
        );
    }
    let leaf = &layout.leaf;
    data.check_families(|var| &leaf.families[usize::from(leaf.var_family[var])])
        .context("the data do not fit the model's leaves")
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use einet_core::{EinetConfig, LeafFamily, LeafGroup, LeafSpec, random_binary_trees};

    /// Four variables: Bernoulli leaves, and categorical(3) for variables 2 and 3.
    fn grouped_model() -> Einet {
        let mut config = EinetConfig::new(2, LeafFamily::Bernoulli);
        config.leaves = LeafSpec {
            default: LeafFamily::Bernoulli,
            groups: vec![LeafGroup {
                vars: vec![2, 3],
                family: LeafFamily::Categorical { categories: 3 },
            }],
        };
        Einet::new(random_binary_trees(4, 1, 1, 0).unwrap(), config, 0).unwrap()
    }

    #[test]
    fn values_are_checked_with_their_variables_family_at_their_data_set_row() {
        let einet = grouped_model();
        let mut values = vec![0.0f32; 1500 * 4];
        values[700 * 4 + 2] = 2.0; // a category, though not a Bernoulli value
        let data = Dataset::new("d.test", 4, 1, values.clone()).unwrap();
        check_data(&einet, &data).unwrap();
        values[1200 * 4 + 3] = 3.0;
        let data = Dataset::new("d.test", 4, 1, values.clone()).unwrap();
        let err = format!("{:#}", check_data(&einet, &data).unwrap_err());
        assert!(
            err.contains("d.test row 1200, variable 3: value 3 is not valid for categorical(3)"),
            "{err}"
        );
        values[1200 * 4 + 3] = 0.0;
        values[1300 * 4] = 2.0;
        let data = Dataset::new("d.test", 4, 1, values).unwrap();
        let err = format!("{:#}", check_data(&einet, &data).unwrap_err());
        assert!(
            err.contains("row 1300, variable 0: value 2 is not valid for bernoulli"),
            "{err}"
        );
    }

    #[test]
    fn values_of_a_text_file_are_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut text = String::from("a,b,c,d\n");
        for i in 0..1500 {
            text.push_str(if i == 1200 { "0,1,2,5\n" } else { "0,1,2,0\n" });
        }
        std::fs::write(&path, text).unwrap();
        let data = einet_data::csv(&path, einet_data::CsvOptions::default()).unwrap();
        let err = format!("{:#}", check_data(&grouped_model(), &data).unwrap_err());
        assert!(err.contains("d.csv line 1202, column 4: value 5"), "{err}");
    }

    #[test]
    fn data_of_another_shape_are_refused() {
        let data = Dataset::new("d.test", 3, 1, vec![0.0; 6]).unwrap();
        let err = format!("{:#}", check_data(&grouped_model(), &data).unwrap_err());
        assert!(err.contains("d.test has 3 variables"), "{err}");
    }
}
