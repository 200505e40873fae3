//! The two M-step regularisers of Liu & Van den Broeck, "Tractable Regularization of
//! Probabilistic Circuits" (NeurIPS 2021), which Juice.jl's published HCLT runs use: data
//! softening of the discrete leaves and entropy regularisation of the sum weights.
//!
//! Both act on the expected statistics at M-step time, so every backend applies them where
//! it applies the M-step (`kernels/mstep.cu` implements the same formulas on the GPU).

use serde::{Deserialize, Serialize};

/// Newton steps at most on the Lagrange multiplier of [`entropy_regularised`].
pub const ENTROPY_MULTIPLIER_STEPS: usize = 50;
/// Newton steps at most on each weight's Lambert-W equation in [`entropy_regularised`].
pub const ENTROPY_WEIGHT_STEPS: usize = 12;

/// Regularisers of the M-step; both are off (zero) by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Regularisation {
    /// Data softening `β` in `[0, 1)`: every observed value of a Bernoulli, Categorical or
    /// Binomial leaf counts as its own value with weight `1 − β` and as each of the family's
    /// other values with weight `β / (values − 1)`. These are the expected statistics of the
    /// softened data set (each value replaced at random with probability `β`) under the
    /// latent posterior of the unsoftened rows. Normal leaves are not softened.
    #[serde(default)]
    pub softening: f32,
    /// Entropy regularisation `τ >= 0`: each weight vector becomes
    /// `argmax_θ Σᵢ tᵢ ln θᵢ + τ·H(θ)` of its normalised expected counts `t` (with the
    /// pseudocount) instead of `t`, i.e. the circuit's entropy weighted by each sum node's
    /// share of the data's responsibility mass is added to the mean log-likelihood (Juice
    /// weights nodes by the model's top-down probabilities, which that share equals in
    /// expectation for a fitted model). Larger `τ` pulls weights toward uniform.
    #[serde(default)]
    pub entropy: f32,
}

impl Regularisation {
    /// No regularisation.
    pub const NONE: Regularisation = Regularisation {
        softening: 0.0,
        entropy: 0.0,
    };

    /// Whether both regularisers are off.
    pub fn is_none(&self) -> bool {
        *self == Regularisation::NONE
    }

    /// Why the settings are invalid, if they are.
    pub fn problem(&self) -> Option<String> {
        let softening_ok = (0.0..1.0).contains(&self.softening);
        let entropy_ok = self.entropy >= 0.0 && self.entropy.is_finite();
        (!(softening_ok && entropy_ok)).then(|| {
            format!(
                "data softening must be in [0, 1) and entropy regularisation >= 0, got {} and {}",
                self.softening, self.entropy
            )
        })
    }
}

/// Replaces the normalised expected counts `t` (all positive, summing to 1) of one weight
/// vector by the maximiser of `Σᵢ tᵢ ln θᵢ + τ·H(θ)` over the probability simplex.
///
/// The stationary point is `tᵢ / θᵢ = λ + τ·ln θᵢ` for a multiplier `λ` in
/// `[1, 1 + τ ln n]`; for each `λ`, `θᵢ = tᵢ / (τ zᵢ)` where `zᵢ + ln zᵢ = ln(tᵢ/τ) + λ/τ`
/// (a Lambert-W equation, solved by Newton's method in `ln zᵢ` from a start above its
/// root). `Σᵢ θᵢ(λ)` is decreasing and convex in `λ`, so Newton's method from `λ = 1`
/// (where the sum is at least 1) rises monotonically to the multiplier. Computed in `f64`;
/// the result is normalised.
pub fn entropy_regularised(t: &mut [f32], tau: f32) {
    if tau <= 0.0 || t.is_empty() {
        return;
    }
    let tau = f64::from(tau);
    let mut lambda = 1.0;
    for _ in 0..ENTROPY_MULTIPLIER_STEPS {
        let (mut sum, mut slope) = (0.0, 0.0);
        for &ti in t.iter() {
            let (theta, z) = entropy_weight(f64::from(ti), tau, lambda);
            sum += theta;
            slope += theta / (tau * (z + 1.0));
        }
        let step = (sum - 1.0) / slope;
        lambda += step;
        if step.abs() <= 1e-12 * lambda {
            break;
        }
    }
    let theta: Vec<f64> = t
        .iter()
        .map(|&ti| entropy_weight(f64::from(ti), tau, lambda).0)
        .collect();
    let total: f64 = theta.iter().sum();
    for (ti, th) in t.iter_mut().zip(theta) {
        *ti = (th / total) as f32;
    }
}

/// The weight `θ(λ) = t / (τ z)` of one target `t` at multiplier `lambda`, and its `z`.
fn entropy_weight(t: f64, tau: f64, lambda: f64) -> (f64, f64) {
    let a = (t / tau).ln() + lambda / tau;
    // e^s + s = a; both starts lie above the root, where Newton's method on this convex
    // increasing function descends monotonically.
    let mut s = if a < 1.0 { a } else { a.ln() };
    for _ in 0..ENTROPY_WEIGHT_STEPS {
        let e = s.exp();
        let step = (e + s - a) / (e + 1.0);
        s -= step;
        if step.abs() <= 1e-15 * (1.0 + s.abs()) {
            break;
        }
    }
    let z = s.exp();
    (t / (tau * z), z)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Σ tᵢ ln θᵢ + τ H(θ)`, in f64 (so that perturbations keep `Σ θ` exactly).
    fn objective(t: &[f32], theta: &[f64], tau: f32) -> f64 {
        t.iter()
            .zip(theta)
            .map(|(&t, &th)| f64::from(t) * th.ln() - f64::from(tau) * th * th.ln())
            .sum()
    }

    #[test]
    fn entropy_regularised_weights_satisfy_the_stationarity_condition() {
        let raw = [0.5f32, 0.3, 0.15, 0.049, 1e-3, 1e-16];
        let total: f32 = raw.iter().sum();
        let t: Vec<f32> = raw.iter().map(|x| x / total).collect();
        for tau in [1e-4f32, 1e-3, 0.01, 0.1, 1.0, 10.0] {
            let mut theta = t.clone();
            entropy_regularised(&mut theta, tau);
            let sum: f32 = theta.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "τ {tau}: sums to {sum}");
            // tᵢ/θᵢ − τ ln θᵢ is the same multiplier for every i.
            let multipliers: Vec<f64> = t
                .iter()
                .zip(&theta)
                .map(|(&t, &th)| f64::from(t) / f64::from(th) - f64::from(tau) * f64::from(th).ln())
                .collect();
            for m in &multipliers {
                assert!(
                    (m - multipliers[0]).abs() < 1e-4 * multipliers[0].abs().max(1.0),
                    "τ {tau}: multipliers {multipliers:?}"
                );
            }
            // And it beats nearby points of the simplex.
            let theta: Vec<f64> = theta.iter().map(|&x| f64::from(x)).collect();
            let best = objective(&t, &theta, tau);
            for (i, j) in [(0, 1), (2, 3), (0, 5), (4, 1)] {
                let d = 1e-3 * theta[i].min(theta[j]);
                for sign in [1.0, -1.0] {
                    let mut other = theta.clone();
                    other[i] += sign * d;
                    other[j] -= sign * d;
                    let value = objective(&t, &other, tau);
                    assert!(
                        value <= best + 1e-13,
                        "τ {tau} ({i}, {j}): {value} > {best}"
                    );
                }
            }
        }
    }

    #[test]
    fn entropy_regularisation_moves_weights_toward_uniform_as_tau_grows() {
        let t = [0.7f32, 0.2, 0.1];
        let mut previous = t[0];
        for tau in [1e-3f32, 0.1, 1.0, 100.0] {
            let mut theta = t;
            entropy_regularised(&mut theta, tau);
            assert!(theta[0] < previous, "τ {tau}: {theta:?}");
            assert!(
                theta[0] > theta[1] && theta[1] > theta[2],
                "order kept: {theta:?}"
            );
            previous = theta[0];
        }
        assert!(
            (previous - 1.0 / 3.0).abs() < 0.01,
            "τ 100 is almost uniform: {previous}"
        );
        let mut untouched = t;
        entropy_regularised(&mut untouched, 0.0);
        assert_eq!(untouched, t);
    }

    #[test]
    fn settings_outside_their_ranges_are_refused() {
        assert!(Regularisation::NONE.problem().is_none());
        let ok = Regularisation {
            softening: 0.002,
            entropy: 0.001,
        };
        assert!(ok.problem().is_none());
        for bad in [
            Regularisation {
                softening: 1.0,
                ..ok
            },
            Regularisation {
                softening: -0.1,
                ..ok
            },
            Regularisation {
                entropy: -1.0,
                ..ok
            },
            Regularisation {
                entropy: f32::NAN,
                ..ok
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }
}
