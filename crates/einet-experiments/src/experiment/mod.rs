//! `einet experiment`: the paper's experiments, end to end: train, evaluate and write the
//! results (JSON and a markdown table) under `docs/results`.
//!
//! Each experiment is a nested subcommand in [`ExperimentCommand`] with its own module;
//! [`report`] holds what they share (the run's provenance, merging result files).

pub mod debd;
pub mod report;

use anyhow::Result;

/// `einet experiment`.
#[derive(clap::Args, Debug)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    pub command: ExperimentCommand,
}

/// The experiments.
#[derive(clap::Subcommand, Debug)]
pub enum ExperimentCommand {
    /// The 20 binary DEBD density-estimation data sets: the reference's demo configuration
    /// or a small validation-selected grid; writes debd.json and debd.md
    Debd(debd::DebdArgs),
    /// MNIST (Poon–Domingos Δ = 7 and 4) and a mixture of EiNets on the CIFAR-10 subset:
    /// bits/dim, samples and inpainting; writes images.json, images.md and PNG grids
    Images(crate::experiment_images::ImagesArgs),
}

/// Runs `einet experiment …`.
pub fn run(args: &ExperimentArgs) -> Result<()> {
    match &args.command {
        ExperimentCommand::Debd(a) => debd::run(a),
        ExperimentCommand::Images(a) => crate::experiment_images::run(a),
    }
}
