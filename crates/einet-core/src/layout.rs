//! Layering a region graph into a leaf layer followed by inner layers, with compact `u32`
//! gather indices ready for a device: alternating einsum and mixing layers as EiNets vectorise
//! them ([`LayerKind::Tucker`]), or alternating CP product and dense sum layers
//! ([`LayerKind::Cp`]).
//!
//! Every vector of densities the network computes is a *node*. Tucker: one per leaf region,
//! one per partition (product) and one per region with several partitions (its mixture); a
//! region's value is its leaf node, its only product's node, or its mixing node. CP: one per
//! leaf region, one per partition with several children (a partition with one child is that
//! child) and one per inner region (its sum). Nodes are numbered in
//! evaluation order, and node `n` owns `k[n]` entries starting at `k_offset[n]` of a sample's
//! activation vector (backends choose how to lay samples out).

use crate::config::{EinetConfig, LayerKind};
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

/// A CP product layer: product `p` adds its children's log-vectors element-wise (multiplies
/// their densities), `out[k] = Σ_c child_c[k]`; every child has the product's K. No weights.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductLayer {
    /// Output node of each product.
    pub out: Vec<u32>,
    /// `child_offsets[p]..child_offsets[p + 1]` indexes `children` for product `p`.
    pub child_offsets: Vec<u32>,
    /// Child nodes of every product, concatenated.
    pub children: Vec<u32>,
}

impl ProductLayer {
    /// The child nodes of product `p`.
    pub fn children(&self, p: usize) -> &[u32] {
        &self.children[self.child_offsets[p] as usize..self.child_offsets[p + 1] as usize]
    }
}

/// A dense sum layer (CP): node `m` computes `out[o] = log Σ_c Σ_i W[o,c,i] e^{input_c[i]}`
/// over the concatenated vectors of its inputs (the products of its region's partitions),
/// with weights `[k_out][Σ_c K_c]` starting at `weight_offsets[m]`, normalised over `(c, i)`
/// for each `o`: one `K_out × K_in` matrix for one input, a mixture of several otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct SumLayer {
    /// Output node of each sum.
    pub out: Vec<u32>,
    /// `input_offsets[m]..input_offsets[m + 1]` indexes `inputs` for sum `m`.
    pub input_offsets: Vec<u32>,
    /// Input nodes of every sum, concatenated.
    pub inputs: Vec<u32>,
    /// Start of each sum's weights in the layer's weight vector (plus the total at the end).
    pub weight_offsets: Vec<u32>,
}

impl SumLayer {
    /// The input nodes of sum `m`.
    pub fn inputs(&self, m: usize) -> &[u32] {
        &self.inputs[self.input_offsets[m] as usize..self.input_offsets[m + 1] as usize]
    }

    /// The weights of sum `m` in the layer's weight vector.
    pub fn weights(&self, m: usize) -> std::ops::Range<usize> {
        self.weight_offsets[m] as usize..self.weight_offsets[m + 1] as usize
    }
}

/// An inner layer, evaluated in order after the leaf layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Tucker products (outer product and contraction).
    Einsum(EinsumLayer),
    /// Element-wise mixtures of Tucker products.
    Mixing(MixingLayer),
    /// CP products (element-wise).
    Product(ProductLayer),
    /// Dense CP sums.
    Sum(SumLayer),
}

impl Layer {
    /// Number of weights of this layer.
    pub fn num_weights(&self) -> usize {
        match self {
            Layer::Einsum(l) => *l.weight_offsets.last().unwrap_or(&0) as usize,
            Layer::Mixing(l) => l.out.len() * l.k * l.max_components,
            Layer::Product(_) => 0,
            Layer::Sum(l) => *l.weight_offsets.last().unwrap_or(&0) as usize,
        }
    }
    /// Output nodes of this layer, in order.
    pub fn outputs(&self) -> &[u32] {
        match self {
            Layer::Einsum(l) => &l.out,
            Layer::Mixing(l) => &l.out,
            Layer::Product(l) => &l.out,
            Layer::Sum(l) => &l.out,
        }
    }
    /// The layer's name: `einsum`, `mixing`, `product` or `sum`.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Einsum(_) => "einsum",
            Layer::Mixing(_) => "mixing",
            Layer::Product(_) => "product",
            Layer::Sum(_) => "sum",
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
    /// Lays out `graph` for `config`. Tucker layers need binary partitions and take any K for
    /// leaves, internal regions and the root (a product's children may have different K); CP
    /// layers take partitions with any number of children and one K for leaves and internal
    /// regions. A graph without partitions has a leaf as its root, so it needs
    /// `num_classes == k_leaf`.
    pub fn new(graph: &RegionGraph, config: &EinetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let (families, family_of_var) = config.leaves.resolve(graph.num_vars())?;
        let regions = graph.regions();
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
        let mut nodes = Nodes { k, region_node };
        let layers = match config.layer {
            LayerKind::Tucker => tucker_layers(graph, &k_of, &mut nodes)?,
            LayerKind::Cp => cp_layers(graph, &k_of, &mut nodes)?,
        };
        let Nodes { k, region_node } = nodes;
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
    /// layers: `2·K_out·K_l·K_r` per Tucker product (the contraction), `2·K·C` per mixed
    /// region, `K·(children − 1)` per CP product and `2·K_out·Σ K_in` per CP sum.
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
                Layer::Product(l) => (0..l.out.len())
                    .map(|p| {
                        let k = u64::from(self.k[l.out[p] as usize]);
                        k * (l.children(p).len() as u64 - 1)
                    })
                    .sum::<u64>(),
                Layer::Sum(l) => 2 * u64::from(*l.weight_offsets.last().unwrap_or(&0)),
            })
            .sum()
    }

    /// Edges of the circuit, as PyJuice counts them: one per sum weight (an input entry of a
    /// sum node); for CP products one per child of each of the product's K entries; for a leaf
    /// over several variables (a product of per-variable input distributions) one per
    /// variable of each of its K entries. Tucker products count their `K_out·K_l·K_r` weights.
    pub fn num_edges(&self) -> usize {
        let leaf_products: usize = (0..self.leaf.len())
            .map(|n| self.leaf.entries(n).len())
            .filter(|&vars| vars > 1)
            .map(|vars| vars * self.leaf.k)
            .sum();
        leaf_products
            + self
                .layers
                .iter()
                .map(|layer| match layer {
                    Layer::Product(l) => (0..l.out.len())
                        .map(|p| l.children(p).len() * self.k[l.out[p] as usize] as usize)
                        .sum(),
                    other => other.num_weights(),
                })
                .sum::<usize>()
    }

    /// Number of parameters: sum weights plus leaf expectation parameters.
    pub fn num_params(&self) -> usize {
        self.num_sum_weights() + self.leaf.num_params
    }
}

/// The nodes made so far: the K of each, and the node holding each region's value.
struct Nodes {
    k: Vec<u32>,
    region_node: Vec<u32>,
}

impl Nodes {
    /// A new node with vector length `k`.
    fn push(&mut self, k: usize) -> u32 {
        self.k.push(k as u32);
        (self.k.len() - 1) as u32
    }
}

/// Einsum and mixing layers (EiNet's), for a graph of binary partitions.
fn tucker_layers(
    graph: &RegionGraph,
    k_of: &dyn Fn(RegionId) -> usize,
    nodes: &mut Nodes,
) -> Result<Vec<Layer>, ConfigError> {
    let regions = graph.regions();
    let partitions = graph.partitions();
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
            let [l, r] = [l, r].map(|c| nodes.region_node[c]);
            debug_assert!(l != NO_NODE && r != NO_NODE, "children are evaluated first");
            let k_out = k_of(part.parent);
            // In usize: K ≤ 65536 for each of the three, so the product fits; to_u32 bounds the sum.
            weights += k_out * nodes.k[l as usize] as usize * nodes.k[r as usize] as usize;
            einsum.left.push(l);
            einsum.right.push(r);
            einsum.out.push(nodes.k.len() as u32);
            einsum.weight_offsets.push(to_u32(weights)?);
            product_node.insert(p, nodes.k.len() as u32);
            nodes.k.push(k_out as u32);
        }
        let mixed: Vec<RegionId> = sums
            .iter()
            .copied()
            .filter(|&r| regions[r].partitions.len() > 1)
            .collect();
        for &r in &sums {
            if regions[r].partitions.len() == 1 {
                nodes.region_node[r] = product_node[&regions[r].partitions[0]];
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
                mixing.out.push(nodes.k.len() as u32);
                nodes.region_node[r] = nodes.k.len() as u32;
                nodes.k.push(mixing.k as u32);
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
    Ok(layers)
}

/// CP product and dense sum layers, for partitions with any number of children.
fn cp_layers(
    graph: &RegionGraph,
    k_of: &dyn Fn(RegionId) -> usize,
    nodes: &mut Nodes,
) -> Result<Vec<Layer>, ConfigError> {
    let regions = graph.regions();
    let partitions = graph.partitions();
    let mut layers = Vec::new();
    for (products, sums) in topological_layers(graph) {
        let mut product = ProductLayer {
            out: Vec::new(),
            child_offsets: vec![0],
            children: Vec::new(),
        };
        let mut product_node = std::collections::HashMap::new();
        for &p in &products {
            let children: Vec<u32> = partitions[p]
                .children
                .iter()
                .map(|&c| nodes.region_node[c])
                .collect();
            debug_assert!(
                children.iter().all(|&c| c != NO_NODE),
                "children come first"
            );
            // A single child needs no product: the sum reads it directly.
            if let [only] = children[..] {
                product_node.insert(p, only);
                continue;
            }
            let k = nodes.k[children[0] as usize];
            if let Some(&c) = children.iter().find(|&&c| nodes.k[c as usize] != k) {
                return Err(ConfigError::Invalid(format!(
                    "partition {p} multiplies vectors of {k} and {} entries; CP products need \
                     children of one K",
                    nodes.k[c as usize]
                )));
            }
            let out = nodes.push(k as usize);
            product.out.push(out);
            product.children.extend(&children);
            product.child_offsets.push(to_u32(product.children.len())?);
            product_node.insert(p, out);
        }
        if !product.out.is_empty() {
            layers.push(Layer::Product(product));
        }
        let mut sum = SumLayer {
            out: Vec::with_capacity(sums.len()),
            input_offsets: vec![0],
            inputs: Vec::new(),
            weight_offsets: vec![0],
        };
        let mut weights = 0usize;
        for &r in &sums {
            let k_out = k_of(r);
            let inputs: Vec<u32> = regions[r]
                .partitions
                .iter()
                .map(|p| product_node[p])
                .collect();
            let width: usize = inputs.iter().map(|&n| nodes.k[n as usize] as usize).sum();
            weights += k_out * width;
            let out = nodes.push(k_out);
            nodes.region_node[r] = out;
            sum.out.push(out);
            sum.inputs.extend(&inputs);
            sum.input_offsets.push(to_u32(sum.inputs.len())?);
            sum.weight_offsets.push(to_u32(weights)?);
        }
        layers.push(Layer::Sum(sum));
    }
    Ok(layers)
}

fn to_u32(n: usize) -> Result<u32, ConfigError> {
    u32::try_from(n).map_err(|_| {
        ConfigError::Invalid(format!("model too large: {n} does not fit 32-bit indices"))
    })
}
