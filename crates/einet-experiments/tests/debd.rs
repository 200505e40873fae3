//! End-to-end test of `einet-experiments debd` on the shipped NLTCS data.

use serde_json::{Value, json};

mod common;

use common::{data_dir, experiments_in, text};

#[test]
fn debd_demo_on_nltcs_writes_and_merges_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    std::fs::create_dir_all(&out).unwrap();
    let json_path = out.join("debd.json");
    // Entries of another setting and of another data set must survive the run; the stale
    // demo entry of nltcs must be replaced.
    let tuned = json!({
        "dataset": "nltcs", "setting": "tuned", "seed": 0, "vars": 16, "test_ll": -6.01,
        "valid_ll": -5.99, "epochs": 12, "best_epoch": 11, "seconds": 3.0, "params": 7,
        "config": {"label": "d3 r10 K20 stepwise s0.5 pc0 b500 e20"},
        "run": {"command": "einet-experiments debd --setting tuned", "commit": null,
                "nproc": 2, "cpu": "test CPU", "threads": 2, "started": "2026-01-01 00:00"},
    });
    let other = json!({
        "dataset": "plants", "setting": "demo-data-init", "seed": 0, "vars": 69, "test_ll": -15.4,
        "valid_ll": -15.4, "epochs": 10, "best_epoch": 10, "seconds": 9.0, "params": 8,
        "config": {"label": "demo"}, "run": {"command": "older run"},
    });
    // The reference's algorithm: better on validation, so the "by validation" column takes
    // it although its test LL is worse.
    let other_reference_init = json!({
        "dataset": "plants", "setting": "demo", "seed": 0, "vars": 69,
        "test_ll": -15.5, "valid_ll": -15.3, "epochs": 10, "best_epoch": 10, "seconds": 9.0,
        "params": 8, "config": {"label": "demo"}, "run": {"command": "older run"},
    });
    let stale = json!({"dataset": "nltcs", "setting": "demo", "seed": 0, "test_ll": -99.0});
    std::fs::write(
        &json_path,
        serde_json::to_string(&json!([stale, tuned, other, other_reference_init])).unwrap(),
    )
    .unwrap();

    let data = data_dir();
    let args = [
        "debd",
        "--setting",
        "demo",
        "--datasets",
        "nltcs",
        "--epochs",
        "1",
        "--leaf-init",
        "random",
        "--stepwise-rule",
        "parameters,statistics",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let run = experiments_in(dir.path(), &args);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "failed: {stderr}");
    // One progress line per data set and variant.
    assert!(stderr.contains("[demo] nltcs seed 0 1/1 d3 r10 K20 stepwise s0.05 pc0 b100 e1:"));
    assert!(stderr.contains(
        "[demo-statistics-rule] nltcs seed 0 1/1 d3 r10 K20 stepwise s0.05 pc0 b100 e1 \
         rule:statistics:"
    ));

    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(entries.len(), 5, "{entries:#?}");
    assert!(entries.contains(&tuned) && entries.contains(&other));
    assert!(entries.contains(&other_reference_init));
    let demo = entries
        .iter()
        .find(|e| e["dataset"] == "nltcs" && e["setting"] == "demo")
        .unwrap();
    for key in [
        "dataset",
        "setting",
        "test_ll",
        "valid_ll",
        "epochs",
        "best_epoch",
        "seconds",
        "params",
        "config",
        "reference_test_ll",
        "history",
        "run",
    ] {
        assert!(demo.get(key).is_some_and(|v| !v.is_null()), "missing {key}");
    }
    for key in ["test_ll", "valid_ll", "train_ll"] {
        let v = demo[key].as_f64().unwrap();
        assert!(
            v.is_finite() && v < 0.0 && v > -16.0 * 2f64.ln() - 1.0,
            "{key} {v}"
        );
    }
    assert_eq!(demo["epochs"], 1);
    assert_eq!(demo["best_epoch"], 1);
    assert_eq!(demo["params"], 490_410);
    assert_eq!(demo["reference_test_ll"], -6.084);
    assert_eq!(demo["config"]["k"], 20);
    assert_eq!(demo["config"]["step_size"], 0.05);
    assert_eq!(demo["config"]["rule"], "parameters");
    let statistics = entries
        .iter()
        .find(|e| e["dataset"] == "nltcs" && e["setting"] == "demo-statistics-rule")
        .unwrap();
    assert_eq!(statistics["config"]["rule"], "statistics");
    assert_ne!(statistics["test_ll"], demo["test_ll"]);
    assert!(
        demo["run"]["command"]
            .as_str()
            .unwrap()
            .contains("einet-experiments debd --setting demo --datasets nltcs --epochs 1")
    );

    let md = std::fs::read_to_string(out.join("debd.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| nltcs | 16 | -6.084 |"))
        .unwrap_or_else(|| panic!("no nltcs row in\n{md}"));
    assert!(
        row.contains("| -6.010 (d3 r10 K20 stepwise s0.5 pc0 b500 e20) | +"),
        "{row}"
    );
    assert!(
        md.contains("| plants | 69 | -15.433 | -15.500 | -15.400 |  |  | -15.500 | -0.067 |  |  |"),
        "{md}"
    );
    assert!(md.contains("--datasets nltcs --epochs 1"));
    assert!(md.contains("test CPU"));
    for name in ["msnbc", "c20ng", "ad"] {
        assert!(md.contains(&format!("| {name} |")), "{name}");
    }

    // --merge adds another seed's run without training and reports the spread.
    let mut seed1 = demo.clone();
    seed1["seed"] = json!(1);
    seed1["test_ll"] = json!(-6.5);
    let other_file = dir.path().join("seed1.json");
    std::fs::write(&other_file, serde_json::to_string(&json!([seed1])).unwrap()).unwrap();
    let merge = |file: &std::path::Path| {
        let args = ["debd", "--merge", file.to_str().unwrap(), "--out"];
        let mut args = args.to_vec();
        args.push(out.to_str().unwrap());
        experiments_in(dir.path(), &args)
    };
    let run = merge(&other_file);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(entries.len(), 6);
    let md = std::fs::read_to_string(out.join("debd.md")).unwrap();
    assert!(md.contains("## Seed-to-seed spread of the demo"), "{md}");
    assert!(md.contains("1: -6.500"), "{md}");
    // The main table still shows seed 0.
    assert!(md.contains(row), "{md}");

    // A demo entry named as before the variants were renamed (data init under `demo`) is
    // refused rather than shown in the wrong column.
    let mut old_name = demo.clone();
    old_name["seed"] = json!(2);
    old_name["config"]["leaf_init"] = json!({"init": "data", "rows": 10, "pseudocount": 1.0});
    let old_file = dir.path().join("old.json");
    std::fs::write(
        &old_file,
        serde_json::to_string(&json!([old_name])).unwrap(),
    )
    .unwrap();
    let run = merge(&old_file);
    assert!(!run.status.success());
    let err = text(&run.stderr);
    assert!(err.contains("was trained as demo-data-init"), "{err}");
    let after: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(after.len(), 6, "nothing merged");
}

#[test]
fn debd_demo_runs_every_seed_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let data = data_dir();
    let run = experiments_in(
        dir.path(),
        &[
            "debd",
            "--datasets",
            "nltcs",
            "--epochs",
            "1",
            "--seed",
            "3,4",
            "--leaf-init",
            "random",
            "--stepwise-rule",
            "parameters",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "failed: {stderr}");
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("debd.json")).unwrap()).unwrap();
    let seeds: Vec<u64> = entries
        .iter()
        .map(|e| e["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [3, 4], "{entries:#?}");
    assert_ne!(
        entries[0]["test_ll"], entries[1]["test_ll"],
        "the seeds differ"
    );
    for seed in [3, 4] {
        assert!(
            stderr.contains(&format!("[demo] nltcs seed {seed} 1/1 ")),
            "{stderr}"
        );
    }
    let md = std::fs::read_to_string(out.join("debd.md")).unwrap();
    assert!(md.contains("## Seed-to-seed spread of the demo"), "{md}");
}

#[test]
fn debd_rejects_unknown_data_sets_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = experiments_in(
        dir.path(),
        &["debd", "--datasets", "nltcs,foo", "--dry-run"],
    );
    assert!(!run.status.success());
    let err = text(&run.stderr);
    assert!(err.contains("unknown DEBD data set 'foo'"), "{err}");

    // plants is not shipped: the data set fails with a message, nothing is written for it.
    let out = dir.path().join("r");
    let run = experiments_in(
        dir.path(),
        &[
            "debd",
            "--datasets",
            "plants",
            "--data-dir",
            data_dir().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!run.status.success());
    let err = text(&run.stderr);
    assert!(err.contains("plants"), "{err}");
    assert!(err.contains("error: 1 run(s) failed: plants"), "{err}");
    assert!(!out.join("debd.json").exists());
}
