#!/usr/bin/env python3
"""Times the reference's training iteration and evaluation forward, for `asl bench` comparisons.

Run side by side with `asl bench CONFIG --what train|infer` on the same machine, same threads:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/reference_step.py configs/demo.yaml \
        --reference PATH/TO/ego4d_asl --what train --threads 2 --repeat 5

It builds the reference model from the project's YAML config the way
tests/model/golden/make_golden.py does (reference sources exported to a temporary folder, a
stand-in `transformers`, the XLNet sizes of model.xl), feeds synthetic batches shaped like
asl bench's (batch loader.batch_size, T = max_seq_len, 5 actions per clip), and times:
zero_grad(set_to_none) + forward with losses, backward, clip_grad_norm_, AdamW step +
scheduler step (the reference's make_optimizer / LinearWarmupCosineAnnealingLR), ModelEma
update. CI never runs it. Python with torch 1.13 (Debian's python3-torch) on the CPU; on a GPU
machine its PyTorch with --device cuda [--amp bf16] (scripts/gpu_check), where REFERENCE may be
the plain source tree that scripts/gpu_prepare exports (it has a COMMIT file, no .git).
"""
import argparse
import ast
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "model", "golden"))
import make_golden  # noqa: E402  (export_reference, install_standins, reference_config)


def load_functions(path, names, env):
    """Defines the named top-level functions/classes of a reference file in env."""
    with open(path) as f:
        tree = ast.parse(f.read())
    body = [n for n in tree.body if getattr(n, "name", None) in names]
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), env)
    return env


def synthetic_videos(cfg, batch, lengths):
    channels = cfg["dataset"]["input_dim"]
    channels = sum(channels) if isinstance(channels, list) else channels
    videos = []
    for b in range(batch):
        t = lengths[b]
        segs, labels = [], []
        for k in range(5):
            start = (k + 0.5) * t / 6.0
            ln = max(2.0, t / 40.0 * (k + 1))
            segs.append([start, min(start + ln, t)])
            labels.append((b * 7 + k * 3) % cfg["dataset"]["num_classes"])
        videos.append({"video_id": "bench-%d" % b, "feats": torch.randn(channels, t),
                       "segments": torch.tensor(segs, dtype=torch.float32),
                       "labels": torch.tensor(labels, dtype=torch.int64),
                       "segmentation_labels": torch.zeros(t, cfg["dataset"]["num_classes"]),
                       "fps": 1.875, "duration": t / 1.875, "feat_stride": 1.0,
                       "feat_num_frames": 1.0})
    return videos


def export(reference, workdir):
    """The reference's sources into workdir: from a git checkout, or from the plain tree that
    scripts/gpu_prepare writes."""
    if os.path.isfile(os.path.join(reference, "COMMIT")):
        for sub in ("libs", "configs"):
            shutil.copytree(os.path.join(reference, sub), os.path.join(workdir, sub),
                            dirs_exist_ok=True)
    else:
        make_golden.export_reference(reference, workdir)


def reference_file(reference, name):
    """One committed file of the reference, as bytes."""
    if os.path.isfile(os.path.join(reference, "COMMIT")):
        with open(os.path.join(reference, name), "rb") as f:
            return f.read()
    return subprocess.run(["git", "-C", reference, "show", "HEAD:" + name], check=True,
                          stdout=subprocess.PIPE).stdout


def write_json(path, values):
    if path:
        with open(path, "w") as f:
            json.dump(values, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--what", default="train", choices=["train", "infer"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json", help="also write the medians (seconds) to this JSON file")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--amp", default="off", choices=["off", "bf16"],
                    help="autocast the forward to bfloat16 (the project's opt.amp)")
    args = ap.parse_args()
    if args.json:
        args.json = os.path.abspath(args.json)  # the run below changes directory
    device = torch.device(args.device)

    def now():
        """A time stamp after the device's queued work."""
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def autocast():
        if args.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    config_path = os.path.abspath(args.config)
    torch.set_num_threads(args.threads)

    import yaml
    with open(config_path) as f:
        raw = yaml.safe_load(f)
    workdir = tempfile.mkdtemp(prefix="asl_refbench_")
    export(os.path.abspath(args.reference), workdir)
    embd = raw["model"]["embd_dim"]
    width = sum(embd) if isinstance(embd, list) else embd
    xl = raw["model"].get("xl") or {"n_head": 16, "d_head": 64, "d_inner": 2048}
    make_golden.install_standins(workdir, xl, width)
    if width in (256, 512, 1024, 1536):
        # the reference's own file for this width (install_standins shrank the vocabulary)
        name = "configs/xlnet_config_%d.json" % width
        with open(os.path.join(workdir, name), "wb") as f:
            f.write(reference_file(os.path.abspath(args.reference), name))
    os.chdir(workdir)
    cfg = make_golden.reference_config(config_path)
    from libs.modeling import make_meta_arch
    from libs.modeling.blocks import MaskedConv1D, Scale, AffineDropPath, LayerNorm
    torch.manual_seed(0)
    model = make_meta_arch(cfg["model_name"], **cfg["model"]).to(device)
    T = cfg["dataset"]["max_seq_len"]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def peak():
        return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None

    if args.what == "infer":
        model.eval()
        video = synthetic_videos(cfg, 1, [T * 9 // 10])
        times = []
        with torch.no_grad():
            for i in range(args.warmup + args.repeat):
                t0 = now()
                with autocast():
                    x, m, _ = model.preprocessing(video, is_training=False)
                    feats, masks = model.backbone(x, m)
                    fpn_feats, fpn_masks = model.neck(feats, masks)
                    model.point_generator(fpn_feats)
                    model.reg_head(fpn_feats, fpn_masks)
                    model.cls_head(fpn_feats, fpn_masks)
                    model.seg_conv(fpn_feats, fpn_masks)
                if i >= args.warmup:
                    times.append(now() - t0)
        print("reference infer on %s (amp %s): network %.3f s per clip (median of %d)%s" %
              (device, args.amp, statistics.median(times), args.repeat,
               ", peak GPU memory %.0f MB" % peak() if peak() is not None else ""))
        write_json(args.json, {"network_s": statistics.median(times), "peak_gpu_mb": peak()})
        return

    env = {"torch": torch, "optim": torch.optim, "MaskedConv1D": MaskedConv1D, "Scale": Scale,
           "AffineDropPath": AffineDropPath, "LayerNorm": LayerNorm}
    from copy import deepcopy
    env["deepcopy"] = deepcopy
    load_functions(os.path.join(workdir, "libs/utils/train_utils.py"),
                   {"make_optimizer", "make_scheduler", "ModelEma"}, env)
    env["_LRScheduler"] = torch.optim.lr_scheduler._LRScheduler
    env["math"] = __import__("math")
    env["warnings"] = __import__("warnings")
    load_functions(os.path.join(workdir, "libs/utils/lr_schedulers.py"),
                   {"LinearWarmupCosineAnnealingLR"}, env)
    optimizer = env["make_optimizer"](model, cfg["opt"])
    scheduler = env["make_scheduler"](optimizer, cfg["opt"], 100)
    ema = env["ModelEma"](model)
    videos = synthetic_videos(cfg, cfg["loader"]["batch_size"],
                              [T] + [T * 9 // 10] * (cfg["loader"]["batch_size"] - 1))
    model.train()
    parts = {k: [] for k in ("forward_loss", "backward", "clip", "optimizer", "ema")}
    for i in range(args.warmup + args.repeat):
        t = [now()]
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            losses = model(videos)
        t.append(now())
        losses["final_loss"].backward()
        t.append(now())
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["train_cfg"]["clip_grad_l2norm"])
        t.append(now())
        optimizer.step()
        scheduler.step()
        t.append(now())
        ema.update(model)
        t.append(now())
        if i >= args.warmup:
            for k, (a, b) in zip(parts, zip(t, t[1:])):
                parts[k].append(b - a)
    med = {k: statistics.median(v) for k, v in parts.items()}
    step = sum(med.values()) - med["ema"]
    print("reference train on %s (amp %s): forward+loss %.3f  backward %.3f  clip %.3f  "
          "AdamW+schedule %.3f  EMA %.3f  step (no EMA) %.3f s (median of %d)%s" %
          (device, args.amp, med["forward_loss"], med["backward"], med["clip"], med["optimizer"],
           med["ema"], step, args.repeat,
           ", peak GPU memory %.0f MB" % peak() if peak() is not None else ""))
    write_json(args.json, {"step_without_ema_s": step, "ema_s": med["ema"],
                           "step_s": step + med["ema"], "peak_gpu_mb": peak()})


if __name__ == "__main__":
    main()
