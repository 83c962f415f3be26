"""Run a classification model from its manifest: axial thumbnails → per-slice softmax → mean.

Pipeline: orient to the manifest's axes → fit the manifest's intensity normalisation on the whole
volume → pick up to ``n_slices`` axial slices evenly over the central part of the volume → each
resampled to a square ``size × size`` thumbnail over its whole field of view (anti-aliased,
padded with the volume's minimum) → the network → softmax per slice → the mean over slices.

Manifest keys read from ``extra["classification"]`` (all optional): ``thumbnail_size`` (64),
``n_slices`` (16), ``central_fraction`` (0.8). Output channel ``i`` is the ``i``-th label id in
ascending order.

Pure function of arrays; call from the inference worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.infer.manifest import ModelManifest
from analysis.infer.normalise import fit_normaliser
from analysis.infer.orient import to_canonical

log = logging.getLogger(__name__)


def classification_params(manifest: ModelManifest) -> dict:
    """The manifest's ``classification`` settings with defaults filled in."""
    params = {"thumbnail_size": 64, "n_slices": 16, "central_fraction": 0.8}
    params.update(dict(manifest.extra.get("classification") or {}))
    return params


def slice_indices(nz: int, n_slices: int, central_fraction: float = 0.8) -> np.ndarray:
    """Up to ``n_slices`` distinct slice indices spread evenly over the central part of ``nz`` slices."""
    margin = (1.0 - central_fraction) / 2.0 * (nz - 1)
    idx = np.rint(np.linspace(margin, nz - 1 - margin, max(1, n_slices))).astype(np.int64)
    return np.unique(np.clip(idx, 0, nz - 1))


def axial_thumbnails(volume_zyx: np.ndarray, spacing_zyx_mm: Sequence[float], slices: Sequence[int], *,
                     size: int = 64, pad_value: float | None = None) -> np.ndarray:
    """Return (len(slices), size, size) float32 thumbnails of the given axial slices.

    Each thumbnail covers the square of side ``max(Y·dy, X·dx)`` centred on the slice (the whole
    field of view, aspect kept), Gaussian anti-aliased before down-sampling and padded with
    ``pad_value`` (default: the volume minimum). Also used by the training script.
    """
    vol = np.ascontiguousarray(volume_zyx[np.asarray(slices, dtype=np.int64)], dtype=np.float32)
    _, dy, dx = (float(s) for s in spacing_zyx_mm)
    pad = float(volume_zyx.min()) if pad_value is None else float(pad_value)
    out = np.empty((vol.shape[0], size, size), np.float32)
    side = max(vol.shape[1] * dy, vol.shape[2] * dx)
    pixel = side / size
    for i, plane in enumerate(vol):
        image = sitk.GetImageFromArray(plane)
        image.SetSpacing((dx, dy))
        variance = [(0.4 * pixel) ** 2 if pixel > 1.2 * s else 0.0 for s in (dx, dy)]
        if any(variance):
            image = sitk.DiscreteGaussian(image, variance, 32, 0.01, True)
        f = sitk.ResampleImageFilter()
        f.SetOutputSpacing((pixel, pixel))
        f.SetSize((size, size))
        centre = ((plane.shape[1] - 1) * dx / 2.0, (plane.shape[0] - 1) * dy / 2.0)
        f.SetOutputOrigin(tuple(c - (size - 1) * pixel / 2.0 for c in centre))
        f.SetInterpolator(sitk.sitkLinear)
        f.SetDefaultPixelValue(pad)
        out[i] = sitk.GetArrayFromImage(f.Execute(image))
    return out


def prepare_thumbnails(manifest: ModelManifest, image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
                       direction: Sequence[float]) -> np.ndarray:
    """Normalised (N, 1, size, size) float32 thumbnails exactly as :func:`classify` feeds them to the network."""
    params = classification_params(manifest)
    work, spacing = image_zyx, tuple(float(s) for s in spacing_zyx_mm)
    if manifest.orientation:
        from analysis.infer.orient import canonical_transform

        perm, _ = canonical_transform(direction, manifest.orientation)
        work = to_canonical(work, direction, manifest.orientation)
        spacing = tuple(spacing[i] for i in perm)
    normaliser = fit_normaliser(work, manifest.normalisation)
    slices = slice_indices(work.shape[0], int(params["n_slices"]), float(params["central_fraction"]))
    thumbs = axial_thumbnails(work, spacing, slices, size=int(params["thumbnail_size"]),
                              pad_value=float(np.min(work)))
    return normaliser(thumbs)[:, None]


def classify(
    manifest: ModelManifest,
    image_zyx: np.ndarray,
    spacing_zyx_mm: Sequence[float],
    direction: Sequence[float],
    *,
    net=None,
    device: str = "cpu",
    ctx: TaskContext = NULL_CONTEXT,
) -> dict[str, float]:
    """Return ``{label name: probability}`` of ``manifest``'s classifier on the whole volume.

    Parameters
    ----------
    manifest
        A ``task: classification`` manifest.
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
    dict of str to float
        Probabilities (mean of per-slice softmax) in the manifest's label order; they sum to 1.
    """
    import torch

    t0 = time.perf_counter()
    from analysis.infer.loading import network_for

    net = network_for(manifest, "classification", net, device)
    ctx.step(0.0, "thumbnails")
    batch = prepare_thumbnails(manifest, image_zyx, spacing_zyx_mm, direction)
    ctx.step(0.5, "classifying")
    with torch.inference_mode():
        logits = net(torch.from_numpy(batch).to(device))
        if isinstance(logits, list | tuple):
            logits = logits[0]
        probs = torch.softmax(logits.float(), dim=1).mean(dim=0).cpu().numpy().astype(np.float64)
    probs /= probs.sum()
    names = [manifest.labels[k] for k in sorted(manifest.labels)]
    if len(names) != probs.shape[0]:
        raise ValueError(f"{manifest.id}: network has {probs.shape[0]} outputs but the manifest names "
                         f"{len(names)} labels")
    ctx.step(1.0, "done")
    log.info("%s: %d slices in %.3f s", manifest.id, batch.shape[0], time.perf_counter() - t0)
    return {name: float(p) for name, p in zip(names, probs, strict=True)}
