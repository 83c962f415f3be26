"""deepbet brain extraction (Fisch et al. 2024, MIT) as a MedWS runner.

The two TorchScript networks come from the installed ``deepbet`` wheel (``data/models/*.pt``,
located through ``importlib.metadata``; never copied into MedWS). The pipeline follows
deepbet's own: the head in RAS canonical order, a 128³ bounding-box network, a crop with 10 %
margin resized to 256³, the brain network, threshold 0.5, the largest component and hole filling
(here with SimpleITK instead of cc3d/fill_voids). Call from the inference worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.infer.manifest import ModelManifest, distribution_file
from analysis.infer.orient import from_canonical, to_canonical

log = logging.getLogger(__name__)

SMALL_SHAPE = (128, 128, 128)
SHAPE = (256, 256, 256)
BBOX_MARGIN = 0.1


def _largest_component(mask: np.ndarray) -> np.ndarray:
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8))),
                               sortByObjectSize=True)
    return sitk.GetArrayViewFromImage(cc) == 1


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.GetImageFromArray(mask.astype(np.uint8)))) > 0


def _bbox_with_margin(mask_small: np.ndarray, shape: Sequence[int], margin: float = BBOX_MARGIN) -> tuple[slice, ...]:
    """deepbet's box: axes whose mean foreground exceeds 2 %, scaled to ``shape``, grown by ``margin``."""
    box = []
    for axis, n in enumerate(shape):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(mask_small.mean(axis=other) > 0.02)
        if idx.size == 0:
            raise ValueError("deepbet: no head found (bounding-box network saw no foreground)")
        scale = n / mask_small.shape[axis]
        centre, size = scale * (idx.max() + 1 + idx.min()) / 2.0, scale * (idx.max() + 1 - idx.min())
        size *= 1 + 2 * margin
        centre, size = round(centre), round(size)
        box.append(slice(max(0, int(centre - size / 2)), min(n, int(centre + size / 2))))
    return tuple(box)


def brain_mask(manifest: ModelManifest, image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
               direction: Sequence[float], *, device: str = "cpu", ctx: TaskContext = NULL_CONTEXT,
               threshold: float = 0.5) -> np.ndarray:
    """Return a uint8 brain mask (1 = brain) on ``image_zyx``'s grid."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from analysis.infer.loading import load_network

    t0 = time.perf_counter()
    ctx.step(0.0, "deepbet: loading networks")
    model = load_network(manifest, device)
    bbox_manifest = _bbox_manifest(manifest)
    bbox_model = load_network(bbox_manifest, device)
    # deepbet works on nibabel's canonical array: axes (R, A, S) in (x, y, z) order
    ras_zyx = to_canonical(image_zyx, direction, "RAS")
    x = torch.from_numpy(np.ascontiguousarray(ras_zyx.transpose(2, 1, 0), dtype=np.float32)).to(device)
    x = torch.nan_to_num(x)
    ctx.step(0.1, "deepbet: bounding box")
    with torch.inference_mode():
        x_small = F.interpolate(x[None, None], SMALL_SHAPE, mode="nearest-exact")[0, 0]
        low, high = torch.quantile(x_small.flatten(), torch.tensor([0.005, 0.995], device=device))

        def normalise(t: torch.Tensor) -> torch.Tensor:
            t = ((t - low) / (high - low)).clamp(0, 1)
            return 0.226 * (t - t.mean()) / t.std() + 0.449

        mask_small = bbox_model(normalise(x_small)[None, None])[0, 1].cpu().numpy() > 0.5
        mask_small = _largest_component(mask_small).astype(np.float32)
        box = _bbox_with_margin(mask_small, x.shape)
        ctx.step(0.3, "deepbet: brain network")
        crop = F.interpolate(x[box][None, None], SHAPE, mode="nearest-exact")[0, 0]
        prob_crop = model(normalise(crop)[None, None])[0, 1]
        ctx.step(0.8, "deepbet: post-processing")
        prob = torch.zeros_like(x)
        prob[box] = F.interpolate(prob_crop[None, None], prob[box].shape, mode="nearest-exact")[0, 0]
    mask_xyz = prob.cpu().numpy() > threshold
    inner = mask_xyz[box]
    if inner.any():
        mask_xyz[box] = _fill_holes(_largest_component(inner))
    mask_zyx = from_canonical(mask_xyz.transpose(2, 1, 0), direction, "RAS")
    log.info("deepbet: %.2f s, brain volume %.0f ml", time.perf_counter() - t0,
             mask_zyx.sum() * float(np.prod(spacing_zyx_mm)) / 1000.0)
    ctx.step(1.0, "deepbet: done")
    return np.ascontiguousarray(mask_zyx, dtype=np.uint8)


def _bbox_manifest(manifest: ModelManifest) -> ModelManifest:
    from dataclasses import replace

    relative = str(manifest.extra.get("bbox_weights", "data/models/bbox_model.pt"))
    if manifest.weights_distribution:
        distribution_file(manifest.weights_distribution, relative)  # fail early with a clear message
    return replace(manifest, weights_path=relative)
