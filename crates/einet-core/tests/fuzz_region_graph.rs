//! Fuzzing the JSON region-graph reader: valid graphs (the documented example, RAT,
//! Poon–Domingos, a hidden Chow–Liu tree with n-ary partitions, leaf sums with unary ones)
//! written by [`RegionGraph::to_json_string`], edited structurally (scopes, partitions,
//! counts and header fields replaced, removed, copied or grown) and, one case in four,
//! byte-mutated. Every
//! read must give a structure error or a valid graph that round-trips and lays out — never a
//! panic.
//!
//! Cases per run: 4,000 (`region_graph_json_survives_mutations`). The reader has not failed
//! on any input yet (also not in a run of 30 times as many cases), so there is no corpus.

mod common;

use std::sync::LazyLock;

use common::{edit_json, json_edits};
use einet_core::learn::ChowLiuTree;
use einet_core::{
    Einet, EinetConfig, LayerKind, LeafFamily, RegionGraph, hclt, poon_domingos,
    random_binary_trees,
};
use einet_testsuite::fuzz::{self, apply};
use proptest::prelude::*;
use proptest::sample::Index;

/// The valid graphs the mutations start from, as parsed JSON documents.
static VALID: LazyLock<Vec<serde_json::Value>> = LazyLock::new(|| {
    let tree = ChowLiuTree {
        root: 1,
        parent: vec![Some(1), None, Some(1), Some(2), Some(1)],
    };
    let graphs = [
        RegionGraph::new(
            2,
            vec![vec![0, 1], vec![0], vec![1]],
            vec![0; 3],
            vec![(0, vec![1, 2])],
        ),
        random_binary_trees(7, 2, 2, 3),
        poon_domingos(&[2, 3], 1.0),
        hclt(&[tree.clone(), tree]),
        random_binary_trees(3, 1, 1, 0).map(|g| g.with_leaf_sums()),
    ];
    graphs
        .into_iter()
        .map(|g| serde_json::from_str(&g.unwrap().to_json_string()).unwrap())
        .collect()
});

/// A graph that parsed must be what it says: it round-trips through its JSON, and laying it
/// out (as a model file's reader does) gives a model or a configuration error.
fn check_graph(graph: &RegionGraph) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        &RegionGraph::from_json_str(&graph.to_json_string()).unwrap(),
        graph
    );
    for layer in [LayerKind::Tucker, LayerKind::Cp] {
        let config = EinetConfig {
            layer,
            ..EinetConfig::new(2, LeafFamily::Bernoulli)
        };
        if let Ok(einet) = Einet::new(graph.clone(), config, 0) {
            prop_assert_eq!(einet.params.check(&einet.layout), Ok(()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config(4000))]
    #[test]
    fn region_graph_json_survives_mutations(
        which in any::<Index>(),
        edits in json_edits(0, 4),
        bytes in prop_oneof![3 => Just(Vec::new()), 1 => fuzz::mutations(2)],
    ) {
        let doc = edit_json(&VALID[which.index(VALID.len())], &edits);
        // Invalid UTF-8 is decoded lossily, as a caller holding a `&str` would.
        let text = apply(doc.to_string().as_bytes(), &bytes);
        if let Ok(graph) = RegionGraph::from_json_str(&String::from_utf8_lossy(&text)) {
            check_graph(&graph)?;
        }
    }
}
