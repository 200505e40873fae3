"""Bad input raises the right exception with the command line's message."""

import subprocess

import numpy as np
import pytest

import einet
from conftest import REPO, cli_command


def test_rows_of_another_shape_are_refused(binary6):
    model, _ = binary6
    with pytest.raises(ValueError, match=r"^x has 5 variables × 1 channels, but the model "
                                         r"expects 6 × 1$"):
        model.log_likelihood(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="x has shape"):
        model.log_likelihood(np.zeros((2, 3, 1, 2)))
    with pytest.raises(ValueError, match="evidence has 7 variables"):
        model.sample(evidence=np.zeros((1, 7)))


def test_arrays_of_another_dtype_are_refused(binary6):
    model, _ = binary6
    for bad in (np.zeros((2, 6), complex), np.array([["a"] * 6])):
        with pytest.raises(ValueError, match="^x has dtype .*; use float32, float64 or an "
                                             "integer dtype$"):
            model.log_likelihood(bad)


def test_values_outside_the_leaf_family_are_located(binary6, cli, tmp_path):
    model, x = binary6
    rows = x[:3].copy()
    rows[1, 4] = 2
    with pytest.raises(ValueError) as python:
        model.log_likelihood(rows)
    assert str(python.value) == ("the data do not fit the model's leaves: x row 1, variable 4: "
                                 "value 2 is not valid for bernoulli leaves")
    with pytest.raises(ValueError, match="x_valid row 1, variable 4: value 2 is not valid"):
        einet.Model(leaf="bernoulli").fit(x, rows, progress=False)
    # The command line names the same value by its file line and column.
    path = tmp_path / "bad.csv"
    np.savetxt(path, np.vstack([x[:20], rows]), delimiter=",", fmt="%g")
    done = subprocess.run(cli_command() + ["train", "-d", f"csv:{path}", "--leaf", "bernoulli",
                                           "--epochs", "1", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode != 0
    assert "bad.csv line 22, column 5: value 2 is not valid for bernoulli leaves" in done.stderr


def test_bad_training_options_are_value_errors(binary6):
    _, x = binary6
    model = einet.Model()
    for options, message in [
        (dict(em="online"), "em must be 'stepwise' or 'full', got 'online'"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(step_size=2.0), "EM step size must be in \\(0, 1\\]"),
        (dict(stepwise_rule="x"), "stepwise_rule must be"),
        (dict(leaf_init="zeros"), "leaf_init must be"),
        (dict(device="tpu"), "unknown device 'tpu'"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.fit(x, progress=False, **options)
    with pytest.raises(ValueError, match="x_valid has 5 variables × 1 channels, but x_train"):
        model.fit(x, x[:, :5], progress=False)


def test_bad_model_options_are_value_errors():
    for options, message in [
        (dict(structure="tree"), "unknown structure 'tree'"),
        (dict(structure="pd", depth=2), "depth and repetitions apply to structure='rat' only"),
        (dict(trees=2), "trees apply to structure='hclt' only"),
        (dict(leaf="poisson"), "unknown leaf family 'poisson'"),
        (dict(layer="dense"), "unknown layer kind 'dense'"),
        (dict(k=0), "k must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            einet.Model(**options)
    with pytest.raises(ValueError, match="not a model spec"):
        einet.Model.from_spec({"structure": {"kind": "tree"}})


def test_a_missing_gpu_is_a_runtime_error(binary6):
    _, x = binary6
    try:
        einet.Model().fit(x, epochs=1, device="cuda", progress=False)
    except RuntimeError as e:
        assert "cuda" in str(e)
    else:
        pytest.skip("a GPU is available")


def test_queries_need_a_trained_model_and_valid_arguments(binary6):
    with pytest.raises(ValueError, match="not trained yet"):
        einet.Model().log_likelihood(np.zeros(6))
    model, x = binary6
    with pytest.raises(ValueError, match="variable 9 does not exist"):
        model.conditional(x[:2], [9])
    with pytest.raises(ValueError, match="variable -1 does not exist"):
        model.conditional(x[:2], -1)
    with pytest.raises(ValueError, match="sample needs n"):
        model.sample()
    with pytest.raises(ValueError, match="n is 3, but evidence has 2 rows"):
        model.sample(3, evidence=x[:2])


def test_model_files_that_are_missing_or_corrupt(tmp_path, binary6):
    with pytest.raises(FileNotFoundError, match="nothing.einet"):
        einet.load(tmp_path / "nothing.einet")
    bad = tmp_path / "bad.einet"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.einet: not a valid einet model file"):
        einet.load(bad)
    model, _ = binary6
    path = tmp_path / "m.einet"
    model.save(path)
    with pytest.raises(ValueError, match="read from a file"):
        einet.load(path).fit(np.zeros((4, 6)))
    with pytest.raises(FileNotFoundError, match="cannot load data set 'nltcs'"):
        einet.load_dataset("nltcs", data_dir=tmp_path)
    with pytest.raises(ValueError, match="absent.csv does not exist"):
        einet.load_dataset("csv:" + str(tmp_path / "absent.csv"))
