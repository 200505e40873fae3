//! The CIFAR-10 mixture experiment: k-means clusters of the training images, one
//! Poon–Domingos EiNet per cluster, mixed by the cluster shares.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use einet::data::{KMeans, kmeans};
use einet::images::{write_image_grid, write_inpainting_grid};
use einet::mixture::mixture_log_likelihood;
use einet::provenance::Provenance;
use einet::registry::DatasetSpec;
use einet::{
    Dataset, Device, EinetMixture, EmConfig, EmMode, EmRecord, HideSpec, LeafChoice, LeafInit,
    Loaded, ModelSpec, MpeKind, StepwiseRule, StructureRecord, TrainConfig, Trainer, TrainingData,
    TrainingRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{EpochLines, ImagesArgs, Part, Pictures, Rows, SAMPLES, SCALE, limit_rows, tool};

/// k-means runs (k-means++ seeds); the one with the lowest inertia is kept.
const KMEANS_INITS: u64 = 3;
/// Iterations of each k-means run at most.
const KMEANS_ITER: usize = 100;
/// Rows per backend call when evaluating the mixture.
const EVAL_BATCH: usize = 200;

/// One component of the mixture in `images.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentEntry {
    /// The cluster (component index).
    pub cluster: usize,
    /// Training rows of the cluster.
    pub train_rows: usize,
    /// Rows that selected the component's epoch.
    pub selection_rows: usize,
    /// Which part those rows came from: `valid`, or `train` for a cluster without
    /// validation rows.
    pub selection_split: String,
    /// The mixture weight `π_c` (the cluster's share of the training rows).
    pub weight: f64,
    /// The kept epoch.
    pub best_epoch: usize,
    /// Mean log-likelihood of the selection rows at that epoch.
    pub valid_ll: f64,
    /// Seconds of training.
    pub seconds: f64,
}

/// The components chosen for the inpainted rows, by hidden half.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InpaintComponents {
    /// Top half hidden.
    pub top: Vec<usize>,
    /// Left half hidden.
    pub left: Vec<usize>,
}

/// The `images.json` entry of the mixture experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureEntry {
    /// The experiment ([`Part::id`]).
    pub experiment: String,
    /// The data, in words.
    pub dataset: String,
    /// The structure, in words.
    pub structure: String,
    /// How each component's structure was built.
    pub structure_record: StructureRecord,
    /// Vector length K of every component.
    pub k: usize,
    /// The leaf family.
    pub leaf: String,
    /// EM settings.
    pub em: EmRecord,
    /// Rows per batch.
    pub batch_size: usize,
    /// Epochs per component.
    pub epochs: usize,
    /// Clusters (components).
    pub clusters: usize,
    /// Every component.
    pub components: Vec<ComponentEntry>,
    /// Rows of each part.
    pub rows: Rows,
    /// Parameters of the whole mixture.
    pub params: usize,
    /// Mean test log-density (nats per image of the pixels scaled to [0, 1]).
    pub test_ll: f64,
    /// Mean validation log-density.
    pub valid_ll: f64,
    /// `test_ll` per dimension.
    pub test_ll_per_dim: f64,
    /// Test bits per dimension on the 0..255 scale.
    pub bits_per_dim: f64,
    /// What the reference's formula `logsumexp(ll_c − ln π_c)` would report.
    pub test_ll_reference_formula: f64,
    /// What the numbers measure.
    pub units: String,
    /// How the samples were drawn.
    pub samples: String,
    /// How the inpainting grids were made.
    pub inpainting: String,
    /// The components chosen for the inpainted rows.
    pub inpaint_components: InpaintComponents,
    /// Seconds of training, all components.
    pub train_seconds: f64,
    /// Seconds of the whole experiment.
    pub seconds: f64,
    /// The mixture's folder.
    pub model: PathBuf,
    /// The PNG grids.
    pub images: Pictures,
    /// Where and how the run was made.
    pub provenance: Provenance,
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

/// The training data of cluster `c`: its training rows, the validation rows nearest its
/// centroid (its training rows when there are none) and the test rows nearest it (the
/// selection rows when there are none). Returns the part and where its selection rows came
/// from.
fn cluster_part(
    data: &TrainingData,
    km: &KMeans,
    c: usize,
    valid_rows: &[usize],
    test_rows: &[usize],
) -> (TrainingData, &'static str) {
    let full = &data.data;
    let train_idx = km.cluster_indices(c);
    let (valid, source) = if valid_rows.is_empty() {
        (full.train.select(&train_idx), "train")
    } else {
        (full.valid.select(valid_rows), "valid")
    };
    let test = if test_rows.is_empty() {
        valid.clone()
    } else {
        full.test.select(test_rows)
    };
    let mut info = full.info.clone();
    info.rows = [train_idx.len(), valid.rows(), test.rows()];
    let part = Loaded {
        spec: DatasetSpec::Cifar,
        train: full.train.select(&train_idx),
        valid,
        test,
        kind: full.kind,
        info,
    };
    let part = TrainingData {
        data: part,
        leaves: data.leaves.clone(),
    };
    (part, source)
}

/// Runs the mixture experiment.
pub fn run(args: &ImagesArgs, device: Device, provenance: Provenance) -> Result<MixtureEntry> {
    let started = Instant::now();
    let id = Part::CifarMixture.id();
    let spec = ModelSpec {
        structure: super::pd_structure(8, &args.cifar_axes),
        k: Some(args.k.unwrap_or(40)),
        k_leaf: None,
        // Normal leaves with the image bounds (einet::core::LeafFamily::PIXEL_NORMAL).
        leaf: Some(LeafChoice::Normal(None)),
        column_leaves: Vec::new(),
        layer: None,
    };
    let mut data = spec.load_data(&DatasetSpec::Cifar, args.data_dir.as_deref())?;
    limit_rows(&mut data.data, args.max_rows);
    let info = data.data.info.clone();
    let rows = Rows::of(&data.data);
    let k_clusters = args.clusters.min(rows.train);
    let t = Instant::now();
    let km = cluster(&data.data.train, k_clusters, args.seed)?;
    let sizes = km.cluster_sizes();
    println!(
        "CIFAR-10 subset: {} train / {} valid / {} test images; k-means ({k_clusters} \
         clusters, best of {KMEANS_INITS} k-means++ runs, {} iterations{}) in {:.1} s; sizes \
         {sizes:?}",
        rows.train,
        rows.valid,
        rows.test,
        km.iterations,
        if km.converged { ", converged" } else { "" },
        t.elapsed().as_secs_f64()
    );
    let valid_rows = nearest_rows(&km, &data.data.valid);
    let test_rows = nearest_rows(&km, &data.data.test);
    let config = TrainConfig {
        em: EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.5,
                // The reference's rule, which produced the committed results.
                rule: StepwiseRule::Parameters,
            },
            pseudocount: 0.0,
            regularisation: Default::default(),
        },
        leaf_init: LeafInit::Random,
        epochs: args.epochs.unwrap_or(30),
        batch_size: 50,
        seed: args.seed,
        eval_train: false,
        patience: None,
        mini_batch_runs_all_epochs: false,
        step_size_end: None,
        full_batch_epochs: 0,
    };
    let mut components = Vec::with_capacity(k_clusters);
    let mut per_cluster = Vec::with_capacity(k_clusters);
    let mut train_seconds = 0.0;
    let mut structure = None;
    let mut k_sum = 0;
    for c in 0..k_clusters {
        let (part, source) = cluster_part(&data, &km, c, &valid_rows[c], &test_rows[c]);
        let cfg = TrainConfig {
            seed: args.seed.wrapping_add(c as u64),
            ..config
        };
        let built = spec.build(&part, cfg.seed)?;
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
                data.leaves.name(),
                built.einet.layout.num_params(),
                cfg.batch_size,
                cfg.epochs
            );
        }
        println!(
            "cluster {c}: {} train, {} {source} rows for selection, {} test rows",
            part.data.train.rows(),
            part.data.valid.rows(),
            part.data.test.rows()
        );
        let mut lines = EpochLines {
            prefix: format!("  c{c:02} "),
            epochs: cfg.epochs,
        };
        let trained = Trainer::new(device, cfg).fit(built, &part, &mut lines)?;
        train_seconds += trained.seconds;
        let best = trained.best();
        per_cluster.push(ComponentEntry {
            cluster: c,
            train_rows: part.data.train.rows(),
            selection_rows: part.data.valid.rows(),
            selection_split: source.into(),
            weight: sizes[c] as f64 / rows.train as f64,
            best_epoch: best.epoch,
            valid_ll: best.valid_ll,
            seconds: trained.seconds,
        });
        let record = TrainingRecord::new(&trained, &part, &cfg, &device, tool());
        structure = Some(trained.structure.clone());
        k_sum = trained.k_sum;
        let mut einet = trained.einet;
        einet.training = record.to_json();
        components.push(einet);
    }
    let structure = structure.context("the mixture has no components")?;
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

    let t = Instant::now();
    let test = &data.data.test;
    let per = mixture.component_log_likelihoods(&test.values, EVAL_BATCH, &device)?;
    let mean = |v: &[f64], n: usize| v.iter().sum::<f64>() / n as f64;
    let test_ll = mean(
        &mixture_log_likelihood(&mixture.log_weights(), &per),
        rows.test,
    );
    let negated: Vec<f64> = mixture.log_weights().iter().map(|w| -w).collect();
    let reference_formula = mean(&mixture_log_likelihood(&negated, &per), rows.test);
    let valid_ll = mean(
        &mixture.log_likelihood(&data.data.valid.values, EVAL_BATCH, &device)?,
        rows.valid,
    );
    let bpd = info.bits_per_dim(test_ll).context("CIFAR is image data")?;
    let d = info.row_len() as f64;
    println!(
        "mixture test LL {test_ll:.2} nats/image (density of pixels/255), {:.4} nats/dim; \
         {bpd:.4} bits/dim on the 0..255 scale; valid LL {valid_ll:.2}; the reference's \
         formula (−ln π) would report {reference_formula:.2} ({:.1} s)",
        test_ll / d,
        t.elapsed().as_secs_f64()
    );

    let draw = |std: f32, file: String| -> Result<String> {
        let s = mixture.sample(SAMPLES, args.seed, std, &device)?;
        let path = args.out.join(&file);
        write_image_grid(&s.values, SAMPLES, &info, Some(SCALE), &path)?;
        println!(
            "wrote {} (std_correction {std}; components {:?})",
            path.display(),
            s.components
        );
        Ok(file)
    };
    let samples = draw(0.0, format!("{id}-samples.png"))?;
    let samples_std1 = draw(1.0, format!("{id}-samples-std1.png"))?;
    let n = args.inpaint_rows.min(rows.test);
    let inpaint = |hide: HideSpec, name: &str| -> Result<(String, Vec<usize>)> {
        let file = format!("{id}-inpaint-{name}.png");
        let path = args.out.join(&file);
        // The component of each row is the arg-max of its posterior given the visible half.
        let masks = hide.masks(&info, n, args.seed)?;
        let chosen = write_inpainting_grid(test, &info, &masks, SCALE, &path, |evidence| {
            let out = mixture.inpaint(evidence, args.seed, 0.0, MpeKind::MaxProduct, &device)?;
            Ok((out.sampled, out.mpe, out.components))
        })?;
        println!(
            "wrote {} (components by posterior: {chosen:?})",
            path.display()
        );
        Ok((file, chosen))
    };
    let (inpaint_top, top) = inpaint(HideSpec::Top, "top")?;
    let (inpaint_left, left) = inpaint(HideSpec::Left, "left")?;
    Ok(MixtureEntry {
        experiment: id.into(),
        dataset: "cifar10-subset (stand-in for SVHN)".into(),
        structure: format!(
            "mixture of {k_clusters} EiNets over k-means clusters; each Poon–Domingos 32×32, \
             Δ = 8{}, 3 channels",
            if args.cifar_axes.is_empty() {
                String::new()
            } else {
                format!(", axes {:?}", args.cifar_axes)
            }
        ),
        structure_record: structure,
        k: k_sum,
        leaf: data.leaves.name(),
        em: EmRecord::from(&config.em),
        batch_size: config.batch_size,
        epochs: config.epochs,
        clusters: k_clusters,
        components: per_cluster,
        rows,
        params: mixture.num_params(),
        test_ll,
        valid_ll,
        test_ll_per_dim: test_ll / d,
        bits_per_dim: bpd,
        test_ll_reference_formula: reference_formula,
        units: "test_ll: mean log-density in nats per image of the pixels scaled to [0, 1] \
                (3072 dimensions; a continuous density, not a probability of discrete \
                values); bits_per_dim = -(test_ll + 3072 ln(1/255)) / (3072 ln 2), the same \
                density on the 0..255 scale, not dequantised; test_ll_reference_formula \
                uses the reference's logsumexp(ll_c - ln pi_c)"
            .into(),
        samples: "component drawn from pi, then its sample; samples.png with \
                  std_correction 0 (means, as the reference), samples-std1.png with 1"
            .into(),
        inpainting: "first test images; component = argmax of pi_c p_c(visible half), \
                     then its conditional sample (std_correction 0) and exact max-product MPE"
            .into(),
        inpaint_components: InpaintComponents { top, left },
        train_seconds,
        seconds: started.elapsed().as_secs_f64(),
        model: dir,
        images: Pictures {
            samples,
            samples_std1: Some(samples_std1),
            inpaint_top,
            inpaint_left,
        },
        provenance,
    })
}
