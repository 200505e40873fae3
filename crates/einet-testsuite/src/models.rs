//! Small random models for the suite: RAT and Poon–Domingos structures with Tucker layers, RAT
//! and hidden Chow–Liu trees with CP layers, with every leaf family.

use einet_core::layout::Layer;
use einet_core::learn::ChowLiuTree;
use einet_core::region_graph::PoonDomingos;
use einet_core::rng::Rng;
use einet_core::{
    Einet, EinetConfig, LayerKind, LeafFamily, LeafGroup, LeafSpec, hclt, random_binary_trees,
};

/// A small discrete model described by a few numbers (so proptest can shrink it).
#[derive(Clone, Debug)]
pub struct SmallModel {
    /// Tucker layers on 0: RAT, 1: PD on a 2-D grid, 2: PD on a 3-D grid; CP layers on 3:
    /// RAT, 4: a hidden Chow–Liu tree over a random tree (n-ary partitions), 5: a mixture of
    /// two such trees.
    pub structure: u8,
    /// Number of variables (RAT, HCLT) or cells per axis (PD).
    pub size: usize,
    /// RAT depth.
    pub depth: usize,
    /// RAT repetitions.
    pub repetitions: usize,
    /// K of leaves, sums and the root (CP layers use the leaves' K for the sums).
    pub k: [usize; 3],
    /// 0: Bernoulli, 1: Categorical(3), 2: Binomial(2), 3: a mix of all three.
    pub family: u8,
    /// Parameter seed.
    pub seed: u64,
}

impl SmallModel {
    /// Builds the model.
    pub fn build(&self) -> Einet {
        let graph = match self.structure {
            0 | 3 => random_binary_trees(self.size, self.depth, self.repetitions, self.seed),
            1 => PoonDomingos {
                shape: vec![2, self.size],
                deltas: vec![vec![1.0, 1.0]],
                axes: None,
                max_split_depth: None,
            }
            .build(),
            2 => PoonDomingos {
                shape: vec![2, 2, 2],
                deltas: vec![vec![1.0; 3]],
                axes: None,
                max_split_depth: None,
            }
            .build(),
            4 => hclt(&[random_tree(self.size, self.seed)]),
            _ => hclt(&[
                random_tree(self.size, self.seed),
                random_tree(self.size, self.seed + 1),
            ]),
        }
        .expect("valid structure");
        let cp = self.structure >= 3;
        let n = graph.num_vars() as u32;
        let leaves = match self.family {
            0 => LeafSpec::uniform(LeafFamily::Bernoulli),
            1 => LeafSpec::uniform(LeafFamily::Categorical { categories: 3 }),
            2 => LeafSpec::uniform(LeafFamily::Binomial { trials: 2 }),
            _ => LeafSpec {
                default: LeafFamily::Bernoulli,
                groups: vec![
                    LeafGroup {
                        vars: (0..n).filter(|v| v % 3 == 1).collect(),
                        family: LeafFamily::Categorical { categories: 3 },
                    },
                    LeafGroup {
                        vars: (0..n).filter(|v| v % 3 == 2).collect(),
                        family: LeafFamily::Binomial { trials: 2 },
                    },
                ],
            },
        };
        let config = EinetConfig {
            k_leaf: self.k[0],
            k_sum: if cp { self.k[0] } else { self.k[1] },
            num_classes: self.k[2],
            num_channels: 1,
            leaves,
            layer: if cp { LayerKind::Cp } else { LayerKind::Tucker },
        };
        Einet::new(graph, config, self.seed).expect("valid config")
    }

    /// The proptest strategy: models with at most `max_states` joint states.
    pub fn strategy() -> impl proptest::strategy::Strategy<Value = SmallModel> {
        use proptest::prelude::*;
        (
            0u8..6,
            2usize..7,
            1usize..3,
            1usize..4,
            [1usize..4, 1usize..4, 1usize..4],
            0u8..4,
            any::<u64>(),
        )
            .prop_map(|(structure, size, depth, repetitions, k, family, seed)| {
                let size = match structure {
                    0 | 3 => size.max(1 << depth),
                    1 => size.min(3),
                    2 => 2,
                    _ => size,
                };
                SmallModel {
                    structure,
                    size,
                    depth,
                    repetitions,
                    k,
                    family,
                    seed,
                }
            })
    }
}

/// A random tree over `n` variables with labels shuffled, rooted at the first label.
pub fn random_tree(n: usize, seed: u64) -> ChowLiuTree {
    let mut rng = Rng::new(seed, 0x5452_4545); // "TREE"
    let mut labels: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut labels);
    let mut parent = vec![None; n];
    for i in 1..n {
        parent[labels[i]] = Some(labels[rng.below(i as u32) as usize]);
    }
    ChowLiuTree {
        root: labels[0],
        parent,
    }
}

/// Every joint state of a discrete model with one channel, row-major.
pub fn all_states(einet: &Einet) -> Vec<f32> {
    let layout = &einet.layout;
    let sizes: Vec<usize> = (0..layout.num_vars)
        .map(|v| {
            layout.leaf.families[layout.leaf.var_family[v] as usize]
                .support_size()
                .expect("discrete")
        })
        .collect();
    let total: usize = sizes.iter().product();
    let mut out = Vec::with_capacity(total * sizes.len());
    for mut idx in 0..total {
        for &s in &sizes {
            out.push((idx % s) as f32);
            idx /= s;
        }
    }
    out
}

/// A model over the variables and leaves of `einet` on a hidden Chow–Liu tree (a random
/// tree) with CP layers, K = its leaves' K.
pub fn on_cp_hclt(einet: &Einet) -> Einet {
    let graph = hclt(&[random_tree(einet.layout.num_vars, 7)]).expect("valid tree");
    let config = EinetConfig {
        k_sum: einet.config.k_leaf,
        layer: LayerKind::Cp,
        ..einet.config.clone()
    };
    Einet::new(graph, config, 5).expect("valid config")
}

/// A Normal-leaf model over two variables (for quadrature).
pub fn normal_model(seed: u64) -> Einet {
    let graph = random_binary_trees(2, 1, 2, seed).expect("valid");
    let config = EinetConfig {
        k_leaf: 3,
        k_sum: 2,
        num_classes: 1,
        num_channels: 1,
        leaves: LeafSpec::uniform(LeafFamily::Normal {
            min_var: 0.2,
            max_var: 2.0,
        }),
        layer: LayerKind::Tucker,
    };
    Einet::new(graph, config, seed).expect("valid")
}

/// Models whose live sum outputs lie ~90 nats below an input of zero weight (e^{90}
/// overflows f32), with rows near 0; their leaves are N(0, 1) but for the entries named
/// below, N(13.4, 1) (~90 nats less likely at 0).
///
/// - "CP chain": three variables on a hidden Chow–Liu chain 0 → 1 → 2 with CP layers (K 3,
///   1 class), variable 2's entries 1 and 2 far. The sum over {1, 2} has outputs 0 and 2 on
///   its inputs 1 and 2 only (~90 nats below input 0) and output 1 on input 0 only; the root
///   sum puts zero weight on product entry 1, so output 1 has no gradient while its input
///   lies ~90 nats above the others.
/// - "Tucker pair": two variables, one einsum product of their leaves (K 3, 1 class), every
///   entry but 0 far; the product's weight on the leaves' entries (0, 0) is zero.
pub fn far_apart_outputs() -> Vec<(&'static str, Einet, Vec<f32>)> {
    let config = |layer| EinetConfig {
        k_leaf: 3,
        k_sum: 3,
        num_classes: 1,
        num_channels: 1,
        leaves: LeafSpec::uniform(LeafFamily::Normal {
            min_var: 0.2,
            max_var: 2.0,
        }),
        layer,
    };
    let chain = ChowLiuTree {
        root: 0,
        parent: vec![None, Some(0), Some(1)],
    };
    let mut cp = Einet::new(
        hclt(&[chain]).expect("valid tree"),
        config(LayerKind::Cp),
        0,
    )
    .expect("valid");
    far_leaves(&mut cp, |v| v == 2);
    for (layer, weights) in cp.layout.layers.iter().zip(&mut cp.params.layers) {
        let Layer::Sum(sum) = layer else { continue };
        for m in 0..sum.out.len() {
            let w = &mut weights[sum.weights(m)];
            let rows: &[[f32; 3]] = match w.len() {
                3 => &[[0.6, 0.0, 0.4]],
                9 => &[[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.3, 0.7]],
                n => panic!("a sum of {n} weights"),
            };
            w.copy_from_slice(rows.as_flattened());
        }
    }
    let pair = random_binary_trees(2, 1, 1, 0).expect("valid");
    let mut tucker = Einet::new(pair, config(LayerKind::Tucker), 0).expect("valid");
    far_leaves(&mut tucker, |_| true);
    let [Layer::Einsum(_)] = tucker.layout.layers.as_slice() else {
        panic!("one einsum layer")
    };
    tucker.params.layers[0][0] = 0.0;
    vec![
        (
            "CP chain",
            cp,
            vec![
                0.1, -0.2, 0.05, 0.0, 0.3, -0.1, -0.1, 0.05, 0.2, 0.2, 0.0, -0.3,
            ],
        ),
        (
            "Tucker pair",
            tucker,
            vec![0.1, -0.2, 0.0, 0.3, -0.1, 0.05, 0.2, 0.0],
        ),
    ]
}

/// Moves the leaf entries k > 0 of the variables `far` picks to N(13.4, 1), the others to
/// N(0, 1) (expectation parameters E[x], E[x²]).
fn far_leaves(einet: &mut Einet, far: impl Fn(u32) -> bool) {
    let leaf = &einet.layout.leaf;
    for e in 0..leaf.entry_family.len() {
        for k in 0..leaf.k {
            let mu = if far(leaf.vars[e]) && k > 0 {
                13.4f32
            } else {
                0.0
            };
            let at = leaf.param_offsets[e] as usize + 2 * k;
            einet.params.leaf[at..at + 2].copy_from_slice(&[mu, mu * mu + 1.0]);
        }
    }
}
