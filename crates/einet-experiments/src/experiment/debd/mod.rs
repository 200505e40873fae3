//! `einet experiment debd`: the 20 binary density-estimation benchmarks (DEBD), trained and
//! evaluated one after the other, in the reference's demo configuration or with a small grid
//! chosen per data set by validation log-likelihood; results merged into `debd.json` and
//! summarised in `debd.md` ([`summary`]).

mod summary;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet_core::{EmConfig, EmMode, LeafFamily, LeafInit, StepwiseRule};
use einet_data::DEBD_NAMES;
use serde::Serialize;
use serde_json::{Value, json};

use self::summary::markdown;
use super::report::{self, Provenance};
use crate::backend_arg::RunArgs;
use crate::leaf_arg::LeafArg;
use crate::positive_usize;
use crate::structure_arg::{StructureArgs, StructureKind};
use crate::train::{self, LeafInitArg, StepwiseRuleArg, TrainConfig};
use einet_data::registry::{DatasetSpec, Loaded};

/// Which configuration(s) to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Setting {
    /// The reference's demo_debd.py configuration: RAT depth 3, 10 repetitions, K 20,
    /// Categorical(2) leaves, batch 100, stepwise EM (step 0.05), 10 epochs; one run per seed
    /// and combination of --leaf-init and --stepwise-rule
    Demo,
    /// A small grid over structure, K, EM, stepwise rule and leaf initialisation per data
    /// set, chosen by validation LL
    Tuned,
}

impl Setting {
    /// The name of `point`'s results: `tuned`, or for the demo `demo` (the reference's
    /// algorithm: its leaf initialisation and stepwise rule) with `-statistics-rule` and
    /// `-data-init` for einet's stepwise rule and leaf initialisation.
    pub fn name(self, point: &Point) -> String {
        match self {
            Setting::Tuned => "tuned".into(),
            Setting::Demo => {
                let mut name = String::from("demo");
                if point.rule == StepwiseRule::Statistics {
                    name.push_str("-statistics-rule");
                }
                if let LeafInit::Data { .. } = point.leaf_init {
                    name.push_str("-data-init");
                }
                name
            }
        }
    }
}

/// The demo's variants in report order: result name and column heading.
const DEMO_VARIANTS: [(&str, &str); 4] = [
    ("demo", "reference algorithm"),
    ("demo-data-init", "data init"),
    ("demo-statistics-rule", "statistics rule"),
    (
        "demo-statistics-rule-data-init",
        "statistics rule, data init",
    ),
];

/// Results of an earlier tuned run whose grid had the reference's initialisation only; its
/// grid points are reused.
const TUNED_REFERENCE_INIT: &str = "tuned-reference-init";

/// `einet experiment debd`.
#[derive(clap::Args, Debug)]
pub struct DebdArgs {
    /// Which configuration(s) to train
    #[arg(long, value_enum, default_value_t = Setting::Demo)]
    pub setting: Setting,
    /// Data sets, comma-separated [default: all 20, smallest number of variables first]
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub datasets: Vec<String>,
    /// Data folder holding debd/ [default: $EINET_DATA, else the repository's data/]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Output folder for debd.json and debd.md (entries of other settings, data sets and seeds
    /// already there are kept)
    #[arg(long, short = 'o', default_value = "docs/results")]
    pub out: PathBuf,
    /// Epochs of every run, overriding the setting's (10 for demo; per grid point for tuned)
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    pub epochs: Option<usize>,
    /// Tuned: train only the first N grid points of each data set
    #[arg(long, value_parser = positive_usize, allow_hyphen_values = true)]
    pub max_configs: Option<usize>,
    /// Seeds of the structures, initial parameters and batch orders, comma-separated; every
    /// seed is a run of its own (results are kept per data set, setting and seed)
    #[arg(long = "seed", value_delimiter = ',', default_values_t = [0], value_name = "SEEDS")]
    pub seeds: Vec<u64>,
    /// Demo: how leaf parameters start, comma-separated: random (as the reference), data
    /// (each leaf component fitted to --init-rows random training rows); the tuned grid
    /// tries both
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [LeafInitArg::Random, LeafInitArg::Data])]
    pub leaf_init: Vec<LeafInitArg>,
    /// Demo: how a stepwise M-step blends a batch in, comma-separated: parameters (the
    /// reference's rule), statistics (running expected statistics)
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [StepwiseRuleArg::Parameters, StepwiseRuleArg::Statistics])]
    pub stepwise_rule: Vec<StepwiseRuleArg>,
    /// Training rows per leaf component for --leaf-init data
    #[arg(long, default_value_t = 10, value_parser = positive_usize, allow_hyphen_values = true)]
    pub init_rows: usize,
    /// Print the configurations that would be trained, then stop
    #[arg(long)]
    pub dry_run: bool,
    /// Train nothing: merge the entries of these debd.json files (e.g. runs with other seeds
    /// or on other machines) into the output, replacing entries of the same data set, setting
    /// and seed, and rewrite debd.md
    #[arg(long, value_delimiter = ',', value_name = "FILES", conflicts_with_all = ["datasets", "dry_run"])]
    pub merge: Vec<PathBuf>,
    /// Tuned: train every grid point again instead of taking the results of points already
    /// run with the same configuration and seed (the demo entry, and the grid of an earlier
    /// tuned run) from debd.json
    #[arg(long)]
    pub retrain: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The reference's demo on DEBD (`shared/docs/debd-anchors.md`): test LL at the epoch with
/// the best validation LL (it ran fewer than 10 epochs on msnbc, kdd and c20ng).
pub const REFERENCE_DEMO: [(&str, f64); 20] = [
    ("nltcs", -6.084),
    ("msnbc", -6.276),
    ("kdd", -2.191),
    ("plants", -15.433),
    ("baudio", -40.880),
    ("jester", -53.439),
    ("bnetflix", -57.822),
    ("accidents", -37.298),
    ("tretail", -10.960),
    ("pumsb_star", -33.736),
    ("dna", -97.113),
    ("kosarek", -11.152),
    ("msweb", -10.289),
    ("book", -35.245),
    ("tmovie", -54.662),
    ("cwebkb", -161.885),
    ("cr52", -90.286),
    ("c20ng", -155.292),
    ("bbc", -255.484),
    ("ad", -35.828),
];

/// The reference's demo test LL on `dataset`.
pub fn reference_test_ll(dataset: &str) -> Option<f64> {
    REFERENCE_DEMO.iter().find(|r| r.0 == dataset).map(|r| r.1)
}

/// One training configuration of the experiment (RAT structure, Categorical(2) leaves).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// RAT depth.
    pub depth: usize,
    /// RAT repetitions.
    pub repetitions: usize,
    /// K of sums and leaves.
    pub k: usize,
    /// `stepwise` or `full`.
    pub em: &'static str,
    /// Stepwise step size (none for full-batch EM).
    pub step_size: Option<f64>,
    /// Pseudocount added to every expected count.
    pub pseudocount: f64,
    /// Rows per batch.
    pub batch_size: usize,
    /// Epochs at most.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation LL.
    pub patience: Option<usize>,
    /// How leaf parameters start.
    pub leaf_init: LeafInit,
    /// How a stepwise M-step blends a batch in.
    pub rule: StepwiseRule,
}

impl Point {
    /// The reference's demo configuration.
    pub fn demo() -> Point {
        Point {
            depth: 3,
            repetitions: 10,
            k: 20,
            em: "stepwise",
            step_size: Some(0.05),
            pseudocount: 0.0,
            batch_size: 100,
            epochs: 10,
            patience: None,
            leaf_init: LeafInit::Random,
            rule: StepwiseRule::Parameters,
        }
    }

    /// Whether this is the demo configuration, whatever its leaf initialisation and stepwise
    /// rule.
    fn is_demo(&self) -> bool {
        *self
            == Point {
                leaf_init: self.leaf_init,
                rule: self.rule,
                ..Point::demo()
            }
    }

    fn stepwise(
        depth: usize,
        reps: usize,
        k: usize,
        step: f64,
        batch_size: usize,
        epochs: usize,
    ) -> Point {
        Point {
            depth,
            repetitions: reps,
            k,
            em: "stepwise",
            step_size: Some(step),
            pseudocount: 0.0,
            batch_size,
            epochs,
            patience: Some(3),
            leaf_init: LeafInit::Random,
            rule: StepwiseRule::Parameters,
        }
    }

    fn full(depth: usize, reps: usize, k: usize, pc: f64, epochs: usize) -> Point {
        Point {
            depth,
            repetitions: reps,
            k,
            em: "full",
            step_size: None,
            pseudocount: pc,
            // Only the chunk size of the E-step here.
            batch_size: 1000,
            epochs,
            patience: Some(3),
            leaf_init: LeafInit::Random,
            rule: StepwiseRule::Parameters,
        }
    }

    /// A short label, e.g. `d3 r10 K20 stepwise s0.05 pc0 b100 e10`.
    pub fn label(&self) -> String {
        let mut s = format!(
            "d{} r{} K{} {}",
            self.depth, self.repetitions, self.k, self.em
        );
        if let Some(step) = self.step_size {
            let _ = write!(s, " s{step}");
        }
        let _ = write!(
            s,
            " pc{} b{} e{}",
            self.pseudocount, self.batch_size, self.epochs
        );
        if self.step_size.is_some() && self.rule == StepwiseRule::Statistics {
            s.push_str(" rule:statistics");
        }
        if let LeafInit::Data { rows, .. } = self.leaf_init {
            let _ = write!(s, " init:data{rows}");
        }
        s
    }

    /// The training configuration of this point.
    pub fn train_config(&self, seed: u64, eval_train: bool) -> TrainConfig {
        TrainConfig {
            structure: StructureArgs {
                structure: Some(StructureKind::Rat),
                depth: Some(self.depth),
                repetitions: Some(self.repetitions),
                ..Default::default()
            },
            k: Some(self.k),
            k_leaf: Some(self.k),
            em: EmConfig {
                mode: match self.step_size {
                    Some(step) => EmMode::Stepwise {
                        frequency: 1,
                        step_size: step as f32,
                        rule: self.rule,
                    },
                    None => EmMode::FullBatch,
                },
                pseudocount: self.pseudocount as f32,
            },
            leaf_init: self.leaf_init,
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed,
            eval_train,
            patience: self.patience,
            progress: false,
        }
    }
}

/// Training rows up to which a data set counts as small (dna, tmovie, cwebkb, bbc, ad).
const SMALL_TRAIN_ROWS: usize = 5_000;
/// Training rows above which a data set counts as large (msnbc, kdd).
const LARGE_TRAIN_ROWS: usize = 100_000;

/// The size classes of the tuned grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SizeClass {
    Small,
    Medium,
    Large,
}

impl SizeClass {
    fn of(train_rows: usize) -> SizeClass {
        if train_rows <= SMALL_TRAIN_ROWS {
            SizeClass::Small
        } else if train_rows <= LARGE_TRAIN_ROWS {
            SizeClass::Medium
        } else {
            SizeClass::Large
        }
    }
}

/// The grid of the tuned setting for a data set with `train_rows` training rows; the choice
/// among its points uses the validation LL only. The demo configuration is always the first
/// point, so the choice is never worse than the demo on validation.
///
/// The grid was built in two rounds. Pilots (plants, accidents, dna, bbc, tretail) showed:
/// stepwise EM on larger batches with larger steps gains 1–1.5 nats on dense medium sets but
/// overfits within an epoch on sparse ones (tretail), where the demo's small steps win; the
/// pseudocount is added to every one of the K² weights of a product, so even 0.1 smooths the
/// sums heavily and lost wherever it was tried; full-batch EM (one update per epoch) converges
/// too slowly for the time budget, so it is tried on the small sets only. Round 1 is the
/// first line of each class. In it, shallower trees with more repetitions (depth 2, 20
/// repetitions) had the best validation LL on 16 of 20 sets and step 0.2 on batches of 500 on
/// the dense plants and pumsb_star (still improving at the last epoch); round 2 (second line)
/// explores around these points.
pub fn tuned_grid(train_rows: usize) -> Vec<Point> {
    let (first, second) = tuned_rounds(train_rows);
    first.into_iter().chain(second).collect()
}

/// The two rounds of [`tuned_grid`].
fn tuned_rounds(train_rows: usize) -> (Vec<Point>, Vec<Point>) {
    let mut first = vec![Point::demo()];
    let second = match SizeClass::of(train_rows) {
        SizeClass::Small => {
            first.extend([
                Point::stepwise(2, 20, 20, 0.05, 100, 20),
                Point::stepwise(3, 10, 10, 0.05, 100, 20),
                Point::stepwise(3, 10, 20, 0.2, 500, 20),
                Point::full(3, 10, 10, 0.1, 30),
            ]);
            vec![
                Point::stepwise(2, 40, 20, 0.05, 100, 20),
                Point::stepwise(1, 40, 20, 0.05, 100, 20),
            ]
        }
        SizeClass::Medium => {
            first.extend([
                Point::stepwise(3, 10, 20, 0.7, 2000, 15),
                Point::stepwise(3, 10, 20, 0.2, 500, 15),
                Point::stepwise(2, 20, 20, 0.05, 100, 15),
            ]);
            vec![
                Point::stepwise(2, 20, 20, 0.2, 500, 30),
                Point::stepwise(2, 40, 20, 0.05, 100, 15),
            ]
        }
        // A pass is thousands of updates here: few epochs, except with the statistics rule,
        // which gained most on these sets in the demo.
        SizeClass::Large => {
            first.extend([
                Point::stepwise(3, 10, 20, 0.7, 2000, 3),
                Point::stepwise(3, 10, 20, 0.2, 500, 3),
            ]);
            vec![
                Point::stepwise(2, 20, 20, 0.2, 500, 3),
                Point {
                    rule: StepwiseRule::Statistics,
                    ..Point::stepwise(2, 20, 20, 0.05, 100, 10)
                },
            ]
        }
    };
    (first, second)
}

/// The words that describe [`tuned_grid`] in the report.
pub fn tuned_grid_text() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Chosen per data set by validation LL only. Every run keeps the epoch with the best \
         validation LL; grid runs other than the demo stop after {} epochs without \
         improvement. The first point is the demo configuration. Points already run with the \
         same configuration and seed (the demo run, the grid of an earlier tuned run) are \
         taken from debd.json: training is deterministic. The grid was built in two rounds; \
         the second explores around the points with the best validation LL in the first \
         (depth 2 with 20 repetitions; step 0.2 on batches of 500) and, on the two large sets, \
         the statistics rule (label suffix `rule:statistics`), which gained most there in the \
         demo; the demo with the statistics rule is a candidate on every set. All \
         runs: RAT structure, Categorical(2) leaves, K for sums and leaves, the --seed seeds \
         (default 0; the results here: seed 0). Every \
         point is tried with the reference's leaf initialisation and with einet's data-based \
         one (label suffix `init:dataN`: each leaf component fitted to N random training \
         rows). Labels: \
         `dD rR KK` = depth, repetitions, K; `sS` = step size of stepwise EM (one update per \
         batch); `full` = full-batch EM (one update per epoch); `pcP` = pseudocount; `bB` = \
         batch size; `eE` = maximal epochs.\n",
        Point::stepwise(3, 10, 20, 0.1, 100, 1)
            .patience
            .unwrap_or(0)
    );
    for (class, rows, what) in [
        (
            "small",
            SMALL_TRAIN_ROWS,
            format!("up to {SMALL_TRAIN_ROWS} training rows (dna, tmovie, cwebkb, bbc, ad)"),
        ),
        (
            "medium",
            LARGE_TRAIN_ROWS,
            "the other 13 data sets".to_string(),
        ),
        (
            "large",
            LARGE_TRAIN_ROWS + 1,
            format!(
                "more than {LARGE_TRAIN_ROWS} training rows (msnbc, kdd); a reduced grid of \
                 3-epoch runs, to fit the time"
            ),
        ),
    ] {
        let (first, second) = tuned_rounds(rows);
        let labels = |points: &[Point]| {
            points
                .iter()
                .map(|p| format!("`{}`", p.label()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "- {class}, {what}: round 1: {}; round 2: {}",
            labels(&first),
            labels(&second)
        );
    }
    s
}

/// The result of training one point.
struct Outcome {
    point: Point,
    result: Result<Fitted>,
}

struct Fitted {
    /// Where the result was taken from instead of training (`demo run`, `earlier tuned run`).
    reused: Option<&'static str>,
    best_epoch: usize,
    epochs_run: usize,
    train_ll: f64,
    valid_ll: f64,
    test_ll: f64,
    seconds: f64,
    params: usize,
    history: Vec<Value>,
}

fn fit_point(
    point: &Point,
    data: &Loaded,
    family: LeafFamily,
    seed: u64,
    run: &RunArgs,
    eval_train: bool,
) -> Result<Fitted> {
    let config = point.train_config(seed, eval_train);
    let built = train::build(&config, &data.info, family)?;
    let params = built.einet.layout.num_params();
    let trained = train::fit(built, &config, data, run, |_| Ok(()))?;
    let best = trained.best();
    Ok(Fitted {
        reused: None,
        best_epoch: best.epoch,
        epochs_run: trained.history.len(),
        train_ll: best.train_ll,
        valid_ll: best.valid_ll,
        test_ll: best.test_ll,
        seconds: trained.seconds,
        params,
        history: trained
            .history
            .iter()
            .map(|m| {
                json!({
                    "epoch": m.epoch,
                    "train_ll": m.train_ll,
                    "valid_ll": m.valid_ll,
                    "test_ll": m.test_ll,
                    "seconds": m.seconds + m.eval_seconds,
                })
            })
            .collect(),
    })
}

/// The result of `point` on `dataset` from an earlier run in `entries` with the same
/// configuration and `seed` (training is deterministic): the demo entry for the demo point,
/// else the grid of the tuned entry.
fn earlier_result(entries: &[Value], dataset: &str, seed: u64, point: &Point) -> Option<Fitted> {
    let label = point.label();
    let entry = |setting: &str| {
        entries
            .iter()
            .find(|e| e["dataset"] == dataset && e["setting"] == setting && e["seed"] == seed)
    };
    let int = |v: &Value| v.as_u64().map(|v| v as usize);
    if point.is_demo() {
        let demo = entry(&Setting::Demo.name(point));
        if let Some(e) = demo.filter(|e| e["config"]["label"] == label.as_str()) {
            return Some(Fitted {
                reused: Some("demo run"),
                best_epoch: int(&e["best_epoch"])?,
                epochs_run: int(&e["epochs"])?,
                train_ll: e["train_ll"].as_f64()?,
                valid_ll: e["valid_ll"].as_f64()?,
                test_ll: e["test_ll"].as_f64()?,
                seconds: e["seconds"].as_f64()?,
                params: int(&e["params"])?,
                history: e["history"].as_array()?.clone(),
            });
        }
    }
    let (tuned, g) = ["tuned", TUNED_REFERENCE_INIT]
        .into_iter()
        .filter_map(entry)
        .find_map(|tuned| {
            let g = tuned["grid"].as_array()?.iter().find(|g| {
                g["label"] == label.as_str()
                    && g["patience"] == json!(point.patience)
                    && g["error"].is_null()
            })?;
            Some((tuned, g))
        })?;
    // The chosen point's history and training LL are in the entry itself.
    let chosen = tuned["config"]["label"] == label.as_str();
    Some(Fitted {
        reused: Some("earlier tuned run"),
        best_epoch: int(&g["best_epoch"])?,
        epochs_run: int(&g["epochs_run"])?,
        train_ll: if chosen {
            &tuned["train_ll"]
        } else {
            &g["train_ll"]
        }
        .as_f64()
        .unwrap_or(f64::NAN),
        valid_ll: g["valid_ll"].as_f64()?,
        test_ll: g["test_ll"].as_f64()?,
        seconds: g["seconds"].as_f64()?,
        params: int(&g["params"])?,
        history: if chosen {
            tuned["history"].as_array().cloned().unwrap_or_default()
        } else {
            Vec::new()
        },
    })
}

/// The data sets to run, in the order given (all 20 in DEBD order by default).
fn chosen_datasets(args: &DebdArgs) -> Result<Vec<&'static str>> {
    if args.datasets.is_empty() {
        return Ok(DEBD_NAMES.to_vec());
    }
    let mut out = Vec::new();
    for name in &args.datasets {
        let name = name.trim();
        match DEBD_NAMES.iter().find(|&&n| n == name) {
            Some(&n) if !out.contains(&n) => out.push(n),
            Some(_) => {}
            None => bail!(
                "unknown DEBD data set '{name}'; choose from {}",
                DEBD_NAMES.join(", ")
            ),
        }
    }
    Ok(out)
}

/// The runs of the setting for a data set with `train_rows` training rows: one group per
/// result entry, each with its name and the points whose best (by validation LL) it records.
fn groups(args: &DebdArgs, train_rows: usize) -> Vec<(String, Vec<Point>)> {
    let adjust = |mut points: Vec<Point>| {
        if let Some(n) = args.max_configs {
            points.truncate(n);
        }
        if let Some(e) = args.epochs {
            points.iter_mut().for_each(|p| p.epochs = e);
        }
        points
    };
    let data_init = LeafInitArg::Data.with_rows(args.init_rows);
    match args.setting {
        Setting::Demo => {
            let mut groups: Vec<(String, Vec<Point>)> = Vec::new();
            for &rule in &args.stepwise_rule {
                for init in &args.leaf_init {
                    let point = Point {
                        leaf_init: init.with_rows(args.init_rows),
                        rule: rule.into(),
                        ..Point::demo()
                    };
                    let name = Setting::Demo.name(&point);
                    if !groups.iter().any(|g| g.0 == name) {
                        groups.push((name, adjust(vec![point])));
                    }
                }
            }
            groups
        }
        Setting::Tuned => {
            let grid = tuned_grid(train_rows);
            let with_data_init = grid.iter().map(|p| Point {
                leaf_init: data_init,
                ..p.clone()
            });
            // The demo with the statistics rule, from the demo runs when they exist.
            let statistics_demo = [LeafInit::Random, data_init].map(|leaf_init| Point {
                leaf_init,
                rule: StepwiseRule::Statistics,
                ..Point::demo()
            });
            let points = grid
                .iter()
                .cloned()
                .chain(with_data_init)
                .chain(statistics_demo)
                .collect();
            vec![("tuned".into(), adjust(points))]
        }
    }
}

/// Merges the entries of `files` into the results in `out` and rewrites the report.
fn merge_files(files: &[PathBuf], out: &std::path::Path) -> Result<()> {
    let json_path = out.join("debd.json");
    let mut entries = report::read_entries(&json_path)?;
    for file in files {
        let new = report::read_entries(file)?;
        if new.is_empty() {
            bail!("{} holds no results", file.display());
        }
        if let Some(bad) = new.iter().find(|e| {
            !(e["dataset"].is_string() && e["setting"].is_string() && e["test_ll"].is_number())
        }) {
            bail!(
                "{} is not a debd.json of einet experiment debd: an entry lacks dataset, \
                 setting or test_ll: {bad}",
                file.display()
            );
        }
        if let Some((bad, want)) = new.iter().find_map(|e| {
            let want = demo_variant_of(e)?;
            (e["setting"] != want.as_str()).then_some((e, want))
        }) {
            bail!(
                "{}: the {} entry of {} (seed {}) was trained as {want} (leaf init and stepwise \
                 rule in its config); results written before the demo variants were renamed \
                 on 2026-11-27 need their setting renamed first",
                file.display(),
                bad["setting"],
                bad["dataset"],
                bad["seed"]
            );
        }
        eprintln!("merging {} entries of {}", new.len(), file.display());
        entries = report::merge_entries(entries, &new, &["dataset", "setting", "seed"]);
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let entries = sorted(entries);
    report::write_entries(&json_path, &entries)?;
    let md_path = out.join("debd.md");
    report::write_text(&md_path, &markdown(&entries))?;
    eprintln!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}

/// The demo variant an entry's configuration says it is (entries without a leaf
/// initialisation or rule in their config used the reference's), or `None` for other
/// settings.
fn demo_variant_of(entry: &Value) -> Option<String> {
    if !entry["setting"].as_str()?.starts_with("demo") {
        return None;
    }
    let config = &entry["config"];
    let point = Point {
        leaf_init: match config["leaf_init"]["init"].as_str() {
            Some("data") => LeafInitArg::Data.with_rows(1),
            _ => LeafInit::Random,
        },
        rule: match config["rule"].as_str() {
            Some("statistics") => StepwiseRule::Statistics,
            _ => StepwiseRule::Parameters,
        },
        ..Point::demo()
    };
    Some(Setting::Demo.name(&point))
}

/// Runs `einet experiment debd`.
pub fn run(args: &DebdArgs) -> Result<()> {
    if !args.merge.is_empty() {
        return merge_files(&args.merge, &args.out);
    }
    args.run.init()?;
    let datasets = chosen_datasets(args)?;
    let provenance = Provenance::collect(&args.run);
    let json_path = args.out.join("debd.json");
    let md_path = args.out.join("debd.md");
    if !args.dry_run {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
        // Fail early on an unreadable results file rather than after hours of training.
        report::read_entries(&json_path)?;
    }
    eprintln!(
        "einet experiment debd: setting {:?}, {} data set(s), {}",
        args.setting,
        datasets.len(),
        provenance.machine()
    );
    let started = Instant::now();
    let mut failed: Vec<String> = Vec::new();
    for name in datasets {
        let spec = DatasetSpec::Debd(name.to_string());
        let loaded = crate::train::load_for_training(
            &spec,
            args.data_dir.as_deref(),
            Some(LeafArg::Categorical(Some(2))),
        );
        let (data, family) = match loaded {
            Ok(x) => x,
            Err(e) => {
                eprintln!("[{:?}] {name}: error: {}", args.setting, crate::message(&e));
                failed.push(name.to_string());
                continue;
            }
        };
        let vars = data.info.num_vars;
        let train_rows = data.train.rows();
        for (&seed, (setting, points)) in args
            .seeds
            .iter()
            .flat_map(|seed| groups(args, train_rows).into_iter().map(move |g| (seed, g)))
        {
            if args.dry_run {
                for p in &points {
                    eprintln!(
                        "[{setting}] {name} ({vars} vars, {train_rows} train rows), seed {seed}: {}",
                        p.label()
                    );
                }
                continue;
            }
            let dataset_start = Instant::now();
            let previous = match args.setting {
                Setting::Tuned if !args.retrain => report::read_entries(&json_path)?,
                _ => Vec::new(),
            };
            let mut outcomes = Vec::with_capacity(points.len());
            for (i, point) in points.iter().enumerate() {
                // The demo evaluates the training set every epoch, as the reference does; the
                // grid does not need it.
                let result = match earlier_result(&previous, name, seed, point) {
                    Some(f) => Ok(f),
                    None => fit_point(
                        point,
                        &data,
                        family,
                        seed,
                        &args.run,
                        args.setting == Setting::Demo,
                    ),
                };
                match &result {
                    Ok(f) => eprintln!(
                        "[{setting}] {name} seed {seed} {}/{} {}: valid {:.4} test {:.4} (best \
                         epoch {}/{}) {:.1} s{}",
                        i + 1,
                        points.len(),
                        point.label(),
                        f.valid_ll,
                        f.test_ll,
                        f.best_epoch,
                        f.epochs_run,
                        f.seconds,
                        f.reused
                            .map_or(String::new(), |from| format!(", from the {from}"))
                    ),
                    Err(e) => eprintln!(
                        "[{setting}] {name} seed {seed} {}/{} {}: failed: {}",
                        i + 1,
                        points.len(),
                        point.label(),
                        crate::message(e)
                    ),
                }
                outcomes.push(Outcome {
                    point: point.clone(),
                    result,
                });
            }
            let best = outcomes
                .iter()
                .filter_map(|o| o.result.as_ref().ok().map(|f| (o, f)))
                .max_by(|a, b| a.1.valid_ll.total_cmp(&b.1.valid_ll));
            let Some((chosen, fitted)) = best else {
                eprintln!("[{setting}] {name} seed {seed}: every configuration failed");
                failed.push(format!("{name} ({setting}, seed {seed})"));
                continue;
            };
            let mut entry = json!({
                "dataset": name,
                "setting": setting,
                "vars": vars,
                "train_rows": train_rows,
                "valid_rows": data.valid.rows(),
                "test_rows": data.test.rows(),
                "test_ll": fitted.test_ll,
                "valid_ll": fitted.valid_ll,
                "train_ll": fitted.train_ll,
                "epochs": fitted.epochs_run,
                "best_epoch": fitted.best_epoch,
                "seconds": fitted.seconds,
                "params": fitted.params,
                "config": config_json(&chosen.point),
                "seed": seed,
                "history": fitted.history,
                "run": provenance,
            });
            match args.setting {
                Setting::Demo => {
                    entry["reference_test_ll"] = json!(reference_test_ll(name));
                }
                Setting::Tuned => {
                    entry["dataset_seconds"] = json!(dataset_start.elapsed().as_secs_f64());
                    entry["grid_seconds"] = json!(
                        outcomes
                            .iter()
                            .filter_map(|o| o.result.as_ref().ok())
                            .map(|f| f.seconds)
                            .sum::<f64>()
                    );
                    entry["grid"] = outcomes
                        .iter()
                        .map(|o| {
                            let mut g = config_json(&o.point);
                            match &o.result {
                                Ok(f) => {
                                    g["valid_ll"] = json!(f.valid_ll);
                                    g["test_ll"] = json!(f.test_ll);
                                    g["best_epoch"] = json!(f.best_epoch);
                                    g["epochs_run"] = json!(f.epochs_run);
                                    g["seconds"] = json!(f.seconds);
                                    g["params"] = json!(f.params);
                                    g["train_ll"] = json!(f.train_ll);
                                    g["reused_from"] = json!(f.reused);
                                }
                                Err(e) => g["error"] = json!(crate::message(e)),
                            }
                            g
                        })
                        .collect();
                }
            }
            if let Some(r) = reference_test_ll(name) {
                eprintln!(
                    "[{setting}] {name} seed {seed}: chosen {} -> test LL {:.4} (reference demo \
                     {r:.3}, {:+.3})",
                    chosen.point.label(),
                    fitted.test_ll,
                    fitted.test_ll - r
                );
            }
            let entries = report::merge_entries(
                report::read_entries(&json_path)?,
                &[entry],
                &["dataset", "setting", "seed"],
            );
            let entries = sorted(entries);
            report::write_entries(&json_path, &entries)?;
            report::write_text(&md_path, &markdown(&entries))?;
        }
    }
    if !args.dry_run {
        eprintln!(
            "wrote {} and {} ({:.0} s)",
            json_path.display(),
            md_path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if !failed.is_empty() {
        bail!("{} run(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

fn config_json(p: &Point) -> Value {
    json!({
        "structure": "rat",
        "depth": p.depth,
        "repetitions": p.repetitions,
        "k": p.k,
        "leaf": "categorical(2)",
        "em": p.em,
        "frequency": if p.step_size.is_some() { Some(1) } else { None },
        "step_size": p.step_size,
        "pseudocount": p.pseudocount,
        "batch_size": p.batch_size,
        "max_epochs": p.epochs,
        "patience": p.patience,
        "leaf_init": p.leaf_init,
        "rule": p.step_size.map(|_| p.rule),
        "label": p.label(),
    })
}

/// Entries in DEBD order, then by setting and seed.
fn sorted(mut entries: Vec<Value>) -> Vec<Value> {
    let rank = |e: &Value| {
        let name = e["dataset"].as_str().unwrap_or("");
        (
            DEBD_NAMES
                .iter()
                .position(|&n| n == name)
                .unwrap_or(usize::MAX),
            e["setting"].as_str().unwrap_or("").to_string(),
            e["seed"].as_u64().unwrap_or(0),
        )
    };
    entries.sort_by_key(rank);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_table_covers_debd() {
        for name in DEBD_NAMES {
            assert!(reference_test_ll(name).is_some(), "{name}");
        }
    }

    #[test]
    fn demo_point_is_the_reference_configuration() {
        let p = Point::demo();
        assert_eq!(p.label(), "d3 r10 K20 stepwise s0.05 pc0 b100 e10");
        let c = p.train_config(0, true);
        let reference_rule = EmMode::Stepwise {
            frequency: 1,
            step_size: 0.05,
            rule: StepwiseRule::Parameters,
        };
        assert_eq!(c.em.mode, reference_rule);
        assert_eq!(c.em.pseudocount, 0.0);
        assert_eq!((c.epochs, c.batch_size, c.patience), (10, 100, None));
    }

    #[test]
    fn demo_variant_names_are_the_report_columns() {
        let names: Vec<String> = [StepwiseRule::Parameters, StepwiseRule::Statistics]
            .into_iter()
            .flat_map(|rule| {
                [LeafInit::Random, LeafInitArg::Data.with_rows(10)].map(|leaf_init| {
                    let point = Point {
                        rule,
                        leaf_init,
                        ..Point::demo()
                    };
                    Setting::Demo.name(&point)
                })
            })
            .collect();
        assert_eq!(names, DEMO_VARIANTS.map(|v| v.0.to_string()));
    }
}
