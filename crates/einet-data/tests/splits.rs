//! Row selection, seeded splits and data location.

use std::ffi::OsStr;
use std::path::Path;

use einet_data::{DataError, Dataset, Splits, data_root_with, repo_data_dir, shuffled_indices};

fn toy(rows: usize) -> Dataset {
    Dataset::new("toy.train", 2, 1, (0..2 * rows).map(|i| i as f32).collect())
        .unwrap()
        .with_labels((0..rows as u32).collect())
        .unwrap()
}

#[test]
fn select_copies_rows_and_labels() {
    let d = toy(10);
    let s = d.select(&[7, 2, 7]);
    assert_eq!(s.rows(), 3);
    assert_eq!(s.values, [14.0, 15.0, 4.0, 5.0, 14.0, 15.0]);
    assert_eq!(s.labels, Some(vec![7, 2, 7]));
}

#[test]
fn split_is_a_seeded_ordered_partition() {
    let d = toy(100);
    let (rest, held) = d.split(0.25, 11).unwrap();
    assert_eq!((rest.rows(), held.rows()), (75, 25));
    let mut all: Vec<u32> = rest.labels.clone().unwrap();
    all.extend(held.labels.clone().unwrap());
    assert!(rest.labels.as_ref().unwrap().is_sorted());
    assert!(held.labels.as_ref().unwrap().is_sorted());
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert_eq!(d.split(0.25, 11).unwrap(), (rest, held.clone()));
    assert_ne!(d.split(0.25, 12).unwrap().1, held);
    assert!(matches!(
        d.split(1.5, 0),
        Err(DataError::InvalidArgument(_))
    ));
    assert_eq!(d.split(0.0, 0).unwrap().1.rows(), 0);
}

#[test]
fn shuffled_indices_are_a_permutation() {
    let mut p = shuffled_indices(1000, 3);
    assert_eq!(p, shuffled_indices(1000, 3));
    assert_ne!(p, shuffled_indices(1000, 4));
    p.sort_unstable();
    assert_eq!(p, (0..1000).collect::<Vec<_>>());
}

#[test]
fn with_validation_carves_from_train_only_when_needed() {
    let s = Splits {
        train: toy(50),
        valid: None,
        test: toy(10).renamed("toy.test"),
    };
    let v = s.clone().with_validation(0.2, 1).unwrap();
    assert_eq!(v.train.rows(), 40);
    assert_eq!(v.valid.as_ref().unwrap().rows(), 10);
    assert_eq!(v.valid.as_ref().unwrap().name, "toy.valid");
    assert_eq!(v.train.name, "toy.train");
    assert_eq!(v.test, s.test);
    assert_eq!(v.parts().len(), 3);
    // An existing validation set is kept.
    assert_eq!(v.clone().with_validation(0.5, 2).unwrap(), v);
    assert!(Splits::random(&toy(10), 0.6, 0.6, 0).is_err());
}

#[test]
fn dataset_constructors_check_shapes() {
    assert!(Dataset::new("x", 3, 1, vec![0.0; 7]).is_err());
    assert!(Dataset::new("x", 0, 1, vec![]).is_err());
    let d = Dataset::new("x", 4, 1, vec![0.0; 8]).unwrap();
    assert!(d.clone().with_labels(vec![1]).is_err());
    assert!(d.clone().with_image_shape(3, 1).is_err());
    assert_eq!(d.with_image_shape(2, 2).unwrap().image_shape, Some((2, 2)));
}

#[test]
fn data_root_prefers_cli_then_env_then_repo() {
    let cli = Path::new("/cli");
    assert_eq!(data_root_with(Some(cli), Some(OsStr::new("/env"))), cli);
    assert_eq!(
        data_root_with(None, Some(OsStr::new("/env"))),
        Path::new("/env")
    );
    assert_eq!(data_root_with(None, Some(OsStr::new(""))), repo_data_dir());
    assert_eq!(data_root_with(None, None), repo_data_dir());
    assert!(repo_data_dir().join("debd/nltcs.train.data.gz").is_file());
    assert!(repo_data_dir().join("README.md").is_file());
}
