#include "train/validation.h"

#include <torch/torch.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cluster/communicator.h"
#include "core/error.h"
#include "core/failpoint.h"
#include "core/fs.h"
#include "eval/metrics.h"
#include "eval/task.h"
#include "infer/distributed.h"
#include "infer/predict.h"
#include "monitor/train_metrics.h"
#include "train/checkpoint.h"

namespace asl::train {
namespace {

constexpr const char* kValidationLog = "validation.jsonl";
constexpr const char* kBestCheckpoint = "best.ckpt";

// best.ckpt becomes a hard link of `checkpoint` (a copy where links are not possible).
void keep_best(const std::string& checkpoint, const std::string& best) {
  const std::string temp = best + ".link";
  std::remove(temp.c_str());
  if (::link(checkpoint.c_str(), temp.c_str()) != 0) {
    write_file_atomic(temp, read_file(checkpoint));
  }
  if (std::rename(temp.c_str(), best.c_str()) != 0) {
    std::remove(temp.c_str());
    throw Error(best, "cannot replace the best checkpoint", "check the output folder's permissions");
  }
}

}  // namespace

Validator::Validator(const config::Config& cfg, eval::TaskAnnotations annotations,
                     std::string output_dir, cluster::Communicator* comm,
                     std::shared_ptr<data::FeatureSource> source)
    : cfg_(cfg),
      annotations_(std::move(annotations)),
      output_dir_(std::move(output_dir)),
      comm_(comm) {
  if (cfg_.val_split.empty()) {
    throw Error("val_split", "is empty", "name the split to validate on, e.g. [val]");
  }
  split_ = cfg_.val_split.front();
  const int64_t max_epochs = cfg_.opt.epochs + cfg_.opt.warmup_epochs;
  first_epoch_ = cfg_.checkpoint.eval_start_epoch ? *cfg_.checkpoint.eval_start_epoch
                                                  : max_epochs / 3 + 1;
  // The predictor's network starts from random weights (the EMA's replace them before each
  // validation). Drawing them must not move training's random stream: a resumed run restores
  // that stream from its checkpoint before this runs, and a run without validation draws
  // nothing here, so either would train differently.
  at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: same state
  const at::Tensor training_rng = generator.get_state();
  predictor_ = std::make_unique<infer::Predictor>(cfg_, annotations_.clips,
                                                  std::vector<std::string>{split_}, std::move(source));
  generator.set_state(training_rng);
  if (predictor_->size() == 0) {
    throw Error("val_split", "split '" + split_ + "' has no clips in " + cfg_.dataset.json_file,
                "check val_split against the annotations' subsets");
  }
  // A resumed run keeps the best score of the epochs before it.
  const std::string log = join_path(output_dir_, kValidationLog);
  if (path_exists(log)) {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      try {
        best_ = std::max(best_, nlohmann::json::parse(line).at(primary_key()).get<double>());
      } catch (const nlohmann::json::exception&) {
        // a torn line of a killed run
      }
    }
  }
}

Validator::~Validator() = default;

const char* Validator::primary_key() const { return annotations_.queries ? "mean_R1" : "average_mAP"; }

void Validator::record_metrics(int64_t epoch, const nlohmann::json& metrics) const {
  monitor::ValidationSample m;
  m.epoch = epoch;
  m.split = split_;
  if (annotations_.queries) {
    m.nlq = true;
    m.mean_r1 = metrics.at("mean_R1").get<double>();
    m.miou = metrics.at("mIoU").get<double>();
  } else {
    for (const auto& [tiou, value] : metrics.at("mAP").items()) m.map.emplace_back(tiou, value.get<double>());
    m.average_map = metrics.at("average_mAP").get<double>();
  }
  const nlohmann::json& recall = annotations_.queries ? metrics : metrics.at("recall");
  for (const auto& [key, value] : recall.items()) {
    // "R1@0.5" -> (1, "0.5")
    const size_t at = key.find('@');
    if (key.size() < 2 || key[0] != 'R' || at == std::string::npos || !value.is_number()) continue;
    m.recall.push_back({{std::stoi(key.substr(1, at - 1)), key.substr(at + 1)}, value.get<double>()});
  }
  monitor::record_validation(m);
}

bool Validator::maybe_validate(const EpochEnd& end, ValidationResult* result) {
  if (end.epoch < first_epoch_ || end.ema == nullptr) return false;
  const bool root = comm_ == nullptr || comm_->rank() == 0;
  if (root) {
    spdlog::info("validating epoch {} on {} ({} clips, EMA weights)", end.epoch, split_,
                 predictor_->size());
  }
  if (failpoint_is("sigterm_in_validation", std::to_string(end.epoch))) {
    spdlog::warn("ASL_FAILPOINT: SIGTERM while validating epoch {}", end.epoch);
    std::raise(SIGTERM);
  }
  end.ema->copy_to(*predictor_->model());
  const auto predictions = std::make_shared<const eval::PredictionList>(
      infer::predict_sharded(*predictor_, comm_));
  if (!root) return true;
  const eval::TaskScore score = eval::score_split(annotations_, predictions, split_);
  const nlohmann::json scored = nlohmann::json::parse(score.metrics_json);

  ValidationResult r;
  r.epoch = end.epoch;
  r.primary = score.primary;
  r.average_map = annotations_.queries ? 0.0 : score.primary;
  r.recall_1_at_05 = annotations_.queries ? scored.at("R1@0.5").get<double>()
                              : scored.at("recall").at("R1@0.5").get<double>();
  r.metrics_json = score.metrics_json;
  r.best = r.primary > best_;
  if (r.best) {
    best_ = r.primary;
    keep_best(end.checkpoint, join_path(output_dir_, kBestCheckpoint));
  }
  nlohmann::json line = scored;
  record_metrics(r.epoch, line);
  line["epoch"] = r.epoch;
  line["step"] = end.global_step;
  line["best"] = r.best;
  AppendFile(join_path(output_dir_, kValidationLog)).append(line.dump() + "\n");
  spdlog::info("epoch {}: {}, R1@0.5 {:.2f}%{}", r.epoch, score.log_line, 100 * r.recall_1_at_05,
               r.best ? " (best so far: best.ckpt)" : "");
  if (result) *result = r;
  return true;
}

}  // namespace asl::train
