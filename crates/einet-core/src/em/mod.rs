//! Expectation–maximisation: the statistics a backend's E-step accumulates and the M-step
//! (full-batch and stepwise), shared by all backends that update parameters on the host.

use serde::{Deserialize, Serialize};

use crate::error::BackendError;
use crate::layout::Layout;
use crate::params::{Params, distributions, normalise};

mod regularisers;

pub use regularisers::{
    ENTROPY_MULTIPLIER_STEPS, ENTROPY_WEIGHT_STEPS, Regularisation, entropy_regularised,
};

/// Responsibility mass below which a weight vector or leaf factor keeps its parameters
/// (the reference implementation would shrink them toward 0).
pub const MIN_MASS: f32 = 1e-10;

/// How parameters are updated from expected statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum EmMode {
    /// Statistics over the whole epoch; parameters are replaced at its end.
    FullBatch,
    /// Every `frequency` batches, a step of size `step_size` toward the batch estimate, by
    /// `rule`.
    Stepwise {
        /// Batches between updates.
        frequency: usize,
        /// Step size `s` in (0, 1].
        step_size: f32,
        /// How a step blends the batch into the parameters. Files written before the rule
        /// existed were trained with the reference's rule, the default.
        #[serde(default)]
        rule: StepwiseRule,
    },
}

/// How a stepwise M-step blends a batch's statistics into the parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepwiseRule {
    /// Stepwise EM on running expected statistics (Cappé & Moulines 2009; Liang & Klein
    /// 2009): `S ← (1 − s)·S + S_batch` and, with pseudocount 0, `θ = M(S)`, starting from
    /// `S = 0`. Each weight vector and leaf factor moves by its share `m_batch / m_running`
    /// of its running responsibility mass toward its batch estimate (with the pseudocount,
    /// if any, added to each batch's statistics), so one that received little mass in a
    /// batch barely moves. The first update with mass is a full step: the initial
    /// parameters shape the first E-step only, and early batches are averaged rather than
    /// blended into the random start.
    Statistics,
    /// The reference implementation's rule, `θ ← (1 − s)·θ + s·θ̂_batch`: every weight
    /// vector and leaf factor moves by `s` toward its batch estimate however little mass
    /// the batch gave it (toward the pseudocount's uniform estimate when it got none).
    #[default]
    Parameters,
}

impl StepwiseRule {
    /// The rule's name in settings and reports: `statistics` or `parameters`.
    pub fn name(self) -> &'static str {
        match self {
            StepwiseRule::Statistics => "statistics",
            StepwiseRule::Parameters => "parameters",
        }
    }

    /// The fraction of the way toward its batch estimate that one weight vector or leaf
    /// factor moves when the batch gave it responsibility `mass`; updates its `running`
    /// mass under [`StepwiseRule::Statistics`]. With `step_size` 1 both rules give 1
    /// wherever there is mass; without mass the statistics rule gives 0 and the reference's
    /// rule `step_size`.
    pub fn fraction(self, step_size: f32, running: &mut f32, mass: f32) -> f32 {
        match self {
            StepwiseRule::Parameters => step_size,
            StepwiseRule::Statistics => {
                *running = (1.0 - step_size) * *running + mass;
                if *running > 0.0 { mass / *running } else { 0.0 }
            }
        }
    }
}

/// EM settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmConfig {
    /// Full-batch or stepwise.
    pub mode: EmMode,
    /// Pseudocount added to every expected count (sum weights and discrete leaves).
    pub pseudocount: f32,
    /// Data softening and entropy regularisation (none in files written before they
    /// existed).
    #[serde(default, skip_serializing_if = "Regularisation::is_none")]
    pub regularisation: Regularisation,
}

impl Default for EmConfig {
    /// The reference's default: stepwise EM with frequency 1, step size 0.05 and its rule.
    fn default() -> Self {
        EmConfig {
            mode: EmMode::Stepwise {
                frequency: 1,
                step_size: 0.05,
                rule: StepwiseRule::default(),
            },
            pseudocount: 0.0,
            regularisation: Regularisation::NONE,
        }
    }
}

/// One M-step's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MStep {
    /// Step size `s` in (0, 1]; 1 replaces the parameters (full-batch EM).
    pub step_size: f32,
    /// How a step below 1 blends the batch in.
    pub rule: StepwiseRule,
    /// Pseudocount added to every expected count (sum weights and discrete leaves), `>= 0`.
    pub pseudocount: f32,
    /// Data softening of the leaves and entropy regularisation of the weights.
    pub regularisation: Regularisation,
}

impl MStep {
    /// The full-batch M-step: parameters replaced by the estimate (with a pseudocount, also
    /// where there is no mass).
    pub fn full_batch(pseudocount: f32) -> Self {
        MStep {
            step_size: 1.0,
            rule: StepwiseRule::Parameters,
            pseudocount,
            regularisation: Regularisation::NONE,
        }
    }

    /// Checks the step size, pseudocount and regularisers.
    pub fn check(&self) -> Result<(), BackendError> {
        if !(self.step_size > 0.0 && self.step_size <= 1.0 && self.pseudocount >= 0.0) {
            return Err(BackendError::Input(format!(
                "EM step size must be in (0, 1] and pseudocount >= 0, got {} and {}",
                self.step_size, self.pseudocount
            )));
        }
        match self.regularisation.problem() {
            Some(problem) => Err(BackendError::Input(problem)),
            None => Ok(()),
        }
    }
}

/// The optimiser state of [`StepwiseRule::Statistics`]: the running responsibility mass of
/// every weight vector (in the order of [`distributions`], layer by layer) and of every leaf
/// factor channel (`[entry][k][channel]`). Zero means no mass seen yet.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningMass {
    /// One value per weight vector.
    pub weights: Vec<f32>,
    /// One value per leaf factor channel.
    pub leaves: Vec<f32>,
}

impl RunningMass {
    /// No mass seen yet.
    pub fn zeros(layout: &Layout) -> Self {
        let vectors = layout
            .layers
            .iter()
            .map(|layer| distributions(layout, layer).len())
            .sum();
        RunningMass {
            weights: vec![0.0; vectors],
            leaves: vec![0.0; layout.leaf.vars.len() * layout.leaf.k * layout.num_channels],
        }
    }

    /// Forgets all mass seen (after the parameters are replaced).
    pub fn clear(&mut self) {
        self.weights.fill(0.0);
        self.leaves.fill(0.0);
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

    /// The weight counts (layer by layer), leaf masses and leaf statistics in one buffer, in
    /// that order: what data-parallel EM sums over its processes.
    pub fn flatten(&self) -> Vec<f32> {
        let mut flat = Vec::with_capacity(self.flat_len());
        self.counts.iter().for_each(|c| flat.extend_from_slice(c));
        flat.extend_from_slice(&self.leaf_mass);
        flat.extend_from_slice(&self.leaf_stats);
        flat
    }

    /// Replaces the statistics that [`flatten`](EmStatistics::flatten) returns by `flat`.
    pub fn unflatten(&mut self, flat: &[f32]) -> Result<(), BackendError> {
        if flat.len() != self.flat_len() {
            return Err(BackendError::Input(format!(
                "{} statistics do not fit a model with {}",
                flat.len(),
                self.flat_len()
            )));
        }
        let mut rest = flat;
        let parts = self
            .counts
            .iter_mut()
            .chain([&mut self.leaf_mass, &mut self.leaf_stats]);
        for part in parts {
            let (head, tail) = rest.split_at(part.len());
            part.copy_from_slice(head);
            rest = tail;
        }
        Ok(())
    }

    /// The length of [`flatten`](EmStatistics::flatten)'s buffer.
    pub fn flat_len(&self) -> usize {
        self.counts.iter().map(Vec::len).sum::<usize>()
            + self.leaf_mass.len()
            + self.leaf_stats.len()
    }
}

/// Everything EM carries between updates besides the parameters: the statistics accumulated
/// since the last M-step and the running mass of [`StepwiseRule::Statistics`]. A checkpoint
/// stores it so that a resumed run continues exactly where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct EmState {
    /// Statistics accumulated since the last M-step.
    pub statistics: EmStatistics,
    /// The running mass of stepwise EM.
    pub running: RunningMass,
}

impl EmState {
    /// Checks that every buffer has the length `layout` needs.
    pub fn check(&self, layout: &Layout) -> Result<(), BackendError> {
        let zeros = EmState {
            statistics: EmStatistics::zeros(layout),
            running: RunningMass::zeros(layout),
        };
        let (s, z) = (&self.statistics, &zeros.statistics);
        let lengths = |v: &[Vec<f32>]| v.iter().map(Vec::len).collect::<Vec<_>>();
        let fits = lengths(&s.counts) == lengths(&z.counts)
            && s.leaf_mass.len() == z.leaf_mass.len()
            && s.leaf_stats.len() == z.leaf_stats.len()
            && self.running.weights.len() == zeros.running.weights.len()
            && self.running.leaves.len() == zeros.running.leaves.len();
        if fits {
            Ok(())
        } else {
            Err(BackendError::Input(
                "the EM state does not match the model's layout".into(),
            ))
        }
    }
}

/// The M-step: moves `params` toward the maximum of the expected complete-data likelihood
/// given `stats` (softened and entropy-regularised by `step.regularisation`), by `step` (all
/// the way for full-batch EM). Leaf factors with (almost) no responsibility mass keep their
/// parameters, and so do weight vectors unless a pseudocount pulls them toward uniform.
/// `running` must belong to `layout` ([`RunningMass::zeros`]).
pub fn m_step(
    layout: &Layout,
    params: &mut Params,
    stats: &EmStatistics,
    running: &mut RunningMass,
    step: MStep,
) {
    let MStep {
        step_size: nominal,
        rule,
        pseudocount,
        regularisation,
    } = step;
    const OTHER_LAYOUT: &str = "running mass of another layout";
    assert_eq!(
        running.leaves.len(),
        stats.leaf_mass.len(),
        "{OTHER_LAYOUT}"
    );
    let mut running_weights = running.weights.iter_mut();
    let mut target = Vec::new();
    for ((layer, weights), counts) in layout
        .layers
        .iter()
        .zip(&mut params.layers)
        .zip(&stats.counts)
    {
        for range in distributions(layout, layer) {
            let running = running_weights.next().expect(OTHER_LAYOUT);
            let n = &counts[range.clone()];
            let mass: f32 = n.iter().sum();
            let step_size = rule.fraction(nominal, running, mass);
            if pseudocount == 0.0 && mass <= MIN_MASS {
                continue;
            }
            let total: f32 = n.iter().map(|x| (x + pseudocount).max(1e-16)).sum();
            target.clear();
            target.extend(n.iter().map(|c| (c + pseudocount).max(1e-16) / total));
            entropy_regularised(&mut target, regularisation.entropy);
            let w = &mut weights[range];
            for (x, t) in w.iter_mut().zip(&target) {
                *x = (1.0 - step_size) * *x + step_size * t;
            }
            normalise(w);
        }
    }
    assert!(running_weights.next().is_none(), "{OTHER_LAYOUT}");
    let leaf = &layout.leaf;
    let d = layout.num_channels;
    for e in 0..leaf.vars.len() {
        let family = leaf.family(e);
        let s = family.num_stats();
        let start = leaf.param_offsets[e] as usize;
        for kc in 0..leaf.k * d {
            let mass = stats.leaf_mass[e * leaf.k * d + kc];
            let step_size = rule.fraction(nominal, &mut running.leaves[e * leaf.k * d + kc], mass);
            if mass <= MIN_MASS {
                continue;
            }
            let range = start + kc * s..start + (kc + 1) * s;
            let mut estimate = stats.leaf_stats[range.clone()].to_vec();
            family.soften(regularisation.softening, mass, &mut estimate);
            family.estimate(mass, pseudocount, &mut estimate);
            let phi = &mut params.leaf[range];
            for (x, e) in phi.iter_mut().zip(estimate) {
                *x = (1.0 - step_size) * *x + step_size * e;
            }
            family.project(phi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_rule_moves_by_the_share_of_running_mass() {
        let mut running = 0.0;
        let rule = StepwiseRule::Statistics;
        assert_eq!(rule.fraction(0.25, &mut running, 0.0), 0.0);
        assert_eq!(rule.fraction(0.25, &mut running, 8.0), 1.0);
        assert_eq!(running, 8.0);
        // (1 − 0.25)·8 + 2 = 8: a batch with a quarter of the running mass moves a quarter.
        assert_eq!(rule.fraction(0.25, &mut running, 2.0), 0.25);
        assert_eq!(running, 8.0);
        assert_eq!(rule.fraction(0.25, &mut running, 0.0), 0.0);
        assert_eq!(running, 6.0);
        // Step size 1 is full-batch EM under either rule.
        assert_eq!(rule.fraction(1.0, &mut running, 3.0), 1.0);
        let mut unused = 5.0;
        assert_eq!(
            StepwiseRule::Parameters.fraction(0.05, &mut unused, 0.5),
            0.05
        );
        assert_eq!(unused, 5.0);
    }

    #[test]
    fn full_batch_with_a_pseudocount_smooths_weight_vectors_without_mass() {
        use crate::{Einet, EinetConfig, LeafFamily, random_binary_trees};
        let graph = random_binary_trees(4, 1, 2, 3).unwrap();
        let einet = Einet::new(graph, EinetConfig::new(3, LeafFamily::Bernoulli), 3).unwrap();
        let layout = &einet.layout;
        let mut params = einet.params.clone();
        let stats = EmStatistics::zeros(layout);
        let mut running = RunningMass::zeros(layout);
        m_step(
            layout,
            &mut params,
            &stats,
            &mut running,
            MStep::full_batch(1.0),
        );
        for (layer, weights) in layout.layers.iter().zip(&params.layers) {
            for range in distributions(layout, layer) {
                let n = range.len() as f32;
                for w in &weights[range] {
                    assert!((w - 1.0 / n).abs() < 1e-6, "{w} is not 1/{n}");
                }
            }
        }
        // Leaf factors without mass keep their parameters.
        assert_eq!(params.leaf, einet.params.leaf);
    }

    #[test]
    fn statistics_flatten_into_one_buffer_and_back() {
        use crate::{Einet, EinetConfig, LeafFamily, random_binary_trees};
        let graph = random_binary_trees(4, 2, 2, 1).unwrap();
        let einet = Einet::new(graph, EinetConfig::new(2, LeafFamily::Bernoulli), 1).unwrap();
        let mut stats = EmStatistics::zeros(&einet.layout);
        let flat: Vec<f32> = (0..stats.flat_len()).map(|i| i as f32).collect();
        stats.unflatten(&flat).unwrap();
        assert_eq!(stats.counts[0][0], 0.0);
        assert_eq!(*stats.leaf_stats.last().unwrap(), (flat.len() - 1) as f32);
        assert_eq!(stats.flatten(), flat);
        assert!(stats.unflatten(&flat[1..]).is_err());
    }

    #[test]
    fn stepwise_settings_without_a_rule_are_the_reference_rule() {
        let old: EmMode =
            serde_json::from_str(r#"{"mode":"stepwise","frequency":1,"step_size":0.05}"#).unwrap();
        let rule = StepwiseRule::Parameters;
        assert_eq!(
            old,
            EmMode::Stepwise {
                frequency: 1,
                step_size: 0.05,
                rule
            }
        );
        let new = EmMode::Stepwise {
            frequency: 2,
            step_size: 0.5,
            rule: StepwiseRule::Statistics,
        };
        let json = serde_json::to_string(&new).unwrap();
        assert!(json.contains(r#""rule":"statistics""#), "{json}");
        assert_eq!(serde_json::from_str::<EmMode>(&json).unwrap(), new);
    }
}
