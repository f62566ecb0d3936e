#include "infer/distributed.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cluster/communicator.h"
#include "core/error.h"

namespace asl::infer {

std::vector<int64_t> evaluation_share(int64_t num_clips, int rank, int world_size) {
  // Contiguous blocks keep each rank's clips together; evaluation has no batches to fill, so
  // no padding is needed (ranks differ by at most one clip).
  const int64_t base = num_clips / world_size, extra = num_clips % world_size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  const int64_t end = begin + base + (rank < extra ? 1 : 0);
  std::vector<int64_t> out;
  for (int64_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

std::string encode_predictions(const eval::PredictionList& list) {
  nlohmann::json clips = nlohmann::json::array();
  for (const auto& clip : list) {
    nlohmann::json preds = nlohmann::json::array();
    for (const auto& p : clip.predictions) preds.push_back({p.label, p.score, p.start, p.end});
    clips.push_back({clip.clip_id, std::move(preds)});
  }
  return clips.dump();
}

eval::PredictionList decode_predictions(const std::string& bytes) {
  eval::PredictionList out;
  for (const auto& clip : nlohmann::json::parse(bytes)) {
    eval::ClipPredictions c;
    c.clip_id = clip.at(0).get<std::string>();
    for (const auto& p : clip.at(1)) {
      c.predictions.push_back({p.at(0).get<std::string>(), p.at(1).get<double>(),
                               p.at(2).get<double>(), p.at(3).get<double>()});
    }
    out.push_back(std::move(c));
  }
  return out;
}

eval::PredictionList predict_sharded(Predictor& predictor, cluster::Communicator* comm) {
  if (comm == nullptr || comm->size() == 1) return predictor.run();
  const std::vector<int64_t> share = evaluation_share(predictor.size(), comm->rank(), comm->size());
  spdlog::debug("evaluating clips {}..{} of {}", share.empty() ? 0 : share.front(),
                share.empty() ? 0 : share.back(), predictor.size());
  // An empty share must not run the whole split (run() takes "none" as "all").
  const eval::PredictionList mine = share.empty() ? eval::PredictionList{} : predictor.run(share);
  const std::vector<std::string> parts = comm->allgather_bytes(encode_predictions(mine));
  if (comm->rank() != 0) return {};
  eval::PredictionList all;  // the shares are contiguous and in rank order: dataset order
  for (const std::string& part : parts) {
    for (auto& clip : decode_predictions(part)) all.push_back(std::move(clip));
  }
  if (static_cast<int64_t>(all.size()) != predictor.size()) {
    throw Error("distributed evaluation", "gathered " + std::to_string(all.size()) +
                                              " clips of " + std::to_string(predictor.size()));
  }
  return all;
}

}  // namespace asl::infer
