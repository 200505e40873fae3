#!/usr/bin/env bash
# gpu-check.sh: the one prepared run of einet's CUDA checks and benchmarks on the GPU machine.
#
# Here (Rust, no GPU), from anywhere in the repository:
#   scripts/gpu-check.sh prepare
#     runs ../shared/tools/gpu-pack (release tests, benches and binaries with `--features
#     cuda` into gpu-bin/), keeps only what this check runs (einet_cuda.lib-tests, the
#     cuda_*.test files but the emulator's, gpu_vs_cpu.bench, einet) and strips them, and
#     copies the real data of the CPU parity tests and the DEBD runs into gpu-bin/data/ (the
#     GPU machine has no ../shared): MNIST's images and labels (mnist/, training set too for
#     the precision step), the CIFAR-10 subset's test batch (cifar10-subset/) and four DEBD
#     sets (debd/), from GPU_CHECK_DATA_SRC (default ../shared/data). ~30 MiB in all (15 MiB
#     of it data), within the 64 MiB that the device tool carries (gpu-pack's full output is
#     ~400 MB).
# There (no Rust, no network), from the repository root, gpu-bin/ carried along:
#   OUT=/some/dir scripts/gpu-check.sh      (OUT defaults to ./gpu-check-out)
# with EINET_DATA set to gpu-bin/data. The device tool returns at most 8 files, so call it as
#   o=$OUT; OUT=/tmp/gc scripts/gpu-check.sh; rc=$?; tar -C /tmp/gc -czf $o/gpu-check.tar.gz .;
#   cp /tmp/gc/summary.txt $o/; exit $rc
#
# Steps, each logged to $OUT/<step>.log and summarised in $OUT/summary.txt:
#   1. nvidia-smi, the CUDA libraries the loader sees
#   2. every einet-cuda test executable with EINET_REQUIRE_GPU=1 and --include-ignored: the
#      NVRTC compile report (registers/spills), unit tests, the backend-generic suite, CPU
#      parity on A1/C2 with MNIST/CIFAR test images (the emulator tests are skipped: they need
#      no GPU); the data each parity test used is copied into the summary
#   3. einet bench --backend cuda on the canonical configurations (batch 1000; B1, C1, C2 also
#      at batch 100) with the device memory each model holds, when gpu-bin/einet exists; a
#      CPU baseline on the same machine
#   4. the criterion bench gpu_vs_cpu (--bench --noplot): forward, EM step and sampling, CPU
#      and CUDA side by side, on A1 and C2 at batch 100 and 1000 and B1 at batch 100; its
#      estimates (JSON) go to $OUT/criterion
#   5. `einet experiment debd --setting demo --backend cuda`: nltcs, plants and baudio with all
#      four demo variants, msnbc with the reference's algorithm (results in $OUT/debd-cuda);
#      `einet bench` at tf32 and bf16 on A1, C2, C3 (batch 1000) and at every precision on
#      PyJuice's models P1–P3 (batch 512); and
#      scripts/precision_compare.py: the same HCLT and RAT models trained on nltcs, plants
#      and MNIST at fp32, tf32 and bf16, their end-of-training test LL against fp32's
#      (the bounds that a faster default must meet; $OUT/precision/precision.md)
#   6. compute-sanitizer memcheck on part of the suite, if the tool exists
#   7. compute-sanitizer racecheck on one test
# It continues after failures and exits 1 if any test (steps 2, 6, 7) failed or was not run.
# Steps are cut when the time budget (GPU_CHECK_BUDGET_S, default 540 s) is spent, so the
# whole run stays under ~9.5 minutes (device tool: timeout_s 600); on an H200 it took 133 s
# before the precision runs of step 5 existed (docs/results/gpu/).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${GPU_BIN:-gpu-bin}
# The DEBD sets trained with all four demo variants on the GPU (step 5), and the large one
# trained with the reference's algorithm only.
DEBD_SMALL=nltcs,plants,baudio
DEBD_LARGE=msnbc
DEBD_SETS="${DEBD_SMALL//,/ } $DEBD_LARGE"

if [[ ${1:-} == prepare ]]; then
  pack=${GPU_PACK:-../shared/tools/gpu-pack}
  "$pack" "$BIN" || exit 1
  for f in "$BIN"/*; do
    case "$(basename "$f")" in
      cuda_emulated_suite.test) rm -f "$f" ;; # CPU emulator: not run there
      einet_cuda.lib-tests | cuda_*.test | gpu_vs_cpu.bench | einet) strip "$f" ;;
      *) rm -f "$f" ;;
    esac
  done
  src=${GPU_CHECK_DATA_SRC:-../shared/data}
  debd=()
  for set in $DEBD_SETS; do
    for part in train valid test; do debd+=("debd/$set.$part.data.gz"); done
  done
  mnist=(mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz) # MNIST training: precision step
  for rel in "${mnist[@]}" cifar10-subset/test_batch_first1000.bin.gz "${debd[@]}"; do
    if [[ -f $src/$rel ]]; then
      mkdir -p "$BIN/data/$(dirname "$rel")" && cp "$src/$rel" "$BIN/data/$rel"
    else
      echo "gpu-check: WARNING: no $src/$rel; the parity tests will use random rows" >&2
    fi
  done
  echo "gpu-check: kept $(du -sh "$BIN" | cut -f1) in $BIN/:"
  (cd "$BIN" && find . -type f | sort | sed 's|^\./|  |')
  echo "run on the GPU machine: scripts/gpu-check.sh   (carry: $BIN)"
  exit 0
fi

OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
BUDGET=${GPU_CHECK_BUDGET_S:-540}
start=$SECONDS
summary="$OUT/summary.txt"
: > "$summary"
failed_tests=()
failed_other=()
export EINET_REQUIRE_GPU=1 EINET_REQUIRE_NVRTC=1 RUST_BACKTRACE=1
# The real data of the CPU parity tests (copied by `prepare`); they fall back to random rows,
# and say so, without it.
case $BIN in
  /*) export EINET_DATA=${EINET_DATA:-$BIN/data} ;;
  *) export EINET_DATA=${EINET_DATA:-$PWD/$BIN/data} ;;
esac

note() { printf '%s\n' "$*" | tee -a "$summary"; }
left() { echo $((BUDGET - (SECONDS - start))); }

# step KIND NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, logs it, records failures
# (KIND test or other).
step() {
  local kind=$1 name=$2 limit=$3
  shift 3
  local remaining
  remaining=$(left)
  if ((remaining < 15)); then
    note "$(printf '%-30s SKIPPED (time budget spent)' "$name")"
    [[ $kind == test ]] && failed_tests+=("$name (not run)")
    return 0
  fi
  ((limit > remaining)) && limit=$remaining
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local verdict=ok
  if ((rc != 0)); then
    verdict="FAILED (exit $rc$( ((rc == 124 || rc == 137)) && echo ', timed out'))"
    if [[ $kind == test ]]; then failed_tests+=("$name"); else failed_other+=("$name"); fi
  fi
  note "$(printf '%-30s %-28s %4ds' "$name" "$verdict" $((SECONDS - t0)))"
}

note "gpu-check $(date -u +%FT%TZ) on $(hostname)"
step other nvidia-smi 30 nvidia-smi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
  --format=csv >>"$OUT/nvidia-smi.log" 2>&1
{ ldconfig -p | grep -E 'libcuda\.so|libnvrtc' ; nproc; } >"$OUT/libraries.log" 2>&1

if [[ ! -d $BIN ]]; then
  note "no $BIN/: run 'scripts/gpu-check.sh prepare' on the build machine and carry $BIN"
  exit 1
fi

# 2. Tests. A missing test executable counts as a failed test.
test_exe() { # NAME EXECUTABLE LIMIT_S ARGS...
  local name=$1 exe=$2 limit=$3
  shift 3
  if [[ -x $exe ]]; then
    step test "$name" "$limit" "$exe" "$@"
  else
    note "$(printf '%-30s MISSING (%s)' "$name" "$exe")"
    failed_tests+=("$name (missing)")
  fi
}
test_exe kernels_compile "$BIN/cuda_kernels_compile.test" 60 --include-ignored --nocapture
test_exe lib_tests "$BIN/einet_cuda.lib-tests" 60 --include-ignored
test_exe backend_suite "$BIN/cuda_backend_suite.test" 120 --include-ignored
test_exe cpu_parity "$BIN/cuda_parity.test" 120 --include-ignored --nocapture \
  --test-threads 1 --skip emulated
grep -h 'rows of' "$OUT/cpu_parity.log" 2>/dev/null | sed 's/^.*\.\.\. //; s/^/  /' | tee -a "$summary"
for t in "$BIN"/cuda_*.test; do
  [[ -x $t ]] || continue
  case "$(basename "$t")" in
    cuda_kernels_compile.test | cuda_backend_suite.test | cuda_parity.test) ;;
    cuda_emulated_suite.test) ;; # CPU emulator: nothing to learn on the GPU machine
    *) step test "$(basename "$t" .test)" 120 "$t" --include-ignored ;;
  esac
done

# 3. The CLI's benchmark on the canonical configurations.
if [[ -x $BIN/einet ]]; then
  step other einet_bench_cuda_b1000 150 "$BIN/einet" bench \
    --config A1,A2,B1,B2,B3,C1,C2,C3 --backend cuda --batch-size 1000 \
    --json "$OUT/bench-cuda.json"
  step other einet_bench_cuda_b100 60 "$BIN/einet" bench --config B1,C1,C2 --backend cuda \
    --batch-size 100 --json "$OUT/bench-cuda-b100.json"
  step other einet_bench_cpu_b100 40 "$BIN/einet" bench --config A1,B1 --backend cpu \
    --batch-size 100 --json "$OUT/bench-cpu-b100.json"
else
  note "einet bench                    skipped (no $BIN/einet)"
fi

# 4. Criterion: GPU vs CPU (CPU only, it takes ≈ 65 s on the 2-core build machine; the GPU adds
# 21 functions of ≈ 1.5 s each).
if [[ -x $BIN/gpu_vs_cpu.bench ]]; then
  step other bench_gpu_vs_cpu 120 env CRITERION_HOME="$OUT/criterion" \
    "$BIN/gpu_vs_cpu.bench" --bench --noplot
else
  note "$(printf '%-30s MISSING (%s)' bench_gpu_vs_cpu "$BIN/gpu_vs_cpu.bench")"
  failed_other+=("bench_gpu_vs_cpu (missing)")
fi

# 5. The DEBD demo trained on the GPU end to end (the CPU's results are in docs/results/debd.json).
if [[ -x $BIN/einet ]]; then
  step other debd_cuda_small 90 "$BIN/einet" experiment debd --setting demo \
    --datasets "$DEBD_SMALL" --backend cuda -o "$OUT/debd-cuda"
  step other debd_cuda_large 80 "$BIN/einet" experiment debd --setting demo \
    --datasets "$DEBD_LARGE" --leaf-init random --stepwise-rule parameters --backend cuda \
    -o "$OUT/debd-cuda"
fi

# 5b. Tensor-core precisions: throughput, and end-of-training log-likelihoods against fp32.
if [[ -x $BIN/einet ]]; then
  for p in tf32 bf16; do
    step other "einet_bench_cuda_$p" 50 "$BIN/einet" bench --config A1,C2,C3 --backend cuda \
      --batch-size 1000 --precision "$p" --json "$OUT/bench-cuda-$p.json"
  done
  for p in fp32 tf32 bf16; do # PyJuice's models at its batch size (perf-anchors.md)
    step other "einet_bench_cuda_pyjuice_$p" 40 "$BIN/einet" bench --config P1,P2,P3 \
      --backend cuda --batch-size 512 --precision "$p" --json "$OUT/bench-cuda-pyjuice-$p.json"
  done
  step other precision_compare 160 python3 scripts/precision_compare.py --einet "$BIN/einet" \
    --data-dir "$EINET_DATA" --out "$OUT/precision" --budget-s 150
  [[ -f $OUT/precision/precision.md ]] && sed 's/^/  /' "$OUT/precision/precision.md" >>"$summary"
fi

# 6. Memory errors in the kernels (a subset of the suite; kernels run far slower here).
if command -v compute-sanitizer >/dev/null && [[ -x $BIN/cuda_backend_suite.test ]]; then
  step test memcheck 80 compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 \
    "$BIN/cuda_backend_suite.test" --test-threads 1 matches_the_reference_evaluator \
    expected_counts_equal_finite_differences leaf_responsibilities_sum_to_one \
    impossible_inputs_give_minus_infinity_not_nan max_product_mpe_is_the_brute_force_argmax \
    sampling_is_reproducible_and_split_independent
else
  note "memcheck                       skipped (no compute-sanitizer)"
fi

# 7. Shared-memory races in the kernels.
if command -v compute-sanitizer >/dev/null && [[ -x $BIN/cuda_backend_suite.test ]]; then
  step test racecheck 50 compute-sanitizer --tool racecheck --error-exitcode 1 \
    --print-limit 20 "$BIN/cuda_backend_suite.test" --test-threads 1 \
    expected_counts_equal_finite_differences
fi

note "total $((SECONDS - start)) s"
if ((${#failed_other[@]})); then note "failed (not tests): ${failed_other[*]}"; fi
if ((${#failed_tests[@]})); then
  note "TESTS FAILED: ${failed_tests[*]}"
  exit 1
fi
note "all tests passed"
