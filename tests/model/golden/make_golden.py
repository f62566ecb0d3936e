#!/usr/bin/env python3
"""Golden parity data for the C++ model, made by running the reference code.

README
======
What the files of tests/model/golden/ are, and how they were made. CI never runs this script
(it has no Python); it only reads the files it wrote. docs/parity.md has the results.

* config.yaml        the small configuration, in this project's YAML (the reference's keys
                     plus model.xl). The script reads it, so the two cannot drift apart.
* reference.pth.tar  a checkpoint laid out exactly like the reference's save_checkpoint():
                     torch.save({'epoch', 'state_dict', 'state_dict_ema', 'optimizer',
                     'scheduler'}) in the zip format, state-dict keys with DataParallel's
                     `module.` prefix, every tensor of the reference module tree (dead parts
                     included). `state_dict` holds the golden weights; `state_dict_ema` the
                     EMA after one AdamW step on the golden gradients (the live tensors
                     differ, the dead ones share their storage with state_dict);
                     `optimizer` an AdamW state_dict (state for 4 parameters only, to keep
                     the file small); `scheduler` the reference's warm-up cosine schedule.
* golden.pt          torch.save of a flat {name: tensor} dict (zip format): the inputs, every
                     output of the reference for them, and the gradients (names below).
* pickle_cases.pt    small values whose pickle uses the opcodes a flat dict does not (see
                     pickle_cases()), for the tests of the C++ torch.save reader.

Regenerate (torch 1.13, numpy, PyYAML; from the repository root):

    /usr/bin/python3 tests/model/golden/make_golden.py --reference PATH/TO/ego4d_asl

PATH/TO/ego4d_asl is a git clone of JonnyS1226/ego4d_asl (commit 4ffbce5 was used). The
script exports its libs/**.py and configs/*.json (git show, file by file: a partial clone
without the committed binaries is enough) into a temporary folder and runs there,
adding what the reference needs and this machine lacks, all inside that folder:
  - configs/xlnet_config_32.json: the reference picks the XLNet sizes from
    configs/xlnet_config_<width>.json; this one has the sizes of config.yaml's model.xl and
    vocab_size 16 (the word embedding is dead; a small vocabulary keeps the file small);
  - a stand-in `transformers` package with only the names modeling_xlnet_x.py and ml_gcn.py
    import (XLNetConfig with transformers' defaults, PreTrainedModel, ACT2FN['gelu'] =
    exact erf GELU, ModelOutput, apply_chunking_to_forward, no-op docstring decorators);
  - stub modules for the compiled nms_1d_cpu, for `turtle` (an unused import that needs
    tkinter) and for the libs.utils package (evaluation code that needs pandas; the model
    only imports batched_nms from it, for inference, which is not run here).
It sets PYTORCH_JIT=0, so that the reference's @torch.jit.script losses run op by op (the
profiling executor rounds them differently from one call to the next). The output is
deterministic: a second run writes the same bytes.

What is recorded. The model is built by the reference's own make_meta_arch from config.yaml
merged with libs/core/config.py's DEFAULTS (seed 0). Then every parameter is moved away
from its initial value with a fixed generator (see randomize_parameters: LayerNorm and
AffineDropPath/Scale factors, biases, XLNet tensors, mu/sigma), because initial values hide
mistakes (zero biases, AffineDropPath scales of 1e-4 that mute whole blocks, the cls prior).
Inputs: batch of 2 clips, 20 channels (streams 12 + 8), padded to max_seq_len 64; clip 1
is 45 steps long (19 padded steps). Ground truth: clip 0 has 4 segments (overlapping, one
label twice), clip 1 has 4 (two identical segments with different labels: a multi-label
tie; one 0.8 long that no point can take).

The model runs in eval mode (every dropout and drop-path is then the identity) and calls
its own pieces in the order of PtTransformer.forward with is_training=True (preprocessing
pads to max_seq_len and the losses are computed), so that per-level outputs and targets
can be recorded; the script checks that model(video_list) itself returns the same losses.
final_loss.backward() then gives the gradients. Eval mode was chosen over a training-mode
run with all drop probabilities at 0 because it keeps the module tree of the real
configuration (droppath 0 would replace AffineDropPath, and its parameters, by Identity);
the script checks that both give the same losses and gradients. The loss normalizer starts
at init_loss_norm (100) and is updated once by this batch, as in the first iteration.

golden.pt names (B = 2 clips, T = 64, levels l = 0..3 with T_l = 64, 32, 16, 8, P = 120):
  input.feats [B,20,T] float (padded, exactly the tensor the backbone receives)
  input.masks [B,T] bool     input.lengths [B] int64
  input.segments.{b} [N_b,2] float (feature-grid units)     input.labels.{b} [N_b] int64
  backbone.embd_out [B,32,T]   embedding + absolute PE (input of stem block 0)
  backbone.xlnet_out [B,T,32]  XLNet output (reference layout, before its permute back)
  backbone.feats.{l} [B,32,T_l]  backbone outputs     neck.feats.{l} [B,32,T_l]
  out.cls_logits.{l} [B,T_l,5]   out.offsets.{l} [B,T_l,2]   out.masks.{l} [B,T_l] bool
  out.points.{l} [T_l,4]
  target.cls.{b} [P,5]   target.offsets.{b} [P,2] (in strides)
  target.weight_cls.{b}, target.weight_left.{b}, target.weight_right.{b} [P]
        (the Gaussian weights of the assigned segment, before the losses set negatives to 1)
  loss.cls, loss.reg, loss.al, loss.final: 0-d float32
  loss.num_pos 0-d int64     loss.normalizer 0-d float64 (after this batch's update)
  loss.init_normalizer 0-d float64
  grad.<name> for every parameter that receives a gradient (the live ones), reference
        state-dict name without `module.`; dead parameters have no grad.* entry.
"""
import argparse
import collections
import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import warnings

# The reference's losses are @torch.jit.script functions. TorchScript's profiling executor
# runs them differently on later calls and with or without autograd (fused graphs, other
# rounding), so the same loss can differ in its last bit between two calls. Without the JIT
# they run op by op, as the C++ port does, and every call gives the same bits.
os.environ["PYTORCH_JIT"] = "0"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Keys of this project's config that the reference does not know.
PROJECT_ONLY_SECTIONS = ("store", "dist", "monitoring", "checkpoint")
PROJECT_ONLY_MODEL_KEYS = ("xl",)

# ---------------------------------------------------------------------------------------
# Stand-ins written into the temporary folder (never into the repository).
# ---------------------------------------------------------------------------------------
STANDIN_TRANSFORMERS = {
    "transformers/__init__.py": '''
"""Stand-in for HuggingFace transformers: only what the reference imports."""
class BertModel:  # imported by ml_gcn.py, never used by the model
    pass
class BertTokenizer:
    pass
''',
    "transformers/activations.py": '''
import torch
class GELUActivation(torch.nn.Module):
    """transformers' "gelu": the exact (erf) form."""
    def forward(self, x):
        return torch.nn.functional.gelu(x)
ACT2FN = {"gelu": GELUActivation()}
''',
    "transformers/modeling_utils.py": '''
import torch
from torch import nn

class PreTrainedModel(nn.Module):
    """Keeps the config; post_init applies the subclass's _init_weights to every module."""
    def __init__(self, config, *inputs, **kwargs):
        super().__init__()
        self.config = config
    def post_init(self):
        self.apply(self._init_weights)
    @property
    def device(self):
        return next(self.parameters()).device
    @property
    def dtype(self):
        return next(self.parameters()).dtype

class PoolerAnswerClass(nn.Module):
    pass
class PoolerEndLogits(nn.Module):
    pass
class PoolerStartLogits(nn.Module):
    pass
class SequenceSummary(nn.Module):
    pass

def apply_chunking_to_forward(forward_fn, chunk_size, chunk_dim, *input_tensors):
    assert chunk_size == 0, "the stand-in does not chunk"
    return forward_fn(*input_tensors)
''',
    "transformers/utils/__init__.py": '''
import dataclasses
import logging as _logging

class ModelOutput:
    """Dataclass outputs: indexing gives the fields that are not None, in order."""
    def to_tuple(self):
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self)
                     if getattr(self, f.name) is not None)
    def __getitem__(self, k):
        return getattr(self, k) if isinstance(k, str) else self.to_tuple()[k]

def _keep(*args, **kwargs):
    return lambda fn: fn
add_code_sample_docstrings = _keep
add_start_docstrings = _keep
add_start_docstrings_to_model_forward = _keep
replace_return_docstrings = _keep

class logging:
    get_logger = staticmethod(_logging.getLogger)
''',
    "transformers/models/__init__.py": "",
    "transformers/models/xlnet/__init__.py": "",
    "transformers/models/xlnet/configuration_xlnet.py": '''
class XLNetConfig:
    """XLNetConfig with transformers' defaults (4.x) and PretrainedConfig's output flags."""
    def __init__(self, vocab_size=32000, d_model=1024, n_layer=24, n_head=16, d_inner=4096,
                 ff_activation="gelu", untie_r=True, attn_type="bi", initializer_range=0.02,
                 layer_norm_eps=1e-12, dropout=0.1, mem_len=512, reuse_len=None,
                 use_mems_eval=True, use_mems_train=False, bi_data=False, clamp_len=-1,
                 same_length=False, **kwargs):
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layer = n_layer
        self.n_head = n_head
        if d_model % n_head != 0:
            raise ValueError("d_model must be a multiple of n_head")
        if "d_head" in kwargs and kwargs["d_head"] != d_model // n_head:
            raise ValueError("d_head must be d_model // n_head")
        kwargs.pop("d_head", None)
        self.d_head = d_model // n_head
        self.ff_activation = ff_activation
        self.d_inner = d_inner
        self.untie_r = untie_r
        self.attn_type = attn_type
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.mem_len = mem_len
        self.reuse_len = reuse_len
        self.bi_data = bi_data
        self.clamp_len = clamp_len
        self.same_length = same_length
        self.use_mems_eval = use_mems_eval
        self.use_mems_train = use_mems_train
        self.output_attentions = False
        self.output_hidden_states = False
        self.use_return_dict = True
        self.chunk_size_feed_forward = 0
        for k, v in kwargs.items():
            setattr(self, k, v)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)
''',
}


def export_reference(reference, workdir):
    """The reference's Python sources and XLNet configs (libs/**.py, configs/*.json) at HEAD,
    written into workdir; returns the commit. File by file with `git show` rather than
    `git archive`, so that a partial clone without the committed binaries works too."""
    def git(*a):
        return subprocess.run(["git", "-C", reference] + list(a), check=True,
                              capture_output=True).stdout
    commit = git("rev-parse", "HEAD").decode().strip()
    names = git("ls-tree", "-r", "--name-only", "HEAD", "--", "libs", "configs").decode().split()
    for name in names:
        if (name.startswith("libs/") and name.endswith(".py")) or \
                (name.startswith("configs/") and name.endswith(".json")):
            path = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(git("show", "HEAD:" + name))
    return commit


def install_standins(workdir, xl_sizes, width):
    for rel, text in STANDIN_TRANSFORMERS.items():
        path = os.path.join(workdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text.lstrip())
    # The XLNet sizes, in the reference's file layout (its 256 file, resized).
    with open(os.path.join(workdir, "configs", "xlnet_config_256.json")) as f:
        js = json.load(f)
    js.update({"d_model": width, "n_head": xl_sizes["n_head"], "d_head": xl_sizes["d_head"],
               "d_inner": xl_sizes["d_inner"], "vocab_size": 16})
    with open(os.path.join(workdir, "configs", "xlnet_config_%d.json" % width), "w") as f:
        json.dump(js, f, indent=2)

    sys.path.insert(0, workdir)
    # Compiled / unavailable modules the model never calls.
    nms = types.ModuleType("nms_1d_cpu")
    sys.modules["nms_1d_cpu"] = nms
    turtle = types.ModuleType("turtle")
    turtle.forward = None
    sys.modules["turtle"] = turtle
    import libs  # noqa: F401  (the real package, so libs.modeling resolves)
    utils = types.ModuleType("libs.utils")
    utils.__path__ = []

    def batched_nms(*args, **kwargs):
        raise RuntimeError("inference is not part of the golden data")
    utils.batched_nms = batched_nms
    sys.modules["libs.utils"] = utils


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------
def reference_config(path):
    """config.yaml merged with the reference's DEFAULTS, as its load_config does."""
    with open(path) as f:
        cfg = yaml.safe_load(f)
    for key in PROJECT_ONLY_SECTIONS:
        cfg.pop(key, None)
    for key in PROJECT_ONLY_MODEL_KEYS:
        cfg["model"].pop(key, None)
    from libs.core.config import DEFAULTS, _merge, _update_config
    _merge(copy.deepcopy(DEFAULTS), cfg)
    return _update_config(cfg)


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------
def randomize_parameters(model, gen):
    """Moves every parameter off its initial value (deterministically), by module type."""
    from libs.modeling.blocks import LayerNorm, AffineDropPath, Scale
    from libs.modeling.modeling_xlnet_x import XLNetRelativeAttention, XLNetModel

    def randn_like(p, std):
        return torch.randn(p.shape, generator=gen, dtype=p.dtype) * std

    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (LayerNorm, torch.nn.LayerNorm)):
                m.weight.add_(randn_like(m.weight, 0.2))
                m.bias.add_(randn_like(m.bias, 0.2))
            elif isinstance(m, AffineDropPath):
                m.scale.copy_(0.5 + randn_like(m.scale, 0.1))
            elif isinstance(m, Scale):
                m.scale.add_(randn_like(m.scale, 0.2))
            elif isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)) and m.bias is not None:
                m.bias.add_(randn_like(m.bias, 0.1))
            elif isinstance(m, XLNetRelativeAttention):
                for p in (m.q, m.k, m.v, m.o, m.r):
                    p.copy_(randn_like(p, 1.0 / m.d_model ** 0.5))
                for p in (m.r_r_bias, m.r_s_bias, m.r_w_bias, m.seg_embed):
                    p.copy_(randn_like(p, 0.3))
            elif isinstance(m, XLNetModel):
                m.mask_emb.copy_(randn_like(m.mask_emb, 0.3))
        # class-level Gaussians: centres shifted, widths scaled (kept positive)
        for name in ("mu", "mu_reg_left", "mu_reg_right"):
            p = getattr(model, name)
            p.add_(randn_like(p, 0.3))
        for name in ("sigma", "sigma_reg_left", "sigma_reg_right"):
            p = getattr(model, name)
            p.mul_(torch.exp(randn_like(p, 0.3)))


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------
LENGTHS = [64, 45]
SEGMENTS = [
    # clip 0: nested and overlapping segments, label 3 twice
    ([[2.0, 9.5], [6.3, 30.0], [20.0, 60.0], [40.5, 47.5]], [1, 3, 0, 3]),
    # clip 1: a multi-label tie (same segment, two labels) and one too short for any point
    ([[0.0, 5.0], [10.0, 40.0], [10.0, 40.0], [30.2, 31.0]], [2, 4, 1, 0]),
]


def make_video_list(cfg, gen):
    channels = sum(cfg["dataset"]["input_dim"])
    num_classes = cfg["dataset"]["num_classes"]
    videos = []
    for b, (length, (segs, labels)) in enumerate(zip(LENGTHS, SEGMENTS)):
        videos.append({
            "video_id": "golden_%d" % b,
            "feats": torch.randn(channels, length, generator=gen),
            "segments": torch.tensor(segs, dtype=torch.float32),
            "labels": torch.tensor(labels, dtype=torch.int64),
            # padded by preprocessing, never used
            "segmentation_labels": torch.zeros(length, num_classes),
            "fps": 1.0, "duration": float(length), "feat_stride": 1.0, "feat_num_frames": 1.0,
        })
    return videos


# ---------------------------------------------------------------------------------------
# The reference's forward, step by step (PtTransformer.forward, is_training=True)
# ---------------------------------------------------------------------------------------
def run_reference(model, videos, record):
    hooks = []
    if record is not None:
        hooks.append(model.backbone.stem[0].register_forward_pre_hook(
            lambda m, inp: record.__setitem__("backbone.embd_out", inp[0].detach().clone())))
        hooks.append(model.backbone.xlnet.register_forward_hook(
            lambda m, inp, out: record.__setitem__("backbone.xlnet_out", out[0].detach().clone())))

    inputs, masks, _ = model.preprocessing(videos, True)
    feats, fmasks = model.backbone(inputs, masks)
    fpn_feats, fpn_masks = model.neck(feats, fmasks)
    points = model.point_generator(fpn_feats)
    out_offsets = model.reg_head(fpn_feats, fpn_masks)
    out_cls = model.cls_head(fpn_feats, fpn_masks)
    model.seg_conv(fpn_feats, fpn_masks)  # computed and discarded, as in the reference
    out_cls = [x.permute(0, 2, 1) for x in out_cls]
    out_offsets = [x.permute(0, 2, 1) for x in out_offsets]
    fpn_masks = [x.squeeze(1) for x in fpn_masks]

    segs = [v["segments"] for v in videos]
    labels = [v["labels"] for v in videos]
    gt_cls, gt_offsets, w_cls, w_reg = model.label_points(points, segs, labels)
    # the losses write into the stacked weights; keep the assigned values first
    targets = {
        "cls": [t.detach().clone() for t in gt_cls],
        "offsets": [t.detach().clone() for t in gt_offsets],
        "weight_cls": [t.detach().clone() for t in w_cls],
        "weight_left": [t[0].detach().clone() for t in w_reg],
        "weight_right": [t[1].detach().clone() for t in w_reg],
    }
    losses = model.losses(fpn_masks, out_cls, out_offsets, gt_cls, gt_offsets,
                          label_list=labels, normal_probs_cls=w_cls, normal_probs_reg=w_reg,
                          out_importances=None, out_start=None, out_end=None)
    for h in hooks:
        h.remove()
    valid = torch.cat(fpn_masks, dim=1)
    num_pos = int(torch.logical_and(torch.stack(targets["cls"]).sum(-1) > 0, valid).sum())
    return {
        "inputs": inputs, "masks": masks.squeeze(1), "feats": feats, "fpn_feats": fpn_feats,
        "cls": out_cls, "offsets": out_offsets, "fpn_masks": fpn_masks, "points": points,
        "targets": targets, "losses": losses, "num_pos": num_pos,
    }


def gradients(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return collections.OrderedDict((n, p.grad.detach().clone())
                                   for n, p in model.named_parameters() if p.grad is not None)


def max_rel(a, b):
    return float(((a - b).abs() / b.abs().clamp(min=1e-6)).max()) if a.numel() else 0.0


def check_training_mode_agrees(model, videos, init_norm, losses, grads):
    """Training mode with every drop probability at 0 must give the same numbers."""
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = 0.0
        if hasattr(mod, "drop_prob"):
            mod.drop_prob = 0.0
    m.train()
    m.loss_normalizer = init_norm
    r = run_reference(m, videos, None)
    g = gradients(m, r["losses"]["final_loss"])
    worst_loss = max(max_rel(r["losses"][k].detach(), losses[k].detach()) for k in losses)
    worst_grad = max(max_rel(g[n], grads[n]) for n in grads)
    assert g.keys() == grads.keys(), "training mode: other parameters get gradients"
    print("training mode (drop p = 0) vs eval mode: max rel. diff losses %.2e, grads %.2e"
          % (worst_loss, worst_grad))
    assert worst_loss < 1e-6 and worst_grad < 1e-5


def pickle_cases():
    """Values whose pickle uses what a {name: tensor} dict does not: views into a shared
    storage, a one-key dict (SETITEM), a state_dict's OrderedDict with _metadata (BUILD),
    numbers of every width, containers, an object of an unknown class, half precision."""
    base = torch.arange(12, dtype=torch.float32).view(3, 4)
    linear = torch.nn.Linear(2, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.arange(6, dtype=torch.float32).view(3, 2) / 4)
        linear.bias.copy_(torch.tensor([-1.0, 0.0, 1.0]))
    return {
        "base": base,
        "view": base[1:, ::2],  # sizes [2, 2], strides [4, 2], offset 4: shares base's storage
        "one_key": {"only": torch.tensor([1.5])},
        "state": linear.state_dict(),
        "numbers": [0, -1, 255, 65535, 65536, -2 ** 40, 2 ** 62, 1.25, -0.5, True, False, None],
        "containers": ("text", (1, 2), {3}, [[]], {}),
        "object": torch.device("cpu"),
        "half": torch.tensor([1.0, -2.0], dtype=torch.float16),
        "empty": torch.zeros(0, 3),
        "long": torch.tensor([-3, 2 ** 40], dtype=torch.int64),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", required=True, help="git clone of JonnyS1226/ego4d_asl")
    ap.add_argument("--out", default=HERE, help="folder for golden.pt and reference.pth.tar")
    args = ap.parse_args()
    reference = os.path.abspath(args.reference)
    out = os.path.abspath(args.out)
    config_path = os.path.join(HERE, "config.yaml")

    workdir = tempfile.mkdtemp(prefix="asl_golden_")
    commit = export_reference(reference, workdir)
    print("reference commit", commit)
    with open(config_path) as f:
        raw = yaml.safe_load(f)
    width = sum(raw["model"]["embd_dim"])
    install_standins(workdir, raw["model"]["xl"], width)
    os.chdir(workdir)  # the backbone opens configs/xlnet_config_<width>.json

    cfg = reference_config(config_path)
    from libs.modeling import make_meta_arch

    # the reference's fix_random_seed(0), without its cudnn settings
    torch.manual_seed(cfg["init_rand_seed"])
    np.random.seed(cfg["init_rand_seed"])
    model = make_meta_arch(cfg["model_name"], **cfg["model"])
    randomize_parameters(model, torch.Generator().manual_seed(1))
    videos = make_video_list(cfg, torch.Generator().manual_seed(2))

    model.eval()
    init_norm = float(cfg["train_cfg"]["init_loss_norm"])
    # the whole forward, for the cross-check
    model.loss_normalizer = init_norm
    whole = model(videos, is_training=True)
    # step by step, recording
    record = {}
    model.loss_normalizer = init_norm
    r = run_reference(model, videos, record)
    for k in whole:
        assert torch.equal(whole[k], r["losses"][k]), "step-by-step forward differs: " + k
    grads = gradients(model, r["losses"]["final_loss"])
    check_training_mode_agrees(model, videos, init_norm, r["losses"], grads)

    g = collections.OrderedDict()
    g["input.feats"] = r["inputs"]
    g["input.masks"] = r["masks"]
    g["input.lengths"] = torch.tensor(LENGTHS, dtype=torch.int64)
    for b, v in enumerate(videos):
        g["input.segments.%d" % b] = v["segments"]
        g["input.labels.%d" % b] = v["labels"]
    g["backbone.embd_out"] = record["backbone.embd_out"]
    g["backbone.xlnet_out"] = record["backbone.xlnet_out"]
    for l in range(len(r["feats"])):
        g["backbone.feats.%d" % l] = r["feats"][l]
        g["neck.feats.%d" % l] = r["fpn_feats"][l]
        g["out.cls_logits.%d" % l] = r["cls"][l]
        g["out.offsets.%d" % l] = r["offsets"][l]
        g["out.masks.%d" % l] = r["fpn_masks"][l]
        g["out.points.%d" % l] = r["points"][l]
    for key, per_video in r["targets"].items():
        for b, t in enumerate(per_video):
            g["target.%s.%d" % (key, b)] = t
    for key in ("cls", "reg", "al", "final"):
        g["loss." + key] = r["losses"][key + "_loss"]
    g["loss.num_pos"] = torch.tensor(r["num_pos"], dtype=torch.int64)
    g["loss.normalizer"] = torch.tensor(model.loss_normalizer, dtype=torch.float64)
    g["loss.init_normalizer"] = torch.tensor(init_norm, dtype=torch.float64)
    for n, t in grads.items():
        g["grad." + n] = t
    # plain, contiguous, detached tensors: one storage each
    g = collections.OrderedDict((k, v.detach().contiguous().clone()) for k, v in g.items())

    # The checkpoint, as the reference's train.py saves it (model wrapped in DataParallel).
    dead = [n for n, _ in model.named_parameters() if n not in grads]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["opt"]["learning_rate"],
                            weight_decay=cfg["opt"]["weight_decay"])
    spec = importlib.util.spec_from_file_location(
        "lr_schedulers", os.path.join(workdir, "libs", "utils", "lr_schedulers.py"))
    lr_schedulers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lr_schedulers)
    sched = lr_schedulers.LinearWarmupCosineAnnealingLR(opt, 5, 15)
    # EMA after one step: live tensors move a little; dead ones stay put, so they are
    # stored once, shared with state_dict (torch.save keeps one copy of a shared storage).
    stepped = copy.deepcopy(model)
    opt_stepped = torch.optim.AdamW(stepped.parameters(), lr=1e-2)
    for p, q in zip(stepped.parameters(), model.parameters()):
        p.grad = None if q.grad is None else q.grad.clone()
    opt_stepped.step()
    # train.py wraps the model in DataParallel (on CPU it only adds the `module.` prefix)
    # and saves model.state_dict(): an OrderedDict carrying _metadata. ModelEma deep-copies
    # the wrapped model.
    wrapped = torch.nn.DataParallel(model)
    ema_model = copy.deepcopy(wrapped)
    with torch.no_grad():
        for (n, e), p, q in zip(ema_model.module.named_parameters(), model.parameters(),
                                stepped.parameters()):
            if n in grads:
                e.copy_(0.999 * p + 0.001 * q)
            else:
                e.data = p.data
    model_sd = wrapped.state_dict()
    ema_sd = ema_model.state_dict()
    # AdamW state as after a step, for the first few live parameters only (the layout is
    # what matters to the importer; all of them would double the file)
    live = [p for p in model.parameters() if p.grad is not None]
    for p in live[:4]:
        opt.state[p] = {"step": torch.tensor(1.0), "exp_avg": 0.1 * p.grad,
                        "exp_avg_sq": 0.001 * p.grad ** 2}
    with warnings.catch_warnings():  # "scheduler stepped before the optimizer": intended
        warnings.simplefilter("ignore")
        sched.step()
    ckpt = {"epoch": 7, "state_dict": model_sd, "state_dict_ema": ema_sd,
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}

    os.makedirs(out, exist_ok=True)
    golden_path = os.path.join(out, "golden.pt")
    ckpt_path = os.path.join(out, "reference.pth.tar")
    torch.save(g, golden_path)
    torch.save(ckpt, ckpt_path)
    torch.save(pickle_cases(), os.path.join(out, "pickle_cases.pt"))
    shutil.rmtree(workdir)

    n_live = sum(t.numel() for t in grads.values())
    n_all = sum(p.numel() for p in model.parameters())
    print("parameters: %d tensors / %d values, live %d / %d" % (
        len(model.state_dict()), n_all, len(grads), n_live))
    print("dead (no gradient): %d tensors" % len(dead))
    print("losses: cls %.6f reg %.6f al %.6f final %.6f num_pos %d normalizer %.4f" % (
        float(g["loss.cls"]), float(g["loss.reg"]), float(g["loss.al"]),
        float(g["loss.final"]), r["num_pos"], model.loss_normalizer))
    print("wrote %s (%d bytes), %s (%d bytes)" % (
        golden_path, os.path.getsize(golden_path), ckpt_path, os.path.getsize(ckpt_path)))


if __name__ == "__main__":
    main()
