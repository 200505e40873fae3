//! The CUDA backend against the CPU backend on the canonical configurations A1 (RAT,
//! Categorical(2), K 20), P1 (the same RAT with CP layers, as PyJuice builds it) and C2
//! (Poon–Domingos 32×32×3, Normal, K 40) and on a hidden Chow–Liu tree over 784 variables (a
//! random tree, CP layers with several children per product, K 8) with real data — A1, P1 and
//! the tree on MNIST test images binarised (pixel > 127 → 1), C2 on CIFAR-10-subset test
//! images scaled to [0, 1] — and on a small well-conditioned PD model with C2's K, channels
//! and family (random data). 5% of the values are then knocked out (NaN) so that marginalisation, conditional
//! sampling and MPE completion are exercised.
//!
//! Tolerances: log-likelihoods to 1e-5 relative; expected counts, leaf mass and leaf
//! statistics, and the parameters after one EM step, to 1e-4 relative or 2 ε₃₂ max|log p|
//! where that is larger (float32 cannot resolve responsibilities better: A1 on MNIST
//! ≈ 1.3e-4, C2 on CIFAR ≈ 4e-2, see `parity`), with an absolute floor of 1% of the tensor's
//! largest magnitude (the largest parameter for parameters) times that; samples and MPE
//! states row by row (both backends draw from the same Philox streams in the same order, so
//! almost every row agrees).
//!
//! The data folder is `$EINET_DATA` if set, else `shared/data` beside the repository
//! (`../../../shared/data` from this crate), laid out as `mnist/t10k-images-idx3-ubyte.gz`
//! (+ labels) and `cifar10-subset/test_batch_first1000.bin.gz`; without it the tests fall back
//! to random rows (`einet_core::canonical::random_rows`) and say so.
//!
//! `gpu_*` tests need a GPU (SKIP without one unless `EINET_REQUIRE_GPU=1`); `emulated_*`
//! tests run the same kernels on the CPU emulator with fewer rows.
#![cfg(feature = "cuda")]

use std::path::PathBuf;

use einet_core::canonical::{Canonical, random_rows};
use einet_core::region_graph::PoonDomingos;
use einet_core::rng::Rng;
use einet_core::{
    Backend, BackendModel, Einet, EinetConfig, EmStatistics, LeafFamily, LeafGroup, LeafSpec,
    MStep, MpeKind, Root, StepwiseRule, random_binary_trees,
};
use einet_cpu::CpuBackend;
use einet_cuda::CudaBackend;

fn canonical(id: &str) -> (f32, Einet) {
    if id == "K40" {
        // A small, well-conditioned model with C2's K, channels and family: PD 6x6, Δ 2,
        // Normal leaves with variances in [0.05, 1].
        let graph = PoonDomingos {
            shape: vec![6, 6],
            deltas: vec![vec![2.0, 2.0]],
            axes: None,
            max_split_depth: None,
        }
        .build()
        .expect("valid structure");
        let config = EinetConfig {
            num_channels: 3,
            num_classes: 3,
            ..EinetConfig::new(
                40,
                LeafFamily::Normal {
                    min_var: 0.05,
                    max_var: 1.0,
                },
            )
        };
        return (0.5, Einet::new(graph, config, 0).expect("valid config"));
    }
    if id == "WIDE" {
        // Leaf regions of 300 variables, many more than the 32 a warp samples at once.
        // Bernoulli, Binomial(5) and Categorical(3) variables take turns, so that a leaf's
        // draws use 1, 5 and 1 uniforms.
        let graph = random_binary_trees(600, 1, 2, 0).expect("valid structure");
        let every_third = |r: u32| (0..600).filter(|v| v % 3 == r).collect();
        let config = EinetConfig {
            num_classes: 2,
            leaves: LeafSpec {
                default: LeafFamily::Bernoulli,
                groups: vec![
                    LeafGroup {
                        vars: every_third(1),
                        family: LeafFamily::Binomial { trials: 5 },
                    },
                    LeafGroup {
                        vars: every_third(2),
                        family: LeafFamily::Categorical { categories: 3 },
                    },
                ],
            },
            ..EinetConfig::new(4, LeafFamily::Bernoulli)
        };
        return (0.5, Einet::new(graph, config, 0).expect("valid config"));
    }
    if id == "HCLT" {
        let tree = einet_testsuite::models::random_tree(784, 3);
        let graph = einet_core::hclt(&[tree]).expect("valid tree");
        let config = EinetConfig {
            layer: einet_core::LayerKind::Cp,
            ..EinetConfig::new(8, LeafFamily::Bernoulli)
        };
        return (0.5, Einet::new(graph, config, 0).expect("valid config"));
    }
    let c = Canonical::get(id).expect("canonical id");
    let graph = c.graph(0).expect("valid structure");
    let einet = Einet::new(graph, c.config.clone(), 0).expect("valid config");
    (c.step_size, einet)
}

/// The file `rel` in the shared benchmark data ([`einet_data::shared_data_dir`]); `None` if
/// it is not there.
fn data_file(rel: &str) -> Option<PathBuf> {
    let dir = einet_data::shared_data_dir();
    let path = dir.join(rel);
    path.is_file().then_some(path)
}

/// The first `rows` rows of real data for `id` (A1, P1, HCLT: MNIST test images, pixels > 127
/// → 1; P3, P4: their pixel values; C2: CIFAR-10-subset test images / 255), else random rows;
/// with a description.
fn real_or_random_rows(id: &str, einet: &Einet, rows: usize) -> (Vec<f32>, String) {
    let width = einet.layout.num_vars * einet.layout.num_channels;
    let real = match id {
        "A1" | "P1" | "HCLT" | "P3" | "P4" => {
            data_file("mnist/t10k-images-idx3-ubyte.gz").map(|images| {
                let labels = images.with_file_name("t10k-labels-idx1-ubyte.gz");
                let d = einet_data::mnist_part(&images, &labels, "mnist.test")
                    .unwrap_or_else(|e| panic!("{e}"));
                let raw = matches!(id, "P3" | "P4");
                let x = d.values[..rows * width]
                    .iter()
                    .map(|&v| if raw { v } else { f32::from(v > 127.0) })
                    .collect();
                let what = if raw { "pixel values" } else { "binarised" };
                (
                    x,
                    format!("MNIST test images, {what} ({})", images.display()),
                )
            })
        }
        "C2" => data_file("cifar10-subset/test_batch_first1000.bin.gz").map(|file| {
            let d =
                einet_data::cifar10_file(&file, "cifar10.test").unwrap_or_else(|e| panic!("{e}"));
            let x = d.values[..rows * width]
                .iter()
                .map(|&v| v / 255.0)
                .collect();
            (
                x,
                format!("CIFAR-10 test images / 255 ({})", file.display()),
            )
        }),
        _ => None,
    };
    real.unwrap_or_else(|| {
        let why = if matches!(id, "A1" | "P1" | "HCLT" | "P3" | "P4" | "C2") {
            format!(
                "NOTE: no data folder with MNIST/CIFAR test files (set {}): random rows",
                einet_data::DATA_ENV
            )
        } else {
            "random rows".into()
        };
        (random_rows(einet, rows, 1), why)
    })
}

/// `x` with 5% of its values (seeded) replaced by NaN (missing).
fn knock_out(mut x: Vec<f32>, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed, 0);
    for v in &mut x {
        if rng.uniform() < 0.05 {
            *v = f32::NAN;
        }
    }
    x
}

/// Largest violation of `|a - b| <= rel * (|b| + floor * max|b|)`, as a multiple of the
/// tolerance (≤ 1 passes), with its index.
fn worst(a: &[f32], b: &[f32], rel: f64, floor: f64) -> (f64, usize) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
    let mut w = (0.0, 0);
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (f64::from(x), f64::from(y));
        let ratio = if x == y {
            0.0
        } else {
            (x - y).abs() / (rel * (y.abs() + floor * scale)).max(f64::MIN_POSITIVE)
        };
        if ratio > w.0 || ratio.is_nan() {
            w = (if ratio.is_nan() { f64::INFINITY } else { ratio }, i);
        }
    }
    w
}

fn assert_close(what: &str, a: &[f32], b: &[f32], rel: f64, floor: f64) {
    let (ratio, i) = worst(a, b, rel, floor);
    println!("{what}: worst error {ratio:.3} x tolerance {rel:.1e} (index {i})");
    assert!(
        ratio <= 1.0,
        "{what}: index {i}: cuda {} vs cpu {} exceeds tolerance {rel} ({ratio:.2}x)",
        a[i],
        b[i]
    );
}

/// Fraction of rows of `a` equal to `b`'s within `tol` (relative, floor 1).
fn rows_agreeing(a: &[f32], b: &[f32], width: usize, tol: f32) -> f64 {
    let same = a
        .chunks(width)
        .zip(b.chunks(width))
        .filter(|(x, y)| {
            x.iter()
                .zip(y.iter())
                .all(|(p, q)| (p - q).abs() <= tol * q.abs().max(1.0))
        })
        .count();
    same as f64 / (a.len() / width) as f64
}

fn parity(backend: &CudaBackend, id: &str, rows: usize) {
    let (step_size, einet) = canonical(id);
    let (x, source) = real_or_random_rows(id, &einet, rows);
    println!("{id}: {rows} rows of {source}, 5% knocked out");
    let x = knock_out(x, 2);
    let mut cpu = CpuBackend.load(&einet).expect("cpu load");
    let mut gpu = backend.load(&einet).expect("cuda load");

    let want = cpu.log_likelihood(&x, Root::Mixture).unwrap();
    let got = gpu.log_likelihood(&x, Root::Mixture).unwrap();
    assert_close(&format!("{id} log-likelihood"), &got, &want, 1e-5, 0.0);
    let want_classes = cpu.class_log_likelihoods(&x).unwrap();
    let got = gpu.class_log_likelihoods(&x).unwrap();
    assert_close(
        &format!("{id} class log-likelihoods"),
        &got,
        &want_classes,
        1e-5,
        0.0,
    );

    // Statistics: 1e-4 relative where float32 can deliver it. Responsibilities are
    // exponentials of differences of log-values as large as |log p|, which float32 holds only
    // to ~ε|log p| absolute, so no float32 implementation can match another better than about
    // 2 ε max|log p| relative: the tolerance is the larger of the two. Real data does not
    // make these models better conditioned: |log p| is set by how far the randomly
    // initialised model is from the data, not by the data being natural. A1 on binarised
    // MNIST has max |log p| ≈ 540 (as on random bits), so 1.3e-4, and 12 rows on the emulator
    // reach 1.2–1.5e-4 on a few small counts: 1e-4 itself is out of reach. C2 on CIFAR has
    // max |log p| ≈ 1.7e5 (1.5e5 on uniform noise: leaf means start at N(0, 1) with variance
    // at most 0.01, far from any image), so ≈ 4e-2, and the statistics differ by ≈ 1e-2.
    let max_ll = want.iter().fold(0.0f64, |m, &l| m.max(f64::from(l).abs()));
    let cond = 2.0 * f64::from(f32::EPSILON) * max_ll;
    let stat_tol = cond.max(1e-4);
    // Choices made from evidence-dependent scores flip where posteriors are within that
    // precision of a tie; unconditional choices depend on the weights alone.
    let evidence_agreement = if cond <= 1e-4 { 0.9 } else { 0.5 };
    sampling_parity(id, &einet, &x, rows, evidence_agreement, &mut cpu, &mut gpu);

    // The absolute floor of 1% of a tensor's largest magnitude (times the tolerance) is still
    // needed: counts that are sums of underflowing terms (C2: 1e-45 against 0) and, on A1, the
    // smallest counts, whose terms combine log-values larger than |log p|, miss the relative
    // bound alone (A1, 12 rows: 1.15x without the floor, 0.8x with it).
    const STAT_FLOOR: f64 = 1e-2;
    // The M-step's targets are ratios of statistics, and a weight that was small before the
    // step is almost all target afterwards: parameters inherit the statistics' relative error
    // (the step size does not scale it down; A1 on MNIST, 12 rows: 5e-5 on such a weight).
    // Absolute floor: the largest parameter of the tensor times the tolerance.
    let param_tol = stat_tol;
    println!("{id}: max |log p| {max_ll:.1}: statistics and parameters to {stat_tol:.1e} relative");
    let ll_cpu = cpu.em_accumulate(&x, Root::Mixture).unwrap();
    let ll_gpu = gpu.em_accumulate(&x, Root::Mixture).unwrap();
    assert!(
        (ll_cpu - ll_gpu).abs() <= 1e-5 * ll_cpu.abs(),
        "{id} summed log-likelihood: cuda {ll_gpu} vs cpu {ll_cpu}"
    );
    let (sc, sg) = (cpu.em_statistics().unwrap(), gpu.em_statistics().unwrap());
    assert_eq!(sc.samples, sg.samples);
    for (l, (g, c)) in sg.counts.iter().zip(&sc.counts).enumerate() {
        assert_close(
            &format!("{id} counts of layer {l}"),
            g,
            c,
            stat_tol,
            STAT_FLOOR,
        );
    }
    let (m, s) = (&sg.leaf_mass, &sg.leaf_stats);
    assert_close(
        &format!("{id} leaf mass"),
        m,
        &sc.leaf_mass,
        stat_tol,
        STAT_FLOOR,
    );
    assert_close(
        &format!("{id} leaf statistics"),
        s,
        &sc.leaf_stats,
        stat_tol,
        STAT_FLOOR,
    );

    // The reference's rule blends at the canonical step size from the first update on (the
    // statistics rule's first update is a full step; the backend suite checks that rule).
    let step = MStep {
        step_size,
        rule: StepwiseRule::Parameters,
        pseudocount: 0.0,
        regularisation: Default::default(),
    };
    cpu.em_update(step).unwrap();
    gpu.em_update(step).unwrap();
    let (pc, pg) = (cpu.params().unwrap(), gpu.params().unwrap());
    for (l, (g, c)) in pg.layers.iter().zip(&pc.layers).enumerate() {
        assert_close(
            &format!("{id} weights of layer {l} after EM"),
            g,
            c,
            param_tol,
            1.0,
        );
    }
    assert_close(
        &format!("{id} leaf parameters after EM"),
        &pg.leaf,
        &pc.leaf,
        param_tol,
        1.0,
    );
    let cleared = gpu.em_statistics().unwrap();
    assert!(cleared.counts.iter().flatten().all(|&c| c == 0.0) && cleared.samples == 0);
}

/// Samples and MPE states of both backends, row by row, with the same parameters.
fn sampling_parity(
    id: &str,
    einet: &Einet,
    x: &[f32],
    rows: usize,
    evidence_agreement: f64,
    cpu: &mut einet_cpu::CpuModel,
    gpu: &mut einet_cuda::CudaModel,
) {
    let width = einet.layout.num_vars * einet.layout.num_channels;
    let n = rows.min(64);
    let a = gpu.sample(n, None, 7, 1.0).unwrap();
    let b = cpu.sample(n, None, 7, 1.0).unwrap();
    let agree = rows_agreeing(&a, &b, width, 1e-3);
    println!(
        "{id}: {:.1}% of unconditional samples equal the CPU's",
        100.0 * agree
    );
    assert!(agree >= 0.9, "{id}: only {agree} of the samples agree");
    let evidence = &x[..n * width];
    let a = gpu.sample_conditional(evidence, 8, 1.0).unwrap();
    let b = cpu.sample_conditional(evidence, 8, 1.0).unwrap();
    let agree = rows_agreeing(&a, &b, width, 1e-3);
    println!(
        "{id}: {:.1}% of conditional samples equal the CPU's",
        100.0 * agree
    );
    assert!(
        agree >= evidence_agreement,
        "{id}: only {agree} of the conditional samples agree"
    );
    for kind in [MpeKind::Approximate, MpeKind::MaxProduct] {
        let a = gpu.mpe(evidence, kind).unwrap();
        let b = cpu.mpe(evidence, kind).unwrap();
        let agree = rows_agreeing(&a, &b, width, 1e-4);
        println!(
            "{id}: {:.1}% of {kind:?} MPE rows equal the CPU's",
            100.0 * agree
        );
        assert!(
            agree >= evidence_agreement,
            "{id}: only {agree} of the {kind:?} MPE rows agree"
        );
    }
}

/// The parity check of `id` on `rows` rows on the GPU; SKIP (named `test`) without one.
fn on_gpu(test: &str, id: &str, rows: usize) {
    match CudaBackend::new_if_available() {
        Some(b) => parity(&b, id, rows),
        None => println!("SKIP {test}: no usable GPU"),
    }
}

/// The parity check of `id` on `rows` rows on the CPU emulator of the CUDA backend; SKIP
/// (named `test`) without a C++ compiler.
fn on_emulator(test: &str, id: &str, rows: usize) {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    match einet_cuda::emu::backend_if_available(target) {
        Some(b) => parity(&b, id, rows),
        None => println!("SKIP {test}: no C++ compiler"),
    }
}

#[test]
fn gpu_matches_cpu_on_a1() {
    on_gpu("gpu_matches_cpu_on_a1", "A1", 500);
}

#[test]
fn gpu_matches_cpu_on_c2() {
    on_gpu("gpu_matches_cpu_on_c2", "C2", 300);
}

#[test]
fn gpu_matches_cpu_with_wide_leaf_regions() {
    on_gpu("gpu_matches_cpu_with_wide_leaf_regions", "WIDE", 200);
}

#[test]
fn emulated_matches_cpu_with_wide_leaf_regions() {
    on_emulator("emulated_matches_cpu_with_wide_leaf_regions", "WIDE", 12);
}

#[test]
fn emulated_matches_cpu_on_a1() {
    on_emulator("emulated_matches_cpu_on_a1", "A1", 12);
}

#[test]
fn emulated_matches_cpu_on_p1_with_cp_layers() {
    on_emulator("emulated_matches_cpu_on_p1_with_cp_layers", "P1", 12);
}

#[test]
fn emulated_matches_cpu_on_pyjuices_pd_and_hclt_of_mnist() {
    let test = "emulated_matches_cpu_on_pyjuices_pd_and_hclt_of_mnist";
    on_emulator(test, "P3", 6);
    on_emulator(test, "P4", 6);
}

#[test]
fn gpu_matches_cpu_on_pyjuices_pd_and_hclt_of_mnist() {
    let test = "gpu_matches_cpu_on_pyjuices_pd_and_hclt_of_mnist";
    on_gpu(test, "P3", 512);
    on_gpu(test, "P4", 512);
}

#[test]
fn emulated_matches_cpu_on_a_hidden_chow_liu_tree() {
    on_emulator("emulated_matches_cpu_on_a_hidden_chow_liu_tree", "HCLT", 12);
}

#[test]
fn gpu_matches_cpu_on_p1_and_a_hidden_chow_liu_tree() {
    on_gpu(
        "gpu_matches_cpu_on_p1_and_a_hidden_chow_liu_tree",
        "P1",
        1000,
    );
    on_gpu(
        "gpu_matches_cpu_on_p1_and_a_hidden_chow_liu_tree",
        "HCLT",
        1000,
    );
}

#[test]
fn emulated_matches_cpu_on_a_small_k40_model() {
    on_emulator("emulated_matches_cpu_on_a_small_k40_model", "K40", 24);
}

#[test]
fn emulated_matches_cpu_on_c2() {
    on_emulator("emulated_matches_cpu_on_c2", "C2", 6);
}

/// The models of the precision tests, on NLTCS (16 binary variables, shipped in `data/`):
/// RAT with CP layers at K 20 and K 40 (one and two tiles of 32 outputs; widths up to 80,
/// several chunks of 16 inputs), a hidden Chow–Liu model of two random trees at K 13 (neither
/// a multiple of 8 nor of 16) whose root sums several inputs, and RAT with einsum layers at
/// K 10 and K 36 (outer products of 100 and 1296 entries; one and two tiles of outputs).
fn precision_models() -> Vec<(&'static str, Einet)> {
    let config = |k, layer| EinetConfig {
        layer,
        ..EinetConfig::new(k, LeafFamily::Bernoulli)
    };
    let rat = |k, layer| {
        let graph = random_binary_trees(16, 3, 4, 0).expect("valid structure");
        Einet::new(graph, config(k, layer), 0).expect("valid config")
    };
    let trees = [1, 2].map(|seed| einet_testsuite::models::random_tree(16, seed));
    let graph = einet_core::hclt(&trees).expect("valid trees");
    let (cp, tucker) = (einet_core::LayerKind::Cp, einet_core::LayerKind::Tucker);
    let hclt = Einet::new(graph, config(13, cp), 0).expect("valid config");
    vec![
        ("RAT-CP K20", rat(20, cp)),
        ("RAT-CP K40", rat(40, cp)),
        ("HCLT K13", hclt),
        ("RAT K10", rat(10, tucker)),
        ("RAT K36", rat(36, tucker)),
        ("RAT K64", rat(64, tucker)),
    ]
}

/// The most inputs of one CP sum node of `einet`.
fn most_sum_inputs(einet: &Einet) -> usize {
    einet
        .layout
        .layers
        .iter()
        .filter_map(|l| match l {
            einet_core::layout::Layer::Sum(s) => (0..s.out.len()).map(|m| s.inputs(m).len()).max(),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Largest `|a - b| / |b|`.
fn max_relative_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs() / f64::from(y).abs())
        .fold(0.0, f64::max)
}

/// Largest `|a - b| / max(|b|, 1e-3 max |b|)`: relative, entries below a thousandth of the
/// largest measured against that.
fn max_scaled_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let floor = 1e-3 * b.iter().map(|&y| f64::from(y).abs()).fold(0.0, f64::max);
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs() / f64::from(y).abs().max(floor))
        .fold(0.0, f64::max)
}

/// Largest [`max_scaled_difference`] of the expected counts of every layer and the leaves'
/// responsibility masses and statistics.
fn em_statistics_difference(got: &EmStatistics, want: &EmStatistics) -> f64 {
    let layers = got
        .counts
        .iter()
        .zip(&want.counts)
        .filter(|(_, w)| !w.is_empty());
    layers
        .map(|(g, w)| max_scaled_difference(g, w))
        .chain([
            max_scaled_difference(&got.leaf_mass, &want.leaf_mass),
            max_scaled_difference(&got.leaf_stats, &want.leaf_stats),
        ])
        .fold(0.0, f64::max)
}

/// Every precision's log-likelihoods (and EM's summed log-likelihood, whose forward pass
/// uses the same kernels) and EM statistics (the einsum and CP sums' backward on tensor cores
/// too) on `rows` NLTCS test rows, 5% missing, against the CPU backend. RAT K64's einsum
/// gradient tiles take two warps, the others four.
///
/// Tolerances (relative; measured on the emulator, 100 rows, largest over the six models):
/// fp32 1e-5 (measured 1.2e-7), TF32 2e-4 (measured 5.0e-5, HCLT K13; RAT-CP ≤ 1.7e-5, RAT
/// einsum ≤ 1.9e-5), BF16 1e-3 (measured 2.5e-4, HCLT K13; RAT-CP ≤ 1.9e-4, RAT einsum
/// ≤ 1.4e-4). TF32 and BF16 must also differ from the fp32 kernels by more than 1e-6 and 1e-5
/// (measured at least 3.3e-6 and 6.9e-5), about ten times what fp32 rounding alone gives, so
/// that operands that were not rounded fail the test. EM statistics ([`max_scaled_difference`]
/// of every layer's counts and the leaves' statistics): fp32 1e-5 (measured 1.1e-6), TF32
/// 2e-3 (measured 7.2e-4, RAT K64), BF16 2e-2 (measured 6.2e-3, RAT-CP K20).
/// With the first sum layer's weights all zero, every sum above it sees only -inf inputs and
/// every log-likelihood must be -inf.
fn precision_parity(backend: &CudaBackend, rows: usize) {
    use einet_cuda::Precision;
    let splits = einet_data::debd(einet_data::repo_data_dir(), "nltcs").expect("nltcs ships");
    let x = knock_out(splits.test.values[..rows * 16].to_vec(), 3);
    let models = precision_models();
    assert!(models.iter().any(|(_, einet)| most_sum_inputs(einet) > 1));
    for (name, einet) in models {
        let mut cpu = CpuBackend.load(&einet).expect("cpu load");
        let want = cpu.log_likelihood(&x, Root::Mixture).unwrap();
        let want_total = cpu.em_accumulate(&x, Root::Mixture).unwrap();
        let want_stats = cpu.em_statistics().unwrap();
        let mut fp32 = Vec::new();
        let mut impossible = einet.params.clone();
        let first_sum = einet.layout.layers.iter().position(|l| l.num_weights() > 0);
        impossible.layers[first_sum.expect("weights")].fill(0.0);
        // (precision, tolerance against the CPU, least difference from the fp32 kernel,
        // tolerance of the EM statistics)
        for (precision, tolerance, rounding, stats_tolerance) in [
            (Precision::Fp32, 1e-5, 0.0, 1e-5),
            (Precision::Tf32, 2e-4, 1e-6, 2e-3),
            (Precision::Bf16, 1e-3, 1e-5, 2e-2),
        ] {
            let backend = backend.clone().with_precision(precision).unwrap();
            let mut model = backend.load(&einet).expect("cuda load");
            let got = model.log_likelihood(&x, Root::Mixture).unwrap();
            let diff = max_relative_difference(&got, &want);
            let total = model.em_accumulate(&x, Root::Mixture).unwrap();
            let total_diff = (total - want_total).abs() / want_total.abs();
            let stats_diff = em_statistics_difference(&model.em_statistics().unwrap(), &want_stats);
            println!(
                "{name} {precision}: log-likelihoods within {diff:.2e} relative of the CPU's, \
                 EM's sum within {total_diff:.2e}, its statistics within {stats_diff:.2e}"
            );
            assert!(
                diff <= tolerance,
                "{name} {precision}: {diff:e} > {tolerance:e}"
            );
            assert!(
                total_diff <= tolerance,
                "{name} {precision}: EM {total_diff:e}"
            );
            assert!(
                stats_diff <= stats_tolerance,
                "{name} {precision}: EM statistics {stats_diff:e} > {stats_tolerance:e}"
            );
            if precision == Precision::Fp32 {
                fp32 = got;
            } else {
                let from_fp32 = max_relative_difference(&got, &fp32);
                println!("{name} {precision}: {from_fp32:.2e} relative from the fp32 kernel");
                assert!(
                    from_fp32 > rounding,
                    "{name} {precision}: only {from_fp32:e} from fp32: operands not rounded?"
                );
            }
            model.set_params(&impossible).unwrap();
            let got = model.log_likelihood(&x, Root::Mixture).unwrap();
            let not_inf = got.iter().find(|&&l| l != f32::NEG_INFINITY);
            assert!(
                not_inf.is_none(),
                "{name} {precision}: {not_inf:?}, not -inf"
            );
        }
    }
}

#[test]
fn emulated_cp_sums_match_cpu_at_every_precision() {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    match einet_cuda::emu::backend_if_available(target) {
        Some(b) => precision_parity(&b, 100),
        None => println!("SKIP emulated_cp_sums_match_cpu_at_every_precision: no C++ compiler"),
    }
}

#[test]
fn gpu_cp_sums_match_cpu_at_every_precision() {
    match CudaBackend::new_if_available() {
        Some(b) => precision_parity(&b, 2000),
        None => println!("SKIP gpu_cp_sums_match_cpu_at_every_precision: no usable GPU"),
    }
}

/// EM's backward pass on [`einet_testsuite::models::far_apart_outputs`] (CP and einsum
/// sums whose live outputs lie ~90 nats below an input of zero weight; e^{90} overflows f32):
/// at every precision the EM statistics are finite and zero for the zero weights; at fp32
/// they are within 1e-4 of the CPU's (measured 1.6e-5: the forward pass's sums Σ W e^{z − m}
/// are subnormal there, about 20 of 24 bits). At TF32 and BF16 those subnormal operands keep
/// only ~7 and ~4 bits (measured up to 0.40 and 2.0 from the CPU, CP chain), so only
/// finiteness is asserted there.
fn far_apart_parity(backend: &CudaBackend) {
    use einet_cuda::Precision;
    for (name, einet, x) in einet_testsuite::models::far_apart_outputs() {
        let mut cpu = CpuBackend.load(&einet).expect("cpu load");
        cpu.em_accumulate(&x, Root::Mixture).unwrap();
        let want = cpu.em_statistics().unwrap();
        for (precision, tolerance) in [
            (Precision::Fp32, Some(1e-4)),
            (Precision::Tf32, None),
            (Precision::Bf16, None),
        ] {
            let mut model = backend
                .clone()
                .with_precision(precision)
                .unwrap()
                .load(&einet)
                .expect("cuda load");
            model.em_accumulate(&x, Root::Mixture).unwrap();
            let got = model.em_statistics().unwrap();
            for (l, counts) in got.counts.iter().enumerate() {
                for (i, &n) in counts.iter().enumerate() {
                    let w = einet.params.layers[l][i];
                    assert!(
                        n.is_finite() && (w != 0.0 || n == 0.0),
                        "{name} {precision}: layer {l} weight {i} ({w}): count {n}"
                    );
                }
            }
            let diff = em_statistics_difference(&got, &want);
            println!("{name} {precision}: EM statistics within {diff:.2e} of the CPU's");
            if let Some(tolerance) = tolerance {
                assert!(
                    diff <= tolerance,
                    "{name} {precision}: {diff:e} > {tolerance:e}"
                );
            }
        }
    }
}

#[test]
fn emulated_far_apart_outputs_keep_finite_statistics_at_every_precision() {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    match einet_cuda::emu::backend_if_available(target) {
        Some(b) => far_apart_parity(&b),
        None => println!("SKIP emulated_far_apart_outputs_keep_finite_statistics: no C++ compiler"),
    }
}

#[test]
fn gpu_far_apart_outputs_keep_finite_statistics_at_every_precision() {
    match CudaBackend::new_if_available() {
        Some(b) => far_apart_parity(&b),
        None => println!("SKIP gpu_far_apart_outputs_keep_finite_statistics: no usable GPU"),
    }
}
