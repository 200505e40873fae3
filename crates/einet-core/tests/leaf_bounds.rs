//! Leaf families with an absurd support (categories or trials) are refused with a clear error,
//! whether built in code or read from a model file, before any table is allocated.

use std::collections::HashMap;

use einet_core::leaf::MAX_SUPPORT;
use einet_core::{Einet, EinetConfig, LeafFamily, ModelFileError, random_binary_trees};
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

fn graph() -> einet_core::RegionGraph {
    random_binary_trees(6, 2, 2, 1).unwrap()
}

#[test]
fn building_a_model_with_too_many_trials_fails() {
    let too_many = LeafFamily::Binomial {
        trials: 4_000_000_000,
    };
    let err = Einet::new(graph(), EinetConfig::new(2, too_many), 0).unwrap_err();
    assert!(err.to_string().contains("at most 65536 trials"), "{err}");
    let largest = LeafFamily::Categorical {
        categories: MAX_SUPPORT,
    };
    Einet::new(graph(), EinetConfig::new(1, largest), 0).unwrap();
}

#[test]
fn a_model_file_with_too_many_categories_is_refused() {
    let einet = Einet::new(
        graph(),
        EinetConfig::new(2, LeafFamily::Categorical { categories: 3 }),
        0,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.einet");
    einet.save(&path).unwrap();
    // Rewrite the file with the same tensors and a config naming 4e9 categories.
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta: HashMap<String, String> = header.metadata().clone().unwrap();
    let config = meta["config"].replace("\"categories\":3", "\"categories\":4000000000");
    assert_ne!(config, meta["config"], "the config names the categories");
    meta.insert("config".into(), config);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let view = TensorView::new(v.dtype(), v.shape().to_vec(), v.data()).unwrap();
            (name, view)
        })
        .collect();
    let bad = dir.path().join("bad.einet");
    std::fs::write(&bad, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
    match Einet::load(&bad) {
        Err(err @ ModelFileError::Corrupt { .. }) => {
            let msg = err.to_string();
            assert!(msg.contains("bad.einet"), "{msg}");
            assert!(
                msg.contains("at most 65536 categories, got 4000000000"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
}
