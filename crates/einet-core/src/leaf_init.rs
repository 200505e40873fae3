//! Data-based initialisation of leaf parameters: every leaf component starts as the
//! (smoothed) maximum-likelihood fit to a few random training rows, the way mixture models are
//! commonly seeded from data points, instead of at parameters drawn without looking at the
//! data.

use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::params::Params;
use crate::rng::Rng;

/// Philox stream of the row choices (far from the per-tensor streams of [`Params::random`]).
const STREAM: u64 = 1 << 40;

/// How leaf parameters start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "init", rename_all = "snake_case")]
pub enum LeafInit {
    /// Drawn per family without looking at the data, as the reference does
    /// ([`crate::LeafFamily::initialize`]).
    #[default]
    Random,
    /// Each leaf component (leaf region, k) is the maximum-likelihood fit to `rows` training
    /// rows drawn at random for it, with `pseudocount` virtual observations spread uniformly
    /// over a discrete family's support ([`crate::LeafFamily::estimate`]). All variables of
    /// one component see the same rows, so a component starts as a coherent piece of data
    /// rather than a mix of unrelated marginals.
    Data {
        /// Training rows per component.
        rows: usize,
        /// Smoothing of discrete families (0 allows probabilities of 0).
        pseudocount: f32,
    },
}

/// Overwrites the leaf parameters of `params` by the [`LeafInit::Data`] rule, drawing from the
/// rows of `data` (row-major, `[row][var][channel]`, NaN = missing). A component whose chosen
/// rows all miss a variable keeps that variable's current parameters. Seeded per leaf region,
/// so the result does not depend on thread count.
pub fn leaves_from_rows(
    layout: &Layout,
    params: &mut Params,
    data: &[f32],
    rows_per_component: usize,
    pseudocount: f32,
    seed: u64,
) {
    let d = layout.num_channels;
    let row_len = layout.num_vars * d;
    let num_rows = data.len().checked_div(row_len).unwrap_or(0);
    if num_rows == 0 || rows_per_component == 0 {
        return;
    }
    let num_rows = u32::try_from(num_rows).unwrap_or(u32::MAX);
    let leaf = &layout.leaf;
    let mut chosen = vec![0usize; rows_per_component];
    for n in 0..leaf.len() {
        let mut rng = Rng::new(seed, STREAM + n as u64);
        for k in 0..leaf.k {
            for r in chosen.iter_mut() {
                *r = rng.below(num_rows) as usize;
            }
            for e in leaf.entries(n) {
                let family = leaf.family(e);
                let s = family.num_stats();
                let var = leaf.vars[e] as usize;
                for c in 0..d {
                    let mut stats = vec![0.0f32; s];
                    let mut mass = 0.0f32;
                    for &row in &chosen {
                        let x = data[row * row_len + var * d + c];
                        if !x.is_nan() {
                            family.add_statistics(x, 1.0, &mut stats);
                            mass += 1.0;
                        }
                    }
                    if mass == 0.0 {
                        continue;
                    }
                    family.estimate(mass, pseudocount, &mut stats);
                    family.project(&mut stats);
                    let start = leaf.param_offsets[e] as usize + (k * d + c) * s;
                    params.leaf[start..start + s].copy_from_slice(&stats);
                }
            }
        }
    }
}
