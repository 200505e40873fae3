//! `--backend` and `--threads`: where models run.

use anyhow::Result;
use einet::Device;
use serde::Serialize;

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
    #[arg(long, value_parser = crate::positive_usize)]
    pub threads: Option<usize>,
}

impl RunArgs {
    /// The device these options name, checked and with its thread pool sized; call before
    /// any work.
    pub fn device(&self) -> Result<Device> {
        let threads = self.threads;
        let device = match self.backend {
            BackendKind::Cpu => Device::Cpu { threads },
            BackendKind::Cuda => Device::cuda(0)?,
        };
        device.init()?;
        if device != (Device::Cpu { threads }) {
            // The CPU pool still does the host's share of the work.
            Device::Cpu { threads }.init()?;
        }
        Ok(device)
    }
}
