//! Mixtures of EiNets: `p(x) = Σ_c π_c · p_c(x)` over independently trained
//! component EiNets, as the reference's SVHN experiment builds them from k-means clusters
//! (`π_c` = the share of the training rows in cluster `c`, component `c` trained on them).
//!
//! A mixture is stored as a folder: `mixture.json` (the weights, the component file names and
//! free-form metadata) and one model file `component-XX.einet` per component.
//!
//! The operations take the [`Device`] to run on and load one component at a time, so only
//! one component is ever resident on it.

use std::path::{Path, PathBuf};

use einet_core::rng::Rng;
use einet_core::{Einet, MpeKind, Root};
use serde_json::json;

use crate::device::Device;
use crate::error::{Error, ErrorContext, Result};

/// Format tag of `mixture.json`.
const FORMAT: &str = "einet-mixture";
/// The `mixture.json` version this build writes and the newest it reads.
const FORMAT_VERSION: u64 = 1;
/// The file in a mixture folder that lists the weights and components.
pub const MIXTURE_FILE: &str = "mixture.json";
/// Philox stream of the component choices of [`EinetMixture::sample`].
const PICK_STREAM: u64 = 0x4D49_5854_5552_4531; // "MIXTURE1"

/// A mixture of EiNets over the same variables.
#[derive(Clone, Debug)]
pub struct EinetMixture {
    /// Mixture weights `π_c`: positive, summing to 1.
    pub weights: Vec<f64>,
    /// The component EiNets (same variables and channels).
    pub components: Vec<Einet>,
    /// Free-form metadata stored in `mixture.json` (data set, clustering, training).
    pub metadata: serde_json::Value,
}

/// Unconditional samples of a mixture.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureSamples {
    /// `n` rows of values, row-major.
    pub values: Vec<f32>,
    /// The component each row was drawn from.
    pub components: Vec<usize>,
}

/// Completions of partly observed rows.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureInpainting {
    /// The component used for each row: the arg-max of the posterior `∝ π_c · p_c(x_e)`.
    pub components: Vec<usize>,
    /// One conditional sample per row from the chosen component (observed values kept).
    pub sampled: Vec<f32>,
    /// The chosen component's MPE completion of each row (observed values kept).
    pub mpe: Vec<f32>,
}

impl EinetMixture {
    /// A mixture of `components` with weights proportional to `weights` (normalised here).
    /// Fails on an empty mixture, a weight that is not positive and finite, a length
    /// mismatch, or components over different variables or channels.
    pub fn new(weights: Vec<f64>, components: Vec<Einet>) -> Result<Self> {
        if components.is_empty() {
            return Err(Error::invalid("a mixture needs at least one component"));
        }
        if weights.len() != components.len() {
            return Err(Error::invalid(format!(
                "{} mixture weights for {} components",
                weights.len(),
                components.len()
            )));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(Error::invalid(format!(
                "mixture weight {w} is not a positive number"
            )));
        }
        let (v, ch) = shape(&components[0]);
        if let Some((c, e)) = components
            .iter()
            .enumerate()
            .find(|(_, e)| shape(e) != (v, ch))
        {
            let (v2, ch2) = shape(e);
            return Err(Error::invalid(format!(
                "component {c} has {v2} variables × {ch2} channels, but component 0 has {v} × {ch}"
            )));
        }
        let total: f64 = weights.iter().sum();
        Ok(EinetMixture {
            weights: weights.iter().map(|w| w / total).collect(),
            components,
            metadata: serde_json::Value::Null,
        })
    }

    /// A mixture whose weights are the shares of `counts` (e.g. k-means cluster sizes).
    pub fn from_counts(counts: &[usize], components: Vec<Einet>) -> Result<Self> {
        Self::new(counts.iter().map(|&n| n as f64).collect(), components)
    }

    /// Number of components (at least one).
    pub fn num_components(&self) -> usize {
        self.components.len()
    }

    /// Variables and channels of the components.
    pub fn shape(&self) -> (usize, usize) {
        shape(&self.components[0])
    }

    /// Values per row (`num_vars · num_channels`).
    pub fn row_len(&self) -> usize {
        let (v, c) = self.shape();
        v * c
    }

    /// Parameters of all components together.
    pub fn num_params(&self) -> usize {
        self.components.iter().map(|e| e.layout.num_params()).sum()
    }

    /// `ln π_c`.
    pub fn log_weights(&self) -> Vec<f64> {
        self.weights.iter().map(|w| w.ln()).collect()
    }

    /// The file name of component `c` in a mixture folder.
    pub fn component_file(c: usize) -> String {
        format!("component-{c:02}.einet")
    }

    /// Writes the mixture into the folder `dir` (created if needed): the component model
    /// files first, then `mixture.json` (atomically), so a folder with a `mixture.json` is
    /// always complete.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the mixture folder {}", dir.display()))?;
        let mut files = Vec::with_capacity(self.num_components());
        for (c, einet) in self.components.iter().enumerate() {
            let name = Self::component_file(c);
            let path = dir.join(&name);
            einet
                .save(&path)
                .with_context(|| format!("cannot save component {c} to {}", path.display()))?;
            files.push(name);
        }
        let doc = json!({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "weights": self.weights,
            "components": files,
            "metadata": self.metadata,
        });
        let path = dir.join(MIXTURE_FILE);
        let text = serde_json::to_string_pretty(&doc).expect("JSON values serialise");
        einet_core::write_atomic(&path, |w| w.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads a mixture folder written by [`EinetMixture::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MIXTURE_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the mixture {}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(e.to_string()))
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let bad = |what: &str| Error::invalid(format!("{}: {what}", path.display()));
        if doc["format"] != FORMAT {
            return Err(bad("not an einet mixture (format is not 'einet-mixture')"));
        }
        match doc["format_version"].as_u64() {
            Some(v) if v <= FORMAT_VERSION => {}
            Some(v) => {
                return Err(bad(&format!(
                    "format version {v} is newer than this build reads ({FORMAT_VERSION})"
                )));
            }
            None => return Err(bad("no format_version")),
        }
        let weights = doc["weights"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(serde_json::Value::as_f64)
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad("'weights' must be an array of numbers"))?;
        let files = doc["components"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|v| v.as_str().map(PathBuf::from))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad("'components' must be an array of file names"))?;
        let components = files
            .iter()
            .map(|f| {
                let p = dir.join(f);
                Einet::load(&p)
                    .with_context(|| format!("cannot load the component {}", p.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut mixture =
            Self::new(weights, components).with_context(|| path.display().to_string())?;
        mixture.metadata = doc["metadata"].clone();
        Ok(mixture)
    }

    /// `log p_c(x)` of every row under every component: `(rows, components)` row-major.
    /// Missing values (NaN) are marginalised. Rows go through the backend `batch` at a time.
    pub fn component_log_likelihoods(
        &self,
        x: &[f32],
        batch: usize,
        device: &Device,
    ) -> Result<Vec<f64>> {
        let rows = self.rows_of(x)?;
        let c_count = self.num_components();
        let mut out = vec![0.0f64; rows * c_count];
        for (c, einet) in self.components.iter().enumerate() {
            let mut model = device
                .load(einet)
                .with_context(|| format!("cannot load component {c}"))?;
            let mut row = 0;
            for chunk in x.chunks(batch.max(1) * self.row_len()) {
                let ll = model
                    .log_likelihood(chunk, Root::Mixture)
                    .with_context(|| format!("component {c}: log-likelihood failed"))?;
                for l in ll {
                    out[row * c_count + c] = f64::from(l);
                    row += 1;
                }
            }
        }
        Ok(out)
    }

    /// `log p(x) = logsumexp_c(ln π_c + log p_c(x))` of every row (nats).
    ///
    /// The reference's `EinetMixture.log_likelihood` computes `logsumexp_c(log p_c(x) −
    /// ln π_c)`, a sign bug that overstates the likelihood (its probabilities sum to
    /// `Σ_c 1/π_c`, not 1); this adds `ln π_c`, as the definition of the mixture requires.
    pub fn log_likelihood(&self, x: &[f32], batch: usize, device: &Device) -> Result<Vec<f64>> {
        let per = self.component_log_likelihoods(x, batch, device)?;
        Ok(mixture_log_likelihood(&self.log_weights(), &per))
    }

    /// The component posteriors `p(c | x) ∝ π_c · p_c(x)` of every row, `(rows, components)`
    /// row-major (missing values marginalised, so `x` may be the evidence only).
    pub fn posteriors(&self, x: &[f32], batch: usize, device: &Device) -> Result<Vec<f64>> {
        let per = self.component_log_likelihoods(x, batch, device)?;
        Ok(posteriors(&self.log_weights(), &per))
    }

    /// `n` unconditional samples: a component per sample drawn from `π` (fixed by `seed`),
    /// then a sample of that component. Normal leaves scale their standard deviation by
    /// `std_correction` (0 draws their means, as the reference's SVHN samples do).
    pub fn sample(
        &self,
        n: usize,
        seed: u64,
        std_correction: f32,
        device: &Device,
    ) -> Result<MixtureSamples> {
        let components = pick_components(&self.weights, n, seed);
        let width = self.row_len();
        let mut values = vec![0.0f32; n * width];
        for (c, einet) in self.components.iter().enumerate() {
            let rows: Vec<usize> = (0..n).filter(|&i| components[i] == c).collect();
            if rows.is_empty() {
                continue;
            }
            let mut model = device
                .load(einet)
                .with_context(|| format!("cannot load component {c}"))?;
            let drawn = model
                .sample(rows.len(), None, component_seed(seed, c), std_correction)
                .with_context(|| format!("component {c}: sampling failed"))?;
            scatter(&mut values, &drawn, &rows, width);
        }
        Ok(MixtureSamples { values, components })
    }

    /// Completes the missing values (NaN) of each row of `evidence` as the reference's SVHN
    /// evaluation does: the component with the largest posterior `π_c · p_c(x_e)` is chosen
    /// per row, then that component draws a conditional sample (fixed by `seed`) and gives an
    /// MPE completion of the kind `mpe`.
    pub fn inpaint(
        &self,
        evidence: &[f32],
        seed: u64,
        std_correction: f32,
        mpe: MpeKind,
        device: &Device,
    ) -> Result<MixtureInpainting> {
        let rows = self.rows_of(evidence)?;
        let post = self.posteriors(evidence, 256, device)?;
        let components: Vec<usize> = post
            .chunks_exact(self.num_components())
            .map(argmax)
            .collect();
        let width = self.row_len();
        let mut sampled = evidence.to_vec();
        let mut completed = evidence.to_vec();
        for (c, einet) in self.components.iter().enumerate() {
            let idx: Vec<usize> = (0..rows).filter(|&i| components[i] == c).collect();
            if idx.is_empty() {
                continue;
            }
            let part: Vec<f32> = idx
                .iter()
                .flat_map(|&i| evidence[i * width..(i + 1) * width].iter().copied())
                .collect();
            let mut model = device
                .load(einet)
                .with_context(|| format!("cannot load component {c}"))?;
            let s = model
                .sample_conditional(&part, component_seed(seed, c), std_correction)
                .with_context(|| format!("component {c}: conditional sampling failed"))?;
            let m = model
                .mpe(&part, mpe)
                .with_context(|| format!("component {c}: MPE failed"))?;
            scatter(&mut sampled, &s, &idx, width);
            scatter(&mut completed, &m, &idx, width);
        }
        Ok(MixtureInpainting {
            components,
            sampled,
            mpe: completed,
        })
    }

    fn rows_of(&self, x: &[f32]) -> Result<usize> {
        let width = self.row_len();
        if x.len() % width != 0 {
            return Err(Error::invalid(format!(
                "{} values are not whole rows of {} values each",
                x.len(),
                width
            )));
        }
        Ok(x.len() / width)
    }
}

fn shape(e: &Einet) -> (usize, usize) {
    (e.layout.num_vars, e.layout.num_channels)
}

/// A per-component seed derived from the operation's seed.
fn component_seed(seed: u64, c: usize) -> u64 {
    seed ^ ((c as u64 + 1) << 40)
}

/// Copies row `k` of `src` to row `rows[k]` of `dst`.
fn scatter(dst: &mut [f32], src: &[f32], rows: &[usize], width: usize) {
    for (k, &i) in rows.iter().enumerate() {
        dst[i * width..(i + 1) * width].copy_from_slice(&src[k * width..(k + 1) * width]);
    }
}

/// The index of the largest value (the first among ties; NaN never wins).
fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}

/// `logsumexp` of `v`, stable; `-inf` for an empty slice or all `-inf`.
pub fn logsumexp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// Mixture log-likelihood of each row from the per-component ones (`(rows, C)` row-major):
/// `logsumexp_c(log_weights[c] + component_ll[r, c])`.
pub fn mixture_log_likelihood(log_weights: &[f64], component_ll: &[f64]) -> Vec<f64> {
    component_ll
        .chunks_exact(log_weights.len())
        .map(|row| {
            let joint: Vec<f64> = row.iter().zip(log_weights).map(|(l, w)| l + w).collect();
            logsumexp(&joint)
        })
        .collect()
}

/// Component posteriors of each row from the per-component log-likelihoods.
pub fn posteriors(log_weights: &[f64], component_ll: &[f64]) -> Vec<f64> {
    component_ll
        .chunks_exact(log_weights.len())
        .flat_map(|row| {
            let joint: Vec<f64> = row.iter().zip(log_weights).map(|(l, w)| l + w).collect();
            let total = logsumexp(&joint);
            joint.into_iter().map(move |j| (j - total).exp())
        })
        .collect()
}

/// `n` component indices drawn independently from `weights` (which sum to 1), reproducible
/// by `seed`.
pub fn pick_components(weights: &[f64], n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed, PICK_STREAM);
    let last = weights.len().saturating_sub(1);
    (0..n)
        .map(|_| {
            let u = f64::from(rng.uniform());
            let mut acc = 0.0;
            weights
                .iter()
                .position(|&w| {
                    acc += w;
                    u < acc
                })
                .unwrap_or(last)
        })
        .collect()
}
