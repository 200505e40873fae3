//! Layout and parameter initialisation: structural invariants of `Layout::new` over random RAT
//! and Poon–Domingos structures with random K, checked independently of the implementation,
//! `Params::random` normalisation and determinism, and spot checks against the reference's
//! layer sizes and parameter counts.

use std::collections::{HashMap, VecDeque};

use einet_core::layout::{Layer, NO_NODE};
use einet_core::region_graph::{PoonDomingos, RegionGraph};
use einet_core::{
    EinetConfig, Layout, LeafFamily, LeafSpec, Params, poon_domingos, random_binary_trees,
};
use proptest::prelude::*;

/// How a structure was built, so the coverage check knows what to expect of the leaves.
#[derive(Clone, Debug)]
enum Structure {
    Rat {
        num_vars: usize,
        depth: usize,
        reps: usize,
        seed: u64,
    },
    Pd(PoonDomingos),
    /// Random DAG over intervals of `0..num_vars`: every interval is split at a random subset
    /// of its interior points (children shared by scope), so regions of one topological layer
    /// have different numbers of partitions and mixing layers get padding slots. Leaves may
    /// overlap.
    Intervals {
        num_vars: usize,
        seed: u64,
    },
}

impl Structure {
    fn build(&self) -> RegionGraph {
        match self {
            Structure::Rat {
                num_vars,
                depth,
                reps,
                seed,
            } => random_binary_trees(*num_vars, *depth, *reps, *seed).unwrap(),
            Structure::Pd(pd) => pd.build().unwrap(),
            Structure::Intervals { num_vars, seed } => random_intervals(*num_vars, *seed),
        }
    }
}

fn random_intervals(num_vars: usize, seed: u64) -> RegionGraph {
    assert!(num_vars >= 2);
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ids: HashMap<(usize, usize), usize> = HashMap::new();
    let mut scopes: Vec<Vec<u32>> = Vec::new();
    let mut partitions: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut queue = VecDeque::new();
    ids.insert((0, num_vars), 0);
    scopes.push((0..num_vars as u32).collect());
    queue.push_back((0, num_vars));
    while let Some((lo, hi)) = queue.pop_front() {
        let id = ids[&(lo, hi)];
        let mut cuts: Vec<usize> = (lo + 1..hi).filter(|_| next() % 3 != 0).collect();
        if cuts.is_empty() && id == 0 {
            cuts.push(num_vars / 2);
        }
        for c in cuts {
            let mut child = |iv: (usize, usize)| {
                *ids.entry(iv).or_insert_with(|| {
                    scopes.push((iv.0 as u32..iv.1 as u32).collect());
                    queue.push_back(iv);
                    scopes.len() - 1
                })
            };
            let (a, b) = (child((lo, c)), child((c, hi)));
            partitions.push((id, vec![a, b]));
        }
    }
    let replicas = vec![0; scopes.len()];
    RegionGraph::new(num_vars, scopes, replicas, partitions).unwrap()
}

fn config(k_leaf: usize, k_sum: usize, num_classes: usize, family: LeafFamily) -> EinetConfig {
    EinetConfig {
        k_leaf,
        k_sum,
        num_classes,
        num_channels: 1,
        leaves: LeafSpec::uniform(family),
        layer: einet_core::LayerKind::Tucker,
    }
}

/// Checks every invariant of `layout` against `graph` and `config`, recomputing what it can
/// from the graph alone.
fn check_layout(structure: &Structure, graph: &RegionGraph, config: &EinetConfig, layout: &Layout) {
    let regions = graph.regions();
    let partitions = graph.partitions();
    let num_leaves = layout.leaf.len();
    let num_nodes = layout.num_nodes();
    assert_eq!(layout.num_vars, graph.num_vars());
    assert_eq!(layout.num_channels, config.num_channels);
    assert_eq!(layout.k.len(), num_nodes);
    assert_eq!(
        num_leaves,
        regions.iter().filter(|r| r.is_leaf()).count(),
        "one leaf node per leaf region"
    );

    // Every node is written by exactly one layer, in consecutive blocks: leaves first, then
    // each layer's outputs continuing the numbering.
    let mut writer = vec![usize::MAX; num_nodes]; // usize::MAX - 1 = leaf layer, else layer index
    for w in writer.iter_mut().take(num_leaves) {
        *w = usize::MAX - 1;
    }
    let mut next = num_leaves;
    for (i, layer) in layout.layers.iter().enumerate() {
        let out = layer.outputs();
        assert!(!out.is_empty(), "layer {i} has no outputs");
        let expected: Vec<u32> = (next as u32..(next + out.len()) as u32).collect();
        assert_eq!(out, expected.as_slice(), "outputs of layer {i}");
        for &o in out {
            assert_eq!(writer[o as usize], usize::MAX, "node {o} written twice");
            writer[o as usize] = i;
        }
        next += out.len();
    }
    assert_eq!(next, num_nodes, "every node is written by some layer");

    // Layers alternate: einsum, optionally followed by a mixing layer over its products.
    let mut num_einsum = 0;
    for (i, layer) in layout.layers.iter().enumerate() {
        let first = layer.outputs()[0];
        match layer {
            Layer::Einsum(l) => {
                num_einsum += 1;
                let p = l.out.len();
                assert_eq!(l.left.len(), p);
                assert_eq!(l.right.len(), p);
                assert_eq!(l.weight_offsets.len(), p + 1);
                assert_eq!(l.weight_offsets[0], 0);
                for j in 0..p {
                    assert!(
                        l.left[j] < first,
                        "layer {i} product {j}: left not computed yet"
                    );
                    assert!(
                        l.right[j] < first,
                        "layer {i} product {j}: right not computed yet"
                    );
                    assert_ne!(l.left[j], l.right[j]);
                    let (ko, kl, kr) = (
                        layout.k[l.out[j] as usize],
                        layout.k[l.left[j] as usize],
                        layout.k[l.right[j] as usize],
                    );
                    assert_eq!(
                        l.weight_offsets[j + 1] - l.weight_offsets[j],
                        ko * kl * kr,
                        "layer {i} product {j}: weight block size"
                    );
                }
            }
            Layer::Mixing(l) => {
                let Some(Layer::Einsum(prev)) = i.checked_sub(1).map(|j| &layout.layers[j]) else {
                    panic!("mixing layer {i} does not follow an einsum layer");
                };
                let m = l.out.len();
                assert_eq!(l.num_components.len(), m);
                assert_eq!(l.components.len(), m * l.max_components);
                assert_eq!(
                    l.max_components,
                    *l.num_components.iter().max().unwrap() as usize
                );
                for r in 0..m {
                    let n = l.num_components[r] as usize;
                    assert!(n >= 2, "a mixed region has at least two partitions");
                    assert_eq!(layout.k[l.out[r] as usize] as usize, l.k);
                    for c in 0..l.max_components {
                        let node = l.components[r * l.max_components + c];
                        if c < n {
                            assert_ne!(node, NO_NODE, "mixing {i} region {r} slot {c}");
                            assert!(node < first);
                            assert!(
                                prev.out.contains(&node),
                                "mixing {i}: component {node} is not a product of layer {}",
                                i - 1
                            );
                            assert_eq!(layout.k[node as usize] as usize, l.k);
                        } else {
                            assert_eq!(node, NO_NODE, "mixing {i} region {r} padding slot {c}");
                        }
                    }
                }
            }
            Layer::Product(_) | Layer::Sum(_) => panic!("a Tucker layout has a CP layer {i}"),
        }
    }

    // One einsum layer per topological product layer: 1 + the longest partition path from
    // the root to an internal region (Algorithm 1 places a region below all its parents).
    let parents = graph.parents();
    let mut depth: Vec<Option<usize>> = vec![None; regions.len()];
    fn longest(
        r: usize,
        graph: &RegionGraph,
        parents: &[Vec<usize>],
        depth: &mut [Option<usize>],
    ) -> usize {
        if let Some(d) = depth[r] {
            return d;
        }
        let d = parents[r]
            .iter()
            .map(|&p| longest(graph.partitions()[p].parent, graph, parents, depth) + 1)
            .max()
            .unwrap_or(0);
        depth[r] = Some(d);
        d
    }
    let height = (0..regions.len())
        .filter(|&r| !regions[r].is_leaf())
        .map(|r| longest(r, graph, &parents, &mut depth) + 1)
        .max()
        .unwrap_or(0);
    assert_eq!(num_einsum, height, "number of einsum layers");
    if let Some(last) = layout.layers.last() {
        assert_eq!(
            last.outputs(),
            [layout.root],
            "the root is computed last, alone"
        );
    }

    // Each region has exactly one value node, distinct per region.
    assert_eq!(layout.region_node.len(), regions.len());
    let mut region_of_node: HashMap<u32, usize> = HashMap::new();
    for (r, &n) in layout.region_node.iter().enumerate() {
        assert!((n as usize) < num_nodes, "region {r} has node {n}");
        assert!(
            region_of_node.insert(n, r).is_none(),
            "node {n} is the value of two regions"
        );
        let region = &regions[r];
        match region.partitions.len() {
            0 => assert!((n as usize) < num_leaves, "leaf region {r} → node {n}"),
            1 => assert!(
                matches!(layout.layers[writer[n as usize]], Layer::Einsum(_)),
                "single-partition region {r} is a product node"
            ),
            _ => assert!(
                matches!(layout.layers[writer[n as usize]], Layer::Mixing(_)),
                "multi-partition region {r} is a mixing node"
            ),
        }
    }
    assert_eq!(layout.root, layout.region_node[graph.root()]);

    // The region owning each node: its value node, or the region whose partition it computes.
    let mut owner: Vec<usize> = vec![usize::MAX; num_nodes];
    for (&n, &r) in &region_of_node {
        owner[n as usize] = r;
    }
    for layer in &layout.layers {
        if let Layer::Mixing(l) = layer {
            for (m, &o) in l.out.iter().enumerate() {
                let r = region_of_node[&o];
                assert_eq!(l.num_components[m] as usize, regions[r].partitions.len());
                for &c in &l.components[m * l.max_components..][..l.num_components[m] as usize] {
                    assert_eq!(owner[c as usize], usize::MAX, "product {c} mixed twice");
                    owner[c as usize] = r;
                }
            }
        }
    }
    assert!(
        owner.iter().all(|&o| o != usize::MAX),
        "every node belongs to a region"
    );

    // Products are exactly the partitions: (left value, right value, parent), each once, so
    // every region is computed exactly once.
    let mut products: Vec<(u32, u32, usize)> = layout
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Einsum(l) => Some(l),
            _ => None,
        })
        .flat_map(|l| (0..l.out.len()).map(|j| (l.left[j], l.right[j], owner[l.out[j] as usize])))
        .collect();
    let mut expected: Vec<(u32, u32, usize)> = partitions
        .iter()
        .map(|p| {
            (
                layout.region_node[p.children[0]],
                layout.region_node[p.children[1]],
                p.parent,
            )
        })
        .collect();
    products.sort_unstable();
    expected.sort_unstable();
    assert_eq!(products, expected, "products are the partitions");

    // Vector lengths: K_leaf for leaves, num_classes at the root (and its products), K_sum
    // elsewhere.
    for (n, &r) in owner.iter().enumerate() {
        let want = if r == graph.root() {
            config.num_classes
        } else if n < num_leaves {
            config.k_leaf
        } else {
            config.k_sum
        };
        assert_eq!(layout.k[n] as usize, want, "k of node {n} (region {r})");
    }
    assert_eq!(layout.k[layout.root as usize] as usize, config.num_classes);
    assert_eq!(layout.num_classes(), config.num_classes);

    // k_offset is the exclusive prefix sum of k.
    let mut total = 0u32;
    for n in 0..num_nodes {
        assert_eq!(layout.k_offset[n], total, "k_offset of node {n}");
        total += layout.k[n];
    }
    assert_eq!(layout.activation_len, total as usize);

    // Leaf CSR: node n lists exactly the scope of its region.
    let leaf = &layout.leaf;
    assert_eq!(leaf.k, config.k_leaf);
    assert_eq!(leaf.var_offsets[0], 0);
    assert_eq!(*leaf.var_offsets.last().unwrap() as usize, leaf.vars.len());
    let stats = config.leaves.default.num_stats();
    let per_entry = config.k_leaf * config.num_channels * stats;
    assert_eq!(leaf.entry_family.len(), leaf.vars.len());
    assert_eq!(leaf.param_offsets.len(), leaf.vars.len());
    for (e, &off) in leaf.param_offsets.iter().enumerate() {
        assert_eq!(off as usize, e * per_entry, "param offset of entry {e}");
        assert_eq!(leaf.family(e), config.leaves.default);
    }
    assert_eq!(leaf.num_params, leaf.vars.len() * per_entry);
    let mut seen: HashMap<(u32, u32), usize> = HashMap::new();
    for (n, &r) in owner.iter().enumerate().take(num_leaves) {
        let region = &regions[r];
        assert!(region.is_leaf());
        let mut vars: Vec<u32> = leaf.vars[leaf.entries(n)].to_vec();
        vars.sort_unstable();
        assert_eq!(vars, region.scope, "variables of leaf node {n}");
        for &v in &vars {
            *seen.entry((v, region.replica)).or_default() += 1;
        }
    }
    let num_vars = graph.num_vars() as u32;
    match structure {
        Structure::Rat { reps, .. } => {
            for r in 0..*reps as u32 {
                for v in 0..num_vars {
                    assert_eq!(seen.get(&(v, r)), Some(&1), "(var {v}, replica {r})");
                }
            }
            assert_eq!(seen.len(), num_vars as usize * reps);
        }
        Structure::Intervals { .. } => {
            for v in 0..num_vars {
                assert!(seen.contains_key(&(v, 0)), "var {v} is in no leaf");
            }
        }
        Structure::Pd(pd) => {
            assert!(seen.keys().all(|&(_, r)| r == 0), "PD leaves are replica 0");
            for v in 0..num_vars {
                let count = seen.get(&(v, 0)).copied().unwrap_or(0);
                if pd.max_split_depth.is_none() {
                    assert_eq!(count, 1, "var {v} is in exactly one PD leaf");
                } else {
                    // A depth limit can leave overlapping, unsplit regions as leaves.
                    assert!(count >= 1, "var {v} is in no PD leaf");
                }
            }
        }
    }
}

/// Checks `Params::random` against `layout`: normalisation, padding, range and shapes.
fn check_params(layout: &Layout, params: &Params) {
    assert_eq!(params.layers.len(), layout.layers.len());
    assert_eq!(params.leaf.len(), layout.leaf.num_params);
    assert!(params.leaf.iter().all(|x| x.is_finite()));
    for (i, (layer, w)) in layout.layers.iter().zip(&params.layers).enumerate() {
        assert_eq!(w.len(), layer.num_weights(), "layer {i} weight count");
        match layer {
            Layer::Einsum(l) => {
                for j in 0..l.out.len() {
                    let block =
                        (layout.k[l.left[j] as usize] * layout.k[l.right[j] as usize]) as usize;
                    let start = l.weight_offsets[j] as usize;
                    for o in 0..layout.k[l.out[j] as usize] as usize {
                        let v = &w[start + o * block..][..block];
                        let sum: f64 = v.iter().map(|&x| f64::from(x)).sum();
                        assert!(
                            (sum - 1.0).abs() < 1e-5,
                            "layer {i} product {j} output {o} sums to {sum}"
                        );
                        for &x in v {
                            assert!(x > 0.0 && x <= 1.0, "layer {i} weight {x}");
                            assert!(block == 1 || x < 1.0, "layer {i} weight {x}");
                        }
                    }
                }
            }
            Layer::Mixing(l) => {
                for (m, &n) in l.num_components.iter().enumerate() {
                    for k in 0..l.k {
                        let slots = &w[(m * l.k + k) * l.max_components..][..l.max_components];
                        let (valid, padding) = slots.split_at(n as usize);
                        let sum: f64 = valid.iter().map(|&x| f64::from(x)).sum();
                        assert!(
                            (sum - 1.0).abs() < 1e-5,
                            "mixing {i} region {m} k {k} sums to {sum}"
                        );
                        assert!(valid.iter().all(|&x| x > 0.0 && x < 1.0), "{valid:?}");
                        assert!(
                            padding.iter().all(|&x| x == 0.0),
                            "mixing {i} region {m} k {k} padding {padding:?}"
                        );
                    }
                }
            }
            Layer::Product(_) => assert!(w.is_empty()),
            Layer::Sum(l) => {
                for m in 0..l.out.len() {
                    let k_out = layout.k[l.out[m] as usize] as usize;
                    for (o, row) in w[l.weights(m)]
                        .chunks_exact(l.weights(m).len() / k_out)
                        .enumerate()
                    {
                        let sum: f64 = row.iter().map(|&x| f64::from(x)).sum();
                        assert!((sum - 1.0).abs() < 1e-5, "sum {i}.{m} output {o}: {sum}");
                        assert!(row.iter().all(|&x| x > 0.0 && x <= 1.0), "{row:?}");
                    }
                }
            }
        }
    }
}

fn rat_strategy() -> impl Strategy<Value = Structure> {
    (2usize..48, 1usize..=4, 1usize..=4, any::<u64>()).prop_map(|(num_vars, depth, reps, seed)| {
        let max_depth = num_vars.ilog2() as usize;
        Structure::Rat {
            num_vars,
            depth: depth.min(max_depth),
            reps,
            seed,
        }
    })
}

fn pd_strategy() -> impl Strategy<Value = Structure> {
    let delta = prop::sample::select(vec![1.0, 1.5, 2.0, 2.5, 3.0]);
    (1usize..=3)
        .prop_flat_map(move |dims| {
            let size = if dims == 3 { 1usize..=4 } else { 2usize..=7 };
            (
                prop::collection::vec(size, dims),
                prop::collection::vec(prop::collection::vec(delta.clone(), dims), 1..=2),
                prop::option::of(prop::sample::subsequence(
                    (0..dims).collect::<Vec<_>>(),
                    1..=dims,
                )),
                prop::option::weighted(0.25, 1usize..=3),
            )
        })
        .prop_map(|(shape, deltas, axes, max_split_depth)| {
            Structure::Pd(PoonDomingos {
                shape,
                deltas,
                axes,
                max_split_depth,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn layout_invariants_hold_for_random_structures(
        structure in prop_oneof![
            2 => rat_strategy(),
            2 => pd_strategy(),
            1 => (2usize..=10, any::<u64>())
                .prop_map(|(num_vars, seed)| Structure::Intervals { num_vars, seed }),
        ],
        k_leaf in 1usize..=5,
        k_sum in 1usize..=5,
        num_classes in 1usize..=4,
        seed in any::<u64>(),
    ) {
        let graph = structure.build();
        let config = config(k_leaf, k_sum, num_classes, LeafFamily::Bernoulli);
        let layout = Layout::new(&graph, &config);
        if graph.regions()[graph.root()].is_leaf() && k_leaf != num_classes {
            // No partitions: the root is a leaf with K_leaf entries, which cannot be the
            // requested number of classes.
            prop_assert!(layout.is_err());
            return Ok(());
        }
        let layout = layout.unwrap();
        check_layout(&structure, &graph, &config, &layout);

        let params = Params::random(&layout, seed);
        check_params(&layout, &params);
        prop_assert_eq!(&params, &Params::random(&layout, seed));
        prop_assert_ne!(&params, &Params::random(&layout, seed.wrapping_add(1)));
    }
}

/// PD with 3 or more cells per axis and K_leaf ≠ K_sum: the reference cannot lay this out
/// (its einsum layers need one K for all children), ours must.
#[test]
fn pd_with_three_cells_per_axis_and_unequal_k() {
    for (shape, delta) in [(vec![6, 6], 2.0), (vec![9], 3.0), (vec![4, 6], 2.0)] {
        let structure = Structure::Pd(PoonDomingos {
            shape: shape.clone(),
            deltas: vec![vec![delta; shape.len()]],
            axes: None,
            max_split_depth: None,
        });
        let graph = structure.build();
        for (k_leaf, k_sum, classes) in [(2, 5, 3), (5, 2, 1), (1, 3, 2), (3, 1, 4)] {
            let config = config(k_leaf, k_sum, classes, LeafFamily::Bernoulli);
            let layout = Layout::new(&graph, &config).unwrap();
            check_layout(&structure, &graph, &config, &layout);
            // Some product really mixes a leaf child with an internal child.
            let leaves = layout.leaf.len() as u32;
            let mixed_children = layout.layers.iter().any(|l| match l {
                Layer::Einsum(l) => l
                    .left
                    .iter()
                    .zip(&l.right)
                    .any(|(&a, &b)| (a < leaves) != (b < leaves)),
                _ => false,
            });
            assert!(
                mixed_children,
                "{shape:?} Δ={delta}: no leaf+internal product"
            );
            check_params(&layout, &Params::random(&layout, 7));
        }
    }
}

#[test]
fn params_random_is_deterministic_and_seed_dependent() {
    let graph = random_binary_trees(20, 3, 3, 5).unwrap();
    let layout = Layout::new(&graph, &config(3, 4, 2, LeafFamily::Bernoulli)).unwrap();
    let a = Params::random(&layout, 42);
    assert_eq!(a, Params::random(&layout, 42));
    let b = Params::random(&layout, 43);
    assert_ne!(a, b);
    // Every tensor changes with the seed, not just one of them.
    for (x, y) in a.layers.iter().zip(&b.layers) {
        assert_ne!(x, y);
    }
    assert_ne!(a.leaf, b.leaf);
}

fn einsum_sizes(layout: &Layout) -> Vec<usize> {
    layout
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Einsum(l) => Some(l.out.len()),
            _ => None,
        })
        .collect()
}

fn mixing_sizes(layout: &Layout) -> Vec<usize> {
    layout
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Mixing(l) => Some(l.out.len()),
            _ => None,
        })
        .collect()
}

/// RAT 784 vars, depth 5, 20 repetitions: the reference implementation's counts (config A1).
#[test]
fn rat_784_5_20_matches_the_reference() {
    let graph = random_binary_trees(784, 5, 20, 0).unwrap();
    let config = config(20, 20, 1, LeafFamily::Categorical { categories: 2 });
    let layout = Layout::new(&graph, &config).unwrap();
    check_layout(
        &Structure::Rat {
            num_vars: 784,
            depth: 5,
            reps: 20,
            seed: 0,
        },
        &graph,
        &config,
        &layout,
    );
    assert_eq!(einsum_sizes(&layout), [320, 160, 80, 40, 20]);
    assert_eq!(mixing_sizes(&layout), [1], "only the root is mixed");
    assert_eq!(layout.layers.len(), 6);
    assert!(matches!(layout.layers.last(), Some(Layer::Mixing(_))));
    assert_eq!(layout.layers.last().unwrap().outputs(), [layout.root]);
    assert_eq!(layout.leaf.len(), 640);
    // Reference counts: 600 products · 20·20·20 + 20 root products · 20·20·1 + 1 root · 1 ·
    // 20 mixing weights; leaves 784 vars · 20 K · 20 replicas · 2 categories.
    assert_eq!(layout.num_sum_weights(), 4_808_020);
    assert_eq!(layout.leaf.num_params, 627_200);
    assert_eq!(layout.num_params(), 4_808_020 + 627_200);
}

/// PD 28×28, Δ = 7: the reference implementation's parameter count of config B1 (K = 10,
/// Binomial(255)). The reference counts 204,146 parameters, mixing padding included:
/// 194,600 einsum weights (194 products · 10·10·10 + 6 root products · 10·10·1), 1,706 mixing
/// weights (`(K, M, C_max)` per mixing layer, zero-masked padding included; our mixing layers
/// store the same padded `[M][K][C_max]` blocks) and 7,840 leaf parameters (784 · 10 · 1
/// replica · 1 statistic). Our count is identical.
#[test]
fn pd_28x28_delta_7_matches_the_reference() {
    let graph = poon_domingos(&[28, 28], 7.0).unwrap();
    let config = config(10, 10, 1, LeafFamily::Binomial { trials: 255 });
    let layout = Layout::new(&graph, &config).unwrap();
    check_layout(
        &Structure::Pd(PoonDomingos {
            shape: vec![28, 28],
            deltas: vec![vec![7.0, 7.0]],
            axes: None,
            max_split_depth: None,
        }),
        &graph,
        &config,
        &layout,
    );
    assert_eq!(einsum_sizes(&layout), [24, 50, 60, 40, 20, 6]);
    assert_eq!(mixing_sizes(&layout).iter().sum::<usize>(), 60);
    assert_eq!(layout.leaf.len(), 16);
    let einsum: usize = layout
        .layers
        .iter()
        .filter(|l| matches!(l, Layer::Einsum(_)))
        .map(Layer::num_weights)
        .sum();
    let mixing = layout.num_sum_weights() - einsum;
    assert_eq!(einsum, 194_600);
    assert_eq!(mixing, 1_706);
    assert_eq!(layout.leaf.num_params, 7_840);
    assert_eq!(layout.num_params(), 204_146);
    check_params(&layout, &Params::random(&layout, 0));
}

/// A graph without partitions has a leaf as its root: its vector has K_leaf entries, so the
/// layout must not silently report K_leaf classes when `num_classes` says otherwise.
#[test]
fn root_leaf_needs_num_classes_equal_to_k_leaf() {
    let structure = Structure::Pd(PoonDomingos {
        shape: vec![3],
        deltas: vec![vec![5.0]],
        axes: None,
        max_split_depth: None,
    });
    let graph = structure.build();
    assert!(graph.regions()[graph.root()].is_leaf());
    let err = Layout::new(&graph, &config(4, 2, 1, LeafFamily::Bernoulli)).unwrap_err();
    assert!(err.to_string().contains("num_classes"), "{err}");
    let config = config(3, 2, 3, LeafFamily::Bernoulli);
    let layout = Layout::new(&graph, &config).unwrap();
    check_layout(&structure, &graph, &config, &layout);
    assert!(layout.layers.is_empty());
    assert_eq!((layout.root, layout.num_classes()), (0, 3));
    check_params(&layout, &Params::random(&layout, 1));
}

/// Mixing layers whose regions have different numbers of partitions: padding slots are
/// `NO_NODE` and their weights stay exactly 0 (uniform PD never pads: one layer's regions all
/// have the same number of cells).
#[test]
fn mixing_padding_with_uneven_partition_counts() {
    // Root {0..8} = A {0..4} × B {4..8}; A has 3 partitions, B has 2, in the same sum layer.
    let scopes: Vec<Vec<u32>> = vec![
        (0..8).collect(), // 0 root
        vec![0, 1, 2, 3], // 1 A
        vec![4, 5, 6, 7], // 2 B
        vec![0],          // 3
        vec![1, 2, 3],    // 4
        vec![0, 1],       // 5
        vec![2, 3],       // 6
        vec![0, 1, 2],    // 7
        vec![3],          // 8
        vec![1],          // 9
        vec![2],          // 10
        vec![4],          // 11
        vec![5, 6, 7],    // 12
        vec![4, 5],       // 13
        vec![6, 7],       // 14
        vec![5],          // 15
    ];
    let partitions = vec![
        (0, vec![1, 2]),
        (1, vec![3, 4]),
        (1, vec![5, 6]),
        (1, vec![7, 8]),
        (4, vec![9, 6]),
        (7, vec![5, 10]),
        (2, vec![11, 12]),
        (2, vec![13, 14]),
        (12, vec![15, 14]),
    ];
    let replicas = vec![0; scopes.len()];
    let graph = RegionGraph::new(8, scopes, replicas, partitions).unwrap();
    let config = config(2, 3, 2, LeafFamily::Bernoulli);
    let layout = Layout::new(&graph, &config).unwrap();
    check_layout(
        &Structure::Intervals {
            num_vars: 8,
            seed: 0,
        },
        &graph,
        &config,
        &layout,
    );
    let padded = layout.layers.iter().find_map(|l| match l {
        Layer::Mixing(l)
            if l.num_components
                .iter()
                .any(|&n| n as usize != l.max_components) =>
        {
            Some(l)
        }
        _ => None,
    });
    let padded = padded.expect("a mixing layer with padding");
    let mut counts = padded.num_components.clone();
    counts.sort_unstable();
    assert_eq!((counts, padded.max_components), (vec![2, 3], 3));
    assert_eq!(
        padded.components.iter().filter(|&&c| c == NO_NODE).count(),
        1
    );
    let params = Params::random(&layout, 3);
    check_params(&layout, &params);
}

#[test]
fn oversized_einsum_weights_are_an_error_not_an_overflow() {
    // K = 65536 is allowed on its own, but one einsum block then holds 65536³ weights: more
    // than 32-bit offsets address, and more than a u32 product of two K holds.
    let graph = random_binary_trees(4, 1, 1, 0).unwrap();
    let config = EinetConfig::new(1 << 16, LeafFamily::Bernoulli);
    config.validate().unwrap();
    let err = Layout::new(&graph, &config).unwrap_err().to_string();
    assert!(err.contains("model too large"), "{err}");
}
