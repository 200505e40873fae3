//! CPU forward pass and one stepwise EM step (forward + EM statistics + update) on the
//! canonical configuration A1 and a small Poon–Domingos model (B1), batch 100.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use einet_benches::{canonical_model, random_rows};
use einet_core::{Backend, BackendModel, Root};
use einet_cpu::CpuBackend;

fn cpu(c: &mut Criterion) {
    for (id, batch) in [("A1", 100), ("B1", 100)] {
        let (canonical, einet) = canonical_model(id);
        let mut model = CpuBackend.load(&einet).expect("load");
        let x = random_rows(&einet, batch, 1);
        let mut group = c.benchmark_group(format!("cpu/{id}"));
        group.throughput(Throughput::Elements(batch as u64));
        group.sample_size(10);
        group.bench_function("forward", |b| {
            b.iter(|| model.log_likelihood(&x, Root::Mixture).expect("forward"))
        });
        group.bench_function("em_step", |b| {
            b.iter(|| {
                model.em_accumulate(&x, Root::Mixture).expect("E-step");
                model.em_update(canonical.m_step()).expect("M-step");
            })
        });
        group.finish();
    }
}

criterion_group!(benches, cpu);
criterion_main!(benches);
