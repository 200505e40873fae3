//! Command-line arguments that every einet front end shares (feature `clap`): the backend and
//! its threads, the EM mode, the stepwise rule and the leaf initialisation.

use einet_core::{LeafInit, StepwiseRule};
use serde::Serialize;

use crate::device::{Device, Precision};
use crate::error::Result;
use crate::train::INIT_PSEUDOCOUNT;

/// A positive integer argument.
pub fn positive_usize(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if n > 0 => usize::try_from(n).map_err(|_| format!("{s} is too large")),
        Ok(n) => Err(format!("must be a positive integer, got {n}")),
        Err(_) => Err(format!("must be a positive integer, got '{s}'")),
    }
}

/// How EM updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EmArg {
    /// Stepwise (online) EM: a step toward the batch estimate every --frequency batches
    Stepwise,
    /// Full-batch EM: one update per epoch
    Full,
}

/// How a stepwise M-step blends a batch in (see [`StepwiseRule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StepwiseRuleArg {
    /// Stepwise EM on running statistics: each weight vector and leaf factor moves by its
    /// share of the running responsibility mass
    Statistics,
    /// The reference's rule: every weight vector and leaf factor moves by the step size
    Parameters,
}

impl From<StepwiseRuleArg> for StepwiseRule {
    fn from(rule: StepwiseRuleArg) -> Self {
        match rule {
            StepwiseRuleArg::Statistics => StepwiseRule::Statistics,
            StepwiseRuleArg::Parameters => StepwiseRule::Parameters,
        }
    }
}

/// How leaf parameters start (see [`LeafInit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LeafInitArg {
    /// Drawn per family without looking at the data, as the reference does
    Random,
    /// Each leaf component fitted to a few random training rows
    Data,
}

impl LeafInitArg {
    /// The initialisation with `rows` training rows per component.
    pub fn with_rows(self, rows: usize) -> LeafInit {
        match self {
            LeafInitArg::Random => LeafInit::Random,
            LeafInitArg::Data => LeafInit::Data {
                rows,
                pseudocount: INIT_PSEUDOCOUNT,
            },
        }
    }
}

/// A compute backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The multithreaded CPU backend.
    Cpu,
    /// The CUDA backend (binaries built with `--features cuda`).
    Cuda,
}

/// Backend options shared by the commands that compute.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Compute backend
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    pub backend: BackendKind,
    /// Worker threads of the CPU backend [default: one per core]
    #[arg(long, value_parser = positive_usize)]
    pub threads: Option<usize>,
    /// Operand precision of the cuda backend's einsum and CP sum layers (sum-product forward
    /// pass and EM's backward pass): fp32, or tf32 / bf16 on tensor cores with fp32
    /// accumulation (compute capability 8.0+); max-product MPE, mixing and leaf layers stay
    /// fp32
    #[arg(long, default_value_t = Precision::Fp32)]
    pub precision: Precision,
    /// Most memory a model with its training state, a batch or a decompressed data file may
    /// take (e.g. 8G, 512MiB) [default: the memory available]
    #[arg(long, value_parser = einet_core::memory::parse_size)]
    pub max_memory: Option<u64>,
}

impl RunArgs {
    /// The device these options name, checked and with its thread pool sized, and the memory
    /// limit set; call before any work.
    pub fn device(&self) -> Result<Device> {
        self.device_on_gpu(0)
    }

    /// [`device`](RunArgs::device), on GPU `ordinal` when the backend is CUDA.
    pub fn device_on_gpu(&self, ordinal: usize) -> Result<Device> {
        einet_core::memory::set_limit(self.max_memory);
        let threads = self.threads;
        let device = match self.backend {
            BackendKind::Cpu => Device::Cpu { threads },
            BackendKind::Cuda => Device::cuda(ordinal)?,
        }
        .with_precision(self.precision)?;
        device.init()?;
        if device != (Device::Cpu { threads }) {
            // The CPU pool still does the host's share of the work.
            Device::Cpu { threads }.init()?;
        }
        Ok(device)
    }
}
