//! The model file: exact round trips, atomic replacement, and rejection (never a panic) of
//! truncated, corrupted, foreign, newer-version and missing files, with errors that name the
//! file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use einet_core::region_graph::PoonDomingos;
use einet_core::{
    Einet, EinetConfig, LeafFamily, LeafGroup, LeafSpec, ModelFileError, random_binary_trees,
};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::json;

const NORMAL: LeafFamily = LeafFamily::Normal {
    min_var: 1e-6,
    max_var: 0.1,
};

fn training() -> serde_json::Value {
    json!({
        "epochs": 3,
        "dataset": "mnist",
        "em": {"step_size": 0.05, "frequency": 1},
        "history": [-512.25, -480.125, null, true],
    })
}

/// A RAT model: K_leaf ≠ K_sum, 2 classes, 3 channels of Normal leaves.
fn rat_model(seed: u64) -> Einet {
    let graph = random_binary_trees(10, 2, 3, 4).unwrap();
    let config = EinetConfig {
        k_leaf: 3,
        k_sum: 2,
        num_classes: 2,
        num_channels: 3,
        leaves: LeafSpec::uniform(NORMAL),
        layer: einet_core::LayerKind::Tucker,
    };
    let mut einet = Einet::new(graph, config, seed).unwrap();
    einet.training = training();
    einet
}

/// A PD model with 3 cells on one axis, K_leaf ≠ K_sum, 3 channels and two Normal families.
fn pd_model(seed: u64) -> Einet {
    let graph = PoonDomingos {
        shape: vec![4, 6],
        deltas: vec![vec![2.0, 2.0]],
        axes: None,
        max_split_depth: None,
    }
    .build()
    .unwrap();
    let config = EinetConfig {
        k_leaf: 2,
        k_sum: 3,
        num_classes: 1,
        num_channels: 3,
        leaves: LeafSpec {
            default: NORMAL,
            groups: vec![LeafGroup {
                vars: vec![0, 5, 23],
                family: LeafFamily::Normal {
                    min_var: 1e-4,
                    max_var: 1.0,
                },
            }],
        },
        layer: einet_core::LayerKind::Tucker,
    };
    let mut einet = Einet::new(graph, config, seed).unwrap();
    einet.training = training();
    einet
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn cp_models_round_trip_as_version_2_and_tucker_models_stay_version_1() {
    use einet_core::learn::ChowLiuTree;
    let dir = tempfile::tempdir().unwrap();
    let tree = ChowLiuTree {
        root: 1,
        parent: vec![Some(1), None, Some(1), Some(2)],
    };
    let graph = einet_core::hclt(&[tree.clone(), tree]).unwrap();
    let config = EinetConfig {
        layer: einet_core::LayerKind::Cp,
        ..EinetConfig::new(3, LeafFamily::Bernoulli)
    };
    let einet = Einet::new(graph, config, 4).unwrap();
    assert_eq!(einet.format_version(), 2);
    assert_eq!(rat_model(1).format_version(), 1);
    let path = dir.path().join("hclt.einet");
    einet.save(&path).unwrap();
    assert_eq!(Einet::load(&path).unwrap(), einet);
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("\"format_version\":\"2\""),
        "version 2 written"
    );
}

#[test]
fn save_load_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut einet) in [("rat.einet", rat_model(1)), ("pd.einet", pd_model(2))] {
        // Valid Normal parameters (mean, mean² + variance) a lossy writer would change: a
        // subnormal mean, exact bit patterns.
        einet.params.leaf[0] = f32::MIN_POSITIVE / 8.0;
        einet.params.leaf[1] = f32::from_bits(0x3d4c_cccd);
        einet.params.leaf[2] = f32::from_bits(0x3f80_0001);
        einet.params.leaf[3] = einet.params.leaf[2] * einet.params.leaf[2] + 0.05;
        let path = dir.path().join(name);
        einet.save(&path).unwrap();
        let loaded = Einet::load(&path).unwrap();
        assert_eq!(loaded, einet, "{name}");
        assert_eq!(loaded.training, training());
        assert_eq!(bits(&loaded.params.leaf), bits(&einet.params.leaf));
        for (a, b) in loaded.params.layers.iter().zip(&einet.params.layers) {
            assert_eq!(bits(a), bits(b));
        }
        assert_eq!(loaded.layout.num_channels, 3);
        // A second round trip gives the same model. (The bytes may differ: safetensors writes
        // the metadata map in hash-map order.)
        let again = dir.path().join(format!("again-{name}"));
        loaded.save(&again).unwrap();
        let (a, b) = (
            std::fs::read(&again).unwrap(),
            std::fs::read(&path).unwrap(),
        );
        assert_eq!(a.len(), b.len());
        assert_eq!(Einet::load(&again).unwrap(), einet);
    }
}

#[test]
fn save_leaves_no_temporary_file_and_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.einet");
    std::fs::write(&path, b"an older file that is not even a model").unwrap();
    let first = rat_model(10);
    first.save(&path).unwrap();
    assert_eq!(dir_entries(dir.path()), ["model.einet"]);
    assert_eq!(Einet::load(&path).unwrap(), first);

    let second = rat_model(11);
    assert_ne!(first, second);
    second.save(&path).unwrap();
    assert_eq!(dir_entries(dir.path()), ["model.einet"]);
    assert_eq!(Einet::load(&path).unwrap(), second);

    // A different structure replaces it too.
    let third = pd_model(12);
    third.save(&path).unwrap();
    assert_eq!(dir_entries(dir.path()), ["model.einet"]);
    assert_eq!(Einet::load(&path).unwrap(), third);
}

#[test]
fn failed_save_reports_the_path_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a non-empty folder: the final rename fails.
    let target = dir.path().join("occupied");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let err = rat_model(0).save(&target).unwrap_err();
    assert_names_path(&err, &target);
    assert!(matches!(err, ModelFileError::Io { .. }), "{err:?}");
    assert_eq!(dir_entries(dir.path()), ["occupied"]);
    assert_eq!(dir_entries(&target), ["keep"]);

    // The folder does not exist.
    let missing = dir.path().join("no-such-folder").join("model.einet");
    let err = rat_model(0).save(&missing).unwrap_err();
    assert_names_path(&err, &missing);
    assert!(matches!(err, ModelFileError::Io { .. }), "{err:?}");
    assert_eq!(dir_entries(dir.path()), ["occupied"]);
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Corrupt,
    NewerVersion,
    Io,
}

fn assert_names_path(err: &ModelFileError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message {msg:?} does not name {}",
        path.display()
    );
    let (ModelFileError::Io { path: p, .. }
    | ModelFileError::Corrupt { path: p, .. }
    | ModelFileError::NewerVersion { path: p, .. }) = err;
    assert_eq!(p, path);
}

/// Loads `path`, which must fail with `kind` and name the file; returns the error.
fn expect_rejected(path: &Path, kind: Kind, what: &str) -> ModelFileError {
    let err = match Einet::load(path) {
        Ok(_) => panic!("{what}: {} loaded", path.display()),
        Err(e) => e,
    };
    assert_names_path(&err, path);
    let got = match err {
        ModelFileError::Corrupt { .. } => Kind::Corrupt,
        ModelFileError::NewerVersion { .. } => Kind::NewerVersion,
        ModelFileError::Io { .. } => Kind::Io,
    };
    assert_eq!(got, kind, "{what}: {err}");
    err
}

/// A saved model's bytes and where its JSON header and tensor data lie.
struct Saved {
    dir: tempfile::TempDir,
    bytes: Vec<u8>,
    header: std::ops::Range<usize>,
}

impl Saved {
    fn new(einet: &Einet) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.einet");
        einet.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert!(8 + n < bytes.len());
        Saved {
            dir,
            bytes,
            header: 8..8 + n,
        }
    }

    fn header_text(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.header.clone()]).unwrap()
    }

    /// Writes `bytes` to a fresh file named `name` and returns its path.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The position of `needle` inside the JSON header (panics when absent).
    fn find(&self, needle: &str) -> usize {
        self.header.start
            + self
                .header_text()
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not in the header"))
    }
}

#[test]
fn truncated_files_are_rejected() {
    let saved = Saved::new(&pd_model(3));
    let len = saved.bytes.len();
    let h = saved.header.end;
    for cut in [
        0,
        1,
        7,
        8,
        9,
        h / 2,
        h - 1,
        h,
        h + 1,
        len / 2,
        len - 4,
        len - 1,
    ] {
        let path = saved.write(&format!("cut-{cut}.einet"), &saved.bytes[..cut]);
        expect_rejected(&path, Kind::Corrupt, &format!("cut at {cut} of {len}"));
    }
    // Trailing garbage is not a valid model either.
    let mut longer = saved.bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    let path = saved.write("longer.einet", &longer);
    expect_rejected(&path, Kind::Corrupt, "4 extra bytes");
}

#[test]
fn flipped_tensor_bytes_fail_the_checksum() {
    let saved = Saved::new(&rat_model(4));
    let data = saved.header.end..saved.bytes.len();
    let positions = [
        data.start,
        data.start + 1,
        (data.start + data.end) / 2,
        data.end - 1,
    ];
    for (i, &pos) in positions.iter().enumerate() {
        for mask in [0x01u8, 0x80] {
            let mut bytes = saved.bytes.clone();
            bytes[pos] ^= mask;
            let path = saved.write(&format!("data-{i}-{mask}.einet"), &bytes);
            let err = expect_rejected(&path, Kind::Corrupt, &format!("byte {pos} ^ {mask}"));
            assert!(err.to_string().contains("checksum"), "{err}");
        }
    }
}

#[test]
fn flipped_header_bytes_are_rejected() {
    let saved = Saved::new(&rat_model(5));
    // Bytes whose flip keeps the JSON well-formed and the model valid are the dangerous ones:
    // a replica index, a variance bound, training metadata, the version, a tensor name, the
    // checksum itself; plus a structural character and the length prefix.
    let targets = [
        ("replica", saved.find("replica\\\":1") + 10),
        ("min_var", saved.find("min_var\\\":") + 11),
        ("max_var", saved.find("max_var\\\":") + 11),
        ("training", saved.find("dataset") + 1),
        ("training number", saved.find("epochs\\\":3") + 10),
        ("format", saved.find("einet-model") + 2),
        (
            "format_version",
            saved.find("\"format_version\":\"1\"") + 18,
        ),
        ("tensor name", saved.find("leaf.params") + 2),
        ("checksum", saved.find("\"checksum\":\"") + 12),
        ("opening brace", saved.header.start),
        ("dtype", saved.find("F32")),
        ("shape", saved.find("\"shape\":[") + 9),
        ("length prefix", 0),
        ("length prefix high byte", 7),
    ];
    for (what, pos) in targets {
        for mask in [0x01u8, 0x02, 0x80] {
            let mut bytes = saved.bytes.clone();
            bytes[pos] ^= mask;
            let path = saved.write(&format!("header-{pos}-{mask}.einet"), &bytes);
            // A version digit turned into a larger one reads as a newer format, whose
            // checksum this build cannot know how to verify.
            let newer = bytes[pos].is_ascii_digit()
                && u32::from(bytes[pos] - b'0') > einet_core::model_file::FORMAT_VERSION;
            let kind = if what == "format_version" && newer {
                Kind::NewerVersion
            } else {
                Kind::Corrupt
            };
            expect_rejected(&path, kind, &format!("{what} (byte {pos} ^ {mask})"));
        }
    }
    // Every single-bit flip anywhere in the header is rejected, none loads a different model.
    for pos in saved.header.clone() {
        let mut bytes = saved.bytes.clone();
        bytes[pos] ^= 0x01;
        let path = saved.write("header-any.einet", &bytes);
        expect_rejected(&path, Kind::Corrupt, &format!("header byte {pos} ^ 1"));
    }
}

#[test]
fn files_that_are_not_safetensors_are_rejected() {
    let saved = Saved::new(&rat_model(6));
    let mut huge_header = u64::MAX.to_le_bytes().to_vec();
    huge_header.extend_from_slice(b"{}");
    let mut short_header = 2u64.to_le_bytes().to_vec();
    short_header.extend_from_slice(b"[]");
    let mut not_json = 4u64.to_le_bytes().to_vec();
    not_json.extend_from_slice(b"\xff\xfe\x00{");
    let cases: [(&str, &[u8]); 6] = [
        ("text", b"this is a plain text file, not an einet model\n"),
        ("json", br#"{"format": "einet-region-graph", "version": 1}"#),
        ("zeros", &[0; 64]),
        ("huge header length", &huge_header),
        ("header is not an object", &short_header),
        ("header is not utf-8", &not_json),
    ];
    for (what, bytes) in cases {
        let path = saved.write(&format!("{}.einet", what.replace(' ', "-")), bytes);
        expect_rejected(&path, Kind::Corrupt, what);
    }
}

/// Writes a safetensors file with the tensors of `saved` and `metadata` (or none).
fn write_safetensors(
    saved: &Saved,
    name: &str,
    metadata: Option<HashMap<String, String>>,
) -> PathBuf {
    let st = SafeTensors::deserialize(&saved.bytes).unwrap();
    let views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let view = TensorView::new(view.dtype(), view.shape().to_vec(), view.data()).unwrap();
            (name, view)
        })
        .collect();
    let bytes = safetensors::serialize(views, metadata).unwrap();
    saved.write(name, &bytes)
}

fn metadata_of(saved: &Saved) -> HashMap<String, String> {
    let (_, header) = SafeTensors::read_metadata(&saved.bytes).unwrap();
    header.metadata().clone().unwrap()
}

#[test]
fn newer_format_versions_are_refused_as_such() {
    let einet = pd_model(7);
    let saved = Saved::new(&einet);
    let meta = metadata_of(&saved);
    for key in [
        "format",
        "format_version",
        "structure",
        "config",
        "training",
        "checksum",
    ] {
        assert!(meta.contains_key(key), "metadata key {key}");
    }
    // The unchanged metadata written through the safetensors crate still loads.
    let same = write_safetensors(&saved, "same.einet", Some(meta.clone()));
    assert_eq!(Einet::load(&same).unwrap(), einet);

    let mut v99 = meta.clone();
    v99.insert("format_version".into(), "99".into());
    let path = write_safetensors(&saved, "v99.einet", Some(v99.clone()));
    match expect_rejected(&path, Kind::NewerVersion, "version 99") {
        ModelFileError::NewerVersion {
            found, supported, ..
        } => {
            assert_eq!(found, 99);
            assert_eq!(supported, einet_core::model_file::FORMAT_VERSION);
        }
        other => panic!("{other:?}"),
    }
    // A newer version may change anything else: the version is checked first.
    v99.insert(
        "structure".into(),
        "a structure format from the future".into(),
    );
    v99.insert("checksum".into(), "whatever".into());
    let path = write_safetensors(&saved, "v99-future.einet", Some(v99));
    expect_rejected(
        &path,
        Kind::NewerVersion,
        "version 99, other fields changed",
    );
}

#[test]
fn foreign_or_incomplete_safetensors_files_are_rejected() {
    let saved = Saved::new(&rat_model(8));
    let meta = metadata_of(&saved);
    let path = write_safetensors(&saved, "no-metadata.einet", None);
    expect_rejected(&path, Kind::Corrupt, "no metadata");
    let variants: Vec<(&str, HashMap<String, String>)> = vec![
        ("other format", {
            let mut m = meta.clone();
            m.insert("format".into(), "some-other-model".into());
            m
        }),
        ("version not a number", {
            let mut m = meta.clone();
            m.insert("format_version".into(), "one".into());
            m
        }),
        ("missing checksum", {
            let mut m = meta.clone();
            m.remove("checksum");
            m
        }),
        ("missing structure", {
            let mut m = meta.clone();
            m.remove("structure");
            m
        }),
        ("wrong checksum", {
            let mut m = meta.clone();
            m.insert("checksum".into(), "00000000".into());
            m
        }),
        ("training is not JSON", {
            let mut m = meta.clone();
            m.insert("training".into(), "{epochs: 3".into());
            m
        }),
        ("config does not match the tensors", {
            let mut m = meta.clone();
            let config = m["config"].replace("\"k_sum\":2", "\"k_sum\":5");
            assert_ne!(config, m["config"]);
            m.insert("config".into(), config);
            m
        }),
    ];
    for (what, m) in variants {
        let path = write_safetensors(
            &saved,
            &format!("{}.einet", what.replace(' ', "-")),
            Some(m),
        );
        expect_rejected(&path, Kind::Corrupt, what);
    }
    // A tensor is missing.
    let st = SafeTensors::deserialize(&saved.bytes).unwrap();
    let views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "leaf.params")
        .map(|(name, v)| {
            (
                name,
                TensorView::new(v.dtype(), v.shape().to_vec(), v.data()).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(meta.clone())).unwrap();
    let path = saved.write("missing-tensor.einet", &bytes);
    expect_rejected(&path, Kind::Corrupt, "missing tensor");
    // A tensor of the wrong dtype (same bytes, read as i32).
    let views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let dtype = if name == "leaf.params" {
                Dtype::I32
            } else {
                v.dtype()
            };
            (
                name,
                TensorView::new(dtype, v.shape().to_vec(), v.data()).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(meta)).unwrap();
    let path = saved.write("wrong-dtype.einet", &bytes);
    expect_rejected(&path, Kind::Corrupt, "wrong dtype");
}

#[test]
fn missing_files_and_folders_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.einet");
    match expect_rejected(&path, Kind::Io, "missing file") {
        ModelFileError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
    expect_rejected(dir.path(), Kind::Io, "a folder");
}

/// A model whose file has a valid checksum but `change`d parameters must be refused, with a
/// message that names the file, the tensor and the index.
fn expect_impossible(einet: &Einet, change: impl Fn(&mut Einet), expected: &str) {
    let mut bad = einet.clone();
    change(&mut bad);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("impossible.einet");
    bad.save(&path).unwrap();
    let err = expect_rejected(&path, Kind::Corrupt, expected);
    let msg = err.to_string();
    assert!(msg.contains(expected), "{msg:?} does not say {expected:?}");
}

#[test]
fn files_with_impossible_parameters_are_refused_naming_tensor_and_index() {
    let normal = pd_model(3);
    expect_impossible(
        &normal,
        |e| e.params.layers[0][4] = -0.25,
        "layer.0.weights[4] is -0.25, a negative weight",
    );
    expect_impossible(
        &normal,
        |e| e.params.layers[0].iter_mut().for_each(|w| *w *= 2.0),
        "layer.0.weights[0..",
    );
    expect_impossible(
        &normal,
        |e| e.params.layers[1][0] = f32::NAN,
        "layer.1.weights[0] is NaN, not a finite number",
    );
    // Entry 0 is variable 0 (min_var 1e-4): mean 0 and E[x²] 2 is variance 2 > 1.
    expect_impossible(
        &normal,
        |e| {
            e.params.leaf[0] = 0.0;
            e.params.leaf[1] = 2.0;
        },
        "leaf.params[0..2] (variable 0, state 0, channel 0): the Normal variance 2",
    );
    expect_impossible(
        &normal,
        |e| {
            e.params.leaf[2] = 0.0;
            e.params.leaf[3] = -1.0;
        },
        "leaf.params[2..4] (variable 0, state 0, channel 1): the Normal variance -1",
    );

    let graph = random_binary_trees(6, 2, 1, 0).unwrap();
    let config = EinetConfig {
        leaves: LeafSpec {
            default: LeafFamily::Bernoulli,
            groups: vec![
                LeafGroup {
                    vars: vec![1],
                    family: LeafFamily::Categorical { categories: 3 },
                },
                LeafGroup {
                    vars: vec![2],
                    family: LeafFamily::Binomial { trials: 4 },
                },
            ],
        },
        ..EinetConfig::new(2, LeafFamily::Bernoulli)
    };
    let discrete = Einet::new(graph, config, 0).unwrap();
    let entry = |var: u32| {
        let leaf = &discrete.layout.leaf;
        let e = leaf.vars.iter().position(|&v| v == var).unwrap();
        leaf.param_offsets[e] as usize
    };
    let (bernoulli, categorical, binomial) = (entry(0), entry(1), entry(2));
    expect_impossible(
        &discrete,
        |e| e.params.leaf[bernoulli] = 1.5,
        &format!(
            "leaf.params[{bernoulli}..{}] (variable 0, state 0, channel 0): the Bernoulli \
             probability 1.5 is outside [0, 1]",
            bernoulli + 1
        ),
    );
    expect_impossible(
        &discrete,
        |e| e.params.leaf[categorical + 3 + 1] = -0.5,
        &format!(
            "leaf.params[{}..{}] (variable 1, state 1, channel 0): the Categorical(3) \
             probability of value 1 is -0.5 < 0",
            categorical + 3,
            categorical + 6
        ),
    );
    expect_impossible(
        &discrete,
        |e| e.params.leaf[categorical] += 0.5,
        "the Categorical(3) probabilities sum to",
    );
    expect_impossible(
        &discrete,
        |e| e.params.leaf[binomial + 1] = 4.5,
        "(variable 2, state 1, channel 0): the Binomial(4) mean 4.5 is outside [0, 4]",
    );
    // The unchanged models load.
    for einet in [&normal, &discrete] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("valid.einet");
        einet.save(&path).unwrap();
        assert_eq!(&Einet::load(&path).unwrap(), einet);
    }
}

#[test]
fn format_version_0_is_refused() {
    let einet = rat_model(5);
    let saved = Saved::new(&einet);
    let mut meta = metadata_of(&saved);
    meta.insert("format_version".into(), "0".into());
    let path = write_safetensors(&saved, "v0.einet", Some(meta));
    let err = expect_rejected(&path, Kind::Corrupt, "version 0");
    assert!(err.to_string().contains("format_version is 0"), "{err}");
}

#[test]
fn extra_tensors_round_trip_and_are_checksummed() {
    let dir = tempfile::tempdir().unwrap();
    let einet = rat_model(7);
    let extra = vec![
        (
            "state.b".to_string(),
            vec![1.5, f32::MIN_POSITIVE / 4.0, -0.0],
        ),
        ("state.a".to_string(), vec![]),
        ("z".to_string(), vec![3.0; 100]),
    ];
    let path = dir.path().join("checkpoint.einet");
    einet.save_with(&path, &extra).unwrap();
    let (loaded, back) = Einet::load_with(&path).unwrap();
    assert_eq!(loaded, einet);
    let mut sorted = extra.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back.len(), 3);
    for ((name, data), (want_name, want)) in back.iter().zip(&sorted) {
        assert_eq!(name, want_name);
        assert_eq!(bits(data), bits(want), "{name}");
    }
    // The file still reads as a model; a plain model has no extra tensors.
    assert_eq!(Einet::load(&path).unwrap(), einet);
    let plain = dir.path().join("plain.einet");
    einet.save(&plain).unwrap();
    assert!(Einet::load_with(&plain).unwrap().1.is_empty());
    // A flipped byte in an extra tensor fails its checksum.
    let mut bytes = std::fs::read(&path).unwrap();
    let offset = {
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        let data = tensors.tensor("extra.z").unwrap().data();
        data.as_ptr() as usize - bytes.as_ptr() as usize + 5
    };
    bytes[offset] ^= 0x10;
    let bad = dir.path().join("bad.einet");
    std::fs::write(&bad, &bytes).unwrap();
    let err = Einet::load_with(&bad).unwrap_err().to_string();
    assert!(
        err.contains("extra tensors") && err.contains("bad.einet"),
        "{err}"
    );
}
