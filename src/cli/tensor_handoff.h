// How `asl` hands a tensor command to `asl-torch` (commands.h): the same command line, run
// by the binary that links LibTorch, in this process (exec), so that mpirun and srun see
// one process per rank and signals, exit codes and output are asl-torch's own.
#pragma once

namespace asl::cli {

// Remembers the command line to hand on (run_app calls it before parsing).
void remember_command_line(int argc, char** argv);

// Replaces this process by asl-torch, found next to this executable, with the remembered
// command line. Returns only by throwing asl::Error, naming asl-torch and the fix, when it
// is missing or cannot start.
[[noreturn]] void hand_to_tensor_binary();

}  // namespace asl::cli
