# Sourced by the shell tests that train for real (tests/cluster/sigterm_resume.sh,
# tests/launch/slurm_jobs.sh): `tiny_run ASL WORK EPOCHS` synthesizes 24 clips into
# WORK/data and sets SETS, the --set options of a tiny network on them (a few seconds per
# epoch), for configs/demo.yaml.
tiny_run() {
  local asl=$1 work=$2 epochs=$3
  "$asl" synth --out "$work/data" --clips 24 --classes 4 --features egovlp:16,internvideo:8 \
    --write h5 --seed 5 > /dev/null
  SETS=(--set dataset.json_file="$work/data/clip_annotations.json" --set store.path="$work/data/features.h5"
        --set "dataset.input_dim=[16, 8]" --set dataset.num_classes=4 --set dataset.max_seq_len=64
        --set "model.embd_dim=[16, 16]" --set model.fpn_dim=32 --set model.head_dim=32
        --set "model.xl={n_head: 4, d_head: 8, d_inner: 64}" --set opt.epochs="$epochs"
        --set opt.warmup_epochs=1 --set loader.num_workers=0 --set loader.batch_size=1)
}
