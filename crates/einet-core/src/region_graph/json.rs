//! The JSON file format for user-supplied region graphs.

use serde::{Deserialize, Serialize};

/// Serialised form of a region graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionGraphJson {}
