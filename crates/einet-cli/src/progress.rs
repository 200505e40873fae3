//! Progress bars on stderr (hidden when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of a training run: one per epoch over its batches with the running
/// log-likelihood and throughput, then a spinner while the epoch is evaluated.
pub struct TrainProgress {
    show: bool,
    bar: Option<ProgressBar>,
}

impl TrainProgress {
    /// Bars drawn only if `show`.
    pub fn new(show: bool) -> Self {
        TrainProgress { show, bar: None }
    }

    /// A bar over the `batches` batches of epoch `epoch` of `epochs`.
    pub fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        let bar = ProgressBar::with_draw_target(Some(batches as u64), target(self.show));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        bar.enable_steady_tick(Duration::from_millis(250));
        self.replace(Some(bar));
    }

    /// One more batch done.
    pub fn batch_done(&mut self, progress: &einet::BatchProgress) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "train LL {:.4}, {:.0} samples/s",
                progress.running_ll, progress.samples_per_s
            ));
            bar.set_position(progress.batches as u64);
        }
    }

    /// The epoch's EM pass ended: a spinner while it is evaluated.
    pub fn evaluating(&mut self, epoch: usize) {
        self.replace(Some(spinner(
            format!("epoch {epoch}: evaluating"),
            self.show,
        )));
    }

    /// The epoch is done: removes its spinner.
    pub fn epoch_done(&mut self) {
        self.replace(None);
    }

    fn replace(&mut self, bar: Option<ProgressBar>) {
        if let Some(old) = std::mem::replace(&mut self.bar, bar) {
            old.finish_and_clear();
        }
    }
}

impl Drop for TrainProgress {
    fn drop(&mut self) {
        self.replace(None);
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

/// A spinner for a long single step, drawn only if `show`.
fn spinner(message: impl Into<String>, show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target(show));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
