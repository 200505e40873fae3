//! The CUDA backend against the CPU backend in one criterion group per configuration and
//! batch: the forward pass (`forward`), one stepwise EM step (`em_step`: forward, EM
//! statistics and M-step) and unconditional sampling (`sample`), on the canonical
//! configurations A1 and C2 at batch 100 and 1000 (and B1, the small Poon–Domingos model, at
//! batch 100). Groups are named `A1/batch1000` etc., functions `cpu/forward`, `cuda/forward`,
//! …; throughput is in rows. Each group, and the sampling in it, starts from the model's
//! initial parameters (the EM steps change them).
//!
//! The CUDA functions need the `cuda` feature and a usable GPU: without either they print
//! `SKIP` and only the CPU is measured, unless `EINET_REQUIRE_GPU=1` is set, which makes the
//! bench fail instead. `EINET_BENCH_QUICK=1` runs batch 100 only (the CPU needs seconds per
//! C2 EM step at batch 1000).
//!
//! Every `CudaModel` method used here returns host data and so waits for the stream inside
//! the timed closure: `log_likelihood` and `sample` copy their results back with a
//! `memcpy_dtoh` followed by `stream.synchronize()` (`Exec::read`); `em_accumulate` reads the
//! per-row log-likelihoods back and then synchronises, and `em_update` ends with a
//! synchronise. GPU timings therefore include all queued kernels and the host↔device copies
//! of inputs and outputs, as the CPU's do.
//!
//! ```text
//! cargo bench -p einet-benches --bench gpu_vs_cpu                   # CPU only
//! cargo bench -p einet-benches --features cuda --bench gpu_vs_cpu   # GPU vs CPU
//! ```

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use einet_benches::{canonical_model, random_rows};
use einet_core::{Backend, BackendModel, Params, Root};
use einet_cpu::CpuBackend;
use einet_cuda::CudaBackend;

/// Configurations and their batches (B1 only at its reference batch, 100).
const RUNS: [(&str, &[usize]); 3] = [("A1", &[100, 1000]), ("C2", &[100, 1000]), ("B1", &[100])];

/// The variable that restricts the run to batch 100.
const QUICK_VAR: &str = "EINET_BENCH_QUICK";

/// The CUDA backend, or `None` after printing SKIP (panics under `EINET_REQUIRE_GPU=1`).
fn cuda_backend() -> Option<CudaBackend> {
    match CudaBackend::new_if_available() {
        Some(b) => {
            println!("cuda: {}", b.device_name().unwrap_or_default());
            Some(b)
        }
        None => {
            let why = CudaBackend::new()
                .err()
                .map_or_else(String::new, |e| e.to_string());
            println!("SKIP cuda/*: {why}; measuring the CPU only");
            None
        }
    }
}

/// Times `op` on both models: `cpu/{op}` and, if there is one, `cuda/{op}`.
fn both<C: BackendModel, G: BackendModel>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    op: &str,
    cpu: &mut C,
    cuda: Option<&mut G>,
    f: impl Fn(&mut dyn BackendModel),
) {
    group.bench_function(format!("cpu/{op}"), |b| b.iter(|| f(cpu)));
    if let Some(gpu) = cuda {
        group.bench_function(format!("cuda/{op}"), |b| b.iter(|| f(gpu)));
    }
}

/// Puts both models back to the initial parameters (the EM-step benchmarks change them).
fn reset<C: BackendModel, G: BackendModel>(cpu: &mut C, cuda: Option<&mut G>, initial: &Params) {
    cpu.set_params(initial).expect("cpu parameters");
    if let Some(gpu) = cuda {
        gpu.set_params(initial).expect("cuda parameters");
    }
}

fn gpu_vs_cpu(c: &mut Criterion) {
    let quick = std::env::var(QUICK_VAR).is_ok_and(|v| v == "1");
    let cuda = cuda_backend();
    for (id, batches) in RUNS {
        let (canonical, einet) = canonical_model(id);
        let step = canonical.m_step();
        let mut cpu = CpuBackend.load(&einet).expect("cpu load");
        let mut gpu = cuda.as_ref().map(|b| b.load(&einet).expect("cuda load"));
        let initial = cpu.params().expect("cpu parameters");
        for &batch in batches.iter().filter(|&&b| !quick || b == 100) {
            let x = random_rows(&einet, batch, 1);
            let mut group = c.benchmark_group(format!("{id}/batch{batch}"));
            group.throughput(Throughput::Elements(batch as u64));
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(300));
            group.measurement_time(Duration::from_secs(1));
            reset(&mut cpu, gpu.as_mut(), &initial);
            both(&mut group, "forward", &mut cpu, gpu.as_mut(), |m| {
                m.log_likelihood(&x, Root::Mixture).expect("forward");
            });
            both(&mut group, "em_step", &mut cpu, gpu.as_mut(), |m| {
                m.em_accumulate(&x, Root::Mixture).expect("E-step");
                m.em_update(step).expect("M-step");
            });
            // Sample from the initial parameters, however many EM steps criterion ran.
            reset(&mut cpu, gpu.as_mut(), &initial);
            both(&mut group, "sample", &mut cpu, gpu.as_mut(), |m| {
                m.sample(batch, None, 1, 1.0).expect("sample");
            });
            group.finish();
        }
    }
}

criterion_group!(benches, gpu_vs_cpu);
criterion_main!(benches);
