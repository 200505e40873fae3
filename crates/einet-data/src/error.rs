//! The error type of every reader and check in this crate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What went wrong while reading or checking data. Every message names the file, and the
/// 1-based line and column where they apply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// None of the candidate paths exists.
    #[error("{}", not_found_message(.tried))]
    NotFound {
        /// The paths looked at, most likely first.
        tried: Vec<PathBuf>,
    },
    /// The file exists but could not be read.
    #[error("{}: cannot read: {err}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        err: std::io::Error,
    },
    /// The file starts like gzip but its compressed stream is truncated or corrupt.
    #[error("{}: truncated or corrupt gzip data ({reason})", .path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's message.
        reason: String,
    },
    /// The file would take more memory than einet may use ([`einet_core::memory`]).
    #[error("{}: {reason}", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What it needs and the budget.
        reason: String,
    },
    /// The file holds no data rows.
    #[error("{}: the file is empty (no data rows)", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A text line has a different number of fields than the first data line.
    #[error("{}: line {line} has {found} fields, expected {expected}", .path.display())]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields on that line.
        found: usize,
        /// Fields on the first data line.
        expected: usize,
    },
    /// A text field is neither a number nor a missing-value marker.
    #[error("{}: line {line}, column {column}: '{value}' is not a number", .path.display())]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number.
        column: usize,
        /// The offending text.
        value: String,
    },
    /// A label field is not a non-negative integer.
    #[error(
        "{}: line {line}, column {column}: label '{value}' is not a non-negative integer",
        .path.display()
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number.
        column: usize,
        /// The offending text.
        value: String,
    },
    /// A binary file starts with the wrong magic number.
    #[error(
        "{}: wrong magic number {found:#010x} ({found}), expected {expected:#010x} ({expected})",
        .path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The number read.
        found: u32,
        /// The number the format requires.
        expected: u32,
    },
    /// A binary file is shorter than its header or record layout requires.
    #[error("{}: truncated: expected {expected} bytes, found {found}", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the layout requires (after decompression).
        expected: u64,
        /// Bytes present (after decompression).
        found: u64,
    },
    /// A binary file is longer than its header says.
    #[error(
        "{}: {} unexpected trailing bytes: expected {expected} bytes, found {found}",
        .path.display(), .found - .expected
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (after decompression).
        expected: u64,
        /// Bytes present (after decompression).
        found: u64,
    },
    /// Files or headers that must agree do not (e.g. image and label counts).
    #[error("{}: {message}", .path.display())]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What disagrees.
        message: String,
    },
    /// A value lies outside the support of the chosen leaf family.
    #[error("{location}: value {value} is not valid for {family} leaves")]
    OutOfRange {
        /// Where the value is: `FILE line L, column C` for text data, else
        /// `NAME row R, variable V` (0-based row and variable).
        location: String,
        /// 0-based row of the dataset.
        row: usize,
        /// 0-based variable.
        var: usize,
        /// 0-based channel.
        channel: usize,
        /// The value.
        value: f32,
        /// The family's name, e.g. `bernoulli`.
        family: String,
    },
    /// An argument is outside its domain (e.g. a split fraction outside [0, 1]).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn not_found_message(tried: &[PathBuf]) -> String {
    let mut s = String::from("data file not found: ");
    match tried.split_first() {
        Some((first, rest)) => {
            let _ = write!(s, "{}", first.display());
            if !rest.is_empty() {
                s.push_str(" (also looked for ");
                let others: Vec<String> = rest.iter().map(|p| p.display().to_string()).collect();
                s.push_str(&others.join(", "));
                s.push(')');
            }
        }
        None => s.push_str("(no path)"),
    }
    s.push_str(
        "; pass --data-dir or set EINET_DATA to a folder laid out like shared/data \
         (debd/, mnist/, cifar10-subset/, sklearn-digits/)",
    );
    s
}

impl DataError {
    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataError::NotFound { tried } => tried.first().map(PathBuf::as_path),
            DataError::Io { path, .. }
            | DataError::Gzip { path, .. }
            | DataError::TooLarge { path, .. }
            | DataError::Empty { path }
            | DataError::Ragged { path, .. }
            | DataError::NotANumber { path, .. }
            | DataError::BadLabel { path, .. }
            | DataError::BadMagic { path, .. }
            | DataError::Truncated { path, .. }
            | DataError::TrailingBytes { path, .. }
            | DataError::Inconsistent { path, .. } => Some(path),
            DataError::OutOfRange { .. } | DataError::InvalidArgument(_) => None,
        }
    }
}
