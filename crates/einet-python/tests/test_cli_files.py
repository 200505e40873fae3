"""Models and files shared with the `einet` command line."""

import json

import numpy as np

import einet
from conftest import PYTHON_FIT, python_model


def test_a_model_written_by_the_cli_has_the_cli_log_likelihood(cli_model, cli_eval, nltcs):
    model = einet.load(cli_model / "model.einet")
    ll = model.log_likelihood(nltcs["test"])
    assert ll.shape == (len(nltcs["test"]),)
    assert abs(ll.mean() - cli_eval(cli_model / "model.einet")) < 1e-6
    assert model.training["data"]["dataset"] == "nltcs"
    assert model.spec is None


def test_a_model_trained_in_python_equals_the_cli_one(cli_model, nltcs, tmp_path):
    model = python_model()
    history = model.fit(nltcs["train"], nltcs["valid"], nltcs["test"], **PYTHON_FIT)
    cli = einet.load(cli_model / "model.einet")
    np.testing.assert_allclose(model.log_likelihood(nltcs["test"]),
                               cli.log_likelihood(nltcs["test"]), rtol=0, atol=1e-6)
    lines = [json.loads(line) for line in open(cli_model / "metrics.jsonl")]
    assert [e["epoch"] for e in history] == [e["epoch"] for e in lines]
    for ours, theirs in zip(history, lines):
        for key in ("train_ll", "valid_ll", "test_ll"):
            assert abs(ours[key] - theirs[key]) < 1e-6, key
    for key in ("structure", "k_sum", "k_leaf", "leaf", "em", "epochs", "batch_size", "seed",
                "best_epoch"):
        assert model.training[key] == cli.training[key], key


def test_a_model_saved_in_python_is_read_by_the_cli(nltcs, cli, cli_eval, tmp_path):
    model = python_model()
    model.fit(nltcs["train"], nltcs["valid"], **PYTHON_FIT)
    path = tmp_path / "py.einet"
    model.save(path)
    mean = model.log_likelihood(nltcs["test"]).mean()
    assert abs(cli_eval(path, "-d", "nltcs") - mean) < 1e-6
    assert "random binary trees, depth 2, 4 repetitions" in cli("info", "-m", path)
    again = einet.load(str(path))
    np.testing.assert_array_equal(again.log_likelihood(nltcs["test"]),
                                  model.log_likelihood(nltcs["test"]))
