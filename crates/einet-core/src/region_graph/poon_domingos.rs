//! Poon–Domingos structures over grids of any dimension.

use super::RegionGraph;
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

impl PoonDomingos {
    /// Builds the region graph.
    pub fn build(&self) -> Result<RegionGraph, StructureError> {
        todo!("helper fills this in")
    }
}
