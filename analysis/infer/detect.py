"""Run a detection model from its manifest: a per-voxel lesion probability map → scored boxes.

Pipeline: orient to the manifest's axes (flips/transposes only) → smooth and resample to the
manifest spacing → normalise → the network over the volume in overlapping tiles (probabilities
averaged) → connected components of ``p > threshold`` → one box per component, scored by its
peak probability → boxes mapped back to voxel indices of the input grid.

The network is any ``analysis.infer.nets`` module with one logit channel per foreground label
(e.g. :class:`analysis.infer.nets.HeatmapNet3D`). Manifest keys read from ``extra["detection"]``
(all optional): ``threshold`` (0.5), ``min_score`` (0.5), ``min_volume_mm3`` (20),
``max_boxes`` (20), ``smooth`` (true: Gaussian anti-aliasing before down-sampling).

Pure function of arrays; call from the inference worker thread. Cancel is checked between tiles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.infer.manifest import ModelManifest
from analysis.infer.normalise import fit_normaliser
from analysis.infer.orient import canonical_transform, to_canonical
from analysis.infer.sliding_window import window_starts

log = logging.getLogger(__name__)

#: Down-sampling factors of :class:`analysis.infer.nets.HeatmapNet3D` (z, y, x): tiles are padded to multiples.
DIVISOR_ZYX = (4, 8, 8)


@dataclass(frozen=True)
class Detection:
    """One detected object: a voxel box ``[start, stop)`` in (z, y, x) of the input grid.

    ``score`` is the peak probability inside the object; ``label_id`` a key of the manifest's labels.
    """

    start_zyx: tuple[int, int, int]
    stop_zyx: tuple[int, int, int]
    score: float
    label_id: int = 1

    def to_dict(self) -> dict:
        """JSON-ready form (voxel indices only; callers add LPS mm from the image geometry)."""
        return {"start_zyx": list(self.start_zyx), "stop_zyx": list(self.stop_zyx),
                "score": round(float(self.score), 4), "label_id": int(self.label_id)}


@dataclass(frozen=True)
class Prepared:
    """The model-space volume and what is needed to map boxes back to the input grid."""

    volume: np.ndarray  # float32, canonical axes, manifest spacing
    spacing_zyx_mm: tuple[float, float, float]  # of ``volume``
    canonical_shape_zyx: tuple[int, int, int]  # the input in canonical axes, before resampling
    canonical_spacing_zyx_mm: tuple[float, float, float]
    perm: tuple[int, int, int]
    flips: tuple[bool, bool, bool]


def prepare_volume(image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float], direction: Sequence[float],
                   target_spacing_zyx_mm: Sequence[float] | None, orientation: str | None = "LPS", *,
                   smooth: bool = True) -> Prepared:
    """Reorient, anti-alias and resample ``image_zyx`` (float32 out). Also used by the training script.

    Parameters
    ----------
    image_zyx
        The input volume on its own grid.
    spacing_zyx_mm, direction
        Its voxel spacing and direction cosines (9 numbers, columns = x, y, z index axes in LPS).
    target_spacing_zyx_mm
        The model's spacing; ``None`` keeps the input spacing.
    orientation
        "LPS" or "RAS" axis convention of the model; ``None`` leaves the axes as they are.
    smooth
        Gaussian-smooth axes that are down-sampled by more than 1.2× (sigma = 0.4 × new spacing).
    """
    spacing = tuple(float(s) for s in spacing_zyx_mm)
    perm, flips = (0, 1, 2), (False, False, False)
    work = image_zyx
    if orientation:
        perm, flips = canonical_transform(direction, orientation)
        work = to_canonical(work, direction, orientation)
        spacing = tuple(spacing[i] for i in perm)
    work = np.ascontiguousarray(work, dtype=np.float32)
    canonical_shape = tuple(int(n) for n in work.shape)
    target = spacing if target_spacing_zyx_mm is None else tuple(float(t) for t in target_spacing_zyx_mm)
    if not np.allclose(spacing, target, rtol=0.01):
        image = sitk.GetImageFromArray(work)
        image.SetSpacing(spacing[::-1])
        if smooth:
            variance = [(0.4 * t) ** 2 if t > 1.2 * s else 0.0 for s, t in zip(spacing, target, strict=True)]
            if any(variance):
                image = sitk.DiscreteGaussian(image, variance[::-1], 32, 0.01, True)
        size_xyz = [max(1, int(round(n * s / t))) for n, s, t in zip(work.shape, spacing, target, strict=True)][::-1]
        f = sitk.ResampleImageFilter()
        f.SetOutputSpacing(target[::-1])
        f.SetSize(size_xyz)
        f.SetOutputOrigin(image.GetOrigin())
        f.SetInterpolator(sitk.sitkLinear)
        f.SetDefaultPixelValue(float(work.min()) if work.size else 0.0)
        work = sitk.GetArrayFromImage(f.Execute(image)).astype(np.float32, copy=False)
    return Prepared(work, target, canonical_shape, spacing, perm, flips)  # type: ignore[arg-type]


def probability_map(net, volume: np.ndarray, patch_zyx: Sequence[int] | None, *, device: str = "cpu",
                    overlap: float = 0.25, pad_value: float = 0.0, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Sigmoid probabilities (C, Z, Y, X) of ``net`` over normalised ``volume``, tiled with averaging.

    Tiles are ``patch_zyx`` (rounded up to multiples of :data:`DIVISOR_ZYX`); an axis shorter than
    its tile is padded with ``pad_value``.
    """
    import torch

    shape = volume.shape
    tile = []
    for a, n in enumerate(shape):
        p = n if patch_zyx is None else min(int(patch_zyx[a]), n)
        tile.append(int(np.ceil(p / DIVISOR_ZYX[a]) * DIVISOR_ZYX[a]))
    padded_shape = [max(n, t) for n, t in zip(shape, tile, strict=True)]
    if list(padded_shape) != list(shape):
        padded = np.full(padded_shape, pad_value, np.float32)
        padded[: shape[0], : shape[1], : shape[2]] = volume
        volume = padded
    starts = [window_starts(n, t, overlap) for n, t in zip(padded_shape, tile, strict=True)]
    windows = [(z, y, x) for z in starts[0] for y in starts[1] for x in starts[2]]
    acc: np.ndarray | None = None
    count = np.zeros(padded_shape, np.float32)
    for i, (z, y, x) in enumerate(windows):
        ctx.step(i / len(windows), f"window {i + 1}/{len(windows)}")
        sl = (slice(z, z + tile[0]), slice(y, y + tile[1]), slice(x, x + tile[2]))
        with torch.inference_mode():
            logits = net(torch.from_numpy(np.ascontiguousarray(volume[sl]))[None, None].to(device))
            if isinstance(logits, list | tuple):
                logits = logits[0]
            prob = torch.sigmoid(logits.float())[0].cpu().numpy()
        if acc is None:
            acc = np.zeros((prob.shape[0], *padded_shape), np.float32)
        acc[(slice(None), *sl)] += prob
        count[sl] += 1.0
    assert acc is not None
    acc /= np.maximum(count, 1.0)[None]
    return acc[:, : shape[0], : shape[1], : shape[2]]


def boxes_from_probability(prob_zyx: np.ndarray, spacing_zyx_mm: Sequence[float], *, threshold: float = 0.5,
                           min_score: float = 0.5, min_volume_mm3: float = 20.0
                           ) -> list[tuple[tuple[int, ...], tuple[int, ...], float]]:
    """Return ``(start_zyx, stop_zyx, peak)`` per connected component of ``prob > threshold``, best first."""
    mask = (prob_zyx > threshold).astype(np.uint8)
    if not mask.any():
        return []
    cc = sitk.ConnectedComponent(sitk.GetImageFromArray(mask), True)
    labels = sitk.GetArrayFromImage(cc)
    n = int(labels.max())
    voxel_mm3 = float(np.prod(spacing_zyx_mm))
    flat_labels, flat_prob = labels.reshape(-1), prob_zyx.reshape(-1)
    peaks = np.zeros(n + 1, np.float64)
    np.maximum.at(peaks, flat_labels, flat_prob)
    sizes = np.bincount(flat_labels, minlength=n + 1)
    out = []
    for lab in range(1, n + 1):
        if peaks[lab] < min_score or sizes[lab] * voxel_mm3 < min_volume_mm3:
            continue
        idx = np.nonzero(labels == lab)
        start = tuple(int(v.min()) for v in idx)
        stop = tuple(int(v.max()) + 1 for v in idx)
        out.append((start, stop, float(peaks[lab])))
    out.sort(key=lambda b: -b[2])
    return out


def box_to_input_grid(start_zyx: Sequence[int], stop_zyx: Sequence[int], prepared: Prepared
                      ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Map a box ``[start, stop)`` on the model grid back to voxel indices of the input grid.

    Keeps the input voxels whose centres lie inside the box's physical extent (at least one per axis).
    """
    c_start, c_stop = [], []
    for a in range(3):
        t, s, n = prepared.spacing_zyx_mm[a], prepared.canonical_spacing_zyx_mm[a], prepared.canonical_shape_zyx[a]
        lo_mm, hi_mm = (start_zyx[a] - 0.5) * t, (stop_zyx[a] - 0.5) * t
        lo = int(np.clip(np.ceil(lo_mm / s - 1e-6), 0, n - 1))
        hi = int(np.clip(np.floor(hi_mm / s + 1e-6) + 1, lo + 1, n))
        c_start.append(lo)
        c_stop.append(hi)
    start, stop = [0, 0, 0], [0, 0, 0]
    for k in range(3):  # canonical axis k came from input axis perm[k], flipped when flips[k]
        n = prepared.canonical_shape_zyx[k]
        lo, hi = (n - c_stop[k], n - c_start[k]) if prepared.flips[k] else (c_start[k], c_stop[k])
        start[prepared.perm[k]], stop[prepared.perm[k]] = lo, hi
    return tuple(start), tuple(stop)  # type: ignore[return-value]


def detection_params(manifest: ModelManifest) -> dict:
    """The manifest's ``detection`` settings with defaults filled in."""
    params = {"threshold": 0.5, "min_score": 0.5, "min_volume_mm3": 20.0, "max_boxes": 20, "smooth": True}
    params.update(dict(manifest.extra.get("detection") or {}))
    return params


def detect(
    manifest: ModelManifest,
    image_zyx: np.ndarray,
    spacing_zyx_mm: Sequence[float],
    direction: Sequence[float],
    *,
    net=None,
    device: str = "cpu",
    ctx: TaskContext = NULL_CONTEXT,
) -> list[Detection]:
    """Return the detections of ``manifest``'s model on ``image_zyx``, highest score first.

    Parameters
    ----------
    manifest
        A ``task: detection`` manifest; ``labels`` maps output channel ``i`` to label id ``i + 1``.
    image_zyx, spacing_zyx_mm, direction
        The input volume, its spacing and direction cosines.
    net
        The network; defaults to :func:`analysis.infer.loading.load_network` of the manifest.
    device
        Torch device.
    ctx
        Progress and cancel.

    Returns
    -------
    list of Detection
        Boxes ``[start, stop)`` in voxel (z, y, x) of ``image_zyx`` with their peak probability.
    """
    params = detection_params(manifest)
    t0 = time.perf_counter()
    from analysis.infer.loading import network_for

    net = network_for(manifest, "detection", net, device)
    ctx.step(0.0, "preparing")
    prepared = prepare_volume(image_zyx, spacing_zyx_mm, direction, manifest.spacing_zyx_mm, manifest.orientation,
                              smooth=bool(params["smooth"]))
    normaliser = fit_normaliser(prepared.volume, manifest.normalisation)
    volume = normaliser(prepared.volume)
    pad_value = float(normaliser(np.array([prepared.volume.min()], np.float32))[0])
    t1 = time.perf_counter()
    sub = TaskContext(report=lambda f, m: ctx.report(0.1 + 0.8 * f, m), is_cancelled=ctx.is_cancelled)
    prob = probability_map(net, volume, manifest.patch_size_zyx, device=device, overlap=manifest.overlap,
                           pad_value=pad_value, ctx=sub)
    t2 = time.perf_counter()
    ctx.step(0.9, "boxes")
    label_ids = sorted(manifest.labels) or [1]
    found: list[Detection] = []
    for channel, label_id in enumerate(label_ids[: prob.shape[0]]):
        for start, stop, score in boxes_from_probability(prob[channel], prepared.spacing_zyx_mm,
                                                         threshold=float(params["threshold"]),
                                                         min_score=float(params["min_score"]),
                                                         min_volume_mm3=float(params["min_volume_mm3"])):
            s, e = box_to_input_grid(start, stop, prepared)
            found.append(Detection(s, e, score, label_id))
    found.sort(key=lambda d: -d.score)
    found = found[: int(params["max_boxes"])]
    ctx.step(1.0, f"{len(found)} boxes")
    log.info("%s: preprocess=%.3f predict=%.3f postprocess=%.3f boxes=%d", manifest.id, t1 - t0, t2 - t1,
             time.perf_counter() - t2, len(found))
    return found
