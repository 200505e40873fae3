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
        /// Training rows per component (at most the training set's rows are drawn).
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
    let row_len = layout.row_len();
    let num_rows = data.len().checked_div(row_len).unwrap_or(0);
    if num_rows == 0 || rows_per_component == 0 {
        return;
    }
    // More rows than the data holds would only repeat rows (and could not be allocated).
    let rows_per_component = rows_per_component.min(num_rows);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Einet, EinetConfig, LeafFamily, random_binary_trees};

    fn model(family: LeafFamily, vars: usize) -> Einet {
        let graph = random_binary_trees(vars, 2, 3, 7).unwrap();
        Einet::new(graph, EinetConfig::new(4, family), 1).unwrap()
    }

    /// Rows `0..n` of binary data where row `r` has ones on the variables `v` with `v % n == r`.
    fn distinct_rows(vars: usize, n: usize) -> Vec<f32> {
        (0..n)
            .flat_map(|r| (0..vars).map(move |v| if v % n == r { 1.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn one_row_without_smoothing_copies_that_row_into_every_variable_of_a_component() {
        let (vars, n) = (12, 5);
        let data = distinct_rows(vars, n);
        let mut einet = model(LeafFamily::Bernoulli, vars);
        leaves_from_rows(&einet.layout, &mut einet.params, &data, 1, 0.0, 3);
        let leaf = &einet.layout.leaf;
        for node in 0..leaf.len() {
            for k in 0..leaf.k {
                // The row this component was given is the one that explains its variables.
                let p = |e: usize| einet.params.leaf[leaf.param_offsets[e] as usize + k];
                let rows: Vec<usize> = (0..n)
                    .filter(|&r| {
                        leaf.entries(node)
                            .all(|e| p(e) == data[r * vars + leaf.vars[e] as usize])
                    })
                    .collect();
                assert!(!rows.is_empty(), "node {node} k {k} matches no row");
            }
        }
    }

    #[test]
    fn pseudocount_keeps_categorical_probabilities_off_zero_and_normalised() {
        let vars = 8;
        let data = distinct_rows(vars, 3);
        let mut einet = model(LeafFamily::Categorical { categories: 3 }, vars);
        leaves_from_rows(&einet.layout, &mut einet.params, &data, 2, 1.0, 0);
        for phi in einet.params.leaf.chunks_exact(3) {
            assert!((phi.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{phi:?}");
            // Two rows and one virtual count per category: each value has at least 1/5.
            assert!(phi.iter().all(|&p| p >= 0.2 - 1e-6), "{phi:?}");
            // The never-observed category 2 has exactly its pseudocount share.
            assert!((phi[2] - 0.2).abs() < 1e-6, "{phi:?}");
        }
    }

    #[test]
    fn missing_values_keep_the_previous_parameters_and_the_result_is_seeded() {
        let vars = 6;
        let mut data = distinct_rows(vars, 4);
        for row in data.chunks_exact_mut(vars) {
            row[2] = f32::NAN;
        }
        let start = model(LeafFamily::Bernoulli, vars);
        let mut a = start.clone();
        let mut b = start.clone();
        leaves_from_rows(&a.layout, &mut a.params, &data, 3, 0.5, 9);
        leaves_from_rows(&b.layout, &mut b.params, &data, 3, 0.5, 9);
        assert_eq!(a.params, b.params);
        assert_ne!(a.params, start.params);
        let leaf = &a.layout.leaf;
        for e in (0..leaf.vars.len()).filter(|&e| leaf.vars[e] == 2) {
            let at = leaf.param_offsets[e] as usize;
            assert_eq!(
                a.params.leaf[at..at + leaf.k],
                start.params.leaf[at..at + leaf.k]
            );
        }
    }

    #[test]
    fn normal_components_start_at_the_moments_of_their_rows_with_clamped_variance() {
        let vars = 4;
        let data: Vec<f32> = (0..20).map(|i| (i % 7) as f32 * 0.1).collect();
        let family = LeafFamily::Normal {
            min_var: 1e-3,
            max_var: 1.0,
        };
        let mut einet = model(family, vars);
        leaves_from_rows(&einet.layout, &mut einet.params, &data, 1, 0.0, 4);
        for phi in einet.params.leaf.chunks_exact(2) {
            // One row: the mean is a data value and the variance is the lower clamp.
            assert!(data.contains(&phi[0]), "{phi:?}");
            assert!((phi[1] - phi[0] * phi[0] - 1e-3).abs() < 1e-5, "{phi:?}");
        }
    }
}
