//! The checks. Each takes a backend, builds small models, and panics on a violation.
//! Tolerances are stated per check; the backends compute in f32.

use einet_core::em::{EmStatistics, Regularisation, RunningMass, m_step};
use einet_core::layout::Layer;
use einet_core::params::distributions;
use einet_core::rng::Rng;
use einet_core::{
    Backend, BackendError, BackendModel, Einet, EinetConfig, LeafFamily, MStep, MpeKind, Root,
    StepwiseRule,
};
use einet_core::{random_binary_trees, region_graph::PoonDomingos};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestRunner};

use crate::models::{SmallModel, all_states, far_apart_outputs, normal_model, on_cp_hclt};
use crate::reference::{self, Mode};

fn load<B: Backend>(backend: &B, einet: &Einet) -> B::Model {
    backend.load(einet).expect("the backend loads the model")
}

fn log_sum_exp(values: impl IntoIterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.into_iter().collect();
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn width(einet: &Einet) -> usize {
    einet.layout.num_vars * einet.layout.num_channels
}

/// Random complete rows of a discrete model, with each value missing with probability `missing`.
fn random_rows(einet: &Einet, rows: usize, missing: f32, seed: u64) -> Vec<f32> {
    let layout = &einet.layout;
    let mut rng = Rng::new(seed, 99);
    (0..rows * layout.num_vars)
        .map(|i| {
            let v = i % layout.num_vars;
            let size = layout.leaf.families[layout.leaf.var_family[v] as usize]
                .support_size()
                .expect("discrete");
            if rng.uniform() < missing {
                f32::NAN
            } else {
                rng.below(size as u32) as f32
            }
        })
        .collect()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Σₓ p(x) = 1 by enumeration (tolerance 1e-4) for random RAT/PD structures, every family and
/// mixtures of them, K ∈ 1..4 (leaf, sum and root K differ), under the class mixture and
/// under every single class.
pub fn normalises_by_enumeration<B: Backend>(backend: &B) {
    runner(32)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let states = all_states(&einet);
            let mut model = load(backend, &einet);
            let mut roots = vec![Root::Mixture];
            roots.extend((0..einet.layout.num_classes()).map(Root::Class));
            for root in roots {
                let ll = model.log_likelihood(&states, root).expect("ll");
                let total: f64 = ll.iter().map(|&l| f64::from(l).exp()).sum();
                proptest::prop_assert!((total - 1.0).abs() < 1e-4, "{root:?}: Σp = {total}");
            }
            Ok(())
        })
        .unwrap();
}

/// Σₓ p(x) = 1 over 12 binary variables (4096 states) and 8 ternary ones (6561 states).
pub fn normalises_twelve_binary_variables<B: Backend>(backend: &B) {
    for (vars, family) in [
        (12, LeafFamily::Bernoulli),
        (8, LeafFamily::Categorical { categories: 3 }),
    ] {
        let graph = random_binary_trees(vars, 2, 3, 5).unwrap();
        let config = EinetConfig {
            k_leaf: 3,
            k_sum: 4,
            num_classes: 2,
            ..EinetConfig::new(3, family)
        };
        let einet = Einet::new(graph, config, 11).unwrap();
        let ll = load(backend, &einet)
            .log_likelihood(&all_states(&einet), Root::Mixture)
            .unwrap();
        let total: f64 = ll.iter().map(|&l| f64::from(l).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{vars} vars: Σp = {total}");
    }
}

/// Every class log-likelihood equals the naive f64 evaluator's to 1e-4 (absolute) on rows with
/// missing values.
pub fn matches_the_reference_evaluator<B: Backend>(backend: &B) {
    runner(24)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let rows = random_rows(&einet, 20, 0.3, spec.seed);
            let got = load(backend, &einet).class_log_likelihoods(&rows).unwrap();
            let c = einet.layout.num_classes();
            for (b, row) in rows.chunks(width(&einet)).enumerate() {
                let want = reference::root_values(&einet, row, Mode::Sum);
                for k in 0..c {
                    let g = f64::from(got[b * c + k]);
                    proptest::prop_assert!(
                        (g - want[k]).abs() < 1e-4,
                        "row {b} class {k}: {g} vs {}",
                        want[k]
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

/// A row with every variable missing has log p = 0 (tolerance 1e-5).
pub fn marginalising_everything_gives_zero<B: Backend>(backend: &B) {
    runner(16)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let rows = vec![f32::NAN; 3 * width(&einet)];
            for l in load(backend, &einet)
                .log_likelihood(&rows, Root::Mixture)
                .unwrap()
            {
                proptest::prop_assert!(l.abs() < 1e-5, "log p(∅) = {l}");
            }
            Ok(())
        })
        .unwrap();
}

/// Completions of `row`'s missing values, as rows.
fn completions(einet: &Einet, row: &[f32]) -> Vec<f32> {
    let states = all_states(einet);
    states
        .chunks(row.len())
        .filter(|s| s.iter().zip(row).all(|(s, r)| r.is_nan() || s == r))
        .flatten()
        .copied()
        .collect()
}

/// `log p(x_e)` computed in one pass with missing values equals `log Σ` over all completions
/// of the complete-data likelihoods (tolerance 1e-4).
pub fn marginals_equal_explicit_sums<B: Backend>(backend: &B) {
    runner(24)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let mut model = load(backend, &einet);
            let rows = random_rows(&einet, 4, 0.4, spec.seed ^ 1);
            let marg = model.log_likelihood(&rows, Root::Mixture).unwrap();
            for (b, row) in rows.chunks(width(&einet)).enumerate() {
                let full = model
                    .log_likelihood(&completions(&einet, row), Root::Mixture)
                    .unwrap();
                let sum = log_sum_exp(full.iter().map(|&l| f64::from(l)));
                proptest::prop_assert!(
                    (f64::from(marg[b]) - sum).abs() < 1e-4,
                    "{} vs {sum}",
                    marg[b]
                );
            }
            Ok(())
        })
        .unwrap();
}

/// `log p(x_q | x_e)` equals the ratio of explicit sums, and sums to 1 over the query states.
pub fn conditionals_equal_ratios<B: Backend>(backend: &B) {
    runner(16)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let mut model = load(backend, &einet);
            let w = width(&einet);
            let evidence = random_rows(&einet, 1, 0.5, spec.seed ^ 2);
            let joints = completions(&einet, &evidence);
            let repeated: Vec<f32> = evidence
                .iter()
                .copied()
                .cycle()
                .take(joints.len())
                .collect();
            let cond = model.log_conditional(&joints, &repeated).unwrap();
            let full = model.log_likelihood(&joints, Root::Mixture).unwrap();
            let norm = log_sum_exp(full.iter().map(|&l| f64::from(l)));
            let mut total = 0.0;
            for (c, f) in cond.iter().zip(&full) {
                proptest::prop_assert!((f64::from(*c) - (f64::from(*f) - norm)).abs() < 1e-4);
                total += f64::from(*c).exp();
            }
            proptest::prop_assert!(
                (total - 1.0).abs() < 1e-4,
                "Σ p(x_q | x_e) = {total} over {} rows",
                joints.len() / w
            );
            Ok(())
        })
        .unwrap();
}

/// Expected counts `n = W ⊙ ∂L/∂W` equal finite differences: `p(x)` is linear in each weight,
/// so doubling `w` gives exactly `n_w = Σ_b (p'_b/p_b − 1)` (tolerance 2e-3 relative + 1e-3).
pub fn expected_counts_equal_finite_differences<B: Backend>(backend: &B) {
    runner(12)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let rows = random_rows(&einet, 30, 0.2, spec.seed ^ 3);
            let mut model = load(backend, &einet);
            model.em_accumulate(&rows, Root::Mixture).unwrap();
            let stats = model.em_statistics().unwrap();
            let base = model.log_likelihood(&rows, Root::Mixture).unwrap();
            let mut rng = Rng::new(spec.seed, 5);
            // CP product layers have no weights.
            for (l, counts) in stats
                .counts
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_empty())
            {
                for _ in 0..4 {
                    let i = rng.below(counts.len() as u32) as usize;
                    let mut params = einet.params.clone();
                    if params.layers[l][i] == 0.0 {
                        continue; // padding of a mixing layer
                    }
                    params.layers[l][i] *= 2.0;
                    model.set_params(&params).unwrap();
                    let bumped = model.log_likelihood(&rows, Root::Mixture).unwrap();
                    let fd: f64 = bumped
                        .iter()
                        .zip(&base)
                        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).exp() - 1.0)
                        .sum();
                    let n = f64::from(counts[i]);
                    proptest::prop_assert!(
                        (n - fd).abs() < 1e-3 + 2e-3 * fd.abs(),
                        "layer {l} weight {i}: count {n}, finite difference {fd}"
                    );
                }
            }
            model.set_params(&einet.params).unwrap();
            Ok(())
        })
        .unwrap();
}

/// For every variable, the responsibilities of all factors over it (all leaves, all k) sum to
/// the number of rows where it is observed, and their weighted statistics sum to `Σ_b T(x_b)`.
pub fn leaf_responsibilities_sum_to_one<B: Backend>(backend: &B) {
    runner(16)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let rows = random_rows(&einet, 25, 0.25, spec.seed ^ 4);
            let mut model = load(backend, &einet);
            model.em_accumulate(&rows, Root::Mixture).unwrap();
            let stats = model.em_statistics().unwrap();
            let leaf = &einet.layout.leaf;
            let v_count = einet.layout.num_vars;
            for v in 0..v_count {
                let family = leaf.families[leaf.var_family[v] as usize];
                let s = family.num_stats();
                let (mut mass, mut stat) = (0.0f64, vec![0.0f64; s]);
                for e in (0..leaf.vars.len()).filter(|&e| leaf.vars[e] as usize == v) {
                    for k in 0..leaf.k {
                        mass += f64::from(stats.leaf_mass[e * leaf.k + k]);
                        let at = leaf.param_offsets[e] as usize + k * s;
                        for (t, x) in stat.iter_mut().zip(&stats.leaf_stats[at..at + s]) {
                            *t += f64::from(*x);
                        }
                    }
                }
                let mut want = vec![0.0f32; s];
                let mut observed = 0;
                for row in rows.chunks(v_count) {
                    if !row[v].is_nan() {
                        observed += 1;
                        family.add_statistics(row[v], 1.0, &mut want);
                    }
                }
                proptest::prop_assert!(
                    (mass - f64::from(observed)).abs() < 1e-3,
                    "var {v}: mass {mass}, observed {observed}"
                );
                for (a, b) in stat.iter().zip(&want) {
                    proptest::prop_assert!(
                        (a - f64::from(*b)).abs() < 1e-3,
                        "var {v}: stats {stat:?} vs {want:?}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Data drawn from one random model, with values missing at `missing` rate.
fn teacher_data<B: Backend>(backend: &B, spec: &SmallModel, rows: usize, missing: f32) -> Vec<f32> {
    let teacher = SmallModel {
        seed: spec.seed ^ 0xdead,
        ..spec.clone()
    }
    .build();
    let mut data = load(backend, &teacher)
        .sample(rows, None, spec.seed, 1.0)
        .unwrap();
    let mut rng = Rng::new(spec.seed, 7);
    data.iter_mut().for_each(|x| {
        if rng.uniform() < missing {
            *x = f32::NAN;
        }
    });
    data
}

/// Full-batch EM never lowers the training log-likelihood (tolerance 1e-5 relative), with
/// complete data and with 30% missing values, and improves it overall.
pub fn full_batch_em_never_decreases_the_likelihood<B: Backend>(backend: &B) {
    runner(12)
        .run(&SmallModel::strategy(), |spec| {
            for missing in [0.0, 0.3] {
                let einet = spec.build();
                let data = teacher_data(backend, &spec, 200, missing);
                let half = data.len() / 2 / width(&einet) * width(&einet);
                let mut model = load(backend, &einet);
                let mut history: Vec<f64> = Vec::new();
                for _ in 0..12 {
                    let ll = model.em_accumulate(&data[..half], Root::Mixture).unwrap()
                        + model.em_accumulate(&data[half..], Root::Mixture).unwrap();
                    model.em_update(MStep::full_batch(0.0)).unwrap();
                    if let Some(&prev) = history.last() {
                        proptest::prop_assert!(
                            ll >= prev - 1e-5 * prev.abs(),
                            "LL fell from {prev} to {ll}: {history:?}"
                        );
                    }
                    history.push(ll);
                }
                proptest::prop_assert!(history[11] >= history[0], "{history:?}");
            }
            Ok(())
        })
        .unwrap();
}

fn summed_log_likelihood<M: BackendModel>(model: &mut M, x: &[f32]) -> f64 {
    let ll = model.log_likelihood(x, Root::Mixture).unwrap();
    ll.iter().map(|&l| f64::from(l)).sum()
}

/// Stepwise EM (step 0.3) raises the training log-likelihood of teacher data over 20 steps,
/// under both rules.
pub fn stepwise_em_learns<B: Backend>(backend: &B) {
    let spec = SmallModel {
        structure: 0,
        size: 6,
        depth: 2,
        repetitions: 2,
        k: [3, 3, 1],
        family: 3,
        seed: 3,
    };
    let einet = spec.build();
    let data = teacher_data(backend, &spec, 300, 0.1);
    for rule in [StepwiseRule::Statistics, StepwiseRule::Parameters] {
        let mut model = load(backend, &einet);
        let before = summed_log_likelihood(&mut model, &data);
        for _ in 0..20 {
            model.em_accumulate(&data, Root::Mixture).unwrap();
            let step = MStep {
                step_size: 0.3,
                rule,
                pseudocount: 0.01,
                regularisation: Default::default(),
            };
            model.em_update(step).unwrap();
        }
        let after = summed_log_likelihood(&mut model, &data);
        assert!(after > before + 1.0, "{rule:?}: {before} -> {after}");
    }
}

/// Asserts that `model`'s parameters are what full-batch EM gives for `stats`, starting from
/// `einet`'s (tolerance 1e-4 relative, absolute below 1).
fn assert_full_batch_estimate<M: BackendModel>(
    model: &M,
    einet: &Einet,
    stats: &EmStatistics,
    what: &str,
) {
    assert_m_step(model, einet, stats, MStep::full_batch(0.0), what);
}

/// Asserts that `model`'s parameters are what the host's M-step `step` gives for `stats`,
/// starting from `einet`'s (tolerance 1e-4 relative, absolute below 1).
fn assert_m_step<M: BackendModel>(
    model: &M,
    einet: &Einet,
    stats: &EmStatistics,
    step: MStep,
    what: &str,
) {
    let mut want = einet.params.clone();
    let mut running = RunningMass::zeros(&einet.layout);
    m_step(&einet.layout, &mut want, stats, &mut running, step);
    let flat = |p: &einet_core::Params| -> Vec<f32> {
        p.layers.iter().flatten().chain(&p.leaf).copied().collect()
    };
    let (got, want) = (flat(&model.params().unwrap()), flat(&want));
    assert_eq!(got.len(), want.len(), "{what}: parameter count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * w.abs().max(1.0),
            "{what}: parameter {i} is {g}, want {w}"
        );
    }
}

/// Shannon entropy (nats) of a probability vector.
fn entropy(p: &[f32]) -> f64 {
    p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| -f64::from(x) * f64::from(x).ln())
        .sum()
}

/// The regularised M-step (data softening 0.05, entropy regularisation 0.05, full-batch and
/// stepwise) gives the host's `m_step` parameters (tolerance 1e-4 relative), and it has the
/// regularisers' exact properties: every Bernoulli mean of a leaf with mass lies in
/// `[β, 1 − β]` (tolerance 1e-6); every weight vector's entropy is at least that of its
/// normalised expected counts, which the unregularised M-step returns (tolerance 1e-6), and
/// strictly above it somewhere in models with a vector whose entropy is at least 1e-3 below
/// its maximum.
pub fn regularised_m_step_matches_the_host_and_its_bounds<B: Backend>(backend: &B) {
    let regularisation = Regularisation {
        softening: 0.05,
        entropy: 0.05,
    };
    runner(10)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let layout = &einet.layout;
            let data = teacher_data(backend, &spec, 150, 0.2);
            for step_size in [1.0, 0.4] {
                let step = MStep {
                    step_size,
                    rule: StepwiseRule::Parameters,
                    pseudocount: 0.01,
                    regularisation,
                };
                let mut model = load(backend, &einet);
                model.em_accumulate(&data, Root::Mixture).unwrap();
                let stats = model.em_statistics().unwrap();
                model.em_update(step).unwrap();
                let what = format!("{spec:?}, step {step_size}");
                assert_m_step(&model, &einet, &stats, step, &what);
                if step_size < 1.0 {
                    continue;
                }
                let got = model.params().unwrap();
                let mut plain = einet.params.clone();
                let unregularised = MStep {
                    regularisation: Regularisation::NONE,
                    ..step
                };
                let mut running = RunningMass::zeros(layout);
                m_step(layout, &mut plain, &stats, &mut running, unregularised);
                // `room`: the largest gap between a vector's entropy and its maximum, ln n.
                let (mut raised, mut room) = (0.0f64, 0.0f64);
                for (l, layer) in layout.layers.iter().enumerate() {
                    for range in distributions(layout, layer) {
                        let n = range.len() as f64;
                        let (h, h0) = (
                            entropy(&got.layers[l][range.clone()]),
                            entropy(&plain.layers[l][range]),
                        );
                        proptest::prop_assert!(h >= h0 - 1e-6, "{what}: entropy {h} < {h0}");
                        raised = raised.max(h - h0);
                        room = room.max(n.ln() - h0);
                    }
                }
                proptest::prop_assert!(
                    room < 1e-3 || raised > 1e-5,
                    "{what}: no weight vector changed"
                );
                let leaf = &layout.leaf;
                let beta = regularisation.softening;
                for e in 0..leaf.vars.len() {
                    if leaf.family(e) != LeafFamily::Bernoulli {
                        continue;
                    }
                    for kc in 0..leaf.k * layout.num_channels {
                        let mean = got.leaf[leaf.param_offsets[e] as usize + kc];
                        if stats.leaf_mass[e * leaf.k * layout.num_channels + kc] > 1e-3 {
                            proptest::prop_assert!(
                                (beta - 1e-6..=1.0 - beta + 1e-6).contains(&mean),
                                "{what}: Bernoulli mean {mean} outside [β, 1 − β]"
                            );
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Stepwise EM under the statistics rule is EM on explicitly kept running statistics: after
/// each of 6 batches (step 0.3, 20% missing values), the parameters equal the full-batch
/// M-step of `S_t = (1 − s)·S_{t−1} + S_batch` with `S_0 = 0`, built here from the batch
/// statistics the backend reports (tolerance 1e-4). In models with several classes, two of
/// every three batches train class 0 only, so the weights of the other classes see batches
/// without mass (their running mass decays). After `set_params` the running mass is
/// forgotten: the next step is the full-batch estimate of that batch alone.
pub fn statistics_rule_is_em_on_running_statistics<B: Backend>(backend: &B) {
    runner(6)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let data = teacher_data(backend, &spec, 240, 0.2);
            let rows = data.len() / width(&einet);
            let batch = rows / 6 * width(&einet);
            let step = MStep {
                step_size: 0.3,
                rule: StepwiseRule::Statistics,
                pseudocount: 0.0,
                regularisation: Default::default(),
            };
            let mut model = load(backend, &einet);
            let mut running = EmStatistics::zeros(&einet.layout);
            let decay = |s: &mut Vec<f32>, b: &[f32]| {
                s.iter_mut()
                    .zip(b)
                    .for_each(|(s, b)| *s = (1.0 - step.step_size) * *s + b)
            };
            for (t, x) in data.chunks(batch).take(6).enumerate() {
                let root = if t % 3 == 2 {
                    Root::Mixture
                } else {
                    Root::Class(0)
                };
                model.em_accumulate(x, root).unwrap();
                let stats = model.em_statistics().unwrap();
                for (s, b) in running.counts.iter_mut().zip(&stats.counts) {
                    decay(s, b);
                }
                decay(&mut running.leaf_mass, &stats.leaf_mass);
                decay(&mut running.leaf_stats, &stats.leaf_stats);
                model.em_update(step).unwrap();
                assert_full_batch_estimate(&model, &einet, &running, &format!("{spec:?} step {t}"));
            }
            model.set_params(&einet.params).unwrap();
            model.em_accumulate(&data[..batch], Root::Mixture).unwrap();
            let stats = model.em_statistics().unwrap();
            model.em_update(step).unwrap();
            assert_full_batch_estimate(
                &model,
                &einet,
                &stats,
                &format!("{spec:?} after set_params"),
            );
            Ok(())
        })
        .unwrap();
}

/// A model restored from another's parameters and [`EmState`](einet_core::EmState) (pending statistics and the
/// running mass of the statistics rule) continues stepwise EM exactly as the original; a
/// state of the wrong shape is refused.
pub fn em_state_restores_stepwise_em_exactly<B: Backend>(backend: &B) {
    runner(4)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let data = teacher_data(backend, &spec, 200, 0.2);
            let batch = data.len() / 5 / width(&einet) * width(&einet);
            let step = MStep {
                step_size: 0.4,
                rule: StepwiseRule::Statistics,
                pseudocount: 0.1,
                regularisation: Default::default(),
            };
            let mut original = load(backend, &einet);
            for x in data.chunks(batch).take(2) {
                original.em_accumulate(x, Root::Mixture).unwrap();
                original.em_update(step).unwrap();
            }
            original
                .em_accumulate(&data[2 * batch..3 * batch], Root::Mixture)
                .unwrap();
            let state = original.em_state().unwrap();
            let mut restored = load(backend, &einet);
            restored.set_params(&original.params().unwrap()).unwrap();
            restored.set_em_state(&state).unwrap();
            assert_eq!(restored.em_state().unwrap(), state, "{spec:?}");
            for model in [&mut original, &mut restored] {
                model
                    .em_accumulate(&data[3 * batch..4 * batch], Root::Mixture)
                    .unwrap();
                model.em_update(step).unwrap();
            }
            assert_eq!(
                original.params().unwrap(),
                restored.params().unwrap(),
                "{spec:?}"
            );
            let mut wrong = state.clone();
            wrong.running.weights.push(0.0);
            assert!(restored.set_em_state(&wrong).is_err(), "{spec:?}");
            Ok(())
        })
        .unwrap();
}

/// Pearson's χ² of `samples` (rows) against probabilities `p` of the `states` (rows).
fn chi_square(states: &[f32], p: &[f64], samples: &[f32], w: usize) -> (f64, usize) {
    let index: std::collections::HashMap<Vec<u32>, usize> = states
        .chunks(w)
        .enumerate()
        .map(|(i, s)| (s.iter().map(|x| x.to_bits()).collect(), i))
        .collect();
    let mut counts = vec![0usize; p.len()];
    for s in samples.chunks(w) {
        let key: Vec<u32> = s.iter().map(|x| x.to_bits()).collect();
        counts[*index.get(&key).expect("a sample is a valid state")] += 1;
    }
    let n = (samples.len() / w) as f64;
    // Pool states with expected count below 5 into one cell.
    let (mut chi, mut cells, mut pooled_e, mut pooled_o) = (0.0, 0usize, 0.0, 0.0);
    for (c, &pi) in counts.iter().zip(p) {
        let e = n * pi;
        if e < 5.0 {
            pooled_e += e;
            pooled_o += *c as f64;
        } else {
            chi += (*c as f64 - e).powi(2) / e;
            cells += 1;
        }
    }
    if pooled_e > 0.0 {
        chi += (pooled_o - pooled_e).powi(2) / pooled_e.max(1e-9);
        cells += 1;
    }
    (chi, cells.saturating_sub(1))
}

/// Upper 0.1% quantile of χ² with `dof` degrees of freedom (Wilson–Hilferty).
fn chi_square_critical(dof: usize) -> f64 {
    let k = dof.max(1) as f64;
    let z = 3.090_232; // standard normal 0.999 quantile
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// The models of the sampling checks: two classes, four mixed discrete variables, with Tucker
/// layers on RAT and with CP layers on a mixture of two hidden Chow–Liu trees.
fn sampling_models() -> [Einet; 2] {
    [0, 5].map(|structure| {
        SmallModel {
            structure,
            size: 4,
            depth: 1,
            repetitions: 2,
            k: [2, 3, 2],
            family: 3,
            seed: 21,
        }
        .build()
    })
}

/// 40,000 unconditional samples (seed 1) pass Pearson's χ² test against the exact
/// probabilities at significance 0.001.
pub fn samples_match_exact_probabilities<B: Backend>(backend: &B) {
    for einet in sampling_models() {
        samples_match(backend, &einet);
    }
}

fn samples_match<B: Backend>(backend: &B, einet: &Einet) {
    let states = all_states(einet);
    let mut model = load(backend, einet);
    let p: Vec<f64> = model
        .log_likelihood(&states, Root::Mixture)
        .unwrap()
        .iter()
        .map(|&l| f64::from(l).exp())
        .collect();
    let samples = model.sample(40_000, None, 1, 1.0).unwrap();
    let (chi, dof) = chi_square(&states, &p, &samples, width(einet));
    assert!(
        chi < chi_square_critical(dof),
        "χ² = {chi} with {dof} degrees of freedom"
    );
}

/// Samples of one class pass the χ² test against `p(x | class)` (significance 0.001).
pub fn class_samples_match_class_probabilities<B: Backend>(backend: &B) {
    for einet in sampling_models() {
        class_samples_match(backend, &einet);
    }
}

fn class_samples_match<B: Backend>(backend: &B, einet: &Einet) {
    let states = all_states(einet);
    let mut model = load(backend, einet);
    let p: Vec<f64> = model
        .log_likelihood(&states, Root::Class(1))
        .unwrap()
        .iter()
        .map(|&l| f64::from(l).exp())
        .collect();
    let samples = model.sample(30_000, Some(1), 2, 1.0).unwrap();
    let (chi, dof) = chi_square(&states, &p, &samples, width(einet));
    assert!(
        chi < chi_square_critical(dof),
        "χ² = {chi} with {dof} degrees of freedom"
    );
}

/// Conditional samples keep the evidence and pass the χ² test against `p(x_q | x_e)`.
pub fn conditional_samples_keep_evidence_and_match_conditionals<B: Backend>(backend: &B) {
    for einet in sampling_models() {
        conditional_samples_match(backend, &einet);
    }
}

fn conditional_samples_match<B: Backend>(backend: &B, einet: &Einet) {
    let w = width(einet);
    let mut model = load(backend, einet);
    let evidence = vec![1.0, f32::NAN, f32::NAN, 0.0];
    let joints = completions(einet, &evidence);
    let repeated: Vec<f32> = evidence
        .iter()
        .copied()
        .cycle()
        .take(joints.len())
        .collect();
    let p: Vec<f64> = model
        .log_conditional(&joints, &repeated)
        .unwrap()
        .iter()
        .map(|&l| f64::from(l).exp())
        .collect();
    let rows: Vec<f32> = evidence.iter().copied().cycle().take(20_000 * w).collect();
    let samples = model.sample_conditional(&rows, 3, 1.0).unwrap();
    for s in samples.chunks(w) {
        assert!(s[0] == 1.0 && s[3] == 0.0, "evidence changed: {s:?}");
    }
    let (chi, dof) = chi_square(&joints, &p, &samples, w);
    assert!(
        chi < chi_square_critical(dof),
        "χ² = {chi} with {dof} degrees of freedom"
    );
}

/// Samples depend only on the seed and the row index: the same seed gives the same samples,
/// and the first rows of a larger draw equal a smaller draw.
pub fn sampling_is_reproducible_and_split_independent<B: Backend>(backend: &B) {
    for einet in sampling_models() {
        let w = width(&einet);
        let mut model = load(backend, &einet);
        let a = model.sample(50, None, 9, 1.0).unwrap();
        let b = model.sample(200, None, 9, 1.0).unwrap();
        let c = model.sample(50, None, 10, 1.0).unwrap();
        assert_eq!(a, model.sample(50, None, 9, 1.0).unwrap());
        assert_eq!(a[..], b[..50 * w]);
        assert_ne!(a, c);
    }
}

/// Max-product MPE returns a completion whose max-product value (the best joint probability of
/// the variables and the latent choices) equals the brute-force maximum over all
/// completions, computed by the naive evaluator (tolerance 1e-4); evidence is kept.
pub fn max_product_mpe_is_the_brute_force_argmax<B: Backend>(backend: &B) {
    runner(24)
        .run(&SmallModel::strategy(), |spec| {
            let einet = spec.build();
            let w = width(&einet);
            let c = einet.layout.num_classes() as f64;
            let value = |row: &[f32]| {
                reference::root_values(&einet, row, Mode::Max)
                    .into_iter()
                    .fold(f64::NEG_INFINITY, f64::max)
                    - c.ln()
            };
            let evidence = random_rows(&einet, 3, 0.6, spec.seed ^ 6);
            let mpe = load(backend, &einet)
                .mpe(&evidence, MpeKind::MaxProduct)
                .unwrap();
            for (row, got) in evidence.chunks(w).zip(mpe.chunks(w)) {
                for (e, g) in row.iter().zip(got) {
                    proptest::prop_assert!(e.is_nan() || e == g, "evidence changed");
                }
                let best = completions(&einet, row)
                    .chunks(w)
                    .map(value)
                    .fold(f64::NEG_INFINITY, f64::max);
                let ours = value(got);
                proptest::prop_assert!(ours >= best - 1e-4, "MPE value {ours}, brute force {best}");
                // The max-product value of the evidence alone is that same maximum.
                proptest::prop_assert!((value(row) - best).abs() < 1e-4);
            }
            Ok(())
        })
        .unwrap();
}

/// The approximate MPE keeps the evidence; on a model without latent choices (one repetition,
/// every K = 1) it is exact, so it equals the brute-force arg-max of `p(x_q, x_e)`.
pub fn approximate_mpe_is_exact_without_latent_choices<B: Backend>(backend: &B) {
    for family in [0u8, 1, 2, 3] {
        let einet = SmallModel {
            structure: 0,
            size: 5,
            depth: 2,
            repetitions: 1,
            k: [1, 1, 1],
            family,
            seed: 8,
        }
        .build();
        let w = width(&einet);
        let mut model = load(backend, &einet);
        let evidence = random_rows(&einet, 4, 0.6, 12);
        let mpe = model.mpe(&evidence, MpeKind::Approximate).unwrap();
        for (row, got) in evidence.chunks(w).zip(mpe.chunks(w)) {
            let cands = completions(&einet, row);
            let ll = model.log_likelihood(&cands, Root::Mixture).unwrap();
            let best = ll.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let ours = model.log_likelihood(got, Root::Mixture).unwrap()[0];
            assert!(
                ours >= best - 1e-5,
                "family {family}: approximate MPE {ours} vs best {best}"
            );
            assert!(row.iter().zip(got).all(|(e, g)| e.is_nan() || e == g));
        }
    }
}

/// The first row whose approximate or max-product MPE is none of the completions of the
/// reference's backtracking (near-ties within 1e-4), described.
fn mpe_mismatch<M: BackendModel>(model: &mut M, einet: &Einet, rows: &[f32]) -> Option<String> {
    let w = width(einet);
    for (kind, mode) in [
        (MpeKind::Approximate, Mode::Sum),
        (MpeKind::MaxProduct, Mode::Max),
    ] {
        let mpe = model.mpe(rows, kind).unwrap();
        for (row, got) in rows.chunks(w).zip(mpe.chunks(w)) {
            let want = reference::mpe_completions(einet, row, mode, 1e-4);
            if !want.iter().any(|s| s == got) {
                return Some(format!(
                    "{kind:?} MPE of {row:?} is {got:?}, not one of {want:?}"
                ));
            }
        }
    }
    None
}

/// On models with latent choices (every K ≥ 2, several repetitions or PD partitions, so
/// several classes, product pairs and mixing components to choose from), the approximate MPE
/// and the max-product MPE each return one of the completions of the reference's
/// backtracking ([`reference::mpe_completions`]: arg-max choices over the sum-product or the
/// max-product values of the evidence, near-ties within 1e-4 followed both ways), for rows
/// with evidence and for rows with nothing observed (where every class has the value log 1,
/// a tie, so the path below any class is accepted); discrete families and Normal leaves
/// (whose mode is the mean).
pub fn mpe_backtracks_like_the_reference<B: Backend>(backend: &B) {
    let with_choices = SmallModel::strategy().prop_map(|spec| SmallModel {
        repetitions: spec.repetitions.max(2),
        k: spec.k.map(|k| k.max(2)),
        ..spec
    });
    runner(16)
        .run(&with_choices, |spec| {
            let einet = spec.build();
            let mut rows = random_rows(&einet, 4, 0.6, spec.seed ^ 8);
            rows.extend(vec![f32::NAN; width(&einet)]);
            let mismatch = mpe_mismatch(&mut load(backend, &einet), &einet, &rows);
            proptest::prop_assert!(mismatch.is_none(), "{}", mismatch.unwrap_or_default());
            Ok(())
        })
        .unwrap();
    for seed in 0..4 {
        let einet = normal_model(seed);
        let rows = [f32::NAN, f32::NAN, 0.4, f32::NAN, f32::NAN, -1.3];
        if let Some(mismatch) = mpe_mismatch(&mut load(backend, &einet), &einet, &rows) {
            panic!("Normal model {seed}: {mismatch}");
        }
    }
}

/// Two-variable Normal-leaf models, with Tucker layers on RAT and with CP layers on a hidden
/// Chow–Liu tree, integrate to 1 (trapezoid rule on [−12, 12]², step 0.03; tolerance 1e-3),
/// and so does the marginal of one variable.
pub fn normal_model_integrates_to_one<B: Backend>(backend: &B) {
    for einet in [normal_model(4), on_cp_hclt(&normal_model(4))] {
        integrates_to_one(backend, &einet);
    }
}

fn integrates_to_one<B: Backend>(backend: &B, einet: &Einet) {
    let mut model = load(backend, einet);
    let h = 0.03f64;
    let n = (24.0 / h) as usize + 1;
    let grid: Vec<f32> = (0..n).map(|i| (-12.0 + i as f64 * h) as f32).collect();
    let mut total = 0.0;
    for &x0 in &grid {
        let rows: Vec<f32> = grid.iter().flat_map(|&x1| [x0, x1]).collect();
        total += model
            .log_likelihood(&rows, Root::Mixture)
            .unwrap()
            .iter()
            .map(|&l| f64::from(l).exp())
            .sum::<f64>();
    }
    let integral = total * h * h;
    assert!((integral - 1.0).abs() < 1e-3, "∫p = {integral}");
    // One variable marginalised: the other still integrates to 1.
    let rows: Vec<f32> = grid.iter().flat_map(|&x1| [f32::NAN, x1]).collect();
    let one: f64 = model
        .log_likelihood(&rows, Root::Mixture)
        .unwrap()
        .iter()
        .map(|&l| f64::from(l).exp())
        .sum::<f64>()
        * h;
    assert!((one - 1.0).abs() < 1e-3, "∫p(x1) = {one}");
}

/// A product whose weights are all zero yields log-values of −∞, and everything above it is
/// −∞ (one repetition) — never NaN, also in EM statistics.
pub fn impossible_inputs_give_minus_infinity_not_nan<B: Backend>(backend: &B) {
    let einet = SmallModel {
        structure: 0,
        size: 4,
        depth: 2,
        repetitions: 1,
        k: [2, 2, 1],
        family: 0,
        seed: 1,
    }
    .build();
    let mut params = einet.params.clone();
    let Layer::Einsum(first) = &einet.layout.layers[0] else {
        panic!("layer 0 is an einsum layer")
    };
    let end = first.weight_offsets[1] as usize;
    params.layers[0][..end].fill(0.0);
    let mut model = load(backend, &einet);
    model.set_params(&params).unwrap();
    let rows = random_rows(&einet, 8, 0.3, 2);
    for l in model.log_likelihood(&rows, Root::Mixture).unwrap() {
        assert!(l == f32::NEG_INFINITY, "expected −∞, got {l}");
    }
    model.em_accumulate(&rows, Root::Mixture).unwrap();
    let stats = model.em_statistics().unwrap();
    assert!(
        stats
            .counts
            .iter()
            .flatten()
            .chain(&stats.leaf_mass)
            .chain(&stats.leaf_stats)
            .all(|x| !x.is_nan())
    );
    let mpe = model.mpe(&rows, MpeKind::MaxProduct).unwrap();
    assert!(mpe.iter().all(|x| !x.is_nan()), "MPE fills every value");
}

/// A live output far below its sum's largest input keeps exact EM statistics
/// ([`far_apart_outputs`]: CP and einsum sums, outputs ~90 nats below an input of zero
/// weight, e^{90} overflows f32). Every
/// count is finite, zero for a zero weight, and equals the finite difference of the f64
/// reference for doubling its weight (tolerance 1e-3 relative + 1e-4), and the
/// log-likelihoods equal the reference's (1e-5 relative).
pub fn outputs_far_below_their_inputs_keep_exact_counts<B: Backend>(backend: &B) {
    for (name, einet, rows) in far_apart_outputs() {
        let vars = einet.layout.num_vars;
        let want: Vec<f64> = rows
            .chunks_exact(vars)
            .map(|r| reference::log_likelihood(&einet, r))
            .collect();
        assert!(
            want.iter().all(|l| l.is_finite() && *l < -85.0),
            "{name}: {want:?}"
        );
        let mut model = load(backend, &einet);
        let got = model.log_likelihood(&rows, Root::Mixture).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (f64::from(*g) - w).abs() <= 1e-5 * w.abs(),
                "{name}: log-likelihood {g}, reference {w}"
            );
        }
        model.em_accumulate(&rows, Root::Mixture).unwrap();
        let stats = model.em_statistics().unwrap();
        for (l, counts) in stats.counts.iter().enumerate() {
            for (i, &n) in counts.iter().enumerate() {
                let w = einet.params.layers[l][i];
                assert!(n.is_finite(), "{name}: layer {l} weight {i}: count {n}");
                if w == 0.0 {
                    assert!(
                        n == 0.0,
                        "{name}: layer {l} weight {i} is zero, its count {n}"
                    );
                    continue;
                }
                let mut bumped = einet.clone();
                bumped.params.layers[l][i] *= 2.0;
                let fd: f64 = rows
                    .chunks_exact(vars)
                    .zip(&want)
                    .map(|(r, w)| (reference::log_likelihood(&bumped, r) - w).exp() - 1.0)
                    .sum();
                let n = f64::from(n);
                assert!(
                    (n - fd).abs() <= 1e-4 + 1e-3 * fd.abs(),
                    "{name}: layer {l} weight {i}: count {n}, finite difference {fd}"
                );
            }
        }
    }
}

/// Row-by-row evaluation (batch size 1) equals batched evaluation (tolerance 1e-6).
pub fn batch_size_one_matches_batches<B: Backend>(backend: &B) {
    let graph = PoonDomingos {
        shape: vec![3, 3],
        deltas: vec![vec![1.0, 1.0]],
        axes: None,
        max_split_depth: None,
    }
    .build()
    .unwrap();
    let einet = Einet::new(
        graph,
        EinetConfig {
            k_sum: 3,
            ..EinetConfig::new(2, LeafFamily::Binomial { trials: 4 })
        },
        3,
    )
    .unwrap();
    let mut model = load(backend, &einet);
    let rows = random_rows(&einet, 300, 0.2, 4);
    let batched = model.log_likelihood(&rows, Root::Mixture).unwrap();
    for (row, want) in rows.chunks(width(&einet)).zip(batched) {
        let one = model.log_likelihood(row, Root::Mixture).unwrap()[0];
        assert!(
            (one - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{one} vs {want}"
        );
    }
}

/// Malformed input is a [`BackendError::Input`], never a panic.
pub fn bad_input_is_an_error<B: Backend>(backend: &B) {
    let [einet, _] = sampling_models();
    let mut model = load(backend, &einet);
    let is_input = |r: Result<Vec<f32>, BackendError>| matches!(r, Err(BackendError::Input(_)));
    assert!(
        is_input(model.log_likelihood(&[0.0; 5], Root::Mixture)),
        "ragged rows"
    );
    assert!(
        is_input(model.log_likelihood(&[0.0, 7.0, 0.0, 0.0], Root::Mixture)),
        "value out of range"
    );
    assert!(
        is_input(model.log_likelihood(&[0.0, 0.5, 0.0, 0.0], Root::Mixture)),
        "fractional category"
    );
    assert!(
        is_input(model.log_likelihood(&[0.0; 4], Root::Class(2))),
        "class out of range"
    );
    assert!(
        is_input(model.log_likelihood(&[0.0; 8], Root::Labels(&[0]))),
        "labels of the wrong length"
    );
    assert!(
        is_input(model.sample(3, Some(5), 0, 1.0)),
        "sample of a class out of range"
    );
    assert!(
        is_input(model.mpe(&[0.0; 3], MpeKind::MaxProduct)),
        "ragged evidence"
    );
    let step = MStep {
        step_size: 1.5,
        ..MStep::full_batch(0.0)
    };
    assert!(model.em_update(step).is_err(), "step size above 1");
}

/// Every query names the first invalid value by row and variable (the CUDA backend checks
/// values on the device and the host then names them), missing values (NaN) and -0 are
/// accepted, and a failed EM accumulation leaves the statistics untouched.
pub fn invalid_values_are_named_and_change_nothing<B: Backend>(backend: &B) {
    // Variables: 0 Bernoulli, 1 Categorical(3), 2 Binomial(2), 3 Bernoulli.
    let [einet, _] = sampling_models();
    let mut model = load(backend, &einet);
    let valid = [0.0, 2.0, 2.0, 1.0, -0.0, 0.0, f32::NAN, 0.0];
    let ll = model
        .log_likelihood(&valid, Root::Mixture)
        .expect("valid rows");
    let zero = model
        .log_likelihood(
            &[0.0, 2.0, 2.0, 1.0, 0.0, 0.0, f32::NAN, 0.0],
            Root::Mixture,
        )
        .expect("valid rows");
    assert_eq!(ll, zero, "-0 is 0");
    let cases = [
        (0, 2.0),
        (0, 0.5),
        (1, 3.0),
        (1, 1.5),
        (1, f32::NEG_INFINITY),
        (2, -1.0),
        (2, 3.0),
        (3, f32::INFINITY),
    ];
    for (var, value) in cases {
        let mut x = valid.to_vec();
        x[4 + var] = value;
        let want = format!("row 1, variable {var}: value {value} ");
        let results = [
            (
                "log_likelihood",
                model.log_likelihood(&x, Root::Mixture).map(drop),
            ),
            (
                "class_log_likelihoods",
                model.class_log_likelihoods(&x).map(drop),
            ),
            (
                "em_accumulate",
                model.em_accumulate(&x, Root::Mixture).map(drop),
            ),
            (
                "sample_conditional",
                model.sample_conditional(&x, 0, 1.0).map(drop),
            ),
            (
                "max-product mpe",
                model.mpe(&x, MpeKind::MaxProduct).map(drop),
            ),
            (
                "approximate mpe",
                model.mpe(&x, MpeKind::Approximate).map(drop),
            ),
        ];
        for (what, result) in results {
            match result {
                Err(BackendError::Input(msg)) => assert!(msg.contains(&want), "{what}: {msg}"),
                other => panic!("{what} with {value} at variable {var}: {other:?}"),
            }
        }
    }
    let stats = model.em_statistics().expect("statistics");
    assert_eq!(stats.samples, 0, "a failed accumulation counted rows");
    assert!(stats.counts.iter().flatten().all(|&c| c == 0.0));
    assert!(stats.leaf_mass.iter().all(|&m| m == 0.0));

    let mut normal = load(backend, &normal_model(3));
    normal
        .log_likelihood(&[1e30, -1e30], Root::Mixture)
        .expect("every finite value is a Normal value");
    for bad in [f32::INFINITY, f32::NEG_INFINITY] {
        match normal.log_likelihood(&[0.0, 1.0, 2.0, bad], Root::Mixture) {
            Err(BackendError::Input(msg)) => assert!(msg.contains("row 1, variable 1"), "{msg}"),
            other => panic!("Normal leaves with {bad}: {other:?}"),
        }
    }
}
