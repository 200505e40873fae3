//! `einet-experiments images` end to end on a few rows of the shared MNIST and CIFAR-10 data
//! (skipped when the shared data folder is absent): every result, PNG and link is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const EXPERIMENTS: &str = env!("CARGO_BIN_EXE_einet-experiments");

/// The shared benchmark data ([`einet::data::shared_data_dir`]) when it holds MNIST and
/// CIFAR-10.
fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = einet::data::shared_data_dir();
    let complete = dir.join("mnist").is_dir() && dir.join("cifar10-subset").is_dir();
    if !complete {
        println!(
            "SKIP {test}: no MNIST and CIFAR-10 data in {}",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

fn run(cwd: &Path, data: &Path, extra: &[&str]) -> String {
    let out = Command::new(EXPERIMENTS)
        .args(["images", "--data-dir"])
        .arg(data)
        .args([
            "--max-rows",
            "60",
            "--epochs",
            "1",
            "-k",
            "2",
            "--clusters",
            "2",
            "--inpaint-rows",
            "3",
            "--out",
            "results",
            "--models",
            "models",
            "--threads",
            "2",
        ])
        .args(extra)
        .current_dir(cwd)
        .output()
        .expect("the einet-experiments binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "einet-experiments images {extra:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn png_size(path: &Path) -> (usize, usize) {
    let image = einet::images::read_png(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width, image.height)
}

#[test]
fn a_small_run_writes_results_pictures_and_report() {
    let Some(data) = shared_data("a_small_run_writes_results_pictures_and_report") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stdout = run(dir.path(), &data, &[]);
    assert!(stdout.contains("bits/dim"), "{stdout}");
    let results = dir.path().join("results");
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(results.join("images.json")).unwrap())
            .unwrap();
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["experiment"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mnist-pd7", "mnist-pd4", "cifar-mixture"]);
    for e in &entries {
        for key in ["test_ll", "bits_per_dim", "seconds"] {
            assert!(e[key].as_f64().is_some_and(f64::is_finite), "{key} of {e}");
        }
        assert!(e["params"].as_u64().unwrap() > 0);
        assert_eq!(e["k"], 2);
        // MNIST bits/dim is −LL / (784 ln 2).
        if e["experiment"] != "cifar-mixture" {
            let ll = e["test_ll"].as_f64().unwrap();
            let bpd = e["bits_per_dim"].as_f64().unwrap();
            assert!((bpd + ll / (784.0 * std::f64::consts::LN_2)).abs() < 1e-9);
        }
    }
    let cifar = &entries[2];
    assert_eq!(cifar["clusters"], 2);
    let weights: f64 = cifar["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["weight"].as_f64().unwrap())
        .sum();
    assert!((weights - 1.0).abs() < 1e-9);
    assert!(
        dir.path()
            .join("models/cifar-mixture/mixture.json")
            .is_file()
    );
    assert!(
        dir.path()
            .join("models/cifar-mixture/component-01.einet")
            .is_file()
    );
    assert!(dir.path().join("models/mnist-pd4/model.einet").is_file());

    let md = std::fs::read_to_string(results.join("images.md")).unwrap();
    for id in ["mnist-pd7", "mnist-pd4", "cifar-mixture"] {
        for suffix in ["samples", "inpaint-top", "inpaint-left"] {
            let file = format!("{id}-{suffix}.png");
            assert!(md.contains(&format!("]({file})")), "images.md lacks {file}");
            let (w, h) = png_size(&results.join(&file));
            let side = if id.starts_with("mnist") { 28 } else { 32 } * 2;
            let cells = |n: usize| n * (side + 2) + 2;
            if suffix == "samples" {
                assert_eq!((w, h), (cells(5), cells(5)), "{file}");
            } else {
                // 3 images, each a row of original | masked | sample | MPE.
                assert_eq!((w, h), (cells(4), cells(3)), "{file}");
            }
        }
    }
    assert!(results.join("cifar-mixture-samples-std1.png").is_file());

    // Running one part again replaces its entry and keeps the others.
    run(dir.path(), &data, &["--which", "mnist-pd7", "--seed", "5"]);
    let again: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(results.join("images.json")).unwrap())
            .unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(again[1], entries[1]);
    assert_eq!(again[2]["test_ll"], entries[2]["test_ll"]);
    assert!(
        again[0]["provenance"]["command"]
            .as_str()
            .unwrap()
            .contains("--seed 5")
    );
}
