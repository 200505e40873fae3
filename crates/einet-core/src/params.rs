//! Model parameters: sum weights per layer and leaf expectation parameters.

use std::ops::Range;

use crate::layout::{Layer, Layout};
use crate::rng::Rng;

/// All parameters of an Einsum Network, laid out as [`Layout`] describes.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Weights of each inner layer (`layout.layers[i]`), in that layer's layout.
    pub layers: Vec<Vec<f32>>,
    /// Leaf expectation parameters, `[entry][k][channel][stat]`.
    pub leaf: Vec<f32>,
}

impl Params {
    /// All-zero parameters of the right shapes (an accumulator for statistics).
    pub fn zeros(layout: &Layout) -> Self {
        Params {
            layers: layout
                .layers
                .iter()
                .map(|l| vec![0.0; l.num_weights()])
                .collect(),
            leaf: vec![0.0; layout.leaf.num_params],
        }
    }

    /// Seeded random initialisation as in the reference: weights `U(0.01, 0.99)` then
    /// normalised; leaves drawn per family. Tensor `i` uses Philox stream `i`, so the result
    /// does not depend on thread count.
    pub fn random(layout: &Layout, seed: u64) -> Self {
        let mut params = Params::zeros(layout);
        for (i, (layer, weights)) in layout.layers.iter().zip(&mut params.layers).enumerate() {
            let mut rng = Rng::new(seed, i as u64);
            for range in distributions(layout, layer) {
                let w = &mut weights[range];
                w.iter_mut().for_each(|x| *x = rng.uniform_in(0.01, 0.99));
                normalise(w);
            }
        }
        let leaf = &layout.leaf;
        let d = layout.num_channels;
        let mut rng = Rng::new(seed, layout.layers.len() as u64);
        for e in 0..leaf.vars.len() {
            let family = leaf.family(e);
            let s = family.num_stats();
            let start = leaf.param_offsets[e] as usize;
            for phi in params.leaf[start..start + leaf.k * d * s].chunks_exact_mut(s) {
                family.initialize(&mut rng, phi);
            }
        }
        params
    }

    /// Normalises every einsum product's weights over `(i, j)` for each output `o`, and every
    /// mixing region's weights over its valid components for each `k` (padding stays 0).
    pub fn normalise_weights(&mut self, layout: &Layout) {
        for (layer, weights) in layout.layers.iter().zip(&mut self.layers) {
            for range in distributions(layout, layer) {
                normalise(&mut weights[range]);
            }
        }
    }

    /// Whether every tensor has the length `layout` prescribes.
    pub fn fits(&self, layout: &Layout) -> bool {
        self.leaf.len() == layout.leaf.num_params
            && self.layers.len() == layout.layers.len()
            && self
                .layers
                .iter()
                .zip(&layout.layers)
                .all(|(w, l)| w.len() == l.num_weights())
    }

    /// Checks that these are parameters a model can have (shapes as [`fits`] checks them
    /// first): every value finite; every normalised weight vector non-negative and summing to
    /// 1 (to `f32` rounding); every leaf's expectation parameters valid for its family
    /// ([`LeafFamily::check_params`]). The error names the tensor (as the model file does:
    /// `layer.{i}.weights`, `leaf.params`), the index and what is wrong.
    ///
    /// [`fits`]: Params::fits
    /// [`LeafFamily::check_params`]: crate::leaf::LeafFamily::check_params
    pub fn check(&self, layout: &Layout) -> Result<(), String> {
        const TOLERANCE: f64 = 1e-3;
        if !self.fits(layout) {
            return Err("the tensor sizes do not match the structure".into());
        }
        for (i, (layer, weights)) in layout.layers.iter().zip(&self.layers).enumerate() {
            let tensor = format!("layer.{i}.weights");
            if let Some((j, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
                return Err(format!("{tensor}[{j}] is {w}, not a finite number"));
            }
            if let Some((j, w)) = weights.iter().enumerate().find(|(_, w)| **w < 0.0) {
                return Err(format!("{tensor}[{j}] is {w}, a negative weight"));
            }
            for range in distributions(layout, layer) {
                let total: f64 = weights[range.clone()].iter().map(|&w| f64::from(w)).sum();
                if (total - 1.0).abs() > TOLERANCE {
                    return Err(format!(
                        "{tensor}[{}..{}] sum to {total}, not 1 (the weights of one sum node)",
                        range.start, range.end
                    ));
                }
            }
        }
        let leaf = &layout.leaf;
        let d = layout.num_channels;
        if let Some((j, x)) = self.leaf.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(format!("leaf.params[{j}] is {x}, not a finite number"));
        }
        for e in 0..leaf.vars.len() {
            let family = leaf.family(e);
            let s = family.num_stats();
            let start = leaf.param_offsets[e] as usize;
            let values = &self.leaf[start..start + leaf.k * d * s];
            for (n, phi) in values.chunks_exact(s).enumerate() {
                family.check_params(phi).map_err(|why| {
                    format!(
                        "leaf.params[{}..{}] (variable {}, state {}, channel {}): {why}",
                        start + n * s,
                        start + (n + 1) * s,
                        leaf.vars[e],
                        n / d,
                        n % d
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Number of parameter values.
    pub fn len(&self) -> usize {
        self.layers.iter().map(Vec::len).sum::<usize>() + self.leaf.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The index ranges of every normalised weight vector of `layer` in its weight tensor: the
/// `K_l·K_r` weights of one einsum output, the valid components of one mixing entry, or the
/// `Σ K_in` weights of one output of a CP sum (a CP product layer has none).
pub fn distributions(layout: &Layout, layer: &Layer) -> Vec<Range<usize>> {
    match layer {
        Layer::Einsum(l) => (0..l.out.len())
            .flat_map(|p| {
                let kl = layout.k[l.left[p] as usize] as usize;
                let kr = layout.k[l.right[p] as usize] as usize;
                let (start, end) = (
                    l.weight_offsets[p] as usize,
                    l.weight_offsets[p + 1] as usize,
                );
                (start..end).step_by(kl * kr).map(move |s| s..s + kl * kr)
            })
            .collect(),
        Layer::Mixing(l) => l
            .num_components
            .iter()
            .enumerate()
            .flat_map(|(m, &n)| {
                (0..l.k).map(move |k| {
                    let start = (m * l.k + k) * l.max_components;
                    start..start + n as usize
                })
            })
            .collect(),
        Layer::Product(_) => Vec::new(),
        Layer::Sum(l) => (0..l.out.len())
            .flat_map(|m| {
                let range = l.weights(m);
                let width = range.len() / layout.k[l.out[m] as usize] as usize;
                range.step_by(width).map(move |s| s..s + width)
            })
            .collect(),
    }
}

/// Divides `w` by its sum.
pub fn normalise(w: &mut [f32]) {
    let total: f32 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= total);
}
