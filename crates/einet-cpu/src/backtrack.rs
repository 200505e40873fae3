//! Top-down backtracking for sampling and MPE.
//!
//! Each row walks from the root: at an einsum product it picks a pair `(i, j)`, at a mixing
//! node a component, at a CP sum an input and its entry `(c, i)` (a CP product passes its
//! entry on to every child, first child first), with scores `log W + log(children's values)` taken from a forward pass over the
//! evidence (no forward pass without evidence: the children's values are then all 1). It
//! samples from the scores or takes their arg-max; at the leaves it samples or takes the mode
//! of each chosen factor for the missing channels and keeps the observed ones. Every row has
//! its own Philox stream, so results do not depend on batch split or threads.

use einet_core::Params;
use einet_core::layout::{Layer, Layout};
use einet_core::rng::Rng;
use rayon::prelude::*;

use crate::leaf_table::LeafTable;

/// What a node of the layout is.
#[derive(Clone, Copy, Debug)]
pub enum NodeKind {
    /// Leaf node `n`.
    Leaf(usize),
    /// Product `p` of inner layer `layer`.
    Product { layer: usize, p: usize },
    /// Mixed region `m` of inner layer `layer`.
    Mixing { layer: usize, m: usize },
    /// CP product `p` of inner layer `layer`.
    CpProduct { layer: usize, p: usize },
    /// CP sum `m` of inner layer `layer`.
    Sum { layer: usize, m: usize },
}

/// The kind of every node.
pub fn node_kinds(layout: &Layout) -> Vec<NodeKind> {
    let mut kinds: Vec<NodeKind> = (0..layout.leaf.len()).map(NodeKind::Leaf).collect();
    for (i, layer) in layout.layers.iter().enumerate() {
        kinds.extend((0..layer.outputs().len()).map(|j| match layer {
            Layer::Einsum(_) => NodeKind::Product { layer: i, p: j },
            Layer::Mixing(_) => NodeKind::Mixing { layer: i, m: j },
            Layer::Product(_) => NodeKind::CpProduct { layer: i, p: j },
            Layer::Sum(_) => NodeKind::Sum { layer: i, m: j },
        }));
    }
    kinds
}

/// How choices are made.
#[derive(Clone, Copy, Debug)]
pub enum Choice {
    /// Draw from the posterior scores, with this seed and Normal `std_correction`.
    Sample { seed: u64, std_correction: f32 },
    /// Take the arg-max.
    Argmax,
}

/// Inputs of one backtracking pass.
pub struct Backtrack<'a> {
    pub layout: &'a Layout,
    pub params: &'a Params,
    pub table: &'a LeafTable,
    pub kinds: &'a [NodeKind],
    /// Forward values of the evidence rows (node-major), if any.
    pub act: Option<&'a [f32]>,
    pub choice: Choice,
}

impl Backtrack<'_> {
    /// Fills `out` (rows × vars × channels, observed values already in place, NaN where
    /// missing); `class` fixes the root output, else it is chosen from the root's scores.
    pub fn run(&self, out: &mut [f32], rows: usize, class: Option<usize>, first_row: u64) {
        let width = self.layout.row_len();
        // Each worker reuses one stack and one score buffer for all its rows.
        let scratch = || (Vec::new(), Vec::new());
        out.par_chunks_mut(width).enumerate().for_each_init(
            scratch,
            |(stack, scores), (b, row)| {
                let mut rng = match self.choice {
                    Choice::Sample { seed, .. } => Rng::new(seed, first_row + b as u64),
                    Choice::Argmax => Rng::new(0, 0),
                };
                self.row(b, rows, row, class, &mut rng, stack, scores);
            },
        );
    }

    fn value(&self, rows: usize, b: usize, node: u32, k: usize) -> f32 {
        self.act.map_or(0.0, |act| {
            let n = node as usize;
            act[rows * self.layout.k_offset[n] as usize + b * self.layout.k[n] as usize + k]
        })
    }

    fn pick(&self, scores: &[f32], rng: &mut Rng) -> usize {
        let mx = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        match self.choice {
            Choice::Argmax => scores.iter().position(|&s| s == mx).unwrap_or(0),
            Choice::Sample { .. } => {
                if mx == f32::NEG_INFINITY {
                    return 0;
                }
                let total: f32 = scores.iter().map(|s| (s - mx).exp()).sum();
                let mut u = rng.uniform() * total;
                for (i, s) in scores.iter().enumerate() {
                    u -= (s - mx).exp();
                    if u <= 0.0 {
                        return i;
                    }
                }
                scores
                    .iter()
                    .rposition(|&s| s > f32::NEG_INFINITY)
                    .unwrap_or(0)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        b: usize,
        rows: usize,
        row: &mut [f32],
        class: Option<usize>,
        rng: &mut Rng,
        stack: &mut Vec<(u32, usize)>,
        scores: &mut Vec<f32>,
    ) {
        let layout = self.layout;
        let root = layout.root;
        let classes = layout.num_classes();
        let class = class.unwrap_or_else(|| {
            let scores: Vec<f32> = (0..classes).map(|c| self.value(rows, b, root, c)).collect();
            self.pick(&scores, rng)
        });
        stack.clear();
        stack.push((root, class));
        while let Some((node, k)) = stack.pop() {
            match self.kinds[node as usize] {
                NodeKind::Leaf(n) => self.leaf(n, k, row, rng),
                NodeKind::Product { layer, p } => {
                    let Layer::Einsum(l) = &layout.layers[layer] else {
                        unreachable!()
                    };
                    let (left, right) = (l.left[p], l.right[p]);
                    let (kl, kr) = (
                        layout.k[left as usize] as usize,
                        layout.k[right as usize] as usize,
                    );
                    let w =
                        &self.params.layers[layer][l.weight_offsets[p] as usize + k * kl * kr..];
                    scores.clear();
                    for i in 0..kl {
                        let vl = self.value(rows, b, left, i);
                        for j in 0..kr {
                            scores.push(w[i * kr + j].ln() + vl + self.value(rows, b, right, j));
                        }
                    }
                    let ij = self.pick(scores, rng);
                    stack.push((right, ij % kr));
                    stack.push((left, ij / kr));
                }
                NodeKind::Mixing { layer, m } => {
                    let Layer::Mixing(l) = &layout.layers[layer] else {
                        unreachable!()
                    };
                    let cmax = l.max_components;
                    let comps = &l.components[m * cmax..m * cmax + l.num_components[m] as usize];
                    let v = &self.params.layers[layer][(m * l.k + k) * cmax..];
                    scores.clear();
                    scores.extend(
                        comps
                            .iter()
                            .enumerate()
                            .map(|(c, &node)| v[c].ln() + self.value(rows, b, node, k)),
                    );
                    let c = self.pick(scores, rng);
                    stack.push((comps[c], k));
                }
                NodeKind::CpProduct { layer, p } => {
                    let Layer::Product(l) = &layout.layers[layer] else {
                        unreachable!()
                    };
                    stack.extend(l.children(p).iter().rev().map(|&c| (c, k)));
                }
                NodeKind::Sum { layer, m } => {
                    let Layer::Sum(l) = &layout.layers[layer] else {
                        unreachable!()
                    };
                    let inputs = l.inputs(m);
                    let w = &self.params.layers[layer][l.weights(m)];
                    let width = w.len() / layout.k[node as usize] as usize;
                    let w = &w[k * width..(k + 1) * width];
                    scores.clear();
                    for &c in inputs {
                        let kc = layout.k[c as usize] as usize;
                        let at = scores.len();
                        scores.extend((0..kc).map(|i| w[at + i].ln() + self.value(rows, b, c, i)));
                    }
                    let mut j = self.pick(scores, rng);
                    for &c in inputs {
                        let kc = layout.k[c as usize] as usize;
                        if j < kc {
                            stack.push((c, j));
                            break;
                        }
                        j -= kc;
                    }
                }
            }
        }
    }

    fn leaf(&self, n: usize, k: usize, row: &mut [f32], rng: &mut Rng) {
        let leaf = &self.layout.leaf;
        let d = self.layout.num_channels;
        for e in leaf.entries(n) {
            let family = leaf.family(e);
            let s = family.num_stats();
            let v = leaf.vars[e] as usize;
            for c in 0..d {
                if !row[v * d + c].is_nan() {
                    continue;
                }
                let at = leaf.param_offsets[e] as usize + (k * d + c) * s;
                row[v * d + c] = match self.choice {
                    Choice::Sample { std_correction, .. } => {
                        family.sample(&self.params.leaf[at..at + s], rng, std_correction)
                    }
                    Choice::Argmax => self.table.argmax(e, c, k),
                };
            }
        }
    }
}
