//! # einet
//!
//! Einsum Networks (Peharz et al., ICML 2020) — deep tractable probabilistic circuits trained
//! by EM — on the CPU or a CUDA GPU. This is the crate to depend on: it chooses the
//! [`Device`], builds models from a [`ModelSpec`], trains them with the [`Trainer`] and
//! answers exact queries through [`Model`]: log-likelihoods with missing values, marginals,
//! conditionals `log p(x_A | x_B)`, samples, conditional samples and both MPEs. Mixtures of
//! EiNets, with their own file format, are an [`EinetMixture`].
//!
//! ```
//! use einet::{Device, ModelSpec, Model, TrainConfig, Trainer};
//!
//! let spec = ModelSpec { k: Some(4), ..ModelSpec::default() };
//! let data = spec.load_data(&"nltcs".parse()?, None)?; // shipped with the repository
//! let built = spec.build(&data, 0)?;
//! let config = TrainConfig { epochs: 1, ..TrainConfig::default() };
//! let trained = Trainer::new(Device::cpu(), config).fit(built, &data, &mut ())?;
//! assert!(trained.best().test_ll < 0.0);
//!
//! let mut model = Model::new(trained.einet, Device::cpu())?;
//! let rows = &data.data.test.values[..16 * 2];
//! // log p(x_0 | x_1, x_2) for the first two test rows.
//! let ll = model.conditional_log_likelihood(rows, &[0], &[1, 2])?;
//! assert!(ll.iter().all(|&l| l <= 0.0));
//! # Ok::<(), einet::Error>(())
//! ```
//!
//! The layers below: `einet-core` (region graphs, layout, leaves, parameters, model files,
//! the [`Backend`] trait), `einet-cpu` and `einet-cuda` (the backends), `einet-data` (data
//! sets and the [`registry`]).

#[cfg(feature = "clap")]
pub mod args;
pub mod checkpoint;
pub mod conditionals;
pub mod device;
pub mod distributed;
pub mod error;
pub mod hclt;
pub mod images;
pub mod in_memory;
pub mod leaves;
pub mod mask;
pub mod mixture;
pub mod model_spec;
pub mod provenance;
pub mod queries;
pub mod record;
pub mod structure;
pub mod train;

pub use checkpoint::Checkpoint;
pub use device::{Device, Precision};
pub use error::{Error, ErrorContext, Result};
pub use hclt::HcltSpec;
pub use leaves::{ColumnLeaf, LeafChoice};
pub use mask::HideSpec;
pub use mixture::EinetMixture;
pub use model_spec::{
    BuiltModel, DEFAULT_K, DEFAULT_K_IMAGES, ModelSpec, SMALL_TABLE_ROWS, TrainingData,
};
pub use queries::Model;
pub use record::{EmRecord, TrainingRecord, data_info, load_model};
pub use structure::{StructureRecord, StructureSpec};
pub use train::{
    BatchProgress, CheckpointAt, EpochMetrics, TrainConfig, TrainObserver, Trained, Trainer,
};

pub use einet_core::{
    Backend, BackendError, BackendModel, Einet, EinetConfig, EmConfig, EmMode, LeafFamily,
    LeafInit, MpeKind, Params, RegionGraph, Regularisation, Root, StepwiseRule,
};
pub use einet_data::registry;
pub use einet_data::table;
pub use einet_data::{DataInfo, Dataset, DatasetSpec, Loaded, Split, data_root};

/// The backend-independent building blocks (region graphs, layout, leaves, EM).
pub use einet_core as core;
/// The CPU reference backend.
pub use einet_cpu as cpu;
/// The data readers, splits and batching.
pub use einet_data as data;
