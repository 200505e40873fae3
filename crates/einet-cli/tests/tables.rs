//! Users' own tables end to end: header names, string categories, a leaf family per column,
//! left-out and label columns, own validation and test files, split fractions, small-table
//! defaults, and outputs in the table's names and categories.

mod common;

use std::path::{Path, PathBuf};

use common::{data_dir, fails, ok_with_stderr as ok};
use serde_json::Value;

fn penguins() -> String {
    format!("csv:{}", data_dir().join("penguins/penguins.csv").display())
}

/// A small, fast model of `dataset` written to `out` (4 epochs unless `extra` says), with
/// `extra` options.
fn train(cwd: &Path, dataset: &str, out: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "train",
        "-d",
        dataset,
        "--depth",
        "1",
        "--repetitions",
        "2",
        "-k",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    if !extra.contains(&"--epochs") {
        args.extend(["--epochs", "4"]);
    }
    args.extend_from_slice(extra);
    ok(cwd, &args)
}

fn model_info(cwd: &Path, out: &Path) -> Value {
    let model = out.join("model.einet");
    let (json, _) = ok(cwd, &["info", "-m", model.to_str().unwrap(), "--json"]);
    serde_json::from_str(&json).unwrap()
}

/// Each variable's leaf family, from `einet info --json`.
fn families(info: &Value) -> Vec<String> {
    let leaves = &info["leaves"];
    let name = |f: &Value| -> String {
        match f["family"].as_str().unwrap() {
            "categorical" => format!("categorical({})", f["categories"]),
            other => other.to_string(),
        }
    };
    let n = info["num_vars"].as_u64().unwrap() as usize;
    let mut out = vec![name(&leaves["default"]); n];
    for g in leaves["groups"].as_array().unwrap() {
        for v in g["vars"].as_array().unwrap() {
            out[v.as_u64().unwrap() as usize] = name(&g["family"]);
        }
    }
    out
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn penguins_get_a_family_per_column_and_outputs_speak_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let (stdout, _) = train(dir.path(), &penguins(), &out, &[]);
    assert!(
        stdout.contains("small table (241 training rows)"),
        "{stdout}"
    );
    let info = model_info(dir.path(), &out);
    let t = &info["training"];
    assert_eq!(
        t["em"]["mode"], "full",
        "small tables train by full-batch EM"
    );
    assert_eq!(t["leaf_init"]["init"], "data", "{}", t["leaf_init"]);
    let table = &t["data"]["table"];
    let names: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "species",
            "island",
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "sex",
            "year"
        ]
    );
    assert_eq!(
        table["columns"][0]["categories"],
        serde_json::json!(["Adelie", "Chinstrap", "Gentoo"])
    );
    let fam = families(&info);
    assert_eq!(fam[0], "categorical(3)", "species: three strings");
    assert_eq!(fam[6], "categorical(2)", "sex: two strings (NA missing)");
    assert_eq!(fam[7], "categorical(3)", "year: 2007..=2009");
    assert!(fam[2..6].iter().all(|f| f == "normal"), "{fam:?}");
    // Year is shifted by its smallest value, the normal columns by their means.
    assert_eq!(table["columns"][7]["offset"], 2007.0);
    let mass = table["columns"][5]["offset"].as_f64().unwrap();
    assert!((3500.0..5000.0).contains(&mass), "{mass}");

    // Samples and completions are written in the table's names and categories.
    let model = out.join("model.einet");
    let model = model.to_str().unwrap();
    let samples = dir.path().join("s.csv");
    ok(
        dir.path(),
        &[
            "sample",
            "-m",
            model,
            "-n",
            "50",
            "--out",
            samples.to_str().unwrap(),
        ],
    );
    let rows = csv_rows(&samples);
    assert_eq!(rows[0], names);
    for row in &rows[1..] {
        assert!(
            ["Adelie", "Chinstrap", "Gentoo"].contains(&row[0].as_str()),
            "{row:?}"
        );
        assert!(["female", "male"].contains(&row[6].as_str()), "{row:?}");
        assert!(
            ["2007", "2008", "2009"].contains(&row[7].as_str()),
            "{row:?}"
        );
        let mass: f64 = row[5].parse().unwrap();
        assert!(
            (1000.0..9000.0).contains(&mass),
            "body mass {mass} in grams"
        );
    }
    let (mpe, _) = ok(dir.path(), &["mpe", "-m", model, "-n", "3"]);
    let first: Vec<&str> = mpe.lines().next().unwrap().split(',').collect();
    assert_eq!(first[0], "row");
    assert_eq!(first[1..], names[..]);

    // Evaluation reads the table as the model did: the same test rows and log-likelihood.
    let (eval, _) = ok(dir.path(), &["eval", "-m", model, "--json"]);
    let eval: Value = serde_json::from_str(&eval).unwrap();
    let ll = eval["log_likelihood"].as_f64().unwrap();
    let recorded = t["test_ll"].as_f64().unwrap();
    assert!(
        (ll - recorded).abs() < 1e-6,
        "eval {ll} vs recorded {recorded}"
    );
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `rows` lines of a table `id,colour,size,weight,label` with a header.
fn table(rows: usize, header: bool, colours: &[&str]) -> String {
    let mut s = String::new();
    if header {
        s.push_str("id,colour,size,weight,label\n");
    }
    for i in 0..rows {
        s.push_str(&format!(
            "{},{},{},{:.2},{}\n",
            1000 + i,
            colours[i % colours.len()],
            i % 4,
            10.0 + (i % 7) as f32 * 0.37,
            i % 2
        ));
    }
    s
}

#[test]
fn columns_can_be_left_out_taken_as_labels_and_given_their_own_family() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.csv",
        &table(60, true, &["red", "green", "blue"]),
    );
    let spec = format!("csv:{}", path.display());
    let out = dir.path().join("a");
    train(
        dir.path(),
        &spec,
        &out,
        &[
            "--drop-columns",
            "id",
            "--label-column",
            "label",
            "--leaf",
            "size=binomial:3",
        ],
    );
    let info = model_info(dir.path(), &out);
    let columns = &info["training"]["data"]["table"]["columns"];
    assert_eq!(columns.as_array().unwrap().len(), 3);
    assert_eq!(columns[0]["name"], "colour");
    let fam = families(&info);
    assert_eq!(fam, ["categorical(3)", "binomial", "normal"]);

    // A file without a header names its columns by number.
    let bare = write(dir.path(), "bare.csv", &table(60, false, &["x", "y"]));
    let out = dir.path().join("b");
    train(
        dir.path(),
        &format!("csv:{}", bare.display()),
        &out,
        &["--no-header", "--drop-columns", "1,5", "--leaf", "3=normal"],
    );
    let info = model_info(dir.path(), &out);
    let names: Vec<&str> = info["training"]["data"]["table"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2", "3", "4"]);
    assert_eq!(families(&info), ["categorical(2)", "normal", "normal"]);
    // --header takes the first data line as names instead (here two are the same).
    let err = fails(
        dir.path(),
        &[
            "train",
            "-d",
            &format!("csv:{}", bare.display()),
            "--header",
        ],
    );
    assert!(err.contains("two columns are named '0'"), "{err}");

    // Mistakes are named.
    let err = fails(
        dir.path(),
        &[
            "train",
            "-d",
            &spec,
            "--drop-columns",
            "idd",
            "--epochs",
            "1",
        ],
    );
    assert!(
        err.contains("no column 'idd' to drop (the columns are id, colour, size, weight, label)"),
        "{err}"
    );
    let err = fails(
        dir.path(),
        &[
            "train",
            "-d",
            &spec,
            "--leaf",
            "shape=normal",
            "--epochs",
            "1",
        ],
    );
    assert!(err.contains("no variable 'shape'"), "{err}");
    let err = fails(
        dir.path(),
        &[
            "train",
            "-d",
            &spec,
            "--leaf",
            "normal",
            "--leaf",
            "bernoulli",
        ],
    );
    assert!(err.contains("two families for every variable"), "{err}");
    let err = fails(dir.path(), &["train", "-d", "nltcs", "--drop-columns", "1"]);
    assert!(
        err.contains("--drop-columns reads tables (csv:PATH)"),
        "{err}"
    );
    let err = fails(dir.path(), &["train", "-d", "nltcs", "--leaf", "x1=normal"]);
    assert!(err.contains("needs a table (csv:PATH)"), "{err}");
    let err = fails(
        dir.path(),
        &[
            "train",
            "-d",
            &spec,
            "--leaf",
            "colour=normal",
            "--epochs",
            "1",
        ],
    );
    assert!(err.contains("column 'colour'"), "{err}");
}

#[test]
fn own_validation_and_test_files_and_split_fractions_are_used_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let colours = ["red", "green"];
    let train_file = write(dir.path(), "train.csv", &table(50, true, &colours));
    let valid_file = write(dir.path(), "valid.csv", &table(12, true, &colours));
    let test_file = write(dir.path(), "test.csv", &table(17, true, &["green", "blue"]));
    let spec = format!("csv:{}", train_file.display());
    let out = dir.path().join("own");
    train(
        dir.path(),
        &spec,
        &out,
        &[
            "--valid-file",
            valid_file.to_str().unwrap(),
            "--test-file",
            test_file.to_str().unwrap(),
        ],
    );
    let info = model_info(dir.path(), &out);
    let data = &info["training"]["data"];
    assert_eq!(data["rows"], serde_json::json!([50, 12, 17]));
    // Categories come from every file: blue is only in the test file.
    assert_eq!(
        data["table"]["columns"][1]["categories"],
        serde_json::json!(["blue", "green", "red"])
    );
    let model = out.join("model.einet");
    let (eval, _) = ok(
        dir.path(),
        &[
            "eval",
            "-m",
            model.to_str().unwrap(),
            "--split",
            "valid",
            "--json",
        ],
    );
    let eval: Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(eval["rows"], 12);
    let recorded = info["training"]["valid_ll"].as_f64().unwrap();
    assert!((eval["log_likelihood"].as_f64().unwrap() - recorded).abs() < 1e-6);

    // Only a test file: validation rows drawn from the training file by --split.
    let out = dir.path().join("fractions");
    train(
        dir.path(),
        &spec,
        &out,
        &[
            "--test-file",
            test_file.to_str().unwrap(),
            "--split",
            "0.2,0.3",
        ],
    );
    let rows = &info_rows(dir.path(), &out);
    assert_eq!(rows, &[40, 10, 17]);
    let out = dir.path().join("split");
    train(dir.path(), &spec, &out, &["--split", "0.2,0.3"]);
    assert_eq!(info_rows(dir.path(), &out), [25, 10, 15]);
    let err = fails(dir.path(), &["train", "-d", &spec, "--split", "0.5,0.5"]);
    assert!(err.contains("sum < 1"), "{err}");
    let tiny = write(dir.path(), "tiny.csv", &table(3, true, &colours));
    let err = fails(
        dir.path(),
        &["train", "-d", &format!("csv:{}", tiny.display())],
    );
    assert!(err.contains("has 3 data rows, too few"), "{err}");

    // A category the model does not know is located in the file it is in.
    let other = write(
        dir.path(),
        "other.csv",
        &table(20, true, &["red", "purple"]),
    );
    let err = fails(
        dir.path(),
        &[
            "eval",
            "-m",
            model.to_str().unwrap(),
            "-d",
            &format!("csv:{}", other.display()),
        ],
    );
    assert!(
        err.contains("line 3, column 2: 'purple' is not one of the categories of 'colour'"),
        "{err}"
    );
}

fn info_rows(cwd: &Path, out: &Path) -> Vec<u64> {
    model_info(cwd, out)["training"]["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap())
        .collect()
}

#[test]
fn normal_variances_collapsing_onto_their_bound_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    // Column b takes two real values only: each component fits one exactly.
    let text: String = std::iter::once("a,b\n".to_string())
        .chain((0..80).map(|i| format!("{},{}\n", i % 2, if i % 3 == 0 { 0.25 } else { 1.75 })))
        .collect();
    let path = write(dir.path(), "two.csv", &text);
    let out = dir.path().join("w");
    let (_, stderr) = train(
        dir.path(),
        &format!("csv:{}", path.display()),
        &out,
        &["--epochs", "20"],
    );
    assert!(
        stderr.contains("warning: the normal variances of b (") && stderr.contains("collapsed"),
        "{stderr}"
    );
}
