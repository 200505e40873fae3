//! Where models run: the CPU backend with a number of threads, or a CUDA GPU.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use einet_core::{Backend, BackendModel, Einet};
use einet_cpu::CpuBackend;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorContext, Result};

pub use einet_cuda::Precision;

/// A compute device, chosen at run time.
///
/// ```
/// let device: einet::Device = "cpu".parse().unwrap();
/// assert_eq!(device.name(), "cpu");
/// # #[cfg(not(feature = "cuda"))]
/// assert!("cuda".parse::<einet::Device>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Device {
    /// The multithreaded CPU backend.
    Cpu {
        /// Worker threads of the process-wide pool (`None`: one per core).
        threads: Option<usize>,
    },
    /// A CUDA GPU (builds with the `cuda` feature).
    #[cfg(feature = "cuda")]
    Cuda {
        /// The device's ordinal (0 for the first GPU).
        ordinal: usize,
        /// The precision of the einsum and CP sum layers' sum-product forward pass (see
        /// [`Device::with_precision`]).
        #[serde(default)]
        precision: Precision,
    },
}

impl Default for Device {
    fn default() -> Self {
        Device::Cpu { threads: None }
    }
}

/// Why `cuda` is unusable in a build without the `cuda` feature.
#[cfg(not(feature = "cuda"))]
fn no_cuda() -> Error {
    Error::Context {
        message: "cannot use the cuda backend".into(),
        source: Box::new(einet_core::BackendError::Unavailable(einet_cuda::NO_CUDA.into()).into()),
    }
}

impl FromStr for Device {
    type Err = Error;

    /// `cpu`, `cuda` (GPU 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        let ordinal = match s {
            "cpu" => return Ok(Device::Cpu { threads: None }),
            "cuda" => 0,
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => n,
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown device '{s}'; use cpu, cuda or cuda:N"
                    )));
                }
            },
        };
        Device::cuda(ordinal)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu { .. } => f.write_str("cpu"),
            #[cfg(feature = "cuda")]
            Device::Cuda { ordinal: 0, .. } => f.write_str("cuda"),
            #[cfg(feature = "cuda")]
            Device::Cuda { ordinal, .. } => write!(f, "cuda:{ordinal}"),
        }
    }
}

/// The process's CUDA backend for GPU `ordinal`, opened on first use (one context per GPU).
#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<einet_cuda::CudaBackend> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Opened = HashMap<usize, Result<einet_cuda::CudaBackend, String>>;
    static CUDA: OnceLock<Mutex<Opened>> = OnceLock::new();
    let mut opened = CUDA
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    opened
        .entry(ordinal)
        .or_insert_with(|| {
            einet_cuda::CudaBackend::with_ordinal(ordinal).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::invalid(format!("cannot use the cuda backend: {e}")))
}

/// The process's CUDA backend for GPU `ordinal`, computing einsum and CP sums in `precision`.
#[cfg(feature = "cuda")]
fn cuda_in(ordinal: usize, precision: Precision) -> Result<einet_cuda::CudaBackend> {
    cuda(ordinal)?
        .with_precision(precision)
        .map_err(|e| Error::invalid(format!("cannot use the cuda backend: {e}")))
}

/// Copies `einet` onto GPU `ordinal`, its einsum and CP sums to run in `precision`.
#[cfg(feature = "cuda")]
pub(crate) fn load_cuda(
    ordinal: usize,
    precision: Precision,
    einet: &Einet,
) -> Result<einet_cuda::CudaModel> {
    cuda_in(ordinal, precision)?
        .load(einet)
        .context("cannot load the model onto the cuda backend")
}

impl Device {
    /// The CPU with one thread per core.
    pub fn cpu() -> Self {
        Device::Cpu { threads: None }
    }

    /// GPU `ordinal` in [`Precision::Fp32`]; an error in a build without the `cuda` feature.
    pub fn cuda(ordinal: usize) -> Result<Self> {
        #[cfg(feature = "cuda")]
        return Ok(Device::Cuda {
            ordinal,
            precision: Precision::Fp32,
        });
        #[cfg(not(feature = "cuda"))]
        {
            let _ = ordinal;
            Err(no_cuda())
        }
    }

    /// The device computing einsum and CP sum layers in `precision` (see [`Precision`]). Only
    /// the CUDA backend has tensor cores: anything but [`Precision::Fp32`] on the CPU is an
    /// error.
    ///
    /// ```
    /// use einet::{Device, Precision};
    ///
    /// assert!(Device::cpu().with_precision(Precision::Fp32).is_ok());
    /// let err = Device::cpu().with_precision(Precision::Bf16).unwrap_err();
    /// assert!(err.to_string().contains("--backend cuda"), "{err}");
    /// ```
    pub fn with_precision(self, precision: Precision) -> Result<Self> {
        match self {
            Device::Cpu { .. } if precision == Precision::Fp32 => Ok(self),
            Device::Cpu { .. } => Err(Error::invalid(format!(
                "precision {precision} runs on tensor cores and needs --backend cuda; the cpu \
                 backend computes in fp32"
            ))),
            #[cfg(feature = "cuda")]
            Device::Cuda { ordinal, .. } => Ok(Device::Cuda { ordinal, precision }),
        }
    }

    /// The precision of einsum and CP sums on this device ([`Precision::Fp32`] on the CPU).
    pub fn precision(&self) -> Precision {
        match *self {
            Device::Cpu { .. } => Precision::Fp32,
            #[cfg(feature = "cuda")]
            Device::Cuda { precision, .. } => precision,
        }
    }

    /// The backend's short name: `cpu` or `cuda`.
    pub fn name(&self) -> &'static str {
        match self {
            Device::Cpu { .. } => "cpu",
            #[cfg(feature = "cuda")]
            Device::Cuda { .. } => "cuda",
        }
    }

    /// Checks that the device can be used and sizes the CPU thread pool; call before any
    /// work. The pool is process-wide: a second call asking for another size is an error.
    pub fn init(&self) -> Result<()> {
        match *self {
            Device::Cpu { threads: Some(n) } => init_thread_pool(n),
            Device::Cpu { threads: None } => Ok(()),
            #[cfg(feature = "cuda")]
            Device::Cuda { ordinal, precision } => cuda_in(ordinal, precision).map(drop),
        }
    }

    /// Copies `einet` onto the device.
    pub fn load(&self, einet: &Einet) -> Result<Box<dyn BackendModel>> {
        match *self {
            Device::Cpu { .. } => Ok(Box::new(
                CpuBackend
                    .load(einet)
                    .context("cannot load the model onto the cpu backend")?,
            )),
            #[cfg(feature = "cuda")]
            Device::Cuda { ordinal, precision } => {
                Ok(Box::new(load_cuda(ordinal, precision, einet)?))
            }
        }
    }

    /// The device in words (the GPU's name); `None` on the CPU.
    pub fn device_name(&self) -> Option<String> {
        self.capability(Backend::device_name, Backend::device_name)
    }

    /// Bytes of device memory the models on this device hold now; `None` on the CPU.
    pub fn memory_allocated(&self) -> Option<u64> {
        self.capability(Backend::memory_allocated, Backend::memory_allocated)
    }

    /// The most device memory held at once since the last
    /// [`reset_peak_memory`](Device::reset_peak_memory); `None` on the CPU.
    pub fn peak_memory_allocated(&self) -> Option<u64> {
        self.capability(
            Backend::peak_memory_allocated,
            Backend::peak_memory_allocated,
        )
    }

    /// Restarts the peak-memory count from the memory in use now.
    pub fn reset_peak_memory(&self) {
        self.capability(Backend::reset_peak_memory, Backend::reset_peak_memory)
    }

    /// Worker threads of the CPU pool in use.
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
    }

    /// Asks the device's backend through the [`Backend`] trait: `cpu` on the CPU backend,
    /// `gpu` on an opened CUDA backend (the CPU's answer when it cannot be opened).
    fn capability<R>(
        &self,
        cpu: impl FnOnce(&CpuBackend) -> R,
        #[allow(unused_variables)] gpu: impl FnOnce(&einet_cuda::CudaBackend) -> R,
    ) -> R {
        match *self {
            Device::Cpu { .. } => cpu(&CpuBackend),
            #[cfg(feature = "cuda")]
            Device::Cuda { ordinal, .. } => match cuda(ordinal) {
                Ok(backend) => gpu(&backend),
                Err(_) => cpu(&CpuBackend),
            },
        }
    }
}

/// The most worker threads per logical CPU a pool may have: more only adds contention (and
/// a pool of hundreds of thousands of threads stalls the machine while it starts).
pub const MAX_THREADS_PER_CPU: usize = 8;

/// Sizes rayon's global pool to `n` threads (once per process); refuses more than
/// [`MAX_THREADS_PER_CPU`] per logical CPU.
fn init_thread_pool(n: usize) -> Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = cpus * MAX_THREADS_PER_CPU;
    if n > max {
        return Err(Error::invalid(format!(
            "{n} threads is more than this machine can use: at most {max} ({MAX_THREADS_PER_CPU} \
             per logical CPU, {cpus} here); choose --threads {cpus} or fewer for the best speed"
        )));
    }
    static POOL: OnceLock<usize> = OnceLock::new();
    let mut started = Ok(());
    let size = *POOL.get_or_init(|| {
        started = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::invalid(format!("cannot start the thread pool: {e}")));
        n
    });
    started?;
    if size != n {
        return Err(Error::invalid(format!(
            "the thread pool already runs {size} threads; it cannot be resized to {n}"
        )));
    }
    Ok(())
}
