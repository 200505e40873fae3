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

use std::collections::{BTreeMap, HashMap};
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

/// The `checksum` metadata entry of a model file: the CRC-32 of `tensors` (the tensor bytes
/// in name order: `layer.0.weights`, `layer.1.weights`, …, `leaf.params`), then of each
/// other metadata entry (key, value length, value), as 8 lowercase hex digits. Public so
/// that tools and tests can build edited model files that pass the checksum.
pub fn checksum<'a>(
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

/// Refuses a header that declares tensor data past the end of the file, naming the tensor.
///
/// safetensors 0.8 adds the declared end of the data to the header size unchecked, so a
/// header whose tensors end near 2^64 bytes overflows there (a panic in builds with overflow
/// checks); the declared ends are checked here first, in name order. Headers this cannot
/// read are left to safetensors to reject with its own message.
fn check_data_offsets(bytes: &[u8]) -> Result<(), String> {
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        return Ok(());
    };
    let header = usize::try_from(u64::from_le_bytes(*len))
        .ok()
        .and_then(|n| rest.get(..n));
    let Some(entries) =
        header.and_then(|h| serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(h).ok())
    else {
        return Ok(());
    };
    let data = (rest.len() - header.map_or(0, <[u8]>::len)) as u64;
    let end = |entry: &serde_json::Value| entry.get("data_offsets")?.get(1)?.as_u64();
    match entries
        .iter()
        .filter_map(|(name, entry)| Some((name, end(entry)?)))
        .find(|&(_, end)| end > data)
    {
        Some((name, end)) => Err(format!(
            "tensor '{name}' ends at byte {end} of the tensor data, but the file holds only \
             {data} bytes of it (truncated, or a corrupt header)"
        )),
        None => Ok(()),
    }
}

/// Named 1-D tensors stored beside a model's parameters ([`Einet::save_with`]).
pub type ExtraTensors = Vec<(String, Vec<f32>)>;

/// Extra tensors are stored under this prefix.
const EXTRA_PREFIX: &str = "extra.";
/// The metadata entry with the checksum of the extra tensors.
const EXTRA_CHECKSUM: &str = "extra_checksum";

/// CRC-32 of the extra tensors' names and bytes, in name order.
fn extra_checksum<'a>(tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = crc32fast::Hasher::new();
    for (name, data) in tensors {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(data.len() as u64).to_le_bytes());
        hasher.update(data);
    }
    format!("{:08x}", hasher.finalize())
}

fn cast_bytes(data: &[f32]) -> &[u8] {
    bytemuck::cast_slice(data)
}

/// Little-endian `f32`s of `bytes` (a trailing partial value is dropped).
fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
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
        self.save_with(path, &[])
    }

    /// [`save`](Einet::save) with `extra` named 1-D tensors beside the parameters (a
    /// training checkpoint's optimiser state): stored as `extra.{name}` under their own
    /// checksum, so the file still reads as a model and [`load_with`](Einet::load_with)
    /// gives them back.
    pub fn save_with(
        &self,
        path: &Path,
        extra: &[(String, Vec<f32>)],
    ) -> Result<(), ModelFileError> {
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
        let mut extra: Vec<(String, &[f32])> = extra
            .iter()
            .map(|(name, d)| (format!("{EXTRA_PREFIX}{name}"), d.as_slice()))
            .collect();
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        if !extra.is_empty() {
            metadata.insert(
                EXTRA_CHECKSUM.into(),
                extra_checksum(extra.iter().map(|(n, d)| (n.as_str(), cast_bytes(d)))),
            );
        }
        let views: Vec<(String, TensorView<'_>)> = names
            .into_iter()
            .zip(data)
            .chain(extra)
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

    /// Reads a model written by [`save_with`](Einet::save_with) and its extra tensors, in
    /// name order (none for a file written by [`save`](Einet::save)).
    pub fn load_with(path: &Path) -> Result<(Self, ExtraTensors), ModelFileError> {
        let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let einet = Self::from_bytes(&bytes, path)?;
        let corrupt = |reason: String| ModelFileError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(format!("{e:?}")))?;
        let mut extra: Vec<(&str, &[u8])> = Vec::new();
        for (name, view) in tensors.iter() {
            if name.starts_with(EXTRA_PREFIX) {
                if view.dtype() != Dtype::F32 {
                    return Err(corrupt(format!("tensor '{name}' is not f32")));
                }
                extra.push((name, view.data()));
            }
        }
        extra.sort_by(|a, b| a.0.cmp(b.0));
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| corrupt(format!("it is truncated or not a safetensors file ({e:?})")))?;
        let stored = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(EXTRA_CHECKSUM).cloned());
        if (!extra.is_empty() || stored.is_some())
            && stored != Some(extra_checksum(extra.iter().copied()))
        {
            return Err(corrupt(
                "checksum mismatch: the extra tensors are corrupted".into(),
            ));
        }
        let extra = extra
            .into_iter()
            .map(|(name, d)| (name[EXTRA_PREFIX.len()..].to_string(), f32s(d)))
            .collect();
        Ok((einet, extra))
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelFileError> {
        let corrupt = |reason: String| ModelFileError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        check_data_offsets(bytes).map_err(corrupt)?;
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
        let mut floats: Vec<Vec<f32>> = data.iter().map(|d| f32s(d)).collect();
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
