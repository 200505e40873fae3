//! Leaf families: exponential-family distributions over one variable's channels.
//!
//! Parameters are stored as *expectation parameters* φ (the expected sufficient statistics),
//! per channel, as the EiNet paper does; the M-step is then an average of sufficient
//! statistics followed by a projection onto the valid set. Channels of a variable are
//! independent within one factor, so a factor's log-density is the sum over its channels, and
//! a missing (NaN) channel contributes 0 (exact marginalisation).

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::rng::Rng;

/// Clamp for Bernoulli/Binomial success probabilities, as in the reference.
const PROB_EPS: f32 = 1e-6;
/// From here on every `f32` is a whole number.
const WHOLE_ABOVE: f32 = 16_777_216.0;
/// Clamp for categorical probabilities.
const CAT_EPS: f32 = 1e-12;
/// The most categories of a Categorical leaf and the most trials of a Binomial leaf: backends
/// keep a table of `support × K` values per leaf, so the support is bounded.
pub const MAX_SUPPORT: u32 = 65_536;

/// An exponential family for one channel of a variable.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum LeafFamily {
    /// Values 0 or 1; φ = `[p]`.
    Bernoulli,
    /// Values `0..categories`; φ = the category probabilities.
    Categorical {
        /// Number of categories.
        categories: u32,
    },
    /// Values `0..=trials`; φ = [E x] = [trials · p].
    Binomial {
        /// Number of trials N (255 for 8-bit pixels).
        trials: u32,
    },
    /// Real values; φ = [μ, E x²], with the variance kept in `[min_var, max_var]`.
    Normal {
        /// Smallest variance.
        min_var: f32,
        /// Largest variance.
        max_var: f32,
    },
}

/// The values a leaf family accepts: NaN (missing), or `min <= x < below` and, if `whole`,
/// a whole number; a branch-free test, the same on the host and the device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Values {
    /// The smallest value.
    pub min: f32,
    /// Every value is below this.
    pub below: f32,
    /// Whether only whole numbers are values.
    pub whole: bool,
}

impl Values {
    /// Whether `x` is one of these values.
    #[inline]
    pub fn contains(&self, x: f32) -> bool {
        // `x as i32` truncates, so whole numbers survive the round trip; from 2^24 on every
        // float is whole.
        let whole = !self.whole | (x.abs() >= WHOLE_ABOVE) | ((x as i32) as f32 == x);
        x.is_nan() | ((x >= self.min) & (x < self.below) & whole)
    }
}

impl LeafFamily {
    /// Normal leaves for image pixels scaled to [0, 1], with the variance bounds of the
    /// reference's SVHN experiment: [1e-6, 0.01].
    pub const PIXEL_NORMAL: LeafFamily = LeafFamily::Normal {
        min_var: 1e-6,
        max_var: 0.01,
    };

    /// Checks the family's own parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        match *self {
            LeafFamily::Categorical { categories } if categories < 2 => bad(format!(
                "categorical leaves need at least 2 categories, got {categories}"
            )),
            LeafFamily::Categorical { categories } if categories > MAX_SUPPORT => bad(format!(
                "categorical leaves allow at most {MAX_SUPPORT} categories, got {categories}"
            )),
            LeafFamily::Binomial { trials } if trials < 1 => {
                bad("binomial leaves need at least 1 trial".into())
            }
            LeafFamily::Binomial { trials } if trials > MAX_SUPPORT => bad(format!(
                "binomial leaves allow at most {MAX_SUPPORT} trials, got {trials}"
            )),
            LeafFamily::Normal { min_var, max_var }
                if !(min_var > 0.0 && max_var >= min_var && max_var.is_finite()) =>
            {
                bad(format!(
                    "normal leaves need 0 < min_var <= max_var < inf, got [{min_var}, {max_var}]"
                ))
            }
            _ => Ok(()),
        }
    }

    /// A short human-readable name, e.g. `binomial(255)`.
    pub fn name(&self) -> String {
        match *self {
            LeafFamily::Bernoulli => self.kind().into(),
            LeafFamily::Categorical { categories } => format!("categorical({categories})"),
            LeafFamily::Binomial { trials } => format!("binomial({trials})"),
            LeafFamily::Normal { min_var, max_var } => format!("normal[{min_var}, {max_var}]"),
        }
    }

    /// The family's kind without its size: `bernoulli`, `categorical`, `binomial`, `normal`.
    pub fn kind(&self) -> &'static str {
        match self {
            LeafFamily::Bernoulli => "bernoulli",
            LeafFamily::Categorical { .. } => "categorical",
            LeafFamily::Binomial { .. } => "binomial",
            LeafFamily::Normal { .. } => "normal",
        }
    }

    /// Number of expectation parameters (= sufficient statistics) per channel.
    pub fn num_stats(&self) -> usize {
        match *self {
            LeafFamily::Bernoulli | LeafFamily::Binomial { .. } => 1,
            LeafFamily::Categorical { categories } => categories as usize,
            LeafFamily::Normal { .. } => 2,
        }
    }

    /// Number of distinct values of a discrete family (`None` for Normal).
    pub fn support_size(&self) -> Option<usize> {
        match *self {
            LeafFamily::Bernoulli => Some(2),
            LeafFamily::Categorical { categories } => Some(categories as usize),
            LeafFamily::Binomial { trials } => Some(trials as usize + 1),
            LeafFamily::Normal { .. } => None,
        }
    }

    /// Whether `x` is a value of this family (NaN, meaning missing, is always accepted).
    pub fn accepts(&self, x: f32) -> bool {
        self.values().contains(x)
    }

    /// The values of this family, as a test cheap enough for every value of every batch.
    pub fn values(&self) -> Values {
        match self.support_size() {
            Some(n) => Values {
                below: n as f32,
                whole: true,
                min: 0.0,
            },
            None => Values {
                below: f32::INFINITY,
                whole: false,
                min: f32::MIN,
            },
        }
    }

    /// Log-density of `x` (not NaN) under expectation parameters `phi` (`num_stats` values).
    pub fn log_density(&self, phi: &[f32], x: f32) -> f32 {
        match *self {
            LeafFamily::Bernoulli => {
                let p = phi[0].clamp(PROB_EPS, 1.0 - PROB_EPS);
                if x > 0.5 { p.ln() } else { (1.0 - p).ln() }
            }
            LeafFamily::Categorical { .. } => {
                let total: f32 = phi.iter().map(|p| p.max(CAT_EPS)).sum();
                (phi[x as usize].max(CAT_EPS) / total).ln()
            }
            LeafFamily::Binomial { trials } => {
                let n = trials as f32;
                let p = (phi[0] / n).clamp(PROB_EPS, 1.0 - PROB_EPS);
                log_binomial_coefficient(trials, x as u32) + x * p.ln() + (n - x) * (1.0 - p).ln()
            }
            LeafFamily::Normal { min_var, max_var } => {
                let mu = phi[0];
                let var = (phi[1] - mu * mu).clamp(min_var, max_var);
                let d = x - mu;
                -0.5 * ((std::f32::consts::TAU * var).ln() + d * d / var)
            }
        }
    }

    /// The log base measure `log h(x)` of every value of a discrete family's support
    /// (`log C(N, x)` for Binomial, 0 otherwise); it does not depend on the parameters, so
    /// callers compute it once and pass it to [`LeafFamily::log_densities`].
    pub fn log_base_measures(&self) -> Vec<f32> {
        match *self {
            LeafFamily::Binomial { trials } => {
                let mut acc = 0.0f64;
                (0..=trials)
                    .map(|x| {
                        let value = acc as f32;
                        acc += (f64::from(trials) - f64::from(x)).ln() - (f64::from(x) + 1.0).ln();
                        value
                    })
                    .collect()
            }
            _ => vec![0.0; self.support_size().unwrap_or(0)],
        }
    }

    /// Writes `log p(x)` for every value `x` of a discrete family's support into `out`, given
    /// `log_h` from [`LeafFamily::log_base_measures`], in `O(support)` time.
    pub fn log_densities(&self, phi: &[f32], log_h: &[f32], out: &mut [f32]) {
        match *self {
            LeafFamily::Binomial { trials } => {
                let n = trials as f32;
                let p = (phi[0] / n).clamp(PROB_EPS, 1.0 - PROB_EPS);
                let (lp, lq) = (p.ln(), (1.0 - p).ln());
                for (x, (o, h)) in out.iter_mut().zip(log_h).enumerate() {
                    let xf = x as f32;
                    *o = h + xf * lp + (n - xf) * lq;
                }
            }
            LeafFamily::Categorical { .. } => {
                let log_total = phi.iter().map(|p| p.max(CAT_EPS)).sum::<f32>().ln();
                for (o, p) in out.iter_mut().zip(phi) {
                    *o = p.max(CAT_EPS).ln() - log_total;
                }
            }
            _ => out
                .iter_mut()
                .enumerate()
                .for_each(|(x, o)| *o = self.log_density(phi, x as f32)),
        }
    }

    /// Adds `weight · T(x)` to `stats` (`num_stats` values) for an observed `x`.
    pub fn add_statistics(&self, x: f32, weight: f32, stats: &mut [f32]) {
        match *self {
            LeafFamily::Bernoulli | LeafFamily::Binomial { .. } => stats[0] += weight * x,
            LeafFamily::Categorical { .. } => stats[x as usize] += weight,
            LeafFamily::Normal { .. } => {
                stats[0] += weight * x;
                stats[1] += weight * x * x;
            }
        }
    }

    /// Softens responsibility-weighted statistics (total mass `mass`) in place by `beta`: each
    /// observed value counts `1 − beta` for itself and `beta / (values − 1)` for each other
    /// value of the family's support ([`Regularisation::softening`]). Normal leaves are
    /// unchanged.
    ///
    /// [`Regularisation::softening`]: crate::em::Regularisation::softening
    pub fn soften(&self, beta: f32, mass: f32, stats: &mut [f32]) {
        // Σ over the support of each statistic, and the support's size.
        let (all, values) = match *self {
            LeafFamily::Bernoulli => (1.0, 2.0),
            LeafFamily::Binomial { trials } => {
                let n = trials as f32;
                (0.5 * n * (n + 1.0), n + 1.0)
            }
            LeafFamily::Categorical { categories } => (1.0, categories as f32),
            LeafFamily::Normal { .. } => return,
        };
        if beta == 0.0 || values < 2.0 {
            return;
        }
        let other = beta / (values - 1.0);
        let (keep, base) = (1.0 - beta - other, other * mass * all);
        stats.iter_mut().for_each(|s| *s = keep * *s + base);
    }

    /// Turns responsibility-weighted statistics (`stats`, with total mass `mass > 0`) into the
    /// maximum-likelihood expectation parameters, in place. Discrete families add
    /// `pseudocount` virtual observations spread uniformly over their support.
    pub fn estimate(&self, mass: f32, pseudocount: f32, stats: &mut [f32]) {
        let (virtual_stat, virtual_mass) = match *self {
            LeafFamily::Bernoulli => (0.5 * pseudocount, pseudocount),
            LeafFamily::Binomial { trials } => (0.5 * trials as f32 * pseudocount, pseudocount),
            LeafFamily::Categorical { categories } => {
                (pseudocount, categories as f32 * pseudocount)
            }
            LeafFamily::Normal { .. } => (0.0, 0.0),
        };
        stats
            .iter_mut()
            .for_each(|s| *s = (*s + virtual_stat) / (mass + virtual_mass));
    }

    /// Projects expectation parameters onto the family's valid set (the M-step projection).
    pub fn project(&self, phi: &mut [f32]) {
        match *self {
            LeafFamily::Bernoulli => phi[0] = phi[0].clamp(0.0, 1.0),
            LeafFamily::Binomial { trials } => phi[0] = phi[0].clamp(0.0, trials as f32),
            LeafFamily::Categorical { .. } => {
                phi.iter_mut().for_each(|p| *p = p.max(CAT_EPS));
                let total: f32 = phi.iter().sum();
                phi.iter_mut().for_each(|p| *p /= total);
            }
            LeafFamily::Normal { min_var, max_var } => {
                let var = (phi[1] - phi[0] * phi[0]).clamp(min_var, max_var);
                phi[1] = phi[0] * phi[0] + var;
            }
        }
    }

    /// Checks that `phi` are valid expectation parameters of this family (what [`project`]
    /// produces, to `f32` rounding): a probability in `[0, 1]`, a Binomial mean in
    /// `[0, trials]`, Categorical probabilities that are non-negative and sum to 1, a Normal
    /// variance within the bounds; the error says which value is wrong and why.
    ///
    /// [`project`]: LeafFamily::project
    pub fn check_params(&self, phi: &[f32]) -> Result<(), String> {
        const TOLERANCE: f32 = 1e-4;
        match *self {
            LeafFamily::Bernoulli if !(0.0..=1.0).contains(&phi[0]) => Err(format!(
                "the Bernoulli probability {} is outside [0, 1]",
                phi[0]
            )),
            LeafFamily::Binomial { trials } if !(0.0..=trials as f32).contains(&phi[0]) => {
                Err(format!(
                    "the Binomial({trials}) mean {} is outside [0, {trials}]",
                    phi[0]
                ))
            }
            LeafFamily::Categorical { categories } => {
                if let Some((c, p)) = phi.iter().enumerate().find(|(_, p)| **p < 0.0) {
                    return Err(format!(
                        "the Categorical({categories}) probability of value {c} is {p} < 0"
                    ));
                }
                let total: f32 = phi.iter().sum();
                if (total - 1.0).abs() > TOLERANCE {
                    return Err(format!(
                        "the Categorical({categories}) probabilities sum to {total}, not 1"
                    ));
                }
                Ok(())
            }
            LeafFamily::Normal { min_var, max_var } => {
                let var = phi[1] - phi[0] * phi[0];
                // `phi[1]` holds `μ² + σ²` in f32: its rounding error grows with μ².
                let slack = TOLERANCE * min_var + f32::EPSILON * 4.0 * (1.0 + phi[0] * phi[0]);
                if var < min_var - slack || var > max_var * (1.0 + TOLERANCE) + slack {
                    Err(format!(
                        "the Normal variance {var} (mean {}) is outside [{min_var}, {max_var}]",
                        phi[0]
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Random initial parameters, as the reference draws them (then projected).
    pub fn initialize(&self, rng: &mut Rng, phi: &mut [f32]) {
        match *self {
            LeafFamily::Bernoulli => phi[0] = rng.uniform_in(0.01, 0.99),
            LeafFamily::Binomial { trials } => phi[0] = trials as f32 * rng.uniform_in(0.01, 0.99),
            LeafFamily::Categorical { .. } => {
                phi.iter_mut().for_each(|p| *p = rng.uniform_in(0.01, 0.99))
            }
            LeafFamily::Normal { .. } => {
                let mu = rng.normal();
                phi[0] = mu;
                phi[1] = 1.0 + mu * mu;
            }
        }
        self.project(phi);
    }

    /// Draws one value. For Normal, the standard deviation is scaled by `std_correction`
    /// (0 gives the mean, as the reference's image samples do).
    pub fn sample(&self, phi: &[f32], rng: &mut Rng, std_correction: f32) -> f32 {
        match *self {
            LeafFamily::Bernoulli => f32::from(rng.uniform() < phi[0]),
            LeafFamily::Categorical { .. } => {
                let total: f32 = phi.iter().map(|p| p.max(CAT_EPS)).sum();
                let mut u = rng.uniform() * total;
                for (c, p) in phi.iter().enumerate() {
                    u -= p.max(CAT_EPS);
                    if u <= 0.0 {
                        return c as f32;
                    }
                }
                (phi.len() - 1) as f32
            }
            LeafFamily::Binomial { trials } => {
                let p = phi[0] / trials as f32;
                (0..trials).filter(|_| rng.uniform() < p).count() as f32
            }
            LeafFamily::Normal { min_var, max_var } => {
                let var = (phi[1] - phi[0] * phi[0]).clamp(min_var, max_var);
                phi[0] + std_correction * var.sqrt() * rng.normal()
            }
        }
    }

    /// The most probable value (the mean for Normal).
    pub fn mode(&self, phi: &[f32]) -> f32 {
        match *self {
            LeafFamily::Bernoulli => f32::from(phi[0] > 0.5),
            LeafFamily::Categorical { .. } => {
                phi.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (c, &p)| {
                        if p > best.1 { (c, p) } else { best }
                    })
                    .0 as f32
            }
            LeafFamily::Binomial { trials } => {
                let p = (phi[0] / trials as f32).clamp(0.0, 1.0);
                ((trials as f32 + 1.0) * p)
                    .floor()
                    .clamp(0.0, trials as f32)
            }
            LeafFamily::Normal { .. } => phi[0],
        }
    }
}

/// `log C(n, k)` computed exactly enough in f64.
pub fn log_binomial_coefficient(n: u32, k: u32) -> f32 {
    let k = k.min(n - k.min(n));
    let mut acc = 0.0f64;
    for i in 0..k {
        acc += f64::from(n - i).ln() - f64::from(i + 1).ln();
    }
    acc as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<LeafFamily> {
        vec![
            LeafFamily::Bernoulli,
            LeafFamily::Categorical { categories: 5 },
            LeafFamily::Binomial { trials: 7 },
        ]
    }

    #[test]
    fn discrete_families_normalise() {
        let mut rng = Rng::new(3, 0);
        for f in families() {
            let mut phi = vec![0.0; f.num_stats()];
            f.initialize(&mut rng, &mut phi);
            let total: f64 = (0..f.support_size().unwrap())
                .map(|x| f64::from(f.log_density(&phi, x as f32)).exp())
                .sum();
            assert!((total - 1.0).abs() < 1e-5, "{f:?}: {total}");
        }
    }

    #[test]
    fn log_densities_equal_log_density() {
        let mut rng = Rng::new(5, 0);
        for f in [
            LeafFamily::Binomial { trials: 255 },
            LeafFamily::Categorical { categories: 4 },
            LeafFamily::Bernoulli,
        ] {
            let mut phi = vec![0.0; f.num_stats()];
            f.initialize(&mut rng, &mut phi);
            let mut all = vec![0.0; f.support_size().unwrap()];
            f.log_densities(&phi, &f.log_base_measures(), &mut all);
            for (x, v) in all.iter().enumerate() {
                let want = f.log_density(&phi, x as f32);
                assert!(
                    (v - want).abs() < 1e-3 * want.abs().max(1.0),
                    "{f:?} x={x}: {v} vs {want}"
                );
            }
        }
    }

    #[test]
    fn m_step_of_statistics_recovers_the_data_mean() {
        let f = LeafFamily::Binomial { trials: 10 };
        let mut stats = [0.0];
        for x in [2.0, 4.0, 9.0] {
            f.add_statistics(x, 1.0, &mut stats);
        }
        assert!((stats[0] / 3.0 - 5.0).abs() < 1e-6);
        let n = LeafFamily::Normal {
            min_var: 1e-3,
            max_var: 10.0,
        };
        let mut phi = [1.0, 1.0];
        n.project(&mut phi);
        assert!((phi[1] - phi[0] * phi[0] - 1e-3).abs() < 1e-6);
    }

    #[test]
    fn binomial_mode_is_a_most_probable_value() {
        let f = LeafFamily::Binomial { trials: 9 };
        for p in [0.05f32, 0.3, 0.5, 0.77, 0.99] {
            let phi = [9.0 * p];
            let best = (0..=9)
                .map(|x| f.log_density(&phi, x as f32))
                .fold(f32::NEG_INFINITY, f32::max);
            assert!(f.log_density(&phi, f.mode(&phi)) >= best - 1e-5, "p = {p}");
        }
    }

    #[test]
    fn validate_bounds_the_support() {
        for ok in [
            LeafFamily::Categorical {
                categories: MAX_SUPPORT,
            },
            LeafFamily::Binomial {
                trials: MAX_SUPPORT,
            },
        ] {
            ok.validate().unwrap();
        }
        for (bad, what) in [
            (
                LeafFamily::Categorical {
                    categories: MAX_SUPPORT + 1,
                },
                "at most 65536 categories, got 65537",
            ),
            (
                LeafFamily::Binomial {
                    trials: 4_000_000_000,
                },
                "at most 65536 trials, got 4000000000",
            ),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
    }

    #[test]
    fn support_checks() {
        assert!(!LeafFamily::Bernoulli.accepts(2.0));
        assert!(!LeafFamily::Binomial { trials: 255 }.accepts(300.0));
        assert!(!LeafFamily::Categorical { categories: 3 }.accepts(1.5));
        assert!(LeafFamily::Categorical { categories: 3 }.accepts(f32::NAN));
        assert!(
            !LeafFamily::Normal {
                min_var: 1e-4,
                max_var: 1.0
            }
            .accepts(f32::INFINITY)
        );
    }

    #[test]
    fn accepted_values_are_exactly_the_support() {
        let normal = LeafFamily::Normal {
            min_var: 1e-4,
            max_var: 1.0,
        };
        for x in [0.0, -0.0, -3.5, 1e30, f32::MIN_POSITIVE, f32::NAN] {
            assert!(normal.accepts(x), "{x}");
        }
        assert!(!normal.accepts(f32::NEG_INFINITY));
        let cat = LeafFamily::Categorical { categories: 256 };
        for x in [0.0, -0.0, 1.0, 255.0, f32::NAN] {
            assert!(cat.accepts(x), "{x}");
        }
        for x in [
            -1.0,
            -0.5,
            0.5,
            254.999,
            256.0,
            1e10,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert!(!cat.accepts(x), "{x}");
        }
        // Beyond 2^24 every float is whole; the bound still applies.
        let huge = LeafFamily::Binomial {
            trials: u32::MAX - 1,
        };
        assert!(huge.accepts(3e9) && huge.accepts(16_777_217.0) && !huge.accepts(5e9));
        assert!(!huge.accepts(0.25));
    }
}
