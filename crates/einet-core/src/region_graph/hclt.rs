//! The region graph of a hidden Chow–Liu tree (HCLT) for CP layers.
//!
//! For every variable `v` of a rooted tree there is a leaf region `{v}` and an inner region
//! over the variables of `v`'s subtree, whose one partition has the leaf region and the inner
//! regions of `v`'s children as its children. With CP layers the partition is the product
//! `f_v(k) = p(x_v | Z_v = k) · Π_c g_c(k)` and the inner region of a child `c` is the sum
//! `g_c(k) = Σ_j W_c[k, j] f_c(j)` — one `K × K` matrix per tree edge, the circuit of Liu &
//! Van den Broeck (2021); the root's region sums its product to the classes. Several trees
//! are mixed by a root region with one single-child partition per tree.

use super::{RegionGraph, RegionStore};
use crate::error::StructureError;
use crate::learn::ChowLiuTree;

/// The HCLT region graph of `trees` (all over the same variables; two or more are mixed).
pub fn hclt(trees: &[ChowLiuTree]) -> Result<RegionGraph, StructureError> {
    let Some(first) = trees.first() else {
        return Err(StructureError::InvalidParameters(
            "an HCLT needs at least one tree".into(),
        ));
    };
    let num_vars = first.num_vars();
    let mut store = RegionStore::default();
    let root = (trees.len() > 1).then(|| store.push((0..num_vars as u32).collect(), 0));
    for (t, tree) in trees.iter().enumerate() {
        if tree.num_vars() != num_vars {
            return Err(StructureError::InvalidParameters(format!(
                "tree {t} is over {} variables, tree 0 over {num_vars}",
                tree.num_vars()
            )));
        }
        tree.check()
            .map_err(|e| StructureError::InvalidParameters(format!("tree {t}: {e}")))?;
        let replica = t as u32;
        let children = tree.children();
        let order = tree.top_down();
        // Scopes bottom-up: a variable's subtree.
        let mut scope: Vec<Vec<u32>> = vec![Vec::new(); num_vars];
        for &v in order.iter().rev() {
            let mut s = vec![v as u32];
            for &c in &children[v] {
                s.extend(&scope[c]);
            }
            s.sort_unstable();
            scope[v] = s;
        }
        let mut inner = vec![0; num_vars];
        for &v in &order {
            inner[v] = store.push(scope[v].clone(), replica);
        }
        for &v in &order {
            let leaf = store.push(vec![v as u32], replica);
            let mut parts = vec![leaf];
            parts.extend(children[v].iter().map(|&c| inner[c]));
            store.partitions.push((inner[v], parts));
        }
        if let Some(root) = root {
            store.partitions.push((root, vec![inner[tree.root]]));
        }
    }
    store.finish(num_vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize, root: usize) -> ChowLiuTree {
        // 0 - 1 - 2 - … rooted at `root`.
        let parent = (0..n)
            .map(|v| match v.cmp(&root) {
                std::cmp::Ordering::Less => Some(v + 1),
                std::cmp::Ordering::Equal => None,
                std::cmp::Ordering::Greater => Some(v - 1),
            })
            .collect();
        ChowLiuTree { root, parent }
    }

    #[test]
    fn one_tree_has_a_leaf_and_an_inner_region_per_variable() {
        let g = hclt(&[chain(4, 1)]).unwrap();
        let counts = g.counts();
        assert_eq!(g.regions().len(), 8);
        assert_eq!(g.partitions().len(), 4);
        assert_eq!(counts.leaf_regions, 4);
        // The root's partition: its leaf and the subtrees {0} and {2, 3}.
        let root = &g.regions()[g.root()];
        assert_eq!(root.scope, [0, 1, 2, 3]);
        let part = &g.partitions()[root.partitions[0]];
        let scopes: Vec<&[u32]> = part
            .children
            .iter()
            .map(|&c| g.regions()[c].scope.as_slice())
            .collect();
        assert_eq!(scopes, [&[0][..], &[1], &[2, 3]]);
        // A tree leaf's region has its leaf region as its only child.
        let leaf_tree_region = g
            .regions()
            .iter()
            .position(|r| r.scope == [3] && !r.is_leaf())
            .unwrap();
        let only = &g.partitions()[g.regions()[leaf_tree_region].partitions[0]];
        assert_eq!(only.children.len(), 1);
        assert!(g.regions()[only.children[0]].is_leaf());
    }

    #[test]
    fn several_trees_are_mixed_at_the_root() {
        let g = hclt(&[chain(3, 0), chain(3, 2)]).unwrap();
        let root = &g.regions()[g.root()];
        assert_eq!(root.partitions.len(), 2);
        for &p in &root.partitions {
            assert_eq!(g.partitions()[p].children.len(), 1);
        }
        assert_eq!(g.regions().len(), 1 + 2 * 6);
    }

    #[test]
    fn inconsistent_trees_are_errors() {
        assert!(hclt(&[]).is_err());
        assert!(hclt(&[chain(3, 0), chain(4, 0)]).is_err());
        for parent in [
            vec![None, Some(2), Some(1)],
            vec![Some(1), Some(0)],
            vec![None, Some(5)],
            vec![None, Some(1)],
        ] {
            let tree = ChowLiuTree { root: 0, parent };
            assert!(tree.check().is_err());
            assert!(hclt(&[tree]).is_err());
        }
    }
}
