"""Writes nms_reference_cases.txt: random inputs and the reference's batched_nms outputs.

Run once, by hand, with Python and torch 1.13 (CI does not need it):
    python3 tests/infer/make_nms_fixture.py PATH_TO_ego4d_asl_CHECKOUT
It compiles the reference's libs/utils/csrc/nms_cpu.cpp with torch's cpp_extension and
runs the reference's libs/utils/nms.py unchanged. Only the extension's Python binding is
swapped (pybind11 headers are not installed here): its functions are registered as torch
ops with the same float32 parameters; their bodies are the reference's, untouched. Floats are written as float32 in hex
(exact). Scores are continuous random draws, so no two tie (torch's sort is unstable).
"""
import os
import subprocess
import sys
import tempfile
import types

import torch
from torch.utils import cpp_extension


BINDING = """
// The binding, as torch ops: Python floats become C++ floats as with pybind11.
TORCH_LIBRARY(nms_1d_cpu, m) {
  m.def("nms(Tensor segs, Tensor scores, float iou_threshold) -> Tensor",
        [](Tensor segs, Tensor scores, double iou) { return nms_1d(segs, scores, (float)iou); });
  m.def("softnms(Tensor segs, Tensor scores, Tensor dets, float iou_threshold, float sigma, "
        "float min_score, int method) -> Tensor",
        [](Tensor segs, Tensor scores, Tensor dets, double iou, double sigma, double min_score,
           int64_t method) {
          return softnms_1d(segs, scores, dets, (float)iou, (float)sigma, (float)min_score,
                            (int)method);
        });
}
"""


def reference_file(repo, path):
    return subprocess.run(["git", "-C", repo, "show", "HEAD:" + path], check=True,
                          capture_output=True, text=True).stdout


def load_reference(repo):
    build = tempfile.mkdtemp()
    src = os.path.join(build, "nms_cpu.cpp")
    code = reference_file(repo, "libs/utils/csrc/nms_cpu.cpp")
    code = code.replace("#include <torch/extension.h>", "")
    code = code[:code.index("// bind to torch interface")] + BINDING
    with open(src, "w") as f:
        f.write(code)
    cpp_extension.load("nms_1d_cpu", [src], build_directory=build, is_python_module=False)
    ops = torch.ops.nms_1d_cpu
    sys.modules["nms_1d_cpu"] = types.SimpleNamespace(
        nms=lambda segs, scores, iou_threshold: ops.nms(segs, scores, iou_threshold),
        softnms=lambda segs, scores, dets, iou_threshold, sigma, min_score, method:
            ops.softnms(segs, scores, dets, iou_threshold, sigma, min_score, method))
    nms = types.ModuleType("reference_nms")
    exec(compile(reference_file(repo, "libs/utils/nms.py"), "nms.py", "exec"), nms.__dict__)
    return nms


def hexf(x):
    return float(torch.tensor(x, dtype=torch.float32)).hex()


def main():
    nms = load_reference(sys.argv[1])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nms_reference_cases.txt")
    gen = torch.Generator().manual_seed(20240611)
    # method, multiclass, iou_threshold, sigma, min_score, max_seg_num, voting_thresh
    settings = [
        ("soft", 1, 0.1, 0.5, 0.001, 1000, 0.75),
        ("soft", 1, 0.1, 0.99, 1e-4, 200, 0.75),   # baseline test_cfg (configs/ego4d_asl.yaml)
        ("soft", 1, 0.1, 0.5, 0.05, 8, 0.75),
        ("hard", 1, 0.1, 0.5, 0.01, 1000, 0.75),
        ("hard", 1, 0.5, 0.5, 0.0, 6, 0.75),
        ("soft", 0, 0.1, 0.5, 0.001, 1000, 0.75),  # class-agnostic, voting
        ("hard", 0, 0.3, 0.5, 0.01, 20, 0.6),
        ("hard", 0, 0.3, 0.5, 0.01, 20, 0.0),      # no voting
        ("soft", 0, 0.1, 0.3, 0.01, 15, 0.0),
    ]
    lines = []
    for case, (method, multiclass, iou, sigma, min_score, max_num, voting) in enumerate(settings):
        for rep in range(2):
            n = int(torch.randint(20, 80, (1,), generator=gen))
            centre = torch.rand(n, generator=gen) * 60
            length = torch.rand(n, generator=gen) * 12 + 0.1
            segs = torch.stack((centre - length / 2, centre + length / 2), -1).float()
            scores = (torch.rand(n, generator=gen) * 0.999 + 0.001).float()
            labels = torch.randint(0, 4, (n,), generator=gen)
            s, sc, lb = nms.batched_nms(segs.clone(), scores.clone(), labels.clone(), iou,
                                        min_score, max_num, use_soft_nms=(method == "soft"),
                                        multiclass=bool(multiclass), sigma=sigma,
                                        voting_thresh=voting)
            lines.append(f"case {case}.{rep} {method} {multiclass} {hexf(iou)} {hexf(sigma)} "
                         f"{hexf(min_score)} {max_num} {hexf(voting)} {n} {s.shape[0]}")
            for i in range(n):
                lines.append(f"{segs[i, 0].item().hex()} {segs[i, 1].item().hex()} "
                             f"{scores[i].item().hex()} {int(labels[i])}")
            for i in range(s.shape[0]):
                lines.append(f"{s[i, 0].float().item().hex()} {s[i, 1].float().item().hex()} "
                             f"{sc[i].float().item().hex()} {int(lb[i])}")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
