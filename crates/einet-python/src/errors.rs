//! `einet` errors as Python exceptions, with the one-line message the command line prints.

use einet::Error;
use einet::core::{BackendError, ModelFileError};
use einet::data::DataError;
use einet::registry::RegistryError;
use pyo3::PyErr;
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError,
};

/// Which Python exception an error becomes.
enum Kind {
    /// A file that does not exist: `FileNotFoundError`.
    NotFound,
    /// Another file system failure: `OSError`.
    Os,
    /// A device that is missing or failed: `RuntimeError`.
    Device,
    /// Training stopped on request: `KeyboardInterrupt`.
    Interrupted,
    /// Bad data, options or model files: `ValueError`.
    Value,
}

/// The exception for `error`: `FileNotFoundError` or `OSError` for files, `RuntimeError`
/// for a missing or failing device, `KeyboardInterrupt` for an interrupted training and
/// `ValueError` for everything else (data, shapes, options, model files), each with
/// [`Error::report`]'s message.
fn to_py(error: Error) -> PyErr {
    let message = error.report();
    match kind(&error) {
        Kind::NotFound => PyFileNotFoundError::new_err(message),
        Kind::Os => PyOSError::new_err(message),
        Kind::Device => PyRuntimeError::new_err(message),
        Kind::Interrupted => PyKeyboardInterrupt::new_err(message),
        Kind::Value => PyValueError::new_err(message),
    }
}

fn kind(error: &Error) -> Kind {
    match error {
        Error::Context { source, .. } => kind(source),
        Error::Backend(BackendError::Unavailable(_) | BackendError::Device(_)) => Kind::Device,
        Error::Io(e) | Error::ModelFile(ModelFileError::Io { source: e, .. }) => io_kind(e),
        Error::Data(e) => data_kind(e),
        Error::Registry(
            RegistryError::Load { source, .. } | RegistryError::UnknownDebd { source, .. },
        ) => data_kind(source),
        Error::Interrupted { .. } => Kind::Interrupted,
        _ => Kind::Value,
    }
}

fn data_kind(error: &DataError) -> Kind {
    match error {
        DataError::NotFound { .. } => Kind::NotFound,
        DataError::Io { err, .. } => io_kind(err),
        _ => Kind::Value,
    }
}

fn io_kind(error: &std::io::Error) -> Kind {
    match error.kind() {
        std::io::ErrorKind::NotFound => Kind::NotFound,
        _ => Kind::Os,
    }
}

/// `einet` results as Python results.
pub trait OrRaise<T> {
    /// The value, or the error as its Python exception (see `to_py`).
    fn or_raise(self) -> Result<T, PyErr>;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self) -> Result<T, PyErr> {
        self.map_err(to_py)
    }
}
