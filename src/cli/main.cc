// `asl`: the command line without LibTorch (commands.h). It starts in milliseconds and hands
// the tensor commands to asl-torch.
#include "cli/app.h"

int main(int argc, char** argv) { return asl::cli::run_app(argc, argv, asl::cli::Job{}); }
