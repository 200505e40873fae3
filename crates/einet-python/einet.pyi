"""Einsum Networks: deep tractable probabilistic circuits trained by EM (type stubs)."""

import os
from typing import Any, Optional, Sequence, Tuple, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = npt.ArrayLike
PathLike = Union[str, "os.PathLike[str]"]

class Epoch(TypedDict, total=False):
    """The metrics of one training epoch (log-likelihoods in nats per row)."""

    epoch: int
    train_ll: float
    train_ll_running: float
    valid_ll: float
    test_ll: float
    seconds: float
    eval_seconds: float
    samples_per_s: float
    improved: bool

class Dataset(TypedDict):
    """A data set as ``load_dataset`` returns it."""

    train: npt.NDArray[np.float32]
    valid: npt.NDArray[np.float32]
    test: npt.NDArray[np.float32]
    image_shape: Optional[Tuple[int, int]]
    name: str

class Model:
    """An Einsum Network: a description until ``fit`` trains it, then every query.

    Rows are arrays of float32, float64, integer or bool dtype in any memory order, shaped
    ``(rows, variables)``, ``(rows, variables, channels)`` or 1-D for one row; NaN marks a
    missing value, which the queries marginalise exactly.
    """

    def __init__(
        self,
        structure: str = "auto",
        *,
        k: Optional[int] = None,
        k_leaf: Optional[int] = None,
        leaf: Optional[str] = None,
        layer: Optional[str] = None,
        depth: Optional[int] = None,
        repetitions: Optional[int] = None,
        delta: Union[None, float, Sequence[float], Sequence[Sequence[float]]] = None,
        axes: Optional[Sequence[int]] = None,
        max_split_depth: Optional[int] = None,
        trees: Optional[int] = None,
    ) -> None:
        """Describes a model: ``structure`` is ``"auto"``, ``"rat"`` (``depth``,
        ``repetitions``), ``"pd"`` (``delta``, ``axes``, ``max_split_depth``), ``"hclt"``
        (``trees``) or ``"json:PATH"``; ``leaf`` is ``"bernoulli"``, ``"categorical[:N]"``,
        ``"binomial[:N]"`` or ``"normal[:MIN_VAR,MAX_VAR]"``; ``layer`` is ``"tucker"`` or
        ``"cp"``. Options left out take the command line's defaults for the data."""
    @staticmethod
    def from_spec(spec: dict[str, Any]) -> "Model":
        """A model described by a dict in the form of ``Model.spec``."""
    @property
    def spec(self) -> Optional[dict[str, Any]]:
        """What ``fit`` builds (``None`` for a model read from a file)."""
    @property
    def training(self) -> Optional[dict[str, Any]]:
        """The training record of the model file; ``None`` before training."""
    @property
    def num_vars(self) -> int:
        """Number of variables."""
    @property
    def num_params(self) -> int:
        """Number of parameters."""
    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``."""
    def fit(
        self,
        x_train: ArrayLike,
        x_valid: Optional[ArrayLike] = None,
        x_test: Optional[ArrayLike] = None,
        *,
        epochs: int = 10,
        em: str = "stepwise",
        step_size: float = 0.05,
        step_size_end: Optional[float] = None,
        full_batch_epochs: int = 0,
        frequency: int = 1,
        stepwise_rule: str = "parameters",
        pseudocount: float = 0.0,
        leaf_init: str = "random",
        init_rows: int = 10,
        patience: Optional[int] = None,
        batch_size: int = 100,
        seed: int = 0,
        image_shape: Optional[Tuple[int, int]] = None,
        device: str = "cpu",
        threads: Optional[int] = None,
        progress: bool = True,
    ) -> list[Epoch]:
        """Builds the model for ``x_train`` and trains it with EM, keeping the epoch with
        the best log-likelihood on ``x_valid`` (``x_train`` when there is none). Returns the
        history, one dict per epoch. Ctrl-C raises ``KeyboardInterrupt``."""
    def log_likelihood(self, x: ArrayLike) -> Union[npt.NDArray[np.float64], float]:
        """``log p(x)`` of every row (NaN values marginalised)."""
    def conditional(
        self, x: ArrayLike, query: Union[int, Sequence[int]]
    ) -> Union[npt.NDArray[np.float64], float]:
        """``log p(x_query | x_rest)`` of every row."""
    def sample(
        self,
        n: Optional[int] = None,
        evidence: Optional[ArrayLike] = None,
        *,
        seed: int = 0,
    ) -> npt.NDArray[np.float32]:
        """``n`` samples, or the NaN values of every ``evidence`` row drawn given the rest."""
    def mpe(self, x: ArrayLike, exact: bool = True) -> npt.NDArray[np.float32]:
        """The NaN values of every row completed by a most probable state."""
    def save(self, path: PathLike) -> None:
        """Writes the model file that ``load`` and the ``einet`` command line read."""

def load(path: PathLike, *, device: str = "cpu", threads: Optional[int] = None) -> Model:
    """Reads a model file written by ``Model.save`` or by ``einet train``."""

def load_dataset(name: str, *, data_dir: Optional[PathLike] = None) -> Dataset:
    """A data set the ``einet`` command line knows by name, split as it splits it."""
