//! A naive, independent evaluator of an [`Einet`] in f64: one recursive pass per row over the
//! layout's nodes, no vectorisation, no max-shifting. Backends are checked against it.

use einet_core::Einet;
use einet_core::layout::Layer;

/// Which semiring the reference evaluates in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Sum-product, missing values marginalised.
    Sum,
    /// Max-product, missing values maximised.
    Max,
}

/// Log-value of every root output (class) for one row of `num_vars · num_channels` values.
pub fn root_values(einet: &Einet, row: &[f32], mode: Mode) -> Vec<f64> {
    let layout = &einet.layout;
    let leaf = &layout.leaf;
    let d = layout.num_channels;
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(layout.num_nodes());
    for n in 0..leaf.len() {
        let mut v = vec![0.0f64; leaf.k];
        for e in leaf.entries(n) {
            let family = leaf.family(e);
            let s = family.num_stats();
            let var = leaf.vars[e] as usize;
            for (k, vk) in v.iter_mut().enumerate() {
                for c in 0..d {
                    let at = leaf.param_offsets[e] as usize + (k * d + c) * s;
                    let phi = &einet.params.leaf[at..at + s];
                    let x = row[var * d + c];
                    *vk += if !x.is_nan() {
                        f64::from(family.log_density(phi, x))
                    } else if mode == Mode::Sum {
                        0.0
                    } else {
                        match family.support_size() {
                            Some(w) => (0..w)
                                .map(|x| f64::from(family.log_density(phi, x as f32)))
                                .fold(f64::NEG_INFINITY, f64::max),
                            None => f64::from(family.log_density(phi, phi[0])),
                        }
                    };
                }
            }
        }
        values.push(v);
    }
    let combine = |terms: Vec<f64>| match mode {
        Mode::Sum => {
            let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                m
            } else {
                m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
            }
        }
        Mode::Max => terms.into_iter().fold(f64::NEG_INFINITY, f64::max),
    };
    for (layer, w) in layout.layers.iter().zip(&einet.params.layers) {
        match layer {
            Layer::Einsum(l) => {
                for p in 0..l.out.len() {
                    let (left, right) = (&values[l.left[p] as usize], &values[l.right[p] as usize]);
                    let (kl, kr) = (left.len(), right.len());
                    let k_out = layout.k[l.out[p] as usize] as usize;
                    let base = l.weight_offsets[p] as usize;
                    let out = (0..k_out)
                        .map(|o| {
                            combine(
                                (0..kl * kr)
                                    .map(|ij| {
                                        f64::from(w[base + o * kl * kr + ij]).ln()
                                            + left[ij / kr]
                                            + right[ij % kr]
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    values.push(out);
                }
            }
            Layer::Mixing(l) => {
                let cmax = l.max_components;
                for m in 0..l.out.len() {
                    let comps = &l.components[m * cmax..m * cmax + l.num_components[m] as usize];
                    let out = (0..l.k)
                        .map(|k| {
                            combine(
                                comps
                                    .iter()
                                    .enumerate()
                                    .map(|(c, &node)| {
                                        f64::from(w[(m * l.k + k) * cmax + c]).ln()
                                            + values[node as usize][k]
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    values.push(out);
                }
            }
        }
    }
    values.swap_remove(layout.root as usize)
}

/// `log p(row)` under the uniform class mixture (sum-product).
pub fn log_likelihood(einet: &Einet, row: &[f32]) -> f64 {
    let v = root_values(einet, row, Mode::Sum);
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|t| (t - m).exp()).sum::<f64>().ln() - (v.len() as f64).ln()
}
