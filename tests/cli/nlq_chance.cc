// The chance level of the NLQ demo and its floor (tests/cli/nlq_demo_np2.sh): scores
// submissions of random windows (lengths drawn from the training windows, positions uniform in
// the clip) on the val queries, and checks that the trained model's mean R@1 is above
// max(3 x chance, chance + 0.10), which no query-blind guess reaches.
//   nlq_chance QUERY_LIST METRICS_JSON
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "data/nlq.h"
#include "eval/nlq.h"
#include "eval/task.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: nlq_chance QUERY_LIST METRICS_JSON\n");
    return 64;
  }
  using namespace asl;
  const data::NlqQueries queries = data::read_nlq_queries(argv[1]);
  std::vector<double> lengths;
  for (const auto* q : queries.select({"train"})) lengths.push_back(q->end - q->start);
  const eval::NlqGroundTruth gt = eval::nlq_ground_truth(queries, "val");
  if (lengths.empty() || gt.queries.empty()) {
    std::fprintf(stderr, "nlq_chance: no train windows or no val queries in %s\n", argv[1]);
    return 1;
  }
  std::mt19937_64 rng(7);
  double chance = 0;
  const int draws = 50;
  for (int d = 0; d < draws; ++d) {
    eval::NlqSubmission s;
    for (const auto* q : queries.select({"val"})) {
      if (!q->has_window) continue;
      eval::NlqPrediction p{q->clip_uid, q->annotation_uid, q->query_idx, {}};
      for (int k = 0; k < 5; ++k) {
        const double len = std::min(lengths[rng() % lengths.size()], q->duration);
        const double start = std::uniform_real_distribution<double>(0, q->duration - len)(rng);
        p.predicted_times.push_back({start, start + len});
      }
      s.results.push_back(std::move(p));
    }
    chance += eval::score_nlq(gt, s).mean_r1 / draws;
  }
  std::ifstream in(argv[2]);
  std::stringstream text;
  text << in.rdbuf();
  const double model = nlohmann::json::parse(text.str()).at("mean_R1").get<double>();
  const double floor = std::max(3 * chance, chance + 0.10);
  std::printf("NLQ val mean R@1: model %.4f, chance %.4f (random windows, %d draws), floor %.4f\n",
              model, chance, draws, floor);
  return model > floor ? 0 : 1;
}
