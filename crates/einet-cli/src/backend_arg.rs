//! `--backend` and `--threads`: where models run.

use anyhow::{Context, Result};
use einet_core::{Backend, BackendModel, Einet};
use einet_cpu::CpuBackend;
use einet_cuda::CudaBackend;
use serde::Serialize;

/// The process's CUDA backend, opened on first use (one context per process).
fn cuda() -> Result<&'static CudaBackend> {
    static CUDA: std::sync::OnceLock<Result<CudaBackend, String>> = std::sync::OnceLock::new();
    CUDA.get_or_init(|| CudaBackend::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("cannot use the cuda backend: {e}"))
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

impl BackendKind {
    /// The name used in output.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Cuda => "cuda",
        }
    }
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
    /// Checks that the backend exists and sizes the thread pool; call before any work.
    pub fn init(&self) -> Result<()> {
        if self.backend == BackendKind::Cuda {
            cuda()?;
        }
        if let Some(n) = self.threads {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .context("cannot start the thread pool")?;
        }
        Ok(())
    }

    /// Loads `einet` onto the backend.
    pub fn load(&self, einet: &Einet) -> Result<Box<dyn BackendModel>> {
        match self.backend {
            BackendKind::Cpu => Ok(Box::new(
                CpuBackend
                    .load(einet)
                    .context("cannot load the model onto the cpu backend")?,
            )),
            BackendKind::Cuda => Ok(Box::new(
                cuda()?
                    .load(einet)
                    .context("cannot load the model onto the cuda backend")?,
            )),
        }
    }

    /// The GPU's name on the cuda backend; `None` on the cpu backend.
    pub fn device_name(&self) -> Option<String> {
        match self.backend {
            BackendKind::Cpu => None,
            BackendKind::Cuda => cuda().ok().map(|c| c.device_name().to_string()),
        }
    }

    /// Starts the cuda backend's peak device memory afresh (nothing on the cpu backend).
    pub fn reset_peak_device_memory(&self) {
        if let (BackendKind::Cuda, Ok(cuda)) = (self.backend, cuda()) {
            cuda.reset_peak_memory();
        }
    }

    /// The most device memory the cuda backend's models held at once since the last
    /// [`RunArgs::reset_peak_device_memory`]; `None` on the cpu backend.
    pub fn peak_device_memory(&self) -> Option<u64> {
        match self.backend {
            BackendKind::Cpu => None,
            BackendKind::Cuda => cuda().ok().map(|c| c.peak_memory_allocated()),
        }
    }

    /// Number of worker threads in use.
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
    }
}
