//! `einet train` checkpoints: a run killed (SIGKILL) after two of its four epochs, or stopped
//! by Ctrl-C (SIGINT), and continued with `--resume` ends with exactly the model of the
//! uninterrupted run.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{EINET, data_dir, einet_in, text};
use einet::Einet;

/// The run: 4 epochs of stepwise EM on the shipped digits, one thread, a checkpoint after
/// every batch as well as every epoch.
fn train_args(out: &str) -> Vec<String> {
    let data = data_dir();
    [
        "train",
        "-d",
        "digits",
        "--data-dir",
        data.to_str().unwrap(),
        "-k",
        "3",
        "--epochs",
        "4",
        "--batch-size",
        "10",
        "--stepwise-rule",
        "statistics",
        "--frequency",
        "2",
        "--threads",
        "1",
        "--checkpoint-minutes",
        "0.0001",
        "--no-samples",
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

fn spawn(cwd: &Path, args: &[String]) -> Child {
    Command::new(EINET)
        .args(args)
        .current_dir(cwd)
        .env_remove("EINET_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the einet binary starts")
}

/// Waits until `out/metrics.jsonl` has `lines` lines (epochs ended).
fn wait_for_epochs(out: &Path, lines: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = std::fs::read_to_string(out.join("metrics.jsonl"))
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if done >= lines {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before epoch {lines}"
        );
        assert!(
            Instant::now() < deadline,
            "no epoch {lines} after 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn resume(cwd: &Path, out: &str) -> Einet {
    let resumed = einet_in(cwd, &["train", "--resume", out]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stdout).contains("resuming from"),
        "{}",
        text(&resumed.stdout)
    );
    assert!(!cwd.join(out).join("checkpoint.einet").exists());
    Einet::load(&cwd.join(out).join("model.einet")).unwrap()
}

#[test]
fn killed_or_interrupted_runs_resume_to_the_uninterrupted_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = einet_in(
        d,
        &train_args("whole")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    assert!(!d.join("whole/checkpoint.einet").exists());
    let want = Einet::load(&d.join("whole/model.einet")).unwrap();
    let metrics = std::fs::read_to_string(d.join("whole/metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);

    // Killed without warning once epoch 2 of 4 has ended.
    let mut child = spawn(d, &train_args("killed"));
    wait_for_epochs(&d.join("killed"), 2, &mut child);
    signal(&child, "-KILL");
    child.wait().unwrap();
    assert!(d.join("killed/checkpoint.einet").exists());
    let got = resume(d, "killed");
    assert_eq!(got.params, want.params, "killed after epoch 2");
    let resumed_metrics = std::fs::read_to_string(d.join("killed/metrics.jsonl")).unwrap();
    assert_eq!(resumed_metrics.lines().count(), 4);

    // Ctrl-C during epoch 2: stops after a batch with a checkpoint and exit status 130.
    let mut child = spawn(d, &train_args("interrupted"));
    wait_for_epochs(&d.join("interrupted"), 1, &mut child);
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("einet train --resume interrupted") && stderr.contains("interrupted"),
        "{stderr}"
    );
    // The checkpoint reads as a model that says where the run stopped.
    let info = einet_in(d, &["info", "-m", "interrupted/checkpoint.einet"]);
    let shown = text(&info.stdout);
    assert!(
        shown.contains("checkpoint  ") && shown.contains("einet train --resume interrupted"),
        "{shown}"
    );
    let got = resume(d, "interrupted");
    assert_eq!(got.params, want.params, "interrupted by Ctrl-C");
}

#[test]
fn resume_takes_no_other_options_and_needs_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = einet_in(d, &["train", "--resume", "run", "-k", "4"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
    let out = einet_in(d, &["train", "--resume", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("missing/checkpoint.einet"), "{stderr}");
    let out = einet_in(d, &["train"]);
    assert!(
        text(&out.stderr).contains("--dataset"),
        "{}",
        text(&out.stderr)
    );
}
