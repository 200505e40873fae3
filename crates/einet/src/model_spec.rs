//! What model to build: structure, vector lengths and leaves, with the defaults every front
//! end shares.

use std::path::Path;

use einet_core::memory::{self, Budget};
use einet_core::{Einet, EinetConfig, LayerKind, LeafSpec};
use einet_data::registry::{SPLIT_SEED, load_with, resolve_root};
use einet_data::table::TableOptions;
use einet_data::{DatasetSpec, Loaded};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorContext, Result};
use crate::leaves::{ColumnLeaf, LeafChoice, resolve_leaves};
use crate::structure::{StructureRecord, StructureSpec};

/// Vector length K of internal regions for image data when not given.
pub const DEFAULT_K_IMAGES: usize = 10;
/// Vector length K of internal regions for other data when not given.
pub const DEFAULT_K: usize = 20;

/// A model to build; `None` fields take their defaults from the data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The region graph [default: [`StructureSpec::Auto`]].
    #[serde(default)]
    pub structure: StructureSpec,
    /// Vector length K of internal regions [default: [`DEFAULT_K_IMAGES`] for images,
    /// [`DEFAULT_K`] otherwise].
    #[serde(default)]
    pub k: Option<usize>,
    /// Vector length K of leaf regions [default: K].
    #[serde(default)]
    pub k_leaf: Option<usize>,
    /// The leaf family [default: bernoulli for binary data, binomial for integer images,
    /// normal for CIFAR (pixels scaled to [0, 1]); for other integer data categorical
    /// (N = largest value + 1) when the largest value is below 256, else binomial (N =
    /// largest value); normal for real data].
    #[serde(default)]
    pub leaf: Option<LeafChoice>,
    /// Leaf families of single columns of a table, overriding `leaf` and the per-column
    /// defaults ([`crate::leaves::resolve_leaves`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_leaves: Vec<ColumnLeaf>,
    /// The layer kind [default: CP for learned structures (which need it), Tucker otherwise].
    /// With CP layers, random structures (RAT, PD) get a sum over every leaf region, as
    /// PyJuice builds them.
    #[serde(default)]
    pub layer: Option<LayerKind>,
}

/// A data set ready for training: on the scale of its leaf families, every part checked
/// against them.
pub struct TrainingData {
    /// The parts and their description.
    pub data: Loaded,
    /// The leaf family of every variable.
    pub leaves: LeafSpec,
}

/// Tables with at most this many training rows are small: front ends train them by
/// full-batch EM from data-initialised leaves unless told otherwise.
pub const SMALL_TABLE_ROWS: usize = 10_000;

impl TrainingData {
    /// Whether the data is a table (`csv:PATH`) of at most [`SMALL_TABLE_ROWS`] training rows.
    pub fn is_small_table(&self) -> bool {
        self.data.info.table.is_some() && self.data.train.rows() <= SMALL_TABLE_ROWS
    }
}

/// A freshly built model with its seeded initial parameters, and how it was built.
pub struct BuiltModel {
    /// The model.
    pub einet: Einet,
    /// How the structure was built.
    pub structure: StructureRecord,
    /// Vector length of internal regions.
    pub k_sum: usize,
    /// Vector length of leaf regions.
    pub k_leaf: usize,
}

impl ModelSpec {
    /// Loads `dataset` for training (from `data_dir`, else `$EINET_DATA`, else the
    /// repository's `data/`): resolves the leaf family, rescales the values for it and checks
    /// that every part fits it.
    pub fn load_data(
        &self,
        dataset: &DatasetSpec,
        data_dir: Option<&Path>,
    ) -> Result<TrainingData> {
        self.load_data_split(dataset, data_dir, SPLIT_SEED, &TableOptions::default())
    }

    /// [`load_data`](ModelSpec::load_data) with the random train/valid/test split of data
    /// sets without a given one (digits, CSV files) drawn by `split_seed`, and a table
    /// (`csv:PATH`) read with `table`; the seed and the table's columns are recorded in the
    /// data information, so later commands read and split the same way.
    pub fn load_data_split(
        &self,
        dataset: &DatasetSpec,
        data_dir: Option<&Path>,
        split_seed: u64,
        table: &TableOptions,
    ) -> Result<TrainingData> {
        let root = resolve_root(data_dir, None);
        self.prepare(load_with(dataset, &root, split_seed, table, None)?)
    }

    /// Puts loaded data on the scale of this spec's leaf families and checks every part.
    pub fn prepare(&self, mut data: Loaded) -> Result<TrainingData> {
        let (leaves, scale) = resolve_leaves(self.leaf, &self.column_leaves, &mut data)?;
        data.rescale(scale);
        let (families, of_var) = leaves
            .resolve(data.info.num_vars)
            .context("cannot use these leaves")?;
        let family_of = |v: usize| &families[of_var[v] as usize];
        for part in [&data.train, &data.valid, &data.test] {
            part.check_families(family_of).map_err(|e| {
                let var = match &e {
                    einet_data::DataError::OutOfRange { var, .. } => *var,
                    _ => 0,
                };
                let column = match &data.info.table {
                    Some(t) if !leaves.groups.is_empty() => {
                        format!("column '{}' of ", t.columns[var].name)
                    }
                    _ => String::new(),
                };
                Error::Context {
                    message: format!(
                        "{column}the data set '{}' does not fit {} leaves; choose another --leaf",
                        data.spec,
                        family_of(var).name()
                    ),
                    source: Box::new(e.into()),
                }
            })?;
        }
        Ok(TrainingData { data, leaves })
    }

    /// Builds the model for `data`, its structure and parameters seeded by `seed`.
    pub fn build(&self, data: &TrainingData, seed: u64) -> Result<BuiltModel> {
        let info = &data.data.info;
        let (graph, structure) = self.structure.build(data, seed)?;
        let layer = self.layer.unwrap_or(if self.structure.is_learned() {
            LayerKind::Cp
        } else {
            LayerKind::Tucker
        });
        // CP layers on a random structure: a sum over every leaf region, as PyJuice builds
        // its RAT and PD models (a region graph from a file is used as it is).
        let graph = match (&self.structure, layer) {
            (
                StructureSpec::Auto | StructureSpec::Rat { .. } | StructureSpec::Pd { .. },
                LayerKind::Cp,
            ) => graph.with_leaf_sums(),
            _ => graph,
        };
        let k_sum = self.k.unwrap_or(if info.is_image() {
            DEFAULT_K_IMAGES
        } else {
            DEFAULT_K
        });
        let k_leaf = self.k_leaf.unwrap_or(k_sum);
        if self.structure.is_learned() && layer != LayerKind::Cp {
            return Err(Error::invalid(
                "a hidden Chow–Liu tree multiplies several children per product; it needs CP \
                 layers (--layer cp)",
            ));
        }
        let config = EinetConfig {
            k_leaf,
            k_sum,
            num_classes: 1,
            num_channels: info.channels,
            leaves: data.leaves.clone(),
            layer,
        };
        let layout = einet_core::Layout::new(&graph, &config).context("cannot build the model")?;
        check_memory(layout.num_params(), memory::budget())?;
        let einet = Einet::with_layout(graph, config, layout, seed);
        Ok(BuiltModel {
            einet,
            structure,
            k_sum,
            k_leaf,
        })
    }
}

/// Copies of the parameters training holds at once: the model, the backend's, the EM
/// statistics and the best epoch's.
const TRAINING_COPIES: u64 = 4;

/// Refuses a model of `params` parameters whose training would need more than `budget`,
/// before anything of that size is allocated.
fn check_memory(params: usize, budget: Option<Budget>) -> Result<()> {
    let needed = (params as u64).saturating_mul(4 * TRAINING_COPIES);
    memory::check(needed, budget, || {
        format!(
            "the model has {params} parameters; training it ({TRAINING_COPIES} copies of 4 \
             bytes each: model, backend, EM statistics, best epoch)"
        )
    })
    .map_err(|e| {
        Error::invalid(format!(
            "{e}; choose a smaller -k, fewer --repetitions or a shallower structure"
        ))
    })
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn models_too_large_for_the_memory_are_refused_with_both_sizes() {
        assert!(check_memory(1_000, Some(Budget::Available(16_000))).is_ok());
        assert!(check_memory(1_000, None).is_ok());
        let err = check_memory(1_620_000_000, Some(Budget::Available(8_000_000_000)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("1620000000 parameters"), "{err}");
        assert!(err.contains("25.9 GB"), "{err}");
        assert!(err.contains("8.0 GB of memory is available"), "{err}");
        let err = check_memory(1_000_000, Some(Budget::Limit(1_000_000)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("the memory limit is 1.0 MB"), "{err}");
        assert!(check_memory(usize::MAX, Some(Budget::Available(u64::MAX - 1))).is_err());
    }
}
