#!/usr/bin/env python3
"""End-of-training log-likelihoods of einet at fp32, tf32 and bf16 on the GPU (issue #16).

A precision other than fp32 may become the default only where the test log-likelihoods at the
end of training stay within 0.01 nats per instance of fp32's on DEBD and within 0.002 bits/dim
on MNIST. This trains the same models (same seed, same data, same recipe) at every precision
with `einet train --backend cuda --precision P`, reads each model's training record
(`einet info --json`) and writes the differences to fp32:

    python3 scripts/precision_compare.py --einet gpu-bin/einet --data-dir gpu-bin/data \\
        --out OUT [--budget-s 150]
    python3 scripts/precision_compare.py --self-test        (offline; no GPU, no einet)

Results: OUT/precision.json (every run: test LL, bits/dim, wall seconds, the differences and
the verdict per precision) and OUT/precision.md (the table). Standard library only; exits 1
when a run failed, 0 otherwise (a precision outside the bounds is a result, not a failure).
"""

import argparse
import json
import os
import subprocess
import sys
import time

PRECISIONS = ("fp32", "tf32", "bf16")
# The bounds on |LL(precision) - LL(fp32)|: nats per instance on DEBD, bits/dim on MNIST.
BOUND = {"nats": 0.01, "bpd": 0.002}

# name, data set, `einet train` arguments, metric. Both layer kinds (HCLT's CP sums, RAT's Tucker
# einsums), full-batch EM at the end so that the result is an end-of-training one.
RUNS = (
    ("nltcs-hclt", "nltcs",
     ["--structure", "hclt", "-k", "12", "--epochs", "10", "--full-batch-epochs", "10",
      "--batch-size", "1024", "--step-size", "0.1", "--step-size-end", "0.9",
      "--pseudocount", "0.1"], "nats"),
    ("nltcs-rat", "nltcs", ["--structure", "rat", "--epochs", "10"], "nats"),
    ("plants-hclt", "debd:plants",
     ["--structure", "hclt", "-k", "12", "--epochs", "10", "--full-batch-epochs", "10",
      "--batch-size", "1024", "--step-size", "0.1", "--step-size-end", "0.9",
      "--pseudocount", "0.1"], "nats"),
    ("plants-rat", "debd:plants", ["--structure", "rat", "--epochs", "10"], "nats"),
    ("mnist-hclt", "mnist",
     ["--structure", "hclt", "-k", "32", "--leaf", "categorical:256", "--epochs", "2",
      "--batch-size", "512", "--step-size", "0.1", "--pseudocount", "0.1"], "bpd"),
)


def train_command(einet, data_dir, out_dir, dataset, args, precision):
    """The `einet train` command of one run at `precision`."""
    return [einet, "train", "-d", dataset, "--data-dir", data_dir, "--backend", "cuda",
            "--precision", precision, "--seed", "0", "--no-samples", "-o", out_dir] + list(args)


def record_of(einet, out_dir):
    """The training record of the model a run wrote (its `einet info --json` "training")."""
    info = subprocess.run([einet, "info", "--model", os.path.join(out_dir, "model.einet"),
                           "--json"], capture_output=True, text=True, check=True)
    return json.loads(info.stdout)["training"]


def value(record, metric):
    """The compared value of a training record: test LL (nats) or test bits/dim."""
    return record["test_ll"] if metric == "nats" else record["test_bpd"]


def summarise(results):
    """Differences to fp32 and the verdict per precision from `results`, a list of
    {"name", "metric", "runs": {precision: {"value", "seconds"} or {"error"}}}."""
    verdict = {}
    for p in PRECISIONS[1:]:
        diffs, complete = [], True
        for r in results:
            runs = r["runs"]
            base, got = runs.get("fp32", {}), runs.get(p, {})
            if "value" not in base or "value" not in got:
                complete = False
                continue
            # bits/dim: lower is better; nats: higher is better. The bound is on |difference|.
            d = got["value"] - base["value"]
            r.setdefault("difference", {})[p] = d
            r.setdefault("within_bound", {})[p] = abs(d) <= BOUND[r["metric"]]
            diffs.append(r["within_bound"][p])
        verdict[p] = {
            "complete": complete and bool(results),
            "all_within_bounds": complete and bool(results) and all(diffs),
        }
    return {"bounds": BOUND, "runs": results, "verdict": verdict}


def table(summary):
    """The summary as a markdown table."""
    lines = ["| run | metric | " + " | ".join(PRECISIONS) + " | Δ tf32 | Δ bf16 | seconds "
             "(fp32 / tf32 / bf16) |", "|---|---|" + "---:|" * (len(PRECISIONS) + 3)]
    for r in summary["runs"]:
        runs = r["runs"]
        vals = [f"{runs[p]['value']:.4f}" if "value" in runs.get(p, {}) else "–"
                for p in PRECISIONS]
        diff = [f"{r['difference'][p]:+.4f}{'' if r['within_bound'][p] else ' (out)'}"
                if p in r.get("difference", {}) else "–" for p in PRECISIONS[1:]]
        secs = " / ".join(f"{runs[p]['seconds']:.0f}" if "seconds" in runs.get(p, {}) else "–"
                          for p in PRECISIONS)
        lines.append(f"| {r['name']} | {r['metric']} | " + " | ".join(vals + diff) +
                     f" | {secs} |")
    for p, v in summary["verdict"].items():
        lines.append("")
        lines.append(f"{p}: " + ("every run within the bounds (0.01 nats, 0.002 bits/dim)"
                                 if v["all_within_bounds"] else
                                 "not every run within the bounds" +
                                 ("" if v["complete"] else " (runs missing)")))
    return "\n".join(lines) + "\n"


def run_all(args):
    os.makedirs(args.out, exist_ok=True)
    start, failed, results = time.monotonic(), False, []
    for name, dataset, extra, metric in RUNS:
        entry = {"name": name, "dataset": dataset, "metric": metric, "args": extra, "runs": {}}
        for p in PRECISIONS:
            left = args.budget_s - (time.monotonic() - start)
            if left < 10:
                entry["runs"][p] = {"error": "time budget spent"}
                continue
            out_dir = os.path.join(args.out, f"{name}-{p}")
            cmd = train_command(args.einet, args.data_dir, out_dir, dataset, extra, p)
            t0 = time.monotonic()
            try:
                with open(out_dir + ".log", "w") as log:
                    subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True,
                                   timeout=min(args.run_timeout_s, left))
                record = record_of(args.einet, out_dir)
                entry["runs"][p] = {"value": value(record, metric),
                                    "seconds": time.monotonic() - t0,
                                    "precision_recorded": record.get("precision", "fp32")}
            except (subprocess.SubprocessError, OSError, KeyError, ValueError) as e:
                failed = True
                entry["runs"][p] = {"error": f"{type(e).__name__}: {e}"}
            print(f"{name} {p}: {entry['runs'][p]}", flush=True)
        results.append(entry)
    summary = summarise(results)
    with open(os.path.join(args.out, "precision.json"), "w") as f:
        json.dump(summary, f, indent=2)
    text = table(summary)
    with open(os.path.join(args.out, "precision.md"), "w") as f:
        f.write(text)
    print(text)
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--einet", default="gpu-bin/einet", help="the einet binary [gpu-bin/einet]")
    p.add_argument("--data-dir", default="gpu-bin/data", help="data folder [gpu-bin/data]")
    p.add_argument("--out", default="precision-out", help="output folder [precision-out]")
    p.add_argument("--budget-s", type=float, default=150, help="time for all runs [150]")
    p.add_argument("--run-timeout-s", type=float, default=60, help="time for one run [60]")
    p.add_argument("--self-test", action="store_true", help="run the offline unit tests")
    args = p.parse_args(argv)
    if args.self_test:
        import unittest
        here = os.path.dirname(os.path.abspath(__file__))
        suite = unittest.defaultTestLoader.discover(os.path.join(here, "tests"),
                                                    pattern="test_precision_compare.py")
        return 0 if unittest.TextTestRunner().run(suite).wasSuccessful() else 1
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
