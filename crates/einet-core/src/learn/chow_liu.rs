//! The Chow–Liu tree: the maximum spanning tree of the pairwise mutual information, which is
//! the tree-shaped distribution closest (in KL divergence) to the data's (Chow & Liu, 1968).

use serde::{Deserialize, Serialize};

use super::mutual_information::MutualInformation;
use crate::error::StructureError;

/// A spanning tree over variables `0..num_vars`, rooted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChowLiuTree {
    /// The root variable.
    pub root: usize,
    /// The parent of every variable (`None` for the root).
    pub parent: Vec<Option<usize>>,
}

impl ChowLiuTree {
    /// The maximum spanning tree of `mi` (Prim's algorithm on the dense matrix, `O(V²)`; ties
    /// go to the lower variable index), rooted at `root`, or when `None` at its center (the
    /// variable whose farthest variable is nearest, the lower index of two), as PyJuice
    /// roots its HCLT: the shallowest rooting.
    pub fn from_mutual_information(
        mi: &MutualInformation,
        root: Option<usize>,
    ) -> Result<ChowLiuTree, StructureError> {
        let n = mi.num_vars;
        if n == 0 {
            return Err(StructureError::Learning("no variables".into()));
        }
        if let Some(r) = root.filter(|&r| r >= n) {
            return Err(StructureError::Learning(format!(
                "root variable {r} is not one of the {n} variables"
            )));
        }
        let edges = maximum_spanning_tree(mi);
        let root = root.unwrap_or_else(|| center(n, &edges));
        Ok(ChowLiuTree::rooted(n, &edges, root))
    }

    /// The tree with undirected `edges` over `num_vars` variables, rooted at `root`.
    fn rooted(num_vars: usize, edges: &[(usize, usize)], root: usize) -> ChowLiuTree {
        let mut neighbours = vec![Vec::new(); num_vars];
        for &(a, b) in edges {
            neighbours[a].push(b);
            neighbours[b].push(a);
        }
        let mut parent = vec![None; num_vars];
        let mut seen = vec![false; num_vars];
        let mut stack = vec![root];
        seen[root] = true;
        while let Some(v) = stack.pop() {
            for &w in &neighbours[v] {
                if !seen[w] {
                    seen[w] = true;
                    parent[w] = Some(v);
                    stack.push(w);
                }
            }
        }
        ChowLiuTree { root, parent }
    }

    /// Number of variables.
    pub fn num_vars(&self) -> usize {
        self.parent.len()
    }

    /// The edges as `(smaller, larger)` variable pairs, sorted.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        let mut edges: Vec<(usize, usize)> = self
            .parent
            .iter()
            .enumerate()
            .filter_map(|(v, p)| p.map(|p| (p.min(v), p.max(v))))
            .collect();
        edges.sort_unstable();
        edges
    }

    /// The children of every variable, in increasing order.
    pub fn children(&self) -> Vec<Vec<usize>> {
        let mut children = vec![Vec::new(); self.num_vars()];
        for (v, p) in self.parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(v);
            }
        }
        children
    }

    /// The variables reachable from the root, every parent before its children (breadth
    /// first); all of them when the tree is valid ([`ChowLiuTree::check`]).
    pub fn top_down(&self) -> Vec<usize> {
        let children = self.children();
        let mut seen = vec![false; self.num_vars()];
        let mut order = Vec::with_capacity(self.num_vars());
        if self.root < self.num_vars() {
            order.push(self.root);
            seen[self.root] = true;
        }
        let mut i = 0;
        while i < order.len() {
            for &c in &children[order[i]] {
                if !std::mem::replace(&mut seen[c], true) {
                    order.push(c);
                }
            }
            i += 1;
        }
        order
    }

    /// Checks that this is a tree over all its variables: the root has no parent, every other
    /// variable has a parent among the variables, and every variable is reached from the root.
    pub fn check(&self) -> Result<(), StructureError> {
        let n = self.num_vars();
        let bad = |m: String| Err(StructureError::InvalidParameters(m));
        if self.root >= n || self.parent[self.root].is_some() {
            return bad(format!(
                "the tree's root {} is not a parentless one of its {n} variables",
                self.root
            ));
        }
        if let Some((v, p)) = self
            .parent
            .iter()
            .enumerate()
            .find_map(|(v, p)| p.filter(|&p| p >= n || p == v).map(|p| (v, p)))
        {
            return bad(format!("variable {v} has the parent {p}"));
        }
        let reached = self.top_down().len();
        if reached != n {
            return bad(format!(
                "only {reached} of the tree's {n} variables are connected to its root"
            ));
        }
        Ok(())
    }

    /// Σ over the edges of their mutual information in `mi`.
    pub fn weight(&self, mi: &MutualInformation) -> f64 {
        self.edges().iter().map(|&(a, b)| mi.get(a, b)).sum()
    }
}

/// The center of the tree with `edges` over `n` variables: the middle of a longest path (the
/// lower index of the two middles of a path with an odd number of edges).
fn center(n: usize, edges: &[(usize, usize)]) -> usize {
    let tree = ChowLiuTree::rooted(n, edges, 0);
    let depth = |t: &ChowLiuTree| {
        let mut d = vec![0usize; n];
        for v in t.top_down() {
            if let Some(p) = t.parent[v] {
                d[v] = d[p] + 1;
            }
        }
        d
    };
    let far = |d: &[usize]| {
        (0..n)
            .max_by_key(|&v| (d[v], std::cmp::Reverse(v)))
            .unwrap_or(0)
    };
    // The farthest variable from any one is an end of a longest path.
    let a = far(&depth(&tree));
    let from_a = ChowLiuTree::rooted(n, edges, a);
    let d = depth(&from_a);
    let b = far(&d);
    let mut path = vec![b];
    while let Some(p) = from_a.parent[*path.last().unwrap_or(&a)] {
        path.push(p);
    }
    let len = d[b];
    let (m1, m2) = (path[len / 2], path[len.div_ceil(2)]);
    m1.min(m2)
}

/// The undirected edges of a maximum spanning tree of the complete graph weighted by `mi`.
fn maximum_spanning_tree(mi: &MutualInformation) -> Vec<(usize, usize)> {
    let n = mi.num_vars;
    let mut in_tree = vec![false; n];
    // The best weight connecting each variable to the tree so far, and through which vertex.
    let mut best = vec![f64::NEG_INFINITY; n];
    let mut via = vec![0usize; n];
    let mut edges = Vec::with_capacity(n.saturating_sub(1));
    in_tree[0] = true;
    for (v, b) in best.iter_mut().enumerate().skip(1) {
        *b = mi.get(0, v);
    }
    for _ in 1..n {
        let mut next = None;
        for v in 0..n {
            if !in_tree[v] && next.is_none_or(|u: usize| best[v] > best[u]) {
                next = Some(v);
            }
        }
        let Some(v) = next else { break };
        in_tree[v] = true;
        edges.push((via[v].min(v), via[v].max(v)));
        for w in 0..n {
            if !in_tree[w] && mi.get(v, w) > best[w] {
                best[w] = mi.get(v, w);
                via[w] = v;
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf::LeafFamily;
    use crate::learn::mutual_information::{MutualInformationConfig, mutual_information};
    use crate::rng::Rng;

    /// A random tree over `n` variables: the parent of `v` is one of `0..v`, shuffled labels.
    fn random_tree(n: usize, seed: u64) -> (Vec<Option<usize>>, Vec<usize>) {
        let mut rng = Rng::new(seed, 3);
        let mut labels: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut labels);
        let mut parent = vec![None; n];
        for i in 1..n {
            let p = rng.below(i as u32) as usize;
            parent[labels[i]] = Some(labels[p]);
        }
        (parent, labels)
    }

    fn edges_of(parent: &[Option<usize>]) -> Vec<(usize, usize)> {
        let mut e: Vec<(usize, usize)> = parent
            .iter()
            .enumerate()
            .filter_map(|(v, p)| p.map(|p| (p.min(v), p.max(v))))
            .collect();
        e.sort_unstable();
        e
    }

    #[test]
    fn recovers_a_binary_tree_from_its_samples() {
        // 12 binary variables on a random tree; each child equals its parent with probability
        // 0.85 (flip 0.15). 5,000 samples with a fixed seed.
        let n = 12;
        let (parent, order) = random_tree(n, 11);
        let mut rng = Rng::new(12, 4);
        let rows = 5_000;
        let mut data = vec![0.0f32; rows * n];
        for r in 0..rows {
            for &v in &order {
                let x = match parent[v] {
                    None => f32::from(u8::from(rng.uniform() < 0.5)),
                    Some(p) => {
                        let up = data[r * n + p];
                        if rng.uniform() < 0.15 { 1.0 - up } else { up }
                    }
                };
                data[r * n + v] = x;
            }
        }
        let mi = mutual_information(
            &data,
            n,
            1,
            &vec![LeafFamily::Bernoulli; n],
            &MutualInformationConfig::default(),
        )
        .unwrap();
        let tree = ChowLiuTree::from_mutual_information(&mi, None).unwrap();
        assert_eq!(tree.edges(), edges_of(&parent));
        // Rooted: every variable but the root has a parent, and the order is top-down.
        assert_eq!(tree.parent[tree.root], None);
        let order = tree.top_down();
        assert_eq!(order.len(), n);
        for (i, &v) in order.iter().enumerate() {
            if let Some(p) = tree.parent[v] {
                assert!(order[..i].contains(&p));
            }
        }
    }

    #[test]
    fn recovers_a_gaussian_tree_from_its_samples() {
        // x_child = 0.7 · x_parent + noise, 10 variables, 4,000 samples.
        let n = 10;
        let (parent, order) = random_tree(n, 21);
        let mut rng = Rng::new(22, 5);
        let rows = 4_000;
        let mut data = vec![0.0f32; rows * n];
        for r in 0..rows {
            for &v in &order {
                let noise = rng.normal();
                data[r * n + v] = match parent[v] {
                    None => noise,
                    Some(p) => 0.7 * data[r * n + p] + 0.7 * noise,
                };
            }
        }
        let family = LeafFamily::Normal {
            min_var: 1e-6,
            max_var: 100.0,
        };
        let mi = mutual_information(
            &data,
            n,
            1,
            &vec![family; n],
            &MutualInformationConfig::default(),
        )
        .unwrap();
        let tree = ChowLiuTree::from_mutual_information(&mi, Some(3)).unwrap();
        assert_eq!(tree.root, 3);
        assert_eq!(tree.edges(), edges_of(&parent));
    }

    #[test]
    fn the_spanning_tree_has_maximum_weight() {
        // Against every spanning tree of 5 vertices (Prüfer sequences: 5³ = 125 trees).
        let n = 5;
        let mut rng = Rng::new(31, 6);
        let mut values = vec![0.0; n * n];
        for u in 0..n {
            for v in u + 1..n {
                let w = f64::from(rng.uniform());
                values[u * n + v] = w;
                values[v * n + u] = w;
            }
        }
        let mi = MutualInformation {
            num_vars: n,
            values,
            rows: 0,
        };
        let tree = ChowLiuTree::from_mutual_information(&mi, None).unwrap();
        let mut best = f64::NEG_INFINITY;
        for code in 0..n.pow(3) {
            let prufer = [code % n, (code / n) % n, code / (n * n)];
            let mut degree = vec![1usize; n];
            for &p in &prufer {
                degree[p] += 1;
            }
            let mut weight = 0.0;
            for &p in &prufer {
                let leaf = (0..n).find(|&v| degree[v] == 1).unwrap();
                weight += mi.get(leaf, p);
                degree[leaf] -= 1;
                degree[p] -= 1;
            }
            let rest: Vec<usize> = (0..n).filter(|&v| degree[v] == 1).collect();
            weight += mi.get(rest[0], rest[1]);
            best = best.max(weight);
        }
        assert!((tree.weight(&mi) - best).abs() < 1e-12);
    }

    #[test]
    fn the_default_root_is_the_center() {
        // A path 0 - 1 - 2 - 3 - 4 with a branch 3 - 5 - 6: the longest paths run from 0 to
        // 4 or 6 (4 and 5 edges), so the center is 2 (its farthest variable, 6, is 3 away).
        let edges = [(0, 1), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6)];
        assert_eq!(center(7, &edges), 2);
        // Two middles (a path of 3 edges): the lower index.
        assert_eq!(center(4, &[(0, 1), (1, 2), (2, 3)]), 1);
        assert_eq!(center(1, &[]), 0);
    }

    #[test]
    fn a_root_outside_the_variables_is_an_error() {
        let mi = MutualInformation {
            num_vars: 2,
            values: vec![0.0, 1.0, 1.0, 0.0],
            rows: 0,
        };
        assert!(ChowLiuTree::from_mutual_information(&mi, Some(2)).is_err());
        let tree = ChowLiuTree::from_mutual_information(&mi, None).unwrap();
        assert_eq!(tree.edges(), vec![(0, 1)]);
        assert_eq!(tree.root, 0);
    }
}
