//! `einet experiment images`: the paper's image experiments (spec §1.7–1.9), scaled to a CPU.
//!
//! * `mnist-pd7`, `mnist-pd4`: MNIST (all digits; a random sixth of train is the validation
//!   part) with Poon–Domingos structures Δ = 7 and Δ = 4, Binomial(255) leaves, K = 10,
//!   batch 100, stepwise EM with step 0.05 (the reference's `demo_mnist.py`). Test bits per
//!   dimension `−LL / (784 · ln 2)`, 25 samples, and inpainting of the top and left halves
//!   through `einet inpaint`'s code path.
//! * `mnist-pd7-cat256`, `mnist-pd4-cat256`: the same with Categorical(256) leaves (the
//!   reference's commented-out alternative), which can put mass on both black and white.
//! * `cifar-mixture`: the CIFAR-10 subset as a stand-in for SVHN, with the reference's SVHN
//!   recipe (`train_svhn_mixture.py`, `eval_svhn_mixture.py`): k-means (k-means++) clusters
//!   of the training images, one Poon–Domingos Δ = 8 EiNet with Normal leaves (variance in
//!   [1e-6, 0.01], pixels scaled to [0, 1], not centred) per cluster, trained on its rows with
//!   the validation rows nearest its centroid selecting the epoch, mixed with `π` = the cluster
//!   shares ([`crate::mixture::EinetMixture`]).
//!
//! Writes `images.json` (one entry per experiment, merged with earlier runs), `images.md`
//! and the PNG grids into `--out`, and the models into `--models`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet_core::{Einet, EmConfig, EmMode, LeafInit, MpeKind, StepwiseRule};
use einet_data::{Dataset, KMeans, kmeans};
use serde_json::{Value, json};

use crate::backend_arg::RunArgs;
use crate::experiment::report::{
    Provenance, machine_line, merge_entries, read_entries, write_entries, write_text,
};
use crate::hide::HideSpec;
use crate::inpaint;
use crate::leaf_arg::LeafArg;
use crate::mixture::{EinetMixture, mixture_log_likelihood};
use crate::record::em_json;
use crate::sample::write_image_grid;
use crate::structure_arg::{StructureArgs, StructureKind};
use crate::train::{self, EpochMetrics, TrainConfig};
use crate::{InpaintArgs, ModelData, MpeArg, positive_usize};
use einet_data::registry::{DatasetSpec, Loaded, Split};

/// Samples per grid.
const SAMPLES: usize = 25;
/// Upscaling of the PNG grids.
const SCALE: usize = 2;
/// k-means restarts (sklearn's `n_init` in the reference) and Lloyd iterations.
const KMEANS_INITS: u64 = 3;
const KMEANS_ITER: usize = 100;

/// One experiment of `einet experiment images`.
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
            Part::CifarMixture => "cifar-mixture",
        }
    }

    /// The Poon–Domingos Δ and the leaf family of an MNIST experiment (`None` for the
    /// mixture).
    fn mnist_setup(self) -> Option<(usize, LeafArg)> {
        let binomial = LeafArg::Binomial(Some(255));
        let categorical = LeafArg::Categorical(Some(256));
        match self {
            Part::MnistPd7 => Some((7, binomial)),
            Part::MnistPd4 => Some((4, binomial)),
            Part::MnistPd7Cat256 => Some((7, categorical)),
            Part::MnistPd4Cat256 => Some((4, categorical)),
            Part::CifarMixture => None,
        }
    }

    const ALL: [Part; 5] = [
        Part::MnistPd7,
        Part::MnistPd4,
        Part::MnistPd7Cat256,
        Part::MnistPd4Cat256,
        Part::CifarMixture,
    ];
}

/// `einet experiment images`.
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
    /// Epochs of every experiment [default: 30 for mnist-pd7, 5 for mnist-pd4, 30 for each
    /// cifar-mixture component]
    #[arg(long, value_parser = positive_usize)]
    pub epochs: Option<usize>,
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
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `einet experiment images`.
pub fn run(args: &ImagesArgs) -> Result<()> {
    args.run.init()?;
    if args.which.is_empty() {
        bail!(
            "--which names no experiment; use mnist-pd7, mnist-pd4, mnist-pd7-cat256, \
             mnist-pd4-cat256 or cifar-mixture"
        );
    }
    let root = einet_data::registry::resolve_root(args.data_dir.as_deref(), None);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let provenance = Provenance::collect(&args.run);
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
        let mut entry = match part.mnist_setup() {
            Some((delta, leaf)) => mnist(args, part, delta, leaf, &root)?,
            None => cifar_mixture(args, &root)?,
        };
        entry["provenance"] = serde_json::to_value(&provenance)?;
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

fn pd_structure(delta: usize, axes: &[usize]) -> StructureArgs {
    StructureArgs {
        structure: Some(StructureKind::Pd),
        deltas: vec![delta.to_string()],
        axes: axes.to_vec(),
        ..Default::default()
    }
}

fn epoch_line(prefix: &str, epochs: usize, m: &EpochMetrics) {
    println!(
        "{prefix}epoch {:>3}/{epochs}  train LL {:.4} (running)  valid LL {:.4}  test LL {:.4}  \
         {:.1} s + {:.1} s eval  {:.0} samples/s{}",
        m.epoch,
        m.train_ll_running,
        m.valid_ll,
        m.test_ll,
        m.seconds,
        m.eval_seconds,
        m.samples_per_s,
        if m.improved { "  *" } else { "" }
    );
}

fn mnist(args: &ImagesArgs, part: Part, delta: usize, leaf: LeafArg, root: &Path) -> Result<Value> {
    let started = Instant::now();
    let id = part.id();
    let (mut data, family) = train::load_for_training(&DatasetSpec::Mnist, Some(root), Some(leaf))?;
    limit_rows(&mut data, args.max_rows);
    let info = data.info.clone();
    let config = TrainConfig {
        structure: pd_structure(delta, &[]),
        k: Some(args.k.unwrap_or(10)),
        k_leaf: None,
        em: EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.05,
                // The reference's rule, which produced the committed results.
                rule: StepwiseRule::Parameters,
            },
            pseudocount: 0.0,
        },
        leaf_init: LeafInit::Random,
        epochs: args.epochs.unwrap_or(if delta >= 7 { 30 } else { 5 }),
        batch_size: 100,
        seed: args.seed,
        eval_train: false,
        patience: None,
        progress: true,
    };
    let built = train::build(&config, &info, family)?;
    let params = built.einet.layout.num_params();
    println!(
        "MNIST: {} train / {} valid / {} test images; PD Δ = {delta}, K = {}, {} leaves, \
         {params} parameters, {} epochs",
        data.train.rows(),
        data.valid.rows(),
        data.test.rows(),
        built.k_sum,
        family.name(),
        config.epochs
    );
    let trained = train::fit(built, &config, &data, &args.run, |m| {
        epoch_line("", config.epochs, m);
        Ok(())
    })?;
    let train_seconds = trained.seconds;
    let best = trained.best().clone();
    let training = train::training_record(
        &trained,
        &info,
        family,
        &config,
        &args.run,
        "experiment images",
    )?;
    let mut einet = trained.einet;
    einet.training = training;
    let dir = args.models.join(id);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the model folder {}", dir.display()))?;
    let model_path = dir.join("model.einet");
    einet
        .save(&model_path)
        .with_context(|| format!("cannot save the model to {}", model_path.display()))?;
    let bpd = info
        .bits_per_dim(best.test_ll)
        .context("MNIST is image data")?;
    println!(
        "best epoch {}: test LL {:.2} nats/image, {bpd:.4} bits/dim; wrote {}",
        best.epoch,
        best.test_ll,
        model_path.display()
    );

    let mut images = serde_json::Map::new();
    let samples = format!("{id}-samples.png");
    let mut model = args.run.load(&einet)?;
    let values = model
        .sample(SAMPLES, None, args.seed, 1.0)
        .context("cannot draw samples")?;
    write_image_grid(
        &values,
        SAMPLES,
        &info,
        Some(SCALE),
        &args.out.join(&samples),
    )?;
    println!("wrote {}", args.out.join(&samples).display());
    images.insert("samples".into(), samples.into());
    drop(model);
    for (hide, name) in [(HideSpec::Top, "top"), (HideSpec::Left, "left")] {
        let file = format!("{id}-inpaint-{name}.png");
        inpaint::run(&InpaintArgs {
            data: ModelData {
                model: model_path.clone(),
                dataset: Some(DatasetSpec::Mnist),
                data_dir: Some(root.to_path_buf()),
                split: Split::Test,
            },
            hide,
            n: args.inpaint_rows,
            seed: args.seed,
            out: args.out.join(&file),
            mpe: MpeArg::MaxProduct,
            std_correction: 1.0,
            scale: Some(SCALE),
            run: RunArgs {
                threads: None,
                ..args.run.clone()
            },
        })?;
        images.insert(format!("inpaint_{name}"), file.into());
    }
    Ok(json!({
        "experiment": id,
        "dataset": "mnist (all digits)",
        "structure": format!("Poon–Domingos 28×28, Δ = {delta}"),
        "structure_record": trained.structure,
        "k": trained.k_sum,
        "leaf": family.name(),
        "em": em_json(&config.em),
        "batch_size": config.batch_size,
        "epochs": trained.history.len(),
        "best_epoch": best.epoch,
        "rows": {"train": data.train.rows(), "valid": data.valid.rows(), "test": data.test.rows()},
        "params": params,
        "test_ll": best.test_ll,
        "valid_ll": best.valid_ll,
        "bits_per_dim": bpd,
        "units": "test_ll: mean log-likelihood in nats per image of the discrete pixel values \
                  0..255; bits_per_dim = -test_ll / (784 ln 2)",
        "train_seconds": train_seconds,
        "seconds": started.elapsed().as_secs_f64(),
        "history": trained.history,
        "inpainting": "first test images; conditional sample (std 1) and exact max-product MPE",
        "model": model_path,
        "images": images,
    }))
}

/// The best of [`KMEANS_INITS`] k-means runs (lowest inertia).
fn cluster(train: &Dataset, k: usize, seed: u64) -> Result<KMeans> {
    let mut best: Option<KMeans> = None;
    for i in 0..KMEANS_INITS {
        let km = kmeans(train, k, seed.wrapping_add(i), KMEANS_ITER)
            .context("k-means of the training images failed")?;
        if best.as_ref().is_none_or(|b| km.inertia < b.inertia) {
            best = Some(km);
        }
    }
    best.context("no k-means run")
}

/// The rows of `data` nearest to each centroid of `km`.
fn nearest_rows(km: &KMeans, data: &Dataset) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); km.k];
    for i in 0..data.rows() {
        rows[km.nearest(data.row(i))].push(i);
    }
    rows
}

fn cifar_mixture(args: &ImagesArgs, root: &Path) -> Result<Value> {
    let started = Instant::now();
    let id = Part::CifarMixture.id();
    let (mut data, family) = train::load_for_training(
        &DatasetSpec::Cifar,
        Some(root),
        // Normal leaves with the image bounds, einet_core::LeafFamily::PIXEL_NORMAL.
        Some(LeafArg::Normal(None)),
    )?;
    limit_rows(&mut data, args.max_rows);
    let info = data.info.clone();
    let k_clusters = args.clusters.min(data.train.rows());
    let t = Instant::now();
    let km = cluster(&data.train, k_clusters, args.seed)?;
    let sizes = km.cluster_sizes();
    println!(
        "CIFAR-10 subset: {} train / {} valid / {} test images; k-means ({k_clusters} \
         clusters, best of {KMEANS_INITS} k-means++ runs, {} iterations{}) in {:.1} s; sizes \
         {sizes:?}",
        data.train.rows(),
        data.valid.rows(),
        data.test.rows(),
        km.iterations,
        if km.converged { ", converged" } else { "" },
        t.elapsed().as_secs_f64()
    );
    let valid_rows = nearest_rows(&km, &data.valid);
    let test_rows = nearest_rows(&km, &data.test);
    let config = TrainConfig {
        structure: pd_structure(8, &args.cifar_axes),
        k: Some(args.k.unwrap_or(40)),
        k_leaf: None,
        em: EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.5,
                // The reference's rule, which produced the committed results.
                rule: StepwiseRule::Parameters,
            },
            pseudocount: 0.0,
        },
        leaf_init: LeafInit::Random,
        epochs: args.epochs.unwrap_or(30),
        batch_size: 50,
        seed: args.seed,
        eval_train: false,
        patience: None,
        progress: true,
    };
    let mut components = Vec::with_capacity(k_clusters);
    let mut per_cluster = Vec::with_capacity(k_clusters);
    let mut train_seconds = 0.0;
    let mut structure = Value::Null;
    for c in 0..k_clusters {
        let train_idx = km.cluster_indices(c);
        // A cluster without validation rows selects its epoch on its training rows.
        let (valid, valid_source) = if valid_rows[c].is_empty() {
            (data.train.select(&train_idx), "train")
        } else {
            (data.valid.select(&valid_rows[c]), "valid")
        };
        let test = if test_rows[c].is_empty() {
            valid.clone()
        } else {
            data.test.select(&test_rows[c])
        };
        let mut part_info = info.clone();
        part_info.rows = [train_idx.len(), valid.rows(), test.rows()];
        let part = Loaded {
            spec: DatasetSpec::Cifar,
            train: data.train.select(&train_idx),
            valid,
            test,
            kind: data.kind,
            info: part_info,
        };
        let cfg = TrainConfig {
            seed: args.seed.wrapping_add(c as u64),
            ..config.clone()
        };
        let built = train::build(&cfg, &info, family)?;
        if c == 0 {
            println!(
                "each component: PD 32×32 Δ = 8 (axes {}), 3 channels, K = {}, {} leaves, {} \
                 parameters; batch {}, stepwise EM step 0.5, {} epochs",
                if args.cifar_axes.is_empty() {
                    "0, 1".to_string()
                } else {
                    format!("{:?}", args.cifar_axes)
                },
                built.k_sum,
                family.name(),
                built.einet.layout.num_params(),
                cfg.batch_size,
                cfg.epochs
            );
        }
        println!(
            "cluster {c}: {} train, {} {valid_source} rows for selection, {} test rows",
            part.train.rows(),
            part.valid.rows(),
            part.test.rows()
        );
        let prefix = format!("  c{c:02} ");
        let trained = train::fit(built, &cfg, &part, &args.run, |m| {
            epoch_line(&prefix, cfg.epochs, m);
            Ok(())
        })?;
        train_seconds += trained.seconds;
        let best = trained.best();
        per_cluster.push(json!({
            "cluster": c,
            "train_rows": part.train.rows(),
            "selection_rows": part.valid.rows(),
            "selection_split": valid_source,
            "weight": sizes[c] as f64 / data.train.rows() as f64,
            "best_epoch": best.epoch,
            "valid_ll": best.valid_ll,
            "seconds": trained.seconds,
        }));
        let training = train::training_record(
            &trained,
            &part.info,
            family,
            &cfg,
            &args.run,
            "experiment images",
        )?;
        structure = trained.structure;
        let mut einet = trained.einet;
        einet.training = training;
        components.push(einet);
    }
    let mut mixture = EinetMixture::from_counts(&sizes, components)?;
    mixture.metadata = json!({
        "dataset": "cifar",
        "data": info,
        "clusters": k_clusters,
        "cluster_sizes": sizes,
        "kmeans": {"inits": KMEANS_INITS, "max_iter": KMEANS_ITER, "iterations": km.iterations,
                   "inertia": km.inertia, "seed": args.seed},
        "centroids_note": "pixels scaled to [0, 1]; data not centred",
    });
    let dir = args.models.join(id);
    mixture.save(&dir)?;
    // Evaluate what was saved.
    let mixture = EinetMixture::load(&dir)?;
    println!("wrote the mixture to {}", dir.display());

    let run = args.run.clone();
    let mut load = |e: &Einet| run.load(e);
    let t = Instant::now();
    let per = mixture.component_log_likelihoods(&data.test.values, 200, &mut load)?;
    let rows = data.test.rows() as f64;
    let test_ll = mixture_log_likelihood(&mixture.log_weights(), &per)
        .iter()
        .sum::<f64>()
        / rows;
    let negated: Vec<f64> = mixture.log_weights().iter().map(|w| -w).collect();
    let reference_formula = mixture_log_likelihood(&negated, &per).iter().sum::<f64>() / rows;
    let valid_ll = mixture
        .log_likelihood(&data.valid.values, 200, &mut load)?
        .iter()
        .sum::<f64>()
        / data.valid.rows() as f64;
    let bpd = info.bits_per_dim(test_ll).context("CIFAR is image data")?;
    let d = info.row_len() as f64;
    println!(
        "mixture test LL {test_ll:.2} nats/image (density of pixels/255), {:.4} nats/dim; \
         {bpd:.4} bits/dim on the 0..255 scale; valid LL {valid_ll:.2}; the reference's \
         formula (−ln π) would report {reference_formula:.2} ({:.1} s)",
        test_ll / d,
        t.elapsed().as_secs_f64()
    );

    let mut images = serde_json::Map::new();
    for (std, file) in [
        (0.0f32, format!("{id}-samples.png")),
        (1.0, format!("{id}-samples-std1.png")),
    ] {
        let s = mixture.sample(SAMPLES, args.seed, std, &mut load)?;
        write_image_grid(
            &s.values,
            SAMPLES,
            &info,
            Some(SCALE),
            &args.out.join(&file),
        )?;
        println!(
            "wrote {} (std_correction {std}; components {:?})",
            args.out.join(&file).display(),
            s.components
        );
        let key = if std == 0.0 {
            "samples"
        } else {
            "samples_std1"
        };
        images.insert(key.into(), file.into());
    }
    let mut inpaint_components = serde_json::Map::new();
    for (hide, name) in [(HideSpec::Top, "top"), (HideSpec::Left, "left")] {
        let file = format!("{id}-inpaint-{name}.png");
        // The component of each row is the arg-max of its posterior given the visible half.
        let masks = hide.masks(&info, args.inpaint_rows.min(data.test.rows()), args.seed)?;
        let path = args.out.join(&file);
        let chosen = inpaint::write_grid(&data.test, &info, &masks, SCALE, &path, |evidence| {
            let out = mixture.inpaint(evidence, args.seed, 0.0, MpeKind::MaxProduct, &mut load)?;
            Ok((out.sampled, out.mpe, out.components))
        })?;
        println!(
            "wrote {} (components by posterior: {chosen:?})",
            path.display()
        );
        images.insert(format!("inpaint_{name}"), file.into());
        inpaint_components.insert(name.into(), json!(chosen));
    }
    let params = mixture.num_params();
    Ok(json!({
        "experiment": id,
        "dataset": "cifar10-subset (stand-in for SVHN)",
        "structure": format!(
            "mixture of {k_clusters} EiNets over k-means clusters; each Poon–Domingos 32×32, Δ = 8{}, 3 channels",
            if args.cifar_axes.is_empty() { String::new() } else { format!(", axes {:?}", args.cifar_axes) }
        ),
        "structure_record": structure,
        "k": config.k,
        "leaf": family.name(),
        "em": em_json(&config.em),
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "clusters": k_clusters,
        "components": per_cluster,
        "rows": {"train": data.train.rows(), "valid": data.valid.rows(), "test": data.test.rows()},
        "params": params,
        "test_ll": test_ll,
        "valid_ll": valid_ll,
        "test_ll_per_dim": test_ll / d,
        "bits_per_dim": bpd,
        "test_ll_reference_formula": reference_formula,
        "units": "test_ll: mean log-density in nats per image of the pixels scaled to [0, 1] \
                  (3072 dimensions; a continuous density, not a probability of discrete \
                  values); bits_per_dim = -(test_ll + 3072 ln(1/255)) / (3072 ln 2), the same \
                  density on the 0..255 scale, not dequantised; test_ll_reference_formula \
                  uses the reference's logsumexp(ll_c - ln pi_c)",
        "samples": "component drawn from pi, then its sample; samples.png with \
                    std_correction 0 (means, as the reference), samples-std1.png with 1",
        "inpainting": "first test images; component = argmax of pi_c p_c(visible half), \
                       then its conditional sample (std_correction 0) and exact max-product MPE",
        "inpaint_components": inpaint_components,
        "train_seconds": train_seconds,
        "seconds": started.elapsed().as_secs_f64(),
        "model": dir,
        "images": images,
    }))
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

/// The markdown report of all entries.
fn markdown(entries: &[Value]) -> String {
    let mut s = String::new();
    s.push_str("## Image experiments (`einet experiment images`)\n\n");
    s.push_str(
        "The paper's image experiments (spec §1.7–1.9) at CPU scale. MNIST: bits per \
         dimension of the discrete pixel values, `−LL / (784 · ln 2)`. CIFAR-10 subset (the \
         stand-in for SVHN, which is not available here): a mixture of EiNets over k-means \
         clusters; its log-likelihood is a continuous density of the pixels scaled to [0, 1] \
         (nats per image), and its bits/dim are of the same density on the 0..255 scale \
         (not dequantised, so not comparable with discrete bits/dim). The mixture \
         log-likelihood is `logsumexp_c(ln π_c + log p_c(x))`; the reference's \
         `EinetMixture.log_likelihood` subtracts `ln π_c` instead, which overstates it (its \
         value is listed for comparison).\n\n",
    );
    s.push_str(
        "| experiment | data | structure | K | leaves | epochs (best) | parameters | test LL \
         (nats/image) | bits/dim | train s | total s |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in entries {
        let best = e["best_epoch"]
            .as_u64()
            .map_or(String::new(), |b| format!(" ({b})"));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} |\n",
            e["experiment"].as_str().unwrap_or(""),
            e["dataset"].as_str().unwrap_or(""),
            e["structure"].as_str().unwrap_or(""),
            e["k"],
            e["leaf"].as_str().unwrap_or(""),
            e["epochs"],
            best,
            e["params"],
            num(&e["test_ll"], 2),
            num(&e["bits_per_dim"], 4),
            num(&e["train_seconds"], 0),
            num(&e["seconds"], 0),
        ));
    }
    for e in entries {
        let id = e["experiment"].as_str().unwrap_or("");
        s.push_str(&format!("\n### {id}\n\n"));
        if let Some(p) = e.get("provenance") {
            s.push_str(&format!(
                "Run {} UTC on {}, commit {}{}: `{}`\n\n",
                p["started"].as_str().unwrap_or("?"),
                machine_line(p),
                p["commit"].as_str().unwrap_or("unknown"),
                // Entries from before commits were recorded with a `+changes` suffix flag
                // uncommitted changes separately.
                if e["uncommitted_changes"] == true {
                    " with uncommitted changes"
                } else {
                    ""
                },
                p["command"].as_str().unwrap_or("")
            ));
        }
        s.push_str(&notes(e));
        s.push_str(&format!(
            "Batch {}, EM {}. Test LL {} nats/image, {} bits/dim{}.\n\n",
            e["batch_size"],
            e["em"],
            num(&e["test_ll"], 2),
            num(&e["bits_per_dim"], 4),
            match e.get("test_ll_reference_formula") {
                Some(r) => format!(
                    " ({} nats/dim; the reference's formula would report {})",
                    num(&e["test_ll_per_dim"], 4),
                    num(r, 2)
                ),
                None => String::new(),
            }
        ));
        if let Some(comps) = e["components"].as_array() {
            s.push_str(
                "| cluster | train rows | π | selection rows | best epoch | selection LL |\n\
                 |---|---|---|---|---|---|\n",
            );
            for c in comps {
                s.push_str(&format!(
                    "| {} | {} | {} | {} ({}) | {} | {} |\n",
                    c["cluster"],
                    c["train_rows"],
                    num(&c["weight"], 4),
                    c["selection_rows"],
                    c["selection_split"].as_str().unwrap_or(""),
                    c["best_epoch"],
                    num(&c["valid_ll"], 1)
                ));
            }
            s.push('\n');
        }
        let images = &e["images"];
        let show = |key: &str, caption: &str| -> String {
            images[key].as_str().map_or(String::new(), |f| {
                format!("{caption}:\n\n![{id} {caption}]({f})\n\n")
            })
        };
        s.push_str(&show("samples", "Samples"));
        s.push_str(&show("samples_std1", "Samples with std_correction 1"));
        s.push_str(
            "Inpainting (each row: original | masked (red = hidden) | conditional sample | \
             MPE):\n\n",
        );
        s.push_str(&show("inpaint_top", "Top half hidden"));
        s.push_str(&show("inpaint_left", "Left half hidden"));
    }
    s
}

/// What an experiment changed from the reference's script, from its entry.
fn notes(e: &Value) -> String {
    let epochs = &e["epochs"];
    if e["experiment"] == "cifar-mixture" {
        let rows = &e["rows"];
        let axes = match e["structure_record"]["axes"].as_array() {
            Some(a) => {
                format!("cutting only axes {a:?} (the reference's script cuts columns only)")
            }
            None => "cutting both axes (the reference's script cuts columns only; \
                     `--cifar-axes 1` does that)"
                .into(),
        };
        format!(
            "Scaled down from the reference's SVHN recipe (`train_svhn_mixture.py`): the \
             CIFAR-10 subset, {} training and {} validation images (10 % of the 4000 training \
             images) instead of about 600,000 SVHN images; {} k-means++ clusters (best of 3 \
             runs, at most 100 Lloyd iterations) instead of 100; K = {}; Poon–Domingos Δ = 8 \
             {axes}; batch {} with a stepwise-EM step of 0.5 after every batch for {epochs} \
             epochs (the reference: batch 10, step 0.5 every 50 batches, 3 epochs, which would \
             give a cluster of a few hundred images less than one update per epoch); pixels \
             scaled to [0, 1] and not centred; each component keeps the epoch with the best \
             log-likelihood on the validation images nearest its centroid. π = cluster \
             shares. Samples: component drawn from π, then its sample. Inpainting: the \
             component with the largest π_c · p_c(visible part), its conditional sample \
             (std_correction 0) and its exact max-product MPE.\n\n",
            rows["train"], rows["valid"], e["clusters"], e["k"], e["batch_size"],
        )
    } else {
        let leaves = if e["leaf"]
            .as_str()
            .is_some_and(|l| l.starts_with("categorical"))
        {
            "Categorical(256) leaves (the reference's commented-out alternative to its \
             Binomial(255)), which give every pixel value its own probability"
        } else {
            "Binomial(255) leaves, as there; they fit MNIST's mostly black-or-white pixels \
             poorly (a pixel that is 0 in some images and 255 in others under the same leaf \
             state costs up to 255 · ln 2 nats), so these bits/dim are far above those of \
             models built for likelihood (the reference's demo reports samples, not \
             likelihoods)"
        };
        format!(
            "Settings of the reference's `demo_mnist.py` (K = {}, batch {}, stepwise EM step \
             0.05 after every batch) but all ten digits instead of the 7s only, and {}; the \
             validation part is a random sixth of the training images. {leaves}. Inpainting \
             through `einet inpaint`: one conditional sample (the reference averages 10) and \
             the exact max-product MPE (the reference's MPE is its approximate arg-max \
             backtracking).\n\n",
            e["k"],
            e["batch_size"],
            if e["epochs"] == 5 {
                "5 epochs as there".to_string()
            } else {
                format!("{epochs} epochs instead of 5")
            },
        )
    }
}
