//! Region graphs: builder structure counts, validation errors, the JSON format and
//! property tests of the RAT and Poon–Domingos builders.

use einet_core::StructureError;
use einet_core::region_graph::{
    PoonDomingos, RegionGraph, RegionGraphCounts, RegionGraphJson, poon_domingos,
    random_binary_trees,
};
use proptest::prelude::*;

fn counts(g: &RegionGraph) -> (usize, usize, usize, usize) {
    let RegionGraphCounts {
        sum_regions,
        leaf_regions,
        products,
        mixed_regions,
    } = g.counts();
    (sum_regions, leaf_regions, products, mixed_regions)
}

fn pd(shape: &[usize], delta: f64, axes: Option<Vec<usize>>) -> RegionGraph {
    PoonDomingos {
        shape: shape.to_vec(),
        deltas: vec![vec![delta; shape.len()]],
        axes,
        max_split_depth: None,
    }
    .build()
    .unwrap()
}

/// Checks the region-graph invariants independently of `RegionGraph::new`.
fn assert_region_graph_invariants(g: &RegionGraph) {
    let n = g.num_vars();
    let all: Vec<u32> = (0..n as u32).collect();
    assert_eq!(g.regions()[g.root()].scope, all, "root scope");
    for (id, r) in g.regions().iter().enumerate() {
        assert!(!r.scope.is_empty(), "region {id} empty");
        assert!(
            r.scope.windows(2).all(|w| w[0] < w[1]),
            "region {id} scope not sorted/distinct"
        );
        for &p in &r.partitions {
            assert_eq!(g.partitions()[p].parent, id);
        }
    }
    let parents = g.parents();
    for (id, ps) in parents.iter().enumerate() {
        assert_eq!(ps.is_empty(), id == g.root(), "region {id} parents {ps:?}");
    }
    for (pid, p) in g.partitions().iter().enumerate() {
        let &[a, b] = p.children.as_slice() else {
            panic!("partition {pid} is not binary");
        };
        let (sa, sb) = (&g.regions()[a].scope, &g.regions()[b].scope);
        assert!((sa, a) < (sb, b), "partition {pid} children not ordered");
        let mut union: Vec<u32> = sa.iter().chain(sb).copied().collect();
        union.sort_unstable();
        let before = union.len();
        union.dedup();
        assert_eq!(union.len(), before, "partition {pid} children overlap");
        assert_eq!(
            union,
            g.regions()[p.parent].scope,
            "partition {pid} not smooth"
        );
    }
}

/// Asserts that the given regions' scopes partition `0..num_vars` (each variable once).
fn assert_partitions_variables(g: &RegionGraph, regions: &[usize], what: &str) {
    let mut seen = vec![0usize; g.num_vars()];
    for &r in regions {
        for &v in &g.regions()[r].scope {
            seen[v as usize] += 1;
        }
    }
    assert!(
        seen.iter().all(|&c| c == 1),
        "{what}: variable multiplicities {seen:?}"
    );
}

fn leaves(g: &RegionGraph) -> Vec<usize> {
    (0..g.regions().len())
        .filter(|&r| g.regions()[r].is_leaf())
        .collect()
}

fn rat_leaves(g: &RegionGraph, replica: u32) -> Vec<usize> {
    leaves(g)
        .into_iter()
        .filter(|&r| g.regions()[r].replica == replica)
        .collect()
}

// ---------------------------------------------------------------- structure counts

#[test]
fn rat_784_vars_depth_5_20_reps_counts() {
    let g = random_binary_trees(784, 5, 20, 0).unwrap();
    assert_eq!(counts(&g), (601, 640, 620, 1));
    assert_eq!(g.regions()[g.root()].partitions.len(), 20);
    for r in leaves(&g) {
        let len = g.regions()[r].scope.len();
        assert!((24..=25).contains(&len), "leaf {r} has {len} variables");
    }
    for rep in 0..20 {
        let l = rat_leaves(&g, rep);
        assert_eq!(l.len(), 32);
        assert_partitions_variables(&g, &l, "RAT repetition");
    }
    assert_region_graph_invariants(&g);
}

#[test]
fn rat_10_vars_depth_2_3_reps_counts_and_split_sizes() {
    let g = random_binary_trees(10, 2, 3, 5).unwrap();
    assert_eq!(counts(&g), (7, 12, 9, 1));
    // 10 → 5 + 5, and 5 → 2 + 3 (round half to even).
    let mut sizes: Vec<usize> = leaves(&g)
        .iter()
        .map(|&r| g.regions()[r].scope.len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]);
}

#[test]
fn rat_7_vars_splits_4_plus_3() {
    let g = random_binary_trees(7, 1, 2, 9).unwrap();
    for &p in &g.regions()[g.root()].partitions {
        let &[a, b] = g.partitions()[p].children.as_slice() else {
            panic!("partition {p} is not binary");
        };
        let mut sizes = [g.regions()[a].scope.len(), g.regions()[b].scope.len()];
        sizes.sort_unstable();
        assert_eq!(sizes, [3, 4]);
    }
}

#[test]
fn pd_28x28_delta_7_counts() {
    assert_eq!(counts(&pd(&[28, 28], 7.0, None)), (84, 16, 200, 60));
}

#[test]
fn pd_32x32_axis_1_delta_8_counts() {
    let g = pd(&[32, 32], 8.0, Some(vec![1]));
    assert_eq!(counts(&g), (6, 4, 10, 3));
    // Leaves are 32×8 strips.
    for r in leaves(&g) {
        assert_eq!(g.regions()[r].scope.len(), 256);
    }
}

#[test]
fn pd_32x32_delta_8_counts() {
    let g = poon_domingos(&[32, 32], 8.0).unwrap();
    assert_eq!(counts(&g), (84, 16, 200, 60));
    // Leaves are 8×8 cells; the first one is the top-left cell.
    let first: Vec<u32> = (0..8)
        .flat_map(|row| (0..8).map(move |col| row * 32 + col))
        .collect();
    assert!(leaves(&g).iter().any(|&r| g.regions()[r].scope == first));
}

#[test]
fn pd_28x28_delta_4_counts() {
    assert_eq!(counts(&pd(&[28, 28], 4.0, None)), (735, 49, 3136, 651));
}

#[test]
fn pd_32x32_delta_4_counts() {
    let g = pd(&[32, 32], 4.0, None);
    assert_eq!(counts(&g), (1232, 64, 6048, 1120));
    assert_partitions_variables(&g, &leaves(&g), "PD 32×32 Δ=4 leaves");
    assert_region_graph_invariants(&g);
}

#[test]
fn pd_4x4_delta_2_counts() {
    // Boxes with bounds in {0, 2, 4}: 9 regions; the root has one cut per axis, each half one.
    assert_eq!(counts(&pd(&[4, 4], 2.0, None)), (5, 4, 6, 1));
}

#[test]
fn pd_three_dimensional_2x2x2_counts() {
    // 27 boxes, 8 unit cells; a box with k full axes has k partitions.
    let g = pd(&[2, 2, 2], 1.0, None);
    assert_eq!(counts(&g), (19, 8, 27, 7));
    assert_region_graph_invariants(&g);
}

#[test]
fn pd_uses_the_first_delta_with_an_interior_cut() {
    // Delta 14 cuts the 28×28 root once per axis; the 14-wide halves have no interior
    // 14-cut, so they fall through to delta 7.
    let g = PoonDomingos {
        shape: vec![28, 28],
        deltas: vec![vec![14.0, 14.0], vec![7.0, 7.0]],
        axes: None,
        max_split_depth: None,
    }
    .build()
    .unwrap();
    assert_eq!(g.regions()[g.root()].partitions.len(), 2);
    assert_eq!(leaves(&g).len(), 16);
    assert_partitions_variables(&g, &leaves(&g), "two-delta PD leaves");
}

#[test]
fn pd_max_split_depth_keeps_deeper_hypercubes_as_leaves() {
    let g = PoonDomingos {
        shape: vec![28, 28],
        deltas: vec![vec![7.0, 7.0]],
        axes: None,
        max_split_depth: Some(1),
    }
    .build()
    .unwrap();
    // 3 cuts on each of 2 axes: 6 partitions into 12 distinct pieces, none split further.
    assert_eq!(counts(&g), (1, 12, 6, 1));
}

// ---------------------------------------------------------------- validation errors

fn graph(
    num_vars: usize,
    scopes: &[&[u32]],
    partitions: &[(usize, &[usize])],
) -> Result<RegionGraph, StructureError> {
    RegionGraph::new(
        num_vars,
        scopes.iter().map(|s| s.to_vec()).collect(),
        vec![0; scopes.len()],
        partitions.iter().map(|(p, c)| (*p, c.to_vec())).collect(),
    )
}

#[test]
fn a_valid_hand_built_graph_is_accepted() {
    let g = graph(2, &[&[1, 0], &[1], &[0]], &[(0, &[1, 2])]).unwrap();
    // Scopes are sorted, children ordered by scope.
    assert_eq!(g.regions()[0].scope, [0, 1]);
    assert_eq!(g.partitions()[0].children, [2, 1]);
}

#[test]
fn cycle_is_rejected() {
    let err = graph(2, &[&[0, 1], &[0], &[1]], &[(0, &[1, 2]), (1, &[0, 2])]).unwrap_err();
    assert!(matches!(err, StructureError::Cycle { .. }), "{err}");
}

#[test]
fn multiple_roots_are_rejected() {
    let err = graph(
        2,
        &[&[0, 1], &[0], &[1], &[0, 1]],
        &[(0, &[1, 2]), (3, &[1, 2])],
    )
    .unwrap_err();
    assert!(
        matches!(&err, StructureError::MultipleRoots { roots } if roots == &[0, 3]),
        "{err}"
    );
}

#[test]
fn overlapping_children_are_not_decomposable() {
    let err = graph(2, &[&[0, 1], &[0, 1], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(
            err,
            StructureError::NotDecomposable {
                partition: 0,
                var: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn children_not_covering_the_parent_are_not_smooth() {
    let err = graph(3, &[&[0, 1, 2], &[0], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(
            err,
            StructureError::NotSmooth {
                partition: 0,
                parent: 0
            }
        ),
        "{err}"
    );
}

#[test]
fn partitions_may_have_any_number_of_children_but_not_none() {
    let g = graph(3, &[&[0, 1, 2], &[2], &[0], &[1]], &[(0, &[1, 2, 3])]).unwrap();
    // Ordered by scope.
    assert_eq!(g.partitions()[0].children, [2, 3, 1]);
    // One child: a region over the same scope as its child.
    let g = graph(1, &[&[0], &[0]], &[(0, &[1])]).unwrap();
    assert_eq!(g.partitions()[0].children, [1]);
    assert_eq!(g.root(), 0);
    let err = graph(1, &[&[0], &[0]], &[(0, &[])]).unwrap_err();
    assert!(
        matches!(err, StructureError::EmptyPartition { partition: 0 }),
        "{err}"
    );
    // Three children must still be disjoint and cover the parent.
    let err = graph(3, &[&[0, 1, 2], &[0], &[0, 1], &[2]], &[(0, &[1, 2, 3])]).unwrap_err();
    assert!(
        matches!(err, StructureError::NotDecomposable { var: 0, .. }),
        "{err}"
    );
    let err = graph(3, &[&[0, 1, 2], &[0], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(matches!(err, StructureError::NotSmooth { .. }), "{err}");
}

#[test]
fn empty_region_is_rejected() {
    let err = graph(2, &[&[0, 1], &[], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(err, StructureError::EmptyRegion { region: 1 }),
        "{err}"
    );
}

#[test]
fn variable_out_of_range_is_rejected() {
    let err = graph(2, &[&[0, 2], &[0], &[2]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(
            err,
            StructureError::VariableOutOfRange {
                var: 2,
                num_vars: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn duplicate_variable_is_rejected() {
    let err = graph(2, &[&[0, 1, 1], &[0], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(err, StructureError::DuplicateVariable { region: 0, var: 1 }),
        "{err}"
    );
}

#[test]
fn unknown_region_is_rejected() {
    let err = graph(2, &[&[0, 1], &[0], &[1]], &[(0, &[1, 5])]).unwrap_err();
    assert!(
        matches!(
            err,
            StructureError::UnknownRegion {
                partition: 0,
                region: 5
            }
        ),
        "{err}"
    );
}

#[test]
fn root_not_covering_all_variables_is_rejected() {
    let err = graph(3, &[&[0, 1], &[0], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(
            err,
            StructureError::RootScope {
                covered: 2,
                num_vars: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unreachable_region_is_rejected() {
    // A region that no partition reaches has no parent, so it is reported as a second root.
    let err = graph(2, &[&[0, 1], &[0], &[1], &[1]], &[(0, &[1, 2])]).unwrap_err();
    assert!(
        matches!(&err, StructureError::MultipleRoots { roots } if roots == &[0, 3]),
        "{err}"
    );
    // The same through the JSON reader.
    let text = r#"{"format": "einet-region-graph", "version": 1, "num_vars": 2,
        "regions": [{"scope": [0, 1]}, {"scope": [0]}, {"scope": [1]}, {"scope": [0]}],
        "partitions": [{"region": 0, "children": [1, 2]}]}"#;
    let err = RegionGraph::from_json_str(text).unwrap_err();
    assert!(
        matches!(&err, StructureError::MultipleRoots { roots } if roots == &[0, 3]),
        "{err}"
    );
}

#[test]
fn empty_graphs_are_rejected() {
    assert!(matches!(
        graph(0, &[], &[]),
        Err(StructureError::NoVariables)
    ));
    assert!(matches!(graph(2, &[], &[]), Err(StructureError::NoRegions)));
}

#[test]
fn rat_with_more_leaves_than_variables_is_rejected() {
    let err = random_binary_trees(20, 5, 2, 0).unwrap_err();
    assert!(
        matches!(&err, StructureError::InvalidParameters(m)
            if m.contains("depth 5") && m.contains("32") && m.contains("20 variables")),
        "{err}"
    );
    assert!(random_binary_trees(32, 5, 1, 0).is_ok());
    let err = random_binary_trees(20, 200, 1, 0).unwrap_err();
    assert!(matches!(err, StructureError::InvalidParameters(_)), "{err}");
}

#[test]
fn rat_depth_0_and_0_repetitions_are_rejected() {
    let err = random_binary_trees(20, 0, 2, 0).unwrap_err();
    assert!(
        matches!(&err, StructureError::InvalidParameters(m) if m.contains("depth")),
        "{err}"
    );
    let err = random_binary_trees(20, 2, 0, 0).unwrap_err();
    assert!(
        matches!(&err, StructureError::InvalidParameters(m) if m.contains("repetition")),
        "{err}"
    );
    assert!(matches!(
        random_binary_trees(0, 1, 1, 0),
        Err(StructureError::NoVariables)
    ));
}

#[test]
fn pd_bad_parameters_are_rejected() {
    let base = PoonDomingos {
        shape: vec![4, 4],
        deltas: vec![vec![2.0, 2.0]],
        axes: None,
        max_split_depth: None,
    };
    assert!(base.build().is_ok());
    let cases = [
        PoonDomingos {
            shape: vec![],
            deltas: vec![vec![]],
            ..base.clone()
        },
        PoonDomingos {
            shape: vec![4, 0],
            ..base.clone()
        },
        PoonDomingos {
            axes: Some(vec![2]),
            ..base.clone()
        },
        PoonDomingos {
            axes: Some(vec![1, 1]),
            ..base.clone()
        },
        PoonDomingos {
            deltas: vec![vec![2.0]],
            ..base.clone()
        },
        PoonDomingos {
            deltas: vec![vec![2.0, 0.0]],
            ..base.clone()
        },
        PoonDomingos {
            deltas: vec![vec![2.0, -1.0]],
            ..base.clone()
        },
        PoonDomingos {
            deltas: vec![vec![f64::NAN, 2.0]],
            ..base.clone()
        },
        PoonDomingos {
            deltas: vec![],
            ..base.clone()
        },
    ];
    for (i, p) in cases.iter().enumerate() {
        let err = p.build().unwrap_err();
        assert!(
            matches!(err, StructureError::InvalidParameters(_)),
            "case {i}: {err}"
        );
    }
    let err = cases[2].build().unwrap_err();
    assert!(err.to_string().contains("axis 2"), "{err}");
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_round_trip_is_exact_for_rat() {
    let g = random_binary_trees(50, 3, 4, 17).unwrap();
    let text = g.to_json_string();
    assert_eq!(RegionGraph::from_json_str(&text).unwrap(), g);
    assert_eq!(RegionGraphJson::from_graph(&g).into_graph().unwrap(), g);
    // The replicas survive.
    let back = RegionGraph::from_json_str(&text).unwrap();
    assert_eq!(back.regions().iter().map(|r| r.replica).max(), Some(3));
}

#[test]
fn json_round_trip_is_exact_for_pd() {
    for g in [
        pd(&[28, 28], 7.0, None),
        pd(&[32, 32], 8.0, Some(vec![1])),
        pd(&[2, 3, 4], 1.0, None),
    ] {
        let text = g.to_json_string();
        assert_eq!(RegionGraph::from_json_str(&text).unwrap(), g);
    }
}

#[test]
fn json_output_is_the_documented_format() {
    let g = random_binary_trees(2, 1, 1, 0).unwrap();
    let value: serde_json::Value = serde_json::from_str(&g.to_json_string()).unwrap();
    assert_eq!(value["format"], "einet-region-graph");
    assert_eq!(value["version"], 1);
    assert_eq!(value["num_vars"], 2);
    assert_eq!(value["regions"][0]["scope"], serde_json::json!([0, 1]));
    assert_eq!(value["regions"].as_array().unwrap().len(), 3);
    assert_eq!(value["partitions"][0]["region"], 0);
    assert_eq!(
        value["partitions"][0]["children"],
        serde_json::json!([1, 2])
    );
}

#[test]
fn json_replica_defaults_to_0_and_scopes_may_be_unsorted() {
    let text = r#"{"format": "einet-region-graph", "version": 1, "num_vars": 3,
        "regions": [{"scope": [2, 0, 1]}, {"scope": [1, 0], "replica": 4}, {"scope": [2]}],
        "partitions": [{"region": 0, "children": [2, 1]}]}"#;
    let g = RegionGraph::from_json_str(text).unwrap();
    assert_eq!(g.regions()[0].scope, [0, 1, 2]);
    assert_eq!(g.regions()[0].replica, 0);
    assert_eq!(g.regions()[1].replica, 4);
    assert_eq!(g.partitions()[0].children, [1, 2]);
}

#[test]
fn malformed_json_is_rejected_with_the_line() {
    let text = "{\n  \"format\": \"einet-region-graph\",\n  \"version\": 1\n  \"num_vars\": 2\n}";
    let err = RegionGraph::from_json_str(text).unwrap_err();
    assert!(
        matches!(&err, StructureError::Json(m) if m.contains("line 4")),
        "{err}"
    );
    let truncated = &random_binary_trees(4, 1, 1, 0).unwrap().to_json_string()[..40];
    let err = RegionGraph::from_json_str(truncated).unwrap_err();
    assert!(
        matches!(&err, StructureError::Json(m) if m.contains("line")),
        "{err}"
    );
}

#[test]
fn json_missing_field_wrong_format_and_invalid_graph_are_rejected() {
    let missing = r#"{"format": "einet-region-graph", "version": 1, "num_vars": 2,
        "regions": [{"scope": [0, 1]}]}"#;
    let err = RegionGraph::from_json_str(missing).unwrap_err();
    assert!(
        matches!(&err, StructureError::Json(m) if m.contains("partitions")),
        "{err}"
    );
    let wrong = r#"{"format": "onnx", "version": 1}"#;
    let err = RegionGraph::from_json_str(wrong).unwrap_err();
    assert!(
        matches!(&err, StructureError::Json(m) if m.contains("onnx")),
        "{err}"
    );
    let newer = r#"{"format": "einet-region-graph", "version": 7, "whatever": true}"#;
    let err = RegionGraph::from_json_str(newer).unwrap_err();
    assert!(
        matches!(&err, StructureError::Json(m) if m.contains("version 7")),
        "{err}"
    );
    let ternary = r#"{"format": "einet-region-graph", "version": 1, "num_vars": 3,
        "regions": [{"scope": [0, 1, 2]}, {"scope": [0]}, {"scope": [1]}, {"scope": [2]}],
        "partitions": [{"region": 0, "children": [1, 2, 3]}]}"#;
    let g = RegionGraph::from_json_str(ternary).unwrap();
    assert_eq!(g.partitions()[0].children, [1, 2, 3]);
    let empty = r#"{"format": "einet-region-graph", "version": 1, "num_vars": 1,
        "regions": [{"scope": [0]}, {"scope": [0]}],
        "partitions": [{"region": 0, "children": []}]}"#;
    let err = RegionGraph::from_json_str(empty).unwrap_err();
    assert!(
        matches!(err, StructureError::EmptyPartition { partition: 0 }),
        "{err}"
    );
}

// ---------------------------------------------------------------- determinism

#[test]
fn rat_depends_on_the_seed_and_repetitions_are_independent_streams() {
    let a = random_binary_trees(100, 3, 3, 1).unwrap();
    assert_eq!(a, random_binary_trees(100, 3, 3, 1).unwrap());
    assert_ne!(a, random_binary_trees(100, 3, 3, 2).unwrap());
    // Adding repetitions does not change the earlier ones.
    let b = random_binary_trees(100, 3, 1, 1).unwrap();
    let scopes = |g: &RegionGraph| -> Vec<Vec<u32>> {
        rat_leaves(g, 0)
            .into_iter()
            .map(|r| g.regions()[r].scope.clone())
            .collect()
    };
    assert_eq!(scopes(&a), scopes(&b));
}

fn rat_params() -> impl Strategy<Value = (usize, usize, usize, u64)> {
    (2usize..60).prop_flat_map(|n| {
        let max_depth = (n.ilog2() as usize).min(4);
        (Just(n), 1..=max_depth, 1usize..5, any::<u64>())
    })
}

fn pd_params() -> impl Strategy<Value = PoonDomingos> {
    let delta = prop_oneof![(1u32..=4).prop_map(f64::from), 1.0f64..4.0];
    let deltas = prop::collection::vec(prop::collection::vec(delta, 2), 1..=2);
    let axes = prop_oneof![
        Just(None),
        Just(Some(vec![0])),
        Just(Some(vec![1])),
        Just(Some(vec![1, 0])),
        Just(Some(vec![0, 1])),
    ];
    let max_depth = prop_oneof![3 => Just(None), 1 => (0usize..4).prop_map(Some)];
    (
        prop::collection::vec(2usize..12, 2),
        deltas,
        axes,
        max_depth,
    )
        .prop_map(|(shape, deltas, axes, max_split_depth)| PoonDomingos {
            shape,
            deltas,
            axes,
            max_split_depth,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rat_graphs_are_valid_and_deterministic((n, depth, reps, seed) in rat_params()) {
        let g = random_binary_trees(n, depth, reps, seed).unwrap();
        assert_region_graph_invariants(&g);
        let (sums, leaf_count, products, mixed) = counts(&g);
        let per_rep = 1usize << depth;
        prop_assert_eq!(leaf_count, reps * per_rep);
        prop_assert_eq!(sums, 1 + reps * (per_rep - 2));
        prop_assert_eq!(products, reps * (per_rep - 1));
        prop_assert_eq!(mixed, usize::from(reps > 1));
        prop_assert_eq!(g.regions()[g.root()].partitions.len(), reps);
        for rep in 0..reps as u32 {
            let l = rat_leaves(&g, rep);
            prop_assert_eq!(l.len(), per_rep);
            assert_partitions_variables(&g, &l, "RAT repetition leaves");
        }
        prop_assert_eq!(&g, &random_binary_trees(n, depth, reps, seed).unwrap());
        prop_assert_eq!(&RegionGraph::from_json_str(&g.to_json_string()).unwrap(), &g);
    }

    #[test]
    fn pd_graphs_are_valid_and_deterministic(params in pd_params()) {
        let g = params.build().unwrap();
        assert_region_graph_invariants(&g);
        prop_assert!(g.regions().iter().all(|r| r.replica == 0));
        let l = leaves(&g);
        if params.max_split_depth.is_none() {
            assert_partitions_variables(&g, &l, "PD leaves");
        } else {
            let mut covered = vec![false; g.num_vars()];
            for &r in &l {
                for &v in &g.regions()[r].scope {
                    covered[v as usize] = true;
                }
            }
            prop_assert!(covered.iter().all(|&c| c));
        }
        // Regions are shared, never duplicated.
        let mut scopes: Vec<&Vec<u32>> = g.regions().iter().map(|r| &r.scope).collect();
        scopes.sort();
        let before = scopes.len();
        scopes.dedup();
        prop_assert_eq!(scopes.len(), before);
        prop_assert_eq!(&g, &params.build().unwrap());
        prop_assert_eq!(&RegionGraph::from_json_str(&g.to_json_string()).unwrap(), &g);
    }
}
