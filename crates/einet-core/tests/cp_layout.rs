//! CP layouts: element-wise products over any number of children, dense sums over every
//! region's partitions, on RAT structures and hidden Chow–Liu trees.

use einet_core::layout::{Layer, Layout};
use einet_core::learn::ChowLiuTree;
use einet_core::rng::Rng;
use einet_core::{
    ConfigError, EinetConfig, LayerKind, LeafFamily, Params, RegionGraph, hclt, random_binary_trees,
};
use proptest::prelude::*;

fn cp_config(k: usize, classes: usize) -> EinetConfig {
    EinetConfig {
        num_classes: classes,
        layer: LayerKind::Cp,
        ..EinetConfig::new(k, LeafFamily::Bernoulli)
    }
}

fn random_tree(n: usize, seed: u64) -> ChowLiuTree {
    let mut rng = Rng::new(seed, 9);
    let mut parent = vec![None; n];
    for (v, p) in parent.iter_mut().enumerate().skip(1) {
        *p = Some(rng.below(v as u32) as usize);
    }
    ChowLiuTree { root: 0, parent }
}

/// Every invariant of a CP layout of `graph`.
fn check_cp_layout(graph: &RegionGraph, config: &EinetConfig, layout: &Layout) {
    let regions = graph.regions();
    let mut next = layout.leaf.len() as u32;
    let mut sum_layers = 0;
    for (i, layer) in layout.layers.iter().enumerate() {
        let out = layer.outputs();
        let expected: Vec<u32> = (next..next + out.len() as u32).collect();
        assert_eq!(
            out,
            expected.as_slice(),
            "layer {i} outputs are consecutive"
        );
        match layer {
            Layer::Product(l) => {
                assert_eq!(l.child_offsets.len(), l.out.len() + 1);
                for p in 0..l.out.len() {
                    let children = l.children(p);
                    assert!(children.len() >= 2, "a product of one child is no node");
                    for &c in children {
                        assert!(
                            c < next,
                            "layer {i} product {p}: child {c} not computed yet"
                        );
                        assert_eq!(layout.k[c as usize], layout.k[l.out[p] as usize]);
                    }
                }
            }
            Layer::Sum(l) => {
                sum_layers += 1;
                let mut total = 0;
                for m in 0..l.out.len() {
                    let width: u32 = l.inputs(m).iter().map(|&c| layout.k[c as usize]).sum();
                    assert!(l.inputs(m).iter().all(|&c| c < next));
                    total += layout.k[l.out[m] as usize] * width;
                    assert_eq!(l.weight_offsets[m + 1], total, "sum {i}.{m} weights");
                }
            }
            Layer::Einsum(_) | Layer::Mixing(_) => panic!("a CP layout has a Tucker layer"),
        }
        next += out.len() as u32;
    }
    assert_eq!(next as usize, layout.num_nodes());
    assert_eq!(layout.k[layout.root as usize] as usize, config.num_classes);
    // Every inner region is one sum node, whose inputs are its partitions' products.
    let inner = regions.iter().filter(|r| !r.is_leaf()).count();
    let sums: usize = layout
        .layers
        .iter()
        .map(|l| match l {
            Layer::Sum(l) => l.out.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sums, inner);
    assert!(sum_layers >= 1 || inner == 0);
    let params = Params::random(layout, 3);
    assert!(params.fits(layout));
    for (i, (layer, w)) in layout.layers.iter().zip(&params.layers).enumerate() {
        if let Layer::Sum(l) = layer {
            for m in 0..l.out.len() {
                let k_out = layout.k[l.out[m] as usize] as usize;
                let range = l.weights(m);
                for row in w[range.clone()].chunks_exact(range.len() / k_out) {
                    let s: f64 = row.iter().map(|&x| f64::from(x)).sum();
                    assert!((s - 1.0).abs() < 1e-5, "layer {i} sum {m}: {s}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rat_with_cp_layers(vars in 2usize..40, depth in 1usize..4, reps in 1usize..4,
                          k in 1usize..5, classes in 1usize..3, seed in any::<u64>()) {
        let depth = depth.min(vars.ilog2() as usize).max(1);
        let graph = random_binary_trees(vars, depth, reps, seed).unwrap();
        let config = cp_config(k, classes);
        let layout = Layout::new(&graph, &config).unwrap();
        check_cp_layout(&graph, &config, &layout);
    }

    #[test]
    fn hclt_with_cp_layers(vars in 1usize..30, trees in 1usize..4, k in 1usize..5,
                           seed in any::<u64>()) {
        let trees: Vec<ChowLiuTree> =
            (0..trees as u64).map(|t| random_tree(vars, seed.wrapping_add(t))).collect();
        let graph = hclt(&trees).unwrap();
        let config = cp_config(k, 1);
        let layout = Layout::new(&graph, &config).unwrap();
        check_cp_layout(&graph, &config, &layout);
        // One K × K matrix per variable with children but the root; the root of each tree
        // sums to K (mixed trees) or to the one class; the mixture sums the trees' roots.
        let mixed = trees.len() > 1;
        let mut expected = if mixed { trees.len() * k } else { 0 };
        for tree in &trees {
            let children = tree.children();
            let parents = (0..vars)
                .filter(|&v| !children[v].is_empty() && v != tree.root)
                .count();
            expected += parents * k * k + if mixed { k * k } else { k };
        }
        prop_assert_eq!(layout.num_sum_weights(), expected);
    }
}

#[test]
fn cp_layers_need_one_k_and_tucker_needs_binary_partitions() {
    let graph = random_binary_trees(8, 2, 2, 0).unwrap();
    let config = EinetConfig {
        k_sum: 3,
        ..cp_config(2, 1)
    };
    assert!(
        matches!(Layout::new(&graph, &config), Err(ConfigError::Invalid(m)) if m.contains("k_leaf"))
    );
    let tree = hclt(&[random_tree(5, 1)]).unwrap();
    let tucker = EinetConfig::new(2, LeafFamily::Bernoulli);
    let err = Layout::new(&tree, &tucker).unwrap_err();
    assert!(err.to_string().contains("exactly 2"), "{err}");
}
