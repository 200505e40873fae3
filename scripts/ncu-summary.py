#!/usr/bin/env python3
"""Per-kernel totals from the CSVs of scripts/gpu-profile.sh (Nsight Compute, --page raw).

    scripts/ncu-summary.py DIR/ncu-A1-1000.csv [...]

For each file: one row per kernel name with its launches, total and mean time, the FP32
operations it executed (FFMA counts 2, FADD and FMUL 1) and the DRAM bytes it moved, as rates
(TFLOP/s, TB/s), its mean SM and memory throughput in percent of peak and its achieved
occupancy; then the totals. Needs only the standard library.
"""
import csv
import sys
from collections import OrderedDict


def number(text):
    try:
        return float(text.replace(",", ""))
    except (AttributeError, ValueError):
        return None


def rows(path):
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]
    reader = csv.DictReader(lines)
    units = next(reader)  # the second row holds the units
    scale = {}
    for key, unit in units.items():
        scale[key] = {"ns": 1e-9, "nsecond": 1e-9, "us": 1e-6, "usecond": 1e-6, "ms": 1e-3,
                      "msecond": 1e-3, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(unit, 1.0)
    for row in reader:
        yield {k: (number(v) * scale[k] if number(v) is not None else v) for k, v in row.items()}


def summarise(path):
    kernels = OrderedDict()
    for row in rows(path):
        k = kernels.setdefault(row["Kernel Name"], {"n": 0, "t": 0.0, "flop": 0.0, "bytes": 0.0,
                                                    "sm": 0.0, "mem": 0.0, "occ": 0.0})
        t = row.get("gpu__time_duration.sum") or 0.0
        k["n"] += 1
        k["t"] += t
        ffma = row.get("smsp__sass_thread_inst_executed_op_ffma_pred_on.sum")
        if isinstance(ffma, float):
            k["flop"] += 2 * ffma + (row.get("smsp__sass_thread_inst_executed_op_fadd_pred_on.sum") or 0) \
                + (row.get("smsp__sass_thread_inst_executed_op_fmul_pred_on.sum") or 0)
        k["bytes"] += (row.get("dram__bytes_read.sum") or 0) + (row.get("dram__bytes_write.sum") or 0)
        for key, name in (("sm", "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
                          ("mem", "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"),
                          ("occ", "sm__warps_active.avg.pct_of_peak_sustained_active")):
            v = row.get(name)
            if isinstance(v, float):
                k[key] += v * t  # time-weighted
    print(f"\n{path}")
    print(f"{'kernel':<20} {'calls':>5} {'total ms':>9} {'mean us':>8} {'TFLOP/s':>8} {'TB/s':>6} "
          f"{'SM %':>5} {'mem %':>5} {'occ %':>5}")
    total = {"t": 0.0, "flop": 0.0, "bytes": 0.0}
    for name, k in sorted(kernels.items(), key=lambda kv: -kv[1]["t"]):
        t = k["t"] or float("nan")
        print(f"{name:<20} {k['n']:>5} {k['t'] * 1e3:>9.3f} {k['t'] / k['n'] * 1e6:>8.1f} "
              f"{k['flop'] / t / 1e12:>8.2f} {k['bytes'] / t / 1e12:>6.2f} {k['sm'] / t:>5.1f} "
              f"{k['mem'] / t:>5.1f} {k['occ'] / t:>5.1f}")
        for key in total:
            total[key] += k[key]
    t = total["t"]
    print(f"{'all':<20} {sum(k['n'] for k in kernels.values()):>5} {t * 1e3:>9.3f} {'':>8} "
          f"{total['flop'] / t / 1e12:>8.2f} {total['bytes'] / t / 1e12:>6.2f}")


for p in sys.argv[1:]:
    summarise(p)
