//! k-means on synthetic clusters.

use einet_core::rng::Rng;
use einet_data::{DataError, Dataset, kmeans};

const CENTRES: [[f32; 3]; 4] = [
    [0.0, 0.0, 0.0],
    [20.0, 20.0, 0.0],
    [-20.0, 20.0, 5.0],
    [0.0, -20.0, 20.0],
];

/// `per` points around each centre (standard normal noise), shuffled; returns data and truth.
fn clusters(per: usize, seed: u64, missing: f32) -> (Dataset, Vec<usize>) {
    let mut rng = Rng::new(seed, 0);
    let mut rows: Vec<(usize, Vec<f32>)> = Vec::new();
    for (c, centre) in CENTRES.iter().enumerate() {
        for _ in 0..per {
            let row = centre
                .iter()
                .map(|&m| {
                    if rng.uniform() < missing {
                        f32::NAN
                    } else {
                        m + rng.normal()
                    }
                })
                .collect();
            rows.push((c, row));
        }
    }
    rng.shuffle(&mut rows);
    let truth = rows.iter().map(|(c, _)| *c).collect();
    let values = rows.into_iter().flat_map(|(_, r)| r).collect();
    (Dataset::new("blobs", 3, 1, values).unwrap(), truth)
}

/// The found clusters are a relabelling of the true ones; returns true → found.
fn assert_recovers(found: &[usize], truth: &[usize], k: usize) -> Vec<usize> {
    let mut map = vec![usize::MAX; k];
    for (&f, &t) in found.iter().zip(truth) {
        if map[t] == usize::MAX {
            map[t] = f;
        }
        assert_eq!(map[t], f, "true cluster {t} split across found clusters");
    }
    let mut sorted = map.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), k, "two true clusters merged: {map:?}");
    map
}

#[test]
fn kmeans_recovers_well_separated_clusters() {
    let (d, truth) = clusters(100, 1, 0.0);
    for seed in 0..5 {
        let km = kmeans(&d, 4, seed, 100).unwrap();
        assert!(km.converged);
        let map = assert_recovers(&km.assignments, &truth, 4);
        for (t, centre) in CENTRES.iter().enumerate() {
            for (a, b) in km.centroid(map[t]).iter().zip(centre) {
                assert!((a - b).abs() < 0.5, "centroid {t}: {a} vs {b}");
            }
        }
        assert_eq!(km.cluster_sizes(), vec![100; 4]);
        assert_eq!(km.cluster_indices(map[0]).len(), 100);
        for i in 0..d.rows() {
            assert_eq!(km.nearest(d.row(i)), km.assignments[i]);
        }
        // Inertia ≈ 3 dims × 400 points × unit variance.
        assert!(km.inertia > 800.0 && km.inertia < 1600.0, "{}", km.inertia);
    }
}

#[test]
fn kmeans_ignores_missing_values() {
    let (d, truth) = clusters(100, 2, 0.15);
    assert!(d.values.iter().any(|v| v.is_nan()));
    let km = kmeans(&d, 4, 3, 100).unwrap();
    assert!(km.centroids.iter().all(|c| c.is_finite()));
    // Rows with at most one coordinate missing are still clustered correctly.
    let keep: Vec<usize> = (0..d.rows())
        .filter(|&i| d.row(i).iter().filter(|v| v.is_nan()).count() <= 1)
        .collect();
    let found: Vec<usize> = keep.iter().map(|&i| km.assignments[i]).collect();
    let t: Vec<usize> = keep.iter().map(|&i| truth[i]).collect();
    assert_recovers(&found, &t, 4);
}

#[test]
fn kmeans_is_reproducible() {
    let (d, _) = clusters(50, 4, 0.0);
    assert_eq!(kmeans(&d, 6, 9, 50).unwrap(), kmeans(&d, 6, 9, 50).unwrap());
}

#[test]
fn kmeans_edge_cases() {
    let (d, _) = clusters(5, 5, 0.0);
    assert!(matches!(
        kmeans(&d, 0, 0, 10),
        Err(DataError::InvalidArgument(_))
    ));
    assert!(matches!(
        kmeans(&d, 21, 0, 10),
        Err(DataError::InvalidArgument(_))
    ));
    // k = rows: every row its own cluster.
    let km = kmeans(&d, 20, 0, 10).unwrap();
    assert_eq!(km.cluster_sizes(), vec![1; 20]);
    // Identical rows: no panic, no empty cluster.
    let same = Dataset::new("same", 2, 1, vec![1.0; 20]).unwrap();
    let km = kmeans(&same, 3, 0, 10).unwrap();
    assert!(km.cluster_sizes().iter().all(|&s| s > 0));
    assert_eq!(km.cluster_sizes().iter().sum::<usize>(), 10);
    // max_iter = 0 keeps the seeding's assignment.
    let km = kmeans(&d, 4, 1, 0).unwrap();
    assert_eq!(km.iterations, 0);
    assert_eq!(km.assignments.len(), 20);
}
