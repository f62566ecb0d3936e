#!/usr/bin/env bash
# kill -9 of one rank of a 2-rank `asl train` at a random step, once per seed: the job must end
# within 30 s with the dead rank named, and `--resume auto` must reach the same final weights
# as an uninterrupted run, bit for bit on the CPU (the weights digest of `asl inspect`).
#   usage: kill_loop.sh ASL_BINARY SOURCE_DIR WORK_DIR [SEEDS]
# CTest runs 2 seeds; docs/reliability.md records a run of 20.
set -euo pipefail
ASL=$1; SRC=$2; WORK=$3; SEEDS=${4:-2}
rm -rf "$WORK"; mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source "$SRC/tests/common/tiny_run.sh"
tiny_run "$ASL" "$WORK" 3
fail() { echo "FAIL: $*"; exit 1; }
train() {
  local out=$1
  shift
  ASL="$ASL" "$SRC/launch/mpirun.sh" -n 2 train "$SRC/configs/demo.yaml" --output "$out" \
    --no-validation "${SETS[@]}" "$@"
}
digest() { "$ASL" inspect "$1/last.ckpt" | sed -n 's/^weights digest: \(.*\) (CRC-32.*/\1/p'; }
lines() {
  local n
  n=$(grep -c . "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

train "$WORK/straight" > "$WORK/straight.log" 2>&1 || { cat "$WORK/straight.log"; fail "the uninterrupted run"; }
WANT=$(digest "$WORK/straight")
TOTAL=$(lines "$WORK/straight/steps.jsonl")
[ -n "$WANT" ] && [ "$TOTAL" -gt 3 ] || fail "no digest or too few steps ($TOTAL)"

for seed in $(seq 1 "$SEEDS"); do
  RANDOM=$seed
  at=$(( 1 + RANDOM % (TOTAL - 2) ))
  victim=$(( RANDOM % 2 ))
  run=$WORK/run_$seed
  train "$run" > "$run.log" 2>&1 &
  job=$!
  for _ in $(seq 1 1200); do  # up to 120 s to reach the step
    [ "$(lines "$run/steps.jsonl")" -ge "$at" ] && break
    kill -0 $job 2>/dev/null || break
    sleep 0.1
  done
  pid=""
  for p in $(pgrep -f -- "--output $run" || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then
      pid=$p
    fi
  done
  [ -n "$pid" ] || { cat "$run.log"; fail "seed $seed: rank $victim not found (the run ended early?)"; }
  done_steps=$(lines "$run/steps.jsonl")
  t0=$(date +%s%N)
  kill -9 "$pid"
  set +e
  wait $job
  rc=$?
  set -e
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$rc" -ne 0 ] || fail "seed $seed: the job exited 0 after a rank was killed"
  [ "$ms" -le 30000 ] || fail "seed $seed: the job took $ms ms to end"
  grep -q "process rank $victim .*signal 9" "$run.log" || { cat "$run.log"; fail "seed $seed: the dead rank $victim is not named"; }
  train "$run" --resume auto > "$run.resume.log" 2>&1 || { cat "$run.resume.log"; fail "seed $seed: the resumed run"; }
  from=$(grep -o "resumed from [^ ]* (epoch [0-9]*" "$run.resume.log" | head -1 || true)
  [ -n "$from" ] && from="$from)"
  got=$(digest "$run")
  [ "$got" = "$WANT" ] || fail "seed $seed: final weights $got, uninterrupted $WANT"
  echo "seed $seed: rank $victim killed after $done_steps of $TOTAL steps; job ended in $ms ms;" \
       "${from:-started again from scratch}; final weights equal ($got)"
done
echo "PASS: $SEEDS kills, every job ended within 30 s and resumed to the same weights"
rm -rf "$WORK"
