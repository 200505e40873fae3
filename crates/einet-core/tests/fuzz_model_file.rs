//! Fuzzing the model-file reader: small Tucker (RAT, Poon–Domingos with mixing layers) and
//! CP (hidden Chow–Liu tree, with extra tensors as a checkpoint has them) models written by
//! [`Einet::save_with`], then edited where a corrupt or hostile file differs — the
//! safetensors header (tensor dtypes, shapes and offsets; tensors declared past the data, up
//! to 2^40 bytes or the end of the address space; the header length), the metadata entries
//! (format, version, and the structure, config and training JSON) and the tensor values —
//! with the checksum recomputed so that each edit reaches the checks behind it; one case in
//! four is then byte-mutated. Every load ([`Einet::load`] and [`Einet::load_with`]) must give
//! a model whose parameters pass [`Params::check`](einet_core::Params::check), or an error
//! naming the file — never a panic or an allocation sized by the file's claims.
//!
//! Cases per run: 5,000 (`model_files_survive_mutations`); `regressions_are_errors` replays
//! the inputs that broke the reader (`tests/fuzz-corpus/`, listed in [`CORPUS`]).

mod common;

use std::path::Path;
use std::sync::LazyLock;

use common::{JsonEdit, edit_json, json_edits};
use einet_core::learn::ChowLiuTree;
use einet_core::model_file::checksum;
use einet_core::region_graph::PoonDomingos;
use einet_core::{
    Einet, EinetConfig, LayerKind, LeafFamily, LeafGroup, LeafSpec, ModelFileError, hclt,
    random_binary_trees,
};
use einet_testsuite::fuzz::{self, Mutation, apply, edge_u64};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// A model file taken apart: the safetensors header and the tensor data behind it.
#[derive(Clone, Debug)]
struct Parts {
    header: Value,
    data: Vec<u8>,
}

impl Parts {
    fn parse(bytes: &[u8]) -> Parts {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        Parts {
            header: serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
            data: bytes[8 + n..].to_vec(),
        }
    }

    /// The file, with the header length field set to `header_len` if given.
    fn bytes(&self, header_len: Option<u64>) -> Vec<u8> {
        let header = self.header.to_string().into_bytes();
        let mut out = header_len
            .unwrap_or(header.len() as u64)
            .to_le_bytes()
            .to_vec();
        out.extend(header);
        out.extend(&self.data);
        out
    }

    /// The metadata map, when the header still has one of strings.
    fn metadata(&mut self) -> Option<&mut Map<String, Value>> {
        self.header.get_mut("__metadata__")?.as_object_mut()
    }

    /// Sets the checksum entry to what the reader computes from the tensors and metadata as
    /// they now are (when the header is still well-formed enough to name them).
    fn reseal(&mut self) {
        let header = &self.header;
        let slice = |name: &str| -> Option<&[u8]> {
            let offsets = header.get(name)?.get("data_offsets")?;
            let start = usize::try_from(offsets.get(0)?.as_u64()?).ok()?;
            let end = usize::try_from(offsets.get(1)?.as_u64()?).ok()?;
            self.data.get(start..end)
        };
        let names = (0..)
            .map(|i| format!("layer.{i}.weights"))
            .take_while(|name| header.get(name).is_some())
            .chain(["leaf.params".to_string()]);
        let Some(tensors) = names.map(|name| slice(&name)).collect::<Option<Vec<_>>>() else {
            return;
        };
        let Some(strings) = header.get("__metadata__").and_then(|m| {
            serde_json::from_value::<std::collections::HashMap<String, String>>(m.clone()).ok()
        }) else {
            return;
        };
        let sum = checksum(tensors.into_iter(), &strings);
        if let Some(meta) = self.metadata() {
            meta.insert("checksum".into(), sum.into());
        }
    }
}

/// One structured edit of a model file.
#[derive(Clone, Debug)]
enum Edit {
    /// JSON edits of the safetensors header: tensor entries and the metadata map.
    Header(Vec<JsonEdit>),
    /// JSON edits of the metadata entry `structure`, `config` or `training`.
    Entry(Index, Vec<JsonEdit>),
    /// Sets a metadata entry to a string.
    Set(Index, &'static str),
    /// Overwrites one `f32` of the tensor data.
    Float(Index, f32),
    /// Declares `U8` tensors after the last one whose offsets run up to this end.
    Declare(u64),
}

const ENTRIES: [&str; 3] = ["structure", "config", "training"];
const KEYS: [&str; 6] = [
    "format",
    "format_version",
    "structure",
    "config",
    "training",
    "checksum",
];
const STRINGS: [&str; 9] = [
    "",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "4294967296",
    "einet-model",
    "{}",
];
const FLOATS: [f32; 12] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    -1.0,
    -0.0,
    0.0,
    0.5,
    1.0,
    2.0,
    1e-30,
    f32::MAX,
    f32::MIN_POSITIVE,
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => json_edits(1, 3).prop_map(Edit::Header),
        4 => (any::<Index>(), json_edits(1, 3)).prop_map(|(at, e)| Edit::Entry(at, e)),
        1 => (any::<Index>(), proptest::sample::select(&STRINGS[..]))
            .prop_map(|(at, s)| Edit::Set(at, s)),
        2 => (any::<Index>(), proptest::sample::select(&FLOATS[..]))
            .prop_map(|(at, x)| Edit::Float(at, x)),
        1 => edge_u64().prop_map(Edit::Declare),
    ]
}

impl Edit {
    fn apply_to(&self, parts: &mut Parts) {
        match self {
            Edit::Header(edits) => parts.header = edit_json(&parts.header, edits),
            Edit::Entry(at, edits) => {
                let key = ENTRIES[at.index(ENTRIES.len())];
                if let Some(text) = parts.metadata().and_then(|m| m.get_mut(key)) {
                    if let Some(doc) = text.as_str().and_then(|t| serde_json::from_str(t).ok()) {
                        *text = edit_json(&doc, edits).to_string().into();
                    }
                }
            }
            Edit::Set(at, value) => {
                if let Some(meta) = parts.metadata() {
                    meta.insert(KEYS[at.index(KEYS.len())].into(), (*value).into());
                }
            }
            Edit::Float(at, x) => {
                let floats = parts.data.len() / 4;
                if floats > 0 {
                    let i = 4 * at.index(floats);
                    parts.data[i..i + 4].copy_from_slice(&x.to_le_bytes());
                }
            }
            Edit::Declare(end) => {
                let Some(header) = parts.header.as_object_mut() else {
                    return;
                };
                let mut start = parts.data.len() as u64;
                // A U8 tensor of m elements has 8·m bits, so one holds less than 2^61 bytes.
                for i in 0.. {
                    if start >= *end {
                        break;
                    }
                    let len = (end - start).min((1 << 61) - 1);
                    header.insert(
                        format!("pad.{i}"),
                        json!({
                            "dtype": "U8",
                            "shape": [len],
                            "data_offsets": [start, start + len],
                        }),
                    );
                    start += len;
                }
            }
        }
    }
}

const NORMAL: LeafFamily = LeafFamily::Normal {
    min_var: 1e-4,
    max_var: 1.0,
};

/// The files the edits start from.
static VALID: LazyLock<Vec<Parts>> = LazyLock::new(|| {
    let rat = Einet::new(
        random_binary_trees(6, 2, 2, 1).unwrap(),
        EinetConfig {
            k_leaf: 2,
            k_sum: 3,
            num_classes: 2,
            num_channels: 2,
            leaves: LeafSpec::uniform(NORMAL),
            layer: LayerKind::Tucker,
        },
        1,
    );
    let pd = Einet::new(
        PoonDomingos {
            shape: vec![2, 3],
            deltas: vec![vec![1.0, 1.0]],
            axes: None,
            max_split_depth: None,
        }
        .build()
        .unwrap(),
        EinetConfig {
            leaves: LeafSpec {
                default: LeafFamily::Binomial { trials: 4 },
                groups: vec![LeafGroup {
                    vars: vec![0, 4],
                    family: LeafFamily::Categorical { categories: 3 },
                }],
            },
            ..EinetConfig::new(2, LeafFamily::Bernoulli)
        },
        2,
    );
    let tree = ChowLiuTree {
        root: 1,
        parent: vec![Some(1), None, Some(1), Some(2)],
    };
    let cp = Einet::new(
        hclt(&[tree.clone(), tree]).unwrap(),
        EinetConfig {
            layer: LayerKind::Cp,
            ..EinetConfig::new(2, LeafFamily::Bernoulli)
        },
        3,
    );
    // The CP model is saved as a checkpoint is, with extra tensors beside its parameters.
    let extra = [("em.mass".to_string(), vec![0.25, 4.0])];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valid.einet");
    [(rat, &[][..]), (pd, &[][..]), (cp, &extra[..])]
        .into_iter()
        .map(|(einet, extra)| {
            let mut einet = einet.unwrap();
            einet.training = json!({"epochs": 2, "history": [-3.5, null]});
            einet.save_with(&path, extra).unwrap();
            Parts::parse(&std::fs::read(&path).unwrap())
        })
        .collect()
});

/// Loads `bytes` from a file, as a model and as a model with extra tensors: each gives a
/// model with valid parameters or an error naming the file, and both agree.
fn load(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.einet");
    std::fs::write(&path, bytes).unwrap();
    let with_extra = Einet::load_with(&path);
    if let Err(err) = &with_extra {
        prop_assert!(names(err, &path), "{}", err);
    }
    match Einet::load(&path) {
        Ok(einet) => {
            prop_assert_eq!(einet.params.check(&einet.layout), Ok(()));
            if let Ok((same, _)) = with_extra {
                prop_assert_eq!(same, einet);
            }
        }
        Err(err) => {
            prop_assert!(with_extra.is_err());
            prop_assert!(names(&err, &path), "{}", err);
        }
    }
    Ok(())
}

/// Whether the error's message names the file.
fn names(err: &ModelFileError, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}

proptest! {
    #![proptest_config(fuzz::config(5000))]
    #[test]
    fn model_files_survive_mutations(
        which in any::<Index>(),
        edits in proptest::collection::vec(edit(), 1..4),
        header_len in proptest::option::weighted(0.05, edge_u64()),
        bytes in prop_oneof![3 => Just(Vec::<Mutation>::new()), 1 => fuzz::mutations(3)],
    ) {
        let mut parts = VALID[which.index(VALID.len())].clone();
        edits.iter().for_each(|e| e.apply_to(&mut parts));
        parts.reseal();
        load(&apply(&parts.bytes(header_len), &bytes))?;
    }
}

/// The inputs that broke the reader, each with a fragment of the error it now gives.
const CORPUS: &[(&str, &str)] = &[
    // Eight U8 tensors declared back to back up to byte 2^64 - 8: safetensors added their end
    // to the header size unchecked and panicked with an arithmetic overflow.
    (
        "tensor-data-ends-near-2-pow-64.einet",
        "tensor 'pad.0' ends at byte 2305843009213693951 of the tensor data, but the file \
         holds only 0 bytes of it",
    ),
];

#[test]
fn regressions_are_errors() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    for (file, fragment) in CORPUS {
        let path = corpus.join(file);
        for err in [
            Einet::load(&path).unwrap_err(),
            Einet::load_with(&path).unwrap_err(),
        ] {
            let message = err.to_string();
            assert!(
                matches!(err, ModelFileError::Corrupt { .. })
                    && names(&err, &path)
                    && message.contains(fragment),
                "{file}: {message}"
            );
        }
    }
    let listed: Vec<&str> = CORPUS.iter().map(|(file, _)| *file).collect();
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(listed.contains(&name.as_ref()), "{name} is not in CORPUS");
    }
}
