#!/usr/bin/env bash
# One node, N ranks: data-parallel `asl train` (or any asl command) under mpirun.
#
#   launch/mpirun.sh -n 2 train configs/demo.yaml --output runs/demo/train
#   launch/mpirun.sh -n 8 --gpus train configs/ego4d_asl.yaml     # one rank per GPU
#   launch/mpirun.sh -n 2 eval configs/demo.yaml runs/demo/train/last.ckpt
#   launch/mpirun.sh -n 2 --metrics-port 9400 train configs/demo.yaml   # Prometheus metrics
#
# On CPU each rank gets cores/N LibTorch threads (OMP_NUM_THREADS) and OpenBLAS one thread,
# so ranks do not oversubscribe the machine. With --gpus, rank r uses CUDA device r
# (the runtime picks local rank -> device) and NCCL carries the gradients.
# With --metrics-port P, rank r serves Prometheus metrics on P + r (monitoring.port) and the
# script writes the scrape targets to $ASL_TARGETS_DIR/mpirun-<pid>.json (default
# monitoring/targets, which monitoring/prometheus.yml watches), removed when the job ends.
set -euo pipefail
cd "$(dirname "$0")/.."

NP=2
GPUS=0
METRICS_PORT=
ASL=${ASL:-build/asl}
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--np) NP=$2; shift 2 ;;
    --gpus) GPUS=1; shift ;;
    --metrics-port) METRICS_PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [-n N] [--gpus] COMMAND ARGS... (see --help)" >&2; exit 64; }
[ -x "$ASL" ] || { echo "$ASL not found: run scripts/build first" >&2; exit 1; }

# OpenMPI refuses root without these; containers and CI run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}

CORES=$(nproc)
FLAGS=()
if [ "$GPUS" = 1 ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( CORES / NP > 0 ? CORES / NP : 1 ))}
else
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( CORES / NP > 0 ? CORES / NP : 1 ))}
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
fi
# More ranks than cores (a laptop, CI): let OpenMPI place them anyway, without binding.
if [ "$NP" -gt "$CORES" ] || [ "$CORES" -le 2 ]; then
  FLAGS+=(--oversubscribe --bind-to none)
fi

# Pass the settings that are set on to every rank (also on other nodes of a hostfile).
for v in OMP_NUM_THREADS OPENBLAS_NUM_THREADS NCCL_DEBUG \
         NCCL_SOCKET_IFNAME NCCL_IB_HCA CUDA_VISIBLE_DEVICES ASL_FAILPOINT; do
  if [ -n "${!v:-}" ]; then FLAGS+=(-x "$v"); fi
done

if [ -z "$METRICS_PORT" ]; then
  exec mpirun -np "$NP" "${FLAGS[@]}" "$ASL" "$@"
fi

# One node: every rank's endpoint on this host. The subcommand comes first, so the
# --set options go after the rest of the arguments.
TARGETS_DIR=${ASL_TARGETS_DIR:-monitoring/targets}
TARGETS=$TARGETS_DIR/mpirun-$$.json
mkdir -p "$TARGETS_DIR"
{
  printf '[{"targets": ['
  for ((r = 0; r < NP; r++)); do printf '%s"127.0.0.1:%d"' "$([ $r -gt 0 ] && echo ', ')" $((METRICS_PORT + r)); done
  printf '], "labels": {"launcher": "mpirun"}}]\n'
} > "$TARGETS.tmp" && mv "$TARGETS.tmp" "$TARGETS"
trap 'rm -f "$TARGETS"' EXIT
trap 'kill -TERM $PID 2>/dev/null' TERM INT
echo "metrics: ranks 0-$((NP - 1)) on 127.0.0.1:$METRICS_PORT-$((METRICS_PORT + NP - 1)), targets in $TARGETS" >&2
mpirun -np "$NP" "${FLAGS[@]}" "$ASL" "$@" --set monitoring.port="$METRICS_PORT" \
  --set monitoring.port_per_rank=true &
PID=$!
set +e
wait $PID; RC=$?
# A signal interrupts the first wait; the ranks are still writing their checkpoint.
if [ $RC -gt 128 ] && kill -0 $PID 2>/dev/null; then wait $PID; RC=$?; fi
exit $RC
