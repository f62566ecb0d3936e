#!/usr/bin/env bash
# The NLQ demo, small: synthetic official NLQ files and text features, asl convert --nlq,
# 2-rank training of configs/nlq_demo.yaml, evaluation, asl score --task nlq on the official
# layout, the test submission; the val mean R@1 must clear a floor chance cannot reach
# (nlq_chance).   usage: nlq_demo_np2.sh ASL_BINARY NLQ_CHANCE SOURCE_DIR WORK_DIR
set -euo pipefail
ASL=$1; CHANCE=$2; SRC=$3; WORK=$4
rm -rf "$WORK"; mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
DATA=$WORK/data
CONFIG=$SRC/configs/nlq_demo.yaml
"$ASL" synth --task nlq --out "$DATA" --template "$SRC/tests/data/ego4d/clip_annotations.json" \
  --clips "${NLQ_DEMO_CLIPS:-160}" --classes 8 --features egovlp:64,internvideo:32 --text-dim 64 \
  --seed 0 > "$WORK/synth.log"
"$ASL" convert --nlq "$DATA/nlq_train.json" "$DATA/nlq_val.json" "$DATA/nlq_test_unannotated.json" \
  --feature-fps 1.8741513727840071 --out "$DATA/nlq_queries.json"
SETS=(--set dataset.json_file="$DATA/nlq_queries.json" --set store.path="$DATA/features.h5"
      --set loader.batch_size=4 --set loader.num_workers=1)
run2() { ASL="$ASL" "$SRC/launch/mpirun.sh" -n 2 "$@"; }
run2 train "$CONFIG" --output "$WORK/train" "${SETS[@]}" > "$WORK/train.log" 2>&1 ||
  { tail -30 "$WORK/train.log"; echo "FAIL: training"; exit 1; }
! grep -q "NaN/Inf" "$WORK/train.log" || { echo "FAIL: non-finite steps"; exit 1; }
[ -f "$WORK/train/best.ckpt" ] || { echo "FAIL: validation kept no best.ckpt"; exit 1; }
grep -q '"mean_R1"' "$WORK/train/validation.jsonl" || { echo "FAIL: no NLQ validation line"; exit 1; }
run2 eval "$CONFIG" "$WORK/train/last.ckpt" --split val --out "$WORK/submission_val.json" \
  --json "$WORK/metrics.json" "${SETS[@]}" > "$WORK/eval.log" 2>&1 ||
  { cat "$WORK/eval.log"; echo "FAIL: eval"; exit 1; }
grep -q '"challenge":"ego4d_nlq_challenge"' "$WORK/submission_val.json" || { echo "FAIL: submission"; exit 1; }
# The official layout's scorer agrees with eval on the same windows (no val window is empty
# in the synthetic data, so both score the same queries).
"$ASL" score --task nlq --gt "$DATA/nlq_val.json" --pred "$WORK/submission_val.json" \
  --json "$WORK/metrics_official.json" > /dev/null
cmp <(grep -o '"mean_R1":[^,}]*' "$WORK/metrics.json") \
    <(grep -o '"mean_R1":[^,}]*' "$WORK/metrics_official.json") ||
  { echo "FAIL: eval and score --task nlq differ"; exit 1; }
run2 infer "$CONFIG" "$WORK/train/last.ckpt" --split test --out "$WORK/submission_test.json" \
  "${SETS[@]}" > "$WORK/infer.log" 2>&1 || { cat "$WORK/infer.log"; echo "FAIL: infer"; exit 1; }
grep -q '"predicted_times"' "$WORK/submission_test.json" || { echo "FAIL: test submission"; exit 1; }
"$CHANCE" "$DATA/nlq_queries.json" "$WORK/metrics.json"
rm -rf "$WORK"
