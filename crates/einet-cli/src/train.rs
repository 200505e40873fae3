//! `einet train`: EM training with best-validation model selection.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet_core::{Einet, EinetConfig, EmConfig, EmMode, LeafSpec, Root};
use serde_json::json;

use crate::backend_arg::RunArgs;
use crate::dataset_arg::{DatasetSpec, load, resolve_root};
use crate::eval::mean_ll;
use crate::leaf_arg::LeafArg;
use crate::progress::EpochProgress;
use crate::record::TrainingRecord;
use crate::structure_arg::StructureArgs;
use crate::{positive_usize, sample};

/// How EM updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EmArg {
    /// Stepwise (online) EM: a step toward the batch estimate every --frequency batches
    Stepwise,
    /// Full-batch EM: one update per epoch
    Full,
}

/// `einet train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Data set: digits, nltcs, debd:NAME, mnist, cifar or csv:PATH
    #[arg(long, short = 'd')]
    pub dataset: DatasetSpec,
    /// Data folder [default: $EINET_DATA, else the repository's data/]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub structure: StructureArgs,
    /// Vector length K of internal regions [default: 10 for images, 20 otherwise]
    #[arg(long, short = 'k', value_parser = positive_usize, allow_hyphen_values = true)]
    pub k: Option<usize>,
    /// Vector length K of leaf regions [default: K]
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    pub k_leaf: Option<usize>,
    /// Leaf family: bernoulli, categorical[:N], binomial[:N] or normal[:MIN_VAR,MAX_VAR]
    /// [default: bernoulli for binary data, binomial for 8×8 digits and MNIST, normal for
    /// CIFAR (pixels scaled to [0, 1]), categorical for other integer data, normal for real
    /// data]
    #[arg(long)]
    pub leaf: Option<LeafArg>,
    /// EM mode
    #[arg(long, value_enum, default_value_t = EmArg::Stepwise)]
    pub em: EmArg,
    /// Stepwise EM: step size in (0, 1]
    #[arg(long, default_value_t = 0.05, value_parser = parse_step_size, allow_hyphen_values = true)]
    pub step_size: f32,
    /// Stepwise EM: batches between updates
    #[arg(long, default_value_t = 1, value_parser = positive_usize, allow_hyphen_values = true)]
    pub frequency: usize,
    /// Pseudocount added to every expected count (sum weights and discrete leaves)
    #[arg(long, default_value_t = 0.0, value_parser = parse_pseudocount, allow_hyphen_values = true)]
    pub pseudocount: f32,
    /// Passes over the training data
    #[arg(long, default_value_t = 10, value_parser = positive_usize, allow_hyphen_values = true)]
    pub epochs: usize,
    /// Rows per mini-batch
    #[arg(long, default_value_t = 100, value_parser = positive_usize, allow_hyphen_values = true)]
    pub batch_size: usize,
    /// Seed of the structure, the initial parameters and the batch order
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub run: RunArgs,
    /// Output folder [default: runs/<dataset>]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Do not write samples.png for image data
    #[arg(long)]
    pub no_samples: bool,
}

fn parse_step_size(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!(
            "the step size must be a number in (0, 1], got '{s}'"
        )),
    }
}

fn parse_pseudocount(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if x >= 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("the pseudocount must be a number >= 0, got '{s}'")),
    }
}

/// Runs `einet train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    args.run.init()?;
    let started = Instant::now();
    let root = resolve_root(args.data_dir.as_deref(), None);
    let mut data = load(&args.dataset, &root)?;
    let (family, scale) = crate::leaf_arg::resolve(args.leaf, &data)?;
    data.rescale(scale);
    for part in [&data.train, &data.valid, &data.test] {
        part.check_family(&family).with_context(|| {
            format!(
                "the data set '{}' does not fit {} leaves; choose another --leaf",
                args.dataset,
                family.name()
            )
        })?;
    }
    let info = data.info.clone();
    let (graph, structure) =
        crate::structure_arg::build(&args.structure, info.num_vars, info.image_shape, args.seed)?;
    let k_sum = args.k.unwrap_or(if info.is_image() { 10 } else { 20 });
    let k_leaf = args.k_leaf.unwrap_or(k_sum);
    let config = EinetConfig {
        k_leaf,
        k_sum,
        num_classes: 1,
        num_channels: info.channels,
        leaves: LeafSpec::uniform(family),
    };
    let counts = graph.counts();
    let mut einet = Einet::new(graph, config, args.seed).context("cannot build the model")?;
    let em = EmConfig {
        mode: match args.em {
            EmArg::Stepwise => EmMode::Stepwise {
                frequency: args.frequency,
                step_size: args.step_size,
            },
            EmArg::Full => EmMode::FullBatch,
        },
        pseudocount: args.pseudocount,
    };
    let mut model = args.run.load(&einet)?;

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(args.dataset.short_name()));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let model_path = out.join("model.einet");
    let metrics_path = out.join("metrics.jsonl");
    let mut metrics = BufWriter::new(
        File::create(&metrics_path)
            .with_context(|| format!("cannot create {}", metrics_path.display()))?,
    );

    println!(
        "{}: {} train / {} valid / {} test rows, {} variables{}",
        args.dataset,
        data.train.rows(),
        data.valid.rows(),
        data.test.rows(),
        info.num_vars,
        match info.image_shape {
            Some([h, w]) => format!(" ({h}x{w}, {} channel(s))", info.channels),
            None => String::new(),
        }
    );
    println!(
        "model: {} ({} sum regions, {} leaf regions, {} products), K = {k_sum} (leaves {k_leaf}), \
         {} leaves, {} parameters",
        structure_summary(&structure),
        counts.sum_regions,
        counts.leaf_regions,
        counts.products,
        family.name(),
        einet.layout.num_params()
    );
    println!(
        "training: {} EM, {} epochs, batch {}, seed {}, backend {} ({} threads)",
        match em.mode {
            EmMode::Stepwise {
                frequency,
                step_size,
            } => format!("stepwise (step {step_size}, every {frequency} batch(es))"),
            EmMode::FullBatch => "full-batch".into(),
        },
        args.epochs,
        args.batch_size,
        args.seed,
        args.run.backend.name(),
        args.run.threads()
    );

    let eval_batch = args.batch_size.max(256);
    let mut best: Option<(usize, f64, f64, f64, einet_core::Params)> = None;
    let mut batches_seen = 0usize;
    for epoch in 1..=args.epochs {
        let batches = data
            .train
            .epoch_batches(args.batch_size, Some(args.seed), epoch as u64);
        let mut progress = EpochProgress::new(batches.len(), epoch, args.epochs);
        for batch in batches {
            let ll = model
                .em_accumulate(batch.values(), Root::Mixture)
                .with_context(|| format!("EM statistics failed in epoch {epoch}"))?;
            progress.batch(batch.rows(), ll);
            batches_seen += 1;
            if let EmMode::Stepwise {
                frequency,
                step_size,
            } = em.mode
            {
                if batches_seen % frequency == 0 {
                    model.em_update(step_size, em.pseudocount)?;
                }
            }
        }
        if em.mode == EmMode::FullBatch {
            model.em_update(1.0, em.pseudocount)?;
        }
        progress.finish();
        let (seconds, samples_per_s, running) = (
            progress.seconds(),
            progress.samples_per_s(),
            progress.running_ll(),
        );
        drop(progress);
        let eval_start = Instant::now();
        let spinner = crate::progress::spinner(format!("epoch {epoch}: evaluating"));
        let train_ll = mean_ll(model.as_mut(), &data.train, eval_batch)?;
        let valid_ll = mean_ll(model.as_mut(), &data.valid, eval_batch)?;
        let test_ll = mean_ll(model.as_mut(), &data.test, eval_batch)?;
        spinner.finish_and_clear();
        if !(train_ll.is_finite() && valid_ll.is_finite() && test_ll.is_finite()) {
            bail!(
                "training diverged in epoch {epoch} (train LL {train_ll}, valid LL {valid_ll}); \
                 try a smaller --step-size or a positive --pseudocount"
            );
        }
        let improved = best.as_ref().is_none_or(|b| valid_ll > b.2);
        if improved {
            best = Some((epoch, train_ll, valid_ll, test_ll, model.params()?));
        }
        let line = json!({
            "epoch": epoch,
            "train_ll": train_ll,
            "train_ll_running": running,
            "valid_ll": valid_ll,
            "test_ll": test_ll,
            "valid_bpd": info.bits_per_dim(valid_ll),
            "test_bpd": info.bits_per_dim(test_ll),
            "seconds": seconds,
            "eval_seconds": eval_start.elapsed().as_secs_f64(),
            "samples_per_s": samples_per_s,
        });
        writeln!(metrics, "{line}")
            .and_then(|()| metrics.flush())
            .with_context(|| format!("cannot write {}", metrics_path.display()))?;
        println!(
            "epoch {epoch:>3}/{}  train LL {train_ll:.4}  valid LL {valid_ll:.4}  test LL \
             {test_ll:.4}  {seconds:.1} s  {samples_per_s:.0} samples/s{}",
            args.epochs,
            if improved { "  *" } else { "" }
        );
    }
    let Some((best_epoch, train_ll, valid_ll, test_ll, params)) = best else {
        bail!("no epoch was run");
    };
    einet.params = params;
    let test_bpd = info.bits_per_dim(test_ll);
    let record = TrainingRecord {
        tool: format!("einet-cli {}", env!("CARGO_PKG_VERSION")),
        data: info.clone(),
        structure,
        k_leaf,
        k_sum,
        leaf: family,
        em: crate::record::em_json(&em),
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        backend: args.run.backend.name().into(),
        threads: args.run.threads(),
        best_epoch,
        train_ll,
        valid_ll,
        test_ll,
        test_bpd,
        seconds: started.elapsed().as_secs_f64(),
    };
    einet.training = serde_json::to_value(&record).context("cannot record the training")?;
    einet
        .save(&model_path)
        .with_context(|| format!("cannot save the model to {}", model_path.display()))?;
    println!(
        "best epoch {best_epoch}: valid LL {valid_ll:.4}, test LL {test_ll:.4} nats/instance{}",
        match test_bpd {
            Some(b) => format!(" ({b:.4} bits/dim)"),
            None => String::new(),
        }
    );
    println!("wrote {}", model_path.display());
    println!("wrote {}", metrics_path.display());
    if info.is_image() && !args.no_samples {
        let path = out.join("samples.png");
        model.set_params(&einet.params)?;
        let values = model
            .sample(25, None, args.seed, 1.0)
            .context("cannot draw samples")?;
        sample::write_image_grid(&values, 25, &info, None, &path)?;
        println!("wrote {}", path.display());
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn structure_summary(s: &serde_json::Value) -> String {
    match s["kind"].as_str() {
        Some("rat") => format!(
            "random binary trees, depth {}, {} repetitions",
            s["depth"], s["repetitions"]
        ),
        Some("pd") => format!("Poon–Domingos {}, deltas {}", s["shape"], s["deltas"]),
        Some("json") => format!("region graph {}", s["path"]),
        _ => "custom structure".into(),
    }
}
