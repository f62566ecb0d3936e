#!/usr/bin/env bash
# One node, N ranks: data-parallel `asl train` (or any asl command) under mpirun.
#
#   launch/mpirun.sh -n 2 train configs/demo.yaml --output runs/demo/train
#   launch/mpirun.sh -n 8 --gpus train configs/ego4d_asl.yaml     # one rank per GPU
#   launch/mpirun.sh -n 2 eval configs/demo.yaml runs/demo/train/last.ckpt
#
# On CPU each rank gets cores/N LibTorch threads (OMP_NUM_THREADS) and OpenBLAS one thread,
# so ranks do not oversubscribe the machine. With --gpus, rank r uses CUDA device r
# (the runtime picks local rank -> device) and NCCL carries the gradients.
set -euo pipefail
cd "$(dirname "$0")/.."

NP=2
GPUS=0
ASL=${ASL:-build/asl}
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--np) NP=$2; shift 2 ;;
    --gpus) GPUS=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
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
  export NCCL_ASYNC_ERROR_HANDLING=${NCCL_ASYNC_ERROR_HANDLING:-1}
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
for v in OMP_NUM_THREADS OPENBLAS_NUM_THREADS NCCL_ASYNC_ERROR_HANDLING NCCL_DEBUG \
         NCCL_SOCKET_IFNAME NCCL_IB_HCA CUDA_VISIBLE_DEVICES ASL_FAILPOINT; do
  if [ -n "${!v:-}" ]; then FLAGS+=(-x "$v"); fi
done

exec mpirun -np "$NP" "${FLAGS[@]}" "$ASL" "$@"
