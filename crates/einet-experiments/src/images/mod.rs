//! `einet-experiments images`: the paper's image experiments, scaled to a CPU.
//!
//! * `mnist-pd7`, `mnist-pd4`: MNIST (all digits; a random sixth of train is the validation
//!   part) with Poon–Domingos structures Δ = 7 and Δ = 4, Binomial(255) leaves, K = 10,
//!   batch 100, stepwise EM with step 0.05 (the reference's `demo_mnist.py`). Test bits per
//!   dimension `−LL / (784 · ln 2)`, 25 samples, and inpainting of the top and left halves
//!   as `einet inpaint` does it ([`mnist`]).
//! * `mnist-pd7-cat256`, `mnist-pd4-cat256`: the same with Categorical(256) leaves (the
//!   reference's commented-out alternative), which can put mass on both black and white.
//! * `mnist-hclt-cat256`: a hidden Chow–Liu tree over the pixels with Categorical(256)
//!   leaves, K = 32 (PyJuice's MNIST model), trained by stepwise EM on batches of 512 with the
//!   step annealed from 0.1 to 0.9 and a pseudocount of 0.1 (the HCLT recipe).
//! * `cifar-mixture`: the CIFAR-10 subset as a stand-in for SVHN, with the reference's SVHN
//!   recipe (`train_svhn_mixture.py`, `eval_svhn_mixture.py`): k-means (k-means++) clusters
//!   of the training images, one Poon–Domingos Δ = 8 EiNet with Normal leaves (variance in
//!   [1e-6, 0.01], pixels scaled to [0, 1], not centred) per cluster, trained on its rows with
//!   the validation rows nearest its centroid selecting the epoch, mixed with `π` = the cluster
//!   shares ([`einet::EinetMixture`]; [`mixture`]).
//!
//! Writes `images.json` (one entry per experiment, merged with earlier runs), `images.md`
//! ([`summary`]) and the PNG grids into `--out`, and the models into `--models`.

mod mixture;
mod mnist;
mod summary;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use einet::args::{RunArgs, positive_usize};
use einet::provenance::Provenance;
use einet::{EpochMetrics, LeafChoice, Loaded, StructureSpec, TrainObserver};
use serde::{Deserialize, Serialize};

use self::summary::markdown;
use crate::report::{self, merge_entries, read_entries, write_entries, write_text};

/// Samples per grid.
const SAMPLES: usize = 25;
/// Upscaling of the PNG grids.
const SCALE: usize = 2;

/// One experiment of `einet-experiments images`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// MNIST, Poon–Domingos Δ = 7
    MnistPd7,
    /// MNIST, Poon–Domingos Δ = 4
    MnistPd4,
    /// MNIST, Poon–Domingos Δ = 7, Categorical(256) leaves
    #[value(name = "mnist-pd7-cat256")]
    MnistPd7Cat256,
    /// MNIST, Poon–Domingos Δ = 4, Categorical(256) leaves
    #[value(name = "mnist-pd4-cat256")]
    MnistPd4Cat256,
    /// MNIST, a hidden Chow–Liu tree over the pixels (CP layers), Categorical(256) leaves
    #[value(name = "mnist-hclt-cat256")]
    MnistHcltCat256,
    /// CIFAR-10 subset, mixture of Poon–Domingos Δ = 8 EiNets over k-means clusters
    CifarMixture,
}

impl Part {
    /// The experiment's name (file prefix and `images.json` key).
    pub fn id(self) -> &'static str {
        match self {
            Part::MnistPd7 => "mnist-pd7",
            Part::MnistPd4 => "mnist-pd4",
            Part::MnistPd7Cat256 => "mnist-pd7-cat256",
            Part::MnistPd4Cat256 => "mnist-pd4-cat256",
            Part::MnistHcltCat256 => "mnist-hclt-cat256",
            Part::CifarMixture => "cifar-mixture",
        }
    }

    /// The structure and the leaf family of an MNIST experiment (`None` for the mixture).
    fn mnist_setup(self) -> Option<(MnistStructure, LeafChoice)> {
        let binomial = LeafChoice::Binomial(Some(255));
        let categorical = LeafChoice::Categorical(Some(256));
        let pd = |delta| MnistStructure::Pd { delta };
        match self {
            Part::MnistPd7 => Some((pd(7), binomial)),
            Part::MnistPd4 => Some((pd(4), binomial)),
            Part::MnistPd7Cat256 => Some((pd(7), categorical)),
            Part::MnistPd4Cat256 => Some((pd(4), categorical)),
            Part::MnistHcltCat256 => Some((MnistStructure::Hclt, categorical)),
            Part::CifarMixture => None,
        }
    }

    const ALL: [Part; 6] = [
        Part::MnistPd7,
        Part::MnistPd4,
        Part::MnistPd7Cat256,
        Part::MnistPd4Cat256,
        Part::MnistHcltCat256,
        Part::CifarMixture,
    ];
}

/// The structure of an MNIST experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistStructure {
    /// Poon–Domingos with one step size on both axes, Tucker layers.
    Pd {
        /// The step size.
        delta: usize,
    },
    /// A hidden Chow–Liu tree learned from the training images, CP layers.
    Hclt,
}

/// `einet-experiments images`.
#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Experiments to run, comma-separated
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mnist-pd7,mnist-pd4,cifar-mixture"
    )]
    pub which: Vec<Part>,
    /// Folder of images.json, images.md and the PNG grids
    #[arg(long, short = 'o', default_value = "docs/results")]
    pub out: PathBuf,
    /// Folder of the trained models (one subfolder per experiment)
    #[arg(long, default_value = "runs/experiment-images")]
    pub models: PathBuf,
    /// Data folder [default: $EINET_DATA, else the repository's data/]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Epochs of every experiment [default: 30 for mnist-pd7, 5 for mnist-pd4, 40 mini-batch
    /// epochs for mnist-hclt-cat256, 30 for each cifar-mixture component]
    #[arg(long, value_parser = positive_usize)]
    pub epochs: Option<usize>,
    /// mnist-hclt-cat256: the stepwise step size of the first and of the last mini-batch
    /// epoch (linear in between; every mini-batch epoch runs)
    #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [0.8, 0.1])]
    pub hclt_steps: Vec<f32>,
    /// mnist-hclt-cat256: full-batch EM epochs after the stepwise ones (early stopping after
    /// 3 epochs without a better validation LL ends them sooner)
    #[arg(long, default_value_t = 20)]
    pub full_batch_epochs: usize,
    /// Number of k-means clusters (mixture components) of cifar-mixture
    #[arg(long, default_value_t = 10, value_parser = positive_usize)]
    pub clusters: usize,
    /// Vector length K of every experiment [default: 10 for MNIST, 40 for cifar-mixture]
    #[arg(long, short = 'k', value_parser = positive_usize)]
    pub k: Option<usize>,
    /// cifar-mixture: the axes Poon–Domingos may cut (0 = rows, 1 = columns); the
    /// reference's SVHN script cuts columns only (--cifar-axes 1) [default: both]
    #[arg(long, value_delimiter = ',')]
    pub cifar_axes: Vec<usize>,
    /// Images per inpainting grid (the first ones of the test split)
    #[arg(long, default_value_t = 8, value_parser = positive_usize)]
    pub inpaint_rows: usize,
    /// Use only the first N rows of each split (quick checks; not for reported numbers)
    #[arg(long, value_parser = positive_usize)]
    pub max_rows: Option<usize>,
    /// Seed of structures, initial parameters, batch order, k-means and samples
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only rewrite images.md from the results in images.json (no training)
    #[arg(long)]
    pub report_only: bool,
    /// Where to run.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Rows of each part of the data an experiment used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub valid: usize,
    /// Test rows.
    pub test: usize,
}

impl Rows {
    /// The rows of `data`.
    fn of(data: &Loaded) -> Self {
        Rows {
            train: data.train.rows(),
            valid: data.valid.rows(),
            test: data.test.rows(),
        }
    }
}

/// The PNG grids of an experiment, by file name in the output folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pictures {
    /// Samples.
    pub samples: String,
    /// Samples with the Normal leaves' standard deviation kept (the mixture only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_std1: Option<String>,
    /// Inpainting of the top half.
    pub inpaint_top: String,
    /// Inpainting of the left half.
    pub inpaint_left: String,
}

/// Runs `einet-experiments images`.
pub fn run(args: &ImagesArgs) -> Result<()> {
    let device = args.run.device()?;
    if args.which.is_empty() {
        bail!(
            "--which names no experiment; use mnist-pd7, mnist-pd4, mnist-pd7-cat256, \
             mnist-pd4-cat256 or cifar-mixture"
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let provenance = Provenance::collect(&device);
    let json_path = args.out.join("images.json");
    let md_path = args.out.join("images.md");
    if args.report_only {
        let entries = read_entries(&json_path)?;
        if entries.is_empty() {
            bail!("{} holds no results to report", json_path.display());
        }
        write_text(&md_path, &markdown(&entries))?;
        println!("wrote {}", md_path.display());
        return Ok(());
    }
    let mut done = Vec::new();
    for &part in &args.which {
        if done.contains(&part) {
            continue;
        }
        done.push(part);
        println!("== {} ==", part.id());
        let provenance = provenance.clone();
        let entry = match part.mnist_setup() {
            Some((structure, leaf)) => report::entry(&mnist::run(
                args, part, structure, leaf, device, provenance,
            )?)?,
            None => report::entry(&mixture::run(args, device, provenance)?)?,
        };
        // Re-read: another run may have written its results meanwhile.
        let mut entries = merge_entries(read_entries(&json_path)?, &[entry], &["experiment"]);
        entries.sort_by_key(|e| order_key(e["experiment"].as_str().unwrap_or("")));
        write_entries(&json_path, &entries)?;
        write_text(&md_path, &markdown(&entries))?;
        println!("wrote {} and {}", json_path.display(), md_path.display());
    }
    Ok(())
}

fn order_key(id: &str) -> usize {
    Part::ALL
        .iter()
        .position(|p| p.id() == id)
        .unwrap_or(usize::MAX)
}

/// Keeps the first `max` rows of each split.
fn limit_rows(data: &mut Loaded, max: Option<usize>) {
    let Some(max) = max else { return };
    for d in [&mut data.train, &mut data.valid, &mut data.test] {
        let n = d.rows().min(max);
        d.values.truncate(n * d.row_len());
        if let Some(l) = d.labels.as_mut() {
            l.truncate(n);
        }
    }
    data.info.rows = [data.train.rows(), data.valid.rows(), data.test.rows()];
}

/// Poon–Domingos with one step size `delta` on every axis, cutting `axes` (all when empty).
fn pd_structure(delta: usize, axes: &[usize]) -> StructureSpec {
    StructureSpec::Pd {
        deltas: vec![vec![delta as f64]],
        axes: (!axes.is_empty()).then(|| axes.to_vec()),
        max_split_depth: None,
    }
}

/// Prints one line per epoch, each starting with `prefix`.
struct EpochLines {
    prefix: String,
    epochs: usize,
}

impl TrainObserver for EpochLines {
    fn epoch_done(&mut self, m: &EpochMetrics) -> einet::Result<()> {
        println!(
            "{}epoch {:>3}/{}  train LL {:.4} (running)  valid LL {:.4}  test LL {:.4}  \
             {:.1} s + {:.1} s eval  {:.0} samples/s{}",
            self.prefix,
            m.epoch,
            self.epochs,
            m.train_ll_running,
            m.valid_ll,
            m.test_ll,
            m.seconds,
            m.eval_seconds,
            m.samples_per_s,
            if m.improved { "  *" } else { "" }
        );
        Ok(())
    }
}

/// The `tool` of the training records of the models the experiments write.
fn tool() -> String {
    format!("einet-experiments {} (images)", env!("CARGO_PKG_VERSION"))
}
