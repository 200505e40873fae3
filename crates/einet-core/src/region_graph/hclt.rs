//! The region graph of a hidden Chow–Liu tree (HCLT) for CP layers.
//!
//! For every variable `v` of a rooted tree there is a leaf region `{v}`; a variable with
//! children also has an inner region over the variables of its subtree, whose one partition
//! has `v`'s leaf region and its children's regions (inner, or the leaf region of a child
//! without children) as its children. With CP layers the partition is the product
//! `f_v(k) = p(x_v | Z_v = k) · Π_c g_c(k)` and the inner region is the sum
//! `g_v(k) = Σ_j W_v[k, j] f_v(j)` — one `K × K` matrix per inner variable, the circuit of
//! Liu & Van den Broeck (2021) as PyJuice compiles it: a childless child enters its parent's
//! product as its leaf vector directly (a mixture over its `K` leaf distributions would add
//! weights but, for categorical leaves, nothing a leaf vector cannot already express). The
//! root's region sums its product to the classes. Several trees are mixed by a root region
//! with one single-child partition per tree.

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
        // The region of each variable: its inner region, or its leaf region when it has no
        // children (but the root always sums, even over a single variable).
        let mut region = vec![0; num_vars];
        let mut leaf = vec![0; num_vars];
        for &v in &order {
            let inner = !children[v].is_empty() || v == tree.root;
            if inner {
                region[v] = store.push(scope[v].clone(), replica);
            }
            leaf[v] = store.push(vec![v as u32], replica);
            if !inner {
                region[v] = leaf[v];
            }
        }
        for &v in &order {
            if children[v].is_empty() && v != tree.root {
                continue;
            }
            let mut parts = vec![leaf[v]];
            parts.extend(children[v].iter().map(|&c| region[c]));
            store.partitions.push((region[v], parts));
        }
        if let Some(root) = root {
            store.partitions.push((root, vec![region[tree.root]]));
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
    fn a_leaf_region_per_variable_and_an_inner_region_per_parent() {
        // 0 - 1 - 2 - 3 rooted at 1: variables 1 and 2 have children.
        let g = hclt(&[chain(4, 1)]).unwrap();
        let counts = g.counts();
        assert_eq!(g.regions().len(), 6);
        assert_eq!(g.partitions().len(), 2);
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
        // The childless 0 enters the root's product as its leaf region.
        assert!(g.regions()[part.children[0]].is_leaf());
        // A single variable still gets a sum at the root.
        let one = hclt(&[chain(1, 0)]).unwrap();
        assert_eq!(one.partitions()[0].children.len(), 1);
    }

    #[test]
    fn several_trees_are_mixed_at_the_root() {
        let g = hclt(&[chain(3, 0), chain(3, 2)]).unwrap();
        let root = &g.regions()[g.root()];
        assert_eq!(root.partitions.len(), 2);
        for &p in &root.partitions {
            assert_eq!(g.partitions()[p].children.len(), 1);
        }
        // Per tree: 3 leaf regions and the inner regions of the chain's two parents.
        assert_eq!(g.regions().len(), 1 + 2 * 5);
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
