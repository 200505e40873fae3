//! `einet query` end to end: conditionals that sum to one, the chain rule, JSON that agrees
//! with CSV, located errors, and models with and without a table.

mod common;

use std::path::Path;

use common::{data_dir, fails, ok};
use serde_json::Value;

/// A small, fast model of `dataset` in `cwd/name`; returns the model file.
fn train(cwd: &Path, dataset: &str, name: &str) -> String {
    let data = data_dir();
    ok(
        cwd,
        &[
            "train",
            "-d",
            dataset,
            "--data-dir",
            data.to_str().unwrap(),
            "--depth",
            "2",
            "--repetitions",
            "2",
            "-k",
            "3",
            "--epochs",
            "5",
            "--em",
            "full",
            "--leaf-init",
            "data",
            "--out",
            name,
        ],
    );
    format!("{name}/model.einet")
}

fn train_penguins(cwd: &Path) -> String {
    let table = format!("csv:{}", data_dir().join("penguins/penguins.csv").display());
    train(cwd, &table, "penguins")
}

/// The answers of a CSV output: each line's fields by the header's names.
struct Answers {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Answers {
    fn parse(csv: &str) -> Answers {
        let mut lines = csv
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect());
        Answers {
            header: lines.next().expect("a header"),
            rows: lines.collect(),
        }
    }

    fn column(&self, name: &str) -> Vec<f64> {
        let j = self.header.iter().position(|h| h == name).expect(name);
        self.rows.iter().map(|r| r[j].parse().unwrap()).collect()
    }

    fn conditional(&self) -> Vec<f64> {
        self.column("log_p_target_given")
    }

    fn given(&self) -> Vec<f64> {
        self.column("log_p_given")
    }
}

/// Writes `text` to `cwd/name` and queries it for `target`; returns the CSV answers.
fn query(cwd: &Path, model: &str, name: &str, text: &str, target: &str) -> Answers {
    std::fs::write(cwd.join(name), text).unwrap();
    Answers::parse(&ok(
        cwd,
        &["query", "-m", model, "--given", name, "--target", target],
    ))
}

fn probability_sum(log_ps: &[f64]) -> f64 {
    log_ps.iter().map(|l| l.exp()).sum()
}

#[test]
fn conditionals_of_every_category_sum_to_one_and_follow_the_chain_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = train_penguins(d);
    // One row per species under each of two pieces of evidence (the second with a missing
    // value, which is marginalised).
    let mut rows = String::from("island,species,bill_length_mm,sex\n");
    for evidence in ["Biscoe,{},45.2,female", "Dream,{},NA,male"] {
        for species in ["Adelie", "Chinstrap", "Gentoo"] {
            rows.push_str(&evidence.replace("{}", species));
            rows.push('\n');
        }
    }
    let answers = query(d, &model, "species.csv", &rows, "species");
    assert_eq!(
        answers.header,
        [
            "row",
            "line",
            "species",
            "log_p_target_given",
            "log_p_given"
        ]
    );
    assert_eq!(answers.rows.len(), 6);
    assert_eq!(answers.rows[4][..3], ["4", "6", "Chinstrap"]);
    let (conditional, given) = (answers.conditional(), answers.given());
    for group in 0..2 {
        let part = &conditional[3 * group..3 * group + 3];
        let total = probability_sum(part);
        assert!((total - 1.0).abs() < 1e-4, "evidence {group}: {total}");
        assert!(part.iter().all(|&l| l < 0.0));
        let g = &given[3 * group..3 * group + 3];
        assert!(
            g.iter().all(|&x| (x - g[0]).abs() < 1e-5 && x < 0.0),
            "{g:?}"
        );
    }
    // Two targets: the six (species, sex) pairs given the island and bill length.
    let mut rows = String::from("species,sex,island,bill_length_mm\n");
    for species in ["Adelie", "Chinstrap", "Gentoo"] {
        for sex in ["female", "male"] {
            rows.push_str(&format!("{species},{sex},Dream,39.5\n"));
        }
    }
    let pairs = query(d, &model, "pairs.csv", &rows, "species,sex");
    let total = probability_sum(&pairs.conditional());
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    // log p(target | given) + log p(given) = log p(target, given): the joint is a query of
    // every column of the file, with no evidence left (its log p(given) is 0).
    let joint = query(
        d,
        &model,
        "pairs.csv",
        &rows,
        "island,species,bill_length_mm,sex",
    );
    assert!(
        joint.given().iter().all(|g| g.abs() < 1e-4),
        "{:?}",
        joint.given()
    );
    let sums = pairs.conditional().into_iter().zip(pairs.given());
    for (r, ((c, g), j)) in sums.zip(joint.conditional()).enumerate() {
        assert!(
            (c + g - j).abs() < 1e-4 * j.abs().max(1.0),
            "row {r}: {c} + {g} != {j}"
        );
    }
    // The evidence alone is a marginal: log p(island, bill length) is each row's log p(given).
    let marginal = query(
        d,
        &model,
        "evidence.csv",
        "island,bill_length_mm\nDream,39.5\n",
        "island,bill_length_mm",
    );
    let (m, g) = (marginal.conditional()[0], pairs.given()[0]);
    assert!((m - g).abs() < 1e-4 * g.abs(), "{m} != {g}");
}

#[test]
fn json_agrees_with_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = train_penguins(d);
    let rows =
        "species,island,body_mass_g\nGentoo,Biscoe,5000\nAdelie,Torgersen,\nChinstrap,Dream,3700\n";
    std::fs::write(d.join("rows.csv"), rows).unwrap();
    let csv = Answers::parse(&ok(
        d,
        &[
            "query", "-m", &model, "--given", "rows.csv", "--target", "species",
        ],
    ));
    let args = [
        "query", "-m", &model, "--given", "rows.csv", "--target", "species",
    ];
    let printed: Value =
        serde_json::from_str(&ok(d, &[&args[..], &["--format", "json"]].concat())).unwrap();
    let said = ok(d, &[&args[..], &["--out", "answers.json"]].concat());
    assert!(
        said.starts_with("wrote answers.json (3 rows of rows.csv"),
        "{said}"
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("answers.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    ok(d, &[&args[..], &["--out", "answers.csv"]].concat());
    let file = Answers::parse(&std::fs::read_to_string(d.join("answers.csv")).unwrap());
    assert_eq!(file.rows, csv.rows);
    assert_eq!(written["target"], serde_json::json!(["species"]));
    assert_eq!(written["rows"], 3);
    let results = written["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    for (r, (object, line)) in results.iter().zip(&csv.rows).enumerate() {
        assert_eq!(object["row"], r);
        assert_eq!(object["line"], r + 2);
        assert_eq!(object["target"]["species"], line[2].as_str());
        let c = object["log_p_target_given"].as_f64().unwrap();
        let g = object["log_p_given"].as_f64().unwrap();
        assert!(
            close(c, csv.conditional()[r]) && close(g, csv.given()[r]),
            "row {r}"
        );
    }
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let m = written["mean_log_p_target_given"].as_f64().unwrap();
    assert!(close(m, mean(csv.conditional())), "{m}");
    let m = written["mean_log_p_given"].as_f64().unwrap();
    assert!(close(m, mean(csv.given())), "{m}");
}

#[test]
fn bad_queries_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = train_penguins(d);
    let cases = [
        (
            "species,islnd\nAdelie,Biscoe\n",
            "species",
            "bad.csv: line 1, column 2: 'islnd' is not a variable of the model (its variables are \
             species, island, bill_length_mm",
        ),
        (
            "species,island\nAdelie,Biscoe\nGentoo,Mars\n",
            "species",
            "bad.csv: line 3, column 2: 'Mars' is not one of the categories of 'island' (Biscoe, \
             Dream, Torgersen)",
        ),
        (
            "island,sex\nBiscoe,male\n",
            "species",
            "bad.csv: the target 'species' is not a column of the file (its columns are island, sex)",
        ),
        (
            "species,island\nAdelie,Biscoe\nNA,Dream\n",
            "species",
            "bad.csv line 3, column 1: the target value is missing",
        ),
        (
            "species,island\nAdelie,Biscoe\n",
            "specie",
            "the table has no variable 'specie'",
        ),
        (
            "species,island\nAdelie,Biscoe\n",
            "species,1",
            "--target names 'species' twice",
        ),
        (
            "species,island\nAdelie,Biscoe\nGentoo\n",
            "species",
            "bad.csv: line 3 has 1 fields, expected 2",
        ),
        (
            "species,island,bill_length_mm\nAdelie,Biscoe,long\n",
            "species",
            "bad.csv: line 2, column 3: 'long' is not a number",
        ),
    ];
    for (rows, target, wanted) in cases {
        std::fs::write(d.join("bad.csv"), rows).unwrap();
        let err = fails(
            d,
            &[
                "query", "-m", &model, "--given", "bad.csv", "--target", target,
            ],
        );
        assert!(err.contains(wanted), "{rows:?}: {wanted:?} not in {err}");
    }
    let err = fails(
        d,
        &[
            "query", "-m", &model, "--given", "none.csv", "--target", "species",
        ],
    );
    assert!(err.contains("none.csv"), "{err}");
    // No output file is left by a failed query.
    std::fs::write(d.join("bad.csv"), "species\nNA\n").unwrap();
    fails(
        d,
        &[
            "query", "-m", &model, "--given", "bad.csv", "--target", "species", "-o", "out.csv",
        ],
    );
    assert!(!d.join("out.csv").exists());
}

#[test]
fn a_model_without_a_table_is_queried_by_variable_names_or_indices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = train(d, "nltcs", "nltcs");
    // The shipped test file: no header, every variable.
    let test = data_dir().join("debd/nltcs.test.data.gz");
    let test = test.to_str().unwrap();
    let all = Answers::parse(&ok(
        d,
        &["query", "-m", &model, "--given", test, "--target", "x0,15"],
    ));
    assert_eq!(all.header[2..4], ["x0", "x15"]);
    assert_eq!(all.rows[0][1], "1");
    // log p(x0, x15 | the rest) + log p(the rest) is each row's log-likelihood in `einet eval`.
    ok(
        d,
        &[
            "eval",
            "-m",
            &model,
            "--split",
            "test",
            "--per-row",
            "ll.csv",
        ],
    );
    let ll = Answers::parse(&std::fs::read_to_string(d.join("ll.csv")).unwrap());
    let ll = ll.column("log_likelihood");
    assert_eq!(ll.len(), all.rows.len());
    let sums = all.conditional().into_iter().zip(all.given());
    for (r, ((c, g), l)) in sums.zip(ll).enumerate() {
        assert!(
            (c + g - l).abs() < 1e-4 * l.abs().max(1.0),
            "row {r}: {c} + {g} != {l}"
        );
    }
    // A header names a subset: both values of x0 given x3 and x7 sum to one.
    let rows = "x3,x0,x7\n1,0,0\n1,1,0\n";
    let answers = query(d, &model, "rows.csv", rows, "0");
    let total = probability_sum(&answers.conditional());
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    assert_eq!(answers.header[2], "x0");
    for (target, wanted) in [
        (
            "x16",
            "the model has no variable 'x16': name one as x0 … x15 or by its 0-based index",
        ),
        (
            "x1",
            "rows.csv: the target 'x1' is not a column of the file (its columns are x0, x3, x7)",
        ),
    ] {
        let err = fails(
            d,
            &[
                "query", "-m", &model, "--given", "rows.csv", "--target", target,
            ],
        );
        assert!(err.contains(wanted), "{wanted:?} not in {err}");
    }
    std::fs::write(d.join("rows.csv"), "x3,x0\n1,2\n").unwrap();
    let err = fails(
        d,
        &[
            "query", "-m", &model, "--given", "rows.csv", "--target", "x0",
        ],
    );
    assert!(
        err.contains("rows.csv line 2, column 2: value 2 is not valid for bernoulli"),
        "{err}"
    );
}
