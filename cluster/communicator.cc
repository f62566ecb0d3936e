#include "cluster/communicator.h"

#include "core/error.h"

namespace asl::cluster {
namespace {

class DoneWork final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};

}  // namespace

const char* to_string(ReduceOp op) { return op == ReduceOp::Sum ? "sum" : "average"; }

void check_reduce_op(const std::string& who, const at::Tensor& tensor, ReduceOp op) {
  if (!tensor.defined()) throw Error(who, "all-reduce of an undefined tensor");
  if (op == ReduceOp::Average && !tensor.is_floating_point()) {
    throw Error(who, std::string("cannot average a tensor of dtype ") +
                         std::string(c10::toString(tensor.scalar_type())),
                "sum integers and divide where the quotient is wanted");
  }
}

void LocalCommunicator::allreduce(at::Tensor& tensor, ReduceOp op) {
  check_reduce_op("local communicator", tensor, op);
}

std::unique_ptr<Work> LocalCommunicator::allreduce_async(const at::Tensor& flat, ReduceOp op) {
  check_reduce_op("local communicator", flat, op);
  return std::make_unique<DoneWork>();
}

void LocalCommunicator::broadcast(at::Tensor& tensor, int root) {
  if (root != 0) {
    throw Error("local communicator", "broadcast from rank " + std::to_string(root) +
                                          " in a world of one");
  }
  if (!tensor.defined()) throw Error("local communicator", "broadcast of an undefined tensor");
}

}  // namespace asl::cluster
