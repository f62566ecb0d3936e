#include "model/kernel_hooks.h"

namespace asl::model {

KernelHooks& kernel_hooks() {
  static KernelHooks hooks;
  return hooks;
}

}  // namespace asl::model
