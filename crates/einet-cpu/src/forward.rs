//! The forward pass: leaf, einsum and mixing layers (Tucker), CP product and dense sum layers,
//! in the sum-product semiring (likelihoods) or the max-product semiring (MPE).
//!
//! Activations are node-major: node `n` owns `rows · k[n]` values starting at
//! `rows · k_offset[n]`, laid out `[row][k]`. A layer's outputs are consecutive nodes, so each
//! layer writes one contiguous block and reads only earlier ones, and products run in parallel.

use einet_core::layout::{EinsumLayer, Layer, Layout, MixingLayer, ProductLayer, SumLayer};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::leaf_table::{LeafTable, Missing};

/// Rows processed together inside one product (bounds temporary memory and stays in cache).
pub(crate) const ROW_CHUNK: usize = 256;

/// Which semiring a pass computes in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Semiring {
    /// Sums: log-likelihoods, with missing values marginalised.
    SumProduct,
    /// Maxima: the log-probability of the best joint state, missing values maximised.
    MaxProduct,
}

/// The block of node `n` in an activation buffer of `rows` rows.
#[inline]
pub(crate) fn node_block(layout: &Layout, rows: usize, n: u32) -> std::ops::Range<usize> {
    let start = rows * layout.k_offset[n as usize] as usize;
    start..start + rows * layout.k[n as usize] as usize
}

/// Runs the whole forward pass; `act` must hold `rows · activation_len` values.
pub fn forward(
    layout: &Layout,
    weights: &[Vec<f32>],
    table: &LeafTable,
    x: &[f32],
    rows: usize,
    semiring: Semiring,
    act: &mut [f32],
) {
    leaf_forward(layout, table, x, rows, semiring, act);
    for (layer, w) in layout.layers.iter().zip(weights) {
        let first = layer.outputs()[0];
        let (inputs, outputs) = act.split_at_mut(rows * layout.k_offset[first as usize] as usize);
        match layer {
            Layer::Einsum(l) => einsum_forward(layout, l, w, rows, semiring, inputs, outputs),
            Layer::Mixing(l) => mixing_forward(layout, l, w, rows, semiring, inputs, outputs),
            Layer::Product(l) => cp_product_forward(layout, l, rows, inputs, outputs),
            Layer::Sum(l) => cp_sum_forward(layout, l, w, rows, semiring, inputs, outputs),
        }
    }
}

/// The blocks of the consecutive nodes `out` in `buf`, which starts at the first one's block.
pub(crate) fn output_blocks<'a>(
    layout: &Layout,
    rows: usize,
    out: &[u32],
    mut buf: &'a mut [f32],
) -> Vec<&'a mut [f32]> {
    let mut blocks = Vec::with_capacity(out.len());
    for &n in out {
        let (block, rest) = buf.split_at_mut(rows * layout.k[n as usize] as usize);
        blocks.push(block);
        buf = rest;
    }
    blocks
}

/// CP products: the element-wise sum of the children's log-vectors (either semiring).
fn cp_product_forward(
    layout: &Layout,
    layer: &ProductLayer,
    rows: usize,
    inputs: &[f32],
    outputs: &mut [f32],
) {
    output_blocks(layout, rows, &layer.out, outputs)
        .into_par_iter()
        .enumerate()
        .for_each(|(p, out)| {
            out.fill(0.0);
            for &c in layer.children(p) {
                out.iter_mut()
                    .zip(&inputs[node_block(layout, rows, c)])
                    .for_each(|(o, x)| *o += x);
            }
        });
}

/// The concatenated input vectors (log values) of a CP sum over `inputs` for rows
/// `start..start + n`: `n × width`.
pub(crate) fn sum_inputs(
    layout: &Layout,
    inputs: &[u32],
    act: &[f32],
    rows: usize,
    start: usize,
    n: usize,
) -> Vec<f32> {
    let width: usize = inputs.iter().map(|&c| layout.k[c as usize] as usize).sum();
    let mut z = vec![0.0f32; n * width];
    let mut at = 0;
    for &c in inputs {
        let k = layout.k[c as usize] as usize;
        let block = &act[node_block(layout, rows, c)];
        for b in 0..n {
            z[b * width + at..b * width + at + k]
                .copy_from_slice(&block[(start + b) * k..(start + b + 1) * k]);
        }
        at += k;
    }
    z
}

/// Replaces every row of `z` (`width` values each) by its exponential shifted by the row's
/// maximum; returns the maxima.
pub(crate) fn exp_rows(z: &mut [f32], width: usize) -> Vec<f32> {
    let mut src = vec![0.0f32; width];
    z.chunks_exact_mut(width)
        .map(|row| {
            src.copy_from_slice(row);
            exp_shifted(&src, row)
        })
        .collect()
}

/// CP sums: `out = log(W · e^{z − m}) + m` per row, a matrix product per chunk of rows; in
/// the max-product semiring `out[o] = max_ci log W[o,c,i] + z[c,i]`.
fn cp_sum_forward(
    layout: &Layout,
    layer: &SumLayer,
    weights: &[f32],
    rows: usize,
    semiring: Semiring,
    inputs: &[f32],
    outputs: &mut [f32],
) {
    output_blocks(layout, rows, &layer.out, outputs)
        .into_par_iter()
        .enumerate()
        .for_each(|(m, out)| {
            let k_out = layout.k[layer.out[m] as usize] as usize;
            let w = &weights[layer.weights(m)];
            let width = w.len() / k_out;
            let w_view = ArrayView2::from_shape((k_out, width), w).expect("shape");
            let log_w: Vec<f32> = match semiring {
                Semiring::SumProduct => Vec::new(),
                Semiring::MaxProduct => w.iter().map(|x| x.ln()).collect(),
            };
            out.par_chunks_mut(ROW_CHUNK * k_out)
                .enumerate()
                .for_each(|(chunk, out)| {
                    let (start, n) = (chunk * ROW_CHUNK, out.len() / k_out);
                    let mut z = sum_inputs(layout, layer.inputs(m), inputs, rows, start, n);
                    match semiring {
                        Semiring::SumProduct => {
                            let shift = exp_rows(&mut z, width);
                            let z = ArrayView2::from_shape((n, width), &z[..]).expect("shape");
                            let mut o =
                                ArrayViewMut2::from_shape((n, k_out), &mut out[..]).expect("shape");
                            general_mat_mul(1.0, &z, &w_view.t(), 0.0, &mut o);
                            for (row, &s) in out.chunks_exact_mut(k_out).zip(&shift) {
                                for y in row {
                                    *y = if s == f32::NEG_INFINITY {
                                        f32::NEG_INFINITY
                                    } else {
                                        y.ln() + s
                                    };
                                }
                            }
                        }
                        Semiring::MaxProduct => {
                            for (row, zb) in out.chunks_exact_mut(k_out).zip(z.chunks_exact(width))
                            {
                                for (y, lw) in row.iter_mut().zip(log_w.chunks_exact(width)) {
                                    *y = lw
                                        .iter()
                                        .zip(zb)
                                        .map(|(lw, z)| lw + z)
                                        .fold(f32::NEG_INFINITY, f32::max);
                                }
                            }
                        }
                    }
                });
        });
}

fn leaf_forward(
    layout: &Layout,
    table: &LeafTable,
    x: &[f32],
    rows: usize,
    semiring: Semiring,
    act: &mut [f32],
) {
    let leaf = &layout.leaf;
    let (k, d) = (leaf.k, layout.num_channels);
    let width = layout.row_len();
    let missing = match semiring {
        Semiring::SumProduct => Missing::Marginalise,
        Semiring::MaxProduct => Missing::Maximise,
    };
    act[..rows * k * leaf.len()]
        .par_chunks_mut(rows * k)
        .enumerate()
        .for_each(|(n, block)| {
            block.fill(0.0);
            for (b, acc) in block.chunks_exact_mut(k).enumerate() {
                let row = &x[b * width..(b + 1) * width];
                for e in leaf.entries(n) {
                    let v = leaf.vars[e] as usize;
                    for c in 0..d {
                        table.add(e, c, row[v * d + c], missing, acc);
                    }
                }
            }
        });
}

/// Exponentiates `src` shifted by its maximum into `dst`; returns the maximum.
#[inline]
pub(crate) fn exp_shifted(src: &[f32], dst: &mut [f32]) -> f32 {
    let m = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if m == f32::NEG_INFINITY {
        dst.fill(0.0);
    } else {
        dst.iter_mut()
            .zip(src)
            .for_each(|(d, s)| *d = (s - m).exp());
    }
    m
}

/// Exponentiated, max-shifted children of one product for a chunk of rows.
pub(crate) struct ShiftedChildren {
    pub el: Vec<f32>,
    pub er: Vec<f32>,
    /// `a + c` per row: the sum of the two children's maxima.
    pub shift: Vec<f32>,
}

impl ShiftedChildren {
    pub(crate) fn new(left: &[f32], right: &[f32], kl: usize, kr: usize, rows: usize) -> Self {
        let mut s = ShiftedChildren {
            el: vec![0.0; rows * kl],
            er: vec![0.0; rows * kr],
            shift: vec![0.0; rows],
        };
        for b in 0..rows {
            let a = exp_shifted(&left[b * kl..(b + 1) * kl], &mut s.el[b * kl..(b + 1) * kl]);
            let c = exp_shifted(
                &right[b * kr..(b + 1) * kr],
                &mut s.er[b * kr..(b + 1) * kr],
            );
            s.shift[b] = a + c;
        }
        s
    }
}

/// `T = er · Wᵀ`, with `W` viewed as `(k_out·kl) × kr`: `T[b, o·kl + i] = Σ_j W[o,i,j]·er[b,j]`.
/// `Σ a[i]·b[i]` over the shorter of the two, in eight interleaved partial sums so that the
/// compiler vectorises it (a plain iterator sum is one sequential chain of additions).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

pub(crate) fn contract_right(er: &[f32], w: &[f32], rows: usize, kr: usize, t: &mut [f32]) {
    let okl = w.len() / kr;
    let er = ArrayView2::from_shape((rows, kr), er).expect("shape");
    let w = ArrayView2::from_shape((okl, kr), w).expect("shape");
    let mut t = ArrayViewMut2::from_shape((rows, okl), t).expect("shape");
    general_mat_mul(1.0, &er, &w.t(), 0.0, &mut t);
}

fn einsum_forward(
    layout: &Layout,
    layer: &EinsumLayer,
    weights: &[f32],
    rows: usize,
    semiring: Semiring,
    inputs: &[f32],
    outputs: &mut [f32],
) {
    let k_out = layout.k[layer.out[0] as usize] as usize;
    outputs[..rows * k_out * layer.out.len()]
        .par_chunks_mut(rows * k_out)
        .enumerate()
        .for_each(|(p, out)| {
            let (l, r) = (layer.left[p], layer.right[p]);
            let (kl, kr) = (layout.k[l as usize] as usize, layout.k[r as usize] as usize);
            let w =
                &weights[layer.weight_offsets[p] as usize..layer.weight_offsets[p + 1] as usize];
            let left = &inputs[node_block(layout, rows, l)];
            let right = &inputs[node_block(layout, rows, r)];
            // Row chunks of one product run in parallel too, so narrow layers use every core.
            out.par_chunks_mut(ROW_CHUNK * k_out)
                .enumerate()
                .for_each(|(chunk, out)| {
                    let (start, n) = (chunk * ROW_CHUNK, out.len() / k_out);
                    let left = &left[start * kl..(start + n) * kl];
                    let right = &right[start * kr..(start + n) * kr];
                    match semiring {
                        Semiring::SumProduct => product_sum(left, right, w, n, kl, kr, k_out, out),
                        Semiring::MaxProduct => product_max(left, right, w, n, kl, kr, k_out, out),
                    }
                });
        });
}

/// One product's forward pass over `rows` rows (at most [`ROW_CHUNK`]): contract the right
/// child into the weights, then the left child, in the max-shifted linear domain.
#[allow(clippy::too_many_arguments)]
fn product_sum(
    left: &[f32],
    right: &[f32],
    w: &[f32],
    rows: usize,
    kl: usize,
    kr: usize,
    k_out: usize,
    out: &mut [f32],
) {
    let s = ShiftedChildren::new(left, right, kl, kr, rows);
    let mut t = vec![0.0; rows * k_out * kl];
    contract_right(&s.er, w, rows, kr, &mut t);
    for (b, o_row) in out.chunks_exact_mut(k_out).enumerate() {
        let el = &s.el[b * kl..(b + 1) * kl];
        for (y, tb) in o_row.iter_mut().zip(t[b * k_out * kl..].chunks_exact(kl)) {
            let sum = dot(el, tb);
            *y = if s.shift[b] == f32::NEG_INFINITY {
                f32::NEG_INFINITY
            } else {
                sum.ln() + s.shift[b]
            };
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn product_max(
    left: &[f32],
    right: &[f32],
    w: &[f32],
    rows: usize,
    kl: usize,
    kr: usize,
    k_out: usize,
    out: &mut [f32],
) {
    let log_w: Vec<f32> = w.iter().map(|x| x.ln()).collect();
    for b in 0..rows {
        let l = &left[b * kl..(b + 1) * kl];
        let r = &right[b * kr..(b + 1) * kr];
        for o in 0..k_out {
            let mut best = f32::NEG_INFINITY;
            for i in 0..kl {
                let row = &log_w[(o * kl + i) * kr..(o * kl + i + 1) * kr];
                for j in 0..kr {
                    best = best.max(row[j] + l[i] + r[j]);
                }
            }
            out[b * k_out + o] = best;
        }
    }
}

fn mixing_forward(
    layout: &Layout,
    layer: &MixingLayer,
    weights: &[f32],
    rows: usize,
    semiring: Semiring,
    inputs: &[f32],
    outputs: &mut [f32],
) {
    let (k, cmax) = (layer.k, layer.max_components);
    outputs[..rows * k * layer.out.len()]
        .par_chunks_mut(rows * k)
        .enumerate()
        .for_each(|(m, out)| {
            let comps = &layer.components[m * cmax..m * cmax + layer.num_components[m] as usize];
            let v = &weights[m * k * cmax..(m + 1) * k * cmax];
            for b in 0..rows {
                for kk in 0..k {
                    let value =
                        |c: usize| inputs[node_block(layout, rows, comps[c]).start + b * k + kk];
                    let mx = (0..comps.len())
                        .map(value)
                        .fold(f32::NEG_INFINITY, f32::max);
                    out[b * k + kk] = if mx == f32::NEG_INFINITY {
                        f32::NEG_INFINITY
                    } else {
                        match semiring {
                            Semiring::SumProduct => {
                                let s: f32 = (0..comps.len())
                                    .map(|c| v[kk * cmax + c] * (value(c) - mx).exp())
                                    .sum();
                                mx + s.ln()
                            }
                            Semiring::MaxProduct => (0..comps.len())
                                .map(|c| v[kk * cmax + c].ln() + value(c))
                                .fold(f32::NEG_INFINITY, f32::max),
                        }
                    };
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::dot;

    #[test]
    fn dot_sums_every_product_whatever_the_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
            let b: Vec<f32> = (0..n).map(|i| 0.5 - (i % 3) as f32).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            assert!(
                (f64::from(dot(&a, &b)) - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                "n = {n}"
            );
            // Only the shorter length counts.
            assert_eq!(dot(&a, &b[..n / 2]), dot(&a[..n / 2], &b[..n / 2]));
        }
    }
}
