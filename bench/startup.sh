#!/usr/bin/env bash
# Start-up of the commands that need no tensors, against asl-torch (which loads LibTorch)
# in the same run: the median wall time of N runs of each command line, in milliseconds.
# Usage: bench/startup.sh [BUILD_DIR] [N]   (defaults: build, 21)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${2:-21}
ASL="$BUILD/asl"
TORCH="$BUILD/asl-torch"
[ -x "$ASL" ] && [ -x "$TORCH" ] || { echo "bench/startup.sh: build first (scripts/build)" >&2; exit 1; }

median_ms() {  # median wall time of N runs of "$@", output discarded
  local times=()
  for _ in $(seq "$N"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="$N" 'NR == int((n + 1) / 2) { printf "%.1f", $1 / 1000 }'
}

printf '%-52s %10s\n' "command (median of $N runs)" "ms"
row() { printf '%-52s %10s\n' "$1" "$(median_ms "${@:2}")"; }
row "asl --version" "$ASL" --version
row "asl --help" "$ASL" --help
row "asl inspect configs/demo.yaml" "$ASL" inspect configs/demo.yaml
row "asl score (tests/eval/data: 43 clips)" "$ASL" score --gt tests/eval/data/gt.json --pred tests/eval/data/pred.json
row "asl convert --help" "$ASL" convert --help
row "baseline: asl-torch --version (loads LibTorch)" "$TORCH" --version
row "baseline: asl-torch inspect configs/demo.yaml" "$TORCH" inspect configs/demo.yaml
