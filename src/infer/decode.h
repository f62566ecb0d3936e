// From the network's per-level outputs for one clip to scored segments in seconds, as
// the reference's inference_single_video + postprocessing compute them (docs/inference.md).
#pragma once

#include <vector>

#include "infer/nms.h"
#include "model/outputs.h"

namespace asl::config {
struct TestConfig;
}

namespace asl::infer {

// What the reference takes from the clip's metadata to map the feature grid to seconds.
struct ClipTiming {
  double fps = 30.0;
  double duration = 0.0;      // seconds; boundaries are clamped to [0, duration]
  double feat_stride = 16.0;  // frames between feature vectors
  double num_frames = 32.0;   // frames a feature vector covers
};

// Candidates on the feature grid, levels concatenated (before NMS). `outputs` must
// hold batch 1; throws asl::Error otherwise.
std::vector<Segment> decode_candidates(const model::NetworkOutputs& outputs,
                                       const config::TestConfig& test);

// Grid units to seconds: (x * feat_stride + 0.5 * num_frames) / fps in float32, then
// values <= 0 become 0 and values >= duration become duration.
void grid_to_seconds(std::vector<Segment>& segs, const ClipTiming& clip);

// NMS of one clip's candidates: on the GPU (all classes in one launch) when the outputs are
// CUDA tensors and the kernels are installed (model/kernel_hooks.h), else batched_nms; the
// same kept segments either way.
std::vector<Segment> suppress(const std::vector<Segment>& candidates, const NmsOptions& options,
                              bool on_cuda);

// decode_candidates, NMS (test_cfg.nms_method), grid_to_seconds: the clip's detections,
// sorted by score descending unless nms_method is none.
std::vector<Segment> detect(const model::NetworkOutputs& outputs, const ClipTiming& clip,
                            const config::TestConfig& test);

}  // namespace asl::infer
