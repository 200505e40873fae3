//! `einet-experiments`: the paper's experiments, end to end — train, evaluate and write the
//! results (JSON and a markdown report) under `docs/results`.
//!
//! Each experiment is a subcommand with its own module: [`debd`] (the 20 DEBD data sets),
//! [`hclt`] (hidden Chow–Liu trees on them) and [`images`] (MNIST and a mixture of EiNets on
//! the CIFAR-10 subset); [`report`] holds what they share (result files that several runs
//! add to).

// clap shows the argument doc comments as `--help` text, where `[default: …]` is meant
// literally, not as a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod debd;
mod hclt;
mod images;
mod report;

/// The paper's experiments with Einsum Networks: train, evaluate, write results.
#[derive(Parser, Debug)]
#[command(
    name = "einet-experiments",
    version = einet::provenance::VERSION,
    about,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The experiments.
#[derive(Subcommand, Debug)]
enum Command {
    /// The 20 binary DEBD density-estimation data sets: the reference's demo configuration
    /// or a small validation-selected grid; writes debd.json and debd.md
    Debd(debd::DebdArgs),
    /// Hidden Chow–Liu trees on the 20 DEBD data sets with Juice's recipe, against its
    /// published runs and einet's EiNet structures; writes hclt.json and hclt.md
    Hclt(hclt::HcltArgs),
    /// MNIST (Poon–Domingos Δ = 7 and 4) and a mixture of EiNets on the CIFAR-10 subset:
    /// bits/dim, samples and inpainting; writes images.json, images.md and PNG grids
    Images(images::ImagesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Debd(a) => debd::run(a),
        Command::Hclt(a) => hclt::run(a),
        Command::Images(a) => images::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", einet::error::chain_message(e.chain()));
            ExitCode::FAILURE
        }
    }
}
