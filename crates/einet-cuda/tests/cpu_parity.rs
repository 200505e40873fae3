//! The CUDA backend against the CPU backend on the canonical configurations A1 (RAT,
//! Categorical(2), K 20) and C2 (Poon–Domingos 32×32×3, Normal, K 40), random data with 5%
//! missing values, and a small well-conditioned PD model with C2's K, channels and family:
//! log-likelihoods to 1e-5 relative; expected counts and leaf statistics to 1e-4 relative
//! (with an absolute floor of 1% of the tensor's largest magnitude times that, for sums of
//! underflowing terms), parameters after one EM step to 1e-5; samples and MPE states row by
//! row (both backends draw from the same Philox streams in the same order, so almost every
//! row agrees). Where |log p| is so large that float32 cannot resolve responsibilities to
//! 1e-4 (C2 on uniform noise: |log p| ≈ 1.6e5, ulp 0.016), the statistics tolerance is
//! 2 ε₃₂ max|log p| instead (and step size times that for parameters).
//!
//! `gpu_*` tests need a GPU (SKIP without one unless `EINET_REQUIRE_GPU=1`); `emulated_*`
//! tests run the same kernels on the CPU emulator with fewer rows.
#![cfg(feature = "cuda")]

use einet_core::canonical::Canonical;
use einet_core::region_graph::PoonDomingos;
use einet_core::rng::Rng;
use einet_core::{Backend, BackendModel, Einet, EinetConfig, LeafFamily, MpeKind, Root};
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
    let c = Canonical::get(id).expect("canonical id");
    let graph = c.graph(0).expect("valid structure");
    let einet = Einet::new(graph, c.config.clone(), 0).expect("valid config");
    (c.step_size, einet)
}

/// Random valid rows with 5% of the values missing.
fn random_rows(einet: &Einet, rows: usize, seed: u64) -> Vec<f32> {
    let layout = &einet.layout;
    let d = layout.num_channels;
    let mut rng = Rng::new(seed, 0);
    (0..rows * layout.num_vars * d)
        .map(|i| {
            let v = i / d % layout.num_vars;
            if rng.uniform() < 0.05 {
                return f32::NAN;
            }
            match layout.leaf.families[layout.leaf.var_family[v] as usize] {
                LeafFamily::Normal { .. } => rng.uniform(),
                family => rng.below(family.support_size().expect("discrete") as u32) as f32,
            }
        })
        .collect()
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
    println!("{what}: worst error {ratio:.3} x tolerance (index {i})");
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
    let x = random_rows(&einet, rows, 1);
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

    // Responsibilities are exponentials of differences of log-values as large as |ll|, which
    // float32 holds only to ~ε|ll| absolute: no f32 implementation can match another better.
    let max_ll = want.iter().fold(0.0f64, |m, &l| m.max(f64::from(l).abs()));
    let cond = 2.0 * f64::from(f32::EPSILON) * max_ll;
    // Choices made from evidence-dependent scores flip where posteriors are within that
    // precision of a tie; unconditional choices depend on the weights alone.
    let evidence_agreement = if cond <= 1e-4 { 0.9 } else { 0.5 };
    sampling_parity(id, &einet, &x, rows, evidence_agreement, &mut cpu, &mut gpu);

    let stat_tol = cond.max(1e-4);
    let param_tol = (f64::from(step_size) * cond).max(1e-5);
    println!(
        "{id}: max |log p| {max_ll:.1}: statistics to {stat_tol:.1e}, parameters to {param_tol:.1e}"
    );
    let ll_cpu = cpu.em_accumulate(&x, Root::Mixture).unwrap();
    let ll_gpu = gpu.em_accumulate(&x, Root::Mixture).unwrap();
    assert!(
        (ll_cpu - ll_gpu).abs() <= 1e-5 * ll_cpu.abs(),
        "{id} summed log-likelihood: cuda {ll_gpu} vs cpu {ll_cpu}"
    );
    let (sc, sg) = (cpu.em_statistics().unwrap(), gpu.em_statistics().unwrap());
    assert_eq!(sc.samples, sg.samples);
    for (l, (g, c)) in sg.counts.iter().zip(&sc.counts).enumerate() {
        assert_close(&format!("{id} counts of layer {l}"), g, c, stat_tol, 1e-2);
    }
    let (m, s) = (&sg.leaf_mass, &sg.leaf_stats);
    assert_close(&format!("{id} leaf mass"), m, &sc.leaf_mass, stat_tol, 1e-2);
    assert_close(
        &format!("{id} leaf statistics"),
        s,
        &sc.leaf_stats,
        stat_tol,
        1e-2,
    );

    cpu.em_update(step_size, 0.0).unwrap();
    gpu.em_update(step_size, 0.0).unwrap();
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

fn emulated() -> Option<CudaBackend> {
    einet_cuda::emu::backend_if_available(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))
}

#[test]
fn gpu_matches_cpu_on_a1() {
    match CudaBackend::new_if_available() {
        Some(b) => parity(&b, "A1", 500),
        None => println!("SKIP gpu_matches_cpu_on_a1: no usable GPU"),
    }
}

#[test]
fn gpu_matches_cpu_on_c2() {
    match CudaBackend::new_if_available() {
        Some(b) => parity(&b, "C2", 300),
        None => println!("SKIP gpu_matches_cpu_on_c2: no usable GPU"),
    }
}

#[test]
fn emulated_matches_cpu_on_a1() {
    match emulated() {
        Some(b) => parity(&b, "A1", 12),
        None => println!("SKIP emulated_matches_cpu_on_a1: no C++ compiler"),
    }
}

#[test]
fn emulated_matches_cpu_on_a_small_k40_model() {
    match emulated() {
        Some(b) => parity(&b, "K40", 24),
        None => println!("SKIP emulated_matches_cpu_on_a_small_k40_model: no C++ compiler"),
    }
}

#[test]
fn emulated_matches_cpu_on_c2() {
    match emulated() {
        Some(b) => parity(&b, "C2", 6),
        None => println!("SKIP emulated_matches_cpu_on_c2: no C++ compiler"),
    }
}
