//! Random binary trees (RAT-SPN structures).
//!
//! One shared root covers all variables. Each repetition `r` grows its own balanced binary
//! tree of `depth` levels below the root: every region on the current frontier gets one
//! partition into two fresh child regions (with replica `r`), splitting a uniformly random
//! permutation of its scope at round-half-to-even of `n / 2`. The random stream of
//! repetition `r` is [`Rng::new(seed, r)`](crate::rng::Rng::new), so a seed fixes the graph.

use super::{RegionGraph, RegionStore};
use crate::error::StructureError;
use crate::rng::Rng;

/// Builds `repetitions` random binary trees of the given depth over `num_vars` variables.
///
/// The result has one root with `repetitions` partitions; every other internal region has
/// exactly one, and each repetition has `2^depth` leaf regions that partition the variables.
/// Fails with [`StructureError::InvalidParameters`] unless `depth ≥ 1`, `repetitions ≥ 1`
/// and `2^depth ≤ num_vars`, and with [`StructureError::NoVariables`] when `num_vars == 0`.
pub fn random_binary_trees(
    num_vars: usize,
    depth: usize,
    repetitions: usize,
    seed: u64,
) -> Result<RegionGraph, StructureError> {
    if num_vars == 0 {
        return Err(StructureError::NoVariables);
    }
    if u32::try_from(num_vars - 1).is_err() {
        return Err(StructureError::InvalidParameters(format!(
            "random binary trees support at most 2^32 variables, not {num_vars}"
        )));
    }
    if depth == 0 {
        return Err(StructureError::InvalidParameters(
            "random binary trees need depth >= 1 (depth 0 would leave the root unsplit)".into(),
        ));
    }
    if repetitions == 0 {
        return Err(StructureError::InvalidParameters(
            "random binary trees need at least one repetition".into(),
        ));
    }
    if u32::try_from(repetitions).is_err() {
        return Err(StructureError::InvalidParameters(format!(
            "random binary trees support at most 2^32 - 1 repetitions, not {repetitions}"
        )));
    }
    let leaves = u32::try_from(depth)
        .ok()
        .and_then(|d| 1usize.checked_shl(d))
        .filter(|&l| l <= num_vars);
    if leaves.is_none() {
        let per_rep = u32::try_from(depth)
            .ok()
            .and_then(|d| 1u128.checked_shl(d))
            .map_or_else(|| format!("2^{depth}"), |l| l.to_string());
        return Err(StructureError::InvalidParameters(format!(
            "random binary trees need 2^depth <= num_vars: depth {depth} gives {per_rep} leaves \
             per repetition but there are only {num_vars} variables"
        )));
    }

    let mut store = RegionStore::default();
    let all: Vec<u32> = (0..num_vars).map(|v| v as u32).collect();
    let root = store.push(all, 0);
    for r in 0..repetitions {
        let replica = r as u32;
        let mut rng = Rng::new(seed, r as u64);
        let mut frontier = vec![root];
        for _ in 0..depth {
            let mut next = Vec::with_capacity(frontier.len() * 2);
            for &region in &frontier {
                let mut perm = store.scopes[region].clone();
                rng.shuffle(&mut perm);
                let cut = split_point(perm.len());
                let mut left = perm[..cut].to_vec();
                let mut right = perm[cut..].to_vec();
                left.sort_unstable();
                right.sort_unstable();
                let a = store.push(left, replica);
                let b = store.push(right, replica);
                store.partitions.push((region, vec![a, b]));
                next.push(a);
                next.push(b);
            }
            frontier = next;
        }
    }
    store.finish(num_vars)
}

/// Size of the first part when splitting `n ≥ 2` elements: numpy's `round(n / 2)`
/// (round half to even), clipped so both parts are non-empty.
fn split_point(n: usize) -> usize {
    let half = n / 2;
    let rounded = if n % 2 == 0 || half % 2 == 0 {
        half
    } else {
        half + 1
    };
    rounded.clamp(1, n.saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_rounds_half_to_even() {
        let got: Vec<usize> = (2..=11).map(split_point).collect();
        // n/2 = 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5
        assert_eq!(got, [1, 2, 2, 2, 3, 4, 4, 4, 5, 6]);
    }

    #[test]
    fn children_are_fresh_per_repetition() {
        let g = random_binary_trees(8, 3, 2, 11).unwrap();
        assert_eq!(g.regions().len(), 1 + 2 * (2 + 4 + 8));
        let parents = g.parents();
        for (id, ps) in parents.iter().enumerate() {
            if id != g.root() {
                assert_eq!(ps.len(), 1, "region {id} has parents {ps:?}");
            }
        }
    }
}
