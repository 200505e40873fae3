//! Which region graph a model gets: random binary trees, Poon–Domingos, a JSON file, or a
//! hidden Chow–Liu tree learned from the training data ([`crate::hclt`]).

use std::path::PathBuf;

use einet_core::RegionGraph;
use einet_core::learn::ChowLiuTree;
use einet_core::region_graph::PoonDomingos;
use einet_data::DataInfo;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorContext, Result};
use crate::hclt::HcltSpec;
use crate::model_spec::TrainingData;

/// How to build the region graph. Builders that learn the structure from the training data
/// get the data in [`StructureSpec::build`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StructureSpec {
    /// Poon–Domingos with its defaults for images, random binary trees with theirs otherwise.
    #[default]
    Auto,
    /// Random binary trees (RAT-SPN).
    Rat {
        /// Depth of each tree (2^depth leaf regions per tree) [default: 3, or less for fewer
        /// than 8 variables].
        depth: Option<usize>,
        /// Number of trees [default: 10].
        repetitions: Option<usize>,
    },
    /// Poon–Domingos over the image grid (or the variables as a 1-D grid).
    Pd {
        /// Step sizes of the cuts: each one per axis, or one for every axis [default: a
        /// quarter of the longest side].
        deltas: Vec<Vec<f64>>,
        /// The axes that may be cut [default: all].
        axes: Option<Vec<usize>>,
        /// Regions deeper than this are not split [default: no limit].
        max_split_depth: Option<usize>,
    },
    /// A region graph in einet's JSON format.
    Json {
        /// The file.
        path: PathBuf,
    },
    /// Hidden Chow–Liu trees learned from the training data (CP layers).
    Hclt(HcltSpec),
}

/// How a structure was built, with every default filled in: what a model's training record
/// stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StructureRecord {
    /// Random binary trees.
    Rat {
        /// Depth of each tree.
        depth: usize,
        /// Number of trees.
        repetitions: usize,
        /// Seed of the random splits.
        seed: u64,
    },
    /// Poon–Domingos.
    Pd {
        /// The grid.
        shape: Vec<usize>,
        /// Step sizes of the cuts.
        deltas: Vec<Vec<f64>>,
        /// The axes that may be cut (`None`: all).
        axes: Option<Vec<usize>>,
        /// Split-depth limit.
        max_split_depth: Option<usize>,
    },
    /// A region-graph file.
    Json {
        /// The file, made absolute.
        path: PathBuf,
    },
    /// Hidden Chow–Liu trees.
    Hclt {
        /// The learned trees (root and parent of every variable).
        trees: Vec<ChowLiuTree>,
        /// Bins of the mutual information of many-valued and Normal variables.
        bins: usize,
        /// Rows the mutual information of each tree used.
        rows: usize,
        /// Pseudocount of the joint counts.
        pseudocount: f64,
        /// Seed of the row subsamples and bootstrap samples.
        seed: u64,
    },
}

impl StructureRecord {
    /// One line for people, e.g. `random binary trees, depth 3, 10 repetitions`.
    pub fn summary(&self) -> String {
        match self {
            StructureRecord::Rat {
                depth, repetitions, ..
            } => format!("random binary trees, depth {depth}, {repetitions} repetitions"),
            StructureRecord::Pd { shape, deltas, .. } => {
                format!("Poon–Domingos {}, deltas {}", json(shape), json(deltas))
            }
            StructureRecord::Json { path } => format!("region graph {}", json(path)),
            StructureRecord::Hclt { trees, rows, .. } => {
                let roots: Vec<usize> = trees.iter().map(|t| t.root).collect();
                format!(
                    "hidden Chow–Liu {} (roots {}), mutual information of {rows} rows",
                    if trees.len() == 1 {
                        "tree".to_string()
                    } else {
                        format!("trees, {} mixed", trees.len())
                    },
                    json(&roots)
                )
            }
        }
    }
}

/// `value` as compact JSON, as summaries print it.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl StructureSpec {
    /// Builds the region graph for `data`, seeded by `seed` (learned structures learn from
    /// its training part); returns it with its record.
    pub fn build(&self, data: &TrainingData, seed: u64) -> Result<(RegionGraph, StructureRecord)> {
        match self {
            StructureSpec::Hclt(spec) => spec.build(data, seed),
            other => other.build_for_shape(&data.data.info, seed),
        }
    }

    /// Whether this structure is learned from the training data.
    pub fn is_learned(&self) -> bool {
        matches!(self, StructureSpec::Hclt(_))
    }

    /// Builds a structure that needs no data for data shaped like `info`, seeded by `seed`;
    /// returns it with its record. Learned structures are an error here.
    pub fn build_for_shape(
        &self,
        info: &DataInfo,
        seed: u64,
    ) -> Result<(RegionGraph, StructureRecord)> {
        let num_vars = info.num_vars;
        let image_shape = info.image_shape;
        let spec = match self {
            StructureSpec::Auto if image_shape.is_some() => StructureSpec::Pd {
                deltas: Vec::new(),
                axes: None,
                max_split_depth: None,
            },
            StructureSpec::Auto => StructureSpec::Rat {
                depth: None,
                repetitions: None,
            },
            other => other.clone(),
        };
        match spec {
            StructureSpec::Auto => unreachable!("resolved above"),
            StructureSpec::Hclt(_) => Err(Error::invalid(
                "a hidden Chow–Liu tree is learned from training data; build it with \
                 StructureSpec::build",
            )),
            StructureSpec::Rat { depth, repetitions } => {
                let max_depth = usize::BITS as usize - 1 - num_vars.max(1).leading_zeros() as usize;
                let depth = depth.unwrap_or(max_depth.clamp(1, 3));
                let repetitions = repetitions.unwrap_or(10);
                let graph = einet_core::random_binary_trees(num_vars, depth, repetitions, seed)
                    .context("cannot build the random binary trees (--structure rat)")?;
                let record = StructureRecord::Rat {
                    depth,
                    repetitions,
                    seed,
                };
                Ok((graph, record))
            }
            StructureSpec::Pd {
                deltas,
                axes,
                max_split_depth,
            } => {
                let shape: Vec<usize> = match image_shape {
                    Some(s) => s.to_vec(),
                    None => vec![num_vars],
                };
                let deltas = if deltas.is_empty() {
                    let side = shape.iter().copied().max().unwrap_or(1);
                    vec![vec![side.div_ceil(4).max(1) as f64; shape.len()]]
                } else {
                    deltas
                        .iter()
                        .map(|d| per_axis(d, shape.len()))
                        .collect::<Result<_>>()?
                };
                let pd = PoonDomingos {
                    shape,
                    deltas,
                    axes,
                    max_split_depth,
                };
                let graph = pd
                    .build()
                    .context("cannot build the Poon–Domingos structure (--structure pd)")?;
                let PoonDomingos {
                    shape,
                    deltas,
                    axes,
                    max_split_depth,
                } = pd;
                let record = StructureRecord::Pd {
                    shape,
                    deltas,
                    axes,
                    max_split_depth,
                };
                Ok((graph, record))
            }
            StructureSpec::Json { path } => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the region graph {}", path.display()))?;
                let graph = RegionGraph::from_json_str(&text)
                    .with_context(|| format!("{} is not a valid region graph", path.display()))?;
                if graph.num_vars() != num_vars {
                    return Err(Error::invalid(format!(
                        "the region graph {} has {} variables, but the data have {num_vars}",
                        path.display(),
                        graph.num_vars()
                    )));
                }
                let path = std::path::absolute(&path).unwrap_or(path);
                Ok((graph, StructureRecord::Json { path }))
            }
        }
    }
}

/// `delta` for a grid of `dims` axes: one step size stands for every axis.
fn per_axis(delta: &[f64], dims: usize) -> Result<Vec<f64>> {
    if let Some(d) = delta.iter().find(|d| !(d.is_finite() && **d > 0.0)) {
        return Err(Error::invalid(format!(
            "the Poon–Domingos step size {d} is not a positive number"
        )));
    }
    match delta.len() {
        1 => Ok(vec![delta[0]; dims]),
        n if n == dims => Ok(delta.to_vec()),
        n => Err(Error::invalid(format!(
            "a Poon–Domingos delta gives {n} step sizes, but the grid has {dims} axes"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(num_vars: usize, image_shape: Option<[usize; 2]>) -> DataInfo {
        DataInfo {
            dataset: "test".into(),
            data_dir: None,
            num_vars,
            channels: 1,
            image_shape,
            pixel_max: None,
            scale: 1.0,
            split_seed: 0,
            rows: [0; 3],
            table: None,
        }
    }

    #[test]
    fn defaults_and_errors() {
        let (g, record) = StructureSpec::Auto
            .build_for_shape(&info(16, None), 0)
            .unwrap();
        assert_eq!(
            record,
            StructureRecord::Rat {
                depth: 3,
                repetitions: 10,
                seed: 0
            }
        );
        // 10 root partitions + 10 trees × (2 + 4) inner regions.
        assert_eq!(g.counts().products, 70);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "rat", "depth": 3, "repetitions": 10, "seed": 0})
        );
        let (_, record) = StructureSpec::Auto
            .build_for_shape(&info(64, Some([8, 8])), 0)
            .unwrap();
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["deltas"], serde_json::json!([[2.0, 2.0]]));
        assert_eq!(record.summary(), "Poon–Domingos [8,8], deltas [[2.0,2.0]]");
        let deep = StructureSpec::Rat {
            depth: Some(5),
            repetitions: None,
        };
        assert!(deep.build_for_shape(&info(16, None), 0).is_err());
        assert!(per_axis(&[7.0, 7.0, 7.0], 2).is_err());
        assert!(per_axis(&[0.0], 2).is_err());
        assert_eq!(per_axis(&[7.0], 2).unwrap(), vec![7.0, 7.0]);
    }
}
