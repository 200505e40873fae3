//! What the data-parallel tests share: the runs compared (every structure, full-batch and
//! stepwise EM), an observer that keeps the parameters after every epoch, and the check that
//! two runs' parameters agree.

use std::sync::Arc;

use einet::distributed::Communicator;
use einet::{
    Checkpoint, CheckpointAt, Device, EmConfig, EmMode, HcltSpec, ModelSpec, Params, StepwiseRule,
    StructureSpec, TrainConfig, TrainObserver, Trained, Trainer, TrainingData,
};

/// A structure and schedule to train with one process and with several.
pub struct Case {
    /// What it is, for messages.
    pub name: String,
    /// The model.
    pub spec: ModelSpec,
    /// The schedule.
    pub config: TrainConfig,
}

impl Case {
    /// How far the parameters of a run with several ranks may be from one process's
    /// (relative): 1e-6 for full-batch EM, 1e-5 for stepwise EM.
    pub fn tolerance(&self) -> f32 {
        match self.config.em.mode {
            EmMode::FullBatch => 1e-6,
            EmMode::Stepwise { .. } => 1e-5,
        }
    }
}

/// RAT, Poon–Domingos, hidden Chow–Liu trees and RAT with CP layers, each with full-batch
/// EM, the reference's stepwise EM, and stepwise EM on running statistics updating every
/// second of the 9 batches (so that statistics are pending across epoch ends).
///
/// The statistics of several ranks differ from one process's by the rounding of their f32
/// totals (about 3e-7 relative), and early EM epochs amplify such differences two- to
/// threefold each, as they do those between one-process runs with different batch sizes;
/// the runs have 2 epochs, 3 with the reference's stepwise rule, whose small steps amplify
/// less.
pub fn cases() -> Vec<Case> {
    let structures = [
        ("rat", StructureSpec::default(), None),
        (
            "pd",
            StructureSpec::Pd {
                deltas: vec![vec![4.0]],
                axes: None,
                max_split_depth: None,
            },
            None,
        ),
        ("hclt", StructureSpec::Hclt(HcltSpec::default()), None),
        (
            "rat-cp",
            StructureSpec::default(),
            Some(einet::core::LayerKind::Cp),
        ),
    ];
    let modes = [
        ("full", EmMode::FullBatch, 2),
        (
            "stepwise",
            EmMode::Stepwise {
                frequency: 1,
                step_size: 0.1,
                rule: StepwiseRule::Parameters,
            },
            3,
        ),
        (
            "stepwise-statistics",
            EmMode::Stepwise {
                frequency: 2,
                step_size: 0.3,
                rule: StepwiseRule::Statistics,
            },
            2,
        ),
    ];
    let mut cases = Vec::new();
    for (structure_name, structure, layer) in &structures {
        for (mode_name, mode, epochs) in modes {
            cases.push(Case {
                name: format!("{structure_name}, {mode_name}"),
                spec: ModelSpec {
                    structure: structure.clone(),
                    k: Some(3),
                    layer: *layer,
                    ..ModelSpec::default()
                },
                config: TrainConfig {
                    em: EmConfig {
                        mode,
                        pseudocount: 0.01,
                        regularisation: Default::default(),
                    },
                    epochs,
                    batch_size: 2000,
                    seed: 5,
                    ..TrainConfig::default()
                },
            });
        }
    }
    cases
}

/// The shipped NLTCS data.
pub fn nltcs(spec: &ModelSpec) -> TrainingData {
    spec.load_data(&"nltcs".parse().unwrap(), None).unwrap()
}

/// Keeps the parameters after every epoch (from the checkpoint offered at its end).
#[derive(Default)]
pub struct EpochParams(pub Vec<Params>);

impl TrainObserver for EpochParams {
    fn checkpoint_due(&mut self, at: CheckpointAt) -> bool {
        at == CheckpointAt::EpochEnd
    }
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> einet::Result<()> {
        self.0.push(checkpoint.einet.params.clone());
        Ok(())
    }
}

/// Trains `case` on `data` as a rank of `comm` (one process without), returning the
/// parameters after every epoch and the result.
pub fn train(
    case: &Case,
    data: &TrainingData,
    comm: Option<Arc<dyn Communicator>>,
) -> einet::Result<(Vec<Params>, Trained)> {
    let mut trainer = Trainer::new(Device::cpu(), case.config);
    if let Some(comm) = comm {
        trainer = trainer.with_communicator(comm);
    }
    let mut epochs = EpochParams::default();
    let trained = trainer.fit(case.spec.build(data, 0)?, data, &mut epochs)?;
    Ok((epochs.0, trained))
}

/// The largest relative difference between two runs' parameters over all epochs: for each
/// layer's weights and the leaf parameters, the largest difference over the largest value.
pub fn max_relative_difference(a: &[Params], b: &[Params]) -> f32 {
    assert_eq!(a.len(), b.len(), "different numbers of epochs");
    let relative = |x: &[f32], y: &[f32]| {
        let diff = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        diff / y.iter().map(|q| q.abs()).fold(f32::MIN_POSITIVE, f32::max)
    };
    a.iter()
        .zip(b)
        .flat_map(|(a, b)| {
            let layers = a.layers.iter().zip(&b.layers);
            layers
                .chain([(&a.leaf, &b.leaf)])
                .map(|(x, y)| relative(x, y))
        })
        .fold(0.0, f32::max)
}

/// Asserts that `ranks` (the parameters after every epoch of a run with several ranks)
/// equal `single`'s within the case's tolerance, and returns the largest difference.
pub fn assert_close(case: &Case, ranks: &[Params], single: &[Params]) -> f32 {
    let diff = max_relative_difference(ranks, single);
    assert!(
        diff <= case.tolerance(),
        "{}: parameters differ by {diff:e} (relative) from one process's, more than {:e}",
        case.name,
        case.tolerance()
    );
    diff
}
