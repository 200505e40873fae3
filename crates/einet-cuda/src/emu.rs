//! A CPU emulator of the kernels, for testing the backend on machines without a GPU.
//!
//! [`build`] writes one C++ translation unit — `emu/cuda_emu.h`, `kernels/common.cuh`, every
//! kernel file, the kernel table and `emu/emu_driver.cpp` — and compiles it with the host C++
//! compiler (`$CXX`, else `g++`) into a shared library; [`backend`] loads it and returns a
//! [`CudaBackend`] whose models run the unchanged host code and kernels against host memory.
//! Every CUDA thread is a fiber with exact barrier semantics (see `emu/cuda_emu.h`), so this
//! checks indexing, tiling and numerics with real launch shapes, but not performance, true
//! concurrency (races) or the CUDA compiler itself.

use std::ffi::{CString, c_char, c_void};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use einet_core::BackendError;

use crate::CudaBackend;
use crate::abi::defines;
use crate::device::Arg;
use crate::kernels::{COMMON, Kernel, SOURCES};

const HEADER: &str = include_str!("../emu/cuda_emu.h");
const DRIVER: &str = include_str!("../emu/emu_driver.cpp");

type LaunchFn =
    unsafe extern "C" fn(*const c_char, *const u32, *const u32, u32, *const *mut c_void) -> i32;

/// A loaded emulator library.
pub struct Emulator {
    launch_fn: LaunchFn,
    _lib: libloading::Library,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Emulator")
    }
}

impl Emulator {
    /// Loads a library built by [`build`].
    pub fn load(path: &Path) -> Result<Emulator, String> {
        // SAFETY: the library is einet's own emulator; loading it runs only the C++ static
        // initialisers of that code.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        // SAFETY: einet_emu_launch is defined by emu_driver.cpp with exactly this signature.
        let launch_fn = unsafe { lib.get::<LaunchFn>(b"einet_emu_launch\0") }
            .map(|s| *s)
            .map_err(|e| format!("{}: no einet_emu_launch: {e}", path.display()))?;
        Ok(Emulator {
            launch_fn,
            _lib: lib,
        })
    }

    pub(crate) fn launch(
        &self,
        kernel: Kernel,
        grid: (u32, u32, u32),
        block: u32,
        smem: u32,
        args: &[Arg],
    ) -> Result<(), BackendError> {
        let ptrs: Vec<*mut c_void> = args
            .iter()
            .map(|a| match a {
                Arg::Ptr(p) => (p as *const u64).cast_mut().cast(),
                Arg::U64(v) => (v as *const u64).cast_mut().cast(),
                Arg::U32(v) => (v as *const u32).cast_mut().cast(),
                Arg::F32(v) => (v as *const f32).cast_mut().cast(),
            })
            .collect();
        let name = CString::new(kernel.name())
            .map_err(|e| BackendError::Device(format!("emulator: {e}")))?;
        let g = [grid.0, grid.1, grid.2];
        let b = [block, 1, 1];
        // SAFETY: `ptrs` points at the argument values in `args`, which outlive the call and
        // match the kernel's parameters (the model builds them per kernel); buffer pointers
        // are live host allocations sized for the launch.
        let code =
            unsafe { (self.launch_fn)(name.as_ptr(), g.as_ptr(), b.as_ptr(), smem, ptrs.as_ptr()) };
        match code {
            0 => Ok(()),
            -1 => Err(BackendError::Device(format!(
                "emulator: unknown kernel {}",
                kernel.name()
            ))),
            -2 => Err(BackendError::Device(format!(
                "emulator: barrier deadlock in {} (a __syncthreads or warp operation not reached by every thread)",
                kernel.name()
            ))),
            -4 => Err(BackendError::Device(format!(
                "emulator: {} wrote past its {smem} bytes of dynamic shared memory",
                kernel.name()
            ))),
            c => Err(BackendError::Device(format!(
                "emulator: launch of {} failed with code {c}",
                kernel.name()
            ))),
        }
    }
}

/// The emulator's C++ translation unit.
pub fn translation_unit() -> String {
    let mut tu = String::from("#define EINET_EMU 1\n");
    tu.push_str(HEADER);
    tu.push('\n');
    tu.push_str(&defines());
    tu.push_str("#line 1 \"common.cuh\"\n");
    tu.push_str(COMMON);
    for (name, src) in SOURCES {
        tu.push_str(&format!("\n#line 1 \"{name}\"\n"));
        tu.push_str(src);
    }
    tu.push_str("\n#define EINET_EMU_KERNELS");
    for k in Kernel::ALL {
        tu.push_str(&format!(" EMU_KERNEL({})", k.name()));
    }
    tu.push_str("\n#line 1 \"emu_driver.cpp\"\n");
    tu.push_str(DRIVER);
    tu
}

fn compiler() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "g++".into())
}

/// Extra compiler flags from `EINET_EMU_CXXFLAGS` (e.g. `-fsanitize=address`, with the
/// sanitizer's runtime preloaded into the test process).
fn extra_flags() -> Vec<String> {
    std::env::var("EINET_EMU_CXXFLAGS")
        .map(|f| f.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Whether the host C++ compiler runs.
pub fn compiler_available() -> bool {
    Command::new(compiler())
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
        && cfg!(all(target_arch = "x86_64", target_os = "linux"))
}

/// Compiles the emulator into `dir` (reused when the sources are unchanged); returns the
/// library's path.
pub fn build(dir: &Path) -> Result<PathBuf, String> {
    let tu = translation_unit();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    tu.hash(&mut hasher);
    compiler().hash(&mut hasher);
    extra_flags().hash(&mut hasher);
    let stem = format!("einet_emu_{:016x}", hasher.finish());
    let lib = dir.join(format!("lib{stem}.so"));
    if lib.exists() {
        return Ok(lib);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = dir.join(format!("{stem}.cpp"));
    std::fs::write(&src, &tu).map_err(|e| format!("{}: {e}", src.display()))?;
    let tmp = dir.join(format!("lib{stem}.so.{}", std::process::id()));
    let out = Command::new(compiler())
        .args([
            "-std=c++17",
            "-O2",
            "-fPIC",
            "-shared",
            "-fno-strict-aliasing",
            "-Wno-unknown-pragmas",
        ])
        .args(extra_flags())
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", compiler()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed on {}:\n{}",
            compiler(),
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&tmp, &lib).map_err(|e| format!("{}: {e}", lib.display()))?;
    Ok(lib)
}

/// A [`CudaBackend`] running on the emulator built in `dir` (built and loaded once per
/// process).
pub fn backend(dir: &Path) -> Result<CudaBackend, String> {
    static CACHE: OnceLock<Mutex<Option<Arc<Emulator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(None));
    let mut guard = cache
        .lock()
        .map_err(|_| "emulator cache poisoned".to_string())?;
    let emu = match guard.as_ref() {
        Some(emu) => emu.clone(),
        None => {
            let emu = Arc::new(Emulator::load(&build(dir)?)?);
            *guard = Some(emu.clone());
            emu
        }
    };
    Ok(CudaBackend::with_emulator(emu))
}

/// [`backend`] when a C++ compiler is available, else `None` (tests then print `SKIP`).
/// A compiler that fails on the emulator is a bug and panics.
pub fn backend_if_available(dir: &Path) -> Option<CudaBackend> {
    if !compiler_available() {
        return None;
    }
    match backend(dir) {
        Ok(b) => Some(b),
        Err(e) => panic!("the kernel emulator failed to build: {e}"),
    }
}
