//! The mixture of EiNets ([`einet::mixture`]) on tiny synthetic models and the CPU backend:
//! the likelihood is the brute-force `Σ_c π_c p_c(x)` (with `+ln π_c`, unlike the reference),
//! save/load round-trips, sampling picks components by `π`, and inpainting keeps the evidence.

use einet::core::random_binary_trees;
use einet::cpu::CpuBackend;
use einet::mixture::{EinetMixture, logsumexp, pick_components};
use einet::{Backend, BackendModel, Device, Einet, EinetConfig, LeafFamily, MpeKind, Root};

const VARS: usize = 4;

fn component(seed: u64) -> Einet {
    let graph = random_binary_trees(VARS, 2, 2, seed).unwrap();
    Einet::new(graph, EinetConfig::new(3, LeafFamily::Bernoulli), seed).unwrap()
}

/// A component whose every Bernoulli factor has `P(x = 1) = p`.
fn constant_component(p: f32, seed: u64) -> Einet {
    let mut e = component(seed);
    e.params.leaf.iter_mut().for_each(|x| *x = p);
    e
}

fn cpu() -> Device {
    Device::cpu()
}

/// All `2^VARS` binary rows.
fn all_states() -> Vec<f32> {
    (0..1u32 << VARS)
        .flat_map(|s| (0..VARS).map(move |v| ((s >> v) & 1) as f32))
        .collect()
}

fn component_ll(e: &Einet, x: &[f32]) -> Vec<f64> {
    let mut m = CpuBackend.load(e).unwrap();
    m.log_likelihood(x, Root::Mixture)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

#[test]
fn mixture_likelihood_is_the_brute_force_sum_with_plus_log_pi() {
    let comps = vec![component(1), component(2), component(3)];
    let weights = [0.2, 0.5, 0.3];
    let mix = EinetMixture::new(weights.to_vec(), comps.clone()).unwrap();
    let x = all_states();
    let got = mix.log_likelihood(&x, 5, &cpu()).unwrap();
    let per: Vec<Vec<f64>> = comps.iter().map(|e| component_ll(e, &x)).collect();
    let rows = 1 << VARS;
    assert_eq!(got.len(), rows);
    let mut total = 0.0;
    let mut total_reference_formula = 0.0;
    for r in 0..rows {
        // Brute force in probability space: p(x) = Σ_c π_c p_c(x).
        let p: f64 = (0..3).map(|c| weights[c] * per[c][r].exp()).sum();
        assert!(
            (got[r] - p.ln()).abs() < 1e-9,
            "row {r}: {} vs {}",
            got[r],
            p.ln()
        );
        total += got[r].exp();
        // The reference's formula, logsumexp(ll_c − ln π_c), is not a distribution.
        let buggy: Vec<f64> = (0..3).map(|c| per[c][r] - weights[c].ln()).collect();
        total_reference_formula += logsumexp(&buggy).exp();
    }
    assert!((total - 1.0).abs() < 1e-5, "probabilities sum to {total}");
    let inverse_sum: f64 = weights.iter().map(|w| 1.0 / w).sum();
    assert!((total_reference_formula - inverse_sum).abs() < 1e-4);

    // Marginals: a missing variable sums over its values.
    let mut partial = x[..VARS].to_vec();
    partial[1] = f32::NAN;
    let marginal = mix.log_likelihood(&partial, 1, &cpu()).unwrap()[0];
    let completions: f64 = (0..rows)
        .filter(|&r| (0..VARS).all(|v| v == 1 || x[r * VARS + v] == partial[v]))
        .map(|r| got[r].exp())
        .sum();
    assert!((marginal - completions.ln()).abs() < 1e-5);

    // Unnormalised weights are normalised; posteriors sum to one.
    let scaled = EinetMixture::from_counts(&[20, 50, 30], comps).unwrap();
    assert!(
        scaled
            .weights
            .iter()
            .zip(weights)
            .all(|(a, b)| (a - b).abs() < 1e-12)
    );
    let post = scaled.posteriors(&x, 7, &cpu()).unwrap();
    for row in post.chunks_exact(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}

#[test]
fn a_one_component_mixture_is_its_component() {
    let e = component(7);
    let mix = EinetMixture::new(vec![3.0], vec![e.clone()]).unwrap();
    let x = all_states();
    let got = mix.log_likelihood(&x, 100, &cpu()).unwrap();
    for (a, b) in got.iter().zip(component_ll(&e, &x)) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn bad_mixtures_are_rejected() {
    assert!(EinetMixture::new(vec![], vec![]).is_err());
    assert!(EinetMixture::new(vec![1.0], vec![component(1), component(2)]).is_err());
    assert!(EinetMixture::new(vec![1.0, 0.0], vec![component(1), component(2)]).is_err());
    assert!(EinetMixture::new(vec![1.0, f64::NAN], vec![component(1), component(2)]).is_err());
    let other = Einet::new(
        random_binary_trees(VARS + 1, 2, 2, 0).unwrap(),
        EinetConfig::new(3, LeafFamily::Bernoulli),
        0,
    )
    .unwrap();
    let err = EinetMixture::new(vec![1.0, 1.0], vec![component(1), other]).unwrap_err();
    assert!(err.to_string().contains("component 1"), "{err}");
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mix");
    let mut mix = EinetMixture::new(vec![1.0, 3.0], vec![component(4), component(5)]).unwrap();
    mix.metadata = serde_json::json!({"clusters": 2, "note": "test"});
    mix.save(&folder).unwrap();
    for name in ["mixture.json", "component-00.einet", "component-01.einet"] {
        assert!(folder.join(name).is_file(), "{name} missing");
    }
    let back = EinetMixture::load(&folder).unwrap();
    assert_eq!(back.weights, mix.weights);
    assert_eq!(back.metadata, mix.metadata);
    assert_eq!(back.num_components(), 2);
    for (a, b) in back.components.iter().zip(&mix.components) {
        assert_eq!(a.params, b.params);
        assert_eq!(a.graph, b.graph);
    }
    let x = all_states();
    assert_eq!(
        back.log_likelihood(&x, 3, &cpu()).unwrap(),
        mix.log_likelihood(&x, 3, &cpu()).unwrap()
    );

    // A missing component file or a foreign JSON file gives an error, not a panic.
    std::fs::remove_file(folder.join("component-01.einet")).unwrap();
    assert!(EinetMixture::load(&folder).is_err());
    std::fs::write(folder.join("mixture.json"), "{\"format\": \"other\"}").unwrap();
    assert!(EinetMixture::load(&folder).is_err());
    assert!(EinetMixture::load(&dir.path().join("nothing")).is_err());
}

#[test]
fn sampling_picks_components_in_proportion_to_pi() {
    let weights = [0.1, 0.6, 0.3];
    let n = 30_000;
    let picks = pick_components(&weights, n, 11);
    for (c, w) in weights.iter().enumerate() {
        let share = picks.iter().filter(|&&p| p == c).count() as f64 / n as f64;
        assert!((share - w).abs() < 0.015, "component {c}: {share} vs {w}");
    }
    assert_eq!(picks, pick_components(&weights, n, 11));
    assert_ne!(picks, pick_components(&weights, n, 12));

    // Component 0 emits only zeros, component 1 only ones: each sample shows its component.
    let mix = EinetMixture::new(
        vec![0.25, 0.75],
        vec![constant_component(0.0, 1), constant_component(1.0, 2)],
    )
    .unwrap();
    let s = mix.sample(2000, 3, 1.0, &cpu()).unwrap();
    assert_eq!(s.values.len(), 2000 * VARS);
    for (row, &c) in s.values.chunks_exact(VARS).zip(&s.components) {
        assert!(row.iter().all(|&v| v == c as f32), "{row:?} from {c}");
    }
    let ones = s.components.iter().filter(|&&c| c == 1).count() as f64 / 2000.0;
    assert!((ones - 0.75).abs() < 0.04, "{ones}");
    assert_eq!(s, mix.sample(2000, 3, 1.0, &cpu()).unwrap());
}

#[test]
fn inpainting_keeps_the_evidence_and_uses_the_most_probable_component() {
    let mix = EinetMixture::new(
        vec![0.9, 0.1],
        vec![constant_component(0.02, 1), constant_component(0.98, 2)],
    )
    .unwrap();
    let nan = f32::NAN;
    // Row 0: evidence of ones (component 1 despite its small weight); row 1: zeros;
    // row 2: nothing observed (the prior's arg-max, component 0).
    let evidence = vec![
        1.0, 1.0, nan, nan, //
        nan, 0.0, nan, 0.0, //
        nan, nan, nan, nan,
    ];
    let out = mix
        .inpaint(&evidence, 5, 1.0, MpeKind::MaxProduct, &cpu())
        .unwrap();
    assert_eq!(out.components, vec![1, 0, 0]);
    for values in [&out.sampled, &out.mpe] {
        assert_eq!(values.len(), evidence.len());
        for (&v, &e) in values.iter().zip(&evidence) {
            assert!(!v.is_nan());
            if !e.is_nan() {
                assert_eq!(v, e, "an observed value changed");
            }
        }
    }
    assert_eq!(&out.mpe[..VARS], &[1.0; VARS]);
    assert_eq!(&out.mpe[VARS..], &[0.0; 2 * VARS]);
    assert!(
        mix.inpaint(&evidence[..5], 5, 1.0, MpeKind::MaxProduct, &cpu())
            .is_err()
    );
}
