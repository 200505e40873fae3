//! The `einet` Python module: Einsum Networks with numpy arrays in and out, over the `einet`
//! library, so that Python reads and writes the model files of the `einet` command line and
//! gets its messages. Everything here converts arguments and results; the models, training
//! and queries are the library's.

mod arrays;
mod errors;
mod model;
mod progress;

use std::path::PathBuf;

use einet::DatasetSpec;
use einet::registry::{self, RegistryError, SPLIT_SEED};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::OrRaise;

/// Einsum Networks: deep tractable probabilistic circuits trained by EM.
///
/// ``einet.Model`` builds and trains a model on numpy arrays and answers exact queries
/// (log-likelihoods with missing values, conditionals, samples, MPE); ``einet.load`` reads a
/// model file written by ``Model.save`` or by the ``einet`` command line, and
/// ``einet.load_dataset`` the data sets the command line knows by name.
#[pymodule]
#[pyo3(name = "einet")]
fn einet_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    Ok(())
}

/// Loads a data set the ``einet`` command line knows by name (``"digits"``, ``"nltcs"``,
/// ``"debd:NAME"``, ``"mnist"``, ``"cifar"``, ``"csv:PATH"``) from ``data_dir`` (default:
/// ``$EINET_DATA``, else the repository's ``data/``), split as the command line splits it.
///
/// Returns a dict with ``"train"``, ``"valid"`` and ``"test"`` (float32 arrays of shape
/// ``(rows, variables)``, or ``(rows, variables, channels)`` for colour images, raw values,
/// NaN = missing), ``"image_shape"`` (``(height, width)`` or ``None``) and ``"name"``.
#[pyfunction]
#[pyo3(signature = (name, *, data_dir=None))]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    data_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let spec: DatasetSpec = name
        .parse()
        .map_err(|e: RegistryError| PyValueError::new_err(e.to_string()))?;
    let root = registry::resolve_root(data_dir.as_deref(), None);
    let loaded = py
        .detach(|| registry::load(&spec, &root, SPLIT_SEED))
        .map_err(einet::Error::from)
        .or_raise()?;
    let out = PyDict::new(py);
    for (key, part) in [
        ("train", &loaded.train),
        ("valid", &loaded.valid),
        ("test", &loaded.test),
    ] {
        let shape = arrays::row_shape(part.rows(), part.num_vars, part.num_channels, false);
        out.set_item(key, arrays::to_numpy(py, part.values.clone(), &shape)?)?;
    }
    let image_shape = match loaded.train.image_shape {
        Some((h, w)) => PyTuple::new(py, [h, w])?.into_any(),
        None => py.None().into_bound(py),
    };
    out.set_item("image_shape", image_shape)?;
    out.set_item("name", spec.to_string())?;
    Ok(out)
}
