//! CUDA forward pass, one stepwise EM step (forward + EM statistics + M-step) and unconditional
//! sampling on the canonical configurations A1, B1 and C2 at batch 100 and 1000. Prints SKIP
//! and measures nothing without a usable GPU.

use criterion::{Criterion, criterion_group, criterion_main};
#[cfg(feature = "cuda")]
use einet_core::{Backend, BackendModel, Einet, LeafFamily, Root, canonical::Canonical, rng::Rng};
use einet_cuda::CudaBackend;

#[cfg(feature = "cuda")]
fn random_rows(einet: &Einet, rows: usize, seed: u64) -> Vec<f32> {
    let layout = &einet.layout;
    let d = layout.num_channels;
    let mut rng = Rng::new(seed, 0);
    (0..rows * layout.num_vars * d)
        .map(|i| {
            let v = i / d % layout.num_vars;
            match layout.leaf.families[layout.leaf.var_family[v] as usize] {
                LeafFamily::Normal { .. } => rng.uniform(),
                family => rng.below(family.support_size().expect("discrete") as u32) as f32,
            }
        })
        .collect()
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: &mut Criterion) {
    // Panics under EINET_REQUIRE_GPU=1, like the tests.
    let _ = CudaBackend::new_if_available();
    println!("SKIP cuda benches: built without the `cuda` feature");
}

#[cfg(feature = "cuda")]
fn cuda(c: &mut Criterion) {
    use criterion::Throughput;
    let Some(backend) = CudaBackend::new_if_available() else {
        println!("SKIP cuda benches: no usable GPU");
        return;
    };
    println!("device: {}", backend.device_name());
    for id in ["A1", "B1", "C2"] {
        let canonical = Canonical::get(id).expect("canonical id");
        let graph = canonical.graph(0).expect("valid structure");
        let einet = Einet::new(graph, canonical.config.clone(), 0).expect("valid config");
        let mut model = backend.load(&einet).expect("load");
        for batch in [100usize, 1000] {
            let x = random_rows(&einet, batch, 1);
            let mut group = c.benchmark_group(format!("cuda/{id}/batch{batch}"));
            group.throughput(Throughput::Elements(batch as u64));
            group.sample_size(10);
            group.warm_up_time(std::time::Duration::from_millis(500));
            group.measurement_time(std::time::Duration::from_secs(2));
            group.bench_function("forward", |b| {
                b.iter(|| model.log_likelihood(&x, Root::Mixture).expect("forward"))
            });
            group.bench_function("em_step", |b| {
                b.iter(|| {
                    model.em_accumulate(&x, Root::Mixture).expect("E-step");
                    model.em_update(canonical.step_size, 0.0).expect("M-step");
                })
            });
            group.bench_function("sample", |b| {
                b.iter(|| model.sample(batch, None, 1, 1.0).expect("sample"))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, cuda);
criterion_main!(benches);
