//! MNIST and the CIFAR-10 subset from the shared data folder (skipped when it is absent).

mod common;

use einet_core::LeafFamily;
use einet_data::{cifar10_subset, debd, mnist};

#[test]
fn mnist_has_60000_and_10000_images_of_784_pixels() {
    let Some(root) = common::shared_data("mnist") else {
        return;
    };
    let s = mnist(root.join("mnist")).unwrap();
    assert!(s.valid.is_none());
    assert_eq!(s.train.rows(), 60000);
    assert_eq!(s.test.rows(), 10000);
    for d in [&s.train, &s.test] {
        assert_eq!(d.num_vars, 784);
        assert_eq!(d.num_channels, 1);
        assert_eq!(d.image_shape, Some((28, 28)));
        d.check_family(&LeafFamily::Binomial { trials: 255 })
            .unwrap();
    }
    let train_labels = s.train.labels.as_ref().unwrap();
    let test_labels = s.test.labels.as_ref().unwrap();
    assert_eq!(train_labels[0], 5);
    assert_eq!(test_labels[0], 7);
    let mut counts = [0usize; 10];
    for &l in train_labels {
        counts[l as usize] += 1;
    }
    assert_eq!(
        counts,
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let mean =
        s.train.values.iter().map(|&v| f64::from(v)).sum::<f64>() / s.train.values.len() as f64;
    assert!((mean - 33.318).abs() < 0.001, "pixel mean {mean}");

    // A seeded validation split carved from train.
    let s = s.with_validation(1.0 / 6.0, 3).unwrap();
    assert_eq!(s.train.rows(), 50000);
    assert_eq!(s.valid.as_ref().unwrap().rows(), 10000);
    assert_eq!(s.valid.as_ref().unwrap().name, "mnist.valid");
}

#[test]
fn cifar_subset_is_pixel_major_rgb() {
    let Some(root) = common::shared_data("cifar") else {
        return;
    };
    // The data root works as well as the subfolder.
    let s = cifar10_subset(&root).unwrap();
    assert_eq!(s.train.rows(), 4000);
    assert_eq!(s.test.rows(), 1000);
    for d in [&s.train, &s.test] {
        assert_eq!(d.num_vars, 1024);
        assert_eq!(d.num_channels, 3);
        assert_eq!(d.image_shape, Some((32, 32)));
        assert_eq!(d.row(0).len(), 3072);
    }
    assert_eq!(
        s.train.labels.as_ref().unwrap()[..10],
        [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    );
    assert_eq!(
        s.test.labels.as_ref().unwrap()[..10],
        [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    );
    let px = |d: &einet_data::Dataset, c: usize| -> Vec<f32> {
        (0..5).map(|p| d.row(0)[p * 3 + c]).collect()
    };
    assert_eq!(px(&s.train, 0), [59.0, 43.0, 50.0, 68.0, 98.0]);
    assert_eq!(px(&s.train, 1), [62.0, 46.0, 48.0, 54.0, 73.0]);
    assert_eq!(px(&s.train, 2), [63.0, 45.0, 43.0, 42.0, 52.0]);
    assert_eq!(px(&s.test, 0), [158.0, 159.0, 165.0, 166.0, 160.0]);
    // Channel means listed in the README: 0.4916 0.4818 0.4447 (of 255).
    for (c, want) in [0.4916, 0.4818, 0.4447].into_iter().enumerate() {
        let sum: f64 = s.train.values[c..]
            .iter()
            .step_by(3)
            .map(|&v| f64::from(v))
            .sum();
        let mean = sum / (4000.0 * 1024.0 * 255.0);
        assert!((mean - want).abs() < 0.0005, "channel {c}: {mean}");
    }
}

#[test]
fn shared_debd_kdd_and_tmovie_have_the_corrected_shapes() {
    let Some(root) = common::shared_data("debd") else {
        return;
    };
    // kdd has 64 columns and tmovie train 4524 rows (the README notes both).
    let kdd = debd(root.join("debd"), "kdd").unwrap();
    assert_eq!(kdd.train.num_vars, 64);
    assert_eq!(kdd.train.rows(), 180092);
    assert_eq!(kdd.test.rows(), 34955);
    kdd.train.check_family(&LeafFamily::Bernoulli).unwrap();
    let tmovie = debd(root.join("debd"), "tmovie").unwrap();
    assert_eq!(tmovie.train.rows(), 4524);
    assert_eq!(tmovie.test.num_vars, 500);
}
