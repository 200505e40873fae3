//! Error types of `einet-core`.

use std::path::PathBuf;

/// Why a region graph (built, or read from a user's file) is not a valid region graph.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StructureError {
    /// The graph has no variables.
    #[error("a region graph needs at least one variable")]
    NoVariables,
    /// The graph has no regions.
    #[error("a region graph needs at least one region")]
    NoRegions,
    /// Replica list and region list differ in length.
    #[error("{regions} regions but {replicas} replica indices")]
    ReplicaCount {
        /// Number of regions.
        regions: usize,
        /// Number of replica indices.
        replicas: usize,
    },
    /// A region has an empty scope.
    #[error("region {region} has an empty scope")]
    EmptyRegion {
        /// The region.
        region: usize,
    },
    /// A variable appears twice in a scope.
    #[error("region {region} lists variable {var} twice")]
    DuplicateVariable {
        /// The region.
        region: usize,
        /// The repeated variable.
        var: u32,
    },
    /// A scope names a variable outside `0..num_vars`.
    #[error("region {region} contains variable {var}, but the graph has only {num_vars} variables")]
    VariableOutOfRange {
        /// The region.
        region: usize,
        /// The offending variable.
        var: u32,
        /// Number of variables.
        num_vars: usize,
    },
    /// A partition names a region that does not exist.
    #[error("partition {partition} refers to region {region}, which does not exist")]
    UnknownRegion {
        /// The partition.
        partition: usize,
        /// The missing region id.
        region: usize,
    },
    /// A partition has no children.
    #[error("partition {partition} has no children")]
    EmptyPartition {
        /// The partition.
        partition: usize,
    },
    /// The graph has a directed cycle.
    #[error("the graph is not a DAG: region {region} lies on a cycle")]
    Cycle {
        /// A region on the cycle.
        region: usize,
    },
    /// A partition's children share a variable.
    #[error("partition {partition} is not decomposable: two children contain variable {var}")]
    NotDecomposable {
        /// The partition.
        partition: usize,
        /// A shared variable.
        var: u32,
    },
    /// A partition's children do not cover its region's scope exactly.
    #[error(
        "partition {partition} is not smooth: its children do not cover exactly the scope of region {parent}"
    )]
    NotSmooth {
        /// The partition.
        partition: usize,
        /// Its parent region.
        parent: usize,
    },
    /// More than one region has no parent.
    #[error("the graph has {} roots (regions without a parent): {roots:?}; it needs exactly one", roots.len())]
    MultipleRoots {
        /// The parentless regions.
        roots: Vec<usize>,
    },
    /// The root does not cover all variables.
    #[error("the root region {root} covers {covered} variables, but the graph has {num_vars}")]
    RootScope {
        /// The root.
        root: usize,
        /// Variables it covers.
        covered: usize,
        /// Number of variables.
        num_vars: usize,
    },
    /// Bad builder parameters (RAT depth, PD deltas, ...).
    #[error("{0}")]
    InvalidParameters(String),
    /// A JSON region-graph file could not be parsed.
    #[error("region-graph JSON: {0}")]
    Json(String),
    /// A structure could not be learned from the data given.
    #[error("cannot learn a structure: {0}")]
    Learning(String),
}

/// Errors in model configuration (K, leaf families, classes).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ConfigError {
    /// A configuration value is out of its valid range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Errors reading or writing a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid einet model (truncated, corrupted, or not a model file).
    #[error("{path}: not a valid einet model file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was written by a newer einet with a format this version cannot read.
    #[error(
        "{path}: model format version {found} is newer than this einet supports ({supported}); upgrade einet"
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
}

/// What a backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot run here (no driver, no device, missing library).
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The input does not fit the model.
    #[error("invalid input: {0}")]
    Input(String),
    /// The device failed (out of memory, kernel error).
    #[error("device error: {0}")]
    Device(String),
}
