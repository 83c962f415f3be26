"""Classical (model-free) segmentation: CT tissue masks by HU, lesion candidates, Otsu, k-means.

Inputs are ``(z, y, x)`` arrays in physical units (HU for CT) with spacing in mm. Outputs are
uint8 masks or label arrays on the same grid. Any thread may call; progress and cancel via ``ctx``.
Default thresholds follow common CT practice (lung parenchyma ≈ −950…−400 HU, bone > 200 HU,
fat −190…−30 HU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from analysis._task import NULL_CONTEXT, TaskContext


def _img(mask: np.ndarray, spacing_zyx_mm: Sequence[float] = (1, 1, 1)) -> sitk.Image:
    image = sitk.GetImageFromArray(mask.astype(np.uint8, copy=False))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx_mm[::-1]))
    return image


def _arr(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def largest_components(mask: np.ndarray, n: int = 1, min_voxels: int = 0) -> np.ndarray:
    """Keep the ``n`` largest 26-connected components of ``mask`` that have ≥ ``min_voxels``."""
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(_img(mask), True), sortByObjectSize=True,
                               minimumObjectSize=int(min_voxels))
    labels = _arr(cc)
    return ((labels >= 1) & (labels <= n)).astype(np.uint8)


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice along z (axial), as in most CT body/lung pipelines."""
    out = np.empty_like(mask, dtype=np.uint8)
    for z in range(mask.shape[0]):
        out[z] = _arr(sitk.BinaryFillhole(sitk.GetImageFromArray(mask[z].astype(np.uint8))))
    return out


def _radius_vox(radius_mm: float, spacing_zyx_mm: Sequence[float]) -> list[int]:
    return [max(0, int(round(radius_mm / s))) for s in spacing_zyx_mm[::-1]]


def body_mask(ct_hu: np.ndarray, spacing_zyx_mm: Sequence[float], *, threshold_hu: float = -500.0,
              ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """The patient body: largest component above ``threshold_hu`` with holes (lungs) filled per slice."""
    ctx.step(0.0, "body")
    body = largest_components(ct_hu > threshold_hu)
    ctx.step(0.5, "body: fill holes")
    return fill_holes_2d(body)


@dataclass(frozen=True)
class LungMasks:
    """Lung segmentation results (uint8 masks on the CT grid)."""

    lungs: np.ndarray
    airways: np.ndarray
    lungs_without_airways: np.ndarray


def lung_masks(ct_hu: np.ndarray, spacing_zyx_mm: Sequence[float], *, body: np.ndarray | None = None,
               lung_max_hu: float = -320.0, airway_max_hu: float = -950.0, ctx: TaskContext = NULL_CONTEXT
               ) -> LungMasks:
    """Lungs (air-like tissue inside the body), the large airways, and lungs without airways.

    Airways are the lowest-density (< ``airway_max_hu``) component that reaches the top
    (highest-z, cranial when z points to the head) slices near the body's centre, grown by 2 mm.
    """
    body = body_mask(ct_hu, spacing_zyx_mm, ctx=ctx) if body is None else body
    ctx.step(0.3, "lungs")
    voxel_ml = float(np.prod(spacing_zyx_mm)) / 1000.0
    candidates = (ct_hu < lung_max_hu) & (body > 0)
    lungs = largest_components(candidates, n=2, min_voxels=int(5.0 / voxel_ml))  # ≥ 5 ml each
    # smooth the border and close small vessels inside the parenchyma
    closed = sitk.BinaryMorphologicalClosing(_img(lungs, spacing_zyx_mm), _radius_vox(2.0, spacing_zyx_mm))
    lungs = (_arr(closed) & (body > 0)).astype(np.uint8)
    ctx.step(0.6, "airways")
    airways = np.zeros_like(lungs)
    dark = (ct_hu < airway_max_hu) & (lungs > 0)
    if dark.any():
        labels = _arr(sitk.ConnectedComponent(_img(dark)))
        zs = np.flatnonzero(lungs.any(axis=(1, 2)))
        top = slice(max(zs[-1] - 2, 0), zs[-1] + 1) if len(zs) else slice(0, 0)
        cy, cx = (np.array(ct_hu.shape[1:]) - 1) / 2.0
        best, best_d = 0, np.inf
        for lab in np.unique(labels[top])[1:]:
            yy, xx = np.nonzero((labels[top] == lab).any(axis=0))
            d = np.hypot(yy.mean() - cy, xx.mean() - cx)
            if d < best_d:
                best, best_d = lab, d
        if best and best_d < 0.15 * ct_hu.shape[2]:
            grown = sitk.BinaryDilate(_img(labels == best, spacing_zyx_mm), _radius_vox(2.0, spacing_zyx_mm))
            airways = (_arr(grown) & (lungs > 0)).astype(np.uint8)
    ctx.step(1.0, "lungs done")
    return LungMasks(lungs, airways, (lungs & (airways == 0)).astype(np.uint8))


def bone_mask(ct_hu: np.ndarray, spacing_zyx_mm: Sequence[float], *, threshold_hu: float = 200.0,
              min_volume_ml: float = 0.5, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Bone: HU above ``threshold_hu``, closed by 1 mm, components smaller than ``min_volume_ml`` dropped."""
    ctx.step(0.0, "bone")
    mask = sitk.BinaryMorphologicalClosing(_img(ct_hu > threshold_hu, spacing_zyx_mm),
                                           _radius_vox(1.0, spacing_zyx_mm))
    voxel_ml = float(np.prod(spacing_zyx_mm)) / 1000.0
    return largest_components(_arr(mask), n=10_000, min_voxels=int(min_volume_ml / voxel_ml))


def fat_mask(ct_hu: np.ndarray, spacing_zyx_mm: Sequence[float], *, body: np.ndarray | None = None,
             low_hu: float = -190.0, high_hu: float = -30.0, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Adipose tissue: ``low_hu``…``high_hu`` inside the body, 1-voxel opening against noise."""
    body = body_mask(ct_hu, spacing_zyx_mm, ctx=ctx) if body is None else body
    fat = (ct_hu >= low_hu) & (ct_hu <= high_hu) & (body > 0)
    return _arr(sitk.BinaryMorphologicalOpening(_img(fat), [1, 1, 1])).astype(np.uint8)


@dataclass(frozen=True)
class Candidate:
    """A lesion candidate: voxel box ``[start, stop)`` in zyx, size, shape and contrast features."""

    start_zyx: tuple[int, int, int]
    stop_zyx: tuple[int, int, int]
    volume_mm3: float
    diameter_mm: float
    sphericity: float
    contrast_hu: float
    score: float


def lung_lesion_candidates(ct_hu: np.ndarray, spacing_zyx_mm: Sequence[float], lungs: np.ndarray, *,
                           min_diameter_mm: float = 4.0, max_diameter_mm: float = 60.0,
                           solid_min_hu: float = -400.0, ctx: TaskContext = NULL_CONTEXT) -> list[Candidate]:
    """Solid nodules/masses inside the lungs as scored candidates, best first.

    Candidates are dense (> ``solid_min_hu``) components inside the hole-filled lung region. The
    score in [0, 1] favours compact, round (sphericity from the perimeter-based
    ``LabelShapeStatistics`` roundness) components of plausible size with high contrast to the
    surrounding parenchyma; elongated vessels score low.
    """
    ctx.step(0.0, "lesion candidates")
    region = fill_holes_2d(lungs)
    region = _arr(sitk.BinaryErode(_img(region, spacing_zyx_mm), _radius_vox(1.0, spacing_zyx_mm)))
    dense = (ct_hu > solid_min_hu) & (region > 0)
    dense = _arr(sitk.BinaryMorphologicalOpening(_img(dense, spacing_zyx_mm), [1, 1, 1]))
    labels_img = sitk.ConnectedComponent(_img(dense, spacing_zyx_mm))
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.ComputePerimeterOn()
    stats.Execute(labels_img)
    lung_values = ct_hu[(lungs > 0) & (ct_hu < solid_min_hu)]
    lung_mean = float(lung_values.mean()) if lung_values.size else -850.0
    labels = _arr(labels_img)
    out: list[Candidate] = []
    all_labels = stats.GetLabels()
    for i, lab in enumerate(all_labels):
        ctx.step(0.2 + 0.8 * i / max(1, len(all_labels)), "lesion candidates")
        volume = stats.GetPhysicalSize(lab)
        diameter = stats.GetEquivalentSphericalRadius(lab) * 2.0
        if not min_diameter_mm <= diameter <= max_diameter_mm:
            continue
        roundness = float(np.clip(stats.GetRoundness(lab), 0.0, 1.0))
        elongation = float(stats.GetElongation(lab))
        x0, y0, z0, sx, sy, sz = stats.GetBoundingBox(lab)
        box = (slice(z0, z0 + sz), slice(y0, y0 + sy), slice(x0, x0 + sx))
        mean_hu = float(ct_hu[box][labels[box] == lab].mean())
        contrast = mean_hu - lung_mean
        size_term = float(np.clip((diameter - min_diameter_mm) / 10.0, 0.0, 1.0))
        contrast_term = float(np.clip(contrast / 800.0, 0.0, 1.0))
        shape_term = roundness / max(1.0, elongation)
        score = float(np.clip(0.5 * shape_term + 0.25 * contrast_term + 0.25 * size_term, 0.0, 1.0))
        out.append(Candidate((z0, y0, x0), (z0 + sz, y0 + sy, x0 + sx), volume, diameter, roundness,
                             contrast, score))
    out.sort(key=lambda c: c.score, reverse=True)
    ctx.step(1.0, "lesion candidates done")
    return out


def otsu_classes(array: np.ndarray, *, classes: int = 2, bins: int = 256) -> np.ndarray:
    """Otsu (2 classes) or multi-Otsu (≥ 3) labels 0..classes-1, ordered by intensity (uint8)."""
    if classes < 2:
        raise ValueError("otsu needs at least 2 classes")
    f = sitk.OtsuMultipleThresholdsImageFilter()
    f.SetNumberOfThresholds(classes - 1)
    f.SetNumberOfHistogramBins(bins)
    return _arr(f.Execute(sitk.GetImageFromArray(np.asarray(array, np.float32)))).astype(np.uint8)


def kmeans_classes(array: np.ndarray, *, classes: int = 3, mask: np.ndarray | None = None,
                   iterations: int = 50, seed: int = 0, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """1-D k-means tissue classes on intensity (e.g. CSF / grey / white matter on T1 MR).

    Returns uint8 labels 1..classes ordered by increasing mean intensity (0 outside ``mask``).
    """
    values = np.asarray(array, np.float32)
    sel = values[mask > 0] if mask is not None else values.ravel()
    rng = np.random.default_rng(seed)
    sample = sel if sel.size <= 200_000 else rng.choice(sel, 200_000, replace=False)
    centres = np.percentile(sample, np.linspace(10, 90, classes)).astype(np.float32)
    for it in range(iterations):
        ctx.step(it / iterations, "k-means")
        assign = np.argmin(np.abs(sample[:, None] - centres[None, :]), axis=1)
        new = np.array([sample[assign == k].mean() if (assign == k).any() else centres[k]
                        for k in range(classes)], np.float32)
        if np.allclose(new, centres, atol=1e-3):
            break
        centres = new
    order = np.argsort(centres)
    centres = centres[order]
    edges = (centres[1:] + centres[:-1]) / 2.0
    labels = (np.searchsorted(edges, values) + 1).astype(np.uint8)
    if mask is not None:
        labels[mask == 0] = 0
    return labels


#: Label ids of :func:`ct_tissue_labels`.
CT_TISSUE_LABELS: dict[int, str] = {1: "lungs", 2: "airways", 3: "bone", 4: "fat", 5: "soft_tissue"}


def ct_tissue_labels(ct_hu: np.ndarray, spacing_zyx_mm: Sequence[float], *,
                     ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """One labelmap of the CT tissue masks (ids in :data:`CT_TISSUE_LABELS`).

    Priority where masks overlap: airways > lungs > bone > fat > remaining body (soft tissue).
    """
    from analysis._task import TaskContext as _Ctx

    def sub(lo: float, hi: float) -> TaskContext:
        return _Ctx(lambda f, m: ctx.report(lo + (hi - lo) * f, m), ctx.is_cancelled)

    body = body_mask(ct_hu, spacing_zyx_mm, ctx=sub(0.0, 0.2))
    lungs = lung_masks(ct_hu, spacing_zyx_mm, body=body, ctx=sub(0.2, 0.6))
    bone = bone_mask(ct_hu, spacing_zyx_mm, ctx=sub(0.6, 0.8))
    fat = fat_mask(ct_hu, spacing_zyx_mm, body=body, ctx=sub(0.8, 0.95))
    labels = np.zeros(ct_hu.shape, np.uint8)
    labels[body > 0] = 5
    labels[fat > 0] = 4
    labels[bone > 0] = 3
    labels[lungs.lungs > 0] = 1
    labels[lungs.airways > 0] = 2
    ctx.step(1.0, "tissues done")
    return labels
