//! `einet`: train, evaluate, sample, inpaint, inspect and benchmark Einsum Networks.

// clap shows the argument doc comments as `--help` text, where `[default: …]`, `[:N]` and
// `<dataset>` are meant literally, not as links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod distributed;
mod eval;
mod info;
mod inpaint;
mod mpe;
mod output;
mod progress;
mod query;
mod sample;
mod structure_arg;
mod table_arg;
mod train;

use einet::HideSpec;
use einet::args::{RunArgs, positive_usize};
use einet::images::parse_scale;
use einet::registry::{DatasetSpec, Split};

/// Einsum Networks: tractable probabilistic models trained with EM.
#[derive(Parser, Debug)]
#[command(name = "einet", version = einet::provenance::VERSION, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model with EM; writes model.einet, metrics.jsonl, training_curve.png (and
    /// samples.png for images)
    Train(Box<train::TrainArgs>),
    /// Log-likelihood of a data split under a model (nats per instance; bits/dim for images)
    Eval(EvalArgs),
    /// Draw unconditional samples: a PNG grid for images, CSV otherwise
    Sample(SampleArgs),
    /// Complete hidden image regions: original | masked | conditional sample | MPE
    Inpaint(InpaintArgs),
    /// Complete hidden variables of data rows with their most probable values (CSV)
    Mpe(MpeArgs),
    /// Conditional log p(target | given) and marginal log p(given) of the rows of a file
    Query(query::QueryArgs),
    /// Show a model's structure, size, leaves and training configuration
    Info(InfoArgs),
    /// Time the canonical configurations (A1..C3, P1..P4 of docs/performance.md) on random data
    Bench(bench::BenchArgs),
}

/// Options naming a model and the data set to use with it.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelSource {
    /// The model file
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Data set: digits, nltcs, debd:NAME, mnist, cifar or csv:PATH [default: the one the
    /// model was trained on]
    #[arg(long, short = 'd')]
    pub dataset: Option<DatasetSpec>,
    /// Data folder [default: $EINET_DATA, else the folder used in training, else the
    /// repository's data/]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Options naming a model and the part of a data set to use with it.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelData {
    /// The model and its data set.
    #[command(flatten)]
    pub source: ModelSource,
    /// Which part of the data
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
}

/// The parts `einet eval` can evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    /// Training rows.
    Train,
    /// Validation rows.
    Valid,
    /// Test rows.
    Test,
    /// Each part, and all rows together.
    All,
}

impl EvalSplit {
    /// The parts this names.
    pub fn parts(self) -> Vec<Split> {
        match self {
            EvalSplit::Train => vec![Split::Train],
            EvalSplit::Valid => vec![Split::Valid],
            EvalSplit::Test => vec![Split::Test],
            EvalSplit::All => vec![Split::Train, Split::Valid, Split::Test],
        }
    }
}

/// `einet eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The model and the data to use with it.
    #[command(flatten)]
    pub source: ModelSource,
    /// Which part of the data: train, valid, test, or all (each part, then all rows)
    #[arg(long, value_enum, default_value_t = EvalSplit::Test)]
    pub split: EvalSplit,
    /// Also write the log-likelihood of every row to this CSV file (split, row, the row's
    /// line in its data file when read from text, log_likelihood)
    #[arg(long, value_name = "FILE")]
    pub per_row: Option<PathBuf>,
    /// Rows per forward pass
    #[arg(long, default_value_t = 1000, value_parser = positive_usize, allow_hyphen_values = true)]
    pub batch_size: usize,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Where to run.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `einet sample`.
#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    /// The model file
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Number of samples
    #[arg(short = 'n', long = "num", default_value_t = 25, value_parser = positive_usize, allow_hyphen_values = true)]
    pub n: usize,
    /// Random seed
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file: .png (image models) or .csv
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Sample this class instead of the class mixture
    #[arg(long)]
    pub class: Option<usize>,
    /// Factor on the standard deviation of Normal leaves (0 draws their means)
    #[arg(long, default_value_t = 1.0)]
    pub std_correction: f32,
    /// Upscaling of each pixel in the PNG, 1 to 64 [default: 4 for 8×8 images, else 1]
    #[arg(long, value_parser = parse_scale, allow_hyphen_values = true)]
    pub scale: Option<usize>,
    /// Where to run.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Which MPE query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MpeArg {
    /// Exact max-product (Viterbi) MPE
    MaxProduct,
    /// The reference's approximation: sum-product forward pass, arg-max backtracking
    Approximate,
}

impl MpeArg {
    /// The backend's MPE kind.
    pub fn kind(self) -> einet::core::MpeKind {
        match self {
            MpeArg::MaxProduct => einet::core::MpeKind::MaxProduct,
            MpeArg::Approximate => einet::core::MpeKind::Approximate,
        }
    }
}

/// `einet inpaint`.
#[derive(clap::Args, Debug)]
pub struct InpaintArgs {
    /// The model and the data to use with it.
    #[command(flatten)]
    pub data: ModelData,
    /// What to hide: top, bottom, left, right, mask:PATH (PNG, bright = hidden), vars:I,J,..,
    /// random:FRACTION or all
    #[arg(long, default_value = "top")]
    pub hide: HideSpec,
    /// Number of images (the first n of the split)
    #[arg(short = 'n', long = "num", default_value_t = 8, value_parser = positive_usize, allow_hyphen_values = true)]
    pub n: usize,
    /// Random seed of the conditional samples
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output PNG file
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// The MPE query of the last column
    #[arg(long, value_enum, default_value_t = MpeArg::MaxProduct)]
    pub mpe: MpeArg,
    /// Factor on the standard deviation of Normal leaves when sampling
    #[arg(long, default_value_t = 1.0)]
    pub std_correction: f32,
    /// Upscaling of each pixel, 1 to 64 [default: 4 for 8×8 images, else 1]
    #[arg(long, value_parser = parse_scale, allow_hyphen_values = true)]
    pub scale: Option<usize>,
    /// Where to run.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `einet mpe`.
#[derive(clap::Args, Debug)]
pub struct MpeArgs {
    /// The model and the data to use with it.
    #[command(flatten)]
    pub data: ModelData,
    /// What to hide: top, bottom, left, right, mask:PATH, vars:I,J,.., random:FRACTION or
    /// all [default: top for images, random:0.5 otherwise]
    #[arg(long)]
    pub hide: Option<HideSpec>,
    /// Number of rows (the first n of the split)
    #[arg(short = 'n', long = "num", default_value_t = 10, value_parser = positive_usize, allow_hyphen_values = true)]
    pub n: usize,
    /// Seed of random masks
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The MPE query
    #[arg(long, value_enum, default_value_t = MpeArg::MaxProduct)]
    pub mpe: MpeArg,
    /// Output CSV file [default: standard output]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Where to run.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `einet info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// The model file
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// The arguments after `einet train`, as given (lossily converted to UTF-8).
fn train_argv() -> Vec<String> {
    std::env::args_os()
        .skip(2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(&a, train_argv()),
        Command::Eval(a) => eval::run(&a),
        Command::Sample(a) => sample::run(&a),
        Command::Inpaint(a) => inpaint::run(&a),
        Command::Mpe(a) => mpe::run(&a),
        Command::Query(a) => query::run(&a),
        Command::Info(a) => info::run(&a),
        Command::Bench(a) => bench::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            if matches!(e.downcast_ref(), Some(einet::Error::Interrupted { .. })) {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Prints `error: …` to stderr in one write, so that it stays one line when other processes
/// (the other ranks, mpirun) write to the same stream.
fn print_error(e: &anyhow::Error) {
    use std::io::Write;
    let line = format!("error: {}\n", einet::error::chain_message(e.chain()));
    // Nothing is left to report a failed write of the error itself to.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
