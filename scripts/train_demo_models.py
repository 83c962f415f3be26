"""Train MedWS's two demonstration models and write them into ``resources/models``.

* ``lung-nodule-demo`` (detection): :class:`analysis.infer.nets.HeatmapNet3D` predicting a lesion
  probability map on a 5 × 2.5 × 2.5 mm grid, trained on synthetic chest phantoms
  (:func:`analysis.phantom.make_ct_phantom`) and on the real ``lung1`` CT (its tumour mask), both
  with synthetic nodules and (phantoms only) vessel-like distractor tubes inserted at random.
  Held out: new phantoms, and the real ``lung2`` CT (its own tumour plus inserted nodules).
* ``scan-type-demo`` (classification): :class:`analysis.infer.nets.SliceClassifier2D` on 64 × 64
  axial thumbnails, classes CT chest / MR brain / MR breast. Trained on lung1 + phantoms, brain1 +
  the MNI152 T1 template, and the first two thirds of breast1's slices; held out: lung2, brain2,
  new phantoms and the last third of breast1 (same patient: not independent).

Both are demonstrations, not for clinical use. Fixed seeds; needs the samples
(``medws data fetch`` or :func:`app.io.samples.fetch_samples`). Prints one metrics JSON and
writes weights (``torch.save`` of a state dict), ``manifest.json`` and ``metrics.json``.

Usage::

    .venv/bin/python scripts/train_demo_models.py [--only detection|classification] [--out resources/models]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.infer.manifest import parse_manifest  # noqa: E402

DET_NAME, CLS_NAME = "lung-nodule-demo", "scan-type-demo"
DET_SPACING = (5.0, 2.5, 2.5)
DET_CROP = (32, 96, 96)
DET_WINDOW = {"kind": "ct_window", "width": 1500.0, "level": -250.0}
CLS_LABELS = {1: "CT chest", 2: "MR brain", 3: "MR breast"}
CLS_SIZE = 64
DISCLAIMER = "Demonstration model trained on a handful of samples and synthetic phantoms; NOT for clinical use."


def det_manifest_dict() -> dict:
    """The detection model's manifest (also written next to its weights)."""
    return {
        "name": DET_NAME, "version": "0.1", "task": "detection", "modality": "CT",
        "labels": {"1": "lung_nodule"},
        "input": {"spacing_zyx_mm": list(DET_SPACING), "orientation": "LPS", "channels": 1,
                  "normalisation": dict(DET_WINDOW)},
        "patch_size_zyx": [48, 160, 160], "overlap": 0.25, "activation": "sigmoid",
        "weights": {"format": "state_dict", "path": "model.pt", "architecture": "analysis.infer.nets:HeatmapNet3D",
                    "kwargs": {"in_channels": 1, "out_channels": 1, "channels": [8, 16, 32]}},
        "detection": {"threshold": 0.5, "min_score": 0.6, "min_volume_mm3": 60.0, "max_boxes": 20, "smooth": True},
        "licence": "Apache-2.0 (MedWS demonstration weights)",
        "citation": "MedWS demonstration model; see MODEL_CARD.md",
        "description": "Lung nodule/tumour detector (3-D lesion probability map → boxes). " + DISCLAIMER,
    }


def cls_manifest_dict() -> dict:
    """The classification model's manifest."""
    return {
        "name": CLS_NAME, "version": "0.1", "task": "classification", "modality": "CT/MR",
        "labels": {str(k): v for k, v in CLS_LABELS.items()},
        "input": {"orientation": "LPS", "channels": 1,
                  "normalisation": {"kind": "percentile", "low": 0.5, "high": 99.5}},
        "activation": "softmax",
        "weights": {"format": "state_dict", "path": "model.pt",
                    "architecture": "analysis.infer.nets:SliceClassifier2D",
                    "kwargs": {"in_channels": 1, "n_classes": 3, "channels": [16, 32, 64, 64]}},
        "classification": {"thumbnail_size": CLS_SIZE, "n_slices": 16, "central_fraction": 0.8},
        "licence": "Apache-2.0 (MedWS demonstration weights)",
        "citation": "MedWS demonstration model; see MODEL_CARD.md",
        "description": "Scan-type classifier (CT chest / MR brain / MR breast) from axial thumbnails. " + DISCLAIMER,
    }


# ----------------------------------------------------------------------------------------- data
def load_sample(name: str) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...], np.ndarray | None]:
    """(image, spacing_zyx, direction, mask or None) of a named sample."""
    from app.io.samples import get_sample

    info = get_sample(name)
    image = sitk.ReadImage(str(info.path))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(info.mask_path))) if info.mask_path else None
    return (sitk.GetArrayFromImage(image), tuple(image.GetSpacing()[::-1]), tuple(image.GetDirection()),
            None if mask is None else (mask > 0).astype(np.uint8))


def insert_nodule(volume: np.ndarray, labels: np.ndarray, centre_zyx_mm, radius_mm: float, hu: float,
                  spacing_zyx_mm, rng: np.random.Generator) -> None:
    """Paint an ellipsoidal nodule with a partial-volume edge into ``volume`` and mark it in ``labels``."""
    axes = radius_mm * rng.uniform(0.8, 1.2, 3)
    lo = [max(0, int((c - a) / s) - 1) for c, a, s in zip(centre_zyx_mm, axes, spacing_zyx_mm, strict=True)]
    hi = [min(n, int((c + a) / s) + 2) for c, a, s, n in zip(centre_zyx_mm, axes, spacing_zyx_mm, volume.shape,
                                                           strict=True)]
    if any(h <= lo_ for lo_, h in zip(lo, hi, strict=True)):
        return
    grids = np.meshgrid(*[np.arange(a, b) * s for a, b, s in zip(lo, hi, spacing_zyx_mm, strict=True)], indexing="ij")
    q = np.sqrt(sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre_zyx_mm, axes, strict=True)))
    edge = min(spacing_zyx_mm) / radius_mm
    w = np.clip((1.0 - q) / edge + 0.5, 0.0, 1.0).astype(np.float32)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    sub = volume[box]
    noise = rng.normal(0.0, 15.0, sub.shape).astype(np.float32)
    volume[box] = sub * (1 - w) + (hu + noise) * w
    labels[box][q <= 1.0] = 1


def insert_tube(volume: np.ndarray, centre_zyx_mm, spacing_zyx_mm, rng: np.random.Generator) -> None:
    """Paint a vessel-like cylinder (a negative) through ``centre_zyx_mm``."""
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    length, radius, hu = rng.uniform(20, 80), rng.uniform(0.8, 2.5), rng.uniform(-50, 60)
    half = length / 2 + radius
    lo = [max(0, int((c - half) / s)) for c, s in zip(centre_zyx_mm, spacing_zyx_mm, strict=True)]
    hi = [min(n, int((c + half) / s) + 1) for c, s, n in zip(centre_zyx_mm, spacing_zyx_mm, volume.shape, strict=True)]
    if any(h <= lo_ for lo_, h in zip(lo, hi, strict=True)):
        return
    grids = np.meshgrid(*[np.arange(a, b) * s - c for a, b, s, c in zip(lo, hi, spacing_zyx_mm, centre_zyx_mm,
                                                                         strict=True)], indexing="ij")
    along = sum(g * d for g, d in zip(grids, direction, strict=True))
    across = np.sqrt(np.maximum(sum(g**2 for g in grids) - along**2, 0.0))
    w = np.clip((radius - across) / min(spacing_zyx_mm) + 0.5, 0, 1) * (np.abs(along) <= length / 2)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    volume[box] = volume[box] * (1 - w) + hu * w


def random_point_in(mask: np.ndarray, rng: np.random.Generator, spacing_zyx_mm) -> np.ndarray | None:
    """A random voxel-centre position (mm) inside ``mask``."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    zyx = np.array(np.unravel_index(rng.choice(idx), mask.shape), float)
    return zyx * np.asarray(spacing_zyx_mm)


def add_random_nodules(volume, labels, lungs, rng, n_max: int = 3, tubes: int = 0, radius=(2.5, 14.0)) -> None:
    """Insert 0–``n_max`` nodules and ``tubes`` distractors inside ``lungs`` (all in model space)."""
    for _ in range(tubes):
        p = random_point_in(lungs, rng, DET_SPACING)
        if p is not None:
            insert_tube(volume, p, DET_SPACING, rng)
    for _ in range(int(rng.integers(0, n_max + 1))):
        p = random_point_in(lungs, rng, DET_SPACING)
        if p is not None:
            r = float(np.exp(rng.uniform(np.log(radius[0]), np.log(radius[1]))))
            insert_nodule(volume, labels, p, r, float(rng.normal(10, 30)), DET_SPACING, rng)


def phantom_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 HU, lesion labels, lung mask) of a phantom on the model grid, random field of view."""
    from analysis.phantom import make_ct_phantom

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(36, 60)), int(rng.integers(96, 140)), int(rng.integers(96, 140)))
    ct, lab, _ = make_ct_phantom(shape, DET_SPACING, seed=seed)
    return ct.astype(np.float32), (lab == 6).astype(np.uint8), np.isin(lab, (2, 3, 6)).astype(np.uint8)


def real_case(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 HU, tumour labels, lung mask) of a real CT on the model grid (as the runner prepares it)."""
    from analysis.classical import lung_masks
    from analysis.infer.detect import prepare_volume

    image, spacing, direction, mask = load_sample(name)
    prep = prepare_volume(image, spacing, direction, DET_SPACING, "LPS")
    assert mask is not None
    mprep = prepare_volume(mask.astype(np.float32), spacing, direction, DET_SPACING, "LPS", smooth=False)
    lungs = lung_masks(prep.volume.astype(np.int16), DET_SPACING).lungs
    return prep.volume, (mprep.volume > 0.4).astype(np.uint8), lungs


# ------------------------------------------------------------------------------------ detection
def train_detector(out_dir: Path, iterations: int, seed: int = 0) -> dict:
    """Train, evaluate on held-out data, write the model folder; return the metrics."""
    import torch

    from analysis.infer.nets import HeatmapNet3D
    from analysis.infer.normalise import fit_normaliser

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    manifest_data = det_manifest_dict()
    norm = fit_normaliser(np.zeros(1, np.float32), parse_manifest(manifest_data, out_dir).normalisation)
    train_cases = [phantom_case(s) for s in range(24)] + [real_case("lung1")]
    kw = manifest_data["weights"]["kwargs"]
    net = HeatmapNet3D(kw["in_channels"], kw["out_channels"], tuple(kw["channels"]))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=iterations, pct_start=0.1)
    batch = 2
    losses = []
    for it in range(iterations):
        xs, ys = [], []
        for _ in range(batch):
            real = rng.random() < 0.4
            ct, lab, lungs = train_cases[-1] if real else train_cases[int(rng.integers(0, len(train_cases) - 1))]
            ct, lab = ct.copy(), lab.copy()
            add_random_nodules(ct, lab, lungs, rng, n_max=3, tubes=0 if real else int(rng.integers(0, 12)))
            x, y = random_crop(ct, lab, rng)
            x = x + rng.normal(0, rng.uniform(0, 15), x.shape).astype(np.float32) + rng.uniform(-20, 20)
            if rng.random() < 0.5:
                x, y = x[:, :, ::-1], y[:, :, ::-1]
            xs.append(norm(np.ascontiguousarray(x)))
            ys.append(np.ascontiguousarray(y, dtype=np.float32))
        xb, yb = torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])
        logits = net(xb)
        prob = torch.sigmoid(logits)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb, pos_weight=torch.tensor(5.0))
        dice = 1 - (2 * (prob * yb).sum() + 1) / (prob.sum() + yb.sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (it + 1) % 50 == 0:
            print(f"detector it {it + 1}/{iterations} loss {np.mean(losses[-50:]):.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    net.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out_dir / "model.pt")
    (out_dir / "manifest.json").write_text(json.dumps(manifest_data, indent=2) + "\n", encoding="utf-8")
    train_s = time.perf_counter() - t0
    metrics = evaluate_detector(out_dir, net)
    metrics.update({"train_seconds": round(train_s, 1), "iterations": iterations, "batch": batch,
                    "final_loss": round(float(np.mean(losses[-50:])), 4), "seed": seed})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def random_crop(ct: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A training crop of :data:`DET_CROP` (padded with air), centred on a lesion two times in three."""
    pad = [(0, max(0, c - n)) for c, n in zip(DET_CROP, ct.shape, strict=True)]
    if any(p[1] for p in pad):
        ct, lab = np.pad(ct, pad, constant_values=-1000.0), np.pad(lab, pad)
    if lab.any() and rng.random() < 0.67:
        pts = np.argwhere(lab)
        centre = pts[rng.integers(0, len(pts))] + rng.integers(-8, 9, 3) * np.array([0, 1, 1])
    else:
        centre = np.array([rng.integers(0, n) for n in ct.shape])
    start = [int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, DET_CROP, ct.shape, strict=True)]
    sl = tuple(slice(a, a + s) for a, s in zip(start, DET_CROP, strict=True))
    return ct[sl], lab[sl]


def gt_boxes(mask: np.ndarray) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """One ``[start, stop)`` box per connected component of ``mask``."""
    if not mask.any():
        return []
    cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True))
    out = []
    for lab in range(1, int(cc.max()) + 1):
        idx = np.nonzero(cc == lab)
        out.append((tuple(int(v.min()) for v in idx), tuple(int(v.max()) + 1 for v in idx)))
    return out


def box_iou(a, b) -> float:
    """IoU of two ``(start, stop)`` voxel boxes."""
    inter = np.prod([max(0, min(a[1][i], b[1][i]) - max(a[0][i], b[0][i])) for i in range(3)])
    va, vb = np.prod(np.subtract(a[1], a[0])), np.prod(np.subtract(b[1], b[0]))
    return float(inter / (va + vb - inter)) if inter else 0.0


def match(preds, gts, iou_min: float = 0.1) -> dict:
    """Greedy matching of predicted to ground-truth boxes at IoU ≥ ``iou_min``: counts of TP/FP/FN."""
    used, tp = set(), 0
    for p in preds:
        best, best_j = 0.0, None
        for j, g in enumerate(gts):
            if j not in used and (iou := box_iou(p, g)) >= iou_min and iou > best:
                best, best_j = iou, j
        if best_j is not None:
            used.add(best_j)
            tp += 1
    return {"tp": tp, "fp": len(preds) - tp, "fn": len(gts) - tp}


def _summary(counts: list[dict], n_volumes: int) -> dict:
    tp, fp, fn = (sum(c[k] for c in counts) for k in ("tp", "fp", "fn"))
    return {"volumes": n_volumes, "lesions": tp + fn, "detected": tp, "false_positives": fp,
            "recall": round(tp / max(tp + fn, 1), 3), "precision": round(tp / max(tp + fp, 1), 3),
            "fp_per_volume": round(fp / max(n_volumes, 1), 2)}


def evaluate_detector(out_dir: Path, net) -> dict:
    """Held-out metrics through the real runner (:func:`analysis.infer.detect.detect`)."""
    from analysis.classical import lung_masks
    from analysis.infer.detect import detect
    from analysis.infer.manifest import read_manifest

    manifest = read_manifest(out_dir)
    ident = (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)
    rng = np.random.default_rng(12345)
    counts = []
    for s in range(1000, 1020):  # phantoms never seen in training, with random extra nodules and tubes
        ct, lab, lungs = phantom_case(s)
        add_random_nodules(ct, lab, lungs, rng, n_max=3, tubes=8)
        preds = [(d.start_zyx, d.stop_zyx) for d in detect(manifest, ct, DET_SPACING, ident, net=net)]
        counts.append(match(preds, gt_boxes(lab)))
    metrics: dict = {"heldout_phantoms": _summary(counts, 20), "match": "greedy, IoU >= 0.1 on voxel boxes"}
    for name, seen in (("lung2", False), ("lung1", True)):
        image, spacing, direction, mask = load_sample(name)
        t = time.perf_counter()
        found = detect(manifest, image, spacing, direction, net=net)
        seconds = time.perf_counter() - t
        preds = [(d.start_zyx, d.stop_zyx) for d in found]
        tumour = gt_boxes(mask)
        assert mask is not None
        hit = [next((round(d.score, 3) for d in found if box_iou((d.start_zyx, d.stop_zyx), g) >= 0.1), None)
               for g in tumour]
        ranks = [next((i + 1 for i, d in enumerate(found) if box_iou((d.start_zyx, d.stop_zyx), g) >= 0.1), None)
                 for g in tumour]
        entry = {"seen_in_training": seen, "tumour_components": len(tumour), "tumour_found": [h is not None
                 for h in hit], "tumour_score": hit, "tumour_rank": ranks, "boxes": len(preds),
                 "other_boxes": len(preds) - sum(h is not None for h in hit), "seconds": round(seconds, 2)}
        if not seen:  # synthetic nodules inserted into the real held-out CT (original resolution)
            lungs = lung_masks(image, spacing).lungs & (mask == 0)
            sub_counts = []
            for _ in range(5):
                vol, lab = image.astype(np.float32), mask.copy()
                for _ in range(3):
                    p = random_point_in(lungs, rng, spacing)
                    if p is not None:
                        r = float(np.exp(rng.uniform(np.log(3.0), np.log(14.0))))
                        insert_nodule(vol, lab, p, r, float(rng.normal(10, 30)), spacing, rng)
                found = detect(manifest, vol, spacing, direction, net=net)
                sub_counts.append(match([(d.start_zyx, d.stop_zyx) for d in found], gt_boxes(lab)))
            entry["with_inserted_nodules"] = _summary(sub_counts, 5)
        metrics[name] = entry
    return metrics


# ------------------------------------------------------------------------------- classification
def _cls_volume(name: str) -> tuple[np.ndarray, tuple[float, ...]]:
    """A sample in canonical LPS axes, normalised as the runner does (float32) and its spacing."""
    from analysis.infer.manifest import Normalisation
    from analysis.infer.normalise import fit_normaliser
    from analysis.infer.orient import canonical_transform, to_canonical

    if name.startswith("phantom:"):
        from analysis.phantom import make_ct_phantom

        seed = int(name.split(":")[1])
        r = np.random.default_rng(seed)
        shape = (int(r.integers(40, 100)), int(r.integers(160, 300)), int(r.integers(160, 300)))
        spacing = (float(r.uniform(1.5, 5.0)), float(r.uniform(0.6, 1.6)), float(r.uniform(0.6, 1.6)))
        image, _, _ = make_ct_phantom(shape, spacing, seed=seed)
        direction: tuple = (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)
    else:
        image, spacing, direction, _ = load_sample(name)
    perm, _ = canonical_transform(direction, "LPS")
    work = to_canonical(image, direction, "LPS")
    spacing = tuple(spacing[i] for i in perm)
    spec = Normalisation("percentile", {"low": 0.5, "high": 99.5})
    return fit_normaliser(work, spec)(np.ascontiguousarray(work)), spacing


def _thumbs(vol: np.ndarray, spacing, slices, rng: np.random.Generator | None) -> np.ndarray:
    """Thumbnails of ``slices``; with ``rng``, each from a random crop (70–100 % of the field of view)."""
    from analysis.infer.classify import axial_thumbnails

    if rng is None:
        return axial_thumbnails(vol, spacing, slices, size=CLS_SIZE, pad_value=float(vol.min()))
    out = []
    for z in slices:
        f = rng.uniform(0.7, 1.0, 2)
        ny, nx = (max(8, int(n * ff)) for n, ff in zip(vol.shape[1:], f, strict=True))
        y0, x0 = int(rng.integers(0, vol.shape[1] - ny + 1)), int(rng.integers(0, vol.shape[2] - nx + 1))
        out.append(axial_thumbnails(vol[z:z + 1, y0:y0 + ny, x0:x0 + nx], spacing, [0], size=CLS_SIZE,
                                    pad_value=float(vol.min()))[0])
    return np.stack(out)


def _central(nz: int, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    return np.arange(int(np.floor(lo * (nz - 1))), int(np.ceil(hi * (nz - 1))) + 1)


def train_classifier(out_dir: Path, epochs: int, seed: int = 0) -> dict:
    """Train the scan-type classifier, evaluate on held-out volumes, write the model folder."""
    import torch

    from analysis.infer.nets import SliceClassifier2D

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    train = {1: ["lung1", "phantom:1", "phantom:2", "phantom:3", "phantom:4"], 2: ["brain1", "mni152-t1"],
             3: ["breast1"]}
    xs, ys = [], []
    per_class = 900
    for cls, names in train.items():
        vols = [_cls_volume(n) for n in names]
        for i in range(per_class):
            vol, spacing = vols[i % len(vols)]
            nz = vol.shape[0]
            zs = np.arange(0, int(round(nz * 2 / 3))) if names == ["breast1"] else _central(nz)
            xs.append(_thumbs(vol, spacing, [int(rng.choice(zs))], rng)[0])
            ys.append(cls - 1)
    x_all, y_all = torch.from_numpy(np.stack(xs)[:, None]), torch.tensor(ys)
    print(f"classifier: {len(ys)} training thumbnails ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    manifest_data = cls_manifest_dict()
    kw = manifest_data["weights"]["kwargs"]
    net = SliceClassifier2D(kw["in_channels"], kw["n_classes"], tuple(kw["channels"]))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(y_all), generator=gen)
        total = 0.0
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            xb = x_all[idx].clone()
            gamma = torch.empty(len(idx), 1, 1, 1).uniform_(0.7, 1.4, generator=gen)
            xb = xb.clamp(0, 1) ** gamma + 0.03 * torch.randn(xb.shape, generator=gen)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb[flip] = xb[flip].flip(-1)
            loss = torch.nn.functional.cross_entropy(net(xb), y_all[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(f"classifier epoch {epoch + 1}/{epochs} loss {total / len(order):.4f}", file=sys.stderr)
    net.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out_dir / "model.pt")
    (out_dir / "manifest.json").write_text(json.dumps(manifest_data, indent=2) + "\n", encoding="utf-8")
    metrics = evaluate_classifier(out_dir, net)
    metrics.update({"train_seconds": round(time.perf_counter() - t0, 1), "epochs": epochs,
                    "training_thumbnails": len(ys), "training_volumes": train, "seed": seed})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def evaluate_classifier(out_dir: Path, net) -> dict:
    """Held-out slice accuracy and per-volume predictions through :func:`analysis.infer.classify.classify`."""
    import torch

    from analysis.infer.classify import classify
    from analysis.infer.manifest import read_manifest

    manifest = read_manifest(out_dir)
    held = [("lung2", 1), ("phantom:101", 1), ("phantom:102", 1), ("brain2", 2), ("breast1[last third]", 3)]
    volumes, correct, slices = {}, 0, 0
    for name, cls in held:
        if name.startswith("breast1"):
            image, spacing, direction, _ = load_sample("breast1")
            image = image[int(round(image.shape[0] * 2 / 3)):]
        elif name.startswith("phantom:"):
            from analysis.phantom import make_ct_phantom

            seed = int(name.split(":")[1])
            r = np.random.default_rng(seed)
            shape = (int(r.integers(40, 100)), int(r.integers(160, 300)), int(r.integers(160, 300)))
            spacing = (float(r.uniform(1.5, 5.0)), float(r.uniform(0.6, 1.6)), float(r.uniform(0.6, 1.6)))
            image, _, _ = make_ct_phantom(shape, spacing, seed=seed)
            direction = (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)
        else:
            image, spacing, direction, _ = load_sample(name)
        probs = classify(manifest, image, spacing, direction, net=net)
        predicted = max(probs, key=probs.get)
        volumes[name] = {"truth": CLS_LABELS[cls], "predicted": predicted, "correct": predicted == CLS_LABELS[cls],
                         "probabilities": {k: round(v, 3) for k, v in probs.items()}}
        from analysis.infer.classify import prepare_thumbnails

        batch = prepare_thumbnails(manifest, image, spacing, direction)
        with torch.inference_mode():
            pred = net(torch.from_numpy(batch)).argmax(1).numpy()
        correct += int((pred == cls - 1).sum())
        slices += len(pred)
    n_ok = sum(v["correct"] for v in volumes.values())
    return {"heldout_volumes": volumes, "volume_accuracy": f"{n_ok}/{len(volumes)}",
            "slice_accuracy": round(correct / max(slices, 1), 3), "heldout_slices": slices,
            "caveat": "breast1's held-out slices come from the only breast sample (same patient as training): "
                      "not an independent test. lung2 and brain2 are independent patients."}


def main(argv: list[str] | None = None) -> int:
    """Train the requested models and print their metrics as JSON."""
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=["detection", "classification"])
    p.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    p.add_argument("--det-iterations", type=int, default=600)
    p.add_argument("--cls-epochs", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: dict = {}
    if args.only in (None, "detection"):
        out[DET_NAME] = train_detector(args.out / DET_NAME, args.det_iterations)
    if args.only in (None, "classification"):
        out[CLS_NAME] = train_classifier(args.out / CLS_NAME, args.cls_epochs)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
