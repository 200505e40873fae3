//! Model configuration: vector lengths, classes, channels and leaf families.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::leaf::LeafFamily;

/// A leaf family for a group of variables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeafGroup {
    /// The variables of the group.
    pub vars: Vec<u32>,
    /// Their family.
    pub family: LeafFamily,
}

/// Which leaf family models which variable: a default, and groups that override it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeafSpec {
    /// Family of every variable not named in a group.
    pub default: LeafFamily,
    /// Groups of variables with their own family (mixed tabular data).
    #[serde(default)]
    pub groups: Vec<LeafGroup>,
}

impl LeafSpec {
    /// The same family for every variable.
    pub fn uniform(family: LeafFamily) -> Self {
        LeafSpec {
            default: family,
            groups: Vec::new(),
        }
    }

    /// The family's name, e.g. `bernoulli`, or the kinds of several: `mixed (bernoulli,
    /// normal)`.
    pub fn name(&self) -> String {
        if self.groups.is_empty() {
            return self.default.name();
        }
        let mut kinds: Vec<&str> = std::iter::once(&self.default)
            .chain(self.groups.iter().map(|g| &g.family))
            .map(LeafFamily::kind)
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        format!("mixed ({})", kinds.join(", "))
    }

    /// One family per variable (`families[v]` for variable `v`): the most common one is the
    /// default, the others form groups.
    pub fn per_variable(families: &[LeafFamily]) -> Self {
        let mut distinct: Vec<(LeafFamily, Vec<u32>)> = Vec::new();
        for (v, f) in families.iter().enumerate() {
            match distinct.iter_mut().find(|(g, _)| g == f) {
                Some((_, vars)) => vars.push(v as u32),
                None => distinct.push((*f, vec![v as u32])),
            }
        }
        let Some(most) = (0..distinct.len()).max_by_key(|&i| (distinct[i].1.len(), usize::MAX - i))
        else {
            return LeafSpec::uniform(LeafFamily::Bernoulli);
        };
        let (default, _) = distinct.remove(most);
        LeafSpec {
            default,
            groups: distinct
                .into_iter()
                .map(|(family, vars)| LeafGroup { vars, family })
                .collect(),
        }
    }

    /// The distinct families (index 0 is the default) and each variable's family index.
    pub fn resolve(&self, num_vars: usize) -> Result<(Vec<LeafFamily>, Vec<u16>), ConfigError> {
        let mut families = vec![self.default];
        let mut of_var = vec![0u16; num_vars];
        let mut assigned = vec![false; num_vars];
        for group in &self.groups {
            group.family.validate()?;
            let idx = match families.iter().position(|f| *f == group.family) {
                Some(i) => i,
                None => {
                    families.push(group.family);
                    families.len() - 1
                }
            };
            for &v in &group.vars {
                let v = v as usize;
                if v >= num_vars {
                    return Err(ConfigError::Invalid(format!(
                        "leaf group for {} names variable {v}, but there are {num_vars} variables",
                        group.family.name()
                    )));
                }
                if std::mem::replace(&mut assigned[v], true) {
                    return Err(ConfigError::Invalid(format!(
                        "variable {v} is in more than one leaf group"
                    )));
                }
                of_var[v] = idx as u16;
            }
        }
        self.default.validate()?;
        Ok((families, of_var))
    }
}

/// How the products and sums of a region graph become layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// EiNet's einsum layers: each (binary) product takes the outer product of its two
    /// children's vectors and sums it to `K_out` entries (`K_out·K_l·K_r` weights), and regions
    /// with several partitions mix them element-wise.
    #[default]
    Tucker,
    /// CP layers: a product multiplies its children's `K`-vectors element-wise (any number of
    /// children, all of one `K`, so `k_leaf` must equal `k_sum`), and every region is a dense
    /// sum over the concatenated vectors of its partitions (`K_out × Σ K_in` weights).
    Cp,
}

impl std::str::FromStr for LayerKind {
    type Err = String;

    /// `tucker` or `cp`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tucker" => Ok(LayerKind::Tucker),
            "cp" => Ok(LayerKind::Cp),
            _ => Err(format!("unknown layer kind '{s}'; use tucker or cp")),
        }
    }
}

impl LayerKind {
    /// `tucker` or `cp`.
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Tucker => "tucker",
            LayerKind::Cp => "cp",
        }
    }
}

/// Everything besides the region graph that fixes a model's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EinetConfig {
    /// Vector length K of leaf regions.
    pub k_leaf: usize,
    /// Vector length K of internal regions.
    pub k_sum: usize,
    /// Vector length of the root: one output per class.
    pub num_classes: usize,
    /// Channels per variable (3 for RGB pixels).
    pub num_channels: usize,
    /// Leaf families.
    pub leaves: LeafSpec,
    /// The layer kind (model files without it are Tucker).
    #[serde(default)]
    pub layer: LayerKind,
}

impl EinetConfig {
    /// A single-class model with one channel and the same family for every variable.
    pub fn new(k: usize, family: LeafFamily) -> Self {
        EinetConfig {
            k_leaf: k,
            k_sum: k,
            num_classes: 1,
            num_channels: 1,
            leaves: LeafSpec::uniform(family),
            layer: LayerKind::Tucker,
        }
    }

    /// Checks ranges (all K and channels at least 1).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("k_leaf", self.k_leaf),
            ("k_sum", self.k_sum),
            ("num_classes", self.num_classes),
            ("num_channels", self.num_channels),
        ] {
            if v == 0 || v > 1 << 16 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be between 1 and 65536, got {v}"
                )));
            }
        }
        if self.layer == LayerKind::Cp && self.k_leaf != self.k_sum {
            return Err(ConfigError::Invalid(format!(
                "CP layers multiply vectors element-wise, so k_leaf ({}) must equal k_sum ({})",
                self.k_leaf, self.k_sum
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_per_variable_resolves_back_to_the_same_families() {
        let normal = LeafFamily::Normal {
            min_var: 0.1,
            max_var: 2.0,
        };
        let cat = LeafFamily::Categorical { categories: 3 };
        let families = [
            cat,
            LeafFamily::Bernoulli,
            normal,
            LeafFamily::Bernoulli,
            cat,
            cat,
        ];
        let spec = LeafSpec::per_variable(&families);
        assert_eq!(spec.default, cat);
        assert_eq!(spec.groups.len(), 2);
        let (distinct, of_var) = spec.resolve(families.len()).unwrap();
        let back: Vec<LeafFamily> = of_var.iter().map(|&i| distinct[i as usize]).collect();
        assert_eq!(back, families);
        assert_eq!(spec.name(), "mixed (bernoulli, categorical, normal)");
        assert_eq!(LeafSpec::uniform(cat).name(), "categorical(3)");
    }
}
