//! Train an EiNet on NLTCS (shipped in `data/`), evaluate it, answer a conditional query,
//! sample, save and load: `cargo run --release -p einet --example train_and_query`.
use einet::{Device, Model, ModelSpec, TrainConfig, Trainer};

fn main() -> einet::Result<()> {
    let spec = ModelSpec {
        k: Some(8),
        ..ModelSpec::default()
    };
    let data = spec.load_data(&"nltcs".parse()?, None)?;
    let config = TrainConfig {
        epochs: 3,
        ..TrainConfig::default()
    };
    let trainer = Trainer::new(Device::cpu(), config);
    let trained = trainer.fit(spec.build(&data, 0)?, &data, &mut ())?;
    let best = trained.best();
    println!("epoch {}: valid LL {:.4}", best.epoch, best.valid_ll);

    let mut model = Model::new(trained.einet, Device::cpu())?;
    let test = &data.data.test;
    let test_ll = model.mean_log_likelihood(test, 1000)?;
    let row = &test.values[..test.row_len()];
    let cond = model.conditional_log_likelihood(row, &[0], &[1, 2, 3])?;
    println!("log p(x0 | x1, x2, x3) of test row 0: {:.4}", cond[0]);

    let mut evidence = row.to_vec();
    evidence[8..].fill(f32::NAN);
    println!(
        "x8.. sampled: {:?}",
        model.sample_conditional(&evidence, 1)?
    );
    println!("a sample: {:?}", model.sample(1, 7)?);
    let path = std::env::temp_dir().join(format!("einet-example-{}.einet", std::process::id()));
    model.save(&path)?;
    let mut loaded = Model::load(&path, Device::cpu())?;
    assert_eq!(loaded.mean_log_likelihood(test, 1000)?, test_ll);
    println!("saved and loaded: test LL {test_ll:.4} nats/instance");
    Ok(std::fs::remove_file(&path)?)
}
