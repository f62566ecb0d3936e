// SIGTERM (what Slurm sends before preemption or at the time limit) and SIGINT ask a training
// run to stop: the trainer finishes the step in flight, every rank agrees at the next
// collective, rank 0 writes a checkpoint at that step, and all ranks exit cleanly.
#pragma once

namespace asl::train {

// Installs the handlers (idempotent). A second signal while stopping ends the process at once.
void install_stop_handlers();

// True once a stop signal arrived (async-signal-safe flag).
bool stop_requested();

// For tests: raise or clear the request without a signal.
void request_stop(bool on = true);

}  // namespace asl::train
