//! Shared set-up of einet's criterion benchmarks: canonical models and random data.

use einet_core::canonical::Canonical;
use einet_core::{Einet, MStep, StepwiseRule};

pub use einet_core::canonical::random_rows;

/// The canonical model `id` with seeded parameters.
pub fn canonical_model(id: &str) -> (Canonical, Einet) {
    let canonical = Canonical::get(id).expect("a canonical id");
    let graph = canonical.graph(0).expect("canonical structures are valid");
    let einet =
        Einet::new(graph, canonical.config.clone(), 0).expect("canonical configs are valid");
    (canonical, einet)
}

/// The canonical stepwise M-step of `canonical`, with the reference's rule (like for like with
/// its timings; the statistics rule costs the same).
pub fn canonical_step(canonical: &Canonical) -> MStep {
    MStep {
        step_size: canonical.step_size,
        rule: StepwiseRule::Parameters,
        pseudocount: 0.0,
    }
}
