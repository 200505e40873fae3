//! `einet bench`: the canonical configurations ([`einet::core::canonical`]) on random
//! data: forward and training throughput, achieved FLOP rate, and peak memory (the process's
//! resident set, and on the cuda backend the device memory the model held).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet::core::canonical::{CANONICAL_IDS, Canonical, random_rows};
use einet::core::{Einet, Layout, Root};
use serde_json::json;

use einet::args::{RunArgs, positive_usize};

/// `einet bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Configurations, comma-separated: A1 … C3 (the reference's), P1 … P4 (PyJuice's), or
    /// all [default: all but C3, whose 387 M parameters need a large machine]
    #[arg(long = "config", value_delimiter = ',', value_name = "IDS")]
    pub configs: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Rows per batch [default: each configuration's reference batch: 1000 for A1, A2, B3,
    /// C3, P1, P2; 512 for P3, P4; 100 for B1, B2, C1, C2]
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    pub batch_size: Option<usize>,
    /// Timed repetitions (after one warm-up); the median is reported
    #[arg(long, default_value_t = 5, value_parser = positive_usize, allow_hyphen_values = true)]
    pub repeats: usize,
    /// Write the results as a JSON array to this file
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Only build the structures and report parameters and FLOPs (no timing)
    #[arg(long)]
    pub dry_run: bool,
    /// Seed of the parameters and the random data
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Peak resident memory of this process (VmHWM), on Linux.
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak-memory counter (Linux ≥ 4.0); returns whether it worked.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Bytes as whole megabytes, `-` when unknown.
fn mega(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| format!("{:.0}", b as f64 / 1e6))
}

/// Runs `einet bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let device = args.run.device()?;
    let ids: Vec<String> = if args.configs.is_empty() {
        CANONICAL_IDS
            .iter()
            .filter(|&&id| id != "C3")
            .map(|&id| id.into())
            .collect()
    } else {
        args.configs
            .iter()
            .map(|s| s.trim().to_uppercase())
            .collect()
    };
    let mut chosen: Vec<Canonical> = Vec::new();
    for id in &ids {
        if id == "ALL" {
            chosen.extend(Canonical::all());
            continue;
        }
        match Canonical::get(id) {
            Some(c) => chosen.push(c),
            None => bail!(
                "unknown bench configuration '{id}'; choose from {} or all",
                CANONICAL_IDS.join(", ")
            ),
        }
    }
    let commit = einet::provenance::build_commit();
    let device_name = device.device_name().or_else(einet::provenance::cpu_model);
    println!(
        "einet bench on {} ({} backend, {} sums, {} threads), commit {}",
        device_name.as_deref().unwrap_or("an unknown device"),
        device.name(),
        device.precision(),
        device.threads(),
        commit.as_deref().unwrap_or("unknown")
    );
    let mut results = Vec::new();
    println!(
        "{:<4} {:>6} {:>12} {:>12} {:>10} {:>14} {:>14} {:>10} {:>9} {:>10} {:>10}",
        "id",
        "batch",
        "params",
        "ref params",
        "edges (M)",
        "fwd samples/s",
        "train samp/s",
        "MFLOP/smp",
        "GFLOP/s",
        "peak MB",
        "GPU MB"
    );
    for anchor in &chosen {
        let batch = args.batch_size.unwrap_or(anchor.reference_batch);
        let graph = anchor
            .graph(args.seed)
            .with_context(|| format!("cannot build the structure of {}", anchor.id))?;
        let config = anchor.config.clone();
        let layout = Layout::new(&graph, &config)
            .with_context(|| format!("cannot lay out {}", anchor.id))?;
        let params = layout.num_params();
        let edges = layout.num_edges();
        let reference = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let edges_text = format!(
            "{:.2}{}",
            edges as f64 / 1e6,
            anchor
                .reference_edges_millions
                .map_or(String::new(), |r| format!("/{r:.2}"))
        );
        let flops = layout.forward_flops_per_sample();
        let counts = graph.counts();
        let mut result = json!({
            "config": anchor.id,
            "structure": anchor.structure,
            "leaf": config.leaves.default.name(),
            "k": config.k_sum,
            "step_size": einet::record::decimal_f64(anchor.step_size),
            "backend": device.name(),
            "precision": device.precision(),
            "device": device_name,
            "commit": commit,
            "threads": device.threads(),
            "batch_size": batch,
            "repeats": args.repeats,
            "params": params,
            "reference_params": anchor.reference_params,
            "layer": config.layer.name(),
            "edges": edges,
            "reference_edges_millions": anchor.reference_edges_millions,
            "sum_regions": counts.sum_regions,
            "leaf_regions": counts.leaf_regions,
            "products": counts.products,
            "flops_per_sample": flops,
        });
        if args.dry_run {
            println!(
                "{:<4} {:>6} {:>12} {:>12} {:>10} {:>14} {:>14} {:>10.3} {:>9} {:>10} {:>10}",
                anchor.id,
                batch,
                params,
                reference(anchor.reference_params),
                edges_text,
                "-",
                "-",
                flops as f64 / 1e6,
                "-",
                "-",
                "-"
            );
            results.push(result);
            continue;
        }
        let reset = reset_peak_memory();
        let einet = Einet::new(graph, config, args.seed)
            .with_context(|| format!("cannot build {}", anchor.id))?;
        let data = random_rows(&einet, batch, args.seed);
        device.reset_peak_memory();
        let mut model = device.load(&einet)?;
        drop(einet);
        let mut forward = Vec::with_capacity(args.repeats);
        for i in 0..=args.repeats {
            let t = Instant::now();
            let ll = model
                .log_likelihood(&data, Root::Mixture)
                .with_context(|| format!("{}: forward pass failed", anchor.id))?;
            std::hint::black_box(ll);
            if i > 0 {
                forward.push(t.elapsed().as_secs_f64());
            }
        }
        let mut train = Vec::with_capacity(args.repeats);
        for i in 0..=args.repeats {
            let t = Instant::now();
            model
                .em_accumulate(&data, Root::Mixture)
                .with_context(|| format!("{}: EM statistics failed", anchor.id))?;
            model
                .em_update(anchor.m_step())
                .with_context(|| format!("{}: EM update failed", anchor.id))?;
            if i > 0 {
                train.push(t.elapsed().as_secs_f64());
            }
        }
        let device_memory = device.peak_memory_allocated();
        drop(model);
        let (fwd_s, train_s) = (median(forward), median(train));
        let fwd_rate = batch as f64 / fwd_s;
        let train_rate = batch as f64 / train_s;
        let gflops = flops as f64 * fwd_rate / 1e9;
        let peak = peak_memory_bytes();
        result["forward_seconds"] = json!(fwd_s);
        result["train_seconds"] = json!(train_s);
        result["forward_samples_per_s"] = json!(fwd_rate);
        result["train_samples_per_s"] = json!(train_rate);
        result["peak_memory_bytes"] = json!(peak);
        result["peak_memory_is_per_config"] = json!(reset);
        result["achieved_gflops"] = json!(gflops);
        result["peak_device_memory_bytes"] = json!(device_memory);
        println!(
            "{:<4} {:>6} {:>12} {:>12} {:>10} {:>14.0} {:>14.0} {:>10.3} {:>9.2} {:>10} {:>10}",
            anchor.id,
            batch,
            params,
            reference(anchor.reference_params),
            edges_text,
            fwd_rate,
            train_rate,
            flops as f64 / 1e6,
            gflops,
            mega(peak),
            mega(device_memory)
        );
        results.push(result);
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
