//! [`einet::Model`]'s queries on a small model whose every state can be enumerated: the
//! joint sums to one, marginals and conditionals equal their explicit sums over complete
//! states, conditionals are distributions over the query states, and the completing queries
//! keep the evidence.

use einet::core::random_binary_trees;
use einet::{Device, Einet, EinetConfig, LeafFamily, Model, MpeKind};

const VARS: usize = 5;
const STATES: usize = 3;

/// Five ternary variables, a RAT structure with two repetitions, random parameters.
fn model() -> Model {
    let graph = random_binary_trees(VARS, 2, 2, 3).unwrap();
    let config = EinetConfig::new(
        3,
        LeafFamily::Categorical {
            categories: STATES as u32,
        },
    );
    Model::new(Einet::new(graph, config, 11).unwrap(), Device::cpu()).unwrap()
}

/// Every complete state, row-major.
fn all_states() -> Vec<f32> {
    let n = STATES.pow(VARS as u32);
    (0..n)
        .flat_map(|s| (0..VARS).map(move |v| ((s / STATES.pow(v as u32)) % STATES) as f32))
        .collect()
}

/// `ln Σ p(x)` over the complete states `x` that agree with `row` on `vars`.
fn explicit_log_sum(states: &[f32], joint: &[f64], row: &[f32], vars: &[usize]) -> f64 {
    states
        .chunks_exact(VARS)
        .zip(joint)
        .filter(|(x, _)| vars.iter().all(|&v| x[v] == row[v]))
        .map(|(_, p)| p)
        .sum::<f64>()
        .ln()
}

fn probabilities(model: &mut Model, states: &[f32]) -> Vec<f64> {
    let ll = model.log_likelihood(states).unwrap();
    ll.iter().map(|&l| f64::from(l).exp()).collect()
}

#[test]
fn the_joint_sums_to_one() {
    let mut model = model();
    let states = all_states();
    let total: f64 = probabilities(&mut model, &states).iter().sum();
    assert!((total - 1.0).abs() < 1e-5, "Σ p(x) = {total}");
}

#[test]
fn marginals_and_conditionals_equal_explicit_sums() {
    let mut model = model();
    let states = all_states();
    let joint = probabilities(&mut model, &states);
    let (query, evidence) = ([0, 3], [1, 4]);
    let both = [0, 3, 1, 4];

    let marginal = model.marginal_log_likelihood(&states, &evidence).unwrap();
    let conditional = model
        .conditional_log_likelihood(&states, &query, &evidence)
        .unwrap();
    for (r, row) in states.chunks_exact(VARS).enumerate() {
        let want_marginal = explicit_log_sum(&states, &joint, row, &evidence);
        let want_conditional = explicit_log_sum(&states, &joint, row, &both) - want_marginal;
        assert!(
            (f64::from(marginal[r]) - want_marginal).abs() < 1e-4,
            "row {r}: log p(x_B) {} vs {want_marginal}",
            marginal[r]
        );
        assert!(
            (f64::from(conditional[r]) - want_conditional).abs() < 1e-4,
            "row {r}: log p(x_A | x_B) {} vs {want_conditional}",
            conditional[r]
        );
    }
}

#[test]
fn a_conditional_is_a_distribution_over_the_query_states() {
    let mut model = model();
    let states = all_states();
    let (query, evidence) = ([2], [0, 1, 3]);
    let conditional = model
        .conditional_log_likelihood(&states, &query, &evidence)
        .unwrap();
    // Rows that agree on the evidence and on the variable that is neither query nor
    // evidence (4, marginalised) share one conditional distribution over x_2.
    let mut sums = std::collections::HashMap::<Vec<u32>, f64>::new();
    for (row, &l) in states.chunks_exact(VARS).zip(&conditional) {
        if row[4] != 0.0 {
            continue;
        }
        let key = evidence.iter().map(|&v| row[v] as u32).collect();
        *sums.entry(key).or_default() += f64::from(l).exp();
    }
    assert_eq!(sums.len(), STATES.pow(evidence.len() as u32));
    for (key, total) in sums {
        assert!(
            (total - 1.0).abs() < 1e-5,
            "Σ p(x_2 | x_B = {key:?}) = {total}"
        );
    }
}

#[test]
fn empty_evidence_gives_the_marginal_and_bad_variables_are_errors() {
    let mut model = model();
    let states = all_states();
    let rows = &states[..10 * VARS];
    let conditional = model
        .conditional_log_likelihood(rows, &[1, 2], &[])
        .unwrap();
    let marginal = model.marginal_log_likelihood(rows, &[1, 2]).unwrap();
    for (c, m) in conditional.iter().zip(&marginal) {
        assert!((c - m).abs() < 1e-5, "{c} vs {m}");
    }
    let err = model
        .conditional_log_likelihood(rows, &[1, 2], &[2])
        .unwrap_err();
    assert!(err.to_string().contains("variable 2 is both"), "{err}");
    let err = model
        .conditional_log_likelihood(rows, &[VARS], &[0])
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn completions_keep_the_evidence() {
    let mut model = model();
    let nan = f32::NAN;
    let evidence = vec![2.0, nan, 0.0, nan, nan, nan, 1.0, nan, 1.0, nan];
    let sampled = model.sample_conditional(&evidence, 5).unwrap();
    for kind in [MpeKind::MaxProduct, MpeKind::Approximate] {
        let mpe = model.mpe(&evidence, kind).unwrap();
        for done in [&sampled, &mpe] {
            for (&v, &e) in done.iter().zip(&evidence) {
                assert!(!v.is_nan() && (v as usize) < STATES);
                assert!(e.is_nan() || v == e, "an observed value changed");
            }
        }
    }
}

#[test]
fn conditional_samples_follow_the_exact_conditional() {
    let mut model = model();
    let states = all_states();
    let joint = probabilities(&mut model, &states);
    let nan = f32::NAN;
    // x_0 = 2, x_2 = 0, x_4 = 1 observed; x_1 and x_3 sampled.
    let row = [2.0, nan, 0.0, nan, 1.0];
    let n = 20_000;
    let evidence: Vec<f32> = (0..n).flat_map(|_| row).collect();
    let samples = model.sample_conditional(&evidence, 9).unwrap();
    let observed = [0, 2, 4];
    let given = explicit_log_sum(&states, &joint, &row, &observed).exp();
    for (x, p) in states.chunks_exact(VARS).zip(&joint) {
        if !observed.iter().all(|&v| x[v] == row[v]) {
            continue;
        }
        let want = p / given;
        let got = samples
            .chunks_exact(VARS)
            .filter(|s| s[1] == x[1] && s[3] == x[3])
            .count() as f64
            / n as f64;
        // Four standard errors of a share estimated from n draws.
        let tolerance = 4.0 * (want * (1.0 - want) / n as f64).sqrt() + 1e-3;
        assert!(
            (got - want).abs() < tolerance,
            "x_1 = {}, x_3 = {}: sampled {got}, exact {want}",
            x[1],
            x[3]
        );
    }
}
