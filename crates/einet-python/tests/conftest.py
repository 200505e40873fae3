"""Shared fixtures: the `einet` command line, the shipped NLTCS data and small models."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import einet

REPO = Path(__file__).resolve().parents[3]

# The CLI training run the Python tests compare with: RAT, depth 2, 4 repetitions, K = 4,
# 2 epochs of stepwise EM, seed 3 (einet train's defaults otherwise).
CLI_TRAIN = ["--structure", "rat", "--depth", "2", "--repetitions", "4", "-k", "4",
             "--epochs", "2", "--seed", "3"]


def python_model():
    """The model of CLI_TRAIN, unfitted."""
    return einet.Model(structure="rat", depth=2, repetitions=4, k=4)


PYTHON_FIT = dict(epochs=2, seed=3, progress=False)


def cli_command():
    """The `einet` binary: $EINET_BIN, else target/debug or target/release, else cargo run."""
    if os.environ.get("EINET_BIN"):
        return [os.environ["EINET_BIN"]]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        binary = target / profile / "einet"
        if binary.is_file():
            return [str(binary)]
    if shutil.which("cargo"):
        return ["cargo", "run", "-q", "--manifest-path", str(REPO / "Cargo.toml"),
                "-p", "einet-cli", "--"]
    pytest.skip("no einet binary: set EINET_BIN or build it with cargo build -p einet-cli")


@pytest.fixture(scope="session")
def cli():
    """Runs the `einet` command line; returns its standard output (fails on an error)."""
    command = cli_command()

    def run(*args):
        done = subprocess.run(command + [str(a) for a in args], capture_output=True,
                              text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


@pytest.fixture(scope="session")
def cli_eval(cli):
    """`einet eval --json`'s mean test log-likelihood of a model file."""
    def evaluate(path, *args):
        return json.loads(cli("eval", "-m", path, "--json", *args))["log_likelihood"]

    return evaluate


@pytest.fixture(scope="session")
def nltcs():
    """NLTCS (shipped in data/), split as the command line splits it."""
    return einet.load_dataset("nltcs")


@pytest.fixture(scope="session")
def cli_model(cli, tmp_path_factory):
    """The folder of a model trained by `einet train` with CLI_TRAIN on NLTCS."""
    out = tmp_path_factory.mktemp("cli-run")
    cli("train", "-d", "nltcs", *CLI_TRAIN, "--out", out)
    return out


@pytest.fixture(scope="session")
def binary6():
    """A model of 6 binary variables trained on random rows, and those rows."""
    rng = np.random.default_rng(0)
    x = (rng.random((400, 6)) < np.linspace(0.2, 0.8, 6)).astype(np.float32)
    x[:, 1] = x[:, 0]  # a dependency for the structure to model
    model = einet.Model(structure="rat", depth=2, repetitions=2, k=3)
    model.fit(x, epochs=10, em="full", progress=False)
    return model, x
