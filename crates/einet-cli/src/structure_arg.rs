//! `--structure`: random binary trees, Poon–Domingos, or a region graph from a JSON file.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use einet_core::RegionGraph;
use einet_core::region_graph::PoonDomingos;
use serde_json::json;

/// Which structure builder.
#[derive(Clone, Debug, PartialEq)]
pub enum StructureKind {
    /// Random binary trees (RAT-SPN).
    Rat,
    /// Poon–Domingos over the image grid (or the variables as a 1-D grid).
    Pd,
    /// A region graph in einet's JSON format.
    Json(PathBuf),
}

impl FromStr for StructureKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rat" | "random-binary-trees" => Ok(StructureKind::Rat),
            "pd" | "poon-domingos" => Ok(StructureKind::Pd),
            _ => match s.strip_prefix("json:") {
                Some(p) if !p.is_empty() => Ok(StructureKind::Json(PathBuf::from(p))),
                _ => Err(format!("unknown structure '{s}'; use rat, pd or json:PATH")),
            },
        }
    }
}

/// Structure options of `einet train`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StructureArgs {
    /// Structure: rat (random binary trees), pd (Poon–Domingos) or json:PATH (a region-graph
    /// file) [default: pd for images, rat otherwise]
    #[arg(long, value_name = "KIND")]
    pub structure: Option<StructureKind>,
    /// RAT: depth of each tree (2^depth leaf regions per repetition) [default: 3, or less
    /// for fewer than 8 variables]
    #[arg(long)]
    pub depth: Option<usize>,
    /// RAT: number of repetitions (trees) [default: 10]
    #[arg(long)]
    pub repetitions: Option<usize>,
    /// PD: step size of the cuts, `D` on every axis or `D1,D2` per axis; repeat for several
    /// deltas [default: a quarter of the image side]
    #[arg(long = "delta", value_name = "DELTA")]
    pub deltas: Vec<String>,
    /// PD: the axes that may be cut (0 = rows, 1 = columns) [default: all]
    #[arg(long, value_delimiter = ',')]
    pub axes: Vec<usize>,
    /// PD: do not split regions deeper than this
    #[arg(long)]
    pub max_split_depth: Option<usize>,
}

/// Builds the region graph for data of `num_vars` variables (`image_shape` for images);
/// returns it with a JSON description for the model's training record.
pub fn build(
    args: &StructureArgs,
    num_vars: usize,
    image_shape: Option<[usize; 2]>,
    seed: u64,
) -> Result<(RegionGraph, serde_json::Value)> {
    let kind = args.structure.clone().unwrap_or(if image_shape.is_some() {
        StructureKind::Pd
    } else {
        StructureKind::Rat
    });
    let pd_only =
        !args.deltas.is_empty() || !args.axes.is_empty() || args.max_split_depth.is_some();
    let rat_only = args.depth.is_some() || args.repetitions.is_some();
    match kind {
        StructureKind::Rat => {
            if pd_only {
                bail!("--delta, --axes and --max-split-depth apply to --structure pd only");
            }
            let max_depth = usize::BITS as usize - 1 - num_vars.max(1).leading_zeros() as usize;
            let depth = args.depth.unwrap_or(max_depth.clamp(1, 3));
            let reps = args.repetitions.unwrap_or(10);
            let graph = einet_core::random_binary_trees(num_vars, depth, reps, seed)
                .context("cannot build the random binary trees (--structure rat)")?;
            let desc = json!({"kind": "rat", "depth": depth, "repetitions": reps, "seed": seed});
            Ok((graph, desc))
        }
        StructureKind::Pd => {
            if rat_only {
                bail!("--depth and --repetitions apply to --structure rat only");
            }
            let shape: Vec<usize> = match image_shape {
                Some(s) => s.to_vec(),
                None => vec![num_vars],
            };
            let deltas = if args.deltas.is_empty() {
                let side = shape.iter().copied().max().unwrap_or(1);
                vec![vec![side.div_ceil(4).max(1) as f64; shape.len()]]
            } else {
                args.deltas
                    .iter()
                    .map(|d| parse_delta(d, shape.len()))
                    .collect::<Result<_>>()?
            };
            let pd = PoonDomingos {
                shape: shape.clone(),
                deltas: deltas.clone(),
                axes: (!args.axes.is_empty()).then(|| args.axes.clone()),
                max_split_depth: args.max_split_depth,
            };
            let graph = pd
                .build()
                .context("cannot build the Poon–Domingos structure (--structure pd)")?;
            let desc = json!({
                "kind": "pd",
                "shape": shape,
                "deltas": deltas,
                "axes": pd.axes,
                "max_split_depth": pd.max_split_depth,
            });
            Ok((graph, desc))
        }
        StructureKind::Json(path) => {
            if pd_only || rat_only {
                bail!(
                    "structure options (--depth, --delta, ...) do not apply to --structure json:PATH"
                );
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the region graph {}", path.display()))?;
            let graph = RegionGraph::from_json_str(&text)
                .with_context(|| format!("{} is not a valid region graph", path.display()))?;
            if graph.num_vars() != num_vars {
                bail!(
                    "the region graph {} has {} variables, but the data have {num_vars}",
                    path.display(),
                    graph.num_vars()
                );
            }
            let abs = std::path::absolute(&path).unwrap_or(path);
            Ok((graph, json!({"kind": "json", "path": abs})))
        }
    }
}

/// `7` (every axis) or `7,28` / `7x28` (per axis).
fn parse_delta(s: &str, dims: usize) -> Result<Vec<f64>> {
    let parts: Vec<&str> = s.split([',', 'x']).map(str::trim).collect();
    let values = parts
        .iter()
        .map(|p| p.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0))
        .collect::<Option<Vec<f64>>>()
        .with_context(|| format!("--delta '{s}' is not a positive number (or one per axis)"))?;
    match values.len() {
        1 => Ok(vec![values[0]; dims]),
        n if n == dims => Ok(values),
        n => bail!("--delta '{s}' gives {n} step sizes, but the grid has {dims} axes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let args = StructureArgs::default();
        let (g, d) = build(&args, 16, None, 0).unwrap();
        assert_eq!(d["kind"], "rat");
        assert_eq!(d["depth"], 3);
        // 10 root partitions + 10 trees × (2 + 4) inner regions.
        assert_eq!(g.counts().products, 70);
        let (_, d) = build(&args, 64, Some([8, 8]), 0).unwrap();
        assert_eq!(d["deltas"], json!([[2.0, 2.0]]));
        let deep = StructureArgs {
            depth: Some(5),
            ..Default::default()
        };
        assert!(build(&deep, 16, None, 0).is_err());
        assert!(parse_delta("7,7,7", 2).is_err());
        assert_eq!(parse_delta("7x28", 2).unwrap(), vec![7.0, 28.0]);
        assert!("json:".parse::<StructureKind>().is_err());
    }
}
