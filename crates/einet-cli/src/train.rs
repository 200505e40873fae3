//! `einet train`: EM training with best-validation model selection.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, FromArgMatches};
use einet::{
    BuiltModel, Checkpoint, CheckpointAt, DataInfo, DatasetSpec, EmConfig, EmMode, EpochMetrics,
    ModelSpec, Regularisation, TrainConfig, TrainObserver, Trained, Trainer, TrainingData,
    TrainingRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::distributed::Ranks;
use crate::progress::TrainProgress;
use crate::structure_arg::StructureArgs;
use crate::table_arg::{LeafArg, TableArgs, split_leaves};
use einet::args::{EmArg, LeafInitArg, RunArgs, StepwiseRuleArg, positive_usize};
use einet::leaves::collapsed_variances;

/// `einet train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Data set: digits, nltcs, debd:NAME, mnist, cifar or csv:PATH
    #[arg(long, short = 'd', required_unless_present = "resume")]
    pub dataset: Option<DatasetSpec>,
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
    /// (N at most 65536), or NAME=FAMILY for one column of a table (repeatable)
    /// [default: bernoulli for binary data, binomial for 8×8 digits and MNIST, normal for
    /// CIFAR (pixels scaled to [0, 1]); for other integer data categorical (N = largest
    /// value + 1) when the largest value is below 256, else binomial (N = largest value);
    /// normal for real data. Tables (csv:PATH) get a family per column: categorical for
    /// strings, bernoulli for 0/1, categorical for integers spanning at most 32 values, else
    /// normal with variance bounds from the column's variance]
    #[arg(long, value_name = "FAMILY")]
    pub leaf: Vec<LeafArg>,
    #[command(flatten)]
    pub table: TableArgs,
    /// EM mode [default: full for small tables (csv:PATH, at most 10000 training rows),
    /// else stepwise]
    #[arg(long, value_enum)]
    pub em: Option<EmArg>,
    /// Stepwise EM: step size in (0, 1]
    #[arg(long, default_value_t = 0.05, value_parser = parse_step_size, allow_hyphen_values = true)]
    pub step_size: f32,
    /// Stepwise EM: anneal the step size linearly from --step-size to this one over the
    /// mini-batch epochs (0.1 to 0.9 is the recipe of Juice's hidden Chow–Liu trees)
    #[arg(long, value_parser = parse_step_size, allow_hyphen_values = true)]
    pub step_size_end: Option<f32>,
    /// Full-batch EM epochs after the --epochs mini-batch epochs
    #[arg(long, default_value_t = 0)]
    pub full_batch_epochs: usize,
    /// End each phase (mini-batch, full-batch) after this many epochs without a better
    /// validation log-likelihood [default: 10 for small tables, else none]
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    pub patience: Option<usize>,
    /// Run every mini-batch epoch before the full-batch ones; --patience then ends the
    /// full-batch phase only
    #[arg(long)]
    pub mini_batch_all_epochs: bool,
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
    /// Data softening of the discrete leaves in the M-step, in [0, 1): each observed value
    /// counts 1 − B for itself and B spread over the other values (Juice.jl's HCLT runs:
    /// 0.002)
    #[arg(long, value_name = "B", default_value_t = 0.0, value_parser = parse_softening, allow_hyphen_values = true)]
    pub softening: f32,
    /// Entropy regularisation of the sum weights in the M-step, >= 0: each weight vector
    /// maximises its expected log-likelihood plus T times its entropy (Juice.jl's HCLT
    /// runs: 0.001)
    #[arg(long, value_name = "T", default_value_t = 0.0, value_parser = parse_entropy_reg, allow_hyphen_values = true)]
    pub entropy_reg: f32,
    /// How leaf parameters start: random (as the reference) or data (each leaf component
    /// fitted to --init-rows random training rows) [default: data for small tables, else
    /// random]
    #[arg(long, value_enum)]
    pub leaf_init: Option<LeafInitArg>,
    /// Training rows per leaf component for --leaf-init data
    #[arg(long, default_value_t = 10, value_parser = positive_usize, allow_hyphen_values = true)]
    pub init_rows: usize,
    /// Passes over the training data [default: 100 for small tables, else 10]
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    pub epochs: Option<usize>,
    /// Rows per mini-batch
    #[arg(long, default_value_t = 100, value_parser = positive_usize, allow_hyphen_values = true)]
    pub batch_size: usize,
    /// Seed of the structure, the initial parameters and the batch order
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed of the random train/valid/test split of data sets without a given split (digits
    /// 70/10/20; tables by --split); the model records it, so eval, inpaint, mpe and query
    /// use the same rows
    #[arg(long, default_value_t = einet::registry::SPLIT_SEED)]
    pub split_seed: u64,
    #[command(flatten)]
    pub run: RunArgs,
    /// Output folder [default: runs/<dataset>]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Do not write samples.png for image data
    #[arg(long)]
    pub no_samples: bool,
    /// Minutes between checkpoints within an epoch (a checkpoint, <out>/checkpoint.einet,
    /// is also written after every epoch and on Ctrl-C, and removed when training ends)
    #[arg(long, default_value_t = 10.0, value_parser = parse_minutes, allow_hyphen_values = true)]
    pub checkpoint_minutes: f64,
    /// Train as one rank of an MPI job, started as mpirun -np N einet train --distributed …
    /// (a binary built with --features mpi): each rank takes its share of every batch, rank
    /// 0 writes the output; give each rank its share of the cores with --threads
    #[arg(long)]
    pub distributed: bool,
    /// Continue the stopped run whose output folder is DIR from its checkpoint, with the
    /// settings it was started with; ends with the model the uninterrupted run would give
    #[arg(long, exclusive = true, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

fn parse_minutes(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("the minutes must be a number > 0, got '{s}'")),
    }
}

fn parse_step_size(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!(
            "the step size must be a number in (0, 1], got '{s}'"
        )),
    }
}

fn parse_softening(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "data softening must be a number in [0, 1), got '{s}'"
        )),
    }
}

fn parse_entropy_reg(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if x >= 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!(
            "entropy regularisation must be a number >= 0, got '{s}'"
        )),
    }
}

fn parse_pseudocount(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(x) if x >= 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("the pseudocount must be a number >= 0, got '{s}'")),
    }
}

impl TrainArgs {
    /// The model these options describe.
    pub fn model_spec(&self) -> Result<ModelSpec> {
        let (leaf, column_leaves) = split_leaves(&self.leaf)?;
        Ok(ModelSpec {
            structure: self.structure.spec()?,
            k: self.k,
            k_leaf: self.k_leaf,
            leaf,
            column_leaves,
            layer: self.structure.layer,
        })
    }

    /// The EM schedule these options describe; `small_table` chooses the defaults of small
    /// tables ([`einet::TrainingData::is_small_table`]).
    pub fn config(&self, small_table: bool) -> TrainConfig {
        let (em, leaf_init, epochs, patience) = if small_table {
            (
                EmArg::Full,
                LeafInitArg::Data,
                SMALL_TABLE_EPOCHS,
                Some(SMALL_TABLE_PATIENCE),
            )
        } else {
            (EmArg::Stepwise, LeafInitArg::Random, EPOCHS, None)
        };
        TrainConfig {
            em: EmConfig {
                mode: match self.em.unwrap_or(em) {
                    EmArg::Stepwise => EmMode::Stepwise {
                        frequency: self.frequency,
                        step_size: self.step_size,
                        rule: self.stepwise_rule.into(),
                    },
                    EmArg::Full => EmMode::FullBatch,
                },
                pseudocount: self.pseudocount,
                regularisation: Regularisation {
                    softening: self.softening,
                    entropy: self.entropy_reg,
                },
            },
            leaf_init: self
                .leaf_init
                .unwrap_or(leaf_init)
                .with_rows(self.init_rows),
            epochs: self.epochs.unwrap_or(epochs),
            batch_size: self.batch_size,
            seed: self.seed,
            eval_train: true,
            patience: self.patience.or(patience),
            mini_batch_runs_all_epochs: self.mini_batch_all_epochs,
            step_size_end: self.step_size_end,
            full_batch_epochs: self.full_batch_epochs,
        }
    }
}

/// One line of metrics.jsonl (fields in alphabetical order).
#[derive(Serialize)]
struct MetricsLine {
    epoch: usize,
    eval_seconds: f64,
    samples_per_s: f64,
    seconds: f64,
    test_bpd: Option<f64>,
    test_ll: f64,
    train_ll: f64,
    train_ll_running: f64,
    valid_bpd: Option<f64>,
    valid_ll: f64,
}

impl MetricsLine {
    fn new(m: &EpochMetrics, info: &DataInfo) -> Self {
        MetricsLine {
            epoch: m.epoch,
            train_ll: m.train_ll,
            train_ll_running: m.train_ll_running,
            valid_ll: m.valid_ll,
            test_ll: m.test_ll,
            valid_bpd: info.bits_per_dim(m.valid_ll),
            test_bpd: info.bits_per_dim(m.test_ll),
            seconds: m.seconds,
            eval_seconds: m.eval_seconds,
            samples_per_s: m.samples_per_s,
        }
    }
}

/// `<out>/training_curve.png`: the log-likelihoods of the epochs so far, redrawn after each
/// and once more when training ends.
struct Curve {
    path: PathBuf,
    title: String,
    history: Vec<EpochMetrics>,
}

impl Curve {
    /// Draws `history` to `path` (atomically).
    fn write(&self) -> einet::Result<()> {
        let image = einet::images::training_curve(&self.history, &self.title);
        einet::images::write_png(&self.path, &image)
    }
}

/// Draws the bars, prints every epoch, appends it to metrics.jsonl, redraws
/// training_curve.png, writes checkpoints and stops on Ctrl-C.
struct EpochPrinter<'a> {
    progress: TrainProgress,
    metrics: BufWriter<File>,
    metrics_path: &'a Path,
    info: &'a DataInfo,
    epochs: usize,
    checkpoints: Checkpoints,
    curve: &'a mut Curve,
}

/// Where and how often checkpoints are written, and what they store to restart the run.
struct Checkpoints {
    path: PathBuf,
    every: Duration,
    last: Instant,
    front_end: Value,
    stop: Arc<AtomicBool>,
}

/// What a checkpoint stores to restart `einet train`: its command line and folder.
#[derive(Serialize, Deserialize)]
struct FrontEnd {
    args: Vec<String>,
    cwd: PathBuf,
}

/// Epochs when not given.
const EPOCHS: usize = 10;
/// Epochs of small tables when not given: full-batch EM makes one update per epoch.
const SMALL_TABLE_EPOCHS: usize = 100;

/// Patience of small tables when not given: they overfit soon.
const SMALL_TABLE_PATIENCE: usize = 10;

/// Fewer EM updates than this get a warning: too few to train most models.
const FEW_UPDATES: usize = 50;

/// The checkpoint's name in the output folder.
const CHECKPOINT: &str = "checkpoint.einet";

impl TrainObserver for EpochPrinter<'_> {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.progress.epoch_started(epoch, epochs, batches);
    }

    fn batch_done(&mut self, progress: &einet::BatchProgress) {
        self.progress.batch_done(progress);
    }

    fn stop_requested(&mut self) -> bool {
        self.checkpoints.stop.load(Ordering::SeqCst)
    }

    fn checkpoint_due(&mut self, at: CheckpointAt) -> bool {
        at != CheckpointAt::Batch || self.checkpoints.last.elapsed() >= self.checkpoints.every
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> einet::Result<()> {
        checkpoint.save(&self.checkpoints.path, &self.checkpoints.front_end)?;
        self.checkpoints.last = Instant::now();
        Ok(())
    }

    fn evaluating(&mut self, epoch: usize) {
        self.progress.evaluating(epoch);
    }

    fn epoch_done(&mut self, m: &EpochMetrics) -> einet::Result<()> {
        self.progress.epoch_done();
        let line = serde_json::to_string(&MetricsLine::new(m, self.info)).unwrap_or_default();
        writeln!(self.metrics, "{line}")
            .and_then(|()| self.metrics.flush())
            .map_err(|e| {
                einet::Error::invalid(format!("cannot write {}: {e}", self.metrics_path.display()))
            })?;
        println!(
            "epoch {:>3}/{}  train LL {:.4}  valid LL {:.4}  test LL {:.4}  {:.1} s  {:.0} \
             samples/s{}",
            m.epoch,
            self.epochs,
            m.train_ll,
            m.valid_ll,
            m.test_ll,
            m.seconds,
            m.samples_per_s,
            if m.improved { "  *" } else { "" }
        );
        self.curve.history.push(m.clone());
        // The picture only redraws the metrics above, so failing to write it warns.
        if let Err(e) = self.curve.write() {
            eprintln!("warning: {e}");
        }
        Ok(())
    }
}

/// Runs `einet train` with `argv`, its own arguments (after `train`), which checkpoints
/// store so that `--resume` can restart the run.
pub fn run(args: &TrainArgs, argv: Vec<String>) -> Result<()> {
    match &args.resume {
        Some(dir) => resume(dir),
        None => train(args, argv, None),
    }
}

/// Continues the run in `dir` from its checkpoint, with the command line it was started with.
fn resume(dir: &Path) -> Result<()> {
    let path = dir.join(CHECKPOINT);
    let (checkpoint, front_end) = Checkpoint::load(&path)?;
    let stored: FrontEnd = serde_json::from_value(front_end).with_context(|| {
        format!(
            "{} was not written by einet train: it holds no command line",
            path.display()
        )
    })?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve the folder {}", dir.display()))?;
    std::env::set_current_dir(&stored.cwd).with_context(|| {
        format!(
            "the run was started in {}, which is gone; relative paths of its command line \
             cannot be resolved",
            stored.cwd.display()
        )
    })?;
    let command = TrainArgs::augment_args(clap::Command::new("train"));
    let matches = command
        .try_get_matches_from(std::iter::once("train".to_string()).chain(stored.args.clone()))
        .with_context(|| {
            format!(
                "the command line stored in {} no longer parses",
                path.display()
            )
        })?;
    let mut args = TrainArgs::from_arg_matches(&matches)?;
    args.out = Some(dir);
    println!(
        "resuming from {}: einet train {}",
        path.display(),
        stored.args.join(" ")
    );
    train(&args, stored.args, Some(checkpoint))
}

/// What `einet train` starts from.
enum Start {
    Fresh(Box<BuiltModel>),
    Resume(Box<Checkpoint>),
}

/// Warns about variables whose normal variances collapsed onto their lower bound.
fn warn_collapsed_variances(einet: &einet::Einet, info: &DataInfo) {
    let collapsed = collapsed_variances(einet);
    if collapsed.is_empty() {
        return;
    }
    let names = info.column_names();
    let list: Vec<String> = collapsed
        .iter()
        .map(|c| {
            format!(
                "{} ({} of {} components at {})",
                names.get(c.var).map_or("?", String::as_str),
                c.at_floor,
                c.components,
                c.min_var
            )
        })
        .collect();
    eprintln!(
        "warning: the normal variances of {} collapsed onto their lower bound, a sign of \
         overfitting; raise the bound (--leaf NAME=normal:MIN_VAR,MAX_VAR), use fewer \
         parameters (-k, --repetitions) or more rows",
        list.join(", ")
    );
}

/// Trains from scratch, or from `checkpoint`: in this process, or with --distributed as one
/// rank of the MPI job.
fn train(args: &TrainArgs, argv: Vec<String>, checkpoint: Option<Checkpoint>) -> Result<()> {
    crate::distributed::run(args.distributed, |ranks| {
        train_rank(args, argv, checkpoint, ranks)
    })
}

/// [`train`] on `ranks`; ranks other than 0 train without output.
fn train_rank(
    args: &TrainArgs,
    argv: Vec<String>,
    checkpoint: Option<Checkpoint>,
    ranks: &Ranks,
) -> Result<()> {
    let dataset = args
        .dataset
        .as_ref()
        .context("--dataset is required unless --resume is given")?;
    let device = args.run.device_on_gpu(ranks.gpu)?;
    let started = Instant::now();
    let spec = args.model_spec()?;
    let data = spec.load_data_split(
        dataset,
        args.data_dir.as_deref(),
        args.split_seed,
        &args.table.options(dataset)?,
    );
    let data = einet::distributed::agree(ranks.comm.as_ref(), data)?;
    let info = data.data.info.clone();
    let small_table = data.is_small_table();
    let config = args.config(small_table);
    if small_table
        && ranks.lead()
        && (args.em.is_none()
            || args.leaf_init.is_none()
            || args.epochs.is_none()
            || args.patience.is_none())
    {
        println!(
            "small table ({} training rows): defaults of full-batch EM, leaves started from \
             data rows, {SMALL_TABLE_EPOCHS} epochs, patience {SMALL_TABLE_PATIENCE} (--em, \
             --leaf-init, --epochs, --patience choose others)",
            data.data.train.rows()
        );
    }
    let start = match checkpoint {
        Some(checkpoint) => Start::Resume(Box::new(checkpoint)),
        None => Start::Fresh(Box::new(spec.build(&data, config.seed)?)),
    };
    let (einet, structure, k_sum, k_leaf, history) = match &start {
        Start::Fresh(b) => (&b.einet, &b.structure, b.k_sum, b.k_leaf, &[][..]),
        Start::Resume(c) => (
            &c.einet,
            &c.structure,
            c.k_sum,
            c.k_leaf,
            &c.state.history[..],
        ),
    };
    let trainer = Trainer::new(device, config).with_communicator(ranks.comm.clone());
    trainer.check_memory(&einet.layout, &data)?;
    if !ranks.lead() {
        fit(&trainer, start, &data, &mut ())?;
        return Ok(());
    }
    let updates = config.updates(data.data.train.rows());
    if updates < FEW_UPDATES {
        eprintln!(
            "warning: this schedule makes only {updates} EM updates, too few to train most \
             models; give more --epochs (or --full-batch-epochs), or a smaller --batch-size"
        );
    }
    let counts = einet.graph.counts();
    let num_params = einet.layout.num_params();

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(dataset.short_name()));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let model_path = out.join("model.einet");
    let metrics_path = out.join("metrics.jsonl");
    let checkpoint_path = out.join(CHECKPOINT);
    if matches!(start, Start::Fresh(_)) && checkpoint_path.exists() {
        eprintln!(
            "warning: replacing the checkpoint of an earlier unfinished run, {} (continue such \
             a run with einet train --resume {})",
            checkpoint_path.display(),
            out.display()
        );
    }
    let mut metrics = BufWriter::new(
        File::create(&metrics_path)
            .with_context(|| format!("cannot create {}", metrics_path.display()))?,
    );
    for m in history {
        let line = serde_json::to_string(&MetricsLine::new(m, &info))?;
        writeln!(metrics, "{line}")
            .with_context(|| format!("cannot write {}", metrics_path.display()))?;
    }

    let loaded = &data.data;
    println!(
        "{}: {} train / {} valid / {} test rows, {} variables{}",
        dataset,
        loaded.train.rows(),
        loaded.valid.rows(),
        loaded.test.rows(),
        info.num_vars,
        match info.image_shape {
            Some([h, w]) => format!(" ({h}x{w}, {} channel(s))", info.channels),
            None => String::new(),
        }
    );
    println!(
        "model: {} ({} sum regions, {} leaf regions, {} products), K = {} (leaves {}), \
         {} leaves, {num_params} parameters",
        structure.summary(),
        counts.sum_regions,
        counts.leaf_regions,
        counts.products,
        k_sum,
        k_leaf,
        data.leaves.name(),
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
        device.name(),
        device.threads()
    );

    let stop = Arc::new(AtomicBool::new(false));
    stop_on_ctrl_c(&stop);
    let cwd = std::env::current_dir().context("cannot read the working folder")?;
    let mut curve = Curve {
        path: out.join("training_curve.png"),
        title: format!("{dataset}: log-likelihood per epoch"),
        history: history.to_vec(),
    };
    let mut printer = EpochPrinter {
        progress: TrainProgress::new(true),
        metrics,
        metrics_path: &metrics_path,
        info: &info,
        epochs: config.total_epochs(),
        checkpoints: Checkpoints {
            path: checkpoint_path.clone(),
            every: Duration::from_secs_f64(args.checkpoint_minutes * 60.0),
            last: Instant::now(),
            front_end: serde_json::to_value(FrontEnd { args: argv, cwd })?,
            stop,
        },
        curve: &mut curve,
    };
    let result = fit(&trainer, start, &data, &mut printer);
    drop(printer);
    let trained = match result {
        Err(e @ einet::Error::Interrupted { .. }) => {
            eprintln!(
                "stopped: the checkpoint {} holds the run; continue it with einet train \
                 --resume {}",
                checkpoint_path.display(),
                out.display()
            );
            return Err(e.into());
        }
        other => other?,
    };
    let best = trained.best();
    let (best_epoch, valid_ll, test_ll) = (best.epoch, best.valid_ll, best.test_ll);
    let test_bpd = info.bits_per_dim(test_ll);
    let record = TrainingRecord::new(&trained, &data, &config, &device, tool("train"));
    let mut einet = trained.einet;
    einet.training = record.to_json();
    einet
        .save(&model_path)
        .with_context(|| format!("cannot save the model to {}", model_path.display()))?;
    std::fs::remove_file(&checkpoint_path)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })
        .with_context(|| format!("cannot remove {}", checkpoint_path.display()))?;
    println!(
        "best epoch {best_epoch}: valid LL {valid_ll:.4}, test LL {test_ll:.4} nats/instance{}",
        match test_bpd {
            Some(b) => format!(" ({b:.4} bits/dim)"),
            None => String::new(),
        }
    );
    warn_collapsed_variances(&einet, &info);
    println!("wrote {}", model_path.display());
    println!("wrote {}", metrics_path.display());
    curve.write()?;
    println!("wrote {}", curve.path.display());
    if info.is_image() && !args.no_samples {
        let path = out.join("samples.png");
        let mut model = device.load(&einet)?;
        let values = model
            .sample(25, None, args.seed, 1.0)
            .context("cannot draw samples")?;
        einet::images::write_image_grid(&values, 25, &info, None, &path)?;
        println!("wrote {}", path.display());
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Trains from `start` with `trainer`.
fn fit(
    trainer: &Trainer,
    start: Start,
    data: &TrainingData,
    observer: &mut dyn TrainObserver,
) -> einet::Result<Trained> {
    match start {
        Start::Fresh(built) => trainer.fit(*built, data, observer),
        Start::Resume(checkpoint) => trainer.resume(*checkpoint, data, observer),
    }
}

/// Sets `stop` on the first Ctrl-C (training stops after the current batch, leaving a
/// checkpoint); a second Ctrl-C ends the process at once.
fn stop_on_ctrl_c(stop: &Arc<AtomicBool>) {
    let flag = Arc::clone(stop);
    let handler = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping after this batch (press again to quit at once)");
    });
    if let Err(e) = handler {
        eprintln!("warning: Ctrl-C will not leave a checkpoint: {e}");
    }
}

/// The `tool` of a training record written by command `command`.
pub fn tool(command: &str) -> String {
    format!("einet-cli {} ({command})", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_leaf_help_names_the_default_of_integer_data() {
        let command = <super::TrainArgs as clap::Args>::augment_args(clap::Command::new("t"));
        let help = command
            .get_arguments()
            .find(|a| a.get_id() == "leaf")
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(
            help.contains("categorical (N = largest value + 1) when the largest value is below 256, else binomial (N = largest value)"),
            "{help}"
        );
    }
}
