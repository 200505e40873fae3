//! Learning a Chow–Liu tree: pairwise mutual information (one matrix product of the one-hot
//! codes) and the maximum spanning tree, at the shapes of DEBD's largest set (ad: 2,461 rows
//! of 1,556 binary variables) and of MNIST (the default 10,000-row subsample of 784 pixels
//! with 256 values, 8 bins each). Random values: the cost does not depend on them.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use einet_core::LeafFamily;
use einet_core::learn::{ChowLiuTree, MutualInformationConfig, mutual_information};
use einet_core::rng::Rng;

fn chow_liu(c: &mut Criterion) {
    let mnist = LeafFamily::Categorical { categories: 256 };
    for (id, rows, vars, family, values) in [
        ("ad", 2_461, 1_556, LeafFamily::Bernoulli, 2),
        ("mnist", 10_000, 784, mnist, 256),
    ] {
        let mut rng = Rng::new(0, 0);
        let data: Vec<f32> = (0..rows * vars).map(|_| rng.below(values) as f32).collect();
        let families = vec![family; vars];
        let config = MutualInformationConfig::default();
        let mut group = c.benchmark_group(format!("chow_liu/{id}"));
        group.throughput(Throughput::Elements(rows as u64));
        group.sample_size(10);
        group.bench_function("mutual_information_and_tree", |b| {
            b.iter(|| {
                let mi = mutual_information(&data, vars, 1, &families, &config).expect("MI");
                ChowLiuTree::from_mutual_information(&mi, None).expect("tree")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, chow_liu);
criterion_main!(benches);
