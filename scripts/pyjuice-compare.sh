#!/usr/bin/env bash
# pyjuice-compare.sh: einet against PyJuice 2.6.3 on the same GPU, in the same run (issue #16,
# item 5). The work is done by scripts/pyjuice_compare.py; this script prepares what travels and
# starts it there.
#
# Here (Rust, no GPU), from anywhere in the repository:
#   scripts/pyjuice-compare.sh prepare
#     1. gpu-bin/einet: kept if it is there (scripts/gpu-check.sh prepare puts a CUDA build
#        there), else built with `cargo build --release -p einet-cli --features cuda`, copied and
#        stripped (≈ 12 MB);
#     2. the MNIST files into gpu-bin/data/mnist/, from PYJUICE_COMPARE_DATA_SRC (default
#        ../shared/data): train-images-idx3-ubyte.gz (9.7 MB), train-labels-idx1-ubyte.gz (28 KB),
#        t10k-images-idx3-ubyte.gz (1.6 MB), t10k-labels-idx1-ubyte.gz (4.5 KB), 11.4 MB in all
#        (einet's MNIST reader needs the label files too);
#     3. PyJuice's wheel into gpu-bin/wheels/ (`pip download --no-deps pyjuice==2.6.3`, a
#        pure-Python wheel of 0.4 MB): the GPU machine reaches no package registry. Its other
#        requirements (torch, triton, numpy, networkx, numba, matplotlib, tqdm) are in the GPU
#        machine's image.
#     gpu-bin/ is git-ignored; it stays well within the 64 MiB that the device tool carries
#     (≈ 25 MiB with this alone, ≈ 32 MiB after scripts/gpu-check.sh prepare too).
#   scripts/pyjuice-compare.sh self-test
#     the driver's offline unit tests (no torch, no GPU; a few seconds, plus ≈ 10 s for the check
#     of the training split against target/release/einet when that binary exists)
#
# There (no Rust, no network), from the repository root, gpu-bin/ carried along (device tool:
# carry ["gpu-bin"], timeout_s 540):
#   bash scripts/pyjuice-compare.sh            # full: ≈ 7.5 minutes at most (budget 450 s)
#   bash scripts/pyjuice-compare.sh --quick    # HCLT, PD and RAT at their anchor batch only,
#                                              # HCLT trained; budget 240 s
# Any other arguments go to the driver (python3 scripts/pyjuice_compare.py --help). It installs
# the wheel into /tmp/pyjuice-site when `import pyjuice` fails, runs every part under its own
# time limit (a failing part is recorded and the others go on) and writes four files into $OUT
# (the device tool's folder; default docs/results/gpu): CARD-pyjuice-compare.json (merged),
# .md (the tables), .log and -raw.tar.gz (every raw JSON, metrics file and log). The whole run
# is cut at PYJUICE_COMPARE_TIMEOUT_S (default: the budget + 60 s).
#
# On the CPU, to try the einet half (no PyJuice):
#   scripts/pyjuice-compare.sh --einet-only --backend cpu --einet target/release/einet \
#     --data-dir ../shared/data --out /tmp/pjc --repeats 1 --batch-sizes 32 --train-k 4
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GPU_BIN:-gpu-bin}
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1
WHEEL_GLOB="pyjuice-2.6.3-*.whl"

if [[ ${1:-} == prepare ]]; then
  mkdir -p "$BIN/data/mnist" "$BIN/wheels"
  if [[ -x $BIN/einet ]]; then
    echo "pyjuice-compare: keeping $BIN/einet ($("$BIN/einet" --version 2>/dev/null || echo '?'))"
  else
    echo "pyjuice-compare: building einet with --features cuda"
    cargo build --release -p einet-cli --features cuda
    cp target/release/einet "$BIN/einet"
    strip "$BIN/einet" || true
  fi
  src=${PYJUICE_COMPARE_DATA_SRC:-../shared/data}
  for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
    t10k-labels-idx1-ubyte.gz; do
    if [[ -f $src/mnist/$f ]]; then
      cp "$src/mnist/$f" "$BIN/data/mnist/$f"
    elif [[ -f $src/$f ]]; then
      cp "$src/$f" "$BIN/data/mnist/$f"
    else
      echo "pyjuice-compare: no $src/mnist/$f" >&2
      exit 1
    fi
  done
  # shellcheck disable=SC2086
  if ! ls "$BIN"/wheels/$WHEEL_GLOB >/dev/null 2>&1; then
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$BIN/wheels" pyjuice==2.6.3
  fi
  echo "pyjuice-compare: $(du -sh "$BIN" | cut -f1) in $BIN/:"
  (cd "$BIN" && find . -type f | sort | sed 's|^\./|  |')
  echo "run on the GPU machine: bash scripts/pyjuice-compare.sh   (carry: $BIN, timeout_s 540)"
  exit 0
fi

if [[ ${1:-} == self-test ]]; then
  shift
  exec "$PYTHON" scripts/pyjuice_compare.py --self-test "$@"
fi

# The run. PyJuice from the carried wheel when it is not installed.
note=""
einet_only=0
for arg in "$@"; do [[ $arg == --einet-only ]] && einet_only=1; done
if ((einet_only)); then
  note="--einet-only: PyJuice not used"
elif ! "$PYTHON" -c 'import pyjuice' >/dev/null 2>&1; then
  shopt -s nullglob
  # shellcheck disable=SC2206
  wheels=("$BIN"/wheels/$WHEEL_GLOB)
  shopt -u nullglob
  if ((${#wheels[@]})); then
    if "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/pyjuice-site "${wheels[0]}"; then
      export PYTHONPATH=/tmp/pyjuice-site${PYTHONPATH:+:$PYTHONPATH}
      note="installed $(basename "${wheels[0]}") into /tmp/pyjuice-site"
    else
      note="pip could not install ${wheels[0]}"
    fi
  else
    # No wheel carried: try the registry (fails fast where there is no network).
    if "$PYTHON" -m pip install -q --no-deps --retries 0 --timeout 5 --target /tmp/pyjuice-site \
      pyjuice==2.6.3 >/dev/null 2>&1; then
      export PYTHONPATH=/tmp/pyjuice-site${PYTHONPATH:+:$PYTHONPATH}
      note="installed pyjuice==2.6.3 from the registry into /tmp/pyjuice-site"
    else
      note="no $BIN/wheels/$WHEEL_GLOB and pip could not fetch pyjuice==2.6.3"
    fi
  fi
else
  note="pyjuice already installed"
fi
export PYJUICE_INSTALL_NOTE=$note
echo "pyjuice-compare: $note"

budget=450
for arg in "$@"; do [[ $arg == --quick ]] && budget=240; done
limit=${PYJUICE_COMPARE_TIMEOUT_S:-$((budget + 60))}
args=(--einet "$BIN/einet" --data-dir "$BIN/data" --backend cuda --out "${OUT:-docs/results/gpu}")
export PYTHONUNBUFFERED=1
rc=0
timeout --kill-after=10 "$limit" "$PYTHON" scripts/pyjuice_compare.py "${args[@]}" "$@" || rc=$?
if ((rc == 124 || rc == 137)); then
  echo "pyjuice-compare: stopped after $limit s; the files in ${OUT:-docs/results/gpu} hold what was done" >&2
fi
exit "$rc"
