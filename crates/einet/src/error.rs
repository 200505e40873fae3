//! The error type of the `einet` library.

use einet_core::{BackendError, ConfigError, ModelFileError, StructureError};
use einet_data::{DataError, RegistryError};

/// The messages of an error and of its causes, outermost first, joined by `: ` on one line;
/// a cause whose text an outer message already shows is left out. Front ends print any
/// error chain this way (`anyhow::Error::chain` included).
pub fn chain_message<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut text = String::new();
    for cause in chain {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an `einet` call can fail with. [`Error::Context`] says what was being done and keeps
/// the cause as its [`source`](std::error::Error::source), so a front end can print the whole
/// chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A backend refused the input or failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A data file could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A data set could not be named or loaded.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A model file could not be read or written.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// A region graph is not valid.
    #[error(transparent)]
    Structure(#[from] StructureError),
    /// A model configuration is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A request that cannot be carried out, in words.
    #[error("{0}")]
    Invalid(String),
    /// Training stopped on request ([`TrainObserver::stop_requested`]) after `batches`
    /// batches of epoch `epoch`.
    ///
    /// [`TrainObserver::stop_requested`]: crate::TrainObserver::stop_requested
    #[error("training was interrupted after batch {batches} of epoch {epoch}")]
    Interrupted {
        /// The epoch that was running, from 1.
        epoch: usize,
        /// Batches of it that were done.
        batches: usize,
    },
    /// Rank `rank` of the `size` ranks of a data-parallel run failed with `message`, so
    /// every rank stopped ([`distributed::agree`](crate::distributed::agree)).
    #[error("rank {rank} of {size} failed: {message}")]
    RankFailed {
        /// The lowest rank that failed.
        rank: usize,
        /// Number of ranks.
        size: usize,
        /// Its error.
        message: String,
    },
    /// `message` failed because of `source`.
    #[error("{message}")]
    Context {
        /// What was being done.
        message: String,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An [`Error::Invalid`] with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// The message with every cause after it, joined by `: ` ([`chain_message`]).
    pub fn report(&self) -> String {
        chain_message(std::iter::successors(
            Some(self as &(dyn std::error::Error + 'static)),
            |e| e.source(),
        ))
    }
}

/// Adds what was being done to an error, as [`Error::Context`].
pub trait ErrorContext<T> {
    /// Wraps the error with `message`.
    fn context(self, message: impl Into<String>) -> Result<T>;
    /// Wraps the error with the message `f` makes (only on failure).
    fn with_context(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> ErrorContext<T> for std::result::Result<T, E> {
    fn context(self, message: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context {
            message: message.into(),
            source: Box::new(e.into()),
        })
    }

    fn with_context(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Context {
            message: f(),
            source: Box::new(e.into()),
        })
    }
}
