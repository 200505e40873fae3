//! `einet train --distributed` under `mpirun` (feature `mpi`): 2 and 3 ranks on the shipped
//! NLTCS data end with the metrics and model of one process, written once, by rank 0; a rank
//! that reads a bad file makes rank 0 report that rank's error; a killed rank ends the job
//! without a model file. Without the feature, `--distributed` says how to build with it.

mod common;

#[cfg(not(feature = "mpi"))]
#[test]
fn distributed_training_says_how_to_build_with_mpi() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::data_dir();
    let args = [
        "train",
        "-d",
        "nltcs",
        "--data-dir",
        data.to_str().unwrap(),
        "--distributed",
    ];
    let out = common::einet_in(dir.path(), &args);
    assert!(!out.status.success());
    let err = common::text(&out.stderr);
    assert!(err.contains("--features mpi"), "{err}");
    assert!(!dir.path().join("runs").exists());
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::path::Path;
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use super::common::{EINET, data_dir, einet_in, text};
    use einet::Einet;
    use serde_json::Value;

    /// `mpirun` with `apps`, each `(ranks, arguments of einet)`, in `cwd`.
    fn mpirun(cwd: &Path, apps: &[(usize, Vec<String>)]) -> Command {
        let mut command = Command::new("mpirun");
        command.arg("--oversubscribe");
        for (i, (ranks, args)) in apps.iter().enumerate() {
            if i > 0 {
                command.arg(":");
            }
            command.args(["-np", &ranks.to_string()]).args(args);
        }
        command
            .current_dir(cwd)
            .env_remove("EINET_DATA")
            // Allowed when the tests run as root (containers, CI).
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        command
    }

    /// `einet train` on the shipped NLTCS data with `extra` options, one thread.
    fn train_args(out: &str, extra: &[&str]) -> Vec<String> {
        let data = data_dir();
        let common = [
            "train",
            "-d",
            "nltcs",
            "--data-dir",
            data.to_str().unwrap(),
            "-k",
            "3",
            "--batch-size",
            "2000",
            "--threads",
            "1",
            "--seed",
            "2",
            "--out",
            out,
        ];
        common.iter().chain(extra).map(|s| s.to_string()).collect()
    }

    fn with_einet(args: Vec<String>) -> Vec<String> {
        std::iter::once(EINET.to_string()).chain(args).collect()
    }

    /// Each epoch's train, valid and test log-likelihoods in `out/metrics.jsonl`.
    fn metrics(out: &Path) -> Vec<[f64; 3]> {
        let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                ["train_ll", "valid_ll", "test_ll"].map(|k| v[k].as_f64().unwrap())
            })
            .collect()
    }

    /// The largest difference of the parameters of each layer (and of the leaves) over the
    /// largest parameter.
    fn relative_difference(a: &Einet, b: &Einet) -> f32 {
        let (a, b) = (&a.params, &b.params);
        let layers = a.layers.iter().zip(&b.layers);
        layers
            .chain([(&a.leaf, &b.leaf)])
            .map(|(x, y)| {
                let diff = x
                    .iter()
                    .zip(y)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0, f32::max);
                diff / y.iter().map(|q| q.abs()).fold(f32::MIN_POSITIVE, f32::max)
            })
            .fold(0.0, f32::max)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn two_and_three_ranks_end_with_the_model_of_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(usize, &[&str], f64); 2] = [
            (2, &["--em", "full", "--epochs", "2"], 1e-6),
            (
                3,
                &["--structure", "hclt", "--step-size", "0.1", "--epochs", "3"],
                1e-5,
            ),
        ];
        for (ranks, extra, tolerance) in cases {
            let one = einet_in(
                dir.path(),
                &train_args("one", extra)
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            );
            assert!(one.status.success(), "{}", text(&one.stderr));
            let mut args = train_args("many", extra);
            args.push("--distributed".into());
            let many = mpirun(dir.path(), &[(ranks, with_einet(args))])
                .output()
                .unwrap();
            assert!(many.status.success(), "{}", text(&many.stderr));
            let stdout = text(&many.stdout);
            assert_eq!(
                stdout.matches("wrote ").count(),
                text(&one.stdout).matches("wrote ").count(),
                "{stdout}"
            );
            assert!(
                stdout.contains(&format!("distributed: {ranks} MPI ranks")),
                "{stdout}"
            );
            let (one, many) = (dir.path().join("one"), dir.path().join("many"));
            assert_eq!(files(&one), files(&many));
            let (m1, mn) = (metrics(&one), metrics(&many));
            assert_eq!(m1.len(), mn.len());
            for (a, b) in mn.iter().zip(&m1) {
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() <= tolerance * y.abs(), "{a:?} against {b:?}");
                }
            }
            let model = |d: &Path| Einet::load(&d.join("model.einet")).unwrap();
            let diff = relative_difference(&model(&many), &model(&one));
            assert!(
                diff <= tolerance as f32,
                "{ranks} ranks: parameters differ by {diff:e}"
            );
            for d in [one, many] {
                std::fs::remove_dir_all(d).unwrap();
            }
        }
    }

    #[test]
    fn a_rank_that_reads_a_bad_file_is_reported_by_rank_0() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<String> = (0..300)
            .map(|i| {
                (0..6)
                    .map(|j| ((i * 7 + j * 3) % 5 % 2).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        std::fs::write(dir.path().join("good.csv"), rows.join("\n")).unwrap();
        let mut bad = rows.clone();
        bad[40] = "1,0,1".into();
        std::fs::write(dir.path().join("bad.csv"), bad.join("\n")).unwrap();
        let app = |csv: &str| {
            with_einet(
                [
                    "train",
                    "--distributed",
                    "-d",
                    csv,
                    "-k",
                    "2",
                    "--threads",
                    "1",
                    "--out",
                    "o",
                ]
                .map(String::from)
                .to_vec(),
            )
        };
        let out = mpirun(
            dir.path(),
            &[(1, app("csv:good.csv")), (1, app("csv:bad.csv"))],
        )
        .output()
        .unwrap();
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("error: rank 1 of 2 failed: cannot load data set 'csv:bad.csv'")
                && err.contains("line 41 has 3 fields, expected 6"),
            "{err}"
        );
        assert!(!dir.path().join("o").exists());
    }

    #[test]
    fn a_killed_rank_ends_the_job_without_a_model_file() {
        let dir = tempfile::tempdir().unwrap();
        let args = train_args("o", &["--epochs", "1000"]);
        let einet = with_einet(args.clone()).join(" ");
        // Rank 1 writes its process id, so that the test can kill it.
        let shell = vec![
            "sh".into(),
            "-c".into(),
            format!("echo $$ > rank1.pid; exec {einet}"),
        ];
        let mut job = mpirun(dir.path(), &[(1, with_einet(args)), (1, shell)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(600);
        let metrics = dir.path().join("o").join("metrics.jsonl");
        while std::fs::read_to_string(&metrics).map_or(true, |m| m.lines().count() < 2) {
            if job.try_wait().unwrap().is_some() {
                let out = job.wait_with_output().unwrap();
                panic!("the job ended before epoch 2: {}", text(&out.stderr));
            }
            assert!(Instant::now() < deadline, "no epoch 2 after 10 minutes");
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = std::fs::read_to_string(dir.path().join("rank1.pid")).unwrap();
        let killed = Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(killed.success());
        let Output { status, stderr, .. } = job.wait_with_output().unwrap();
        assert!(!status.success());
        let err = text(&stderr);
        assert!(err.contains("rank 1"), "{err}");
        let out = dir.path().join("o");
        assert!(!out.join("model.einet").exists());
        // The checkpoint of the last epoch is whole: the run can be resumed.
        einet::Checkpoint::load(&out.join("checkpoint.einet")).unwrap();
    }
}
