//! The canonical benchmark configurations (A1 … C3, tabulated in `docs/performance.md`): the same
//! structures, K, leaf families, EM steps and batch sizes as the reference measurements, so
//! that einet and the reference can be run side by side; and P1 … P4: PyJuice's own models of
//! its measurements (`perf-anchors.md`) with CP layers — RAT_SPN with K 20 and 32 (P1, P2; a
//! `K × K` sum over every leaf region, as PyJuice builds them; edge counts equal PyJuice's),
//! Poon–Domingos 28×28 (P3) and the hidden Chow–Liu tree of MNIST (P4; the tree ships with the
//! crate, learned once from the MNIST training images). The single source of these
//! configurations for the CLI (`einet bench`) and the criterion benchmarks.

use crate::config::{EinetConfig, LayerKind};
use crate::em::{MStep, StepwiseRule};
use crate::error::StructureError;
use crate::leaf::LeafFamily;
use crate::learn::ChowLiuTree;
use crate::model::Einet;
use crate::region_graph::{PoonDomingos, RegionGraph, hclt, random_binary_trees};
use crate::rng::Rng;

mod tree_file;

pub use tree_file::{MNIST_TREE_PATH, mnist_chow_liu_tree, write_tree};

/// One canonical configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Canonical {
    /// Its id, e.g. `A1`.
    pub id: &'static str,
    /// A one-line description.
    pub description: &'static str,
    /// The structure in words, e.g. `Poon-Domingos 28x28, delta 7`.
    pub structure: &'static str,
    /// Model configuration (K, channels, leaf family).
    pub config: EinetConfig,
    /// Stepwise EM step size used when benchmarking training.
    pub step_size: f32,
    /// Rows per batch of the reference measurement.
    pub reference_batch: usize,
    /// Number of parameters of the reference EiNet's model (A–C).
    pub reference_params: Option<u64>,
    /// Edges of PyJuice's model in millions, as PyJuice reports them (P).
    pub reference_edges_millions: Option<f64>,
    shape: Shape,
}

#[derive(Clone, Debug, PartialEq)]
enum Shape {
    /// Random binary trees over 784 variables, depth 5, 20 repetitions.
    Rat,
    /// The same with a sum over every leaf region (PyJuice's RAT_SPN, for CP layers).
    RatLeafSums,
    Pd {
        side: usize,
        delta: f64,
        axes: Option<Vec<usize>>,
        leaf_sums: bool,
    },
    /// The hidden Chow–Liu tree of the shipped MNIST tree.
    MnistHclt,
}

/// The ids of all canonical configurations, in order.
pub const CANONICAL_IDS: [&str; 12] = [
    "A1", "A2", "B1", "B2", "B3", "C1", "C2", "C3", "P1", "P2", "P3", "P4",
];

impl Canonical {
    /// The configuration with this id (case-insensitive), if any.
    pub fn get(id: &str) -> Option<Canonical> {
        let normal = LeafFamily::PIXEL_NORMAL;
        const RAT: &str = "random binary trees, 784 vars, depth 5, 20 repetitions";
        let pd = |side, delta, axes| Shape::Pd {
            side,
            delta,
            axes,
            leaf_sums: false,
        };
        #[rustfmt::skip]
        let (id, description, structure, shape, family, k, channels, step, batch, params) =
            match id.to_ascii_uppercase().as_str() {
                "A1" => ("A1", "RAT 784 vars, depth 5, 20 reps, Categorical(2), K 20",
                    RAT, Shape::Rat, LeafFamily::Categorical { categories: 2 },
                    20, 1, 0.05, 1000, 5_435_220),
                "A2" => ("A2", "RAT 784 vars, depth 5, 20 reps, Bernoulli, K 20",
                    RAT, Shape::Rat, LeafFamily::Bernoulli,
                    20, 1, 0.05, 1000, 5_121_620),
                "B1" => ("B1", "PD 28x28, delta 7, Binomial(255), K 10",
                    "Poon-Domingos 28x28, delta 7", pd(28, 7.0, None),
                    LeafFamily::Binomial { trials: 255 },
                    10, 1, 0.05, 100, 204_146),
                "B2" => ("B2", "PD 28x28, delta 7, Categorical(256), K 10",
                    "Poon-Domingos 28x28, delta 7", pd(28, 7.0, None),
                    LeafFamily::Categorical { categories: 256 },
                    10, 1, 0.05, 100, 2_203_346),
                "B3" => ("B3", "PD 28x28, delta 4, Binomial(255), K 10",
                    "Poon-Domingos 28x28, delta 4", pd(28, 4.0, None),
                    LeafFamily::Binomial { trials: 255 },
                    10, 1, 0.05, 1000, 3_163_452),
                "C1" => ("C1", "PD 32x32 axis 1, delta 8, 3 channels, Normal, K 40",
                    "Poon-Domingos 32x32, axis 1 only, delta 8, 3 channels",
                    pd(32, 8.0, Some(vec![1])), normal,
                    40, 3, 0.5, 100, 698_723),
                "C2" => ("C2", "PD 32x32, delta 8, 3 channels, Normal, K 40",
                    "Poon-Domingos 32x32, delta 8, 3 channels", pd(32, 8.0, None), normal,
                    40, 3, 0.5, 100, 12_678_166),
                "C3" => ("C3", "PD 32x32, delta 4, 3 channels, Normal, K 40",
                    "Poon-Domingos 32x32, delta 4, 3 channels", pd(32, 4.0, None), normal,
                    40, 3, 0.5, 1000, 386_681_054),
                "P1" | "P2" => return Some(Canonical::pyjuice_rat(id)),
                "P3" | "P4" => return Some(Canonical::pyjuice_images(id)),
                _ => return None,
            };
        Some(Canonical {
            id,
            description,
            structure,
            config: EinetConfig {
                num_channels: channels,
                ..EinetConfig::new(k, family)
            },
            step_size: step,
            reference_batch: batch,
            reference_params: Some(params),
            reference_edges_millions: None,
            shape,
        })
    }

    /// P1 (K 20) and P2 (K 32): PyJuice's RAT_SPN of its measurements, CP layers.
    fn pyjuice_rat(id: &str) -> Canonical {
        let (id, description, k, edges) = if id.eq_ignore_ascii_case("P1") {
            (
                "P1",
                "RAT 784 vars, depth 5, 20 reps, CP, Categorical(2), K 20 (PyJuice)",
                20,
                0.83,
            )
        } else {
            (
                "P2",
                "RAT 784 vars, depth 5, 20 reps, CP, Categorical(2), K 32 (PyJuice)",
                32,
                1.81,
            )
        };
        Canonical {
            id,
            description,
            structure: "random binary trees, 784 vars, depth 5, 20 repetitions, a sum over \
                        every leaf region, CP layers",
            config: EinetConfig {
                layer: LayerKind::Cp,
                ..EinetConfig::new(k, LeafFamily::Categorical { categories: 2 })
            },
            step_size: 0.05,
            reference_batch: 1000,
            reference_params: None,
            reference_edges_millions: Some(edges),
            shape: Shape::RatLeafSums,
        }
    }

    /// P3: PyJuice's PD 28×28 (split interval 4, every partition, a sum over every leaf
    /// region) and P4: PyJuice's HCLT of MNIST; both CP, K 32, Categorical(256), batch 512.
    fn pyjuice_images(id: &str) -> Canonical {
        let p3 = id.eq_ignore_ascii_case("P3");
        let (id, description, structure, shape, edges) = if p3 {
            (
                "P3",
                "PD 28x28, delta 4, CP, Categorical(256), K 32 (PyJuice)",
                "Poon-Domingos 28x28, delta 4, a sum over every leaf region, CP layers",
                Shape::Pd {
                    side: 28,
                    delta: 4.0,
                    axes: None,
                    leaf_sums: true,
                },
                3.27,
            )
        } else {
            (
                "P4",
                "HCLT of MNIST, 784 vars, CP, Categorical(256), K 32 (PyJuice)",
                "hidden Chow-Liu tree of the MNIST training images (shipped), CP layers",
                Shape::MnistHclt,
                0.62,
            )
        };
        Canonical {
            id,
            description,
            structure,
            config: EinetConfig {
                layer: LayerKind::Cp,
                ..EinetConfig::new(32, LeafFamily::Categorical { categories: 256 })
            },
            step_size: 0.05,
            reference_batch: 512,
            reference_params: None,
            reference_edges_millions: Some(edges),
            shape,
        }
    }

    /// All canonical configurations, in the order of [`CANONICAL_IDS`].
    pub fn all() -> Vec<Canonical> {
        CANONICAL_IDS
            .iter()
            .map(|id| Canonical::get(id).expect("every canonical id is defined"))
            .collect()
    }

    /// The stepwise M-step used when benchmarking training: [`Canonical::step_size`] with the
    /// reference's rule (like for like with its timings; the statistics rule costs the same)
    /// and no pseudocount.
    pub fn m_step(&self) -> MStep {
        MStep {
            step_size: self.step_size,
            rule: StepwiseRule::Parameters,
            pseudocount: 0.0,
            regularisation: Default::default(),
        }
    }

    /// Builds the region graph (RAT structures use `seed`).
    pub fn graph(&self, seed: u64) -> Result<RegionGraph, StructureError> {
        match &self.shape {
            Shape::Rat => random_binary_trees(784, 5, 20, seed),
            Shape::RatLeafSums => Ok(random_binary_trees(784, 5, 20, seed)?.with_leaf_sums()),
            Shape::Pd {
                side,
                delta,
                axes,
                leaf_sums,
            } => {
                let graph = PoonDomingos {
                    shape: vec![*side, *side],
                    deltas: vec![vec![*delta; 2]],
                    axes: axes.clone(),
                    max_split_depth: None,
                }
                .build()?;
                Ok(if *leaf_sums {
                    graph.with_leaf_sums()
                } else {
                    graph
                })
            }
            Shape::MnistHclt => hclt(&[mnist_chow_liu_tree()]),
        }
    }

    /// The learned tree of the structure, for learned structures.
    pub fn tree(&self) -> Option<ChowLiuTree> {
        (self.shape == Shape::MnistHclt).then(mnist_chow_liu_tree)
    }
}

/// `rows` seeded random rows valid for `einet`'s leaf families: uniform `[0, 1)` for Normal
/// leaves, a uniform category (0/1, 0..=255, …) for discrete ones.
pub fn random_rows(einet: &Einet, rows: usize, seed: u64) -> Vec<f32> {
    let layout = &einet.layout;
    let d = layout.num_channels;
    let mut rng = Rng::new(seed, 0);
    (0..rows * layout.num_vars * d)
        .map(|i| {
            let v = i / d % layout.num_vars;
            match layout.leaf.families[layout.leaf.var_family[v] as usize] {
                LeafFamily::Normal { .. } => rng.uniform(),
                family => rng.below(family.support_size().expect("discrete") as u32) as f32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_case_insensitive() {
        let all = Canonical::all();
        assert_eq!(all.len(), CANONICAL_IDS.len());
        for (c, id) in all.iter().zip(CANONICAL_IDS) {
            assert_eq!(c.id, id);
            assert_eq!(Canonical::get(&id.to_lowercase()).as_ref(), Some(c));
        }
        assert!(Canonical::get("Z9").is_none());
    }

    #[test]
    fn the_m_step_is_a_valid_stepwise_step_of_the_canonical_size() {
        for c in Canonical::all() {
            let step = c.m_step();
            assert_eq!(step.step_size, c.step_size);
            assert_eq!(step.rule, StepwiseRule::Parameters);
            assert_eq!(step.pseudocount, 0.0);
            step.check().unwrap();
        }
    }

    #[test]
    fn pyjuice_rat_models_have_pyjuices_edge_counts() {
        use crate::layout::Layout;
        for id in ["P1", "P2"] {
            let c = Canonical::get(id).unwrap();
            let layout = Layout::new(&c.graph(0).unwrap(), &c.config).unwrap();
            let millions = (layout.num_edges() as f64 / 1e4).round() / 100.0;
            assert_eq!(Some(millions), c.reference_edges_millions, "{id}");
        }
    }

    #[test]
    fn pyjuice_image_models_count_edges_by_pyjuices_rules() {
        use crate::layout::Layout;
        let edges = |id| {
            let c = Canonical::get(id).unwrap();
            Layout::new(&c.graph(0).unwrap(), &c.config)
                .unwrap()
                .num_edges()
        };
        // PD 28×28, interval 4: 784 regions, 49 leaf regions of 16 pixels, 3,136 partitions;
        // sums 32·32 per partition of the 734 inner regions (3,198,976), products 2·32 per
        // partition (200,704), the root's 32 per partition (384), per leaf region a product
        // of 16·32 and a 32×32 sum (49 · 1,536).
        assert_eq!(edges("P3"), 3_198_976 + 200_704 + 384 + 49 * 1_536);
        // HCLT: a 32×32 sum and a product of (children + 1)·32 at every tree node with children
        // (the root's sum has one output).
        let tree = Canonical::get("P4").unwrap().tree().unwrap();
        let children = tree.children();
        let inner: Vec<usize> = (0..784).filter(|&v| !children[v].is_empty()).collect();
        let expected: usize = inner
            .iter()
            .map(|&v| {
                let sum = if v == tree.root { 32 } else { 32 * 32 };
                sum + (children[v].len() + 1) * 32
            })
            .sum();
        assert_eq!(edges("P4"), expected);
    }

    #[test]
    fn random_rows_fit_the_leaf_families() {
        let c = Canonical::get("B1").unwrap();
        let einet = Einet::new(c.graph(0).unwrap(), c.config.clone(), 0).unwrap();
        let rows = random_rows(&einet, 3, 7);
        assert_eq!(rows.len(), 3 * 784);
        assert!(
            rows.iter()
                .all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v))
        );
        assert_eq!(rows, random_rows(&einet, 3, 7));
        assert_ne!(rows, random_rows(&einet, 3, 8));
    }
}
