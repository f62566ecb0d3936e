// Distributed evaluation (docs/cluster.md): each rank runs the network, decoding and NMS on
// its share of the split's clips, the results travel to rank 0 as bytes (a variable-size
// all-gather), and rank 0 puts them back in dataset order. The list, hence the metrics and
// the prediction file, is the same whatever the number of ranks.
#pragma once

#include <string>

#include "eval/predictions.h"
#include "infer/predict.h"

namespace asl::cluster {
class Communicator;
}

namespace asl::infer {

// The clips of `predictor` this rank runs: a contiguous share of the dataset order, sizes
// differing by at most one.
std::vector<int64_t> evaluation_share(int64_t num_clips, int rank, int world_size);

// Every rank calls it; rank 0 gets the whole split in dataset order, the others an empty
// list. comm null or of size 1: predictor.run().
eval::PredictionList predict_sharded(Predictor& predictor, cluster::Communicator* comm);

// Exact text form of a prediction list (doubles round-trip), for the gather.
std::string encode_predictions(const eval::PredictionList& list);
eval::PredictionList decode_predictions(const std::string& bytes);

}  // namespace asl::infer
