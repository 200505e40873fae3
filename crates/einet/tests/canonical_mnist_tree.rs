//! The Chow–Liu tree shipped with the canonical HCLT configuration (P4) is the one the library
//! learns from the MNIST training images with the default HCLT settings and seed 0. Skipped
//! (with a `SKIP` line) where the MNIST files are absent; `EINET_BLESS=1` rewrites the shipped
//! file from the data.

use einet::core::canonical::{MNIST_TREE_PATH, mnist_chow_liu_tree, write_tree};
use einet::{HcltSpec, ModelSpec, StructureRecord, StructureSpec};

#[test]
fn the_shipped_mnist_tree_is_the_learned_one() {
    let root = einet_data::shared_data_dir();
    if !root.join("mnist/train-images-idx3-ubyte.gz").is_file() {
        println!("SKIP: no MNIST training images under {}", root.display());
        return;
    }
    let spec = ModelSpec {
        structure: StructureSpec::Hclt(HcltSpec::default()),
        leaf: Some(einet::LeafChoice::Categorical(Some(256))),
        ..ModelSpec::default()
    };
    let data = spec
        .load_data(&"mnist".parse().unwrap(), Some(&root))
        .unwrap();
    let (_, record) = spec.structure.build(&data, 0).unwrap();
    let StructureRecord::Hclt { trees, .. } = record else {
        panic!("not an HCLT record");
    };
    let learned = &trees[0];
    if std::env::var_os("EINET_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../einet-core/src/canonical/");
        std::fs::write(format!("{path}{MNIST_TREE_PATH}"), write_tree(learned)).unwrap();
    }
    assert_eq!(&mnist_chow_liu_tree(), learned);
}
