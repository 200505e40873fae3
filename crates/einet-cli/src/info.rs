//! `einet info`: structure, size, leaves and training configuration of a model.

use anyhow::Result;
use einet::core::{Einet, Layer};
use serde_json::json;

use crate::InfoArgs;
use einet::{data_info, load_model};

/// The facts `einet info` shows, as JSON.
pub fn describe(einet: &Einet) -> serde_json::Value {
    let layout = &einet.layout;
    let counts = einet.graph.counts();
    let einsum_layers = layout
        .layers
        .iter()
        .filter(|l| matches!(l, Layer::Einsum(_)))
        .count();
    json!({
        "num_vars": layout.num_vars,
        "num_channels": layout.num_channels,
        "num_classes": layout.num_classes(),
        "k_leaf": einet.config.k_leaf,
        "k_sum": einet.config.k_sum,
        "leaf_families": layout.leaf.families.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "leaves": einet.config.leaves,
        "structure": counts,
        "layers": {
            "einsum": einsum_layers,
            "mixing": layout.layers.len() - einsum_layers,
        },
        "params": layout.num_params(),
        "sum_weights": layout.num_sum_weights(),
        "leaf_params": layout.leaf.num_params,
        "forward_flops_per_sample": layout.forward_flops_per_sample(),
        "training": einet.training,
    })
}

/// Runs `einet info`.
pub fn run(args: &InfoArgs) -> Result<()> {
    let einet = load_model(&args.model)?;
    let d = describe(&einet);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let s = &d["structure"];
    println!("model       {}", args.model.display());
    println!(
        "variables   {} × {} channel(s), {} class(es)",
        d["num_vars"], d["num_channels"], d["num_classes"]
    );
    println!(
        "structure   {} sum regions, {} leaf regions, {} products, {} regions with several \
         products",
        s["sum_regions"], s["leaf_regions"], s["products"], s["mixed_regions"]
    );
    println!(
        "layers      {} einsum, {} mixing",
        d["layers"]["einsum"], d["layers"]["mixing"]
    );
    println!("K           {} (leaves {})", d["k_sum"], d["k_leaf"]);
    let families: Vec<String> = einet
        .layout
        .leaf
        .families
        .iter()
        .map(|f| f.name())
        .collect();
    println!("leaves      {}", families.join(", "));
    println!(
        "parameters  {} ({} sum weights, {} leaf)",
        d["params"], d["sum_weights"], d["leaf_params"]
    );
    println!(
        "cost        {:.3} MFLOP per sample (forward pass: einsum and mixing layers)",
        einet.layout.forward_flops_per_sample() as f64 / 1e6
    );
    let t = &einet.training;
    if t.is_null() {
        println!("training    (no record)");
    } else {
        match data_info(&einet, &args.model) {
            Ok(Some(info)) => println!("data        {}", info.summary()),
            Ok(None) => {}
            Err(e) => println!("data        {e:#}"),
        }
        if let Some(v) = t.get("structure") {
            println!("structure   {v}");
        }
        if let Some(v) = t.get("em") {
            println!("em          {v}");
        }
        for key in [
            "epochs",
            "batch_size",
            "seed",
            "backend",
            "best_epoch",
            "train_ll",
            "valid_ll",
            "test_ll",
            "test_bpd",
            "seconds",
        ] {
            if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                println!("{key:<11} {v}");
            }
        }
    }
    Ok(())
}
