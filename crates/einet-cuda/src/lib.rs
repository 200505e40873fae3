//! # einet-cuda
//!
//! The CUDA backend of einet: the same computations as `einet-cpu` (likelihoods with exact
//! marginalisation, EM statistics by explicit backward formulas, the M-step, sampling and both
//! MPE queries), with the model resident on the GPU and its kernels (`kernels/*.cu` at the
//! workspace root) compiled at run time by NVRTC for the device's architecture.
//!
//! Build with the `cuda` feature. No CUDA library is needed at build time: the driver and
//! NVRTC are opened when a backend is created, and a missing driver, device or NVRTC is a
//! one-line [`BackendError::Unavailable`], never a panic. Without the feature the crate still
//! builds and [`CudaBackend::new`] says how to enable it.
//!
//! ```
//! use einet_core::{Backend, BackendModel, Einet, EinetConfig, LeafFamily, Root, random_binary_trees};
//! use einet_cuda::CudaBackend;
//!
//! let graph = random_binary_trees(4, 1, 2, 0).unwrap();
//! let einet = Einet::new(graph, EinetConfig::new(3, LeafFamily::Bernoulli), 0).unwrap();
//! match CudaBackend::new() {
//!     Ok(cuda) => {
//!         let mut model = cuda.load(&einet).unwrap();
//!         let ll = model.log_likelihood(&[0., 1., 1., f32::NAN], Root::Mixture).unwrap();
//!         assert!(ll[0] < 0.0);
//!     }
//!     // No GPU, driver or NVRTC here, or built without the `cuda` feature.
//!     Err(e) => println!("{e}"),
//! }
//! ```
//!
//! Layouts match `einet_core::layout` and the CPU backend exactly: activations node-major
//! `[node][row][k]`, einsum weights `[k_out][k_left][k_right]` per product, mixing weights
//! `[m][k][max_components]`, leaf parameters `[entry][k][channel][stat]`; sampling draws from
//! the same Philox4x32-10 streams (stream = row index) as the CPU backend, in the same order.

pub mod abi;
pub mod kernels;
pub mod precision;

#[cfg(feature = "cuda")]
pub mod device;
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub mod emu;
#[cfg(feature = "cuda")]
mod model;
#[cfg(all(feature = "cuda", feature = "nccl"))]
pub mod nccl;
#[cfg(feature = "cuda")]
mod ops;
#[cfg(feature = "cuda")]
mod plan;

#[cfg(feature = "cuda")]
pub use model::CudaModel;

pub use einet_core::BackendError;
pub use precision::Precision;

/// The variable that makes an unavailable GPU a test failure instead of a `SKIP`.
pub const REQUIRE_GPU_VAR: &str = "EINET_REQUIRE_GPU";

fn gpu_required() -> bool {
    std::env::var(REQUIRE_GPU_VAR).is_ok_and(|v| v == "1")
}

#[cfg(feature = "cuda")]
mod backend {
    use std::sync::Arc;

    use einet_core::{Backend, BackendError, Einet};

    use crate::Precision;
    use crate::device::Exec;
    use crate::emu::Emulator;
    use crate::model::CudaModel;

    /// A device and its loaded kernels, shared by the models of a backend.
    pub(crate) struct Device {
        pub(crate) exec: Exec,
        pub(crate) name: String,
    }

    /// The CUDA backend: one device with its kernels loaded, and the [`Precision`] its
    /// models compute einsum and CP sum layers in.
    #[derive(Clone)]
    pub struct CudaBackend {
        dev: Arc<Device>,
        precision: Precision,
    }

    impl std::fmt::Debug for CudaBackend {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("CudaBackend")
                .field("device", &self.dev.name)
                .field("precision", &self.precision)
                .finish()
        }
    }

    impl CudaBackend {
        /// Opens device 0: [`CudaBackend::with_ordinal`]`(0)`.
        pub fn new() -> Result<Self, BackendError> {
            Self::with_ordinal(0)
        }

        /// Opens device `ordinal` and compiles the kernels for it (once per process and
        /// architecture). Fails with [`BackendError::Unavailable`] when there is no driver,
        /// no such device or no NVRTC.
        pub fn with_ordinal(ordinal: usize) -> Result<Self, BackendError> {
            // cudarc panics if a library vanishes between probing and use; keep that a
            // one-line error too.
            let opened =
                std::panic::catch_unwind(|| Exec::open_cuda(ordinal)).unwrap_or_else(|_| {
                    Err(BackendError::Unavailable(format!(
                        "the CUDA driver or NVRTC failed while opening device {ordinal}"
                    )))
                })?;
            let (exec, name) = opened;
            Ok(CudaBackend {
                dev: Arc::new(Device { exec, name }),
                precision: Precision::Fp32,
            })
        }

        /// The backend whose models compute the sum-product forward pass of einsum and CP
        /// sum layers in `precision` ([`Precision::Fp32`] unless this is called). Fails with
        /// [`BackendError::Unavailable`] when the precision needs tensor cores that the device
        /// lacks (compute capability below 8.0).
        pub fn with_precision(self, precision: Precision) -> Result<Self, BackendError> {
            if precision != Precision::Fp32 {
                match self.dev.exec.compute_capability()? {
                    Some((major, minor)) if major < 8 => {
                        return Err(BackendError::Unavailable(format!(
                            "precision {precision} needs tensor cores (compute capability 8.0 \
                             or newer); {} has {major}.{minor}",
                            self.dev.name
                        )));
                    }
                    _ => {}
                }
            }
            Ok(CudaBackend { precision, ..self })
        }

        /// The precision of einsum and CP sum layers in this backend's models.
        pub fn precision(&self) -> Precision {
            self.precision
        }

        /// [`CudaBackend::new`], or `None` when the GPU is unavailable (printing nothing).
        ///
        /// # Panics
        /// When `EINET_REQUIRE_GPU=1` is set and the GPU is unavailable, so that tests fail
        /// on a machine that should have a usable GPU.
        pub fn new_if_available() -> Option<Self> {
            match Self::new() {
                Ok(b) => Some(b),
                Err(e) if crate::gpu_required() => {
                    panic!(
                        "{}=1 but the CUDA backend is unavailable: {e}",
                        crate::REQUIRE_GPU_VAR
                    )
                }
                Err(_) => None,
            }
        }

        /// A backend running on the CPU emulator (tests).
        pub(crate) fn with_emulator(emu: Arc<Emulator>) -> Self {
            CudaBackend {
                dev: Arc::new(Device {
                    exec: Exec::emulated(emu),
                    name: "CPU emulator".into(),
                }),
                precision: Precision::Fp32,
            }
        }
    }

    impl Backend for CudaBackend {
        type Model = CudaModel;

        fn name(&self) -> String {
            "cuda".into()
        }

        fn load(&self, einet: &Einet) -> Result<CudaModel, BackendError> {
            CudaModel::new(self.dev.clone(), einet, self.precision)
        }

        fn device_name(&self) -> Option<String> {
            Some(self.dev.name.clone())
        }

        /// Bytes that this backend's models hold now (their parameters, statistics, index
        /// arrays and per-batch buffers; not the CUDA context).
        fn memory_allocated(&self) -> Option<u64> {
            Some(self.dev.exec.memory_use().now())
        }

        fn peak_memory_allocated(&self) -> Option<u64> {
            Some(self.dev.exec.memory_use().peak())
        }

        fn reset_peak_memory(&self) {
            self.dev.exec.memory_use().reset_peak()
        }
    }
}

#[cfg(feature = "cuda")]
pub use backend::CudaBackend;
#[cfg(feature = "cuda")]
pub(crate) use backend::Device;

#[cfg(not(feature = "cuda"))]
mod stub {
    use einet_core::em::{EmState, EmStatistics, MStep};
    use einet_core::layout::Layout;
    use einet_core::{Backend, BackendError, BackendModel, Einet, MpeKind, Params, Root};

    /// Why the backend is unavailable in a build without the `cuda` feature.
    pub const NO_CUDA: &str =
        "einet was built without the `cuda` feature; rebuild with --features cuda";

    /// The CUDA backend (unavailable: this build lacks the `cuda` feature).
    #[derive(Clone, Debug)]
    pub struct CudaBackend {
        _never: (),
    }

    impl CudaBackend {
        /// Always [`BackendError::Unavailable`] in a build without the `cuda` feature.
        pub fn new() -> Result<Self, BackendError> {
            Err(BackendError::Unavailable(NO_CUDA.into()))
        }

        /// Always [`BackendError::Unavailable`] in a build without the `cuda` feature.
        pub fn with_ordinal(_ordinal: usize) -> Result<Self, BackendError> {
            Self::new()
        }

        /// Always `None` in a build without the `cuda` feature.
        ///
        /// # Panics
        /// When `EINET_REQUIRE_GPU=1` is set.
        pub fn new_if_available() -> Option<Self> {
            if crate::gpu_required() {
                panic!("{}=1 but {NO_CUDA}", crate::REQUIRE_GPU_VAR);
            }
            None
        }
    }

    /// A model on the CUDA backend; uninhabited without the `cuda` feature.
    pub enum CudaModel {}

    impl Backend for CudaBackend {
        type Model = CudaModel;

        fn name(&self) -> String {
            "cuda".into()
        }

        fn load(&self, _einet: &Einet) -> Result<CudaModel, BackendError> {
            Err(BackendError::Unavailable(NO_CUDA.into()))
        }
    }

    impl BackendModel for CudaModel {
        fn layout(&self) -> &Layout {
            match *self {}
        }
        fn log_likelihood(&mut self, _: &[f32], _: Root<'_>) -> Result<Vec<f32>, BackendError> {
            match *self {}
        }
        fn class_log_likelihoods(&mut self, _: &[f32]) -> Result<Vec<f32>, BackendError> {
            match *self {}
        }
        fn em_accumulate(&mut self, _: &[f32], _: Root<'_>) -> Result<f64, BackendError> {
            match *self {}
        }
        fn em_statistics(&self) -> Result<EmStatistics, BackendError> {
            match *self {}
        }
        fn em_state(&self) -> Result<EmState, BackendError> {
            match *self {}
        }
        fn set_em_state(&mut self, _: &EmState) -> Result<(), BackendError> {
            match *self {}
        }
        fn em_update(&mut self, _: MStep) -> Result<(), BackendError> {
            match *self {}
        }
        fn params(&self) -> Result<Params, BackendError> {
            match *self {}
        }
        fn set_params(&mut self, _: &Params) -> Result<(), BackendError> {
            match *self {}
        }
        fn sample(
            &mut self,
            _: usize,
            _: Option<usize>,
            _: u64,
            _: f32,
        ) -> Result<Vec<f32>, BackendError> {
            match *self {}
        }
        fn sample_conditional(
            &mut self,
            _: &[f32],
            _: u64,
            _: f32,
        ) -> Result<Vec<f32>, BackendError> {
            match *self {}
        }
        fn mpe(&mut self, _: &[f32], _: MpeKind) -> Result<Vec<f32>, BackendError> {
            match *self {}
        }
    }
}

#[cfg(not(feature = "cuda"))]
pub use stub::{CudaBackend, CudaModel, NO_CUDA};
