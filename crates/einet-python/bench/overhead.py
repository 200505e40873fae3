"""The Python module's overhead: `Model.log_likelihood` on 10,000 NLTCS rows against the same
call in Rust (`einet::Model::log_likelihood`, crates/einet/examples/time_log_likelihood.rs) on
the same model file.

    python crates/einet-python/bench/overhead.py [--repeats 50] [--rounds 3]

Trains a model with `einet train`'s defaults for NLTCS (random binary trees, depth 3, 10
repetitions, K = 20) for one epoch, saves it, then times both sides in alternating rounds and
prints the fastest and median seconds of one call and the overhead of Python.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import einet

REPO = Path(__file__).resolve().parents[3]
ROWS = 10_000


def python_times(model, x, repeats):
    model.log_likelihood(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.log_likelihood(x)
        times.append(time.perf_counter() - start)
    return times


def rust_times(path, repeats):
    command = os.environ.get("EINET_TIMER")
    command = [command] if command else [
        "cargo", "run", "--release", "-q", "--manifest-path", str(REPO / "Cargo.toml"),
        "-p", "einet", "--example", "time_log_likelihood", "--"]
    out = subprocess.run(command + [str(path), "nltcs", str(ROWS), str(repeats)],
                         check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = einet.load_dataset("nltcs")
    x = data["train"][:ROWS]
    model = einet.Model()
    model.fit(data["train"], data["valid"], epochs=1, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nltcs.einet"
        model.save(path)
        model = einet.load(path)
        rust_min, rust_median, py_min, py_median = [], [], [], []
        for _ in range(args.rounds):
            rust = rust_times(path, args.repeats)
            rust_min.append(rust["min_s"])
            rust_median.append(rust["median_s"])
            times = python_times(model, x, args.repeats)
            py_min.append(min(times))
            py_median.append(float(np.median(times)))
    rust_best, py_best = min(rust_min), min(py_min)
    rust_med, py_med = float(np.median(rust_median)), float(np.median(py_median))
    print(f"log_likelihood, {ROWS} NLTCS rows, {model.num_params} parameters, "
          f"{args.rounds} rounds x {args.repeats} calls")
    print(f"           fastest     median")
    print(f"Rust     {rust_best * 1e3:7.2f} ms {rust_med * 1e3:7.2f} ms")
    print(f"Python   {py_best * 1e3:7.2f} ms {py_med * 1e3:7.2f} ms")
    print(f"overhead {100 * (py_best / rust_best - 1):+6.1f} %   {100 * (py_med / rust_med - 1):+6.1f} %")


if __name__ == "__main__":
    main()
