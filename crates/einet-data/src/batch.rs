//! Seeded shuffling and mini-batching.

use crate::Dataset;
use crate::dataset::shuffled_indices;

/// One mini-batch: a contiguous copy of some rows of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    values: Vec<f32>,
    indices: Vec<usize>,
    labels: Option<Vec<u32>>,
    row_len: usize,
}

impl Batch {
    /// Number of rows in the batch.
    pub fn rows(&self) -> usize {
        self.indices.len()
    }

    /// The rows' values, `rows() × num_vars × num_channels`, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Row `i` of the batch.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.row_len..(i + 1) * self.row_len]
    }

    /// The dataset row index of each batch row.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The labels of the batch rows, when the dataset has labels.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }

    /// Takes the values buffer.
    pub fn into_values(self) -> Vec<f32> {
        self.values
    }
}

/// An iterator over the batches of one epoch (see [`Dataset::batches`]).
#[derive(Clone, Debug)]
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
}

impl Batches<'_> {
    /// The row order of this epoch.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let indices = self.order[self.next..end].to_vec();
        self.next = end;
        Some(Batch {
            values: self.data.gather(&indices),
            labels: self
                .data
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            indices,
            row_len: self.data.row_len(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_> {}

impl Dataset {
    /// The batches of one pass over the data: every row exactly once, in batches of
    /// `batch_size` (the last may be smaller); in row order when `shuffle_seed` is `None`,
    /// else in a random order fixed by the seed. Panics if `batch_size` is 0.
    pub fn batches(&self, batch_size: usize, shuffle_seed: Option<u64>) -> Batches<'_> {
        self.epoch_batches(batch_size, shuffle_seed, 0)
    }

    /// The batches of epoch `epoch`: like [`Dataset::batches`] with the seed
    /// `shuffle_seed + epoch`, so each epoch has its own reproducible order.
    pub fn epoch_batches(
        &self,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        epoch: u64,
    ) -> Batches<'_> {
        assert!(batch_size > 0, "batch size must be positive");
        let order = match shuffle_seed {
            Some(seed) => shuffled_indices(self.rows(), seed.wrapping_add(epoch)),
            None => (0..self.rows()).collect(),
        };
        Batches {
            data: self,
            order,
            batch_size,
            next: 0,
        }
    }
}
