"""Exact queries: normalisation, marginals, conditionals, sampling and MPE."""

import itertools

import numpy as np
import pytest

import einet


def logsumexp(a):
    m = np.max(a)
    return m + np.log(np.sum(np.exp(a - m)))


def every_state(num_vars, states=2):
    return np.array(list(itertools.product(range(states), repeat=num_vars)), dtype=np.float32)


def test_probabilities_sum_to_one(binary6):
    model, _ = binary6
    assert abs(logsumexp(model.log_likelihood(every_state(6)))) < 1e-5


def test_categorical_probabilities_sum_to_one():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(300, 4))
    model = einet.Model(structure="rat", depth=1, repetitions=2, k=2, leaf="categorical")
    model.fit(x, epochs=2, progress=False)
    assert model.training["leaf"] == {"family": "categorical", "categories": 3}
    assert abs(logsumexp(model.log_likelihood(every_state(4, 3)))) < 1e-5


def test_missing_values_are_marginalised(binary6):
    model, x = binary6
    row = x[0].copy()
    row[2] = np.nan
    both = np.stack([x[0], x[0]])
    both[:, 2] = [0, 1]
    assert abs(model.log_likelihood(row) - logsumexp(model.log_likelihood(both))) < 1e-5
    assert model.log_likelihood(np.full(6, np.nan)) == pytest.approx(0.0, abs=1e-5)


def test_conditionals_normalise(binary6):
    model, x = binary6
    query = [0, 3]
    for row in x[:5]:
        completions = np.repeat(row[None], 4, axis=0)
        completions[:, query] = every_state(2)
        total = logsumexp(model.conditional(completions, query))
        assert abs(total) < 1e-5
    joint, rest = model.log_likelihood(x[:3]), x[:3].copy()
    rest[:, query] = np.nan
    expected = joint - model.log_likelihood(rest)
    np.testing.assert_allclose(model.conditional(x[:3], query), expected, atol=1e-5)
    assert model.conditional(x[0], 1) == pytest.approx(model.conditional(x[:1], [1])[0])


def test_sampling_with_evidence_keeps_the_evidence(binary6):
    model, x = binary6
    evidence = x[:50].copy()
    evidence[:, 3:] = np.nan
    samples = model.sample(evidence=evidence, seed=4)
    assert samples.shape == (50, 6) and samples.dtype == np.float32
    np.testing.assert_array_equal(samples[:, :3], x[:50, :3])
    assert set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_array_equal(samples, model.sample(evidence=evidence, seed=4))
    many = model.sample(20, evidence=evidence[0], seed=1)
    assert many.shape == (20, 6)
    assert (many[:, :3] == x[0, :3]).all()
    assert model.sample(evidence=evidence[0]).shape == (6,)


def test_unconditional_samples_follow_the_model(binary6):
    model, x = binary6
    samples = model.sample(4000, seed=2)
    assert samples.shape == (4000, 6)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_allclose(samples.mean(axis=0), x.mean(axis=0), atol=0.05)
    np.testing.assert_array_equal(samples[:10], model.sample(10, seed=2))
    assert not np.array_equal(samples[:10], model.sample(10, seed=3))


def test_mpe_completes_only_the_missing_values(binary6):
    model, x = binary6
    row = x[7].copy()
    row[[1, 4]] = np.nan
    for exact in (True, False):
        completed = model.mpe(row, exact=exact)
        assert completed.shape == (6,)
        np.testing.assert_array_equal(completed[[0, 2, 3, 5]], row[[0, 2, 3, 5]])
        assert set(completed[[1, 4]]) <= {0.0, 1.0}
    np.testing.assert_array_equal(model.mpe(x[:5]), x[:5])
    assert model.mpe(row[None]).shape == (1, 6)


def test_every_dtype_and_memory_order_gives_the_same_answer(binary6):
    model, x = binary6
    rows = x[:20]
    expected = model.log_likelihood(rows)
    for variant in (rows.astype(np.float64), rows.astype(np.int64), rows.astype(np.uint8),
                    rows.astype(bool), np.asfortranarray(rows), rows.tolist(),
                    np.ascontiguousarray(np.repeat(rows, 2, axis=1)[:, ::2])):
        np.testing.assert_array_equal(model.log_likelihood(variant), expected)
    assert model.log_likelihood(rows[3]) == pytest.approx(expected[3])
    assert isinstance(model.log_likelihood(rows[3]), float)


def test_a_learned_structure_is_built_from_the_training_rows(nltcs):
    model = einet.Model(structure="hclt", k=4)
    model.fit(nltcs["train"][:2000], epochs=1, progress=False)
    assert model.training["structure"]["kind"] == "hclt"
    assert model.log_likelihood(nltcs["test"][:10]).shape == (10,)


def test_images_keep_their_shape_and_scale():
    digits = einet.load_dataset("digits")
    assert digits["image_shape"] == (8, 8)
    model = einet.Model(k=2, leaf="normal")
    model.fit(digits["train"][:200], epochs=1, image_shape=(8, 8), progress=False)
    assert model.training["data"]["scale"] == pytest.approx(1 / 16)
    assert model.training["structure"]["kind"] == "pd"
    samples = model.sample(5, seed=0)
    assert samples.shape == (5, 64) and samples.max() > 2  # on the data's scale, 0..16
