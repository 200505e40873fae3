//! `einet-experiments debd`: the 20 binary density-estimation benchmarks (DEBD), trained and
//! evaluated one after the other, in the reference's demo configuration or with a small grid
//! chosen per data set by validation log-likelihood ([`grid`]); results ([`record`]) merged
//! into `debd.json` and summarised in `debd.md` ([`summary`]).

mod grid;
mod record;
mod summary;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use einet::args::{LeafInitArg, RunArgs, StepwiseRuleArg, positive_usize};
use einet::data::DEBD_NAMES;
use einet::provenance::Provenance;
use einet::registry::DatasetSpec;
use einet::{LeafInit, ModelSpec, StepwiseRule};
use serde_json::Value;

use self::grid::{LEAF, Point, Setting, tuned_grid};
use self::record::{
    ConfigRecord, DebdEntry, Fitted, GridPoint, Outcome, earlier_result, fit_point,
};
use self::summary::markdown;
use crate::report;

/// `einet-experiments debd`.
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

/// The reference implementation's published results of its demo on DEBD: test LL at the
/// epoch with the best validation LL (it ran fewer than 10 epochs on msnbc, kdd and c20ng).
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
fn merge_files(files: &[PathBuf], out: &Path) -> Result<()> {
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
                "{} is not a debd.json of einet-experiments debd: an entry lacks dataset, \
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

/// Runs `einet-experiments debd`.
pub fn run(args: &DebdArgs) -> Result<()> {
    if !args.merge.is_empty() {
        return merge_files(&args.merge, &args.out);
    }
    let device = args.run.device()?;
    let datasets = chosen_datasets(args)?;
    let provenance = Provenance::collect(&device);
    let json_path = args.out.join("debd.json");
    let md_path = args.out.join("debd.md");
    if !args.dry_run {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
        // Fail early on an unreadable results file rather than after hours of training.
        report::read_entries(&json_path)?;
    }
    eprintln!(
        "einet-experiments debd: setting {:?}, {} data set(s), {}",
        args.setting,
        datasets.len(),
        provenance.machine()
    );
    let started = Instant::now();
    let mut failed: Vec<String> = Vec::new();
    let spec = ModelSpec {
        leaf: Some(LEAF),
        column_leaves: Vec::new(),
        ..ModelSpec::default()
    };
    for name in datasets {
        let data = match spec.load_data(
            &DatasetSpec::Debd(name.to_string()),
            args.data_dir.as_deref(),
        ) {
            Ok(data) => data,
            Err(e) => {
                eprintln!("[{:?}] {name}: error: {}", args.setting, e.report());
                failed.push(name.to_string());
                continue;
            }
        };
        let leaf = data.leaves.name();
        let loaded = &data.data;
        let vars = loaded.info.num_vars;
        let train_rows = loaded.train.rows();
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
            let previous: Vec<DebdEntry> = match args.setting {
                Setting::Tuned if !args.retrain => report::read_entries(&json_path)?
                    .into_iter()
                    // Entries of other shapes (other settings, older runs) have nothing to reuse.
                    .filter_map(|e| serde_json::from_value(e).ok())
                    .collect(),
                _ => Vec::new(),
            };
            let mut outcomes = Vec::with_capacity(points.len());
            for (i, point) in points.iter().enumerate() {
                // The demo evaluates the training set every epoch, as the reference does; the
                // grid does not need it.
                let result = match earlier_result(&previous, name, seed, point) {
                    Some(f) => Ok(f),
                    None => fit_point(point, &data, seed, device, args.setting == Setting::Demo),
                };
                match &result {
                    Ok(Fitted { record: f, .. }) => eprintln!(
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
                        f.reused_from
                            .as_ref()
                            .map_or(String::new(), |from| format!(", from the {from}"))
                    ),
                    Err(e) => eprintln!(
                        "[{setting}] {name} seed {seed} {}/{} {}: failed: {}",
                        i + 1,
                        points.len(),
                        point.label(),
                        einet::error::chain_message(e.chain())
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
                .max_by(|a, b| a.1.record.valid_ll.total_cmp(&b.1.record.valid_ll));
            let Some((chosen, fitted)) = best else {
                eprintln!("[{setting}] {name} seed {seed}: every configuration failed");
                failed.push(format!("{name} ({setting}, seed {seed})"));
                continue;
            };
            let f = &fitted.record;
            let tuned = args.setting == Setting::Tuned;
            let entry = DebdEntry {
                dataset: name.to_string(),
                setting: setting.clone(),
                seed,
                vars,
                train_rows,
                valid_rows: loaded.valid.rows(),
                test_rows: loaded.test.rows(),
                test_ll: f.test_ll,
                valid_ll: f.valid_ll,
                train_ll: f.train_ll,
                epochs: f.epochs_run,
                best_epoch: f.best_epoch,
                seconds: f.seconds,
                params: f.params,
                config: ConfigRecord::new(&chosen.point, &leaf),
                history: fitted.history.clone(),
                run: provenance.clone(),
                reference_test_ll: (!tuned).then(|| reference_test_ll(name)).flatten(),
                dataset_seconds: tuned.then(|| dataset_start.elapsed().as_secs_f64()),
                grid_seconds: tuned.then(|| {
                    outcomes
                        .iter()
                        .filter_map(|o| o.result.as_ref().ok())
                        .map(|f| f.record.seconds)
                        .sum()
                }),
                grid: tuned.then(|| outcomes.iter().map(|o| GridPoint::new(o, &leaf)).collect()),
            };
            if let Some(r) = reference_test_ll(name) {
                eprintln!(
                    "[{setting}] {name} seed {seed}: chosen {} -> test LL {:.4} (reference demo \
                     {r:.3}, {:+.3})",
                    chosen.point.label(),
                    f.test_ll,
                    f.test_ll - r
                );
            }
            let entries = report::merge_entries(
                report::read_entries(&json_path)?,
                &[report::entry(&entry)?],
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
}
