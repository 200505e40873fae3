//! [`Einet`]: a region graph, its configuration, layout and parameters.

use crate::config::EinetConfig;
use crate::error::ConfigError;
use crate::layout::Layout;
use crate::params::Params;
use crate::region_graph::RegionGraph;

/// An Einsum Network on the host: structure, configuration, layout and parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Einet {
    /// The region graph.
    pub graph: RegionGraph,
    /// K, classes, channels and leaf families.
    pub config: EinetConfig,
    /// The evaluation plan derived from `graph` and `config`.
    pub layout: Layout,
    /// The parameters.
    pub params: Params,
    /// Free-form training metadata (configuration, epochs, data set), stored in model files.
    pub training: serde_json::Value,
}

impl Einet {
    /// A model with seeded random parameters (uniform draws, normalised per weight vector).
    ///
    /// ```
    /// use einet_core::{Einet, EinetConfig, LeafFamily, random_binary_trees};
    /// let graph = random_binary_trees(16, 2, 3, 0).unwrap();
    /// let einet = Einet::new(graph, EinetConfig::new(4, LeafFamily::Bernoulli), 0).unwrap();
    /// assert_eq!(einet.layout.num_classes(), 1);
    /// ```
    pub fn new(graph: RegionGraph, config: EinetConfig, seed: u64) -> Result<Self, ConfigError> {
        let layout = Layout::new(&graph, &config)?;
        Ok(Self::with_layout(graph, config, layout, seed))
    }

    /// [`Einet::new`] with the layout of `graph` and `config` already built (for callers that
    /// inspect it first, e.g. to check the memory the parameters need).
    pub fn with_layout(graph: RegionGraph, config: EinetConfig, layout: Layout, seed: u64) -> Self {
        let params = Params::random(&layout, seed);
        Einet {
            graph,
            config,
            layout,
            params,
            training: serde_json::Value::Null,
        }
    }
}
