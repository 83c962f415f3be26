"""Sliding-window inference: MedWS vs MONAI's sliding_window_inference + argmax.

Same TorchScript 3-D UNet (MONAI ``UNet(spatial_dims=3, channels=(16, 32, 64, 128),
strides=(2, 2, 2), out_channels=6)``, random weights, fixed seed), same volume, roi 96³,
overlap 0.25, Gaussian blending in both; MedWS (by default with its oneDNN network copy, see
``analysis/infer/predict.py``; ``medws-plain``: the network as loaded) also with bf16 autocast (off by
default). Each run is a fresh process
(peak RSS from ``ru_maxrss``); runs alternate. Prints JSON: medians, ratios, time inside MedWS's
network calls (``*_forward_s``), identical-label fraction against MONAI, peak RSS, load average
(the machine may be shared: the alternation keeps ratios meaningful).

    .venv/bin/pip install monai   # bench-only dependency
    .venv/bin/python bench/infer.py [--shape 300,512,512] [--runs 3] [--kinds monai,medws,medws-plain,medws-bf16]
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
        from analysis.infer.predict import TorchPredictor
        from analysis.infer.sliding_window import sliding_window_labels

        predict_net = TorchPredictor(net, "cpu", "softmax", "bf16" if kind == "medws-bf16" else "fp32",
                                     onednn=kind != "medws-plain")
        forward_s = [0.0]

        def predict(batch):
            t = time.perf_counter()
            out = predict_net(batch)
            forward_s[0] += time.perf_counter() - t
            return out

        labels = sliding_window_labels(volume[None], predict, ROI, N_CLASSES, overlap=OVERLAP, mode="gaussian")
    else:
        from monai.inferers import sliding_window_inference

        x = torch.from_numpy(np.ascontiguousarray(volume))[None, None]
        with torch.inference_mode():
            logits = sliding_window_inference(x, ROI, 1, net, overlap=OVERLAP, mode="gaussian")
            labels = torch.argmax(logits, dim=1)[0].numpy().astype(np.uint8)
    wall = time.perf_counter() - t0
    np.save(out, labels)
    result = {"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if kind.startswith("medws"):
        result["forward_s"] = forward_s[0]  # network calls (incl. the first-window check of the oneDNN copy)
        result["onednn"] = predict_net.onednn
    return result


KINDS = ("monai", "medws", "medws-plain", "medws-bf16")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="300,512,512")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="monai,medws,medws-bf16",
                        help="comma list of " + ",".join(KINDS) + " (medws-plain: without the oneDNN copy)")
    parser.add_argument("--worker", choices=KINDS)
    parser.add_argument("--work")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, Path(args.work), Path(args.out))))
        return
    shape = tuple(int(v) for v in args.shape.split(","))
    kinds = [k for k in args.kinds.split(",") if k]
    if "monai" not in kinds or "medws" not in kinds or any(k not in KINDS for k in kinds):
        parser.error(f"--kinds must include monai and medws, from {KINDS}")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="medws-bench-infer-") as tmp:
        work = Path(tmp)
        _make_inputs(work, shape)  # type: ignore[arg-type]
        results: dict[str, list[dict]] = {k: [] for k in kinds}
        for _ in range(args.runs):
            for kind in kinds:
                out = work / f"{kind}.npy"
                cmd = [sys.executable, __file__, "--worker", kind, "--work", str(work), "--out", str(out)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
                results[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        reference = np.load(work / "monai.npy")
        med = {k: statistics.median(r["wall_s"] for r in v) for k, v in results.items()}
        report: dict = {
            "shape_zyx": list(shape), "roi": list(ROI), "overlap": OVERLAP, "classes": N_CLASSES, "runs": args.runs,
            "cpu_count": os.cpu_count(),
            "loadavg_1_5_15_before": [round(v, 2) for v in load_before],
            "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
            "monai_wall_s_median": round(med["monai"], 2),
            "monai_peak_rss_mb": round(max(r["peak_rss_mb"] for r in results["monai"])),
        }
        for kind in kinds:
            if kind == "monai":
                continue
            key = kind.replace("-", "_")
            labels = np.load(work / f"{kind}.npy")
            report[f"{key}_wall_s_median"] = round(med[kind], 2)
            report[f"ratio_{key}_over_monai"] = round(med[kind] / med["monai"], 3)
            report[f"{key}_forward_s_median"] = round(statistics.median(r["forward_s"] for r in results[kind]), 2)
            report[f"{key}_identical_label_fraction"] = float((labels == reference).mean())
            report[f"{key}_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in results[kind]))
            report[f"{key}_onednn_network"] = all(r["onednn"] for r in results[kind])
        report["runs_s"] = {k: [round(r["wall_s"], 2) for r in v] for k, v in results.items()}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
