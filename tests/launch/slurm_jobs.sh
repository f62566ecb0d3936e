#!/usr/bin/env bash
# launch/slurm/train.sbatch and eval.sbatch outside Slurm, with stand-ins for srun (runs the
# command as one rank, records its own options and the Prometheus targets file it finds) and
# scontrol (two node names; records requeues). Checks: the targets file while the job runs
# and its removal after; a SIGTERM (Slurm's warning before preemption) ends the batch script
# with exit 0 after the ranks wrote last.ckpt, and requeues the job; the requeued script
# continues with --resume auto to the end, every step logged once, without requeueing; the
# eval script scores the result and writes the files it names; the rank serves its metrics
# on the port the targets file names while it trains.
#   usage: slurm_jobs.sh ASL_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
ASL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); SRC=$2; WORK=$3
rm -rf "$WORK"; mkdir -p "$WORK/bin" "$WORK/submit"
fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

cat > "$WORK/bin/srun" <<'STUB'
#!/usr/bin/env bash
while [[ $# -gt 0 && $1 == --* ]]; do echo "$1" >> "$STUB_LOG/srun_options"; shift; done
for f in "${ASL_TARGETS_DIR:-monitoring/targets}"/*.json; do [ -f "$f" ] && cp "$f" "$STUB_LOG/targets_seen.json"; done
exec "$@"
STUB
cat > "$WORK/bin/scontrol" <<'STUB'
#!/usr/bin/env bash
case "$1" in
  show) printf 'node1\nnode2\n' ;;
  requeue) echo "requeue $2" >> "$STUB_LOG/requeued" ;;
  *) echo "scontrol stand-in: $*" >&2; exit 1 ;;
esac
STUB
chmod +x "$WORK/bin/srun" "$WORK/bin/scontrol"

source "$SRC/tests/common/tiny_run.sh"
tiny_run "$ASL" "$WORK" 5
export PATH="$WORK/bin:$PATH" STUB_LOG="$WORK" ASL="$ASL" ASL_TARGETS_DIR="$WORK/targets"
export SLURM_SUBMIT_DIR="$WORK/submit" SLURM_JOB_ID=42 SLURM_JOB_NODELIST="node[1-2]"
export SLURM_NTASKS_PER_NODE=2 SLURM_CPUS_PER_TASK=1 SLURM_NTASKS=4
# A free port: the batch script's default 9400 may be taken on a shared machine.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ASL_METRICS_PORT=$PORT
TRAIN=(bash "$SRC/launch/slurm/train.sbatch" "$SRC/configs/demo.yaml" "$WORK/run" --no-validation "${SETS[@]}")

# 1. Preempted: SIGTERM to the batch script once a few steps are logged.
"${TRAIN[@]}" > "$WORK/first.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  LOGGED=$(grep -c . "$WORK/run/steps.jsonl" 2>/dev/null || true)
  [ "${LOGGED:-0}" -ge 3 ] && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt" || fail "no metrics on port $PORT"
grep -q '^asl_train_step{.*run="run"' "$WORK/metrics.txt" || fail "asl_train_step with run=\"run\" not served"
kill -TERM $PID || fail "the job ended before the signal"
set +e; wait $PID; RC=$?; set -e
[ "$RC" -eq 0 ] || fail "the preempted batch script exited $RC, not 0"
grep -q "stopped with a checkpoint: requeueing job 42" "$WORK/first.log" || fail "no requeue message"
[ "$(cat "$WORK/requeued")" = "requeue 42" ] || fail "scontrol requeue 42 was not called once"
[ -f "$WORK/run/last.ckpt" ] || fail "no last.ckpt after SIGTERM"
grep -qx -- "--mpi=pmix" "$WORK/srun_options" || fail "srun without --mpi=pmix"
grep -qx -- "--kill-on-bad-exit=1" "$WORK/srun_options" || fail "srun without --kill-on-bad-exit=1"
for target in node1:$PORT node1:$((PORT + 1)) node2:$PORT node2:$((PORT + 1)); do
  grep -q "\"$target\"" "$WORK/targets_seen.json" || fail "target $target missing from the targets file"
done
grep -q '"slurm_job": "42"' "$WORK/targets_seen.json" || fail "no slurm_job label in the targets file"
[ ! -e "$WORK/targets/42.json" ] || fail "the targets file outlived the job"
STOPPED=$(grep -c . "$WORK/run/steps.jsonl")

# 2. Requeued: the same command continues from last.ckpt to the end.
"${TRAIN[@]}" > "$WORK/second.log" 2>&1 || fail "the requeued batch script failed"
grep -q "resumed from $WORK/run/last.ckpt" "$WORK/second.log" || fail "the requeued job did not resume"
[ "$(grep -c . "$WORK/requeued")" -eq 1 ] || fail "a finished job was requeued"
STEPS=$(awk -F'"step":' '{split($2, a, /[,}]/); if (a[1] != NR - 1) bad = 1} END {print bad ? "bad" : NR}' "$WORK/run/steps.jsonl")
[ "$STEPS" != bad ] || fail "steps.jsonl is not 0..N-1"
[ "$STEPS" -gt "$STOPPED" ] || fail "the requeued job added no steps"

# 3. Evaluation of the result on val.
bash "$SRC/launch/slurm/eval.sbatch" "$SRC/configs/demo.yaml" "$WORK/run/last.ckpt" val "$WORK/eval" \
  "${SETS[@]}" > "$WORK/eval.log" 2>&1 || fail "eval.sbatch failed"
[ -s "$WORK/eval/predictions_val.json" ] && [ -s "$WORK/eval/metrics_val.json" ] || fail "eval.sbatch wrote no predictions or metrics"
grep -q '"average_mAP"' "$WORK/eval/metrics_val.json" || fail "no average_mAP in the metrics"
echo "PASS: preempted after $STOPPED steps, requeued once, finished at $STEPS steps, evaluated"
rm -rf "$WORK"
