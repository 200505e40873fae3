//! numpy arrays in and out. Rows come as arrays of float32, float64, integer or boolean dtype
//! in any memory order (C, Fortran, strided): `(rows, variables)`, `(rows, variables,
//! channels)`, or 1-D for a single row; NaN marks a missing value.

use einet::Dataset;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Rows read from an array, with the array's shape.
pub struct Rows {
    /// The argument's name, for messages (`x`, `x_train`, `evidence`).
    pub name: &'static str,
    /// The values in row-major order, as `f32`.
    pub values: Vec<f32>,
    /// The array's shape: `[values]`, `[rows, values]` or `[rows, variables, channels]`.
    pub shape: Vec<usize>,
}

impl Rows {
    /// Reads `x` (a numpy array or anything `numpy.asarray` takes), the argument `name`.
    pub fn from_py(x: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Rows> {
        let py = x.py();
        let array = py.import("numpy")?.call_method1("asarray", (x,))?;
        let dtype = array.getattr("dtype")?;
        let kind: String = dtype.getattr("kind")?.extract()?;
        if !matches!(kind.as_str(), "f" | "i" | "u" | "b") {
            return Err(PyValueError::new_err(format!(
                "{name} has dtype {dtype}; use float32, float64 or an integer dtype"
            )));
        }
        let copy = PyDict::new(py);
        copy.set_item("copy", false)?;
        let array = array
            .call_method("astype", ("float32",), Some(&copy))?
            .cast_into::<PyArrayDyn<f32>>()?;
        let shape = array.shape().to_vec();
        if !(1..=3).contains(&shape.len()) {
            return Err(PyValueError::new_err(format!(
                "{name} has shape {shape:?}; use a 1-D array for one row, (rows, variables) or \
                 (rows, variables, channels)"
            )));
        }
        let values = array.readonly().as_array().iter().copied().collect();
        Ok(Rows {
            name,
            values,
            shape,
        })
    }

    /// Whether the array was 1-D: one row.
    pub fn single(&self) -> bool {
        self.shape.len() == 1
    }

    /// The rows as a data set of `num_vars` variables × `channels` when the array holds rows
    /// of that many values; otherwise of the array's own shape, which the model's check then
    /// names.
    pub fn dataset(self, num_vars: usize, channels: usize) -> einet::Result<Dataset> {
        let (vars, chans) = match self.shape[..] {
            [.., v, c] if self.shape.len() == 3 => (v, c),
            [.., d] if channels > 1 && d == num_vars * channels => (num_vars, channels),
            [.., d] => (d, 1),
            [] => (0, 1),
        };
        Ok(Dataset::new(self.name, vars, chans, self.values)?)
    }

    /// The rows as a data set of their own shape: `(rows, variables[, channels])`.
    pub fn own_dataset(self) -> einet::Result<Dataset> {
        let (vars, chans) = match self.shape[..] {
            [_, v, c] => (v, c),
            [.., d] => (d, 1),
            [] => (0, 1),
        };
        self.dataset(vars, chans)
    }
}

/// The shape of `rows` rows of `num_vars` × `channels` values: 1-D for a `single` row of one
/// channel, without the channel axis when there is one channel.
pub fn row_shape(rows: usize, num_vars: usize, channels: usize, single: bool) -> Vec<usize> {
    let row: &[usize] = if channels == 1 {
        &[num_vars]
    } else {
        &[num_vars, channels]
    };
    let mut shape = if single { Vec::new() } else { vec![rows] };
    shape.extend_from_slice(row);
    shape
}

/// `values` as a float32 array of `shape`.
pub fn to_numpy<'py>(
    py: Python<'py>,
    values: Vec<f32>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, values)
        .reshape(shape.to_vec())?
        .into_any())
}

/// Log-likelihoods as a float64 array, or one float for a `single` row.
pub fn log_likelihoods<'py>(
    py: Python<'py>,
    ll: Vec<f32>,
    single: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let ll: Vec<f64> = ll.into_iter().map(f64::from).collect();
    match (single, ll.first()) {
        (true, Some(&l)) => Ok(l.into_pyobject(py)?.into_any()),
        _ => Ok(PyArray1::from_vec(py, ll).into_any()),
    }
}
