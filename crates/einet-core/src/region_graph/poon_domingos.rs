//! Poon–Domingos structures over grids of any dimension.
//!
//! The variables of a grid with shape `[s_0, …, s_{D−1}]` are indexed row-major (the last
//! axis varies fastest). A *hypercube* is a box of per-axis half-open intervals `[lo, hi)`.
//! Starting from the whole grid, hypercubes are processed breadth-first: each is split by
//! the first delta (in list order) that has a cut point strictly inside it on some allowed
//! axis, with one partition per such axis and interior cut point. Child hypercubes are
//! shared between all parents that produce them, so the result is a DAG.

use std::collections::{HashMap, VecDeque};

use super::{RegionGraph, RegionId, RegionStore};
use crate::error::StructureError;

/// Parameters of a Poon–Domingos structure.
#[derive(Clone, Debug, PartialEq)]
pub struct PoonDomingos {
    /// Grid shape, e.g. `[28, 28]`; variables are indexed row-major.
    pub shape: Vec<usize>,
    /// One or several deltas; each is one step size per axis.
    pub deltas: Vec<Vec<f64>>,
    /// Axes that may be cut (all when `None`).
    pub axes: Option<Vec<usize>>,
    /// Maximum split depth (unlimited when `None`).
    pub max_split_depth: Option<usize>,
}

/// Poon–Domingos structure with one delta on every axis.
pub fn poon_domingos(shape: &[usize], delta: f64) -> Result<RegionGraph, StructureError> {
    PoonDomingos {
        shape: shape.to_vec(),
        deltas: vec![vec![delta; shape.len()]],
        axes: None,
        max_split_depth: None,
    }
    .build()
}

/// A hypercube: one half-open interval `[lo, hi)` per axis.
type Cube = Vec<(usize, usize)>;

impl PoonDomingos {
    /// Builds the region graph.
    ///
    /// Global cut points of axis `a` (size `s`) under step size `δ` are `ceil((i+1)·δ)` for
    /// `i < floor((s−1)/δ)`. Hypercubes at depth `≥ max_split_depth` are not split. All
    /// regions get replica 0. Fails with [`StructureError::InvalidParameters`] for an empty
    /// shape, a zero-size axis, no deltas, a delta of the wrong length or with a step size
    /// that is not finite and positive, or an axis that is out of range or listed twice.
    pub fn build(&self) -> Result<RegionGraph, StructureError> {
        let num_vars = self.validate()?;
        let dims = self.shape.len();
        let axes: Vec<usize> = match &self.axes {
            Some(axes) => axes.clone(),
            None => (0..dims).collect(),
        };
        // cuts[delta][axis]: sorted, distinct global cut points.
        let cuts: Vec<Vec<Vec<usize>>> = self
            .deltas
            .iter()
            .map(|delta| {
                self.shape
                    .iter()
                    .zip(delta)
                    .map(|(&s, &d)| cut_points(s, d))
                    .collect()
            })
            .collect();
        let strides = strides(&self.shape);

        let mut store = RegionStore::default();
        let mut ids: HashMap<Cube, RegionId> = HashMap::new();
        let mut queue: VecDeque<(Cube, usize)> = VecDeque::new();
        let whole: Cube = self.shape.iter().map(|&s| (0, s)).collect();
        let (root, _) = store.intern(cube_scope(&whole, &strides), 0);
        ids.insert(whole.clone(), root);
        queue.push_back((whole, 0));

        while let Some((cube, depth)) = queue.pop_front() {
            if self.max_split_depth.is_some_and(|m| depth >= m) {
                continue;
            }
            let region = ids[&cube];
            for delta_cuts in &cuts {
                let mut found = false;
                for &axis in &axes {
                    let (lo, hi) = cube[axis];
                    let cs = &delta_cuts[axis];
                    let start = cs.partition_point(|&c| c <= lo);
                    let end = cs.partition_point(|&c| c < hi);
                    found |= start < end;
                    for &c in &cs[start..end] {
                        let mut low = cube.clone();
                        low[axis].1 = c;
                        let mut high = cube.clone();
                        high[axis].0 = c;
                        let mut child = |sub: Cube| -> RegionId {
                            if let Some(&id) = ids.get(&sub) {
                                return id;
                            }
                            let (id, _) = store.intern(cube_scope(&sub, &strides), 0);
                            ids.insert(sub.clone(), id);
                            queue.push_back((sub, depth + 1));
                            id
                        };
                        let a = child(low);
                        let b = child(high);
                        store.partitions.push((region, vec![a, b]));
                    }
                }
                if found {
                    break;
                }
            }
        }
        store.finish(num_vars)
    }

    /// Checks the parameters; returns the number of variables.
    fn validate(&self) -> Result<usize, StructureError> {
        let invalid = |msg: String| Err(StructureError::InvalidParameters(msg));
        let dims = self.shape.len();
        if dims == 0 {
            return invalid("Poon–Domingos needs a grid shape with at least one axis".into());
        }
        if let Some(axis) = self.shape.iter().position(|&s| s == 0) {
            return invalid(format!(
                "Poon–Domingos grid shape {:?} has size 0 on axis {axis}",
                self.shape
            ));
        }
        let num_vars = self
            .shape
            .iter()
            .try_fold(1usize, |n, &s| n.checked_mul(s))
            .filter(|&n| u32::try_from(n - 1).is_ok());
        let Some(num_vars) = num_vars else {
            return invalid(format!(
                "Poon–Domingos grid shape {:?} has more than 2^32 variables",
                self.shape
            ));
        };
        if self.deltas.is_empty() {
            return invalid("Poon–Domingos needs at least one delta".into());
        }
        for (j, delta) in self.deltas.iter().enumerate() {
            if delta.len() != dims {
                return invalid(format!(
                    "Poon–Domingos delta {j} has {} step sizes, but the grid has {dims} axes",
                    delta.len()
                ));
            }
            if let Some((axis, d)) = delta
                .iter()
                .enumerate()
                .find(|(_, d)| !(d.is_finite() && **d > 0.0))
            {
                return invalid(format!(
                    "Poon–Domingos delta {j} has step size {d} on axis {axis}; step sizes must \
                     be finite and > 0"
                ));
            }
        }
        if let Some(axes) = &self.axes {
            let mut seen = vec![false; dims];
            for &axis in axes {
                if axis >= dims {
                    return invalid(format!(
                        "Poon–Domingos axis {axis} is out of range for a {dims}-dimensional grid"
                    ));
                }
                if std::mem::replace(&mut seen[axis], true) {
                    return invalid(format!("Poon–Domingos axis {axis} is listed twice"));
                }
            }
        }
        Ok(num_vars)
    }
}

/// Sorted, distinct global cut points `ceil((i+1)·δ)`, `i < floor((s−1)/δ)`, of an axis of size
/// `s`. For `δ ≤ 1` these are all of `1..s`, computed directly to avoid a huge loop.
fn cut_points(s: usize, delta: f64) -> Vec<usize> {
    if delta <= 1.0 {
        return (1..s).collect();
    }
    let num = ((s - 1) as f64 / delta).floor() as usize;
    let mut cps: Vec<usize> = (0..num)
        .map(|i| ((i + 1) as f64 * delta).ceil() as usize)
        .filter(|&c| 0 < c && c < s)
        .collect();
    cps.sort_unstable();
    cps.dedup();
    cps
}

/// Row-major strides of a grid shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    strides
}

/// The variables of a hypercube, ascending (row-major enumeration is already sorted).
fn cube_scope(cube: &[(usize, usize)], strides: &[usize]) -> Vec<u32> {
    let size: usize = cube.iter().map(|&(lo, hi)| hi - lo).product();
    let mut scope = Vec::with_capacity(size);
    let mut idx: Vec<usize> = cube.iter().map(|&(lo, _)| lo).collect();
    loop {
        let var: usize = idx.iter().zip(strides).map(|(i, s)| i * s).sum();
        scope.push(var as u32);
        // Odometer increment, last axis fastest.
        let mut a = cube.len();
        loop {
            if a == 0 {
                return scope;
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < cube[a].1 {
                break;
            }
            idx[a] = cube[a].0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_match_the_reference_formula() {
        assert_eq!(cut_points(28, 7.0), [7, 14, 21]);
        assert_eq!(cut_points(32, 8.0), [8, 16, 24]);
        assert_eq!(cut_points(28, 4.0), [4, 8, 12, 16, 20, 24]);
        assert_eq!(cut_points(10, 2.5), [3, 5, 8]);
        assert_eq!(cut_points(5, 1.0), [1, 2, 3, 4]);
        assert_eq!(cut_points(5, 0.3), [1, 2, 3, 4]);
        assert_eq!(cut_points(7, 7.0), Vec::<usize>::new());
        assert_eq!(cut_points(1, 1.0), Vec::<usize>::new());
    }

    #[test]
    fn cube_scope_is_row_major_and_sorted() {
        let st = strides(&[3, 4]);
        assert_eq!(st, [4, 1]);
        assert_eq!(cube_scope(&[(1, 3), (2, 4)], &st), [6, 7, 10, 11]);
        let st = strides(&[2, 2, 3]);
        assert_eq!(cube_scope(&[(1, 2), (0, 2), (1, 3)], &st), [7, 8, 10, 11]);
    }

    #[test]
    fn max_split_depth_stops_the_recursion() {
        let g = PoonDomingos {
            shape: vec![4, 4],
            deltas: vec![vec![1.0, 1.0]],
            axes: None,
            max_split_depth: Some(1),
        }
        .build()
        .unwrap();
        // The root gets 3 + 3 partitions into 12 distinct halves, which stay leaves.
        let c = g.counts();
        assert_eq!((c.sum_regions, c.leaf_regions, c.products), (1, 12, 6));
    }
}
