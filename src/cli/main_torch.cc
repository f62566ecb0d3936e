// `asl-torch`: every command, the tensor ones included (commands.h). `asl` hands the tensor
// commands to it; run by hand it behaves as `asl` does.
#include <string>

#include "cli/app.h"
#include "cluster/runtime.h"
#include "kernels/torch_bridge.h"

int main(int argc, char** argv) {
  // Under mpirun/srun: MPI starts here and ends when main returns (a world of one otherwise).
  asl::cluster::Runtime runtime(&argc, &argv);
  // Fused kernels for CUDA tensors, where this build and machine have them.
  asl::kernels::install_cuda_hooks();
  asl::cli::Job job;
  if (runtime.size() > 1) {
    job.abort_all = [&runtime](const std::string& message) { runtime.abort(message); };
  }
  job.is_root = runtime.rank() == 0;
  return asl::cli::run_app(argc, argv, job);
}
