//! Shared set-up of einet's criterion benchmarks: canonical models and random data.

use einet_core::Einet;
use einet_core::canonical::Canonical;

pub use einet_core::canonical::random_rows;

/// The canonical model `id` with seeded parameters.
pub fn canonical_model(id: &str) -> (Canonical, Einet) {
    let canonical = Canonical::get(id).expect("a canonical id");
    let graph = canonical.graph(0).expect("canonical structures are valid");
    let einet =
        Einet::new(graph, canonical.config.clone(), 0).expect("canonical configs are valid");
    (canonical, einet)
}
