//! # einet-core
//!
//! The backend-independent half of einet, an implementation of Einsum Networks (Peharz et
//! al., ICML 2020): region graphs and their builders, the layering of a region graph into leaf,
//! einsum and mixing layers, leaf families, parameters, the model file format and the
//! [`Backend`] trait that the CPU and CUDA backends implement.
//!
//! ```
//! use einet_core::{Einet, EinetConfig, LeafFamily, poon_domingos};
//!
//! // A Poon–Domingos structure over a 4×4 image, K = 5, 8-bit pixels, two classes.
//! let graph = poon_domingos(&[4, 4], 2.0).unwrap();
//! let config = EinetConfig { num_classes: 2, ..EinetConfig::new(5, LeafFamily::Binomial { trials: 255 }) };
//! let einet = Einet::new(graph, config, 42).unwrap();
//! println!("{:?}, {} parameters", einet.graph.counts(), einet.layout.num_params());
//!
//! let path = std::env::temp_dir().join("einet-doc-example.einet");
//! einet.save(&path).unwrap();
//! assert_eq!(Einet::load(&path).unwrap(), einet);
//! # std::fs::remove_file(&path).ok();
//! ```

pub mod atomic_file;
pub mod error;
pub mod leaf;
pub mod learn;
pub mod memory;
pub mod region_graph;
pub mod rng;

pub use atomic_file::write_atomic;
pub use error::{BackendError, ConfigError, ModelFileError, StructureError};
pub use leaf::LeafFamily;
pub use region_graph::{RegionGraph, RegionGraphCounts, hclt, poon_domingos, random_binary_trees};
pub mod config;
pub mod layout;
pub use config::{EinetConfig, LayerKind, LeafGroup, LeafSpec};
pub use layout::{EinsumLayer, Layer, Layout, LeafLayer, MixingLayer, ProductLayer, SumLayer};
pub mod em;
pub mod leaf_init;
pub mod params;
pub use em::{
    EmConfig, EmMode, EmState, EmStatistics, MStep, Regularisation, RunningMass, StepwiseRule,
};
pub use leaf_init::LeafInit;
pub use params::Params;
pub mod backend;
pub mod model;
pub mod model_file;
pub use backend::{Backend, BackendModel, MpeKind, Root};
pub use model::Einet;
pub mod canonical;
