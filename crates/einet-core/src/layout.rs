//! Layering a region graph into a leaf layer followed by alternating einsum and mixing layers
//! as EiNets vectorise them, with compact `u32` gather indices ready for a device.
//!
//! Every vector of densities the network computes is a *node*: one per leaf region, one per
//! partition (product) and one per region with several partitions (its mixture). A region's
//! value is its leaf node, its only product's node, or its mixing node. Nodes are numbered in
//! evaluation order, and node `n` owns `k[n]` entries starting at `k_offset[n]` of a sample's
//! activation vector (backends choose how to lay samples out).

use crate::config::EinetConfig;
use crate::error::ConfigError;
use crate::leaf::LeafFamily;
use crate::region_graph::{RegionGraph, RegionId};

/// Marks a padded component slot of a mixing layer.
pub const NO_NODE: u32 = u32::MAX;

/// The leaf layer: one node per leaf region, with its variables in CSR form.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafLayer {
    /// Vector length of every leaf region.
    pub k: usize,
    /// `var_offsets[n]..var_offsets[n + 1]` indexes `vars` for leaf node `n`.
    pub var_offsets: Vec<u32>,
    /// Variables of each leaf node, concatenated; an *entry* is an index into this list.
    pub vars: Vec<u32>,
    /// Distinct leaf families; `entry_family[e]` indexes it.
    pub families: Vec<LeafFamily>,
    /// Family of each entry.
    pub entry_family: Vec<u16>,
    /// Family of each variable.
    pub var_family: Vec<u16>,
    /// Start of each entry's expectation parameters in the leaf parameter vector; entry `e`
    /// owns `k · channels · num_stats` values laid out `[k][channel][stat]`.
    pub param_offsets: Vec<u32>,
    /// Total length of the leaf parameter vector.
    pub num_params: usize,
}

impl LeafLayer {
    /// Number of leaf nodes.
    pub fn len(&self) -> usize {
        self.var_offsets.len() - 1
    }
    /// Whether the layer has no leaves (never true for a valid layout).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entries (indices into `vars`) of leaf node `n`.
    pub fn entries(&self, n: usize) -> std::ops::Range<usize> {
        self.var_offsets[n] as usize..self.var_offsets[n + 1] as usize
    }
    /// The family of entry `e`.
    pub fn family(&self, e: usize) -> LeafFamily {
        self.families[self.entry_family[e] as usize]
    }
}

/// An einsum layer: every product of one topological layer.
///
/// Product `p` computes `out[o] = log Σ_ij W[o,i,j] e^{left[i]} e^{right[j]}` with its weights at
/// `weight_offsets[p]`, shaped `[k_out][k_left][k_right]` and normalised over `(i, j)`.
#[derive(Clone, Debug, PartialEq)]
pub struct EinsumLayer {
    /// Left child node of each product.
    pub left: Vec<u32>,
    /// Right child node of each product.
    pub right: Vec<u32>,
    /// Output node of each product.
    pub out: Vec<u32>,
    /// Start of each product's weights in the layer's weight vector (plus the total at the end).
    pub weight_offsets: Vec<u32>,
}

/// A mixing layer: element-wise mixtures over the partitions of regions with several.
///
/// Region `m` computes `out[k] = log Σ_c V[m,k,c] e^{component_c[k]}`; weights are laid out
/// `[m][k][max_components]`, zero on padded slots.
#[derive(Clone, Debug, PartialEq)]
pub struct MixingLayer {
    /// Vector length of the mixed regions.
    pub k: usize,
    /// Output node of each mixed region.
    pub out: Vec<u32>,
    /// Component slots per region.
    pub max_components: usize,
    /// `components[m · max_components + c]`: the product node of component `c`, or [`NO_NODE`].
    pub components: Vec<u32>,
    /// Number of valid components of each region.
    pub num_components: Vec<u32>,
}

/// An inner layer, evaluated in order after the leaf layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Products.
    Einsum(EinsumLayer),
    /// Element-wise mixtures of products.
    Mixing(MixingLayer),
}

impl Layer {
    /// Number of weights of this layer.
    pub fn num_weights(&self) -> usize {
        match self {
            Layer::Einsum(l) => *l.weight_offsets.last().unwrap_or(&0) as usize,
            Layer::Mixing(l) => l.out.len() * l.k * l.max_components,
        }
    }
    /// Output nodes of this layer, in order.
    pub fn outputs(&self) -> &[u32] {
        match self {
            Layer::Einsum(l) => &l.out,
            Layer::Mixing(l) => &l.out,
        }
    }
}

/// The complete evaluation plan of an Einsum Network.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Number of variables.
    pub num_vars: usize,
    /// Channels per variable.
    pub num_channels: usize,
    /// Vector length of each node.
    pub k: Vec<u32>,
    /// Start of each node in a sample's activation vector.
    pub k_offset: Vec<u32>,
    /// Length of a sample's activation vector.
    pub activation_len: usize,
    /// The leaf layer (nodes `0..leaf.len()`).
    pub leaf: LeafLayer,
    /// Inner layers in evaluation order.
    pub layers: Vec<Layer>,
    /// The root's node; its vector has one entry per class.
    pub root: u32,
    /// The node holding each region's value.
    pub region_node: Vec<u32>,
}

/// Topological layers of a region graph, bottom-up: `(product layers, sum layers)` with
/// `products[i]` the partitions of the regions in `sums[i]` (Algorithm 1 of the EiNet paper).
pub fn topological_layers(graph: &RegionGraph) -> Vec<(Vec<usize>, Vec<RegionId>)> {
    let regions = graph.regions();
    let parents = graph.parents();
    let mut unplaced_parents: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut layers = Vec::new();
    // A root without partitions is a leaf: there are no inner layers at all.
    let mut sums = vec![graph.root()];
    sums.retain(|&r| !regions[r].is_leaf());
    while !sums.is_empty() {
        sums.sort_by(|&a, &b| (&regions[a].scope, a).cmp(&(&regions[b].scope, b)));
        let mut products: Vec<usize> = sums
            .iter()
            .flat_map(|&r| regions[r].partitions.iter().copied())
            .collect();
        let part_key = |p: usize| (&regions[graph.partitions()[p].parent].scope, p);
        products.sort_by(|&a, &b| part_key(a).cmp(&part_key(b)));
        let mut next = Vec::new();
        for &p in &products {
            for &c in &graph.partitions()[p].children {
                unplaced_parents[c] -= 1;
                if unplaced_parents[c] == 0 && !regions[c].is_leaf() {
                    next.push(c);
                }
            }
        }
        layers.push((products, std::mem::take(&mut sums)));
        sums = next;
    }
    layers.reverse();
    layers
}

impl Layout {
    /// Lays out `graph` for `config`. Any K for leaves, internal regions and the root works
    /// for every structure (a product's children may have different K). A graph without
    /// partitions has a leaf as its root, so it needs `num_classes == k_leaf`.
    pub fn new(graph: &RegionGraph, config: &EinetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let (families, family_of_var) = config.leaves.resolve(graph.num_vars())?;
        let regions = graph.regions();
        let partitions = graph.partitions();
        if regions[graph.root()].is_leaf() && config.num_classes != config.k_leaf {
            return Err(ConfigError::Invalid(format!(
                "the region graph has no partitions, so its root is a leaf with k_leaf = {} \
                 entries; num_classes = {} must equal k_leaf",
                config.k_leaf, config.num_classes
            )));
        }
        let mut k: Vec<u32> = Vec::new();
        let mut region_node = vec![NO_NODE; regions.len()];

        // Leaf layer, in (scope, id) order.
        let mut leaves: Vec<RegionId> = (0..regions.len())
            .filter(|&r| regions[r].is_leaf())
            .collect();
        leaves.sort_by(|&a, &b| (&regions[a].scope, a).cmp(&(&regions[b].scope, b)));
        let mut var_offsets = vec![0u32];
        let mut vars = Vec::new();
        let mut entry_family = Vec::new();
        let mut param_offsets = Vec::new();
        let mut num_params = 0usize;
        for &r in &leaves {
            region_node[r] = k.len() as u32;
            k.push(config.k_leaf as u32);
            for &v in &regions[r].scope {
                let fam = family_of_var[v as usize];
                vars.push(v);
                entry_family.push(fam);
                param_offsets.push(to_u32(num_params)?);
                num_params +=
                    config.k_leaf * config.num_channels * families[fam as usize].num_stats();
            }
            var_offsets.push(vars.len() as u32);
        }
        to_u32(num_params)?;

        let k_of = |r: RegionId| {
            if r == graph.root() {
                config.num_classes
            } else if regions[r].is_leaf() {
                config.k_leaf
            } else {
                config.k_sum
            }
        };
        let mut layers = Vec::new();
        for (products, sums) in topological_layers(graph) {
            let mut einsum = EinsumLayer {
                left: Vec::with_capacity(products.len()),
                right: Vec::with_capacity(products.len()),
                out: Vec::with_capacity(products.len()),
                weight_offsets: vec![0],
            };
            let mut product_node = std::collections::HashMap::new();
            let mut weights = 0usize;
            for &p in &products {
                let part = &partitions[p];
                let &[l, r] = part.children.as_slice() else {
                    return Err(ConfigError::Invalid(format!(
                        "partition {p} has {} children; einsum (Tucker) layers need exactly 2",
                        part.children.len()
                    )));
                };
                let [l, r] = [l, r].map(|c| region_node[c]);
                debug_assert!(l != NO_NODE && r != NO_NODE, "children are evaluated first");
                let k_out = k_of(part.parent);
                // In usize: K ≤ 65536 for each of the three, so the product fits; to_u32 bounds the sum.
                weights += k_out * k[l as usize] as usize * k[r as usize] as usize;
                einsum.left.push(l);
                einsum.right.push(r);
                einsum.out.push(k.len() as u32);
                einsum.weight_offsets.push(to_u32(weights)?);
                product_node.insert(p, k.len() as u32);
                k.push(k_out as u32);
            }
            let mixed: Vec<RegionId> = sums
                .iter()
                .copied()
                .filter(|&r| regions[r].partitions.len() > 1)
                .collect();
            for &r in &sums {
                if regions[r].partitions.len() == 1 {
                    region_node[r] = product_node[&regions[r].partitions[0]];
                }
            }
            layers.push(Layer::Einsum(einsum));
            if !mixed.is_empty() {
                let max_components = mixed
                    .iter()
                    .map(|&r| regions[r].partitions.len())
                    .max()
                    .unwrap_or(0);
                // The root is alone in the top sum layer, so one layer's mixed regions share K.
                let mut mixing = MixingLayer {
                    k: k_of(mixed[0]),
                    out: Vec::new(),
                    max_components,
                    components: Vec::new(),
                    num_components: Vec::new(),
                };
                for r in mixed {
                    let parts = &regions[r].partitions;
                    mixing.out.push(k.len() as u32);
                    region_node[r] = k.len() as u32;
                    k.push(mixing.k as u32);
                    mixing.num_components.push(parts.len() as u32);
                    for c in 0..max_components {
                        mixing
                            .components
                            .push(parts.get(c).map_or(NO_NODE, |p| product_node[p]));
                    }
                }
                layers.push(Layer::Mixing(mixing));
            }
        }
        let mut k_offset = Vec::with_capacity(k.len());
        let mut total = 0usize;
        for &kn in &k {
            k_offset.push(to_u32(total)?);
            total += kn as usize;
        }
        Ok(Layout {
            num_vars: graph.num_vars(),
            num_channels: config.num_channels,
            root: region_node[graph.root()],
            k,
            k_offset,
            activation_len: total,
            leaf: LeafLayer {
                k: config.k_leaf,
                var_offsets,
                vars,
                families,
                entry_family,
                var_family: family_of_var,
                param_offsets,
                num_params,
            },
            layers,
            region_node,
        })
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.k.len()
    }

    /// Values per data row: `num_vars · num_channels`, variable-major.
    pub fn row_len(&self) -> usize {
        self.num_vars * self.num_channels
    }

    /// Number of classes (the root's vector length).
    pub fn num_classes(&self) -> usize {
        self.k[self.root as usize] as usize
    }

    /// Number of sum weights in all layers.
    pub fn num_sum_weights(&self) -> usize {
        self.layers.iter().map(Layer::num_weights).sum()
    }

    /// Floating-point operations per sample of a sum-product forward pass through the inner
    /// layers: `2·K_out·K_l·K_r` per product (the contraction) and `2·K·C` per mixed region.
    pub fn forward_flops_per_sample(&self) -> u64 {
        self.layers
            .iter()
            .map(|layer| match layer {
                Layer::Einsum(l) => (0..l.out.len())
                    .map(|p| 2 * u64::from(l.weight_offsets[p + 1] - l.weight_offsets[p]))
                    .sum::<u64>(),
                Layer::Mixing(l) => {
                    2 * l.num_components.iter().map(|&c| u64::from(c)).sum::<u64>() * l.k as u64
                }
            })
            .sum()
    }

    /// Number of parameters: sum weights plus leaf expectation parameters.
    pub fn num_params(&self) -> usize {
        self.num_sum_weights() + self.leaf.num_params
    }
}

fn to_u32(n: usize) -> Result<u32, ConfigError> {
    u32::try_from(n).map_err(|_| {
        ConfigError::Invalid(format!("model too large: {n} does not fit 32-bit indices"))
    })
}
