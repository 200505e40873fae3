//! Structures learned from data: pairwise mutual information ([`mod@mutual_information`]) and
//! the Chow–Liu tree, its maximum spanning tree ([`chow_liu`]), the skeleton of a hidden
//! Chow–Liu tree (HCLT).
//!
//! ```
//! use einet_core::LeafFamily;
//! use einet_core::learn::{ChowLiuTree, MutualInformationConfig, mutual_information};
//!
//! // Three binary variables: x1 copies x0, x2 is independent of both.
//! let rows = [[0., 0., 1.], [1., 1., 0.], [0., 0., 0.], [1., 1., 1.]];
//! let data: Vec<f32> = rows.concat();
//! let families = [LeafFamily::Bernoulli; 3];
//! let mi = mutual_information(&data, 3, 1, &families, &MutualInformationConfig::default()).unwrap();
//! let tree = ChowLiuTree::from_mutual_information(&mi, None).unwrap();
//! assert!(tree.edges().contains(&(0, 1)));
//! ```

pub mod chow_liu;
pub mod mutual_information;

pub use chow_liu::ChowLiuTree;
pub use mutual_information::{MutualInformation, MutualInformationConfig, mutual_information};
