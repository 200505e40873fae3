//! Hidden Chow–Liu trees (HCLT) learned from the training data.
//!
//! Tree 0 is the Chow–Liu tree of the training rows (a seeded subsample of at most `max_rows`
//! of them); every further tree is the Chow–Liu tree of a bootstrap sample of as many rows
//! (drawn with replacement, seeded), so a mixture of trees sees different dependencies, as
//! bagging does. Each tree is rooted at its center (as PyJuice roots its HCLT: the shallowest
//! rooting) unless `root` says otherwise; the trees become one region graph
//! ([`einet_core::hclt`]) for CP layers.

use einet_core::RegionGraph;
use einet_core::learn::{ChowLiuTree, MutualInformationConfig, mutual_information};
use einet_core::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorContext, Result};
use crate::model_spec::TrainingData;
use crate::structure::StructureRecord;

/// Random stream of the bootstrap samples.
const BOOTSTRAP_STREAM: u64 = 0x424F_4F54; // "BOOT"

/// How to learn hidden Chow–Liu trees; `None` fields take the defaults shown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HcltSpec {
    /// Trees in the mixture [default: 1].
    #[serde(default)]
    pub trees: Option<usize>,
    /// The root variable of every tree [default: its center].
    #[serde(default)]
    pub root: Option<usize>,
    /// Bins of many-valued and Normal variables for the mutual information [default: 8].
    #[serde(default)]
    pub bins: Option<usize>,
    /// Training rows the mutual information of each tree uses at most [default: 10,000].
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// Pseudocount of the joint counts [default: 0.1, as Juice's HCLT].
    #[serde(default)]
    pub pseudocount: Option<f64>,
}

impl HcltSpec {
    /// Learns the trees from `data`'s training part, seeded by `seed`.
    pub fn build(&self, data: &TrainingData, seed: u64) -> Result<(RegionGraph, StructureRecord)> {
        let defaults = MutualInformationConfig::default();
        let config = MutualInformationConfig {
            pseudocount: self.pseudocount.unwrap_or(defaults.pseudocount),
            bins: self.bins.unwrap_or(defaults.bins),
            max_rows: self.max_rows.unwrap_or(defaults.max_rows),
            seed,
        };
        let count = self.trees.unwrap_or(1);
        if count == 0 {
            return Err(crate::Error::invalid(
                "an HCLT needs at least one tree (--trees)",
            ));
        }
        let train = &data.data.train;
        let info = &data.data.info;
        let (distinct, of_var) = data
            .leaves
            .resolve(info.num_vars)
            .map_err(|e| crate::Error::invalid(e.to_string()))?;
        let families: Vec<_> = of_var.iter().map(|&i| distinct[i as usize]).collect();
        let mut trees = Vec::with_capacity(count);
        let mut rows = 0;
        for t in 0..count {
            let values = if t == 0 {
                None
            } else {
                Some(bootstrap(
                    &train.values,
                    train.row_len(),
                    config.max_rows,
                    seed,
                    t,
                ))
            };
            let values = values.as_deref().unwrap_or(&train.values);
            let mi = mutual_information(values, info.num_vars, info.channels, &families, &config)
                .with_context(|| format!("cannot learn Chow–Liu tree {t}"))?;
            rows = mi.rows;
            trees.push(
                ChowLiuTree::from_mutual_information(&mi, self.root)
                    .with_context(|| format!("cannot learn Chow–Liu tree {t}"))?,
            );
        }
        let graph = einet_core::hclt(&trees).context("cannot build the HCLT region graph")?;
        let record = StructureRecord::Hclt {
            trees,
            bins: config.bins,
            rows,
            pseudocount: config.pseudocount,
            seed,
        };
        Ok((graph, record))
    }
}

/// `min(rows, max_rows)` rows of `values` drawn with replacement (stream `t` of `seed`).
fn bootstrap(values: &[f32], width: usize, max_rows: usize, seed: u64, t: usize) -> Vec<f32> {
    let rows = values.len() / width.max(1);
    let n = rows.min(max_rows);
    let mut rng = Rng::new(seed, BOOTSTRAP_STREAM + t as u64);
    let mut out = Vec::with_capacity(n * width);
    for _ in 0..n {
        let r = rng.below(rows as u32) as usize;
        out.extend_from_slice(&values[r * width..(r + 1) * width]);
    }
    out
}
