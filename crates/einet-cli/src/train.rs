//! `einet train`: EM training with best-validation model selection.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet_core::leaf_init::leaves_from_rows;
use einet_core::{
    Einet, EinetConfig, EmConfig, EmMode, LeafFamily, LeafInit, LeafSpec, MStep, Root, StepwiseRule,
};
use serde_json::json;

use crate::backend_arg::RunArgs;
use crate::eval::mean_ll;
use crate::leaf_arg::LeafArg;
use crate::progress::EpochProgress;
use crate::record::TrainingRecord;
use crate::structure_arg::StructureArgs;
use crate::{positive_usize, sample};
use einet_data::registry::{DataInfo, DatasetSpec, Loaded, SPLIT_SEED, load, resolve_root};

/// How EM updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EmArg {
    /// Stepwise (online) EM: a step toward the batch estimate every --frequency batches
    Stepwise,
    /// Full-batch EM: one update per epoch
    Full,
}

/// How a stepwise M-step blends a batch in (see [`StepwiseRule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StepwiseRuleArg {
    /// Stepwise EM on running statistics: each weight vector and leaf factor moves by its
    /// share of the running responsibility mass
    Statistics,
    /// The reference's rule: every weight vector and leaf factor moves by the step size
    Parameters,
}

impl From<StepwiseRuleArg> for StepwiseRule {
    fn from(rule: StepwiseRuleArg) -> Self {
        match rule {
            StepwiseRuleArg::Statistics => StepwiseRule::Statistics,
            StepwiseRuleArg::Parameters => StepwiseRule::Parameters,
        }
    }
}

/// How leaf parameters start (see [`LeafInit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LeafInitArg {
    /// Drawn per family without looking at the data, as the reference does
    Random,
    /// Each leaf component fitted to a few random training rows
    Data,
}

impl LeafInitArg {
    /// The initialisation with `rows` training rows per component.
    pub fn with_rows(self, rows: usize) -> LeafInit {
        match self {
            LeafInitArg::Random => LeafInit::Random,
            LeafInitArg::Data => LeafInit::Data {
                rows,
                pseudocount: INIT_PSEUDOCOUNT,
            },
        }
    }
}

/// Laplace smoothing of data-initialised discrete leaves.
const INIT_PSEUDOCOUNT: f32 = 1.0;

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
    /// (N at most 65536) [default: bernoulli for binary data, binomial for 8×8 digits and
    /// MNIST, normal for CIFAR (pixels scaled to [0, 1]); for other integer data categorical
    /// (N = largest value + 1) when the largest value is below 256, else binomial (N =
    /// largest value); normal for real data]
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
    /// Stepwise EM: how a step blends the batch in, parameters (the reference's rule) or
    /// statistics (running expected statistics: faster progress, can overfit small data)
    #[arg(long, value_enum, default_value_t = StepwiseRuleArg::Parameters)]
    pub stepwise_rule: StepwiseRuleArg,
    /// Pseudocount added to every expected count (sum weights and discrete leaves)
    #[arg(long, default_value_t = 0.0, value_parser = parse_pseudocount, allow_hyphen_values = true)]
    pub pseudocount: f32,
    /// How leaf parameters start: random (as the reference) or data (each leaf component
    /// fitted to --init-rows random training rows)
    #[arg(long, value_enum, default_value_t = LeafInitArg::Random)]
    pub leaf_init: LeafInitArg,
    /// Training rows per leaf component for --leaf-init data
    #[arg(long, default_value_t = 10, value_parser = positive_usize, allow_hyphen_values = true)]
    pub init_rows: usize,
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

/// Everything a training run needs besides the data and the backend: the model, EM and the
/// schedule. `einet train` builds one from its options; `einet experiment` builds many.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Structure options (RAT depth and repetitions, PD deltas, a JSON region graph).
    pub structure: StructureArgs,
    /// Vector length K of internal regions [default: 10 for images, 20 otherwise].
    pub k: Option<usize>,
    /// Vector length K of leaf regions [default: K].
    pub k_leaf: Option<usize>,
    /// EM mode and pseudocount.
    pub em: EmConfig,
    /// How leaf parameters start.
    pub leaf_init: LeafInit,
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// Seed of the structure, the initial parameters and the batch order (reshuffled every
    /// epoch).
    pub seed: u64,
    /// Evaluate the training set after each epoch; otherwise its running LL during the epoch
    /// (before each batch's update) stands in for it.
    pub eval_train: bool,
    /// Stop after this many epochs without a better validation LL.
    pub patience: Option<usize>,
    /// Show progress bars on stderr (when it is a terminal).
    pub progress: bool,
}

/// The log-likelihoods and timing of one epoch (nats per instance).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean LL of the training set after the epoch (the running LL when it is not evaluated).
    pub train_ll: f64,
    /// Mean LL of the training batches during the epoch, each before its update.
    pub train_ll_running: f64,
    /// Mean LL of the validation set after the epoch.
    pub valid_ll: f64,
    /// Mean LL of the test set after the epoch.
    pub test_ll: f64,
    /// Seconds of the EM pass.
    pub seconds: f64,
    /// Seconds of the evaluation.
    pub eval_seconds: f64,
    /// Training throughput.
    pub samples_per_s: f64,
    /// Whether the validation LL was the best so far.
    pub improved: bool,
}

/// A trained model: the parameters of the best-validation epoch and every epoch's metrics.
pub struct Trained {
    /// The model, holding the parameters of the best epoch.
    pub einet: Einet,
    /// How the structure was built (for the training record).
    pub structure: serde_json::Value,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
    /// Every epoch run, in order.
    pub history: Vec<EpochMetrics>,
    /// Index into `history` of the kept (best-validation) epoch.
    pub best: usize,
    /// Wall-clock seconds of training and evaluation.
    pub seconds: f64,
}

impl Trained {
    /// The metrics of the kept epoch.
    pub fn best(&self) -> &EpochMetrics {
        &self.history[self.best]
    }
}

/// Loads a data set for training: resolves the leaf family (`leaf` or the data's default),
/// rescales the values for it and checks that every part fits it.
pub fn load_for_training(
    spec: &DatasetSpec,
    data_dir: Option<&std::path::Path>,
    leaf: Option<LeafArg>,
) -> Result<(Loaded, LeafFamily)> {
    let root = resolve_root(data_dir, None);
    let mut data = load(spec, &root, SPLIT_SEED)?;
    let (family, scale) = crate::leaf_arg::resolve(leaf, &data)?;
    data.rescale(scale);
    for part in [&data.train, &data.valid, &data.test] {
        part.check_family(&family).with_context(|| {
            format!(
                "the data set '{spec}' does not fit {} leaves; choose another --leaf",
                family.name()
            )
        })?;
    }
    Ok((data, family))
}

/// A freshly built model and how it was built.
pub struct Built {
    /// The model with its seeded initial parameters.
    pub einet: Einet,
    /// How the structure was built (for the training record).
    pub structure: serde_json::Value,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
}

/// Builds the model `config` describes for data shaped like `info`, with `family` leaves.
pub fn build(config: &TrainConfig, info: &DataInfo, family: LeafFamily) -> Result<Built> {
    let (graph, structure) = crate::structure_arg::build(
        &config.structure,
        info.num_vars,
        info.image_shape,
        config.seed,
    )?;
    let k_sum = config.k.unwrap_or(if info.is_image() { 10 } else { 20 });
    let k_leaf = config.k_leaf.unwrap_or(k_sum);
    let model_config = EinetConfig {
        k_leaf,
        k_sum,
        num_classes: 1,
        num_channels: info.channels,
        leaves: LeafSpec::uniform(family),
    };
    let einet = Einet::new(graph, model_config, config.seed).context("cannot build the model")?;
    Ok(Built {
        einet,
        structure,
        k_sum,
        k_leaf,
    })
}

/// Trains a built model with EM on `run`'s backend, keeping the parameters of the epoch with
/// the best validation LL. `on_epoch` sees each epoch's metrics as soon as they are known.
pub fn fit(
    built: Built,
    config: &TrainConfig,
    data: &Loaded,
    run: &RunArgs,
    mut on_epoch: impl FnMut(&EpochMetrics) -> Result<()>,
) -> Result<Trained> {
    let started = Instant::now();
    let Built {
        mut einet,
        structure,
        k_sum,
        k_leaf,
    } = built;
    if let LeafInit::Data { rows, pseudocount } = config.leaf_init {
        leaves_from_rows(
            &einet.layout,
            &mut einet.params,
            &data.train.values,
            rows,
            pseudocount,
            config.seed,
        );
    }
    let mut model = run.load(&einet)?;
    let em = config.em;
    let eval_batch = config.batch_size.max(256);
    let mut history: Vec<EpochMetrics> = Vec::with_capacity(config.epochs);
    let mut best: Option<(usize, einet_core::Params)> = None;
    let mut batches_seen = 0usize;
    for epoch in 1..=config.epochs {
        let batches = data
            .train
            .epoch_batches(config.batch_size, Some(config.seed), epoch as u64);
        let mut progress = EpochProgress::new(batches.len(), epoch, config.epochs, config.progress);
        for batch in batches {
            let ll = model
                .em_accumulate(batch.values(), Root::Mixture)
                .with_context(|| format!("EM statistics failed in epoch {epoch}"))?;
            progress.batch(batch.rows(), ll);
            batches_seen += 1;
            if let EmMode::Stepwise {
                frequency,
                step_size,
                rule,
            } = em.mode
            {
                if batches_seen % frequency == 0 {
                    model.em_update(MStep {
                        step_size,
                        rule,
                        pseudocount: em.pseudocount,
                    })?;
                }
            }
        }
        if em.mode == EmMode::FullBatch {
            model.em_update(MStep::full_batch(em.pseudocount))?;
        }
        progress.finish();
        let (seconds, samples_per_s, running) = (
            progress.seconds(),
            progress.samples_per_s(),
            progress.running_ll(),
        );
        drop(progress);
        let eval_start = Instant::now();
        let spinner =
            crate::progress::spinner(format!("epoch {epoch}: evaluating"), config.progress);
        let train_ll = if config.eval_train {
            mean_ll(model.as_mut(), &data.train, eval_batch)?
        } else {
            running
        };
        let valid_ll = mean_ll(model.as_mut(), &data.valid, eval_batch)?;
        let test_ll = mean_ll(model.as_mut(), &data.test, eval_batch)?;
        spinner.finish_and_clear();
        if !(train_ll.is_finite() && valid_ll.is_finite() && test_ll.is_finite()) {
            bail!(
                "training diverged in epoch {epoch} (train LL {train_ll}, valid LL {valid_ll}); \
                 try a smaller --step-size or a positive --pseudocount"
            );
        }
        let improved = best
            .as_ref()
            .is_none_or(|&(i, _)| valid_ll > history[i].valid_ll);
        if improved {
            best = Some((history.len(), model.params()?));
        }
        let metrics = EpochMetrics {
            epoch,
            train_ll,
            train_ll_running: running,
            valid_ll,
            test_ll,
            seconds,
            eval_seconds: eval_start.elapsed().as_secs_f64(),
            samples_per_s,
            improved,
        };
        on_epoch(&metrics)?;
        history.push(metrics);
        if let (Some(patience), Some((b, _))) = (config.patience, &best) {
            if history.len() - 1 - b >= patience {
                break;
            }
        }
    }
    let Some((best, params)) = best else {
        bail!("no epoch was run");
    };
    einet.params = params;
    Ok(Trained {
        einet,
        structure,
        k_sum,
        k_leaf,
        history,
        best,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl TrainArgs {
    /// The training configuration these options describe.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            structure: self.structure.clone(),
            k: self.k,
            k_leaf: self.k_leaf,
            em: EmConfig {
                mode: match self.em {
                    EmArg::Stepwise => EmMode::Stepwise {
                        frequency: self.frequency,
                        step_size: self.step_size,
                        rule: self.stepwise_rule.into(),
                    },
                    EmArg::Full => EmMode::FullBatch,
                },
                pseudocount: self.pseudocount,
            },
            leaf_init: self.leaf_init.with_rows(self.init_rows),
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            eval_train: true,
            patience: None,
            progress: true,
        }
    }
}

/// Runs `einet train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    args.run.init()?;
    let started = Instant::now();
    let (data, family) = load_for_training(&args.dataset, args.data_dir.as_deref(), args.leaf)?;
    let info = data.info.clone();
    let config = args.config();
    let built = build(&config, &info, family)?;
    let counts = built.einet.graph.counts();
    let num_params = built.einet.layout.num_params();

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
        "model: {} ({} sum regions, {} leaf regions, {} products), K = {} (leaves {}), \
         {} leaves, {num_params} parameters",
        structure_summary(&built.structure),
        counts.sum_regions,
        counts.leaf_regions,
        counts.products,
        built.k_sum,
        built.k_leaf,
        family.name(),
    );
    println!(
        "training: {} EM, {} epochs, batch {}, seed {}, backend {} ({} threads)",
        match config.em.mode {
            EmMode::Stepwise {
                frequency,
                step_size,
                rule,
            } => format!(
                "stepwise (step {step_size}, every {frequency} batch(es), {} rule)",
                rule.name()
            ),
            EmMode::FullBatch => "full-batch".into(),
        },
        config.epochs,
        config.batch_size,
        config.seed,
        args.run.backend.name(),
        args.run.threads()
    );

    let trained = fit(built, &config, &data, &args.run, |m| {
        let line = json!({
            "epoch": m.epoch,
            "train_ll": m.train_ll,
            "train_ll_running": m.train_ll_running,
            "valid_ll": m.valid_ll,
            "test_ll": m.test_ll,
            "valid_bpd": info.bits_per_dim(m.valid_ll),
            "test_bpd": info.bits_per_dim(m.test_ll),
            "seconds": m.seconds,
            "eval_seconds": m.eval_seconds,
            "samples_per_s": m.samples_per_s,
        });
        writeln!(metrics, "{line}")
            .and_then(|()| metrics.flush())
            .with_context(|| format!("cannot write {}", metrics_path.display()))?;
        println!(
            "epoch {:>3}/{}  train LL {:.4}  valid LL {:.4}  test LL {:.4}  {:.1} s  {:.0} \
             samples/s{}",
            m.epoch,
            config.epochs,
            m.train_ll,
            m.valid_ll,
            m.test_ll,
            m.seconds,
            m.samples_per_s,
            if m.improved { "  *" } else { "" }
        );
        Ok(())
    })?;
    let best = trained.best();
    let (best_epoch, valid_ll, test_ll) = (best.epoch, best.valid_ll, best.test_ll);
    let test_bpd = info.bits_per_dim(test_ll);
    let training = training_record(&trained, &info, family, &config, &args.run, "train")?;
    let mut einet = trained.einet;
    einet.training = training;
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
        let mut model = args.run.load(&einet)?;
        let values = model
            .sample(25, None, args.seed, 1.0)
            .context("cannot draw samples")?;
        sample::write_image_grid(&values, 25, &info, None, &path)?;
        println!("wrote {}", path.display());
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The training record ([`TrainingRecord`]) of `trained` as the JSON stored in its model
/// file, so that `einet eval/sample/inpaint/info` can use it; `command` (e.g. `train`) names
/// the command that trained it in the record's `tool`.
pub fn training_record(
    trained: &Trained,
    info: &DataInfo,
    family: LeafFamily,
    config: &TrainConfig,
    run: &RunArgs,
    command: &str,
) -> Result<serde_json::Value> {
    let best = trained.best();
    let record = TrainingRecord {
        tool: format!("einet-cli {} ({command})", env!("CARGO_PKG_VERSION")),
        data: info.clone(),
        structure: trained.structure.clone(),
        k_leaf: trained.k_leaf,
        k_sum: trained.k_sum,
        leaf: family,
        em: crate::record::em_json(&config.em),
        leaf_init: config.leaf_init,
        // Epochs run: fewer than configured when the patience stopped training early.
        epochs: trained.history.len(),
        batch_size: config.batch_size,
        seed: config.seed,
        backend: run.backend.name().into(),
        threads: run.threads(),
        best_epoch: best.epoch,
        train_ll: best.train_ll,
        valid_ll: best.valid_ll,
        test_ll: best.test_ll,
        test_bpd: info.bits_per_dim(best.test_ll),
        seconds: trained.seconds,
    };
    serde_json::to_value(&record).context("cannot record the training")
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
