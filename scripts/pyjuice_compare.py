#!/usr/bin/env python3
"""einet against PyJuice 2.6.3 on the same GPU, in the same run (issue #16, item 5).

Run by scripts/pyjuice-compare.sh on the GPU machine; see that script for the device command
line. Parts, each recorded in the merged JSON with its status, so that one failing part (PyJuice
not installed, a CUDA error, a time-out) leaves the others standing:

  env          nvidia-smi's card name and description, the einet binary's version and commit
  einet bench  `einet bench --config P4,P3,P1,P2 --json` (PyJuice's models with CP layers) at
               each model's batch sizes, on --backend (cuda on the GPU machine)
  pyjuice      one worker process per model (hclt, pd, rat, rat32): PyJuice's own structure
               (pyjuice.structures.HCLT / PD / RAT_SPN), compiled with pyjuice.compile, its
               edge count (pc.num_edges); forward and train step (forward + pc.backward +
               pc.mini_batch_em) timed at the same batch sizes on random data, with warm-up,
               torch.cuda.synchronize around every step, the median of --repeats steps and
               torch.cuda.max_memory_allocated; for hclt and pd also --train-epochs of
               mini-batch EM on einet's own MNIST training split, and the test log-likelihood
  einet train  `einet train -d mnist` of the same models for the same epochs, batch, step size and
               seed, then `einet eval --json` on the test images

Both train on einet's 50,000 training rows of MNIST (einet takes a seeded 10,000 of the 60,000
training images as validation rows; this driver reproduces that split with einet's Philox4x32-10
generator, checked against the einet binary by scripts/tests/test_pyjuice_compare.py) and both
are evaluated on the 10,000 test images. Steps per epoch are einet's, ceil(50,000 / batch); PyJuice's
last batch of an epoch is filled up to the full batch with rows from the start of that epoch's
order, because PyJuice compiles its kernels for each batch size (batch_size is a Triton
constexpr) and a partial batch would add a second compilation to the timing.

Data (--data-dir DIR, read as DIR/mnist/NAME or DIR/NAME, gzipped or not): the four MNIST files,
train-images-idx3-ubyte.gz (9.7 MB), train-labels-idx1-ubyte.gz (28 KB), t10k-images-idx3-ubyte.gz
(1.6 MB), t10k-labels-idx1-ubyte.gz (4.5 KB): 11.4 MB in all. einet's MNIST reader needs the label
files too. `scripts/pyjuice-compare.sh prepare` copies them into gpu-bin/data/mnist/, which travels
with `carry: ["gpu-bin"]`.

Output (--out DIR, default docs/results/gpu): at most four files, so that the device tool returns
them all: SLUG-pyjuice-compare.json (everything, merged), SLUG-pyjuice-compare.md (the tables),
SLUG-pyjuice-compare.log (this driver's log) and SLUG-pyjuice-compare-raw.tar.gz (every raw JSON,
metrics file and log), SLUG being the card (h100, h200, ...; cpu without a GPU). The merged JSON is
rewritten after every part, so a run killed part-way keeps what it measured.

This file is importable without torch or numpy (only the worker imports them), so that its
parsing, merging and the split can be unit-tested anywhere: `python3 scripts/pyjuice_compare.py
--self-test`, or `python3 -m pytest scripts/tests`.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tarfile
import time
import traceback

SCHEMA = "einet-pyjuice-compare/1"
PYJUICE_VERSION = "2.6.3"
NUM_PIXELS = 784
LN2 = math.log(2.0)

# PyJuice's models of docs/perf-anchors.md and einet's equal-edge CP configurations of
# `einet bench` (crates/einet-core/src/canonical/mod.rs).
MODELS = {
    "hclt": {
        "label": "HCLT",
        "description": "HCLT 784 vars, 32 latents, Categorical(256)",
        "einet_config": "P4",
        "latents": 32,
        "categories": 256,
        "anchor_edges_millions": 0.62,
        "batch_sizes": [512],
        "trainable": True,
        "einet_train_args": ["--structure", "hclt", "--layer", "cp"],
    },
    "pd": {
        "label": "PD",
        "description": "PD 28x28, 32 latents, Categorical(256)",
        "einet_config": "P3",
        "latents": 32,
        "categories": 256,
        "anchor_edges_millions": 3.27,
        "batch_sizes": [512],
        "trainable": True,
        "einet_train_args": ["--structure", "pd", "--delta", "4", "--layer", "cp"],
    },
    "rat": {
        "label": "RAT",
        "description": "RAT_SPN 784 vars, depth 5, 20 reps, 20 latents, Categorical(2)",
        "einet_config": "P1",
        "latents": 20,
        "categories": 2,
        "anchor_edges_millions": 0.83,
        "batch_sizes": [1000, 512],
        "trainable": False,  # Categorical(2) needs binarised MNIST, which einet does not load
    },
    "rat32": {
        "label": "RAT K32",
        "description": "RAT_SPN as rat, 32 latents",
        "einet_config": "P2",
        "latents": 32,
        "categories": 2,
        "anchor_edges_millions": 1.81,
        "batch_sizes": [1000, 512],
        "trainable": False,
    },
}
# Order of the parts: the models of the aim (HCLT, PD) first.
MODEL_ORDER = ["hclt", "pd", "rat", "rat32"]

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# The two modes. budget_s: the whole run; caps: the most seconds one part may take.
MODES = {
    "full": {
        "bench_models": ["hclt", "pd", "rat", "rat32"],
        "train_models": ["hclt", "pd"],
        "repeats": 20,
        "warmup": 3,
        "budget_s": 450,
        "anchor_batch_only": False,
    },
    "quick": {
        "bench_models": ["hclt", "pd", "rat"],
        "train_models": ["hclt"],
        "repeats": 5,
        "warmup": 2,
        "budget_s": 240,
        "anchor_batch_only": True,
    },
}
PART_CAPS_S = {
    "env": 30,
    "einet_bench": 120,
    "pyjuice_probe": 60,
    "pyjuice_hclt": 150,
    "pyjuice_pd": 120,
    "pyjuice_rat": 60,
    "pyjuice_rat32": 50,
    "einet_train_hclt": 90,
    "einet_train_pd": 90,
}
MIN_PART_S = 15  # a part is not started with less left

# --------------------------------------------------------------------------------------------
# einet's random numbers (crates/einet-core/src/rng.rs) and its MNIST validation split
# (crates/einet-data/src/dataset.rs, registry.rs), so that PyJuice trains on the same rows.

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF
SHUFFLE_STREAM = 0x5348_5546_464C_4531  # "SHUFFLE1"
MNIST_VALID_FRACTION = 10_000.0 / 60_000.0


def philox4x32(counter, key):
    """One Philox4x32-10 block: four 32-bit words for `counter` (4 words) under `key` (2)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (
            ((p1 >> 32) ^ c1 ^ k0) & _MASK,
            p1 & _MASK,
            ((p0 >> 32) ^ c3 ^ k1) & _MASK,
            p0 & _MASK,
        )
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return [c0, c1, c2, c3]


class EinetRng:
    """einet_core::rng::Rng: a sequential generator over one Philox stream."""

    def __init__(self, seed, stream):
        self.key = (seed & _MASK, (seed >> 32) & _MASK)
        self.stream = stream
        self.block = 0
        self.buf = [0, 0, 0, 0]
        self.used = 4

    def next_u32(self):
        if self.used == 4:
            counter = (
                self.block & _MASK,
                (self.block >> 32) & _MASK,
                self.stream & _MASK,
                (self.stream >> 32) & _MASK,
            )
            self.buf = philox4x32(counter, self.key)
            self.block += 1
            self.used = 0
        self.used += 1
        return self.buf[self.used - 1]

    def below(self, n):
        """A uniform integer in 0..n (rejection, as einet)."""
        zone = _MASK - ((_MASK - n + 1) & _MASK) % n
        while True:
            r = self.next_u32()
            if r <= zone:
                return r % n

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def shuffled_indices(n, seed):
    idx = list(range(n))
    EinetRng(seed, SHUFFLE_STREAM).shuffle(idx)
    return idx


def round_half_away(x):
    """Rust's f64::round for x >= 0."""
    return int(math.floor(x + 0.5))


def einet_validation_split(n, fraction=MNIST_VALID_FRACTION, seed=0):
    """einet's Dataset::split: (training rows, validation rows), each in the original order."""
    take = min(round_half_away(fraction * n), n)
    order = shuffled_indices(n, seed)
    return sorted(order[take:]), sorted(order[:take])


def steps_per_epoch(rows, batch):
    return -(-rows // batch)


def bits_per_dim(ll_nats, dims=NUM_PIXELS):
    if ll_nats is None:
        return None
    return -ll_nats / (dims * LN2)


# --------------------------------------------------------------------------------------------
# MNIST files (stdlib only; the worker turns the bytes into tensors).


def find_mnist_file(data_dir, stem):
    """DIR/mnist/STEM(.gz) or DIR/STEM(.gz), as einet looks for them."""
    for folder in (os.path.join(data_dir, "mnist"), data_dir):
        for name in (stem + ".gz", stem):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def mnist_paths(data_dir):
    """The four MNIST files under data_dir; raises FileNotFoundError naming the missing ones."""
    if not data_dir:
        raise FileNotFoundError("no --data-dir given")
    paths = {k: find_mnist_file(data_dir, stem) for k, stem in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"missing MNIST files under {data_dir} (or {data_dir}/mnist): {', '.join(missing)}"
        )
    return paths


def read_idx(path):
    """(dims, payload bytes) of an IDX file (gzipped or not)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = list(struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim]))
    payload = data[4 + 4 * ndim :]
    if len(payload) != math.prod(dims):
        raise ValueError(f"{path}: {len(payload)} bytes for dims {dims}")
    return dims, payload


def write_idx(path, dims, payload):
    """Writes an IDX file of unsigned bytes (gzipped if path ends in .gz); used by the tests."""
    head = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    opener = (lambda p: gzip.open(p, "wb", compresslevel=1)) if path.endswith(".gz") else (
        lambda p: open(p, "wb")
    )
    with opener(path) as f:
        f.write(head)
        f.write(payload)


# --------------------------------------------------------------------------------------------
# Parsing einet's outputs.


def parse_einet_version(text):
    """'einet 0.1.0 (commit 56bf093+changes)' -> {'version': '0.1.0', 'commit': '56bf093+changes'}."""
    m = re.search(r"einet\s+(\S+)(?:\s+\(commit\s+([^)]+)\))?", text or "")
    if not m:
        return {"version": None, "commit": None}
    return {"version": m.group(1), "commit": m.group(2)}


def parse_info_edges(text):
    """The edge count from `einet info` ('parameters N (...); E edges')."""
    m = re.search(r"(\d+)\s+edges", text or "")
    return int(m.group(1)) if m else None


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_jsonl(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def einet_bench_index(results):
    """{(config, batch_size): result} from `einet bench --json` arrays (one or several)."""
    index = {}
    for r in results or []:
        if isinstance(r, dict) and "config" in r and "batch_size" in r:
            index[(r["config"], int(r["batch_size"]))] = r
    return index


def card_slug(name):
    """'NVIDIA H100 80GB HBM3' -> 'h100', 'NVIDIA H200' -> 'h200'; None -> 'cpu'."""
    if not name:
        return "cpu"
    m = re.search(r"\b([A-Z]{1,2}\d{2,4}[A-Z]?)\b", name.upper().replace("NVIDIA", ""))
    if m:
        return m.group(1).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:24] or "gpu"


def einet_precision_supported(help_text):
    return "--precision" in (help_text or "")


# --------------------------------------------------------------------------------------------
# Plan: which models, batch sizes and repeats.


def model_batch_sizes(model, anchor_only=False, override=None):
    if override:
        return list(override)
    sizes = MODELS[model]["batch_sizes"]
    return sizes[:1] if anchor_only else list(sizes)


def make_plan(args):
    mode = MODES["quick" if args.quick else "full"]
    bench_models = args.models.split(",") if args.models else list(mode["bench_models"])
    train_models = (
        args.train_models.split(",") if args.train_models is not None else list(mode["train_models"])
    )
    train_models = [m for m in train_models if m]
    for m in bench_models + train_models:
        if m not in MODELS:
            raise SystemExit(f"unknown model '{m}'; choose from {', '.join(MODEL_ORDER)}")
    for m in train_models:
        if not MODELS[m]["trainable"]:
            raise SystemExit(f"model '{m}' is not trained (Categorical(2) needs binarised data)")
    override = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else None
    batches = {
        m: model_batch_sizes(m, mode["anchor_batch_only"], override)
        for m in MODEL_ORDER
        if m in bench_models
    }
    return {
        "mode": "quick" if args.quick else "full",
        "bench_models": [m for m in MODEL_ORDER if m in bench_models],
        "train_models": [m for m in MODEL_ORDER if m in train_models],
        "batch_sizes": batches,
        "train_batch_size": args.train_batch_size,
        "train_epochs": args.train_epochs,
        "train_k": args.train_k,
        "repeats": args.repeats or mode["repeats"],
        "warmup": args.warmup or mode["warmup"],
        "budget_s": args.budget_s or mode["budget_s"],
        "step_size": args.step_size,
        "pseudocount": args.pseudocount,
        # PyJuice spreads its pseudocount over each parameter vector (P / children per entry);
        # einet adds its pseudocount to every entry: equal on the 256-entry leaf tables.
        "einet_pseudocount": args.pseudocount / 256.0,
        "seed": args.seed,
        "pd_split_interval": args.pd_split_interval,
        "pyjuice_cudagraph": not args.no_cudagraph,
    }


def einet_bench_groups(plan):
    """[(batch_size, [configs])]: one `einet bench` call per batch size."""
    groups = {}
    for m, sizes in plan["batch_sizes"].items():
        for b in sizes:
            groups.setdefault(b, []).append(MODELS[m]["einet_config"])
    return sorted(groups.items(), key=lambda kv: -kv[0])


class Budget:
    def __init__(self, total_s, clock=time.monotonic):
        self.total = total_s
        self.clock = clock
        self.start = clock()

    def elapsed(self):
        return self.clock() - self.start

    def left(self):
        return self.total - self.elapsed()

    def limit(self, cap):
        """Seconds the next part may take, or None if too little is left to start it."""
        left = self.left() - 5
        if left < MIN_PART_S:
            return None
        return int(min(cap, left))


# --------------------------------------------------------------------------------------------
# Merging and the tables.


def _fmt_int(x):
    return "–" if x is None else f"{x:,.0f}"


def _fmt_edges(e):
    return "–" if e is None else f"{e / 1e6:.2f} M"


def _fmt_mb(b):
    return "–" if b is None else f"{b / 1e6:,.0f}"


def _fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def _fmt_bpd(x):
    return "–" if x is None else f"{x:.4f}"


def _fmt_num(x, spec):
    return "–" if x is None else format(x, spec)


def _pj_bench(pyjuice_model, batch):
    for row in (pyjuice_model or {}).get("bench", []):
        if row.get("batch_size") == batch and row.get("status", "ok") == "ok":
            return row
    return None


def build_comparison(merged):
    """Rows of the throughput and training tables from the parts' raw results."""
    plan = merged["settings"]
    einet_index = einet_bench_index(merged["einet"].get("bench", {}).get("results"))
    pj_models = merged["pyjuice"].get("models", {})
    throughput = []
    for m, sizes in plan["batch_sizes"].items():
        spec = MODELS[m]
        pj = pj_models.get(m) or {}
        for b in sizes:
            e = einet_index.get((spec["einet_config"], b))
            p = _pj_bench(pj, b)
            row = {
                "model": m,
                "batch_size": b,
                "einet_config": spec["einet_config"],
                "pyjuice_edges": pj.get("num_edges"),
                "pyjuice_anchor_edges_millions": spec["anchor_edges_millions"],
                "einet_edges": e.get("edges") if e else None,
                "pyjuice_forward_samples_per_s": p.get("forward_samples_per_s") if p else None,
                "einet_forward_samples_per_s": e.get("forward_samples_per_s") if e else None,
                "pyjuice_train_samples_per_s": p.get("train_samples_per_s") if p else None,
                "einet_train_samples_per_s": e.get("train_samples_per_s") if e else None,
                "pyjuice_peak_train_bytes": p.get("peak_memory_train_bytes") if p else None,
                "einet_peak_device_bytes": e.get("peak_device_memory_bytes") if e else None,
                "pyjuice_status": pj.get("status", "not run"),
            }
            a, c = row["einet_train_samples_per_s"], row["pyjuice_train_samples_per_s"]
            row["train_ratio_einet_over_pyjuice"] = a / c if a and c else None
            a, c = row["einet_forward_samples_per_s"], row["pyjuice_forward_samples_per_s"]
            row["forward_ratio_einet_over_pyjuice"] = a / c if a and c else None
            throughput.append(row)
    training = []
    for m in plan["train_models"]:
        pj = (pj_models.get(m) or {}).get("train") or {}
        et = merged["einet"].get("train", {}).get(m) or {}
        row = {
            "model": m,
            "epochs": plan["train_epochs"],
            "batch_size": plan["train_batch_size"],
            "k": plan["train_k"],
            "pyjuice_steps": pj.get("steps"),
            "einet_steps": et.get("steps"),
            "pyjuice_edges": pj.get("num_edges") or (pj_models.get(m) or {}).get("num_edges"),
            "einet_edges": et.get("edges"),
            "pyjuice_test_ll": pj.get("test_ll_at_best_valid"),
            "einet_test_ll": et.get("test_ll"),
            "pyjuice_final_test_ll": pj.get("final_test_ll"),
            "pyjuice_train_seconds_per_epoch": pj.get("train_seconds_per_epoch"),
            "einet_train_seconds_per_epoch": et.get("train_seconds_per_epoch"),
            "pyjuice_status": pj.get("status", (pj_models.get(m) or {}).get("status", "not run")),
            "einet_status": et.get("status", "not run"),
        }
        row["pyjuice_test_bpd"] = bits_per_dim(row["pyjuice_test_ll"])
        row["einet_test_bpd"] = bits_per_dim(row["einet_test_ll"])
        if row["pyjuice_test_bpd"] is not None and row["einet_test_bpd"] is not None:
            row["bpd_einet_minus_pyjuice"] = row["einet_test_bpd"] - row["pyjuice_test_bpd"]
        else:
            row["bpd_einet_minus_pyjuice"] = None
        training.append(row)
    return {"throughput": throughput, "training": training}


def render_markdown(merged):
    comp = merged.get("comparison") or build_comparison(merged)
    s = merged["settings"]
    card = merged.get("card") or "no GPU"
    e = merged["einet"]
    pj = merged["pyjuice"]
    lines = [
        f"### einet vs PyJuice on {card}, {merged.get('started', '')[:10]}",
        "",
        f"einet {e.get('version') or '?'}, commit {e.get('commit') or '?'}, backend "
        f"{e.get('backend')}, precision {e.get('precision')}; "
        + (f"PyJuice {pj['version']} (torch {pj.get('torch')}, triton {pj.get('triton')}), CUDA "
           f"graphs {'on' if s['pyjuice_cudagraph'] else 'off'}"
           if pj.get("version") else f"PyJuice not run ({pj.get('status')})")
        + f". Mode {s['mode']}: median "
        f"of {s['repeats']} steps after {s['warmup']} warm-up (einet bench: 1 warm-up), random "
        f"data; train step = forward + backward + one mini-batch EM step (step "
        f"{s['step_size']}). Peak memory: PyJuice torch.cuda.max_memory_allocated, einet the "
        f"device memory its model held.",
        "",
        "| model | batch | edges PyJuice (anchor) | edges einet | forward samples/s PyJuice | "
        "einet | train samples/s PyJuice | einet | einet / PyJuice (train) | peak MB PyJuice | einet |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in comp["throughput"]:
        edges_pj = _fmt_edges(r["pyjuice_edges"])
        if r["pyjuice_edges"] is None and r["pyjuice_status"] not in ("ok", "not run"):
            edges_pj = r["pyjuice_status"]
        lines.append(
            f"| {MODELS[r['model']]['label']} | {r['batch_size']} | {edges_pj} "
            f"({r['pyjuice_anchor_edges_millions']:.2f} M) | {_fmt_edges(r['einet_edges'])} "
            f"({r['einet_config']}) | {_fmt_int(r['pyjuice_forward_samples_per_s'])} | "
            f"{_fmt_int(r['einet_forward_samples_per_s'])} | "
            f"{_fmt_int(r['pyjuice_train_samples_per_s'])} | "
            f"{_fmt_int(r['einet_train_samples_per_s'])} | "
            f"{_fmt_ratio(r['einet_train_samples_per_s'], r['pyjuice_train_samples_per_s'])} | "
            f"{_fmt_mb(r['pyjuice_peak_train_bytes'])} | {_fmt_mb(r['einet_peak_device_bytes'])} |"
        )
    if comp["training"]:
        lines += [
            "",
            f"MNIST, both on einet's 50,000 training rows, {s['train_epochs']} epoch(s) at batch "
            f"{s['train_batch_size']}, K {s['train_k']}, stepwise EM step {s['step_size']}, "
            f"pseudocount {s['pseudocount']} (PyJuice's, spread over each vector; einet "
            f"{s['einet_pseudocount']:.6g} per entry), seed {s['seed']}; test LL of the 10,000 "
            f"test images at the epoch of the best validation LL:",
            "",
            "| model | steps PyJuice / einet | edges PyJuice / einet | test bits/dim PyJuice | "
            "einet | einet − PyJuice | s per epoch PyJuice | einet |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in comp["training"]:
            pj_bpd = _fmt_bpd(r["pyjuice_test_bpd"])
            if r["pyjuice_test_bpd"] is None and r["pyjuice_status"] not in ("ok", "not run"):
                pj_bpd = r["pyjuice_status"]
            e_bpd = _fmt_bpd(r["einet_test_bpd"])
            if r["einet_test_bpd"] is None and r["einet_status"] not in ("ok", "not run"):
                e_bpd = r["einet_status"]
            diff = r["bpd_einet_minus_pyjuice"]
            lines.append(
                f"| {MODELS[r['model']]['label']} | {_fmt_int(r['pyjuice_steps'])} / "
                f"{_fmt_int(r['einet_steps'])} | {_fmt_edges(r['pyjuice_edges'])} / "
                f"{_fmt_edges(r['einet_edges'])} | {pj_bpd} | {e_bpd} | "
                f"{_fmt_num(diff, '+.4f')} | "
                f"{_fmt_num(r['pyjuice_train_seconds_per_epoch'], '.2f')} | "
                f"{_fmt_num(r['einet_train_seconds_per_epoch'], '.2f')} |"
            )
    failed = [p for p in merged.get("parts", []) if p.get("status") not in ("ok", "skipped")]
    if failed:
        def one_line(text):
            text = " ".join(str(text).split()).replace("|", "/")
            return text if len(text) <= 200 else text[:200] + "…"

        lines += ["", "Parts that did not succeed: " + "; ".join(
            f"{p['name']}: {p['status']}" + (f" ({one_line(p['error'])})" if p.get("error") else "")
            for p in failed
        )]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The orchestrating process (stdlib only).


class Run:
    def __init__(self, args, plan):
        self.args = args
        self.plan = plan
        self.budget = Budget(plan["budget_s"])
        self.out = os.path.abspath(args.out)
        os.makedirs(self.out, exist_ok=True)
        self.work = os.path.abspath(args.work_dir or os.path.join(
            os.environ.get("TMPDIR", "/tmp"), f"pyjuice-compare-{os.getpid()}"))
        os.makedirs(self.work, exist_ok=True)
        self.slug = "cpu"
        self._log_lines = []
        self.merged = {
            "schema": SCHEMA,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "finished": None,
            "wall_seconds": None,
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "command": " ".join(shlex.quote(a) for a in sys.argv),
            "card": None,
            "nvidia_smi": None,
            "repository_commit": None,
            "settings": plan,
            "einet": {
                "binary": args.einet,
                "backend": args.backend,
                "precision": args.precision,
                "precision_flag": False,
                "version": None,
                "commit": None,
                "bench": {"status": "not run"},
                "train": {},
            },
            "pyjuice": {"status": "not run", "version": None, "models": {}},
            "parts": [],
            "comparison": None,
        }

    # -- bookkeeping
    def log(self, msg):
        line = f"[{self.budget.elapsed():6.1f}s] {msg}"
        print(line, flush=True)
        self._log_lines.append(line)
        try:
            with open(os.path.join(self.work, "driver.log"), "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def part(self, name, status, seconds=None, error=None, **extra):
        rec = {"name": name, "status": status, "seconds": seconds}
        if error:
            rec["error"] = str(error)[-600:]
        rec.update(extra)
        self.merged["parts"].append(rec)
        self.log(f"part {name}: {status}" + (f" ({seconds:.1f} s)" if seconds is not None else "")
                 + (f": {rec['error']}" if error else ""))
        self.save()

    def run_cmd(self, cmd, limit, log_name, env=None):
        """Runs cmd with a time limit, output to WORK/log_name; returns a dict."""
        log_path = os.path.join(self.work, log_name)
        t0 = time.monotonic()
        shown = [c if len(str(c)) < 200 else str(c)[:60] + "…" for c in cmd]
        self.log("$ " + " ".join(shlex.quote(str(c)) for c in shown) + f"   (limit {limit} s)")
        try:
            with open(log_path, "w") as logf:
                # Its own process group, so that a time-out also ends what it started.
                p = subprocess.Popen([str(c) for c in cmd], stdout=logf, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.args.cwd or None, start_new_session=True)
                try:
                    rc, timed_out = p.wait(timeout=limit), False
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()
                    rc, timed_out = None, True
        except OSError as e:
            with open(log_path, "a") as logf:
                logf.write(f"cannot run: {e}\n")
            rc, timed_out = 127, False
        with open(log_path, errors="replace") as f:
            text = f.read()
        return {"rc": rc, "timed_out": timed_out, "seconds": time.monotonic() - t0,
                "output": text, "log": log_name}

    def save(self):
        m = self.merged
        m["wall_seconds"] = round(self.budget.elapsed(), 1)
        m["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        try:
            m["comparison"] = build_comparison(m)
        except Exception as e:  # never lose the raw results to a table bug
            m["comparison"] = {"error": f"{type(e).__name__}: {e}"}
        base = os.path.join(self.out, f"{self.slug}-pyjuice-compare")
        atomic_write(base + ".json", json.dumps(m, indent=2, default=str) + "\n")
        atomic_write(os.path.join(self.work, "merged.json"), json.dumps(m, indent=2, default=str))
        try:
            md = render_markdown(m)
        except Exception as e:
            md = f"(table failed: {type(e).__name__}: {e})\n"
        atomic_write(base + ".md", md)
        atomic_write(base + ".log", "\n".join(self._log_lines) + "\n")
        tar_path = base + "-raw.tar.gz"
        tmp = tar_path + ".tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            for root, _dirs, files in os.walk(self.work):
                for name in sorted(files):
                    if name.endswith((".json", ".jsonl", ".log", ".txt", ".csv")):
                        path = os.path.join(root, name)
                        tar.add(path, arcname=os.path.relpath(path, self.work))
        os.replace(tmp, tar_path)
        return md

    # -- parts
    def part_env(self):
        t0 = time.monotonic()
        smi = shutil.which("nvidia-smi")
        if smi:
            r = self.run_cmd([smi, "--query-gpu=name", "--format=csv,noheader"], 20, "nvidia-smi-name.txt")
            if r["rc"] == 0 and r["output"].strip():
                self.merged["card"] = r["output"].strip().splitlines()[0].strip()
            r = self.run_cmd([smi, "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                              "clocks.sm,power.limit,temperature.gpu", "--format=csv"], 20,
                             "nvidia-smi.txt")
            self.merged["nvidia_smi"] = r["output"].strip()
        self.slug = card_slug(self.merged["card"])
        try:
            c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True, timeout=10)
            if c.returncode == 0:
                dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                       capture_output=True, text=True, timeout=10).stdout.strip()
                self.merged["repository_commit"] = c.stdout.strip() + ("+changes" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
        e = self.merged["einet"]
        if not self.args.pyjuice_only:
            r = self.run_cmd([self.args.einet, "--version"], 20, "einet-version.txt")
            if r["rc"] == 0:
                e.update(parse_einet_version(r["output"]))
            else:
                e["version_error"] = r["output"][-300:]
            r = self.run_cmd([self.args.einet, "bench", "--help"], 20, "einet-bench-help.txt")
            e["precision_flag"] = einet_precision_supported(r["output"])
            if not e["precision_flag"]:
                e["precision"] = "fp32"
                e["precision_note"] = "this einet build has no --precision option: FP32 only"
        self.part("env", "ok", time.monotonic() - t0, card=self.merged["card"])

    def _einet_precision_args(self):
        e = self.merged["einet"]
        return ["--precision", self.args.precision] if e.get("precision_flag") else []

    def part_einet_bench(self):
        name = "einet_bench"
        limit = self.budget.limit(PART_CAPS_S[name])
        if limit is None:
            return self.part(name, "skipped", error="time budget spent")
        bench = self.merged["einet"]["bench"]
        bench.update({"status": "running", "results": [], "calls": []})
        t0 = time.monotonic()
        status, errors = "ok", []
        for batch, configs in einet_bench_groups(self.plan):
            left = min(limit - (time.monotonic() - t0), self.budget.left() - 5)
            if left < 10:
                status = "partial"
                errors.append(f"batch {batch}: time budget spent")
                break
            jpath = os.path.join(self.work, f"einet-bench-b{batch}.json")
            cmd = [self.args.einet, "bench", "--config", ",".join(configs), "--backend",
                   self.args.backend, "--batch-size", batch, "--repeats", self.plan["repeats"],
                   "--seed", self.plan["seed"], "--json", jpath] + self._einet_precision_args()
            if self.args.threads:
                cmd += ["--threads", self.args.threads]
            r = self.run_cmd(cmd, int(left), f"einet-bench-b{batch}.log")
            call = {"batch_size": batch, "configs": configs, "rc": r["rc"],
                    "timed_out": r["timed_out"], "seconds": round(r["seconds"], 2)}
            bench["calls"].append(call)
            if r["rc"] == 0 and os.path.isfile(jpath):
                bench["results"].extend(read_json(jpath))
            else:
                status = "partial" if bench["results"] else "error"
                errors.append(f"batch {batch}: " + ("timed out" if r["timed_out"] else
                              f"exit {r['rc']}: {r['output'][-300:]}"))
            self.save()
        if bench["results"]:
            first = bench["results"][0]
            self.merged["einet"]["commit"] = first.get("commit") or self.merged["einet"]["commit"]
            bench["device"] = first.get("device")
            if first.get("precision"):
                self.merged["einet"]["precision"] = first["precision"]
        bench["status"] = status
        if errors:
            bench["errors"] = errors
        self.part(name, status, time.monotonic() - t0, error="; ".join(errors) or None)

    def part_einet_train(self, model):
        name = f"einet_train_{model}"
        limit = self.budget.limit(PART_CAPS_S[name])
        trains = self.merged["einet"]["train"]
        if limit is None:
            trains[model] = {"status": "skipped"}
            return self.part(name, "skipped", error="time budget spent")
        t0 = time.monotonic()
        rec = trains.setdefault(model, {})
        rec["status"] = "running"
        try:
            mnist_paths(self.args.data_dir)
        except FileNotFoundError as e:
            rec.update(status="error", error=str(e))
            return self.part(name, "error", time.monotonic() - t0, error=e)
        p = self.plan
        out_dir = os.path.join(self.work, f"einet-train-{model}")
        shutil.rmtree(out_dir, ignore_errors=True)
        cmd = [self.args.einet, "train", "-d", "mnist", "--data-dir", self.args.data_dir,
               *MODELS[model]["einet_train_args"], "-k", p["train_k"], "--leaf", "categorical:256",
               "--leaf-init", "random", "--em", "stepwise", "--stepwise-rule", "parameters",
               "--step-size", p["step_size"], "--pseudocount", f"{p['einet_pseudocount']:.9g}",
               "--epochs", p["train_epochs"], "--batch-size", p["train_batch_size"],
               "--seed", p["seed"], "--backend", self.args.backend, "--no-samples",
               "--out", out_dir] + self._einet_precision_args()
        if self.args.threads:
            cmd += ["--threads", self.args.threads]
        rec["command"] = " ".join(shlex.quote(str(c)) for c in cmd)
        r = self.run_cmd(cmd, limit, f"einet-train-{model}.log")
        rec.update(rc=r["rc"], timed_out=r["timed_out"], seconds=round(r["seconds"], 2))
        metrics_path = os.path.join(out_dir, "metrics.jsonl")
        if os.path.isfile(metrics_path):
            shutil.copy(metrics_path, os.path.join(self.work, f"einet-train-{model}-metrics.jsonl"))
            rec["epochs"] = read_jsonl(metrics_path)
        if r["rc"] != 0:
            rec["status"] = "timeout" if r["timed_out"] else "error"
            rec["error"] = "timed out" if r["timed_out"] else r["output"][-400:]
            return self.part(name, rec["status"], time.monotonic() - t0, error=rec["error"])
        m = re.search(r"(\d+)\s+train\s*/\s*(\d+)\s+valid\s*/\s*(\d+)\s+test rows", r["output"])
        if m:
            rec["rows"] = {"train": int(m.group(1)), "valid": int(m.group(2)), "test": int(m.group(3))}
            rec["steps"] = p["train_epochs"] * steps_per_epoch(int(m.group(1)), p["train_batch_size"])
        epochs = rec.get("epochs") or []
        if epochs:
            rec["train_seconds_per_epoch"] = statistics.median(ep["seconds"] for ep in epochs)
        model_path = os.path.join(out_dir, "model.einet")
        left = max(10, int(min(60, self.budget.left() - 5)))
        ev = self.run_cmd([self.args.einet, "eval", "-m", model_path, "--split", "test", "--json",
                           "--data-dir", self.args.data_dir, "--backend", self.args.backend],
                          left, f"einet-eval-{model}.log")
        try:
            j = json.loads(ev["output"].strip().splitlines()[-1])
            rec["eval"] = j
            rec["test_ll"] = j.get("log_likelihood")
            rec["test_bpd"] = j.get("bits_per_dim")
        except (ValueError, IndexError):
            rec["eval_error"] = ev["output"][-400:]
            if epochs:  # the best epoch's test LL from the metrics
                best = max(epochs, key=lambda ep: ep.get("valid_ll", -math.inf))
                rec["test_ll"] = best.get("test_ll")
                rec["test_bpd"] = best.get("test_bpd")
        info = self.run_cmd([self.args.einet, "info", "-m", model_path], 30, f"einet-info-{model}.txt")
        rec["edges"] = parse_info_edges(info["output"])
        rec["status"] = "ok" if rec.get("test_ll") is not None else "error"
        try:  # the model files are large and not kept
            os.remove(model_path)
        except OSError:
            pass
        self.part(name, rec["status"], time.monotonic() - t0,
                  error=None if rec["status"] == "ok" else rec.get("eval_error"))

    def part_pyjuice_probe(self):
        name = "pyjuice_probe"
        pj = self.merged["pyjuice"]
        limit = self.budget.limit(PART_CAPS_S[name])
        if limit is None:
            pj["status"] = "skipped"
            return self.part(name, "skipped", error="time budget spent")
        code = (
            "import json, sys\n"
            "out = {}\n"
            "try:\n"
            "    import torch\n"
            "    out['torch'] = torch.__version__\n"
            "    out['cuda_available'] = torch.cuda.is_available()\n"
            "    out['torch_cuda'] = getattr(getattr(torch, 'version', None), 'cuda', None)\n"
            "    if torch.cuda.is_available():\n"
            "        out['device'] = torch.cuda.get_device_name(0)\n"
            "    import triton\n"
            "    out['triton'] = triton.__version__\n"
            "    import pyjuice\n"
            "    out['pyjuice_file'] = pyjuice.__file__\n"
            "    out['pyjuice'] = getattr(pyjuice, '__version__', None) or 'unknown'\n"
            "    try:\n"
            "        from importlib import metadata\n"
            "        out['pyjuice'] = metadata.version('pyjuice')\n"
            "    except Exception:\n"
            "        pass\n"
            "except Exception as e:\n"
            "    out['error'] = type(e).__name__ + ': ' + str(e)\n"
            "print(json.dumps(out))\n"
        )
        t0 = time.monotonic()
        r = self.run_cmd([self.args.python, "-c", code], limit, "pyjuice-probe.log")
        try:
            info = json.loads(r["output"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            info = {"error": "probe printed no JSON: " + r["output"][-400:]}
        pj.update({k: v for k, v in info.items() if k != "pyjuice"})
        pj["version"] = info.get("pyjuice")
        if os.environ.get("PYJUICE_INSTALL_NOTE"):
            pj["install"] = os.environ["PYJUICE_INSTALL_NOTE"]
        ok = "error" not in info and info.get("cuda_available")
        if ok and pj["version"] != PYJUICE_VERSION:
            pj["version_warning"] = f"PyJuice {pj['version']} installed, {PYJUICE_VERSION} asked for"
        if not ok and "error" not in info:
            info["error"] = "torch sees no CUDA device"
        pj["status"] = "ok" if ok else "error"
        if not ok:
            pj["error"] = info.get("error")
        self.part(name, pj["status"], time.monotonic() - t0, error=pj.get("error"))
        return ok

    def part_pyjuice_model(self, model):
        name = f"pyjuice_{model}"
        models = self.merged["pyjuice"]["models"]
        limit = self.budget.limit(PART_CAPS_S[name])
        if limit is None:
            models[model] = {"status": "skipped"}
            return self.part(name, "skipped", error="time budget spent")
        p = self.plan
        result_path = os.path.join(self.work, f"pyjuice-{model}.json")
        cmd = [self.args.python, os.path.abspath(__file__), "--worker", "pyjuice", "--model", model,
               "--result", result_path, "--worker-batch-sizes",
               ",".join(str(b) for b in p["batch_sizes"].get(model, [])),
               "--repeats", p["repeats"], "--warmup", p["warmup"], "--step-size", p["step_size"],
               "--pseudocount", p["pseudocount"], "--seed", p["seed"],
               "--pd-split-interval", p["pd_split_interval"],
               "--train-epochs", p["train_epochs"], "--train-batch-size", p["train_batch_size"],
               "--train-k", p["train_k"], "--worker-deadline-s", max(5, limit - 10)]
        if self.args.data_dir:
            cmd += ["--data-dir", self.args.data_dir]
        if model in p["train_models"]:
            cmd += ["--worker-train"]
        if not p["pyjuice_cudagraph"]:
            cmd += ["--no-cudagraph"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        r = self.run_cmd(cmd, limit, f"pyjuice-{model}.log", env=env)
        try:
            res = read_json(result_path)
        except (OSError, ValueError):
            res = {"status": "error", "error": "the worker wrote no result"}
        if r["timed_out"]:
            res["status"] = "timeout"
            res.setdefault("error", f"killed after {limit} s; phases done: {sorted(res.get('phases', {}))}")
        elif r["rc"] != 0 and res.get("status") in (None, "running", "ok"):
            res["status"] = "error"
            res.setdefault("error", f"exit {r['rc']}: {r['output'][-400:]}")
        res["worker_seconds"] = round(r["seconds"], 2)
        models[model] = res
        self.part(name, res.get("status", "error"), r["seconds"], error=res.get("error"))

    def run(self):
        a = self.args
        self.part_env()
        self.log(f"plan: {json.dumps(self.plan)}")
        if not a.pyjuice_only:
            self.part_einet_bench()
        else:
            self.merged["einet"]["bench"]["status"] = "skipped"
        pj_ok = False
        if a.einet_only:
            self.merged["pyjuice"]["status"] = "skipped (--einet-only)"
            self.part("pyjuice", "skipped", error="--einet-only")
        else:
            pj_ok = self.part_pyjuice_probe()
        first = [m for m in ("hclt", "pd") if m in self.plan["bench_models"] or m in self.plan["train_models"]]
        later = [m for m in self.plan["bench_models"] if m not in first]
        if pj_ok:
            for m in first:
                self.part_pyjuice_model(m)
        if not a.pyjuice_only:
            for m in self.plan["train_models"]:
                self.part_einet_train(m)
        if pj_ok:
            for m in later:
                self.part_pyjuice_model(m)
        md = self.save()
        print()
        print(md)
        base = os.path.join(self.out, f"{self.slug}-pyjuice-compare")
        print(f"wrote {base}.json, .md, .log and -raw.tar.gz")
        bad = [p for p in self.merged["parts"] if p["status"] not in ("ok", "skipped")]
        return 1 if bad else 0


def atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# The PyJuice worker (runs in its own process, imports torch and pyjuice).


def _load_mnist_split(data_dir, seed):
    """einet's (train, valid, test) MNIST rows as uint8 numpy arrays of shape (n, 784)."""
    import numpy as np

    paths = mnist_paths(data_dir)
    dims, payload = read_idx(paths["train_images"])
    train_all = np.frombuffer(payload, dtype=np.uint8).reshape(dims[0], dims[1] * dims[2])
    dims_t, payload_t = read_idx(paths["test_images"])
    test = np.frombuffer(payload_t, dtype=np.uint8).reshape(dims_t[0], dims_t[1] * dims_t[2])
    tr_idx, va_idx = einet_validation_split(train_all.shape[0], MNIST_VALID_FRACTION, 0)
    return train_all[tr_idx], train_all[va_idx], test


def _build_pyjuice_structure(juice, dists, model, spec, structure_data, k, a):
    """PyJuice's own structure for `model` with `k` latents, and its arguments (for the JSON)."""
    cats = dists.Categorical(num_cats=spec["categories"])
    if model == "hclt":
        args = {"num_latents": k, "num_bins": 32, "sigma": 0.5 / 32, "chunk_size": 32}
        ns = juice.structures.HCLT(structure_data, input_dist=cats, **args)
    elif model == "pd":
        iv = a.pd_split_interval
        args = {"data_shape": (28, 28), "num_latents": k, "split_intervals": (iv, iv),
                "structure_type": "sum_dominated"}
        ns = juice.structures.PD(input_dist=cats, **args)
    else:
        args = {"num_vars": NUM_PIXELS, "num_latents": k, "depth": 5,
                "num_repetitions": 20, "num_pieces": 2}
        ns = juice.structures.RAT_SPN(input_dist=cats, **args)
    args = {k2: (list(v) if isinstance(v, tuple) else v) for k2, v in args.items()}
    args["input_dist"] = f"Categorical(num_cats={spec['categories']})"
    return ns, args


def _timed_steps(torch, fn, n):
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times


def pyjuice_worker(a):
    res = {"model": a.model, "status": "running", "phases": {}, "bench": [], "errors": []}

    def save():
        atomic_write(a.result, json.dumps(res, indent=2, default=str))

    def phase(name, t0):
        res["phases"][name] = round(time.perf_counter() - t0, 3)
        save()

    deadline = time.monotonic() + a.worker_deadline_s
    spec = MODELS[a.model]
    try:
        t0 = time.perf_counter()
        import numpy as np
        import torch
        import pyjuice as juice
        import pyjuice.nodes.distributions as dists

        res["versions"] = {"torch": torch.__version__, "pyjuice": getattr(juice, "__version__", None)}
        try:
            from importlib import metadata

            res["versions"]["pyjuice"] = metadata.version("pyjuice")
            import triton

            res["versions"]["triton"] = triton.__version__
        except Exception:
            pass
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        dev = torch.device("cuda:0")
        res["device"] = torch.cuda.get_device_name(0)
        res["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
        phase("import_s", t0)
        random.seed(a.seed)
        np.random.seed(a.seed)
        torch.manual_seed(a.seed)

        # Data: einet's MNIST split (the HCLT's tree is learned from its training rows).
        data = None
        if spec["categories"] == 256 and a.data_dir:
            t0 = time.perf_counter()
            try:
                data = _load_mnist_split(a.data_dir, a.seed)
                res["data"] = {"train": len(data[0]), "valid": len(data[1]), "test": len(data[2]),
                               "split": "einet's (Philox4x32-10, seed 0, 10,000 validation rows)"}
            except (OSError, ValueError) as e:
                res["errors"].append(f"MNIST: {e}")
            phase("data_s", t0)
        if a.worker_train and data is None:
            res["errors"].append("no MNIST data: training skipped")
        structure_data = None
        if a.model == "hclt":
            if data is not None:
                structure_data = torch.from_numpy(data[0].astype(np.float32)).to(dev)
                res["structure_data"] = "einet's MNIST training rows"
            else:
                structure_data = torch.randint(0, 256, (10000, NUM_PIXELS), device=dev).float()
                res["structure_data"] = "random rows (no MNIST data)"

        # Structure and compilation (the trained model gets its own structure if --train-k is
        # not the model's K of the benchmark).
        t0 = time.perf_counter()
        ns, sargs = _build_pyjuice_structure(juice, dists, a.model, spec, structure_data,
                                             spec["latents"], a)
        res["structure"] = sargs
        ns.init_parameters(perturbation=2.0)
        phase("structure_s", t0)
        train_ns = ns
        if a.worker_train and a.train_k != spec["latents"]:
            t0 = time.perf_counter()
            train_ns, targs = _build_pyjuice_structure(juice, dists, a.model, spec,
                                                       structure_data, a.train_k, a)
            train_ns.init_parameters(perturbation=2.0)
            res["train_structure"] = targs
            phase("train_structure_s", t0)
        del structure_data
        t0 = time.perf_counter()
        pc = juice.compile(ns)
        pc.to(dev)
        torch.cuda.synchronize()
        phase("compile_s", t0)
        res["num_edges"] = int(pc.num_edges)
        res["num_sum_params"] = int(getattr(pc, "num_sum_params", 0)) or None
        res["num_nodes"] = int(getattr(pc, "num_nodes", 0)) or None
        res["anchor_edges_millions"] = spec["anchor_edges_millions"]
        save()

        use_graph = not a.no_cudagraph

        def train_step(x, record=False):
            pc(x, record_cudagraph=record)
            pc.backward(x, flows_memory=0.0, record_cudagraph=record)
            pc.mini_batch_em(step_size=a.step_size, pseudocount=a.pseudocount)

        # Throughput on random data, per batch size.
        batches = [int(b) for b in a.worker_batch_sizes.split(",") if b]
        for b in batches:
            if time.monotonic() > deadline - 20:
                res["errors"].append(f"batch {b}: skipped, worker deadline near")
                break
            row = {"batch_size": b, "repeats": a.repeats, "warmup": a.warmup, "status": "running"}
            res["bench"].append(row)
            try:
                t0 = time.perf_counter()
                x = torch.randint(0, spec["categories"], (b, NUM_PIXELS), device=dev, dtype=torch.long)
                with torch.no_grad():
                    graph = use_graph
                    for i in range(a.warmup):
                        try:
                            lls = pc(x, record_cudagraph=graph and i == 0)
                        except Exception as e:  # recording failed: go on without graphs
                            if not graph:
                                raise
                            res["errors"].append(f"cudagraph forward b={b}: {type(e).__name__}: {e}")
                            graph = False
                            lls = pc(x)
                    torch.cuda.synchronize()
                    row["first_forward_s"] = round(time.perf_counter() - t0, 3)
                    torch.cuda.reset_peak_memory_stats(dev)
                    fwd = _timed_steps(torch, lambda: pc(x), a.repeats)
                    row["peak_memory_forward_bytes"] = int(torch.cuda.max_memory_allocated(dev))
                    ll = float(pc(x).float().mean().item())
                    t0 = time.perf_counter()
                    for i in range(a.warmup):
                        try:
                            train_step(x, record=graph and i == 0)
                        except Exception as e:
                            if not graph:
                                raise
                            res["errors"].append(f"cudagraph train b={b}: {type(e).__name__}: {e}")
                            graph = False
                            train_step(x)
                    torch.cuda.synchronize()
                    row["first_train_s"] = round(time.perf_counter() - t0, 3)
                    torch.cuda.reset_peak_memory_stats(dev)
                    tr = _timed_steps(torch, lambda: train_step(x), a.repeats)
                    row["peak_memory_train_bytes"] = int(torch.cuda.max_memory_allocated(dev))
                row.update(
                    cudagraph=graph,
                    forward_seconds=statistics.median(fwd),
                    train_seconds=statistics.median(tr),
                    forward_seconds_all=[round(t, 6) for t in fwd],
                    train_seconds_all=[round(t, 6) for t in tr],
                    forward_samples_per_s=b / statistics.median(fwd),
                    train_samples_per_s=b / statistics.median(tr),
                    mean_ll_random_data=ll,
                    status="ok",
                )
            except Exception as e:
                row.update(status="error", error=f"{type(e).__name__}: {e}",
                           traceback=traceback.format_exc()[-2000:])
            save()
            torch.cuda.empty_cache()

        # Training on MNIST: einet's training rows, the same steps per epoch as einet.
        if a.worker_train and data is not None:
            tr_res = {"status": "running", "epochs": []}
            res["train"] = tr_res
            try:
                t0 = time.perf_counter()
                del pc
                torch.cuda.empty_cache()
                pc = juice.compile(train_ns)  # from the initial parameters again
                pc.to(dev)
                tr_res["num_edges"] = int(pc.num_edges)
                phase("recompile_s", t0)
                train, valid, test = (torch.from_numpy(d.astype(np.int64)).to(dev) for d in data)
                B = a.train_batch_size
                n = train.shape[0]
                spe = steps_per_epoch(n, B)
                g = torch.Generator().manual_seed(a.seed)
                tr_res.update(batch_size=B, steps_per_epoch=spe, rows=n, step_size=a.step_size,
                              pseudocount=a.pseudocount, k=a.train_k,
                              last_batch="filled to the full batch from the start of the epoch's order")

                def mean_ll(d):
                    total = 0.0
                    with torch.no_grad():
                        for s in range(0, d.shape[0], B):
                            real = min(B, d.shape[0] - s)
                            idx = torch.arange(s, s + B, device=dev) % d.shape[0]
                            total += float(pc(d[idx])[:real].double().sum().item())
                    return total / d.shape[0]

                steps = 0
                graph = use_graph
                tr_res["cudagraph"] = graph
                for epoch in range(1, a.train_epochs + 1):
                    if time.monotonic() > deadline - 15:
                        tr_res["errors"] = [f"stopped before epoch {epoch}: worker deadline near"]
                        break
                    perm = torch.randperm(n, generator=g).to(dev)
                    running = torch.zeros((), dtype=torch.float64, device=dev)
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    with torch.no_grad():
                        for k in range(spe):
                            idx = perm[(torch.arange(k * B, (k + 1) * B, device=dev)) % n]
                            x = train[idx]
                            record = graph and steps == 0  # as PyJuice's own training example
                            try:
                                lls = pc(x, record_cudagraph=record)
                                pc.backward(x, flows_memory=0.0, record_cudagraph=record)
                            except Exception as e:
                                if not record:
                                    raise
                                res["errors"].append(f"cudagraph training: {type(e).__name__}: {e}")
                                graph = False
                                lls = pc(x)
                                pc.backward(x, flows_memory=0.0)
                            pc.mini_batch_em(step_size=a.step_size, pseudocount=a.pseudocount)
                            running += lls.double().sum()
                            steps += 1
                    torch.cuda.synchronize()
                    secs = time.perf_counter() - t0
                    t1 = time.perf_counter()
                    ep = {"epoch": epoch, "seconds": secs, "steps": spe,
                          "train_ll_running": float(running.item()) / (spe * B),
                          "valid_ll": mean_ll(valid), "test_ll": mean_ll(test)}
                    ep["eval_seconds"] = time.perf_counter() - t1
                    ep["valid_bpd"] = bits_per_dim(ep["valid_ll"])
                    ep["test_bpd"] = bits_per_dim(ep["test_ll"])
                    tr_res["epochs"].append(ep)
                    tr_res["cudagraph"] = graph
                    save()
                eps = tr_res["epochs"]
                if eps:
                    best = max(eps, key=lambda e: e["valid_ll"])
                    tr_res.update(steps=steps, best_epoch=best["epoch"],
                                  test_ll_at_best_valid=best["test_ll"],
                                  test_bpd_at_best_valid=best["test_bpd"],
                                  final_test_ll=eps[-1]["test_ll"],
                                  train_seconds_per_epoch=statistics.median(e["seconds"] for e in eps),
                                  peak_memory_bytes=int(torch.cuda.max_memory_allocated(dev)))
                    tr_res["status"] = "ok" if math.isfinite(best["test_ll"]) else "error"
                else:
                    tr_res["status"] = "error"
            except Exception as e:
                tr_res.update(status="error", error=f"{type(e).__name__}: {e}",
                              traceback=traceback.format_exc()[-2000:])
            save()
        bench_ok = all(r.get("status") == "ok" for r in res["bench"])
        train_ok = not a.worker_train or (res.get("train") or {}).get("status") == "ok"
        res["status"] = "ok" if bench_ok and train_ok else "partial"
        if not bench_ok or not train_ok:
            res["error"] = "; ".join(
                [f"b={r['batch_size']}: {r.get('error')}" for r in res["bench"] if r.get("status") != "ok"]
                + ([f"train: {(res.get('train') or {}).get('error', 'not run')}"] if not train_ok else [])
            )
    except Exception as e:
        res.update(status="error", error=f"{type(e).__name__}: {e}",
                   traceback=traceback.format_exc()[-3000:])
    save()
    print(json.dumps({k: res.get(k) for k in ("model", "status", "num_edges", "error")}))
    return 0 if res["status"] == "ok" else 1


# --------------------------------------------------------------------------------------------


def parse_args(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT") or "docs/results/gpu",
                   help="folder of the four result files [default: $OUT, else docs/results/gpu]")
    p.add_argument("--work-dir", help="folder of the raw files [default: a new folder in $TMPDIR]")
    p.add_argument("--data-dir", default=None, help="folder holding the MNIST files (DIR or DIR/mnist)")
    p.add_argument("--einet", default="gpu-bin/einet", help="the einet binary [default: gpu-bin/einet]")
    p.add_argument("--backend", default="cuda", choices=["cuda", "cpu"], help="einet's backend")
    p.add_argument("--threads", type=int, help="einet's CPU threads (cpu backend)")
    p.add_argument("--precision", default="fp32",
                   help="einet's --precision, passed where the binary has that option [fp32]")
    p.add_argument("--python", default=sys.executable, help="Python with torch and PyJuice")
    p.add_argument("--quick", action="store_true", help="fewer models, repeats and batch sizes")
    p.add_argument("--einet-only", action="store_true", help="skip PyJuice (e.g. on the CPU)")
    p.add_argument("--pyjuice-only", action="store_true", help="skip einet")
    p.add_argument("--models", help="models to time, comma-separated: hclt,pd,rat,rat32")
    p.add_argument("--train-models", help="models to train on MNIST: hclt,pd ('' for none)")
    p.add_argument("--batch-sizes", help="time every model at these batch sizes instead")
    p.add_argument("--repeats", type=int, help="timed steps per measurement [full 20, quick 5]")
    p.add_argument("--warmup", type=int, help="warm-up steps [full 3, quick 2]")
    p.add_argument("--budget-s", type=int, help="seconds for the whole run [full 450, quick 240]")
    p.add_argument("--train-epochs", type=int, default=1, help="MNIST epochs for both [1]")
    p.add_argument("--train-batch-size", type=int, default=512, help="MNIST batch [512]")
    p.add_argument("--train-k", type=int, default=32, help="latents/K of the trained models [32]")
    p.add_argument("--step-size", type=float, default=0.1, help="mini-batch EM step size [0.1]")
    p.add_argument("--pseudocount", type=float, default=0.1,
                   help="PyJuice's pseudocount (einet gets it / 256 per entry) [0.1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pd-split-interval", type=int, default=4, help="PyJuice PD split interval [4]")
    p.add_argument("--no-cudagraph", action="store_true", help="PyJuice without CUDA graphs")
    p.add_argument("--cwd", help=argparse.SUPPRESS)
    p.add_argument("--self-test", action="store_true",
                   help="run the offline unit tests (scripts/tests/test_pyjuice_compare.py)")
    # The worker's own arguments.
    p.add_argument("--worker", choices=["pyjuice"], help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--worker-batch-sizes", default="", help=argparse.SUPPRESS)
    p.add_argument("--worker-train", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-deadline-s", type=float, default=600, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.tests_dir = os.path.join(here, "tests")
    return a


def main(argv=None):
    a = parse_args(argv)
    if a.self_test:
        import unittest

        sys.dont_write_bytecode = True

        suite = unittest.defaultTestLoader.discover(a.tests_dir, pattern="test_pyjuice_compare.py")
        ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
        return 0 if ok else 1
    if a.worker:
        a.repeats = a.repeats or 5
        a.warmup = a.warmup or 2
        return pyjuice_worker(a)
    if a.einet_only and a.pyjuice_only:
        raise SystemExit("--einet-only and --pyjuice-only exclude each other")
    plan = make_plan(a)
    return Run(a, plan).run()


if __name__ == "__main__":
    sys.exit(main())
