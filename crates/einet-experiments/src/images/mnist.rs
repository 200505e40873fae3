//! The MNIST experiments: one Poon–Domingos EiNet, its test bits/dim, samples and
//! inpaintings.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use einet::images::{write_image_grid, write_inpainting_grid};
use einet::provenance::Provenance;
use einet::record::decimal_f64;
use einet::registry::DatasetSpec;
use einet::{
    Device, EmConfig, EmMode, EmRecord, EpochMetrics, HcltSpec, HideSpec, LeafChoice, LeafInit,
    ModelSpec, MpeKind, StepwiseRule, StructureRecord, StructureSpec, TrainConfig, Trainer,
    TrainingRecord,
};
use serde::{Deserialize, Serialize};

use super::{
    EpochLines, ImagesArgs, MnistStructure, Part, Pictures, Rows, SAMPLES, SCALE, limit_rows, tool,
};

/// The `images.json` entry of an MNIST experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MnistEntry {
    /// The experiment ([`Part::id`]).
    pub experiment: String,
    /// The data, in words.
    pub dataset: String,
    /// The structure, in words.
    pub structure: String,
    /// How the structure was built.
    pub structure_record: StructureRecord,
    /// Vector length K.
    pub k: usize,
    /// The leaf family, e.g. `binomial(255)`.
    pub leaf: String,
    /// EM settings.
    pub em: EmRecord,
    /// Rows per batch.
    pub batch_size: usize,
    /// Last stepwise step size when the step is annealed over the mini-batch epochs.
    #[serde(default)]
    pub step_size_end: Option<f64>,
    /// Full-batch EM epochs after the mini-batch epochs (at most).
    #[serde(default)]
    pub full_batch_epochs: usize,
    /// Whether every mini-batch epoch ran (patience ending the full-batch phase only).
    #[serde(default)]
    pub mini_batch_runs_all_epochs: bool,
    /// Epochs run.
    pub epochs: usize,
    /// The kept epoch (best validation LL).
    pub best_epoch: usize,
    /// Rows of each part.
    pub rows: Rows,
    /// Parameters of the model.
    pub params: usize,
    /// Mean test LL (nats per image).
    pub test_ll: f64,
    /// Mean validation LL.
    pub valid_ll: f64,
    /// Test bits per dimension.
    pub bits_per_dim: f64,
    /// What the numbers measure.
    pub units: String,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Seconds of the whole experiment.
    pub seconds: f64,
    /// Every epoch.
    pub history: Vec<EpochMetrics>,
    /// How the inpainting grids were made.
    pub inpainting: String,
    /// The model file.
    pub model: PathBuf,
    /// The PNG grids.
    pub images: Pictures,
    /// Where and how the run was made.
    pub provenance: Provenance,
}

/// Runs the MNIST experiment `part`: `structure` with `leaf` leaves.
pub fn run(
    args: &ImagesArgs,
    part: Part,
    structure: MnistStructure,
    leaf: LeafChoice,
    device: Device,
    provenance: Provenance,
) -> Result<MnistEntry> {
    let started = Instant::now();
    let id = part.id();
    let (structure_spec, k, description) = match structure {
        MnistStructure::Pd { delta } => (
            super::pd_structure(delta, &[]),
            10,
            format!("Poon–Domingos 28×28, Δ = {delta}"),
        ),
        MnistStructure::Hclt => (
            StructureSpec::Hclt(HcltSpec {
                pseudocount: Some(0.1),
                ..HcltSpec::default()
            }),
            32,
            "hidden Chow–Liu tree over the 784 pixels, CP layers".to_string(),
        ),
    };
    let spec = ModelSpec {
        structure: structure_spec,
        k: Some(args.k.unwrap_or(k)),
        k_leaf: None,
        leaf: Some(leaf),
        column_leaves: Vec::new(),
        layer: None,
    };
    let mut data = spec.load_data(&DatasetSpec::Mnist, args.data_dir.as_deref())?;
    limit_rows(&mut data.data, args.max_rows);
    let info = data.data.info.clone();
    let reference = TrainConfig {
        em: EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.05,
                // The reference's rule, which produced the committed results.
                rule: StepwiseRule::Parameters,
            },
            pseudocount: 0.0,
            regularisation: Default::default(),
        },
        leaf_init: LeafInit::Random,
        epochs: 30,
        batch_size: 100,
        seed: args.seed,
        eval_train: false,
        patience: None,
        mini_batch_runs_all_epochs: false,
        step_size_end: None,
        full_batch_epochs: 0,
    };
    let config = match structure {
        MnistStructure::Pd { delta } => TrainConfig {
            epochs: args.epochs.unwrap_or(if delta >= 7 { 30 } else { 5 }),
            ..reference
        },
        MnistStructure::Hclt => TrainConfig {
            em: EmConfig {
                mode: EmMode::Stepwise {
                    frequency: 1,
                    step_size: args.hclt_steps[0],
                    rule: StepwiseRule::Parameters,
                },
                pseudocount: 0.1,
                regularisation: Default::default(),
            },
            // Juice.jl's MNIST recipe anneals the step down (its parameter inertia goes up);
            // steps rising to 0.9 overfit the 256-value leaves — at batch 512 a leaf state
            // sees about 16 images per batch.
            epochs: args.epochs.unwrap_or(40),
            batch_size: 512,
            step_size_end: Some(args.hclt_steps[1]),
            full_batch_epochs: args.full_batch_epochs,
            patience: Some(3),
            mini_batch_runs_all_epochs: true,
            ..reference
        },
    };
    let built = spec.build(&data, config.seed)?;
    let params = built.einet.layout.num_params();
    let rows = Rows::of(&data.data);
    println!(
        "MNIST: {} train / {} valid / {} test images; {description}, K = {}, {} leaves, \
         {params} parameters, {} epochs",
        rows.train,
        rows.valid,
        rows.test,
        built.k_sum,
        data.leaves.name(),
        config.epochs
    );
    let mut lines = EpochLines {
        prefix: String::new(),
        epochs: config.epochs,
    };
    let trained = Trainer::new(device, config).fit(built, &data, &mut lines)?;
    let best = trained.best().clone();
    let record = TrainingRecord::new(&trained, &data, &config, &device, tool());
    let mut einet = trained.einet.clone();
    einet.training = record.to_json();
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

    let mut model = device.load(&einet)?;
    let samples = format!("{id}-samples.png");
    let values = model
        .sample(SAMPLES, None, args.seed, 1.0)
        .context("cannot draw samples")?;
    let path = args.out.join(&samples);
    write_image_grid(&values, SAMPLES, &info, Some(SCALE), &path)?;
    println!("wrote {}", path.display());
    // As `einet inpaint` does it: the first test images, one conditional sample (std 1) and
    // the exact max-product MPE.
    let test = &data.data.test;
    let n = args.inpaint_rows.min(test.rows());
    let mut inpaint = |hide: HideSpec, name: &str| -> Result<String> {
        let file = format!("{id}-inpaint-{name}.png");
        let path = args.out.join(&file);
        let masks = hide.masks(&info, n, args.seed)?;
        write_inpainting_grid(test, &info, &masks, SCALE, &path, |evidence| {
            let sampled = einet::ErrorContext::context(
                model.sample_conditional(evidence, args.seed, 1.0),
                "conditional sampling failed",
            )?;
            let mpe = einet::ErrorContext::context(
                model.mpe(evidence, MpeKind::MaxProduct),
                "MPE failed",
            )?;
            Ok((sampled, mpe, ()))
        })?;
        println!("wrote {}", path.display());
        Ok(file)
    };
    let images = Pictures {
        samples,
        samples_std1: None,
        inpaint_top: inpaint(HideSpec::Top, "top")?,
        inpaint_left: inpaint(HideSpec::Left, "left")?,
    };
    Ok(MnistEntry {
        experiment: id.into(),
        dataset: "mnist (all digits)".into(),
        structure: description,
        structure_record: trained.structure,
        k: trained.k_sum,
        leaf: data.leaves.name(),
        em: EmRecord::from(&config.em),
        batch_size: config.batch_size,
        step_size_end: config.step_size_end.map(decimal_f64),
        full_batch_epochs: config.full_batch_epochs,
        mini_batch_runs_all_epochs: config.mini_batch_runs_all_epochs,
        epochs: trained.history.len(),
        best_epoch: best.epoch,
        rows,
        params,
        test_ll: best.test_ll,
        valid_ll: best.valid_ll,
        bits_per_dim: bpd,
        units: "test_ll: mean log-likelihood in nats per image of the discrete pixel values \
                0..255; bits_per_dim = -test_ll / (784 ln 2)"
            .into(),
        train_seconds: trained.seconds,
        seconds: started.elapsed().as_secs_f64(),
        history: trained.history,
        inpainting: "first test images; conditional sample (std 1) and exact max-product MPE"
            .into(),
        model: model_path,
        images,
        provenance,
    })
}
