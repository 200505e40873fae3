//! k-means clustering (k-means++ seeding, Lloyd iterations) that ignores missing values;
//! used to split data among the components of a mixture of EiNets.

use einet_core::rng::Rng;

use crate::{DataError, Dataset};

/// Philox stream for k-means++ seeding.
const KMEANS_STREAM: u64 = 0x4B4D_4541_4E53_2B2B; // "KMEANS++"

/// The result of [`kmeans`].
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    /// Number of clusters.
    pub k: usize,
    /// Values per centroid (the dataset's `num_vars * num_channels`).
    pub row_len: usize,
    /// The cluster (`0..k`) of each row.
    pub assignments: Vec<usize>,
    /// The centroids, `k × row_len` row-major; never NaN.
    pub centroids: Vec<f32>,
    /// Lloyd iterations run.
    pub iterations: usize,
    /// Whether the last iteration changed no assignment (else `max_iter` was reached).
    pub converged: bool,
    /// Sum over rows of the squared distance to their centroid.
    pub inertia: f64,
}

impl KMeans {
    /// Centroid `c`.
    pub fn centroid(&self, c: usize) -> &[f32] {
        &self.centroids[c * self.row_len..(c + 1) * self.row_len]
    }

    /// The rows assigned to cluster `c`, in increasing order.
    pub fn cluster_indices(&self, c: usize) -> Vec<usize> {
        (0..self.assignments.len())
            .filter(|&i| self.assignments[i] == c)
            .collect()
    }

    /// The number of rows in each cluster.
    pub fn cluster_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.k];
        for &a in &self.assignments {
            sizes[a] += 1;
        }
        sizes
    }

    /// The cluster whose centroid is nearest to `row` (NaN entries ignored).
    pub fn nearest(&self, row: &[f32]) -> usize {
        nearest(row, &self.centroids, self.row_len).0
    }
}

/// Squared Euclidean distance over the entries of `x` that are not NaN, scaled up by
/// `len / observed` so rows with missing values stay comparable; 0 if all are missing.
fn distance(x: &[f32], c: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    let mut observed = 0usize;
    for (&a, &b) in x.iter().zip(c) {
        if !a.is_nan() {
            sum += (a - b) * (a - b);
            observed += 1;
        }
    }
    if observed == 0 || observed == x.len() {
        sum
    } else {
        sum * x.len() as f32 / observed as f32
    }
}

/// The nearest centroid and its distance; ties go to `prefer` (the current cluster), then
/// to the lowest index.
fn nearest_preferring(x: &[f32], centroids: &[f32], row_len: usize, prefer: usize) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (c, centroid) in centroids.chunks_exact(row_len).enumerate() {
        let d = distance(x, centroid);
        if d < best.1 || (d == best.1 && c == prefer) {
            best = (c, d);
        }
    }
    best
}

fn nearest(x: &[f32], centroids: &[f32], row_len: usize) -> (usize, f32) {
    nearest_preferring(x, centroids, row_len, usize::MAX)
}

/// Per-coordinate mean over non-NaN values (0 where a coordinate is always missing).
fn column_means(data: &Dataset) -> Vec<f32> {
    let m = data.row_len();
    let mut sum = vec![0.0f64; m];
    let mut count = vec![0usize; m];
    for row in data.values.chunks_exact(m) {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                sum[j] += f64::from(v);
                count[j] += 1;
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(&s, &c)| if c > 0 { (s / c as f64) as f32 } else { 0.0 })
        .collect()
}

fn filled(row: &[f32], means: &[f32]) -> Vec<f32> {
    row.iter()
        .zip(means)
        .map(|(&v, &m)| if v.is_nan() { m } else { v })
        .collect()
}

/// Clusters the rows of `data` into `k` groups: k-means++ seeding (fixed by `seed`), then
/// Lloyd iterations until no assignment changes or `max_iter` iterations have run. Missing
/// values (NaN) are left out of distances and means. A cluster that becomes empty takes
/// over the row farthest from its centroid; ties in distance keep a row in its cluster.
/// Fails unless `1 <= k <= rows`.
pub fn kmeans(data: &Dataset, k: usize, seed: u64, max_iter: usize) -> Result<KMeans, DataError> {
    let n = data.rows();
    if k == 0 || k > n {
        return Err(DataError::InvalidArgument(format!(
            "k-means needs 1 <= k <= rows, got k = {k} for {n} rows of {}",
            data.name
        )));
    }
    let m = data.row_len();
    let means = column_means(data);
    let mut rng = Rng::new(seed, KMEANS_STREAM);

    // k-means++ seeding.
    let mut chosen = vec![false; n];
    let first = rng.below(n as u32) as usize;
    chosen[first] = true;
    let mut centroids = filled(data.row(first), &means);
    let mut dist: Vec<f32> = (0..n).map(|i| distance(data.row(i), &centroids)).collect();
    for _ in 1..k {
        let total: f64 = dist.iter().map(|&d| f64::from(d)).sum();
        let pick = if total > 0.0 {
            let target = f64::from(rng.uniform()) * total;
            let mut acc = 0.0f64;
            let mut pick = None;
            for (i, &d) in dist.iter().enumerate() {
                if d > 0.0 && !chosen[i] {
                    pick = Some(i);
                    acc += f64::from(d);
                    if acc >= target {
                        break;
                    }
                }
            }
            pick
        } else {
            None
        };
        let pick = pick.unwrap_or_else(|| {
            // All rows coincide with chosen centroids: take a random unchosen row.
            let free: Vec<usize> = (0..n).filter(|&i| !chosen[i]).collect();
            free[rng.below(free.len() as u32) as usize]
        });
        chosen[pick] = true;
        let c = filled(data.row(pick), &means);
        for (i, d) in dist.iter_mut().enumerate() {
            *d = d.min(distance(data.row(i), &c));
        }
        centroids.extend(c);
    }

    // Lloyd iterations.
    let assign = |centroids: &[f32], assignments: &mut [usize], dist: &mut [f32]| -> usize {
        let mut changed = 0;
        for i in 0..n {
            let (c, d) = nearest_preferring(data.row(i), centroids, m, assignments[i]);
            if assignments[i] != c {
                assignments[i] = c;
                changed += 1;
            }
            dist[i] = d;
        }
        changed
    };
    let mut assignments = vec![usize::MAX; n];
    assign(&centroids, &mut assignments, &mut dist);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        refill_empty_clusters(k, &mut assignments, &mut dist);
        update_centroids(data, k, &assignments, &means, &mut centroids);
        iterations += 1;
        if assign(&centroids, &mut assignments, &mut dist) == 0 {
            converged = true;
            break;
        }
    }
    if !converged && refill_empty_clusters(k, &mut assignments, &mut dist) {
        update_centroids(data, k, &assignments, &means, &mut centroids);
        for (i, d) in dist.iter_mut().enumerate() {
            *d = distance(
                data.row(i),
                &centroids[assignments[i] * m..(assignments[i] + 1) * m],
            );
        }
    }
    let inertia = dist.iter().map(|&d| f64::from(d)).sum();
    Ok(KMeans {
        k,
        row_len: m,
        assignments,
        centroids,
        iterations,
        converged,
        inertia,
    })
}

/// Gives each empty cluster the row farthest from its centroid among clusters with more
/// than one row; returns whether any cluster was empty.
fn refill_empty_clusters(k: usize, assignments: &mut [usize], dist: &mut [f32]) -> bool {
    let mut sizes = vec![0usize; k];
    for &a in assignments.iter() {
        sizes[a] += 1;
    }
    let mut any = false;
    for c in 0..k {
        if sizes[c] > 0 {
            continue;
        }
        any = true;
        let far = (0..assignments.len())
            .filter(|&i| sizes[assignments[i]] > 1)
            .max_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(b.cmp(&a)));
        if let Some(i) = far {
            sizes[assignments[i]] -= 1;
            sizes[c] = 1;
            assignments[i] = c;
            dist[i] = 0.0;
        }
    }
    any
}

/// Sets each centroid to the mean of its rows (NaN ignored; a coordinate missing in all of
/// a cluster's rows takes the column mean).
fn update_centroids(
    data: &Dataset,
    k: usize,
    assignments: &[usize],
    means: &[f32],
    centroids: &mut [f32],
) {
    let m = data.row_len();
    let mut sum = vec![0.0f64; k * m];
    let mut count = vec![0u32; k * m];
    for (i, row) in data.values.chunks_exact(m).enumerate() {
        let base = assignments[i] * m;
        for (j, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                sum[base + j] += f64::from(v);
                count[base + j] += 1;
            }
        }
    }
    for (idx, c) in centroids.iter_mut().enumerate() {
        *c = if count[idx] > 0 {
            (sum[idx] / f64::from(count[idx])) as f32
        } else {
            means[idx % m]
        };
    }
}
