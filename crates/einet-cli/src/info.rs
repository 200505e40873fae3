//! `einet info`: structure, size, leaves and training configuration of a model.

use anyhow::Result;
use einet::StructureRecord;
use einet::core::Einet;
use serde_json::json;

use crate::InfoArgs;
use einet::{data_info, load_model};

/// The facts `einet info` shows, as JSON.
pub fn describe(einet: &Einet) -> serde_json::Value {
    let layout = &einet.layout;
    let counts = einet.graph.counts();
    let mut layers = serde_json::Map::new();
    for name in ["einsum", "mixing", "product", "sum"] {
        let n = layout.layers.iter().filter(|l| l.name() == name).count();
        if n > 0 || matches!(name, "einsum" | "mixing") {
            layers.insert(name.into(), n.into());
        }
    }
    let trees = structure_record(einet).and_then(|r| match r {
        StructureRecord::Hclt { trees, .. } => Some(
            trees
                .iter()
                .map(|t| json!({"root": t.root, "edges": t.edges()}))
                .collect::<Vec<_>>(),
        ),
        _ => None,
    });
    json!({
        "num_vars": layout.num_vars,
        "num_channels": layout.num_channels,
        "num_classes": layout.num_classes(),
        "k_leaf": einet.config.k_leaf,
        "k_sum": einet.config.k_sum,
        "leaf_families": layout.leaf.families.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "leaves": einet.config.leaves,
        "structure": counts,
        "layer": einet.config.layer.name(),
        "layers": layers,
        "trees": trees,
        "params": layout.num_params(),
        "sum_weights": layout.num_sum_weights(),
        "edges": layout.num_edges(),
        "leaf_params": layout.leaf.num_params,
        "forward_flops_per_sample": layout.forward_flops_per_sample(),
        "training": einet.training,
    })
}

/// The structure record of `einet`'s training record, when it has one this version reads.
fn structure_record(einet: &Einet) -> Option<StructureRecord> {
    serde_json::from_value(einet.training.get("structure")?.clone()).ok()
}

/// Edges `einet info` prints per tree (`--json` shows all).
const EDGES_SHOWN: usize = 12;

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
    let layers: Vec<String> = d["layers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, n)| n.as_u64() != Some(0))
        .map(|(name, n)| format!("{n} {name}"))
        .collect();
    println!(
        "layers      {} ({})",
        layers.join(", "),
        einet.config.layer.name()
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
        "parameters  {} ({} sum weights, {} leaf); {} edges",
        d["params"], d["sum_weights"], d["leaf_params"], d["edges"]
    );
    println!(
        "cost        {:.3} MFLOP per sample (forward pass of the inner layers)",
        einet.layout.forward_flops_per_sample() as f64 / 1e6
    );
    let t = &einet.training;
    if t.is_null() {
        println!("training    (no record)");
    } else {
        if let Some(info) = data_info(&einet, &args.model)? {
            println!("data        {}", info.summary());
            if let Some(table) = &info.table {
                print_columns(&einet, table);
            }
        }
        match structure_record(&einet) {
            Some(record) => println!("structure   {}", record.summary()),
            None => {
                if let Some(v) = t.get("structure") {
                    println!("structure   {v}");
                }
            }
        }
        if let Some(StructureRecord::Hclt { trees, .. }) = structure_record(&einet) {
            for (i, tree) in trees.iter().enumerate() {
                let edges = tree.edges();
                let shown: Vec<String> = edges
                    .iter()
                    .take(EDGES_SHOWN)
                    .map(|(a, b)| format!("{a}-{b}"))
                    .collect();
                let more = edges.len().saturating_sub(EDGES_SHOWN);
                println!(
                    "tree {i:<6} root {}, edges {}{}",
                    tree.root,
                    shown.join(" "),
                    if more > 0 {
                        format!(" … ({more} more; --json lists all)")
                    } else {
                        String::new()
                    }
                );
            }
        }
        if let Some(c) = t.get("checkpoint") {
            println!("checkpoint  {}", checkpoint_summary(c, &args.model));
        }
        if let Some(v) = t.get("em") {
            println!("em          {v}");
        }
        for key in [
            "epochs",
            "batch_size",
            "seed",
            "backend",
            "precision",
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

/// Categories `einet info` lists per column.
const CATEGORIES_SHOWN: usize = 8;

/// One line per column of a table: name, leaf family, categories or offset.
fn print_columns(einet: &Einet, table: &einet::table::TableSchema) {
    let leaf = &einet.layout.leaf;
    let width = table
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for (v, column) in table.columns.iter().enumerate() {
        let family = leaf
            .var_family
            .get(v)
            .map_or_else(|| "?".to_string(), |&f| leaf.families[f as usize].name());
        let detail = if !column.categories.is_empty() {
            let shown: Vec<&str> = column
                .categories
                .iter()
                .take(CATEGORIES_SHOWN)
                .map(String::as_str)
                .collect();
            let more = column.categories.len().saturating_sub(CATEGORIES_SHOWN);
            format!(
                "categories {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" … ({more} more)")
                } else {
                    String::new()
                }
            )
        } else if column.offset != 0.0 {
            format!("offset {}", column.offset)
        } else {
            String::new()
        };
        let label = if v == 0 { "columns" } else { "" };
        println!("{label:<11} {:<width$}  {family}  {detail}", column.name);
    }
}

/// Where the run of a training checkpoint's record `c` stands, and how to continue it.
fn checkpoint_summary(c: &serde_json::Value, path: &std::path::Path) -> String {
    let state = &c["state"];
    let number = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let total = number(&c["config"]["epochs"]) + number(&c["config"]["full_batch_epochs"]);
    let at = match state["running"]["batches"].as_u64() {
        Some(b) => format!(
            "in epoch {} of {total} after batch {b}",
            number(&state["epoch"])
        ),
        None => format!("after epoch {} of {total}", number(&state["epoch"])),
    };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = folder.map_or(".".into(), |p| p.display().to_string());
    if state["finished"].as_bool() == Some(true) {
        format!("{at}, the run finished; einet train --resume {folder} writes its model")
    } else {
        format!("{at}; continue with einet train --resume {folder}")
    }
}
