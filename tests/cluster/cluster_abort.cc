// A rank that fails takes the job down (docs/cluster.md, "Failures"): run under mpirun -np 2,
// rank 1 fails while rank 0 waits in a collective that can never complete. CTest checks that
// the job ends (its timeout) and that rank 1's message is in the output.
//   cluster_abort abort    rank 1 calls Runtime::abort(message)
//   cluster_abort throw    rank 1 lets an asl::Error escape main (std::terminate)
//   cluster_abort unwind   rank 1's Runtime is destroyed by an exception caught outside it
//   cluster_abort timeout  rank 1 stops (sleeps): rank 0's barrier times out after 1 s
#include <chrono>
#include <string>
#include <thread>

#include "cluster/mpi_communicator.h"
#include "cluster/runtime.h"
#include "core/error.h"

namespace {

void run(int* argc, char*** argv, const std::string& mode) {
  asl::cluster::Runtime runtime(argc, argv);
  asl::cluster::MpiCommunicator comm(runtime, mode == "timeout" ? 1.0 : 300.0);
  comm.barrier();
  if (mode == "timeout") {
    if (runtime.rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));
    comm.barrier();
    return;
  }
  if (runtime.rank() == 1) {
    if (mode == "abort") runtime.abort("rank one failed on purpose");
    throw asl::Error("rank one", "failed on purpose");
  }
  comm.barrier();  // rank 1 never arrives
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "abort";
  if (mode != "unwind") {
    run(&argc, &argv, mode);
    return 0;
  }
  try {
    run(&argc, &argv, mode);
  } catch (const asl::Error&) {
    return 1;  // not reached on rank 1: the Runtime's destructor aborted the job
  }
  return 0;
}
