#include "infer/predict.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/progress.h"
#include "data/loader.h"
#include "infer/decode.h"
#include "model/asl_model.h"
#include "model/state_dict.h"

namespace asl::infer {

eval::PredictionList predict_split(const config::Config& cfg,
                                   std::shared_ptr<const data::ClipAnnotations> annotations,
                                   const PredictOptions& options) {
  std::map<int64_t, std::string> names;
  for (const auto& [name, id] : annotations->label_dict()) names[id] = name;

  data::Ego4dDataset dataset(cfg, /*is_training=*/false, options.split, annotations,
                             data::make_feature_source(cfg));
  model::PtTransformer net(cfg);
  const model::NativeWeights weights = model::read_native_weights(options.checkpoint);
  const bool ema = options.use_ema && !weights.model_ema.empty();
  model::assign_weights(*net, ema ? weights.model_ema : weights.model);
  spdlog::info("evaluating {} clips with the {} weights of {}", dataset.size(),
               ema ? "EMA" : "model", options.checkpoint);
  net->eval();
  torch::NoGradGuard no_grad;

  eval::PredictionList out;
  Progress progress("inference", dataset.size(), "clips");
  for (int64_t i = 0; i < dataset.size(); ++i) {
    data::PyRandom rng(0);  // evaluation draws nothing
    data::VideoItem item = dataset.get(i, rng);
    ClipTiming timing;
    timing.fps = item.fps;
    timing.duration = item.duration;
    timing.feat_stride = item.feat_stride;
    timing.num_frames = item.feat_num_frames;
    const data::Batch batch = data::collate({item}, {}, false, cfg.dataset.max_seq_len,
                                            net->config().max_div_factor());
    const std::vector<Segment> segs =
        detect(net->forward(batch.feats, batch.masks), timing, cfg.test_cfg);
    eval::ClipPredictions clip;
    clip.clip_id = item.clip_id;
    for (const Segment& s : segs) {
      const auto name = names.find(s.label);
      clip.predictions.push_back({name != names.end() ? name->second : std::to_string(s.label),
                                  static_cast<double>(s.score), static_cast<double>(s.start),
                                  static_cast<double>(s.end)});
    }
    out.push_back(std::move(clip));
    progress.advance();
  }
  progress.finish();
  return out;
}

std::string predictions_json(const eval::PredictionList& predictions) {
  nlohmann::ordered_json results = nlohmann::ordered_json::object();
  for (const auto& clip : predictions) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& p : clip.predictions) {
      list.push_back({{"label", p.label}, {"score", p.score}, {"segment", {p.start, p.end}}});
    }
    results[clip.clip_id] = std::move(list);
  }
  nlohmann::ordered_json file = {{"version", "1.0"},
                                 {"challenge", "ego4d_moment_queries"},
                                 {"detect_results", results},
                                 {"retrieve_results", results}};
  return file.dump() + "\n";
}

}  // namespace asl::infer
