"""Training from Python: history, progress, specs, the GIL and Ctrl-C."""

import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import einet


def test_the_history_has_the_parts_given(binary6, capsys):
    _, x = binary6
    history = einet.Model(k=2).fit(x, epochs=2, progress=False)
    assert [e["epoch"] for e in history] == [1, 2]
    assert "valid_ll" not in history[0] and "test_ll" not in history[0]
    assert capsys.readouterr().out == ""
    history = einet.Model(k=2).fit(x[:300], x[300:], epochs=1, progress=False)
    assert "valid_ll" in history[0] and "test_ll" not in history[0]


def test_progress_reaches_python(binary6, capsys):
    _, x = binary6
    einet.Model(k=2).fit(x, x, epochs=2)
    out = capsys.readouterr().out
    assert "epoch   1  train LL" in out and "epoch   2" in out and "valid LL" in out


def test_specs_round_trip_and_models_print():
    model = einet.Model(structure="pd", delta=[2, 4], k=3, leaf="binomial:16", layer="cp")
    spec = model.spec
    assert spec["structure"] == {"kind": "pd", "deltas": [[2.0, 4.0]], "axes": None,
                                 "max_split_depth": None}
    assert spec["leaf"] == {"family": "binomial", "size": 16}
    assert einet.Model.from_spec(spec).spec == spec
    assert repr(model).startswith("einet.Model.from_spec({'structure': {'kind': 'pd'")
    assert eval(repr(model), {"einet": einet}).spec == spec


def test_the_gil_is_released_during_queries(nltcs):
    model = einet.Model(k=8)
    model.fit(nltcs["train"][:1000], epochs=1, progress=False)
    rows = np.tile(nltcs["train"], (8, 1))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (model.log_likelihood(rows), done.set()))
    ticks = 0
    started = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.perf_counter() - started
    if elapsed < 0.05:
        pytest.skip("the query was too quick to tell")
    # With the GIL held the main thread would wait for the whole query.
    assert ticks > elapsed / 0.001 * 0.3


def test_ctrl_c_stops_training_with_keyboard_interrupt():
    script = textwrap.dedent("""
        import sys, time, einet
        d = einet.load_dataset("nltcs")
        model = einet.Model(k=8)
        print("training", flush=True)
        started = time.perf_counter()
        try:
            model.fit(d["train"], epochs=10000, progress=False)
        except KeyboardInterrupt:
            print("interrupted after %.1f s" % (time.perf_counter() - started), flush=True)
            sys.exit(3)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "training"
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 3, out
    assert out.startswith("interrupted after")
