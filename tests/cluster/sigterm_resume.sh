#!/usr/bin/env bash
# SIGTERM to a 2-rank `asl train` under mpirun (as Slurm sends before preemption): the job
# exits non-zero after writing last.ckpt, and `--resume auto` continues it to the end with
# every step logged exactly once.   usage: sigterm_resume.sh ASL_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
ASL=$1; SRC=$2; WORK=$3
rm -rf "$WORK"; mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source "$SRC/tests/common/tiny_run.sh"
tiny_run "$ASL" "$WORK" 9
TRAIN=(train "$SRC/configs/demo.yaml" --output "$WORK/run" --no-validation "${SETS[@]}")

ASL="$ASL" "$SRC/launch/mpirun.sh" -n 2 "${TRAIN[@]}" > "$WORK/first.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do  # up to 60 s for a few steps to be logged
  LOGGED=$(grep -c . "$WORK/run/steps.jsonl" 2>/dev/null || true)
  [ "${LOGGED:-0}" -ge 3 ] && break
  sleep 0.1
done
kill -TERM $PID
set +e
wait $PID; RC=$?
set -e
echo "first run exit code: $RC"
[ "$RC" -ne 0 ] || { echo "FAIL: the stopped job exited 0"; exit 1; }
grep -q "training stopped by a signal" "$WORK/first.log" || { cat "$WORK/first.log"; echo "FAIL: no stop message"; exit 1; }
[ -f "$WORK/run/last.ckpt" ] || { echo "FAIL: no last.ckpt after SIGTERM"; exit 1; }
STOPPED=$(grep -c . "$WORK/run/steps.jsonl")

ASL="$ASL" "$SRC/launch/mpirun.sh" -n 2 "${TRAIN[@]}" --resume auto > "$WORK/second.log" 2>&1 ||
  { cat "$WORK/second.log"; echo "FAIL: the resumed run failed"; exit 1; }
grep -q "resumed from $WORK/run/last.ckpt" "$WORK/second.log" || { echo "FAIL: did not resume"; exit 1; }
# Every step exactly once, in order: 0 .. total-1.
python_free_check=$(awk -F'"step":' '{split($2, a, /[,}]/); if (a[1] != NR - 1) bad = 1} END {print bad ? "bad" : NR}' "$WORK/run/steps.jsonl")
[ "$python_free_check" != bad ] || { echo "FAIL: steps.jsonl is not 0..N-1"; exit 1; }
echo "PASS: stopped after $STOPPED steps, resumed to $python_free_check steps"
rm -rf "$WORK"
