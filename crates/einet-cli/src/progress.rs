//! Progress bars on stderr (hidden when stderr is not a terminal).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress of one training epoch: batches done, running log-likelihood, throughput.
pub struct EpochProgress {
    bar: ProgressBar,
    start: Instant,
    samples: usize,
    ll_sum: f64,
}

impl EpochProgress {
    /// A bar over `batches` batches of epoch `epoch` of `epochs` (drawn only if `show`).
    pub fn new(batches: usize, epoch: usize, epochs: usize, show: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(batches as u64), target(show));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        bar.enable_steady_tick(Duration::from_millis(250));
        EpochProgress {
            bar,
            start: Instant::now(),
            samples: 0,
            ll_sum: 0.0,
        }
    }

    /// Records one batch of `rows` rows with summed log-likelihood `ll_sum`.
    pub fn batch(&mut self, rows: usize, ll_sum: f64) {
        self.samples += rows;
        self.ll_sum += ll_sum;
        self.bar.set_message(format!(
            "train LL {:.4}, {:.0} samples/s",
            self.running_ll(),
            self.samples_per_s()
        ));
        self.bar.inc(1);
    }

    /// Mean log-likelihood of the rows seen so far (before each batch's update).
    pub fn running_ll(&self) -> f64 {
        self.ll_sum / self.samples.max(1) as f64
    }

    /// Training throughput so far.
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Seconds since the epoch began.
    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for EpochProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Standard error, or nowhere.
fn target(show: bool) -> ProgressDrawTarget {
    if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A spinner for a long single step (evaluation, loading), drawn only if `show`.
pub fn spinner(message: impl Into<String>, show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target(show));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
