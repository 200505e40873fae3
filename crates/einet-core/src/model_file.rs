//! The model file: safetensors tensors plus JSON metadata, written atomically.
//!
//! Tensors: `layer.{i}.weights` for each inner layer and `leaf.params`, all 1-D `F32`.
//! Metadata (string map): `format` = `einet-model`, `format_version`, `structure` (region
//! graph JSON), `config` ([`EinetConfig`] JSON), `training` (free JSON), and `checksum`
//! (CRC-32 of all tensor bytes in name order, then of the other metadata entries), so
//! truncated or corrupted files are rejected; parameters a model cannot have are refused on
//! load ([`Params::check`], which names the tensor and index).
//!
//! Versions: 1 holds Tucker layers on binary partitions; 2 adds CP layers and partitions with
//! any number of children. A model is written with the lowest version that can hold it, so
//! builds that read only version 1 still read every model they could represent, and refuse
//! the others as newer instead of misreading them.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::atomic_file::write_atomic;
use crate::config::EinetConfig;
use crate::error::ModelFileError;
use crate::layout::Layout;
use crate::model::Einet;
use crate::params::Params;
use crate::region_graph::RegionGraph;

/// The newest format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;
const FORMAT: &str = "einet-model";

fn tensor_names(num_layers: usize) -> Vec<String> {
    (0..num_layers)
        .map(|i| format!("layer.{i}.weights"))
        .chain(std::iter::once("leaf.params".to_string()))
        .collect()
}

/// The metadata entries the checksum covers, in hashing order (all but the checksum).
const CHECKED_KEYS: [&str; 5] = [
    "format",
    "format_version",
    "structure",
    "config",
    "training",
];

fn checksum<'a>(
    tensors: impl Iterator<Item = &'a [u8]>,
    metadata: &HashMap<String, String>,
) -> String {
    let mut hasher = crc32fast::Hasher::new();
    tensors.for_each(|t| hasher.update(t));
    for key in CHECKED_KEYS {
        let value = metadata.get(key).map_or("", String::as_str);
        hasher.update(key.as_bytes());
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    format!("{:08x}", hasher.finalize())
}

impl Einet {
    /// The lowest format version that holds this model: 2 with CP layers or a partition of
    /// other than two children, else 1.
    pub fn format_version(&self) -> u32 {
        let n_ary = self
            .graph
            .partitions()
            .iter()
            .any(|p| p.children.len() != 2);
        if self.config.layer == crate::config::LayerKind::Cp || n_ary {
            2
        } else {
            1
        }
    }

    /// Writes the model to `path` atomically: a temporary file in the same folder is written,
    /// flushed to disk and renamed over `path`, so a crash never leaves a partial model.
    pub fn save(&self, path: &Path) -> Result<(), ModelFileError> {
        let io = |source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let names = tensor_names(self.params.layers.len());
        let data: Vec<&[f32]> = self
            .params
            .layers
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(self.params.leaf.as_slice()))
            .collect();
        let mut metadata = HashMap::new();
        metadata.insert("format".into(), FORMAT.into());
        metadata.insert("format_version".into(), self.format_version().to_string());
        metadata.insert("structure".into(), self.graph.to_json_string());
        metadata.insert(
            "config".into(),
            serde_json::to_string(&self.config).expect("config serialises"),
        );
        metadata.insert("training".into(), self.training.to_string());
        let sum = checksum(
            data.iter().map(|d| bytemuck::cast_slice::<f32, u8>(d)),
            &metadata,
        );
        metadata.insert("checksum".into(), sum);
        let views: Vec<(String, TensorView<'_>)> = names
            .into_iter()
            .zip(&data)
            .map(|(name, d)| {
                let view = TensorView::new(Dtype::F32, vec![d.len()], bytemuck::cast_slice(d))
                    .expect("shape matches data");
                (name, view)
            })
            .collect();
        let bytes =
            safetensors::serialize(views, Some(metadata)).map_err(|e| ModelFileError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        write_atomic(path, |w| w.write_all(&bytes)).map_err(io)
    }

    /// Reads a model written by [`Einet::save`]. Truncated, corrupted or newer-version files
    /// give an error, never a panic.
    pub fn load(path: &Path) -> Result<Self, ModelFileError> {
        let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelFileError> {
        let corrupt = |reason: String| ModelFileError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| corrupt(format!("it is truncated or not a safetensors file ({e:?})")))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| corrupt("no einet metadata".into()))?;
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| corrupt(format!("metadata has no '{key}'")))
        };
        if get("format")? != FORMAT {
            return Err(corrupt(format!(
                "format is '{}', not '{FORMAT}'",
                get("format")?
            )));
        }
        let version: u32 = get("format_version")?
            .parse()
            .map_err(|_| corrupt("format_version is not a number".into()))?;
        if version == 0 {
            return Err(corrupt("format_version is 0; versions start at 1".into()));
        }
        if version > FORMAT_VERSION {
            return Err(ModelFileError::NewerVersion {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let graph = RegionGraph::from_json_str(get("structure")?)
            .map_err(|e| corrupt(format!("structure: {e}")))?;
        let config: EinetConfig =
            serde_json::from_str(get("config")?).map_err(|e| corrupt(format!("config: {e}")))?;
        let training: serde_json::Value = serde_json::from_str(get("training")?)
            .map_err(|e| corrupt(format!("training: {e}")))?;
        let layout = Layout::new(&graph, &config).map_err(|e| corrupt(format!("config: {e}")))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
        let names = tensor_names(layout.layers.len());
        let mut data = Vec::with_capacity(names.len());
        for name in &names {
            let view = tensors
                .tensor(name)
                .map_err(|_| corrupt(format!("tensor '{name}' is missing")))?;
            if view.dtype() != Dtype::F32 {
                return Err(corrupt(format!("tensor '{name}' is not f32")));
            }
            data.push(view.data());
        }
        if checksum(data.iter().copied(), meta) != *get("checksum")? {
            return Err(corrupt(
                "checksum mismatch: the tensor data or metadata is corrupted".into(),
            ));
        }
        let mut floats: Vec<Vec<f32>> = data
            .iter()
            .map(|d| {
                d.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
            .collect();
        let leaf = floats.pop().unwrap_or_default();
        let params = Params {
            layers: floats,
            leaf,
        };
        params.check(&layout).map_err(corrupt)?;
        Ok(Einet {
            graph,
            config,
            layout,
            params,
            training,
        })
    }
}
