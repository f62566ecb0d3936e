#!/usr/bin/env bash
# This project against the reference's PyTorch code on the same machine, in interleaved pairs:
# each pair runs both sides back to back (the order alternating from pair to pair), so that a
# machine whose speed drifts within the hour slows both sides of a pair alike. Prints each
# pair, the medians of both sides, and the median and spread of the per-pair ratios
# (this project / reference; below 1 is faster).
#
#   bench/compare_reference.sh CONFIG REFERENCE [--what train|infer] [--pairs N] [--repeat R]
#                              [--threads T] [--build DIR]
#
# REFERENCE: a git checkout of JonnyS1226/ego4d_asl. train: a training step with EMA (this
# project's `asl bench --what train` step_s against the reference's iteration + ModelEma);
# infer: per clip, this project's network + decoding + NMS against the reference's network
# alone (a bound in the reference's favour). Needs Debian's python3-torch for the reference.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '8,9p' "$0" | sed 's/^# *//' >&2; exit 64; }
[ $# -ge 2 ] || usage
CONFIG=$1 REFERENCE=$2
shift 2
WHAT=train PAIRS=5 REPEAT=3 THREADS=2 BUILD=build
while [ $# -gt 0 ]; do
  case $1 in
    --what) WHAT=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) usage ;;
  esac
done
case $WHAT in train | infer) ;; *) usage ;; esac
[ -f "$CONFIG" ] || { echo "compare_reference: $CONFIG: no such config" >&2; exit 1; }
git -C "$REFERENCE" rev-parse HEAD >/dev/null 2>&1 ||
  { echo "compare_reference: $REFERENCE: not a git checkout of the reference (JonnyS1226/ego4d_asl)" >&2; exit 1; }
[ -x "$BUILD/asl-torch" ] || { echo "compare_reference: $BUILD/asl-torch missing (run scripts/build)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "compare_reference: the reference needs PyTorch for /usr/bin/python3 (apt-get install python3-torch)" >&2; exit 1; }

export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$THREADS ASL_PROGRESS=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KEY=step_s REF_KEY=step_s
[ "$WHAT" = infer ] && KEY=per_clip_s REF_KEY=network_s

ours() {
  "$BUILD/asl-torch" --log-level warn bench "$CONFIG" --what "$WHAT" --repeat "$REPEAT" \
    --threads "$THREADS" --json "$WORK/ours.json" >/dev/null
  /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/ours.json" "$KEY"
}
theirs() {
  /usr/bin/python3 bench/reference_step.py "$CONFIG" --reference "$REFERENCE" --what "$WHAT" \
    --threads "$THREADS" --repeat "$REPEAT" --json "$WORK/ref.json" >/dev/null
  /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/ref.json" "$REF_KEY"
}

echo "compare_reference: $CONFIG, $WHAT, $PAIRS pairs of median-of-$REPEAT runs, $THREADS threads"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-12s %12s %12s %8s\n' pair first "this (s)" "reference (s)" ratio
: >"$WORK/pairs"
for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) -eq 1 ]; then
    a=$(ours); b=$(theirs); first=this
  else
    b=$(theirs); a=$(ours); first=reference
  fi
  echo "$a $b" >>"$WORK/pairs"
  printf '%-6s %-12s %12.3f %12.3f %8.3f\n' "$i" "$first" "$a" "$b" "$(echo "$a $b" | awk '{print $1 / $2}')"
done
/usr/bin/python3 - "$WORK/pairs" <<'EOF'
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
ratios = [a / b for a, b in pairs]
print("median: this %.3f s, reference %.3f s" % (statistics.median(a for a, _ in pairs),
                                                 statistics.median(b for _, b in pairs)))
print("ratio this/reference: median of pairs %.3f (spread %.3f to %.3f over %d pairs)" %
      (statistics.median(ratios), min(ratios), max(ratios), len(ratios)))
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
