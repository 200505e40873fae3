//! The CUDA C kernels: their sources (embedded from `kernels/` at the workspace root), NVRTC
//! compilation, and the ptxas resource report (registers, spills) per kernel.
//!
//! Every `.cu` file is compiled as its own NVRTC program with the host's shared constants
//! ([`crate::abi::defines`]) and `kernels/common.cuh` prepended.
//! A model compiles them once per process and architecture (SASS for the device's `sm_XY`)
//! at first use; [`compile_all_for`] compiles everything to PTX and SASS without a GPU.

use crate::abi::defines;

/// Definitions shared by every kernel file (prepended to each source).
pub const COMMON: &str = include_str!("../../../kernels/common.cuh");

/// The kernel files, `(name, source)`, one per idea.
pub const SOURCES: [(&str, &str); 7] = [
    ("input.cu", include_str!("../../../kernels/input.cu")),
    ("leaf.cu", include_str!("../../../kernels/leaf.cu")),
    ("einsum.cu", include_str!("../../../kernels/einsum.cu")),
    ("mixing.cu", include_str!("../../../kernels/mixing.cu")),
    ("cp.cu", include_str!("../../../kernels/cp.cu")),
    ("mstep.cu", include_str!("../../../kernels/mstep.cu")),
    (
        "backtrack.cu",
        include_str!("../../../kernels/backtrack.cu"),
    ),
];

/// Every kernel the backend launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Flags invalid input values.
    CheckValues,
    /// Leaf log-density tables from the leaf parameters.
    LeafPrepare,
    /// Fused leaf density and segment sum.
    LeafForward,
    /// Leaf EM statistics from the leaf gradients.
    LeafBackward,
    /// Sum-product einsum layer.
    EinsumForward,
    /// Max-product einsum layer.
    EinsumForwardMax,
    /// Sum-product einsum layer on tensor cores with TF32 operands.
    EinsumForwardTf32,
    /// Sum-product einsum layer on tensor cores with BF16 operands.
    EinsumForwardBf16,
    /// Element-wise log of weights.
    LogWeights,
    /// Expected counts of an einsum layer.
    EinsumCounts,
    /// Expected counts of an einsum layer on tensor cores with TF32 operands.
    EinsumCountsTf32,
    /// Expected counts of an einsum layer on tensor cores with BF16 operands.
    EinsumCountsBf16,
    /// Child gradients of an einsum layer.
    EinsumGrads,
    /// Child gradients of an einsum layer on tensor cores with TF32 operands.
    EinsumGradsTf32,
    /// Child gradients of an einsum layer on tensor cores with BF16 operands.
    EinsumGradsBf16,
    /// Mixing layer, sum or max.
    MixingForward,
    /// Mixing layer gradients and counts.
    MixingBackward,
    /// Per-row log-likelihood and root gradient.
    RootLikelihood,
    /// M-step of the sum weights.
    MstepWeights,
    /// M-step of the leaf parameters.
    MstepLeaves,
    /// CP products, forward (either semiring).
    CpProductForward,
    /// CP products, gradients to the children.
    CpProductBackward,
    /// Dense CP sums, sum or max.
    CpSumForward,
    /// Dense CP sums on tensor cores with TF32 operands (sum semiring).
    CpSumForwardTf32,
    /// Dense CP sums on tensor cores with BF16 operands (sum semiring).
    CpSumForwardBf16,
    /// Expected counts of dense CP sums.
    CpSumCounts,
    /// Expected counts of dense CP sums on tensor cores with TF32 operands.
    CpSumCountsTf32,
    /// Expected counts of dense CP sums on tensor cores with BF16 operands.
    CpSumCountsBf16,
    /// Input gradients of dense CP sums.
    CpSumGrads,
    /// Input gradients of dense CP sums on tensor cores with TF32 operands.
    CpSumGradsTf32,
    /// Input gradients of dense CP sums on tensor cores with BF16 operands.
    CpSumGradsBf16,
    /// Top-down sampling / MPE.
    Backtrack,
    /// Fills a buffer with one value.
    FillF32,
}

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 33] = [
        Kernel::CheckValues,
        Kernel::LeafPrepare,
        Kernel::LeafForward,
        Kernel::LeafBackward,
        Kernel::EinsumForward,
        Kernel::EinsumForwardMax,
        Kernel::EinsumForwardTf32,
        Kernel::EinsumForwardBf16,
        Kernel::LogWeights,
        Kernel::EinsumCounts,
        Kernel::EinsumCountsTf32,
        Kernel::EinsumCountsBf16,
        Kernel::EinsumGrads,
        Kernel::EinsumGradsTf32,
        Kernel::EinsumGradsBf16,
        Kernel::MixingForward,
        Kernel::MixingBackward,
        Kernel::RootLikelihood,
        Kernel::MstepWeights,
        Kernel::MstepLeaves,
        Kernel::CpProductForward,
        Kernel::CpProductBackward,
        Kernel::CpSumForward,
        Kernel::CpSumForwardTf32,
        Kernel::CpSumForwardBf16,
        Kernel::CpSumCounts,
        Kernel::CpSumCountsTf32,
        Kernel::CpSumCountsBf16,
        Kernel::CpSumGrads,
        Kernel::CpSumGradsTf32,
        Kernel::CpSumGradsBf16,
        Kernel::Backtrack,
        Kernel::FillF32,
    ];

    /// The kernel's function name in its source.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::CheckValues => "check_values",
            Kernel::LeafPrepare => "leaf_prepare",
            Kernel::LeafForward => "leaf_forward",
            Kernel::LeafBackward => "leaf_backward",
            Kernel::EinsumForward => "einsum_forward",
            Kernel::EinsumForwardMax => "einsum_forward_max",
            Kernel::EinsumForwardTf32 => "einsum_forward_tf32",
            Kernel::EinsumForwardBf16 => "einsum_forward_bf16",
            Kernel::LogWeights => "log_weights",
            Kernel::EinsumCounts => "einsum_counts",
            Kernel::EinsumCountsTf32 => "einsum_counts_tf32",
            Kernel::EinsumCountsBf16 => "einsum_counts_bf16",
            Kernel::EinsumGrads => "einsum_grads",
            Kernel::EinsumGradsTf32 => "einsum_grads_tf32",
            Kernel::EinsumGradsBf16 => "einsum_grads_bf16",
            Kernel::MixingForward => "mixing_forward",
            Kernel::MixingBackward => "mixing_backward",
            Kernel::RootLikelihood => "root_likelihood",
            Kernel::MstepWeights => "mstep_weights",
            Kernel::MstepLeaves => "mstep_leaves",
            Kernel::CpProductForward => "cp_product_forward",
            Kernel::CpProductBackward => "cp_product_backward",
            Kernel::CpSumForward => "cp_sum_forward",
            Kernel::CpSumForwardTf32 => "cp_sum_forward_tf32",
            Kernel::CpSumForwardBf16 => "cp_sum_forward_bf16",
            Kernel::CpSumCounts => "cp_sum_counts",
            Kernel::CpSumCountsTf32 => "cp_sum_counts_tf32",
            Kernel::CpSumCountsBf16 => "cp_sum_counts_bf16",
            Kernel::CpSumGrads => "cp_sum_grads",
            Kernel::CpSumGradsTf32 => "cp_sum_grads_tf32",
            Kernel::CpSumGradsBf16 => "cp_sum_grads_bf16",
            Kernel::Backtrack => "backtrack",
            Kernel::FillF32 => "fill_f32",
        }
    }

    /// The file (in [`SOURCES`]) that defines it.
    pub fn file(self) -> &'static str {
        match self {
            Kernel::CheckValues => "input.cu",
            Kernel::LeafPrepare | Kernel::LeafForward | Kernel::LeafBackward => "leaf.cu",
            Kernel::EinsumForward
            | Kernel::EinsumForwardMax
            | Kernel::EinsumForwardTf32
            | Kernel::EinsumForwardBf16
            | Kernel::LogWeights
            | Kernel::EinsumCounts
            | Kernel::EinsumCountsTf32
            | Kernel::EinsumCountsBf16
            | Kernel::EinsumGrads
            | Kernel::EinsumGradsTf32
            | Kernel::EinsumGradsBf16 => "einsum.cu",
            Kernel::MixingForward | Kernel::MixingBackward | Kernel::RootLikelihood => "mixing.cu",
            Kernel::MstepWeights | Kernel::MstepLeaves => "mstep.cu",
            Kernel::CpProductForward
            | Kernel::CpProductBackward
            | Kernel::CpSumForward
            | Kernel::CpSumForwardTf32
            | Kernel::CpSumForwardBf16
            | Kernel::CpSumCounts
            | Kernel::CpSumCountsTf32
            | Kernel::CpSumCountsBf16
            | Kernel::CpSumGrads
            | Kernel::CpSumGradsTf32
            | Kernel::CpSumGradsBf16 => "cp.cu",
            Kernel::Backtrack | Kernel::FillF32 => "backtrack.cu",
        }
    }
}

/// The full program text of kernel file `file`: the shared constants, [`COMMON`], then the
/// file (each with a `#line` directive so that compiler messages name the right file and
/// line).
pub fn program_source(file: &str) -> Option<String> {
    SOURCES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(name, src)| {
            format!(
                "{}#line 1 \"common.cuh\"\n{COMMON}\n#line 1 \"{name}\"\n{src}",
                defines()
            )
        })
}

/// What ptxas reported for one kernel compiled to SASS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelReport {
    /// The kernel file.
    pub file: String,
    /// The kernel's name.
    pub kernel: String,
    /// The architecture of the SASS (`sm_90`).
    pub arch: String,
    /// Registers per thread.
    pub registers: u32,
    /// Bytes of register spill stores.
    pub spill_stores: u32,
    /// Bytes of register spill loads.
    pub spill_loads: u32,
    /// Bytes of stack frame (local memory) per thread.
    pub stack_frame: u32,
    /// Size of the file's PTX in bytes.
    pub ptx_bytes: usize,
    /// Size of the file's cubin in bytes.
    pub cubin_bytes: usize,
}

impl std::fmt::Display for KernelReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<10} {:<20} {}: {:>3} registers, {:>4} B stack, spills {} B stores / {} B loads",
            self.file,
            self.kernel,
            self.arch,
            self.registers,
            self.stack_frame,
            self.spill_stores,
            self.spill_loads
        )
    }
}

/// Normalises an architecture (`90`, `sm_90`, `compute_90`) to its number (`90`).
fn arch_number(arch: &str) -> Result<&str, String> {
    let n = arch
        .strip_prefix("sm_")
        .or_else(|| arch.strip_prefix("compute_"))
        .unwrap_or(arch);
    if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(n)
    } else {
        Err(format!(
            "bad architecture {arch:?}: expected e.g. 90, sm_90 or compute_90"
        ))
    }
}

/// Parses ptxas `-v` output into per-kernel `(name, registers, spill stores, spill loads,
/// stack frame)`, in the order the kernels appear.
pub fn parse_ptxas_log(log: &str) -> Vec<(String, u32, u32, u32, u32)> {
    fn number_before(line: &str, unit: &str) -> Option<u32> {
        let at = line.find(unit)?;
        line[..at].split_whitespace().last()?.parse().ok()
    }
    let mut out: Vec<(String, u32, u32, u32, u32)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default().to_string();
            out.push((name, 0, 0, 0, 0));
            current = Some(out.len() - 1);
        } else if let Some(i) = current {
            if line.contains("bytes stack frame") {
                out[i].4 = number_before(line, "bytes stack frame").unwrap_or(0);
                out[i].2 = number_before(line, "bytes spill stores").unwrap_or(0);
                out[i].3 = number_before(line, "bytes spill loads").unwrap_or(0);
            } else if line.contains("Used") && line.contains("registers") {
                out[i].1 = number_before(line, "registers").unwrap_or(0);
            }
        }
    }
    out
}

#[cfg(feature = "cuda")]
pub use nvrtc::{compile_all_for, compiled_images, nvrtc_available};

#[cfg(not(feature = "cuda"))]
/// Whether NVRTC can be used: never without the `cuda` feature.
pub fn nvrtc_available() -> Result<(), String> {
    Err("einet was built without the `cuda` feature".into())
}

#[cfg(not(feature = "cuda"))]
/// Compiles every kernel for `arch`: unavailable without the `cuda` feature.
pub fn compile_all_for(arch: &str) -> Result<Vec<KernelReport>, String> {
    let _ = arch_number(arch)?;
    Err("einet was built without the `cuda` feature".into())
}

#[cfg(feature = "cuda")]
mod nvrtc {
    use std::collections::HashMap;
    use std::ffi::{CString, c_char};
    use std::sync::{Arc, Mutex, OnceLock};

    use cudarc::nvrtc::{result, sys};

    use super::{Kernel, KernelReport, SOURCES, arch_number, parse_ptxas_log, program_source};

    /// Whether the NVRTC library can be loaded (checked without panicking).
    pub fn nvrtc_available() -> Result<(), String> {
        // SAFETY: only tries to open the library by its usual names; no symbol is called.
        if unsafe { sys::is_culib_present() } {
            Ok(())
        } else {
            Err(
                "NVRTC (libnvrtc.so) not found: put the directory holding libnvrtc.so.13 and \
                 libnvrtc-builtins.so.13.0 on LD_LIBRARY_PATH"
                    .into(),
            )
        }
    }

    /// An NVRTC program; destroyed on drop. Keeps its source and name alive as NVRTC requires.
    struct Program {
        prog: sys::nvrtcProgram,
        _src: CString,
        _name: CString,
    }

    impl Drop for Program {
        fn drop(&mut self) {
            // SAFETY: `prog` came from create_program and is destroyed exactly once, here.
            let _ = unsafe { result::destroy_program(self.prog) };
        }
    }

    fn c_chars_to_string(v: &[c_char]) -> String {
        let bytes: Vec<u8> = v.iter().map(|&c| c as u8).take_while(|&b| b != 0).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Compiles `file` with `options`; returns the program and its log.
    fn compile(file: &str, options: &[String]) -> Result<(Program, String), String> {
        let src = program_source(file).ok_or_else(|| format!("no kernel file {file}"))?;
        let c_src = CString::new(src).map_err(|e| format!("{file}: {e}"))?;
        let c_name = CString::new(file).map_err(|e| format!("{file}: {e}"))?;
        let prog = result::create_program(&c_src, Some(&c_name))
            .map_err(|e| format!("{file}: nvrtcCreateProgram failed: {e:?}"))?;
        let program = Program {
            prog,
            _src: c_src,
            _name: c_name,
        };
        // SAFETY: the program was just created and is alive until `program` drops.
        let compiled = unsafe { result::compile_program(program.prog, options) };
        // SAFETY: as above.
        let log = unsafe { result::get_program_log(program.prog) }
            .map(|l| c_chars_to_string(&l))
            .unwrap_or_default();
        match compiled {
            Ok(()) => Ok((program, log)),
            Err(e) => Err(format!(
                "{file}: NVRTC compilation failed ({e:?}) with {options:?}:\n{log}"
            )),
        }
    }

    fn ptx_of(program: &Program, file: &str) -> Result<String, String> {
        // SAFETY: the program is alive and compiled.
        let ptx = unsafe { result::get_ptx(program.prog) }
            .map_err(|e| format!("{file}: nvrtcGetPTX failed: {e:?}"))?;
        Ok(c_chars_to_string(&ptx))
    }

    fn cubin_of(program: &Program, file: &str) -> Result<Vec<u8>, String> {
        let mut size = 0usize;
        // SAFETY: the program is alive and compiled for a real architecture; `size` is a
        // valid out-pointer.
        unsafe { sys::nvrtcGetCUBINSize(program.prog, &mut size) }
            .result()
            .map_err(|e| format!("{file}: nvrtcGetCUBINSize failed: {e:?}"))?;
        let mut cubin = vec![0u8; size];
        // SAFETY: `cubin` holds exactly the `size` bytes NVRTC reported.
        unsafe { sys::nvrtcGetCUBIN(program.prog, cubin.as_mut_ptr().cast::<c_char>()) }
            .result()
            .map_err(|e| format!("{file}: nvrtcGetCUBIN failed: {e:?}"))?;
        Ok(cubin)
    }

    fn base_options() -> Vec<String> {
        vec!["--std=c++17".into()]
    }

    /// Compiles every kernel file to PTX for `compute_<arch>` and to SASS for `sm_<arch>`
    /// (with `--ptxas-options=-v`), and reports each kernel's registers and spills. Needs
    /// NVRTC but no GPU. `arch` is e.g. `90`, `sm_90` or `compute_90`.
    pub fn compile_all_for(arch: &str) -> Result<Vec<KernelReport>, String> {
        let n = arch_number(arch)?;
        nvrtc_available()?;
        let mut reports = Vec::new();
        for (file, _) in SOURCES {
            let mut ptx_opts = base_options();
            ptx_opts.push(format!("--gpu-architecture=compute_{n}"));
            let (ptx_prog, _) = compile(file, &ptx_opts)?;
            let ptx = ptx_of(&ptx_prog, file)?;
            let mut sass_opts = base_options();
            sass_opts.push(format!("--gpu-architecture=sm_{n}"));
            sass_opts.push("--ptxas-options=-v".into());
            let (sass_prog, log) = compile(file, &sass_opts)?;
            let cubin = cubin_of(&sass_prog, file)?;
            let parsed = parse_ptxas_log(&log);
            for kernel in Kernel::ALL.iter().filter(|k| k.file() == file) {
                let entry = parsed
                    .iter()
                    .find(|p| p.0 == kernel.name())
                    .ok_or_else(|| {
                        format!(
                            "{file}: ptxas reported nothing for kernel {}; log:\n{log}",
                            kernel.name()
                        )
                    })?;
                reports.push(KernelReport {
                    file: file.to_string(),
                    kernel: kernel.name().to_string(),
                    arch: format!("sm_{n}"),
                    registers: entry.1,
                    spill_stores: entry.2,
                    spill_loads: entry.3,
                    stack_frame: entry.4,
                    ptx_bytes: ptx.len(),
                    cubin_bytes: cubin.len(),
                });
            }
        }
        Ok(reports)
    }

    /// SASS images of every kernel file for `sm_<major><minor>`, compiled once per process.
    pub type Images = Arc<Vec<(&'static str, Vec<u8>)>>;

    /// The kernel images for compute capability `(major, minor)`, compiled with NVRTC at the
    /// first call for that capability in this process.
    pub fn compiled_images(major: i32, minor: i32) -> Result<Images, String> {
        static CACHE: OnceLock<Mutex<HashMap<(i32, i32), Images>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut guard = cache
            .lock()
            .map_err(|_| "the kernel cache is poisoned".to_string())?;
        if let Some(images) = guard.get(&(major, minor)) {
            return Ok(images.clone());
        }
        nvrtc_available()?;
        let mut images = Vec::new();
        for (file, _) in SOURCES {
            let mut opts = base_options();
            opts.push(format!("--gpu-architecture=sm_{major}{minor}"));
            let (prog, _) = compile(file, &opts)?;
            images.push((file, cubin_of(&prog, file)?));
        }
        let images = Arc::new(images);
        guard.insert((major, minor), images.clone());
        Ok(images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_lives_in_a_source_that_defines_it() {
        for k in Kernel::ALL {
            let src = program_source(k.file()).expect("a known file");
            assert!(
                src.contains(&format!(" {}(", k.name())),
                "{} not defined in {}",
                k.name(),
                k.file()
            );
        }
    }

    #[test]
    fn all_lists_the_kernels_in_declaration_order() {
        for (i, k) in Kernel::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }

    #[test]
    fn ptxas_log_is_parsed() {
        let log = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'leaf_forward' for 'sm_90'\n\
ptxas info    : Function properties for leaf_forward\n\
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
ptxas info    : Used 40 registers, used 0 barriers, 440 bytes cmem[0]\n";
        assert_eq!(
            parse_ptxas_log(log),
            vec![("leaf_forward".to_string(), 40, 4, 12, 8)]
        );
    }

    #[test]
    fn architectures_are_normalised() {
        assert_eq!(arch_number("sm_90").unwrap(), "90");
        assert_eq!(arch_number("compute_90a").unwrap(), "90a");
        assert!(arch_number("sm_9.0").is_err());
    }
}
