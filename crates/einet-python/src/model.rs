//! `einet.Model`: a model spec until `fit` trains it (or `einet.load` reads one), then every
//! query. The GIL is released while the library trains and answers.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use einet::train::INIT_PSEUDOCOUNT;
use einet::{
    DataInfo, Device, EmConfig, EmMode, EpochMetrics, Error, HcltSpec, LeafChoice, LeafInit,
    ModelSpec, MpeKind, StepwiseRule, StructureRecord, StructureSpec, TrainConfig, Trainer,
    TrainingRecord, data_info, load_model,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{self, Rows};
use crate::errors::OrRaise;
use crate::progress::Progress;

/// A model with its parameters on a device.
struct Fitted {
    /// The model and its device.
    model: einet::Model,
    /// Model value = raw value · `scale` (the training record's; 1 when there is none).
    scale: f32,
    /// One line for `repr`.
    summary: String,
}

impl Fitted {
    /// `einet` on `device`, its data on the scale of `info`.
    fn new(einet: einet::Einet, info: Option<DataInfo>, device: Device) -> einet::Result<Self> {
        let summary = summary(&einet, info.as_ref());
        Ok(Fitted {
            scale: info.map_or(1.0, |i| i.scale),
            summary,
            model: einet::Model::new(einet, device)?,
        })
    }

    /// `rows` on the model's scale, checked against the model (shape and leaf families).
    fn rows(&self, rows: Rows) -> einet::Result<Vec<f32>> {
        let layout = self.model.layout();
        let mut data = rows.dataset(layout.num_vars, layout.num_channels)?;
        if self.scale != 1.0 {
            data.values.iter_mut().for_each(|v| *v *= self.scale);
        }
        self.model.check(&data)?;
        Ok(data.values)
    }

    /// Rows on the model's scale back on the data's.
    fn unscaled(&self, mut values: Vec<f32>) -> Vec<f32> {
        if self.scale != 1.0 {
            values.iter_mut().for_each(|v| *v /= self.scale);
        }
        values
    }

    /// The array shape of `rows` rows (1-D for a `single` one).
    fn shape(&self, rows: usize, single: bool) -> Vec<usize> {
        let layout = self.model.layout();
        arrays::row_shape(rows, layout.num_vars, layout.num_channels, single)
    }
}

/// One line about a model: shape, leaves, size, structure and training.
fn summary(einet: &einet::Einet, info: Option<&DataInfo>) -> String {
    let layout = &einet.layout;
    let mut text = format!(
        "{} variables{}, {} leaves, K={}, {} parameters",
        layout.num_vars,
        match layout.num_channels {
            1 => String::new(),
            c => format!(" × {c} channels"),
        },
        einet.config.leaves.default.name(),
        einet.config.k_sum,
        layout.num_params()
    );
    let training = &einet.training;
    if let Some(structure) = training
        .get("structure")
        .and_then(|s| serde_json::from_value::<StructureRecord>(s.clone()).ok())
    {
        text.push_str(&format!(", {}", structure.summary()));
    }
    if let (Some(info), Some(valid)) = (info, training.get("valid_ll").and_then(|v| v.as_f64())) {
        text.push_str(&format!(
            "; trained on {}, valid LL {valid:.4}",
            info.dataset
        ));
    }
    text
}

/// The device `name` (`cpu`, `cuda`, `cuda:N`) with `threads` CPU threads, checked: an unknown
/// name is a `ValueError`, a GPU that cannot be used a `RuntimeError`.
fn device(name: &str, threads: Option<usize>) -> PyResult<Device> {
    let cpu = Device::Cpu { threads };
    let device = match name.parse::<Device>() {
        Ok(Device::Cpu { .. }) => cpu,
        Ok(device) => device,
        Err(Error::Invalid(message)) => return Err(PyValueError::new_err(message)),
        Err(e) => return Err(PyRuntimeError::new_err(e.report())),
    };
    cpu.init().or_raise()?;
    device
        .init()
        .map_err(|e| PyRuntimeError::new_err(e.report()))?;
    Ok(device)
}

/// `value` if it is positive, else a `ValueError` naming `what`.
fn positive(what: &str, value: usize) -> PyResult<usize> {
    match value {
        0 => Err(PyValueError::new_err(format!(
            "{what} must be a positive integer, got 0"
        ))),
        n => Ok(n),
    }
}

/// `"a"`, `"a" or "b"`, … for messages.
fn choices(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(" or ")
}

/// The structure options of `Model(...)`.
struct StructureOptions {
    depth: Option<usize>,
    repetitions: Option<usize>,
    delta: Option<Vec<Vec<f64>>>,
    axes: Option<Vec<usize>>,
    max_split_depth: Option<usize>,
    trees: Option<usize>,
}

impl StructureOptions {
    /// The structure `kind` (`auto`, `rat`, `pd`, `hclt`, `json:PATH`) with these options; an
    /// option of another structure is a `ValueError`.
    fn spec(self, kind: &str) -> PyResult<StructureSpec> {
        let rat = self.depth.is_some() || self.repetitions.is_some();
        let pd = self.delta.is_some() || self.axes.is_some() || self.max_split_depth.is_some();
        let hclt = self.trees.is_some();
        let only = |options: &str, structure: &str| {
            Err(PyValueError::new_err(format!(
                "{options} apply to structure='{structure}' only"
            )))
        };
        let json = kind.strip_prefix("json:").filter(|p| !p.is_empty());
        if rat && kind != "rat" {
            return only("depth and repetitions", "rat");
        }
        if pd && kind != "pd" {
            return only("delta, axes and max_split_depth", "pd");
        }
        if hclt && kind != "hclt" {
            return only("trees", "hclt");
        }
        Ok(match (kind, json) {
            (_, Some(path)) => StructureSpec::Json { path: path.into() },
            ("auto", _) => StructureSpec::Auto,
            ("rat", _) => StructureSpec::Rat {
                depth: self.depth,
                repetitions: self.repetitions,
            },
            ("pd", _) => StructureSpec::Pd {
                deltas: self.delta.unwrap_or_default(),
                axes: self.axes,
                max_split_depth: self.max_split_depth,
            },
            ("hclt", _) => StructureSpec::Hclt(HcltSpec {
                trees: self.trees,
                ..HcltSpec::default()
            }),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "unknown structure '{kind}'; use {} or 'json:PATH'",
                    choices(&["auto", "rat", "pd", "hclt"])
                )));
            }
        })
    }
}

/// `delta` as `Model` takes it: one step size, one per axis, or a list of those.
fn deltas(delta: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<f64>>> {
    if let Ok(d) = delta.extract::<f64>() {
        return Ok(vec![vec![d]]);
    }
    if let Ok(d) = delta.extract::<Vec<f64>>() {
        return Ok(vec![d]);
    }
    delta.extract::<Vec<Vec<f64>>>().map_err(|_| {
        PyValueError::new_err(
            "delta must be a number, a list of numbers (one per axis) or a list of such lists",
        )
    })
}

/// The EM schedule `fit` was asked for.
struct Schedule<'a> {
    epochs: usize,
    em: &'a str,
    step_size: f32,
    step_size_end: Option<f32>,
    full_batch_epochs: usize,
    frequency: usize,
    stepwise_rule: &'a str,
    pseudocount: f32,
    leaf_init: &'a str,
    init_rows: usize,
    patience: Option<usize>,
    batch_size: usize,
    seed: u64,
}

impl Schedule<'_> {
    /// The library's training configuration; a bad option is a `ValueError`.
    fn config(&self) -> PyResult<TrainConfig> {
        let rule = match self.stepwise_rule {
            "parameters" => StepwiseRule::Parameters,
            "statistics" => StepwiseRule::Statistics,
            other => {
                return Err(PyValueError::new_err(format!(
                    "stepwise_rule must be {}, got '{other}'",
                    choices(&["parameters", "statistics"])
                )));
            }
        };
        let mode = match self.em {
            "stepwise" => EmMode::Stepwise {
                frequency: positive("frequency", self.frequency)?,
                step_size: self.step_size,
                rule,
            },
            "full" => EmMode::FullBatch,
            other => {
                return Err(PyValueError::new_err(format!(
                    "em must be {}, got '{other}'",
                    choices(&["stepwise", "full"])
                )));
            }
        };
        let leaf_init = match self.leaf_init {
            "random" => LeafInit::Random,
            "data" => LeafInit::Data {
                rows: positive("init_rows", self.init_rows)?,
                pseudocount: INIT_PSEUDOCOUNT,
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "leaf_init must be {}, got '{other}'",
                    choices(&["random", "data"])
                )));
            }
        };
        Ok(TrainConfig {
            em: EmConfig {
                mode,
                pseudocount: self.pseudocount,
                regularisation: Default::default(),
            },
            leaf_init,
            epochs: self.epochs,
            batch_size: positive("batch_size", self.batch_size)?,
            seed: self.seed,
            eval_train: true,
            patience: self.patience.map(|p| positive("patience", p)).transpose()?,
            mini_batch_runs_all_epochs: false,
            step_size_end: self.step_size_end,
            full_batch_epochs: self.full_batch_epochs,
        })
    }
}

/// The metrics of one epoch as a dict; `valid_ll` and `test_ll` only for the parts given.
fn epoch_dict<'py>(
    py: Python<'py>,
    m: &EpochMetrics,
    (valid, test): (bool, bool),
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", m.epoch)?;
    d.set_item("train_ll", m.train_ll)?;
    d.set_item("train_ll_running", m.train_ll_running)?;
    if valid {
        d.set_item("valid_ll", m.valid_ll)?;
    }
    if test {
        d.set_item("test_ll", m.test_ll)?;
    }
    d.set_item("seconds", m.seconds)?;
    d.set_item("eval_seconds", m.eval_seconds)?;
    d.set_item("samples_per_s", m.samples_per_s)?;
    d.set_item("improved", m.improved)?;
    Ok(d)
}

/// `value` (JSON) as a Python object.
fn from_json<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| PyValueError::new_err(format!("cannot write JSON: {e}")))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// An Einsum Network.
///
/// ``Model(structure="auto", *, k=None, k_leaf=None, leaf=None, layer=None, depth=None,
/// repetitions=None, delta=None, axes=None, max_split_depth=None, trees=None)`` describes a
/// model; ``fit`` builds and trains it (a learned structure from ``x_train``). ``structure``
/// is ``"auto"`` (Poon–Domingos for images, else random binary trees), ``"rat"`` (random
/// binary trees: ``depth``, ``repetitions``), ``"pd"`` (Poon–Domingos: ``delta``, ``axes``,
/// ``max_split_depth``), ``"hclt"`` (hidden Chow–Liu trees: ``trees``) or ``"json:PATH"`` (a
/// region-graph file). ``k`` and ``k_leaf`` are the vector lengths of internal and leaf
/// regions; ``leaf`` is ``"bernoulli"``, ``"categorical[:N]"``, ``"binomial[:N]"`` or
/// ``"normal[:MIN_VAR,MAX_VAR]"``; ``layer`` is ``"tucker"`` or ``"cp"``. Options left out
/// take the command line's defaults for the data.
///
/// Rows are numpy arrays (float32, float64, integer or bool; any memory order) of shape
/// ``(rows, variables)``, ``(rows, variables, channels)`` or 1-D for one row; NaN marks a
/// missing value, which the queries marginalise exactly.
#[pyclass(module = "einet", frozen)]
pub struct Model {
    /// What `fit` builds; `None` for a model read from a file.
    spec: Option<ModelSpec>,
    /// The trained model, once there is one.
    fitted: Mutex<Option<Fitted>>,
}

impl Model {
    /// Runs `f` on the trained model with the GIL released.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Fitted) -> einet::Result<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut fitted = self.fitted.lock().unwrap_or_else(PoisonError::into_inner);
            fitted.as_mut().map(f)
        })
        .ok_or_else(|| {
            PyValueError::new_err("the model is not trained yet; call fit(x_train) first")
        })?
        .or_raise()
    }

    fn with_spec(spec: ModelSpec) -> Self {
        Model {
            spec: Some(spec),
            fitted: Mutex::new(None),
        }
    }
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (structure="auto", *, k=None, k_leaf=None, leaf=None, layer=None,
        depth=None, repetitions=None, delta=None, axes=None, max_split_depth=None, trees=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        structure: &str,
        k: Option<usize>,
        k_leaf: Option<usize>,
        leaf: Option<&str>,
        layer: Option<&str>,
        depth: Option<usize>,
        repetitions: Option<usize>,
        delta: Option<&Bound<'_, PyAny>>,
        axes: Option<Vec<usize>>,
        max_split_depth: Option<usize>,
        trees: Option<usize>,
    ) -> PyResult<Self> {
        let structure = StructureOptions {
            depth,
            repetitions,
            delta: delta.map(deltas).transpose()?,
            axes,
            max_split_depth,
            trees,
        }
        .spec(structure)?;
        let leaf = leaf.map(str::parse::<LeafChoice>).transpose().or_raise()?;
        let layer = layer
            .map(str::parse)
            .transpose()
            .map_err(PyValueError::new_err)?;
        Ok(Model::with_spec(ModelSpec {
            structure,
            k: k.map(|k| positive("k", k)).transpose()?,
            k_leaf: k_leaf.map(|k| positive("k_leaf", k)).transpose()?,
            leaf,
            column_leaves: Vec::new(),
            layer,
        }))
    }

    /// A model described by ``spec``, a dict in the form of ``Model.spec`` (the library's
    /// ``ModelSpec`` as JSON), e.g. ``{"structure": {"kind": "rat", "depth": 3}, "k": 10}``.
    #[staticmethod]
    fn from_spec(spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        let text: String = spec
            .py()
            .import("json")?
            .call_method1("dumps", (spec,))?
            .extract()?;
        let spec: ModelSpec = serde_json::from_str(&text)
            .map_err(|e| PyValueError::new_err(format!("not a model spec: {e}")))?;
        Ok(Model::with_spec(spec))
    }

    /// What ``fit`` builds, as a dict for ``Model.from_spec`` (``None`` for a model read from a
    /// file).
    #[getter]
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.spec.as_ref().map(|s| from_json(py, s)).transpose()
    }

    /// The training record stored in the model file (data set, structure, EM settings, the
    /// kept epoch's log-likelihoods), as a dict; ``None`` before training.
    #[getter]
    fn training<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let record = self.run(py, |f| Ok(f.model.training().clone())).ok();
        record.map(|r| from_json(py, &r)).transpose()
    }

    /// Number of variables (raises ``ValueError`` before training).
    #[getter]
    fn num_vars(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, |f| Ok(f.model.layout().num_vars))
    }

    /// Number of parameters (raises ``ValueError`` before training).
    #[getter]
    fn num_params(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, |f| Ok(f.model.layout().num_params()))
    }

    /// The device the model runs on: ``"cpu"`` or ``"cuda"`` (raises ``ValueError`` before
    /// training).
    #[getter]
    fn device(&self, py: Python<'_>) -> PyResult<String> {
        self.run(py, |f| Ok(f.model.device().to_string()))
    }

    /// Builds the model for ``x_train`` (seeded by ``seed``) and trains it with EM, keeping
    /// the parameters of the epoch with the best log-likelihood on ``x_valid`` (on
    /// ``x_train`` when there is none); ``x_test`` is evaluated after every epoch. The
    /// options are those of ``einet train``: ``em`` (``"stepwise"`` or ``"full"``),
    /// ``step_size``, ``step_size_end`` (anneal linearly to it), ``full_batch_epochs``,
    /// ``frequency``, ``stepwise_rule`` (``"parameters"`` or ``"statistics"``),
    /// ``pseudocount``, ``leaf_init`` (``"random"`` or ``"data"``), ``init_rows``,
    /// ``patience``, ``batch_size``; ``image_shape=(height, width)`` marks the rows as images;
    /// ``device`` is ``"cpu"`` or ``"cuda"``, ``threads`` the CPU threads (default: one per
    /// core). ``progress`` shows a tqdm bar per epoch (plain lines without tqdm).
    ///
    /// The same data, options and seed give the model ``einet train`` gives. Returns the
    /// history: one dict per epoch (``epoch``, ``train_ll``, ``train_ll_running``,
    /// ``valid_ll`` and ``test_ll`` when those parts are given, ``seconds``,
    /// ``eval_seconds``, ``samples_per_s``, ``improved``), log-likelihoods in nats per row.
    /// Ctrl-C stops training after the running batch and raises ``KeyboardInterrupt``.
    #[pyo3(signature = (x_train, x_valid=None, x_test=None, *, epochs=10, em="stepwise",
        step_size=0.05, step_size_end=None, full_batch_epochs=0, frequency=1,
        stepwise_rule="parameters", pseudocount=0.0, leaf_init="random", init_rows=10,
        patience=None, batch_size=100, seed=0, image_shape=None, device="cpu", threads=None,
        progress=true))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &self,
        py: Python<'py>,
        x_train: &Bound<'py, PyAny>,
        x_valid: Option<&Bound<'py, PyAny>>,
        x_test: Option<&Bound<'py, PyAny>>,
        epochs: usize,
        em: &str,
        step_size: f32,
        step_size_end: Option<f32>,
        full_batch_epochs: usize,
        frequency: usize,
        stepwise_rule: &str,
        pseudocount: f32,
        leaf_init: &str,
        init_rows: usize,
        patience: Option<usize>,
        batch_size: usize,
        seed: u64,
        image_shape: Option<(usize, usize)>,
        device: &str,
        threads: Option<usize>,
        progress: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let Some(spec) = self.spec.clone() else {
            return Err(PyValueError::new_err(
                "this model was read from a file; fit trains a new model: einet.Model(...).fit",
            ));
        };
        let config = Schedule {
            epochs,
            em,
            step_size,
            step_size_end,
            full_batch_epochs,
            frequency,
            stepwise_rule,
            pseudocount,
            leaf_init,
            init_rows,
            patience,
            batch_size,
            seed,
        }
        .config()?;
        let device = self::device(device, threads)?;
        let train = Rows::from_py(x_train, "x_train")?;
        let valid = x_valid.map(|x| Rows::from_py(x, "x_valid")).transpose()?;
        let test = x_test.map(|x| Rows::from_py(x, "x_test")).transpose()?;
        let parts = (valid.is_some(), test.is_some());
        let mut observer = Progress::new(py, progress, parts);
        let trained = py.detach(|| {
            let part = |rows: Rows| -> einet::Result<einet::Dataset> {
                let data = rows.own_dataset()?;
                Ok(match image_shape {
                    Some((h, w)) => data.with_image_shape(h, w)?,
                    None => data,
                })
            };
            let train = part(train)?;
            let valid = valid.map(part).transpose()?;
            let test = test.map(part).transpose()?;
            let data = spec.prepare_rows("arrays", train, valid, test)?;
            let built = spec.build(&data, config.seed)?;
            let trained = Trainer::new(device, config).fit(built, &data, &mut observer)?;
            let tool = format!("einet-python {} (fit)", env!("CARGO_PKG_VERSION"));
            let record = TrainingRecord::new(&trained, &data, &config, &device, tool);
            let mut einet = trained.einet;
            einet.training = record.to_json();
            let fitted = Fitted::new(einet, Some(data.data.info), device)?;
            Ok((fitted, trained.history))
        });
        observer.close();
        if let Some(raised) = observer.raised.take() {
            return Err(raised);
        }
        let (fitted, history) = trained.or_raise()?;
        py.detach(|| *self.fitted.lock().unwrap_or_else(PoisonError::into_inner) = Some(fitted));
        let history = history
            .iter()
            .map(|m| epoch_dict(py, m, parts))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, history)
    }

    /// ``log p(x)`` of every row (nats): a float64 array, or a float for a 1-D row. Missing
    /// values (NaN) are marginalised, so a row with missing values gets the log-probability
    /// of its observed part.
    fn log_likelihood<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rows = Rows::from_py(x, "x")?;
        let single = rows.single();
        let ll = self.run(py, |f| {
            let values = f.rows(rows)?;
            f.model.log_likelihood(&values)
        })?;
        arrays::log_likelihoods(py, ll, single)
    }

    /// ``log p(x_query | x_rest)`` of every row: the query variables (an index or a list of
    /// indices) given every other observed variable of the row (missing ones are
    /// marginalised). A float64 array, or a float for a 1-D row.
    fn conditional<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        query: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query: Vec<i64> = match query.extract::<i64>() {
            Ok(v) => vec![v],
            Err(_) => query.extract().map_err(|_| {
                PyValueError::new_err("query must be a variable index or a list of indices")
            })?,
        };
        let query = query
            .into_iter()
            .map(|v| {
                usize::try_from(v)
                    .map_err(|_| PyValueError::new_err(format!("variable {v} does not exist")))
            })
            .collect::<PyResult<Vec<usize>>>()?;
        let rows = Rows::from_py(x, "x")?;
        let single = rows.single();
        let ll = self.run(py, |f| {
            let values = f.rows(rows)?;
            let evidence: Vec<usize> = (0..f.model.layout().num_vars)
                .filter(|v| !query.contains(v))
                .collect();
            f.model
                .conditional_log_likelihood(&values, &query, &evidence)
        })?;
        arrays::log_likelihoods(py, ll, single)
    }

    /// ``n`` samples from the model, or one sample per row of ``evidence`` from
    /// ``p(missing | observed)`` (its NaN values are drawn, the others kept); ``n`` with a
    /// 1-D ``evidence`` row draws ``n`` completions of it. Reproducible by ``seed``. A float32
    /// array shaped like the rows.
    #[pyo3(signature = (n=None, evidence=None, *, seed=0))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: Option<usize>,
        evidence: Option<&Bound<'py, PyAny>>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(evidence) = evidence else {
            let n = n.ok_or_else(|| {
                PyValueError::new_err("sample needs n (how many samples) or evidence rows")
            })?;
            let (values, shape) = self.run(py, |f| {
                let values = f.model.sample(n, seed)?;
                Ok((f.unscaled(values), f.shape(n, false)))
            })?;
            return arrays::to_numpy(py, values, &shape);
        };
        let mut rows = Rows::from_py(evidence, "evidence")?;
        let single = rows.single() && n.is_none();
        let count = rows.shape[0];
        match (n, rows.single()) {
            (Some(n), true) => {
                rows.values = rows.values.repeat(n);
                rows.shape.insert(0, n);
            }
            (Some(n), false) if n != count => {
                return Err(PyValueError::new_err(format!(
                    "n is {n}, but evidence has {count} rows; give n only with one evidence row"
                )));
            }
            _ => {}
        }
        let (values, shape) = self.run(py, |f| {
            let values = f.rows(rows)?;
            let rows = values.len() / f.model.row_len();
            let values = f.model.sample_conditional(&values, seed)?;
            Ok((f.unscaled(values), f.shape(rows, single)))
        })?;
        arrays::to_numpy(py, values, &shape)
    }

    /// Every row of ``x`` with its missing (NaN) values completed by a most probable state:
    /// the exact max-product MPE, or with ``exact=False`` the reference's approximation
    /// (a sum-product pass, then arg-max backtracking). A float32 array shaped like ``x``.
    #[pyo3(signature = (x, exact=true))]
    fn mpe<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        exact: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rows = Rows::from_py(x, "x")?;
        let single = rows.single();
        let kind = if exact {
            MpeKind::MaxProduct
        } else {
            MpeKind::Approximate
        };
        let (values, shape) = self.run(py, |f| {
            let values = f.rows(rows)?;
            let rows = values.len() / f.model.row_len();
            let values = f.model.mpe(&values, kind)?;
            Ok((f.unscaled(values), f.shape(rows, single)))
        })?;
        arrays::to_numpy(py, values, &shape)
    }

    /// Writes the model file (atomically), the format ``einet.load`` and the ``einet``
    /// command line read.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        self.run(py, |f| f.model.save(&path))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        if let Ok(summary) = self.run(py, |f| Ok(f.summary.clone())) {
            return Ok(format!("einet.Model({summary})"));
        }
        let spec = self.spec(py)?.map(|s| s.repr()).transpose()?;
        Ok(format!(
            "einet.Model.from_spec({})",
            spec.map_or_else(|| "None".into(), |s| s.to_string())
        ))
    }
}

/// Reads a model file written by ``Model.save`` or by the ``einet`` command line (``einet
/// train``) and puts it on ``device`` (``"cpu"`` or ``"cuda"``). Rows given to its queries
/// are on the scale of the data it was trained on.
#[pyfunction]
#[pyo3(signature = (path, *, device="cpu", threads=None))]
pub fn load(
    py: Python<'_>,
    path: PathBuf,
    device: &str,
    threads: Option<usize>,
) -> PyResult<Model> {
    let device = self::device(device, threads)?;
    let fitted = py
        .detach(|| {
            let einet = load_model(&path)?;
            let info = data_info(&einet, &path)?;
            Fitted::new(einet, info, device)
        })
        .or_raise()?;
    Ok(Model {
        spec: None,
        fitted: Mutex::new(Some(fitted)),
    })
}
