//! Region graphs: the structure of an Einsum Network.
//!
//! A region is a sorted, non-empty set of variables (its *scope*). A partition splits a
//! region into one or more child regions whose scopes are disjoint (decomposability) and
//! together equal the parent's scope (smoothness): two for EiNet's einsum layers and the
//! random structures, any number for CP layers (a hidden Chow–Liu tree's node has its leaf
//! and one child per tree child; a single child puts a sum between a region and its child). Regions without partitions are leaf
//! regions; exactly one region, the root, covers all variables and has no parent.

mod hclt;
mod json;
mod poon_domingos;
mod random_binary_trees;

pub use hclt::hclt;
pub use json::{PartitionJson, RegionGraphJson, RegionJson};
pub use poon_domingos::{PoonDomingos, poon_domingos};
pub use random_binary_trees::random_binary_trees;

use std::collections::HashMap;

use crate::error::StructureError;

/// Index of a region in [`RegionGraph::regions`].
pub type RegionId = usize;
/// Index of a partition in [`RegionGraph::partitions`].
pub type PartitionId = usize;

/// A set of variables with a vector of densities over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The variables, sorted ascending, without duplicates.
    pub scope: Vec<u32>,
    /// The partitions that split this region (empty for a leaf region).
    pub partitions: Vec<PartitionId>,
    /// Replica (repetition) this region belongs to; informational (RAT repetitions).
    pub replica: u32,
}

impl Region {
    /// Whether this region is a leaf region (it has no partitions).
    pub fn is_leaf(&self) -> bool {
        self.partitions.is_empty()
    }
}

/// A split of one region into child regions (a product node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The region this partition splits.
    pub parent: RegionId,
    /// The child regions (at least one), ordered by (scope, id): of two, "left" then "right".
    pub children: Vec<RegionId>,
}

/// A validated region graph: a rooted DAG of regions and partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionGraph {
    num_vars: usize,
    regions: Vec<Region>,
    partitions: Vec<Partition>,
    root: RegionId,
}

/// Structure statistics of a region graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RegionGraphCounts {
    /// Regions with at least one partition.
    pub sum_regions: usize,
    /// Regions without partitions.
    pub leaf_regions: usize,
    /// Partitions (products).
    pub products: usize,
    /// Regions with more than one partition.
    pub mixed_regions: usize,
}

impl RegionGraph {
    /// Builds and validates a region graph from scopes and partitions.
    ///
    /// `scopes[r]` is the scope of region `r` (any order; it is sorted), `replicas[r]` its
    /// replica, and each partition is `(parent, children)`. Children are re-ordered by
    /// (scope, id). Fails with a precise [`StructureError`] when the graph is not a valid
    /// region graph.
    pub fn new(
        num_vars: usize,
        scopes: Vec<Vec<u32>>,
        replicas: Vec<u32>,
        partitions: Vec<(RegionId, Vec<RegionId>)>,
    ) -> Result<Self, StructureError> {
        if num_vars == 0 {
            return Err(StructureError::NoVariables);
        }
        if replicas.len() != scopes.len() {
            return Err(StructureError::ReplicaCount {
                regions: scopes.len(),
                replicas: replicas.len(),
            });
        }
        let mut regions = Vec::with_capacity(scopes.len());
        for (id, (mut scope, replica)) in scopes.into_iter().zip(replicas).enumerate() {
            if scope.is_empty() {
                return Err(StructureError::EmptyRegion { region: id });
            }
            scope.sort_unstable();
            if let Some(w) = scope.windows(2).find(|w| w[0] == w[1]) {
                return Err(StructureError::DuplicateVariable {
                    region: id,
                    var: w[0],
                });
            }
            if let Some(&v) = scope.iter().find(|&&v| v as usize >= num_vars) {
                return Err(StructureError::VariableOutOfRange {
                    region: id,
                    var: v,
                    num_vars,
                });
            }
            regions.push(Region {
                scope,
                partitions: Vec::new(),
                replica,
            });
        }
        let n = regions.len();
        if n == 0 {
            return Err(StructureError::NoRegions);
        }
        for (pid, (parent, children)) in partitions.iter().enumerate() {
            if children.is_empty() {
                return Err(StructureError::EmptyPartition { partition: pid });
            }
            if let Some(&region) = std::iter::once(parent).chain(children).find(|&&r| r >= n) {
                return Err(StructureError::UnknownRegion {
                    partition: pid,
                    region,
                });
            }
        }
        check_acyclic(n, &partitions)?;
        let mut parts = Vec::with_capacity(partitions.len());
        let mut has_parent = vec![false; n];
        for (pid, (parent, mut children)) in partitions.into_iter().enumerate() {
            children.sort_by(|&a, &b| (&regions[a].scope, a).cmp(&(&regions[b].scope, b)));
            check_partition(pid, parent, &regions, &children)?;
            for &c in &children {
                has_parent[c] = true;
            }
            regions[parent].partitions.push(pid);
            parts.push(Partition { parent, children });
        }
        let roots: Vec<RegionId> = (0..n).filter(|&r| !has_parent[r]).collect();
        let root = match roots.as_slice() {
            [] => unreachable!("an acyclic graph with at least one region has a source"),
            [r] => *r,
            _ => return Err(StructureError::MultipleRoots { roots }),
        };
        if regions[root].scope.len() != num_vars {
            return Err(StructureError::RootScope {
                root,
                covered: regions[root].scope.len(),
                num_vars,
            });
        }
        // Acyclic with a single source: every region is reachable from the root.
        Ok(RegionGraph {
            num_vars,
            regions,
            partitions: parts,
            root,
        })
    }

    /// Number of variables; the root's scope is `0..num_vars`.
    pub fn num_vars(&self) -> usize {
        self.num_vars
    }
    /// All regions, indexed by [`RegionId`].
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }
    /// All partitions, indexed by [`PartitionId`].
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }
    /// The root region.
    pub fn root(&self) -> RegionId {
        self.root
    }

    /// Structure statistics (sum regions, leaf regions, products, regions with several products).
    pub fn counts(&self) -> RegionGraphCounts {
        let leaf_regions = self.regions.iter().filter(|r| r.is_leaf()).count();
        RegionGraphCounts {
            sum_regions: self.regions.len() - leaf_regions,
            leaf_regions,
            products: self.partitions.len(),
            mixed_regions: self
                .regions
                .iter()
                .filter(|r| r.partitions.len() > 1)
                .count(),
        }
    }

    /// The same graph with a sum over every leaf region: each leaf region becomes an inner
    /// region whose one partition has a new leaf region over the same scope as its only
    /// child. With CP layers that is a `K × K` matrix over every leaf vector, as PyJuice builds
    /// its RAT and PD structures (a graph that is a single leaf region keeps it as its root's
    /// child the same way).
    pub fn with_leaf_sums(&self) -> RegionGraph {
        let mut scopes: Vec<Vec<u32>> = self.regions.iter().map(|r| r.scope.clone()).collect();
        let mut replicas: Vec<u32> = self.regions.iter().map(|r| r.replica).collect();
        let mut partitions: Vec<(RegionId, Vec<RegionId>)> = self
            .partitions
            .iter()
            .map(|p| (p.parent, p.children.clone()))
            .collect();
        for (r, region) in self.regions.iter().enumerate() {
            if region.is_leaf() {
                scopes.push(region.scope.clone());
                replicas.push(region.replica);
                partitions.push((r, vec![scopes.len() - 1]));
            }
        }
        RegionGraph::new(self.num_vars, scopes, replicas, partitions)
            .expect("a sum over a leaf region keeps a region graph valid")
    }

    /// Parents (partitions) of every region.
    pub fn parents(&self) -> Vec<Vec<PartitionId>> {
        let mut parents = vec![Vec::new(); self.regions.len()];
        for (p, part) in self.partitions.iter().enumerate() {
            for &c in &part.children {
                parents[c].push(p);
            }
        }
        parents
    }
}

/// Fails with [`StructureError::Cycle`] naming a region on a directed cycle.
fn check_acyclic(n: usize, partitions: &[(RegionId, Vec<RegionId>)]) -> Result<(), StructureError> {
    let mut children = vec![Vec::new(); n];
    for (parent, cs) in partitions {
        children[*parent].extend(cs.iter().copied());
    }
    // Iterative three-colour DFS: 0 = new, 1 = on the stack, 2 = done.
    let mut colour = vec![0u8; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = children[node].get(*next) {
                *next += 1;
                match colour[child] {
                    0 => {
                        colour[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => return Err(StructureError::Cycle { region: child }),
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}

fn check_partition(
    partition: PartitionId,
    parent: RegionId,
    regions: &[Region],
    children: &[RegionId],
) -> Result<(), StructureError> {
    let mut union: Vec<u32> = children
        .iter()
        .flat_map(|&c| regions[c].scope.iter().copied())
        .collect();
    union.sort_unstable();
    if let Some(w) = union.windows(2).find(|w| w[0] == w[1]) {
        return Err(StructureError::NotDecomposable {
            partition,
            var: w[0],
        });
    }
    if union != regions[parent].scope {
        return Err(StructureError::NotSmooth { partition, parent });
    }
    Ok(())
}

/// Deduplicating region store used by the builders: one region per (scope, replica).
#[derive(Default)]
pub(crate) struct RegionStore {
    pub(crate) scopes: Vec<Vec<u32>>,
    pub(crate) replicas: Vec<u32>,
    pub(crate) partitions: Vec<(RegionId, Vec<RegionId>)>,
    index: HashMap<(Vec<u32>, u32), RegionId>,
}

impl RegionStore {
    /// Returns the id of the region with this scope and replica, creating it if new.
    /// The flag is true when the region was created.
    pub(crate) fn intern(&mut self, scope: Vec<u32>, replica: u32) -> (RegionId, bool) {
        if let Some(&id) = self.index.get(&(scope.clone(), replica)) {
            return (id, false);
        }
        let id = self.push(scope.clone(), replica);
        self.index.insert((scope, replica), id);
        (id, true)
    }

    /// Adds a fresh region (never deduplicated).
    pub(crate) fn push(&mut self, scope: Vec<u32>, replica: u32) -> RegionId {
        self.scopes.push(scope);
        self.replicas.push(replica);
        self.scopes.len() - 1
    }

    pub(crate) fn finish(self, num_vars: usize) -> Result<RegionGraph, StructureError> {
        RegionGraph::new(num_vars, self.scopes, self.replicas, self.partitions)
    }
}
