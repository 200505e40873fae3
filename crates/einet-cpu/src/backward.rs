//! The EM-statistics backward pass, by explicit formulas, no autograd.
//!
//! `grad` holds `δ = ∂L/∂(node value)` in the activation layout. Layers are visited in reverse;
//! each einsum product, mixture and CP sum turns its output's `δ` into expected weight counts
//! and its inputs' `δ`, each CP product passes its `δ` on to its children;
//! the leaf layer turns `δ` into responsibility mass and weighted sufficient statistics.

use einet_core::em::EmStatistics;
use einet_core::layout::{EinsumLayer, Layer, Layout, MixingLayer, ProductLayer, SumLayer};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::forward::{ROW_CHUNK, ShiftedChildren, dot, node_block, sum_inputs};

/// Propagates `grad` (set at the root) down the network, adding expected counts and leaf
/// statistics to `stats`. `act` holds the forward pass of the same rows.
pub fn backward(
    layout: &Layout,
    weights: &[Vec<f32>],
    x: &[f32],
    rows: usize,
    act: &[f32],
    grad: &mut [f32],
    stats: &mut EmStatistics,
) {
    for ((layer, w), counts) in layout
        .layers
        .iter()
        .zip(weights)
        .zip(&mut stats.counts)
        .rev()
    {
        match layer {
            Layer::Einsum(l) => einsum_backward(layout, l, w, rows, act, grad, counts),
            Layer::Mixing(l) => mixing_backward(layout, l, w, rows, act, grad, counts),
            Layer::Product(l) => cp_product_backward(layout, l, rows, grad),
            Layer::Sum(l) => cp_sum_backward(layout, l, w, rows, act, grad, counts),
        }
    }
    leaf_backward(layout, x, rows, grad, stats);
}

/// Per product: its weight counts and its children's gradients.
struct ProductGrad {
    counts: Vec<f32>,
    left: Vec<f32>,
    right: Vec<f32>,
}

fn einsum_backward(
    layout: &Layout,
    layer: &EinsumLayer,
    weights: &[f32],
    rows: usize,
    act: &[f32],
    grad: &mut [f32],
    counts: &mut [f32],
) {
    let results: Vec<ProductGrad> = (0..layer.out.len())
        .into_par_iter()
        .map(|p| {
            let (l, r, o) = (layer.left[p], layer.right[p], layer.out[p]);
            let (kl, kr) = (layout.k[l as usize] as usize, layout.k[r as usize] as usize);
            let k_out = layout.k[o as usize] as usize;
            let w =
                &weights[layer.weight_offsets[p] as usize..layer.weight_offsets[p + 1] as usize];
            product_backward(
                &act[node_block(layout, rows, l)],
                &act[node_block(layout, rows, r)],
                &act[node_block(layout, rows, o)],
                &grad[node_block(layout, rows, o)],
                w,
                rows,
                [kl, kr, k_out],
            )
        })
        .collect();
    for (p, g) in results.into_iter().enumerate() {
        let range = layer.weight_offsets[p] as usize..layer.weight_offsets[p + 1] as usize;
        counts[range]
            .iter_mut()
            .zip(&g.counts)
            .for_each(|(c, n)| *c += n);
        for (node, dg) in [(layer.left[p], &g.left), (layer.right[p], &g.right)] {
            grad[node_block(layout, rows, node)]
                .iter_mut()
                .zip(dg)
                .for_each(|(a, b)| *a += b);
        }
    }
}

/// Counts `n[o,i,j] = W[o,i,j]·Σ_b ρ[b,o]·el[b,i]·er[b,j]` and child gradients
/// `δl[b,i] = el[b,i]·Σ_j U[b,i,j]·er[b,j]`, `δr` alike, with `ρ = δ·e^{s−out}` and
/// `U = ρ·W` (rows of `W` flattened over `(i, j)`); `s` is the [`backward_shift`] of the
/// children's maxima `a + c`, and `el` is scaled by `e^{a+c−s}` where `s` is lower.
fn product_backward(
    left: &[f32],
    right: &[f32],
    out: &[f32],
    delta: &[f32],
    w: &[f32],
    rows: usize,
    [kl, kr, k_out]: [usize; 3],
) -> ProductGrad {
    let kk = kl * kr;
    let mut g = ProductGrad {
        counts: vec![0.0; w.len()],
        left: vec![0.0; rows * kl],
        right: vec![0.0; rows * kr],
    };
    let chunk = ROW_CHUNK.min(rows);
    let mut rho = vec![0.0; chunk * k_out];
    let mut q = vec![0.0; chunk * kk];
    let mut u = vec![0.0; chunk * kk];
    let mut raw = vec![0.0; w.len()];
    let w_view = ArrayView2::from_shape((k_out, kk), w).expect("shape");
    for start in (0..rows).step_by(ROW_CHUNK) {
        let n = ROW_CHUNK.min(rows - start);
        let mut s = ShiftedChildren::new(
            &left[start * kl..(start + n) * kl],
            &right[start * kr..(start + n) * kr],
            kl,
            kr,
            n,
        );
        for b in 0..n {
            let at = (start + b) * k_out;
            let (y, delta) = (&out[at..at + k_out], &delta[at..at + k_out]);
            let live = |o: usize| is_live(y[o], delta[o]);
            let least = least_live_output(y, delta);
            let shift = backward_shift(s.shift[b], least);
            if shift < s.shift[b] {
                let scale = (s.shift[b] - shift).exp();
                s.el[b * kl..(b + 1) * kl]
                    .iter_mut()
                    .for_each(|e| *e *= scale);
            }
            for o in 0..k_out {
                rho[b * k_out + o] = if live(o) {
                    delta[o] * (shift - y[o]).exp()
                } else {
                    0.0
                };
            }
            let er = &s.er[b * kr..(b + 1) * kr];
            for (q_i, &l) in q[b * kk..(b + 1) * kk]
                .chunks_exact_mut(kr)
                .zip(&s.el[b * kl..(b + 1) * kl])
            {
                q_i.iter_mut().zip(er).for_each(|(q, &r)| *q = l * r);
            }
        }
        let rho_v = ArrayView2::from_shape((n, k_out), &rho[..n * k_out]).expect("shape");
        let q_v = ArrayView2::from_shape((n, kk), &q[..n * kk]).expect("shape");
        let mut raw_v = ArrayViewMut2::from_shape((k_out, kk), &mut raw[..]).expect("shape");
        general_mat_mul(1.0, &rho_v.t(), &q_v, 1.0, &mut raw_v);
        let mut u_v = ArrayViewMut2::from_shape((n, kk), &mut u[..n * kk]).expect("shape");
        general_mat_mul(1.0, &rho_v, &w_view, 0.0, &mut u_v);
        for b in 0..n {
            let ub = &u[b * kk..(b + 1) * kk];
            let (el, er) = (&s.el[b * kl..(b + 1) * kl], &s.er[b * kr..(b + 1) * kr]);
            let right = &mut g.right[(start + b) * kr..(start + b + 1) * kr];
            for (i, row) in ub.chunks_exact(kr).enumerate() {
                let t = dot(row, er);
                g.left[(start + b) * kl + i] = el[i] * t;
                right.iter_mut().zip(row).for_each(|(r, u)| *r += u * el[i]);
            }
            right.iter_mut().zip(er).for_each(|(r, e)| *r *= e);
        }
    }
    // A zero weight's count is zero, also where its product overflowed.
    g.counts
        .iter_mut()
        .zip(w)
        .zip(&raw)
        .for_each(|((c, &w), r)| *c = if w == 0.0 { 0.0 } else { w * r });
    g
}

fn mixing_backward(
    layout: &Layout,
    layer: &MixingLayer,
    weights: &[f32],
    rows: usize,
    act: &[f32],
    grad: &mut [f32],
    counts: &mut [f32],
) {
    let (k, cmax) = (layer.k, layer.max_components);
    // The batch's counts, summed in f64 and added once: a running f32 total that grows far
    // beyond each row's flow would round every addition.
    let mut batch = vec![0.0f64; counts.len()];
    for (m, &out) in layer.out.iter().enumerate() {
        let comps = &layer.components[m * cmax..m * cmax + layer.num_components[m] as usize];
        let v = &weights[m * k * cmax..(m + 1) * k * cmax];
        let out_block = node_block(layout, rows, out);
        for (c, &node) in comps.iter().enumerate() {
            let block = node_block(layout, rows, node);
            for b in 0..rows {
                for kk in 0..k {
                    let d = grad[out_block.start + b * k + kk];
                    let y = act[out_block.start + b * k + kk];
                    if d == 0.0 || y == f32::NEG_INFINITY {
                        continue;
                    }
                    let flow = d * v[kk * cmax + c] * (act[block.start + b * k + kk] - y).exp();
                    grad[block.start + b * k + kk] += flow;
                    batch[(m * k + kk) * cmax + c] += f64::from(flow);
                }
            }
        }
    }
    add_batch(counts, &batch);
}

/// Adds a batch's statistics, summed in f64, to the running totals, rounding once.
fn add_batch(totals: &mut [f32], batch: &[f64]) {
    totals
        .iter_mut()
        .zip(batch)
        .for_each(|(t, b)| *t = (f64::from(*t) + b) as f32);
}

/// CP products pass their output's `δ` to every child unchanged (`∂ Σ_c z_c / ∂ z_c = 1`).
fn cp_product_backward(layout: &Layout, layer: &ProductLayer, rows: usize, grad: &mut [f32]) {
    for (p, &out) in layer.out.iter().enumerate() {
        let delta = grad[node_block(layout, rows, out)].to_vec();
        for &c in layer.children(p) {
            grad[node_block(layout, rows, c)]
                .iter_mut()
                .zip(&delta)
                .for_each(|(g, d)| *g += d);
        }
    }
}

/// Whether an output with value `y` and gradient `delta` takes part in the backward pass.
fn is_live(y: f32, delta: f32) -> bool {
    delta != 0.0 && y != f32::NEG_INFINITY
}

/// The least live output of a row ([`is_live`]), or +∞ when none is live.
fn least_live_output(y: &[f32], delta: &[f32]) -> f32 {
    y.iter()
        .zip(delta)
        .filter(|&(&y, &d)| is_live(y, d))
        .map(|(&y, _)| y)
        .fold(f32::INFINITY, f32::min)
}

/// How far (in nats) the row shift `s` of a sum's backward pass may lie below the row's
/// largest input or above its least live output.
const SHIFT_RANGE: f32 = 80.0;

/// The row shift of a sum's backward pass, which splits `δ_o e^{z_j − y_o}` into
/// `e^{z_j − s}` and `δ_o e^{s − y_o}`: the row's `largest` input, but at most [`SHIFT_RANGE`]
/// above its `least` live output (`δ_o ≠ 0`, `y_o > −∞`). A live output lies at most ~103
/// nats (the forward pass's denormal range) below the largest input, so neither factor
/// exceeds `e^{80}`, also where a weight near zero leaves an output more than 88 nats below it.
fn backward_shift(largest: f32, least: f32) -> f32 {
    largest.min(least + SHIFT_RANGE)
}

/// CP sums, per sum: with `E = e^{z − s}` its shifted inputs and `R = δ·e^{s − out}`
/// ([`backward_shift`]), the counts `n = W ⊙ (Rᵀ E)` and the inputs' gradients `E ⊙ (R W)`,
/// two matrix products per chunk of rows.
fn cp_sum_backward(
    layout: &Layout,
    layer: &SumLayer,
    weights: &[f32],
    rows: usize,
    act: &[f32],
    grad: &mut [f32],
    counts: &mut [f32],
) {
    let results: Vec<(Vec<f32>, Vec<f32>)> = (0..layer.out.len())
        .into_par_iter()
        .map(|m| {
            let out = layer.out[m];
            let k_out = layout.k[out as usize] as usize;
            let w = &weights[layer.weights(m)];
            let width = w.len() / k_out;
            let w_view = ArrayView2::from_shape((k_out, width), w).expect("shape");
            let (y, delta) = (
                &act[node_block(layout, rows, out)],
                &grad[node_block(layout, rows, out)],
            );
            let mut raw = vec![0.0f32; w.len()];
            let mut dz = vec![0.0f32; rows * width];
            for start in (0..rows).step_by(ROW_CHUNK) {
                let n = ROW_CHUNK.min(rows - start);
                let mut e = sum_inputs(layout, layer.inputs(m), act, rows, start, n);
                let mut r = vec![0.0f32; n * k_out];
                for (b, (z, r)) in e
                    .chunks_exact_mut(width)
                    .zip(r.chunks_exact_mut(k_out))
                    .enumerate()
                {
                    let at = (start + b) * k_out;
                    let (y, delta) = (&y[at..at + k_out], &delta[at..at + k_out]);
                    let live = |o: usize| is_live(y[o], delta[o]);
                    let least = least_live_output(y, delta);
                    if least == f32::INFINITY {
                        z.fill(0.0);
                        continue;
                    }
                    let largest = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let s = backward_shift(largest, least);
                    z.iter_mut().for_each(|z| *z = (*z - s).exp());
                    for o in (0..k_out).filter(|&o| live(o)) {
                        r[o] = delta[o] * (s - y[o]).exp();
                    }
                }
                let r_v = ArrayView2::from_shape((n, k_out), &r[..]).expect("shape");
                let e_v = ArrayView2::from_shape((n, width), &e[..]).expect("shape");
                let mut raw_v =
                    ArrayViewMut2::from_shape((k_out, width), &mut raw[..]).expect("shape");
                general_mat_mul(1.0, &r_v.t(), &e_v, 1.0, &mut raw_v);
                let chunk = &mut dz[start * width..(start + n) * width];
                let mut dz_v =
                    ArrayViewMut2::from_shape((n, width), &mut chunk[..]).expect("shape");
                general_mat_mul(1.0, &r_v, &w_view, 0.0, &mut dz_v);
                chunk.iter_mut().zip(&e).for_each(|(g, e)| *g *= e);
            }
            // A zero weight's count is zero, also where e^{z − y} overflowed.
            raw.iter_mut()
                .zip(w)
                .for_each(|(c, &w)| *c = if w == 0.0 { 0.0 } else { *c * w });
            (raw, dz)
        })
        .collect();
    for (m, (raw, dz)) in results.into_iter().enumerate() {
        counts[layer.weights(m)]
            .iter_mut()
            .zip(&raw)
            .for_each(|(c, n)| *c += n);
        let width = dz.len() / rows.max(1);
        let mut at = 0;
        for &c in layer.inputs(m) {
            let k = layout.k[c as usize] as usize;
            let block = node_block(layout, rows, c);
            for b in 0..rows {
                grad[block.start + b * k..block.start + (b + 1) * k]
                    .iter_mut()
                    .zip(&dz[b * width + at..b * width + at + k])
                    .for_each(|(g, d)| *g += d);
            }
            at += k;
        }
    }
}

fn leaf_backward(layout: &Layout, x: &[f32], rows: usize, grad: &[f32], stats: &mut EmStatistics) {
    let leaf = &layout.leaf;
    let (k, d) = (leaf.k, layout.num_channels);
    let width = layout.row_len();
    // Entries of one leaf are contiguous, so each leaf owns a contiguous slice of both
    // accumulators; split them per leaf and process leaves in parallel.
    let mut mass_parts = Vec::with_capacity(leaf.len());
    let mut stat_parts = Vec::with_capacity(leaf.len());
    let (mut mass, mut stat) = (&mut stats.leaf_mass[..], &mut stats.leaf_stats[..]);
    for n in 0..leaf.len() {
        let entries = leaf.entries(n);
        let stat_end = if entries.end < leaf.vars.len() {
            leaf.param_offsets[entries.end] as usize
        } else {
            leaf.num_params
        } - leaf.param_offsets[entries.start] as usize;
        let (m_head, m_tail) = mass.split_at_mut(entries.len() * k * d);
        let (s_head, s_tail) = stat.split_at_mut(stat_end);
        mass_parts.push(m_head);
        stat_parts.push(s_head);
        mass = m_tail;
        stat = s_tail;
    }
    mass_parts
        .into_par_iter()
        .zip(stat_parts)
        .enumerate()
        .for_each(|(n, (mass, stat))| {
            let entries = leaf.entries(n);
            let base = leaf.param_offsets[entries.start] as usize;
            let delta = &grad[node_block(layout, rows, n as u32)];
            if leaf_node_by_product(layout, n, x, rows, delta, mass, stat) {
                return;
            }
            // The batch's statistics from zero, added to the totals at the end (as the
            // matrix products above do).
            let (totals_mass, totals_stat) = (mass, stat);
            let mut mass = vec![0.0f32; totals_mass.len()];
            let mut stat = vec![0.0f32; totals_stat.len()];
            for b in 0..rows {
                let db = &delta[b * k..(b + 1) * k];
                if db.iter().all(|&g| g == 0.0) {
                    continue;
                }
                let row = &x[b * width..(b + 1) * width];
                for (j, e) in entries.clone().enumerate() {
                    let family = leaf.family(e);
                    let s = family.num_stats();
                    let v = leaf.vars[e] as usize;
                    let off = leaf.param_offsets[e] as usize - base;
                    for c in 0..d {
                        let value = row[v * d + c];
                        if value.is_nan() {
                            continue;
                        }
                        for (kk, &g) in db.iter().enumerate() {
                            mass[(j * k + kk) * d + c] += g;
                            let at = off + (kk * d + c) * s;
                            family.add_statistics(value, g, &mut stat[at..at + s]);
                        }
                    }
                }
            }
            for (totals, batch) in [(totals_mass, &mass), (totals_stat, &stat)] {
                totals.iter_mut().zip(batch).for_each(|(t, b)| *t += b);
            }
        });
}

/// Statistics per entry that [`leaf_node_by_product`] handles at most.
const MAX_PRODUCT_STATS: usize = 8;

/// The leaf statistics of leaf node `n` as one matrix product per channel, when all its
/// entries share a family with at most [`MAX_PRODUCT_STATS`] statistics (returns `false`,
/// and does nothing, otherwise). With `Δ` the node's gradient (rows × K) and, per row, the
/// columns `[observed(x_j)]_j` and `[T_s(x_j)]_{s,j}` (0 where `x_j` is missing):
/// `[mass | stats] += columnsᵀ · Δ`.
fn leaf_node_by_product(
    layout: &Layout,
    n: usize,
    x: &[f32],
    rows: usize,
    delta: &[f32],
    mass: &mut [f32],
    stat: &mut [f32],
) -> bool {
    let leaf = &layout.leaf;
    let entries = leaf.entries(n);
    let family = leaf.family(entries.start);
    let s = family.num_stats();
    if s > MAX_PRODUCT_STATS || entries.clone().any(|e| leaf.family(e) != family) {
        return false;
    }
    let (k, d, width) = (leaf.k, layout.num_channels, layout.row_len());
    let e_n = entries.len();
    let base = leaf.param_offsets[entries.start] as usize;
    let cols = (s + 1) * e_n;
    let delta = ArrayView2::from_shape((rows, k), delta).expect("shape");
    let mut columns = vec![0.0f32; rows * cols];
    let mut sums = vec![0.0f32; cols * k];
    for c in 0..d {
        columns.fill(0.0);
        for (b, out) in columns.chunks_exact_mut(cols).enumerate() {
            let row = &x[b * width..(b + 1) * width];
            for (j, e) in entries.clone().enumerate() {
                let value = row[leaf.vars[e] as usize * d + c];
                if value.is_nan() {
                    continue;
                }
                out[j] = 1.0;
                let mut t = [0.0f32; MAX_PRODUCT_STATS];
                family.add_statistics(value, 1.0, &mut t[..s]);
                for (i, &ti) in t[..s].iter().enumerate() {
                    out[(i + 1) * e_n + j] = ti;
                }
            }
        }
        let columns_v = ArrayView2::from_shape((rows, cols), &columns[..]).expect("shape");
        let mut sums_v = ArrayViewMut2::from_shape((cols, k), &mut sums[..]).expect("shape");
        general_mat_mul(1.0, &columns_v.t(), &delta, 0.0, &mut sums_v);
        for (j, e) in entries.clone().enumerate() {
            let off = leaf.param_offsets[e] as usize - base;
            for kk in 0..k {
                mass[(j * k + kk) * d + c] += sums[j * k + kk];
                for i in 0..s {
                    stat[off + (kk * d + c) * s + i] += sums[((i + 1) * e_n + j) * k + kk];
                }
            }
        }
    }
    true
}
