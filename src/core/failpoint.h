// Testing hooks that make a fault happen at a chosen place, so tests can prove what a user
// keeps when it happens for real. Set ASL_FAILPOINT to "NAME@ARG", several joined by ",":
//   checkpoint_write@EPOCH        SIGKILL half-way through writing that epoch's checkpoint
//   checkpoint_slow@SECONDS       every checkpoint write takes that much longer
//   sigterm_in_checkpoint@EPOCH   SIGTERM to this process while writing that epoch's checkpoint
//   sigterm_in_validation@EPOCH   SIGTERM to this process while validating that epoch
//   no_space@FILE                 writes to files named FILE fail with ENOSPC (a full disk)
// Unset, every check is one getenv and a string search.
#pragma once

#include <optional>
#include <string>

namespace asl {

// The ARG of failpoint `name` when ASL_FAILPOINT sets it, else nullopt.
std::optional<std::string> failpoint(const std::string& name);

// True when failpoint `name` is set with exactly `arg`.
bool failpoint_is(const std::string& name, const std::string& arg);

// True when no_space@<the file name of path> is set: the caller fails that write with ENOSPC.
bool failpoint_no_space(const std::string& path);

}  // namespace asl
