//! Shared set-up of einet's criterion benchmarks: canonical models and random data.

use einet_core::canonical::Canonical;
use einet_core::rng::Rng;
use einet_core::{Einet, LeafFamily};

/// The canonical model `id` with seeded parameters.
pub fn canonical_model(id: &str) -> (Canonical, Einet) {
    let canonical = Canonical::get(id).expect("a canonical id");
    let graph = canonical.graph(0).expect("canonical structures are valid");
    let einet =
        Einet::new(graph, canonical.config.clone(), 0).expect("canonical configs are valid");
    (canonical, einet)
}

/// `rows` random rows valid for `einet`'s leaf families (seeded).
pub fn random_rows(einet: &Einet, rows: usize, seed: u64) -> Vec<f32> {
    let layout = &einet.layout;
    let d = layout.num_channels;
    let mut rng = Rng::new(seed, 0);
    (0..rows * layout.num_vars * d)
        .map(|i| {
            let v = i / d % layout.num_vars;
            match layout.leaf.families[layout.leaf.var_family[v] as usize] {
                LeafFamily::Normal { .. } => rng.uniform(),
                family => rng.below(family.support_size().expect("discrete") as u32) as f32,
            }
        })
        .collect()
}
