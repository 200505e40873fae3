//! Times [`Model::log_likelihood`] on the first ROWS training rows of a data set: the Rust
//! side of the Python module's overhead benchmark (`crates/einet-python/bench/overhead.py`).
//! `cargo run --release -p einet --example time_log_likelihood -- MODEL DATASET ROWS REPEATS`
//! prints the fastest and the median seconds of one call as JSON.
use std::time::Instant;

use einet::registry::{self, SPLIT_SEED};
use einet::{Device, Error, Model, data_root};

fn main() -> einet::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, dataset, rows, repeats] = &args[..] else {
        return Err(Error::invalid(
            "usage: time_log_likelihood MODEL DATASET ROWS REPEATS",
        ));
    };
    let number = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| Error::invalid(format!("'{s}' is not a number")))
    };
    let (rows, repeats) = (number(rows)?, number(repeats)?.max(1));
    let mut model = Model::load(model, Device::cpu())?;
    let data = registry::load(&dataset.parse()?, &data_root(None), SPLIT_SEED)?;
    let train = &data.train;
    let x = &train.values[..rows.min(train.rows()) * train.row_len()];
    model.log_likelihood(x)?;
    let mut seconds = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            model.log_likelihood(x)?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect::<einet::Result<Vec<f64>>>()?;
    seconds.sort_by(f64::total_cmp);
    println!(
        "{{\"rows\": {}, \"repeats\": {repeats}, \"min_s\": {}, \"median_s\": {}}}",
        x.len() / train.row_len(),
        seconds[0],
        seconds[repeats / 2]
    );
    Ok(())
}
