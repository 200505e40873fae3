//! The backend-generic suite on the CUDA backend's host code and kernels, executed by the CPU
//! emulator (`einet_cuda::emu`): no GPU needed, only a host C++ compiler (else SKIP). This
//! checks the kernels' indexing, tiling and numerics and the host orchestration; it cannot
//! check performance, data races between real threads, or the CUDA compiler.
#![cfg(feature = "cuda")]

fn emulated() -> Option<einet_cuda::CudaBackend> {
    einet_cuda::emu::backend_if_available(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))
}

einet_testsuite::backend_testsuite!(emulated());
