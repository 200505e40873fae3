//! Seeded shuffling and batching.

use einet_data::Dataset;
use proptest::prelude::*;

fn toy(rows: usize, vars: usize) -> Dataset {
    let values = (0..rows * vars).map(|i| i as f32).collect();
    Dataset::new("toy", vars, 1, values)
        .unwrap()
        .with_labels((0..rows as u32).collect())
        .unwrap()
}

/// Row indices of one epoch, checking each batch's values and labels against the data.
fn epoch_order(d: &Dataset, batch: usize, seed: Option<u64>, epoch: u64) -> Vec<usize> {
    let batches = d.epoch_batches(batch, seed, epoch);
    let expected_batches = d.rows().div_ceil(batch);
    assert_eq!(batches.len(), expected_batches);
    let mut order = Vec::new();
    for (k, b) in batches.enumerate() {
        let want = if k + 1 < expected_batches {
            batch
        } else {
            d.rows() - batch * (expected_batches - 1)
        };
        assert_eq!(b.rows(), want);
        assert_eq!(b.values().len(), b.rows() * d.row_len());
        for (r, &i) in b.indices().iter().enumerate() {
            assert_eq!(b.row(r), d.row(i));
            assert_eq!(b.labels().unwrap()[r], i as u32);
        }
        order.extend_from_slice(b.indices());
    }
    order
}

#[test]
fn every_row_once_per_epoch() {
    let d = toy(103, 3);
    for seed in [None, Some(1), Some(99)] {
        for epoch in 0..3 {
            let mut order = epoch_order(&d, 10, seed, epoch);
            if seed.is_none() {
                assert_eq!(order, (0..103).collect::<Vec<_>>());
            }
            order.sort_unstable();
            assert_eq!(order, (0..103).collect::<Vec<_>>());
        }
    }
}

#[test]
fn shuffling_is_reproducible_and_changes_with_the_epoch() {
    let d = toy(200, 2);
    let a = epoch_order(&d, 32, Some(5), 0);
    assert_eq!(a, epoch_order(&d, 32, Some(5), 0));
    assert_ne!(a, (0..200).collect::<Vec<_>>());
    let e1 = epoch_order(&d, 32, Some(5), 1);
    assert_ne!(a, e1);
    // Epoch e uses the seed + e.
    assert_eq!(e1, epoch_order(&d, 32, Some(6), 0));
    let via_batches: Vec<usize> = d
        .batches(32, Some(6))
        .flat_map(|b| b.indices().to_vec())
        .collect();
    assert_eq!(via_batches, e1);
    assert_ne!(a, epoch_order(&d, 32, Some(7), 0));
    // The order does not depend on the batch size.
    assert_eq!(a, epoch_order(&d, 7, Some(5), 0));
}

#[test]
fn batch_larger_than_the_data_is_one_batch() {
    let d = toy(5, 4);
    let all: Vec<_> = d.batches(100, None).collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].values(), d.values.as_slice());
    assert_eq!(all[0].clone().into_values(), d.values);
}

#[test]
#[should_panic(expected = "batch size must be positive")]
fn zero_batch_size_panics() {
    let _ = toy(5, 1).batches(0, None);
}

proptest! {
    #[test]
    fn batches_partition_the_rows(rows in 1usize..300, batch in 1usize..64, seed in any::<u64>(), epoch in 0u64..5) {
        let d = toy(rows, 1);
        let mut order = epoch_order(&d, batch, Some(seed), epoch);
        order.sort_unstable();
        prop_assert_eq!(order, (0..rows).collect::<Vec<_>>());
    }
}
