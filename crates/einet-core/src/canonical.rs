//! The canonical benchmark configurations of `docs/perf-anchors` (A1 … C3): the same
//! structures, K, leaf families and EM steps as the reference measurements, so that einet
//! and the reference can be run side by side.

use crate::config::EinetConfig;
use crate::error::StructureError;
use crate::leaf::LeafFamily;
use crate::region_graph::{PoonDomingos, RegionGraph, random_binary_trees};

/// One canonical configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Canonical {
    /// Its id, e.g. `A1`.
    pub id: &'static str,
    /// A one-line description.
    pub description: &'static str,
    /// Model configuration (K, channels, leaf family).
    pub config: EinetConfig,
    /// Stepwise EM step size used when benchmarking training.
    pub step_size: f32,
    structure: Structure,
}

#[derive(Clone, Debug, PartialEq)]
enum Structure {
    Rat,
    Pd {
        side: usize,
        delta: f64,
        axes: Option<Vec<usize>>,
    },
}

/// The ids of all canonical configurations, in order.
pub const CANONICAL_IDS: [&str; 8] = ["A1", "A2", "B1", "B2", "B3", "C1", "C2", "C3"];

impl Canonical {
    /// The configuration with this id (case-insensitive), if any.
    pub fn get(id: &str) -> Option<Canonical> {
        let normal = LeafFamily::Normal {
            min_var: 1e-6,
            max_var: 0.01,
        };
        let pd = |side, delta, axes| Structure::Pd { side, delta, axes };
        let (id, description, structure, family, k, channels, step) =
            match id.to_ascii_uppercase().as_str() {
                "A1" => (
                    "A1",
                    "RAT 784 vars, depth 5, 20 reps, Categorical(2), K 20",
                    Structure::Rat,
                    LeafFamily::Categorical { categories: 2 },
                    20,
                    1,
                    0.05,
                ),
                "A2" => (
                    "A2",
                    "RAT 784 vars, depth 5, 20 reps, Bernoulli, K 20",
                    Structure::Rat,
                    LeafFamily::Bernoulli,
                    20,
                    1,
                    0.05,
                ),
                "B1" => (
                    "B1",
                    "PD 28x28, delta 7, Binomial(255), K 10",
                    pd(28, 7.0, None),
                    LeafFamily::Binomial { trials: 255 },
                    10,
                    1,
                    0.05,
                ),
                "B2" => (
                    "B2",
                    "PD 28x28, delta 7, Categorical(256), K 10",
                    pd(28, 7.0, None),
                    LeafFamily::Categorical { categories: 256 },
                    10,
                    1,
                    0.05,
                ),
                "B3" => (
                    "B3",
                    "PD 28x28, delta 4, Binomial(255), K 10",
                    pd(28, 4.0, None),
                    LeafFamily::Binomial { trials: 255 },
                    10,
                    1,
                    0.05,
                ),
                "C1" => (
                    "C1",
                    "PD 32x32 axis 1, delta 8, 3 channels, Normal, K 40",
                    pd(32, 8.0, Some(vec![1])),
                    normal,
                    40,
                    3,
                    0.5,
                ),
                "C2" => (
                    "C2",
                    "PD 32x32, delta 8, 3 channels, Normal, K 40",
                    pd(32, 8.0, None),
                    normal,
                    40,
                    3,
                    0.5,
                ),
                "C3" => (
                    "C3",
                    "PD 32x32, delta 4, 3 channels, Normal, K 40",
                    pd(32, 4.0, None),
                    normal,
                    40,
                    3,
                    0.5,
                ),
                _ => return None,
            };
        Some(Canonical {
            id,
            description,
            config: EinetConfig {
                num_channels: channels,
                ..EinetConfig::new(k, family)
            },
            step_size: step,
            structure,
        })
    }

    /// Builds the region graph (RAT structures use `seed`).
    pub fn graph(&self, seed: u64) -> Result<RegionGraph, StructureError> {
        match &self.structure {
            Structure::Rat => random_binary_trees(784, 5, 20, seed),
            Structure::Pd { side, delta, axes } => PoonDomingos {
                shape: vec![*side, *side],
                deltas: vec![vec![*delta; 2]],
                axes: axes.clone(),
                max_split_depth: None,
            }
            .build(),
        }
    }
}
