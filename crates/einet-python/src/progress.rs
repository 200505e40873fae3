//! Training progress in Python: a tqdm bar per epoch when tqdm is installed, else one printed
//! line per epoch; and Ctrl-C, which stops training after the batch it arrives in.

use einet::{BatchProgress, EpochMetrics, TrainObserver};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Sees a training run from the thread that released the GIL: it re-attaches for every
/// Python call (the bar, the printed lines, the signal check).
pub struct Progress {
    /// Whether to show anything.
    show: bool,
    /// `tqdm.auto.tqdm`, when tqdm is installed.
    tqdm: Option<Py<PyAny>>,
    /// The bar of the running epoch.
    bar: Option<Py<PyAny>>,
    /// Whether the validation and test parts were given (else their numbers stand in for
    /// others' and are not shown).
    parts: (bool, bool),
    /// The first exception a Python call raised (the `KeyboardInterrupt` of Ctrl-C), which
    /// stops training and is raised in its place.
    pub raised: Option<PyErr>,
}

impl Progress {
    /// Progress shown if `show` (with tqdm if it can be imported); `parts` says whether the
    /// validation and test rows were given.
    pub fn new(py: Python<'_>, show: bool, parts: (bool, bool)) -> Progress {
        let tqdm = show
            .then(|| py.import("tqdm.auto").and_then(|m| m.getattr("tqdm")))
            .and_then(Result::ok)
            .map(Bound::unbind);
        Progress {
            show,
            tqdm,
            bar: None,
            parts,
            raised: None,
        }
    }

    /// Runs `f` attached to Python; keeps its exception (the first one) to raise later.
    fn call<T>(&mut self, f: impl FnOnce(Python<'_>, &Self) -> PyResult<T>) -> Option<T> {
        match Python::attach(|py| f(py, self)) {
            Ok(value) => Some(value),
            Err(e) => {
                self.raised.get_or_insert(e);
                None
            }
        }
    }

    /// Closes the bar of the running epoch, if any.
    pub fn close(&mut self) {
        if let Some(bar) = self.bar.take() {
            self.call(|py, _| bar.call_method0(py, "close"));
        }
    }

    /// Prints `line` (through `tqdm.write` when there are bars, so that they stay intact).
    fn print(&mut self, line: String) {
        self.call(|py, this| match &this.tqdm {
            Some(tqdm) => tqdm.call_method1(py, "write", (line,)).map(drop),
            None => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("flush", true)?;
                let print = py.import("builtins")?.getattr("print")?;
                print.call((line,), Some(&kwargs)).map(drop)
            }
        });
    }
}

impl TrainObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if self.tqdm.is_none() {
            return;
        }
        self.bar = self
            .call(|py, this| match &this.tqdm {
                Some(tqdm) => {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("total", batches)?;
                    kwargs.set_item("desc", format!("epoch {epoch}/{epochs}"))?;
                    kwargs.set_item("unit", "batch")?;
                    kwargs.set_item("leave", false)?;
                    tqdm.call(py, (), Some(&kwargs)).map(Some)
                }
                None => Ok(None),
            })
            .flatten();
    }

    fn batch_done(&mut self, progress: &BatchProgress) {
        if self.bar.is_none() {
            return;
        }
        self.call(|py, this| {
            let Some(bar) = &this.bar else { return Ok(()) };
            let kwargs = PyDict::new(py);
            kwargs.set_item("refresh", false)?;
            let text = format!(
                "train LL {:.4}, {:.0} samples/s",
                progress.running_ll, progress.samples_per_s
            );
            bar.call_method(py, "set_postfix_str", (text,), Some(&kwargs))?;
            bar.call_method1(py, "update", (1,)).map(drop)
        });
    }

    fn stop_requested(&mut self) -> bool {
        self.call(|py, _| py.check_signals());
        self.raised.is_some()
    }

    fn evaluating(&mut self, epoch: usize) {
        if self.bar.is_none() {
            return;
        }
        self.call(|py, this| match &this.bar {
            Some(bar) => bar
                .call_method1(
                    py,
                    "set_description",
                    (format!("epoch {epoch}: evaluating"),),
                )
                .map(drop),
            None => Ok(()),
        });
    }

    fn epoch_done(&mut self, m: &EpochMetrics) -> einet::Result<()> {
        self.close();
        if self.show {
            let (valid, test) = self.parts;
            let mut line = format!("epoch {:>3}  train LL {:.4}", m.epoch, m.train_ll);
            if valid {
                line.push_str(&format!("  valid LL {:.4}", m.valid_ll));
            }
            if test {
                line.push_str(&format!("  test LL {:.4}", m.test_ll));
            }
            line.push_str(&format!(
                "  {:.1} s  {:.0} samples/s{}",
                m.seconds,
                m.samples_per_s,
                if m.improved { "  *" } else { "" }
            ));
            self.print(line);
        }
        Ok(())
    }
}
