"""Sliding-window inference: MedWS vs MONAI's sliding_window_inference + argmax.

Same TorchScript 3-D UNet (MONAI ``UNet(spatial_dims=3, channels=(16, 32, 64, 128),
strides=(2, 2, 2), out_channels=6)``, random weights, fixed seed), same volume, roi 96³,
overlap 0.25, Gaussian blending in both; MedWS also with bf16 autocast (off by default).
Each run is a fresh process (peak RSS from ``ru_maxrss``); runs alternate.
Prints JSON: medians, ratio, identical-label fraction, peak RSS.

    .venv/bin/pip install monai   # bench-only dependency
    .venv/bin/python bench/infer.py [--shape 300,512,512] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROI = (96, 96, 96)
OVERLAP = 0.25
N_CLASSES = 6


def _make_inputs(work: Path, shape: tuple[int, int, int]) -> None:
    import torch
    from monai.networks.nets import UNet

    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=1, out_channels=N_CLASSES, channels=(16, 32, 64, 128),
               strides=(2, 2, 2)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(work / "unet.ts"))
    from analysis.phantom import make_ct_phantom

    ct, _, _ = make_ct_phantom(shape, (1.0, 0.7, 0.7), seed=0)
    np.save(work / "volume.npy", ((ct.astype(np.float32) + 1000.0) / 2000.0).astype(np.float32))


def _load_net(work: Path):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(work / "unet.ts")).eval()


def _worker(kind: str, work: Path, out: Path) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    volume = np.load(work / "volume.npy", mmap_mode="r")
    net = _load_net(work)
    t0 = time.perf_counter()
    if kind.startswith("medws"):
        from analysis.infer.segment import _torch_predict
        from analysis.infer.sliding_window import sliding_window_labels

        predict = _torch_predict(net, "cpu", "softmax", "bf16" if kind == "medws-bf16" else "fp32")

        labels = sliding_window_labels(volume[None], predict, ROI, N_CLASSES, overlap=OVERLAP, mode="gaussian")
    else:
        from monai.inferers import sliding_window_inference

        x = torch.from_numpy(np.ascontiguousarray(volume))[None, None]
        with torch.inference_mode():
            logits = sliding_window_inference(x, ROI, 1, net, overlap=OVERLAP, mode="gaussian")
            labels = torch.argmax(logits, dim=1)[0].numpy().astype(np.uint8)
    wall = time.perf_counter() - t0
    np.save(out, labels)
    return {"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="300,512,512")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker", choices=["medws", "medws-bf16", "monai"])
    parser.add_argument("--work")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, Path(args.work), Path(args.out))))
        return
    shape = tuple(int(v) for v in args.shape.split(","))
    with tempfile.TemporaryDirectory(prefix="medws-bench-infer-") as tmp:
        work = Path(tmp)
        _make_inputs(work, shape)  # type: ignore[arg-type]
        results: dict[str, list[dict]] = {"medws": [], "monai": [], "medws-bf16": []}
        for _ in range(args.runs):
            for kind in ("monai", "medws", "medws-bf16"):
                out = work / f"{kind}.npy"
                cmd = [sys.executable, __file__, "--worker", kind, "--work", str(work), "--out", str(out)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
                results[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        a, b, c = (np.load(work / f"{k}.npy") for k in ("medws", "monai", "medws-bf16"))
        med = {k: statistics.median(r["wall_s"] for r in v) for k, v in results.items()}
        print(json.dumps({
            "shape_zyx": list(shape), "roi": list(ROI), "overlap": OVERLAP, "classes": N_CLASSES, "runs": args.runs,
            "cpu_count": os.cpu_count(),
            "medws_wall_s_median": round(med["medws"], 2), "monai_wall_s_median": round(med["monai"], 2),
            "ratio_medws_over_monai": round(med["medws"] / med["monai"], 3),
            "identical_label_fraction": float((a == b).mean()),
            "medws_bf16_wall_s_median": round(med["medws-bf16"], 2),
            "ratio_medws_bf16_over_monai": round(med["medws-bf16"] / med["monai"], 3),
            "bf16_identical_label_fraction": float((c == b).mean()),
            "medws_peak_rss_mb": round(max(r["peak_rss_mb"] for r in results["medws"])),
            "monai_peak_rss_mb": round(max(r["peak_rss_mb"] for r in results["monai"])),
            "runs_s": {k: [round(r["wall_s"], 2) for r in v] for k, v in results.items()},
        }, indent=2))


if __name__ == "__main__":
    main()
