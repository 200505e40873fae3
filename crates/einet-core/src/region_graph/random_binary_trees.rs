//! Random binary trees (RAT-SPN structures).

use super::RegionGraph;
use crate::error::StructureError;

/// Builds `repetitions` random binary trees of the given depth over `num_vars` variables.
pub fn random_binary_trees(
    num_vars: usize,
    depth: usize,
    repetitions: usize,
    seed: u64,
) -> Result<RegionGraph, StructureError> {
    let _ = (num_vars, depth, repetitions, seed);
    todo!("helper fills this in")
}
