//! Bad input given to the `einet` binary: clear errors and exit status 1 or 2, never a panic
//! or an abort.

use std::path::Path;
use std::process::{Command, Output};

use einet::core::Einet;
use serde_json::json;

/// Runs `einet args…` in `cwd` with no `EINET_DATA` in the environment.
fn einet(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_einet"))
        .args(args)
        .current_dir(cwd)
        .env_remove("EINET_DATA")
        .output()
        .expect("the einet binary runs")
}

/// Asserts that `out` is a success, showing its standard error otherwise.
fn assert_succeeds(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that `out` is a failure with exit status `code` whose standard error holds every
/// one of `wanted` and no panic.
fn assert_fails(out: &Output, code: i32, wanted: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in wanted {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

/// The shipped data folder.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// Trains a small digits model (K 2, one epoch) into `d/run` and loads it.
fn train_digits(d: &Path) -> Einet {
    let out = einet(
        d,
        &[
            "train",
            "-d",
            "digits",
            "--data-dir",
            DATA,
            "-k",
            "2",
            "--epochs",
            "1",
            "--out",
            "run",
            "--no-samples",
        ],
    );
    assert_succeeds(&out);
    Einet::load(&d.join("run/model.einet")).unwrap()
}

#[test]
fn out_of_range_scale_and_leaf_sizes_are_refused_by_the_parser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for scale in ["0", "65", "18446744073709551615"] {
        let out = einet(
            d,
            &["sample", "-m", "m.einet", "-o", "x.png", "--scale", scale],
        );
        assert_fails(&out, 2, &["--scale", "from 1 to 64"]);
    }
    let out = einet(
        d,
        &["inpaint", "-m", "m.einet", "-o", "x.png", "--scale", "-1"],
    );
    assert_fails(&out, 2, &["from 1 to 64"]);
    for leaf in ["binomial:4000000000", "categorical:65537"] {
        let out = einet(d, &["train", "-d", "digits", "--leaf", leaf]);
        assert_fails(&out, 2, &["--leaf", "to 65536"]);
    }
}

#[test]
fn sampling_images_from_an_inconsistent_training_record_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = train_digits(d);
    for (field, value, wanted) in [
        (
            "num_vars",
            json!(0),
            "num_vars is 0, but the model has 64 variables",
        ),
        ("image_shape", json!([3, 3]), "image_shape is 3x3"),
        ("channels", json!(3), "channels is 3"),
        ("scale", json!("big"), "invalid type"),
    ] {
        let mut bad = good.clone();
        bad.training["data"][field] = value;
        bad.save(&d.join("bad.einet")).unwrap();
        let out = einet(d, &["sample", "-m", "bad.einet", "-o", "x.png"]);
        assert_fails(&out, 1, &["bad.einet", wanted]);
        assert!(!d.join("x.png").exists());
    }
    let out = einet(
        d,
        &["sample", "-m", "run/model.einet", "-o", "x.png", "-n", "4"],
    );
    assert_succeeds(&out);
}

#[test]
fn models_with_impossible_contents_are_refused_by_eval_info_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = train_digits(d);
    let mut negative = good.clone();
    negative.params.layers[0][1] = -0.5;
    let mut record = good.clone();
    record.training["k_sum"] = json!(7);
    for (bad, wanted) in [
        (negative, "layer.0.weights[1] is -0.5, a negative weight"),
        (record, "k_sum is 7, but the model's is 2"),
    ] {
        bad.save(&d.join("bad.einet")).unwrap();
        for args in [
            vec!["info", "-m", "bad.einet"],
            vec![
                "eval",
                "-m",
                "bad.einet",
                "-d",
                "digits",
                "--data-dir",
                DATA,
            ],
            vec!["sample", "-m", "bad.einet", "-o", "x.png"],
        ] {
            let out = einet(d, &args);
            assert_fails(&out, 1, &["bad.einet", wanted]);
        }
        assert!(!d.join("x.png").exists());
    }
}

#[test]
fn thread_counts_beyond_what_the_machine_can_use_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    let too_many = (cpus * einet::device::MAX_THREADS_PER_CPU + 1).to_string();
    for threads in [too_many.as_str(), "1000000000"] {
        let out = einet(d, &["train", "-d", "digits", "--threads", threads]);
        assert_fails(
            &out,
            1,
            &[threads, "threads is more than this machine can use"],
        );
        assert!(!d.join("runs").exists(), "no run folder is made");
    }
}

#[test]
fn models_too_large_for_the_memory_are_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 1.06·10¹⁰ parameters: 170 GB to train, more than any machine this runs on (and still
    // within the layout's 32-bit indices, which refuse K ≥ 420 here).
    let out = einet(
        d,
        &[
            "train",
            "-d",
            "digits",
            "--data-dir",
            DATA,
            "-k",
            "380",
            "--epochs",
            "1",
        ],
    );
    assert_fails(
        &out,
        1,
        &[
            "parameters; training it (4 copies",
            "GB of memory is available",
        ],
    );
    assert!(!d.join("runs").exists());
}

#[test]
fn max_memory_refuses_models_batches_and_data_files_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "-d", "digits", "--data-dir", DATA, "--epochs", "1"];
        args.extend_from_slice(extra);
        einet(d, &args)
    };
    // The digits file (57.5 kB) decompresses to ~0.5 MB; a 100 kB budget stops its reader.
    assert_fails(
        &train(&["--max-memory", "100K", "-k", "3"]),
        1,
        &[
            "digits.csv.gz: it decompresses to more than 100.0 kB",
            "the memory limit is 100.0 kB",
        ],
    );
    // K = 3 needs 6,000 parameters (96 kB to train) but a batch of 100 rows 651 kB.
    assert_fails(
        &train(&["--max-memory", "300K", "-k", "3"]),
        1,
        &[
            "a batch of 100 rows (node values and gradients) needs 651.2 kB",
            "the memory limit is 300.0 kB; choose a smaller --batch-size",
        ],
    );
    assert_fails(
        &train(&["--max-memory", "300K", "-k", "40"]),
        1,
        &[
            "parameters; training it (4 copies",
            "the memory limit is 300.0 kB",
        ],
    );
    // A plain file larger than the budget is refused before it is read.
    std::fs::write(d.join("big.csv"), "0,1,0\n".repeat(2_000)).unwrap();
    assert_fails(
        &einet(d, &["train", "-d", "csv:big.csv", "--max-memory", "10K"]),
        1,
        &["big.csv: the file holds 12.0 kB, but the memory limit is 10.0 kB"],
    );
    assert_fails(
        &train(&["--max-memory", "12 parsecs"]),
        2,
        &["'12 parsecs' is not a size"],
    );
    assert!(!d.join("runs").exists());
    // A budget that fits trains, and --init-rows beyond the training rows draws them all.
    let out = train(&[
        "--max-memory",
        "1GiB",
        "--leaf-init",
        "data",
        "--init-rows",
        "1000000000",
    ]);
    assert_succeeds(&out);
}

#[test]
fn schedules_with_few_updates_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "-d",
            "digits",
            "--data-dir",
            DATA,
            "-k",
            "2",
            "--no-samples",
        ];
        args.extend_from_slice(extra);
        let out = einet(d, &args);
        assert_succeeds(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Full-batch EM for 3 epochs: 3 updates; stepwise over 1,258 rows in batches of 100
    // for 4 epochs: 52 updates.
    let few = run(&["--em", "full", "--epochs", "3"]);
    assert!(few.contains("only 3 EM updates"), "{few}");
    let enough = run(&["--epochs", "4"]);
    assert!(!enough.contains("EM updates"), "{enough}");
}
