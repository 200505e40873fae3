//! Hidden Chow–Liu trees learned and trained through the library on the shipped NLTCS data,
//! with the training recipe of Juice's HCLT: a step size annealed over the mini-batch
//! epochs, then full-batch epochs, each phase ended early by the patience.

use einet::{
    Device, EmConfig, EmMode, HcltSpec, ModelSpec, StepwiseRule, StructureRecord, StructureSpec,
    TrainConfig, Trainer,
};

fn spec(trees: usize) -> ModelSpec {
    ModelSpec {
        structure: StructureSpec::Hclt(HcltSpec {
            trees: Some(trees),
            ..HcltSpec::default()
        }),
        k: Some(4),
        ..ModelSpec::default()
    }
}

fn recipe(epochs: usize, full_batch_epochs: usize, patience: Option<usize>) -> TrainConfig {
    TrainConfig {
        em: EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.1,
                rule: StepwiseRule::Parameters,
            },
            pseudocount: 0.0,
            regularisation: Default::default(),
        },
        epochs,
        batch_size: 1000,
        step_size_end: Some(0.9),
        full_batch_epochs,
        patience,
        ..TrainConfig::default()
    }
}

#[test]
fn full_batch_epochs_follow_and_never_lower_the_training_likelihood() {
    let spec = spec(2);
    let data = spec.load_data(&"nltcs".parse().unwrap(), None).unwrap();
    let built = spec.build(&data, 0).unwrap();
    let StructureRecord::Hclt { trees, rows, .. } = &built.structure else {
        panic!("not an HCLT record: {:?}", built.structure);
    };
    assert_eq!(trees.len(), 2);
    assert!(*rows > 0);
    for tree in trees {
        tree.check().unwrap();
        assert_eq!(tree.edges().len(), 15);
    }
    assert_eq!(built.einet.config.layer, einet::core::LayerKind::Cp);
    let trained = Trainer::new(Device::cpu(), recipe(2, 4, None))
        .fit(built, &data, &mut ())
        .unwrap();
    assert_eq!(trained.history.len(), 6);
    // Full-batch EM from the parameters of the epoch before: each epoch's training
    // likelihood (evaluated after its update) is at least the previous one's.
    for pair in trained.history[1..].windows(2) {
        assert!(
            pair[1].train_ll >= pair[0].train_ll - 1e-6,
            "epoch {}: {} after {}",
            pair[1].epoch,
            pair[1].train_ll,
            pair[0].train_ll
        );
    }
    // Far above a uniform model over 16 binary variables (16 ln 2 = 11.09 nats).
    assert!(
        trained.best().valid_ll > -6.6,
        "{}",
        trained.best().valid_ll
    );
}

#[test]
fn the_step_size_is_annealed_linearly_over_the_mini_batch_updates() {
    let config = recipe(3, 0, None);
    assert_eq!(config.step_size(0.1, 0, 5), 0.1);
    assert!((config.step_size(0.1, 2, 5) - 0.5).abs() < 1e-6);
    assert!((config.step_size(0.1, 4, 5) - 0.9).abs() < 1e-6);
    assert!((config.step_size(0.1, 9, 5) - 0.9).abs() < 1e-6);
    let constant = TrainConfig::default();
    assert_eq!(constant.step_size(0.05, 3, 10), 0.05);
}

#[test]
fn patience_ends_each_phase() {
    let spec = spec(1);
    let data = spec.load_data(&"nltcs".parse().unwrap(), None).unwrap();
    let trained = Trainer::new(Device::cpu(), recipe(30, 30, Some(1)))
        .fit(spec.build(&data, 1).unwrap(), &data, &mut ())
        .unwrap();
    let h = &trained.history;
    assert!(h.len() < 60, "patience stopped nothing: {} epochs", h.len());
    // A phase that stopped before its last epoch did so right after an epoch that did not
    // improve on the best (patience 1); the full-batch phase always runs.
    let mini: Vec<_> = h.iter().filter(|m| m.epoch <= 30).collect();
    let full: Vec<_> = h.iter().filter(|m| m.epoch > 30).collect();
    assert!(!full.is_empty());
    assert_eq!(full[0].epoch, 31);
    for (phase, budget) in [(&mini, 30), (&full, 30)] {
        if phase.len() < budget {
            assert!(!phase.last().unwrap().improved);
        }
    }
}
