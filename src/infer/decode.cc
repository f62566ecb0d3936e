#include "infer/decode.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "model/kernel_hooks.h"

namespace asl::infer {
namespace {

// A [rows, cols] float32 view on CPU, contiguous.
at::Tensor cpu_float(const at::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
}

void append_level(const at::Tensor& logits, const at::Tensor& offsets, const at::Tensor& mask,
                  const at::Tensor& points, const config::TestConfig& test,
                  std::vector<Segment>& out) {
  const int64_t num_classes = logits.size(1);
  // sigmoid through LibTorch so the probabilities are the reference's to the bit.
  const at::Tensor prob =
      cpu_float(torch::sigmoid(cpu_float(logits)) * cpu_float(mask).unsqueeze(-1)).flatten();
  const at::Tensor off = cpu_float(offsets);
  const at::Tensor pts = cpu_float(points);
  const float* p = prob.data_ptr<float>();
  const float* o = off.data_ptr<float>();
  const float* q = pts.data_ptr<float>();

  // Python compares float32 tensors with a Python float in float32.
  const float pre_thresh = static_cast<float>(test.pre_nms_thresh);
  const float duration_thresh = static_cast<float>(test.duration_thresh);
  std::vector<int64_t> kept;
  for (int64_t k = 0; k < prob.numel(); ++k)
    if (p[k] > pre_thresh) kept.push_back(k);
  // The reference's sort is unstable on ties; here ties keep the t-major order.
  std::stable_sort(kept.begin(), kept.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  if (static_cast<int64_t>(kept.size()) > test.pre_nms_topk) kept.resize(test.pre_nms_topk);

  for (int64_t k : kept) {
    const int64_t t = k / num_classes;
    const float* pt = q + t * 4;
    const float left = pt[0] - o[t * 2 + 0] * pt[3];
    const float right = pt[0] + o[t * 2 + 1] * pt[3];
    if (!(right - left > duration_thresh)) continue;
    out.push_back(Segment{left, right, p[k], k % num_classes});
  }
}

}  // namespace

std::vector<Segment> decode_candidates(const model::NetworkOutputs& outputs,
                                       const config::TestConfig& test) {
  const std::size_t levels = outputs.cls_logits.size();
  if (outputs.offsets.size() != levels || outputs.masks.size() != levels ||
      outputs.points.size() != levels) {
    throw Error("network outputs", "levels disagree between logits, offsets, masks and points");
  }
  std::vector<Segment> out;
  for (std::size_t l = 0; l < levels; ++l) {
    const at::Tensor& logits = outputs.cls_logits[l];
    if (logits.dim() != 3 || logits.size(0) != 1) {
      throw Error("network outputs, level " + std::to_string(l),
                  "inference decodes one clip at a time, got logits of shape " +
                      std::string(c10::str(logits.sizes())),
                  "run the network with batch size 1");
    }
    append_level(logits[0], outputs.offsets[l][0], outputs.masks[l][0], outputs.points[l],
                 test, out);
  }
  return out;
}

void grid_to_seconds(std::vector<Segment>& segs, const ClipTiming& clip) {
  // Tensor-by-Python-scalar arithmetic in float32, as in the reference's postprocessing.
  const float stride = static_cast<float>(clip.feat_stride);
  const float half_frames = static_cast<float>(0.5 * clip.num_frames);
  const float fps = static_cast<float>(clip.fps);
  const float duration = static_cast<float>(clip.duration);
  auto convert = [&](float x) {
    x = (x * stride + half_frames) / fps;
    if (x <= 0.f) x *= 0.f;
    if (x >= duration) x = x * 0.f + duration;
    return x;
  };
  for (Segment& s : segs) {
    s.start = convert(s.start);
    s.end = convert(s.end);
  }
}

std::vector<Segment> suppress(const std::vector<Segment>& candidates, const NmsOptions& options,
                              bool on_cuda) {
  const auto& on_gpu = model::kernel_hooks().batched_nms;
  if (on_gpu && on_cuda && options.multiclass && options.method != NmsMethod::kNone)
    return on_gpu({candidates}, options).front();
  return batched_nms(candidates, options);
}

std::vector<Segment> detect(const model::NetworkOutputs& outputs, const ClipTiming& clip,
                            const config::TestConfig& test) {
  const bool cuda = !outputs.cls_logits.empty() && outputs.cls_logits.front().is_cuda();
  std::vector<Segment> segs = suppress(decode_candidates(outputs, test), nms_options_from(test), cuda);
  grid_to_seconds(segs, clip);
  return segs;
}

}  // namespace asl::infer
