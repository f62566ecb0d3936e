// placeholder until the data layer lands
#include "data/store.h"

#include "core/error.h"

namespace asl::data {
VerifyReport verify_store(const std::string&) { throw NotImplemented("feature store"); }
std::string summarize_store(const std::string&) { throw NotImplemented("feature store"); }
}  // namespace asl::data
