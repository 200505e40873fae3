#!/usr/bin/env bash
# gpu-profile.sh: where the CUDA backend's time goes, kernel by kernel, on the GPU machine.
#
# Build here with `scripts/gpu-check.sh prepare`, then on the GPU machine (gpu-bin/ carried):
#   OUT=/some/dir scripts/gpu-profile.sh
# For each configuration and batch below it runs `einet bench --repeats 1` (one warm-up and
# one timed forward pass, then the same for a training step) under Nsight Compute with the
# clocks left alone, and writes one CSV row per kernel launch to $OUT/ncu-<config>-<batch>.csv:
# duration, DRAM bytes read and written, FP32 instructions (FFMA, FADD, FMUL) and the SM and
# memory throughput in percent of peak. `scripts/ncu-summary.py` turns them into per-kernel
# totals. Then `einet bench` without the profiler gives the wall-clock rates and the peak
# device memory of every canonical configuration ($OUT/bench-cuda*.json).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${GPU_BIN:-gpu-bin}
OUT=${OUT:-$PWD/gpu-profile-out}
mkdir -p "$OUT"
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum
metrics+=,smsp__sass_thread_inst_executed_op_ffma_pred_on.sum
metrics+=,smsp__sass_thread_inst_executed_op_fadd_pred_on.sum
metrics+=,smsp__sass_thread_inst_executed_op_fmul_pred_on.sum
metrics+=,sm__throughput.avg.pct_of_peak_sustained_elapsed
metrics+=,gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed
metrics+=,launch__grid_size,launch__block_size,sm__warps_active.avg.pct_of_peak_sustained_active
minimal=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum
for run in "A1 1000" "C2 1000" "B1 100"; do
  read -r config batch <<<"$run"
  name=ncu-$config-$batch
  for m in "$metrics" "$minimal"; do # the second if a metric is unknown to this ncu
    timeout 75 ncu --clock-control none --csv --page raw --metrics "$m" \
      --log-file "$OUT/$name.csv" "$BIN/einet" bench --config "$config" --backend cuda \
      --batch-size "$batch" --repeats 1 >"$OUT/$name.log" 2>&1
    rc=$?
    rows=$(grep -c '^"' "$OUT/$name.csv" 2>/dev/null)
    echo "$name: exit $rc, ${rows:-0} rows"
    ((${rows:-0} > 2)) && break
  done
done
"$BIN/einet" bench --config A1,A2,B1,B2,B3,C1,C2,C3 --backend cuda --batch-size 1000 \
  --json "$OUT/bench-cuda.json"
"$BIN/einet" bench --config B1,B2,C1,C2 --backend cuda --batch-size 100 \
  --json "$OUT/bench-cuda-b100.json"
