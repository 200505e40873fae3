//! Expectation–maximisation: the statistics a backend's E-step accumulates and the M-step
//! (spec §5.5–5.6), shared by all backends that update parameters on the host.

use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::params::{Params, distributions, normalise};

/// Responsibility mass below which a weight vector or leaf factor keeps its parameters
/// (the reference would shrink them toward 0: spec §1.10 item 4).
pub const MIN_MASS: f32 = 1e-10;

/// How parameters are updated from expected statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum EmMode {
    /// Statistics over the whole epoch; parameters are replaced at its end.
    FullBatch,
    /// Every `frequency` batches, `θ ← (1 − step_size)·θ + step_size·θ̂`.
    Stepwise {
        /// Batches between updates.
        frequency: usize,
        /// Step size `s` in (0, 1].
        step_size: f32,
    },
}

/// EM settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmConfig {
    /// Full-batch or stepwise.
    pub mode: EmMode,
    /// Pseudocount added to every expected count (sum weights and discrete leaves).
    pub pseudocount: f32,
}

impl Default for EmConfig {
    /// The reference's default: stepwise EM with frequency 1 and step size 0.05.
    fn default() -> Self {
        EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.05,
            },
            pseudocount: 0.0,
        }
    }
}

/// Expected statistics of one or more batches.
#[derive(Clone, Debug, PartialEq)]
pub struct EmStatistics {
    /// Expected counts of each weight, shaped like [`Params::layers`].
    pub counts: Vec<Vec<f32>>,
    /// Responsibility mass of each leaf factor channel, `[entry][k][channel]`.
    pub leaf_mass: Vec<f32>,
    /// Responsibility-weighted sufficient statistics, shaped like [`Params::leaf`].
    pub leaf_stats: Vec<f32>,
    /// Sum of the log-likelihoods of the samples seen.
    pub log_likelihood: f64,
    /// Number of samples seen.
    pub samples: usize,
}

impl EmStatistics {
    /// Empty statistics for `layout`.
    pub fn zeros(layout: &Layout) -> Self {
        let zeros = Params::zeros(layout);
        EmStatistics {
            counts: zeros.layers,
            leaf_mass: vec![0.0; layout.leaf.vars.len() * layout.leaf.k * layout.num_channels],
            leaf_stats: zeros.leaf,
            log_likelihood: 0.0,
            samples: 0,
        }
    }

    /// Resets everything to zero.
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| c.fill(0.0));
        self.leaf_mass.fill(0.0);
        self.leaf_stats.fill(0.0);
        self.log_likelihood = 0.0;
        self.samples = 0;
    }
}

/// The M-step: moves `params` a step `step_size` (1 for full-batch EM) toward the maximum
/// of the expected complete-data likelihood given `stats`. Weight vectors and leaf factors
/// with (almost) no responsibility mass keep their parameters.
pub fn m_step(
    layout: &Layout,
    params: &mut Params,
    stats: &EmStatistics,
    step_size: f32,
    pseudocount: f32,
) {
    for ((layer, weights), counts) in layout
        .layers
        .iter()
        .zip(&mut params.layers)
        .zip(&stats.counts)
    {
        for range in distributions(layout, layer) {
            let n = &counts[range.clone()];
            if pseudocount == 0.0 && n.iter().sum::<f32>() <= MIN_MASS {
                continue;
            }
            let total: f32 = n.iter().map(|x| (x + pseudocount).max(1e-16)).sum();
            let w = &mut weights[range];
            for (x, c) in w.iter_mut().zip(n) {
                *x = (1.0 - step_size) * *x + step_size * (c + pseudocount).max(1e-16) / total;
            }
            normalise(w);
        }
    }
    let leaf = &layout.leaf;
    let d = layout.num_channels;
    for e in 0..leaf.vars.len() {
        let family = leaf.family(e);
        let s = family.num_stats();
        let start = leaf.param_offsets[e] as usize;
        for kc in 0..leaf.k * d {
            let mass = stats.leaf_mass[e * leaf.k * d + kc];
            if mass <= MIN_MASS {
                continue;
            }
            let range = start + kc * s..start + (kc + 1) * s;
            let mut estimate = stats.leaf_stats[range.clone()].to_vec();
            family.estimate(mass, pseudocount, &mut estimate);
            let phi = &mut params.leaf[range];
            for (x, e) in phi.iter_mut().zip(estimate) {
                *x = (1.0 - step_size) * *x + step_size * e;
            }
            family.project(phi);
        }
    }
}
