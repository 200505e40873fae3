//! `--structure`: random binary trees, Poon–Domingos, a region graph from a JSON file, or
//! hidden Chow–Liu trees learned from the training data; `--layer`: Tucker or CP layers.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use einet::core::LayerKind;
use einet::{HcltSpec, StructureSpec};

/// Which structure builder.
#[derive(Clone, Debug, PartialEq)]
pub enum StructureKind {
    /// Random binary trees (RAT-SPN).
    Rat,
    /// Poon–Domingos over the image grid (or the variables as a 1-D grid).
    Pd,
    /// A region graph in einet's JSON format.
    Json(PathBuf),
    /// Hidden Chow–Liu trees learned from the training data.
    Hclt,
}

impl FromStr for StructureKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rat" | "random-binary-trees" => Ok(StructureKind::Rat),
            "pd" | "poon-domingos" => Ok(StructureKind::Pd),
            "hclt" => Ok(StructureKind::Hclt),
            _ => match s.strip_prefix("json:") {
                Some(p) if !p.is_empty() => Ok(StructureKind::Json(PathBuf::from(p))),
                _ => Err(format!(
                    "unknown structure '{s}'; use rat, pd, hclt or json:PATH"
                )),
            },
        }
    }
}

/// Structure options of `einet train`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StructureArgs {
    /// Structure: rat (random binary trees), pd (Poon–Domingos), hclt (hidden Chow–Liu
    /// trees learned from the training data) or json:PATH (a region-graph file) [default: pd
    /// for images, rat otherwise]
    #[arg(long, value_name = "KIND")]
    pub structure: Option<StructureKind>,
    /// Layers: tucker (EiNet's einsum layers) or cp (element-wise products, dense sums)
    /// [default: cp for hclt, tucker otherwise]
    #[arg(long, value_name = "KIND")]
    pub layer: Option<LayerKind>,
    /// HCLT: number of trees mixed at the root (trees after the first are learned from
    /// bootstrap samples) [default: 1]
    #[arg(long)]
    pub trees: Option<usize>,
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

impl StructureArgs {
    /// The structure these options describe; options of another builder are an error. With
    /// no `--structure`, builder options pick their builder.
    pub fn spec(&self) -> Result<StructureSpec> {
        let pd_only =
            !self.deltas.is_empty() || !self.axes.is_empty() || self.max_split_depth.is_some();
        let rat_only = self.depth.is_some() || self.repetitions.is_some();
        let hclt_only = self.trees.is_some();
        let kind = match (&self.structure, rat_only, pd_only) {
            (Some(kind), _, _) => kind.clone(),
            (None, _, _) if hclt_only => StructureKind::Hclt,
            (None, false, false) => return Ok(StructureSpec::Auto),
            (None, true, _) => StructureKind::Rat,
            (None, false, true) => StructureKind::Pd,
        };
        if hclt_only && kind != StructureKind::Hclt {
            bail!("--trees applies to --structure hclt only");
        }
        match kind {
            StructureKind::Hclt if pd_only || rat_only => bail!(
                "--depth, --repetitions, --delta, --axes and --max-split-depth do not apply to \
                 --structure hclt"
            ),
            StructureKind::Hclt => Ok(StructureSpec::Hclt(HcltSpec {
                trees: self.trees,
                ..HcltSpec::default()
            })),
            StructureKind::Rat if pd_only => {
                bail!("--delta, --axes and --max-split-depth apply to --structure pd only")
            }
            StructureKind::Rat => Ok(StructureSpec::Rat {
                depth: self.depth,
                repetitions: self.repetitions,
            }),
            StructureKind::Pd if rat_only => {
                bail!("--depth and --repetitions apply to --structure rat only")
            }
            StructureKind::Pd => Ok(StructureSpec::Pd {
                deltas: self
                    .deltas
                    .iter()
                    .map(|d| parse_delta(d))
                    .collect::<Result<_>>()?,
                axes: (!self.axes.is_empty()).then(|| self.axes.clone()),
                max_split_depth: self.max_split_depth,
            }),
            StructureKind::Json(_) if pd_only || rat_only => bail!(
                "structure options (--depth, --delta, ...) do not apply to --structure json:PATH"
            ),
            StructureKind::Json(path) => Ok(StructureSpec::Json { path }),
        }
    }
}

/// `7` (every axis) or `7,28` / `7x28` (per axis).
fn parse_delta(s: &str) -> Result<Vec<f64>> {
    s.split([',', 'x'])
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
        })
        .collect::<Option<Vec<f64>>>()
        .with_context(|| format!("--delta '{s}' is not a positive number (or one per axis)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_pick_and_check_their_builder() {
        assert_eq!(
            StructureArgs::default().spec().unwrap(),
            StructureSpec::Auto
        );
        let deep = StructureArgs {
            depth: Some(5),
            ..Default::default()
        };
        assert!(matches!(
            deep.spec().unwrap(),
            StructureSpec::Rat { depth: Some(5), .. }
        ));
        let mixed = StructureArgs {
            structure: Some(StructureKind::Pd),
            depth: Some(2),
            ..Default::default()
        };
        assert!(mixed.spec().is_err());
        assert!("json:".parse::<StructureKind>().is_err());
        let trees = StructureArgs {
            trees: Some(4),
            ..Default::default()
        };
        assert!(matches!(
            trees.spec().unwrap(),
            StructureSpec::Hclt(HcltSpec { trees: Some(4), .. })
        ));
        let trees_on_rat = StructureArgs {
            structure: Some(StructureKind::Rat),
            ..trees
        };
        assert!(trees_on_rat.spec().is_err());
        assert_eq!(parse_delta("7x28").unwrap(), vec![7.0, 28.0]);
        assert!(parse_delta("7,-1").is_err());
    }
}
