//! Checkpoints: a run stopped after an epoch or in the middle of one, written to a file,
//! read back and resumed, ends with exactly the parameters and metrics of the uninterrupted
//! run, on the shipped NLTCS data.

use std::path::{Path, PathBuf};

use einet::{
    Checkpoint, CheckpointAt, Device, EmConfig, EmMode, EpochMetrics, Error, LeafInit, ModelSpec,
    StepwiseRule, TrainConfig, TrainObserver, Trained, Trainer, TrainingData,
};
use serde_json::json;

/// Stepwise EM with the statistics rule, an update every 3 batches (so statistics are
/// pending across epoch ends), an annealed step size, data-initialised leaves, then
/// full-batch epochs.
fn config() -> TrainConfig {
    TrainConfig {
        em: EmConfig {
            mode: EmMode::Stepwise {
                frequency: 3,
                step_size: 0.2,
                rule: StepwiseRule::Statistics,
            },
            pseudocount: 0.1,
            regularisation: Default::default(),
        },
        leaf_init: LeafInit::Data {
            rows: 5,
            pseudocount: 1.0,
        },
        epochs: 2,
        batch_size: 1000,
        seed: 3,
        eval_train: false,
        patience: None,
        mini_batch_runs_all_epochs: false,
        step_size_end: Some(0.6),
        full_batch_epochs: 2,
    }
}

fn setup() -> (ModelSpec, TrainingData) {
    let spec = ModelSpec {
        k: Some(3),
        ..ModelSpec::default()
    };
    let data = spec.load_data(&"nltcs".parse().unwrap(), None).unwrap();
    (spec, data)
}

fn fresh(spec: &ModelSpec, data: &TrainingData, observer: &mut dyn TrainObserver) -> Trained {
    Trainer::new(Device::cpu(), config())
        .fit(spec.build(data, 0).unwrap(), data, observer)
        .unwrap()
}

/// Stops after batch `batch` of epoch `epoch` (`None`: after the epoch ended) and writes
/// every checkpoint offered to `path`.
struct StopAt {
    epoch: usize,
    batch: Option<usize>,
    path: PathBuf,
    current: (usize, usize),
    ended: usize,
    offered: Vec<CheckpointAt>,
}

impl StopAt {
    fn new(epoch: usize, batch: Option<usize>, path: &Path) -> Self {
        StopAt {
            epoch,
            batch,
            path: path.to_path_buf(),
            current: (0, 0),
            ended: 0,
            offered: Vec::new(),
        }
    }
}

impl TrainObserver for StopAt {
    fn epoch_started(&mut self, epoch: usize, _: usize, _: usize) {
        self.current = (epoch, 0);
    }
    fn batch_done(&mut self, progress: &einet::BatchProgress) {
        self.current.1 = progress.batches;
    }
    fn epoch_done(&mut self, metrics: &EpochMetrics) -> einet::Result<()> {
        self.ended = metrics.epoch;
        Ok(())
    }
    fn stop_requested(&mut self) -> bool {
        match self.batch {
            None => self.ended == self.epoch,
            Some(b) => self.current == (self.epoch, b),
        }
    }
    fn checkpoint_due(&mut self, at: CheckpointAt) -> bool {
        self.offered.push(at);
        at != CheckpointAt::Batch
    }
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> einet::Result<()> {
        checkpoint.save(&self.path, &json!({"by": "test"}))
    }
}

/// The metrics without their timings.
fn untimed(history: &[EpochMetrics]) -> Vec<EpochMetrics> {
    history
        .iter()
        .map(|m| EpochMetrics {
            seconds: 0.0,
            eval_seconds: 0.0,
            samples_per_s: 0.0,
            ..m.clone()
        })
        .collect()
}

fn assert_same_run(resumed: &Trained, whole: &Trained, what: &str) {
    assert_eq!(resumed.einet.params, whole.einet.params, "{what}");
    assert_eq!(resumed.best, whole.best, "{what}");
    assert_eq!(untimed(&resumed.history), untimed(&whole.history), "{what}");
    assert_eq!(resumed.structure, whole.structure, "{what}");
}

#[test]
fn runs_resumed_after_an_epoch_or_mid_epoch_equal_the_uninterrupted_run() {
    let (spec, data) = setup();
    let whole = fresh(&spec, &data, &mut ());
    assert_eq!(whole.history.len(), 4);
    let batches = data.data.train.rows().div_ceil(1000);
    let dir = tempfile::tempdir().unwrap();
    // After epoch 2 of 4 (the last mini-batch epoch, with statistics pending), in the
    // middle of epoch 1 (stepwise) and of epoch 3 (full batch: statistics pending).
    for (epoch, batch) in [(2, None), (1, Some(4)), (3, Some(batches / 2))] {
        let what = format!("stopped in epoch {epoch} after batch {batch:?}");
        let path = dir.path().join(format!("checkpoint-{epoch}.einet"));
        let mut stop = StopAt::new(epoch, batch, &path);
        let err = Trainer::new(Device::cpu(), config())
            .fit(spec.build(&data, 0).unwrap(), &data, &mut stop)
            .err()
            .unwrap_or_else(|| panic!("{what}: training was not interrupted"));
        assert!(
            matches!(err, Error::Interrupted { epoch: e, .. } if e == epoch),
            "{what}: {err}"
        );
        assert_eq!(
            stop.offered.last(),
            Some(&CheckpointAt::Interrupted),
            "{what}"
        );
        let (checkpoint, front_end) = Checkpoint::load(&path).unwrap();
        assert_eq!(front_end, json!({"by": "test"}));
        assert_eq!(checkpoint.state.epoch, epoch, "{what}");
        assert_eq!(
            checkpoint.state.history.len(),
            epoch - usize::from(batch.is_some())
        );
        // A checkpoint reads as a model: the parameters at the checkpoint.
        assert_eq!(
            einet::Einet::load(&path).unwrap().params,
            checkpoint.einet.params
        );
        let resumed = Trainer::new(Device::cpu(), config())
            .resume(checkpoint, &data, &mut ())
            .unwrap();
        assert_same_run(&resumed, &whole, &what);
    }
}

#[test]
fn every_epoch_end_offers_a_checkpoint_and_batches_are_offered_one() {
    let (spec, data) = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut observer = StopAt::new(usize::MAX, None, &dir.path().join("c.einet"));
    fresh(&spec, &data, &mut observer);
    let batches = data.data.train.rows().div_ceil(1000);
    let count = |at| observer.offered.iter().filter(|&&a| a == at).count();
    assert_eq!(count(CheckpointAt::EpochEnd), 4);
    assert_eq!(count(CheckpointAt::Batch), 4 * batches);
    assert_eq!(count(CheckpointAt::Interrupted), 0);
    // The last checkpoint is of the finished run: resuming it only returns the result.
    let (checkpoint, _) = Checkpoint::load(&dir.path().join("c.einet")).unwrap();
    assert!(checkpoint.state.finished);
    let whole = fresh(&spec, &data, &mut ());
    let resumed = Trainer::new(Device::cpu(), config())
        .resume(checkpoint, &data, &mut ())
        .unwrap();
    assert_same_run(&resumed, &whole, "finished run");
}

#[test]
fn checkpoints_of_other_settings_data_or_damaged_files_are_refused() {
    let (spec, data) = setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.einet");
    let mut stop = StopAt::new(1, Some(2), &path);
    assert!(
        Trainer::new(Device::cpu(), config())
            .fit(spec.build(&data, 0).unwrap(), &data, &mut stop)
            .is_err()
    );
    let (checkpoint, _) = Checkpoint::load(&path).unwrap();
    let other = TrainConfig {
        seed: 4,
        ..config()
    };
    let err = Trainer::new(Device::cpu(), other)
        .resume(checkpoint.clone(), &data, &mut ())
        .err()
        .unwrap();
    assert!(err.to_string().contains("other training settings"), "{err}");
    let digits = ModelSpec::default()
        .load_data(&"digits".parse().unwrap(), None)
        .unwrap();
    let err = Trainer::new(Device::cpu(), config())
        .resume(checkpoint, &digits, &mut ())
        .err()
        .unwrap();
    assert!(err.to_string().contains("'nltcs'"), "{err}");
    // A model file is not a checkpoint; a damaged checkpoint fails its checksum.
    let model = dir.path().join("model.einet");
    spec.build(&data, 0).unwrap().einet.save(&model).unwrap();
    let err = Checkpoint::load(&model).unwrap_err().report();
    assert!(
        err.contains("model.einet") && err.contains("no checkpoint"),
        "{err}"
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let err = Checkpoint::load(&path).unwrap_err().report();
    assert!(err.contains("c.einet") && err.contains("checksum"), "{err}");
}
