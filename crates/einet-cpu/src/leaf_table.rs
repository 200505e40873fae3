//! Precomputed leaf log-densities: for discrete families, `log p(x)` for every value of the
//! support; for Normal, the mean, `−1/(2σ²)` and `−½·log(2πσ²)`. Rebuilt when parameters
//! change, so the hot loop is a table lookup (or one multiply-add) per factor.

use einet_core::LeafFamily;
use einet_core::layout::Layout;

/// Log-density tables of every leaf entry, laid out `[entry][channel][value][k]`.
pub struct LeafTable {
    /// Start of each entry's table.
    offsets: Vec<usize>,
    /// Values per (entry, channel): the support size, or 3 for Normal.
    widths: Vec<usize>,
    data: Vec<f32>,
    k: usize,
    /// Per entry: whether its family is Normal.
    normal: Vec<bool>,
}

/// What the leaf layer computes for a missing channel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Marginalise: contributes `log 1 = 0`.
    Marginalise,
    /// Maximise: contributes the factor's largest log-density (max-product MPE).
    Maximise,
}

impl LeafTable {
    /// Builds the tables for `phi` (the leaf expectation parameters).
    pub fn new(layout: &Layout, phi: &[f32]) -> Self {
        let leaf = &layout.leaf;
        let (k, d) = (leaf.k, layout.num_channels);
        let mut offsets = Vec::with_capacity(leaf.vars.len());
        let mut widths = Vec::with_capacity(leaf.vars.len());
        let mut normal = Vec::with_capacity(leaf.vars.len());
        let mut data = Vec::new();
        let mut scratch = Vec::new();
        let log_h: Vec<Vec<f32>> = leaf
            .families
            .iter()
            .map(|f| f.log_base_measures())
            .collect();
        for e in 0..leaf.vars.len() {
            let family = leaf.family(e);
            let s = family.num_stats();
            let width = family.support_size().unwrap_or(3);
            offsets.push(data.len());
            widths.push(width);
            normal.push(family.support_size().is_none());
            let base = leaf.param_offsets[e] as usize;
            let start = data.len();
            data.resize(start + d * width * k, 0.0);
            for kk in 0..k {
                for c in 0..d {
                    let p = &phi[base + (kk * d + c) * s..base + (kk * d + c + 1) * s];
                    scratch.resize(width, 0.0);
                    match family {
                        LeafFamily::Normal { min_var, max_var } => {
                            let var = (p[1] - p[0] * p[0]).clamp(min_var, max_var);
                            scratch.copy_from_slice(&[
                                p[0],
                                -0.5 / var,
                                -0.5 * (std::f32::consts::TAU * var).ln(),
                            ]);
                        }
                        _ => family.log_densities(
                            p,
                            &log_h[leaf.entry_family[e] as usize],
                            &mut scratch,
                        ),
                    }
                    for (x, v) in scratch.iter().enumerate() {
                        data[start + (c * width + x) * k + kk] = *v;
                    }
                }
            }
        }
        LeafTable {
            offsets,
            widths,
            data,
            k,
            normal,
        }
    }

    /// Adds the log-density of value `x` in channel `c` of entry `e` to `acc` (one per k).
    #[inline]
    pub fn add(&self, e: usize, c: usize, x: f32, missing: Missing, acc: &mut [f32]) {
        let w = self.widths[e];
        let base = self.offsets[e] + c * w * self.k;
        if x.is_nan() {
            if missing == Missing::Maximise {
                self.add_max(e, c, acc);
            }
            return;
        }
        if self.normal[e] {
            let t = &self.data[base..base + 3 * self.k];
            let (mu, a, b) = (&t[..self.k], &t[self.k..2 * self.k], &t[2 * self.k..]);
            for kk in 0..self.k {
                let dx = x - mu[kk];
                acc[kk] += b[kk] + a[kk] * dx * dx;
            }
        } else {
            let row = &self.data[base + x as usize * self.k..base + (x as usize + 1) * self.k];
            acc.iter_mut().zip(row).for_each(|(a, r)| *a += r);
        }
    }

    /// Adds each factor's largest log-density (at its mode) to `acc`.
    fn add_max(&self, e: usize, c: usize, acc: &mut [f32]) {
        let w = self.widths[e];
        let base = self.offsets[e] + c * w * self.k;
        for (kk, a) in acc.iter_mut().enumerate() {
            *a += if self.normal[e] {
                self.data[base + 2 * self.k + kk]
            } else {
                (0..w)
                    .map(|x| self.data[base + x * self.k + kk])
                    .fold(f32::NEG_INFINITY, f32::max)
            };
        }
    }

    /// The most probable value of channel `c` of factor `(e, k)` (the mean for Normal).
    pub fn argmax(&self, e: usize, c: usize, k: usize) -> f32 {
        let w = self.widths[e];
        let base = self.offsets[e] + c * w * self.k;
        if self.normal[e] {
            return self.data[base + k];
        }
        let mut best = (0, f32::NEG_INFINITY);
        for x in 0..w {
            let v = self.data[base + x * self.k + k];
            if v > best.1 {
                best = (x, v);
            }
        }
        best.0 as f32
    }
}
