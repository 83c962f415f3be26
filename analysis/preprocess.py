"""Preprocessing operations: denoise, bias-field correction, intensity normalisation, resampling,
cropping and edge detection.

Every op is a pure function ``op(array_zyx, spacing_zyx_mm, *, ctx, **params) -> array_zyx`` (or a
tuple for ops that change the grid). Spatial parameters are in millimetres. Inputs are never
modified. Any thread may call them; they report progress and honour cancellation through ``ctx``.
:data:`OPS` lists them with their parameters for the CLI and the GUI dialogs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from analysis._sitk import from_sitk, run_filter, to_sitk
from analysis._task import NULL_CONTEXT, TaskContext

Spacing = Sequence[float]


def _float_image(array_zyx: np.ndarray, spacing_zyx_mm: Spacing) -> sitk.Image:
    return to_sitk(np.asarray(array_zyx, dtype=np.float32), spacing_zyx_mm)


def _run(f: sitk.ProcessObject, ctx: TaskContext, *inputs: sitk.Image) -> np.ndarray:
    return from_sitk(run_filter(f, ctx, lambda: f.Execute(*inputs), message=f.GetName()))


# ------------------------------------------------------------------------------- denoise
def gaussian(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, sigma_mm: float = 1.0,
             ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Gaussian smoothing with a physical sigma (mm). Returns float32."""
    f = sitk.SmoothingRecursiveGaussianImageFilter()
    f.SetSigma(float(sigma_mm))
    return _run(f, ctx, _float_image(array_zyx, spacing_zyx_mm))


def median(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, radius_mm: float = 1.0,
           ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Median filter over a box of ±radius_mm (at least one voxel per axis). Keeps the dtype."""
    radius_xyz = [max(1, int(round(radius_mm / s))) for s in spacing_zyx_mm[::-1]]
    f = sitk.MedianImageFilter()
    f.SetRadius(radius_xyz)
    return _run(f, ctx, to_sitk(array_zyx, spacing_zyx_mm))


def curvature_flow(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, iterations: int = 5,
                   time_step: float = 0.0625, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Curvature-flow edge-preserving smoothing. Returns float32."""
    f = sitk.CurvatureFlowImageFilter()
    f.SetNumberOfIterations(int(iterations))
    f.SetTimeStep(float(time_step))
    return _run(f, ctx, _float_image(array_zyx, spacing_zyx_mm)).astype(np.float32, copy=False)


def anisotropic_diffusion(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, iterations: int = 5,
                          conductance: float = 3.0, time_step: float = 0.0625,
                          ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Gradient anisotropic diffusion (Perona–Malik). Returns float32."""
    f = sitk.GradientAnisotropicDiffusionImageFilter()
    f.SetNumberOfIterations(int(iterations))
    f.SetConductanceParameter(float(conductance))
    f.SetTimeStep(float(time_step))
    return _run(f, ctx, _float_image(array_zyx, spacing_zyx_mm))


def non_local_means(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, patch_radius: int = 1, sample_patches: int = 50,
                    iterations: int = 1, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Patch-based (non-local means) denoising. Slow on large volumes; returns float32."""
    f = sitk.PatchBasedDenoisingImageFilter()
    f.SetPatchRadius(int(patch_radius))
    f.SetNumberOfIterations(int(iterations))
    f.SetKernelBandwidthEstimation(False)  # estimation dominates the run time on CPU
    f.SetNumberOfSamplePatches(int(sample_patches))
    image = _float_image(array_zyx, spacing_zyx_mm)
    # kernel bandwidth = noise SD, estimated robustly from the residual of a 3×3×3 median
    residual = from_sitk(image - sitk.Median(image, [1, 1, 1]))
    noise_sd = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    f.SetKernelBandwidthSigma(max(noise_sd, 1e-3))
    return _run(f, ctx, image)


# ---------------------------------------------------------------------- bias and intensity
def n4_bias_correction(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, shrink: int = 4,
                       iterations: int = 50, mask_otsu: bool = True,
                       ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """N4 bias-field correction (MR). The field is fitted on a shrunk image and applied at full
    resolution. Returns float32 with the input's intensity scale."""
    image = _float_image(array_zyx, spacing_zyx_mm)
    small = sitk.Shrink(image, [int(shrink)] * 3) if shrink > 1 else image
    mask = sitk.OtsuThreshold(small, 0, 1, 200) if mask_otsu else sitk.Image(small.GetSize(), sitk.sitkUInt8) + 1
    mask.CopyInformation(small)
    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations([int(iterations)] * 4)
    run_filter(f, ctx, lambda: f.Execute(small, mask), stop=0.9, message="N4")
    log_field = f.GetLogBiasFieldAsImage(image)
    corrected = from_sitk(sitk.Cast(image / sitk.Exp(log_field), sitk.sitkFloat32))
    # N4 leaves the overall scale free; keep the mean inside the foreground as it was
    fg = from_sitk(sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor)) > 0
    if fg.any() and float(corrected[fg].mean()) != 0:
        corrected *= float(np.asarray(array_zyx, np.float32)[fg].mean()) / float(corrected[fg].mean())
    ctx.step(1.0, "N4")
    return corrected


def zscore(array_zyx: np.ndarray, spacing_zyx_mm: Spacing = (1, 1, 1), *, mask: np.ndarray | None = None,
           ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Z-score normalisation (mean 0, SD 1 over ``mask`` or the whole volume). Returns float32."""
    ctx.check()
    values = array_zyx[mask] if mask is not None else array_zyx
    mean, sd = float(values.mean()), float(values.std())
    out = (array_zyx.astype(np.float32) - mean) / (sd if sd > 0 else 1.0)
    return out.astype(np.float32, copy=False)


def percentile_clip(array_zyx: np.ndarray, spacing_zyx_mm: Spacing = (1, 1, 1), *, low: float = 0.5,
                    high: float = 99.5, rescale: bool = True, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Clip to the [low, high] percentiles; optionally rescale to [0, 1]. Returns float32."""
    ctx.check()
    lo, hi = np.percentile(array_zyx, [low, high])
    out = np.clip(array_zyx.astype(np.float32), lo, hi)
    if rescale and hi > lo:
        out = (out - lo) / (hi - lo)
    return out.astype(np.float32, copy=False)


def ct_window(array_zyx: np.ndarray, spacing_zyx_mm: Spacing = (1, 1, 1), *, width: float = 400.0,
              level: float = 40.0, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Map HU through a window (width, level) to [0, 1] float32 (Slicer's linear W/L formula)."""
    ctx.check()
    out = (array_zyx.astype(np.float32) - (level - width / 2.0)) / float(width)
    return np.clip(out, 0.0, 1.0)


# ----------------------------------------------------------------------- grid operations
def resample(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, new_spacing_zyx_mm: Spacing,
             interpolation: str = "linear", ctx: TaskContext = NULL_CONTEXT) -> tuple[np.ndarray, tuple[float, ...]]:
    """Resample to a new spacing over the same physical extent (voxel-centre origin kept).

    ``interpolation`` is "linear" (images), "bspline" or "nearest" (labels). The dtype is kept
    (values rounded for integer images). Returns ``(array, new_spacing_zyx_mm)``.
    """
    interpolators = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor,
                     "bspline": sitk.sitkBSpline}
    if interpolation not in interpolators:
        raise ValueError(f"interpolation must be one of {sorted(interpolators)}")
    image = to_sitk(array_zyx, spacing_zyx_mm)
    new_spacing_xyz = [float(s) for s in new_spacing_zyx_mm[::-1]]
    size_xyz = [max(1, int(round(n * s / t))) for n, s, t in
                zip(image.GetSize(), image.GetSpacing(), new_spacing_xyz, strict=True)]
    f = sitk.ResampleImageFilter()
    f.SetOutputSpacing(new_spacing_xyz)
    f.SetSize(size_xyz)
    f.SetOutputOrigin(image.GetOrigin())
    f.SetOutputDirection(image.GetDirection())
    f.SetInterpolator(interpolators[interpolation])
    f.SetDefaultPixelValue(float(np.min(array_zyx)) if array_zyx.size else 0.0)
    out = _run(f, ctx, image)
    return out.astype(array_zyx.dtype, copy=False), tuple(new_spacing_zyx_mm)


def crop_to_box(array_zyx: np.ndarray, start_zyx: Sequence[int], stop_zyx: Sequence[int]) -> np.ndarray:
    """Return a copy of ``array[start:stop]`` (clipped to the volume)."""
    box = tuple(slice(max(0, int(a)), min(n, int(b))) for a, b, n in zip(start_zyx, stop_zyx, array_zyx.shape,
                                                                        strict=True))
    return array_zyx[box].copy()


def body_box(array_zyx: np.ndarray, *, threshold: float = -500.0, margin_vox: int = 2
             ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Bounding box (start_zyx, stop_zyx) of the largest connected region above ``threshold``
    (the patient body in CT, HU)."""
    image = sitk.GetImageFromArray((array_zyx > threshold).astype(np.uint8))
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(image), sortByObjectSize=True)
    body = sitk.GetArrayViewFromImage(cc) == 1
    if not body.any():
        return (0, 0, 0), tuple(array_zyx.shape)  # type: ignore[return-value]
    start, stop = [], []
    for axis in range(3):
        present = np.flatnonzero(body.any(axis=tuple(a for a in range(3) if a != axis)))
        start.append(max(0, int(present[0]) - margin_vox))
        stop.append(min(array_zyx.shape[axis], int(present[-1]) + 1 + margin_vox))
    return tuple(start), tuple(stop)  # type: ignore[return-value]


# -------------------------------------------------------------------------- edge detection
def gradient_magnitude(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, sigma_mm: float = 1.0,
                       ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Gradient magnitude of a Gaussian-smoothed image, in units per mm. Returns float32."""
    f = sitk.GradientMagnitudeRecursiveGaussianImageFilter()
    f.SetSigma(float(sigma_mm))
    return _run(f, ctx, _float_image(array_zyx, spacing_zyx_mm))


def sobel(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Sobel edge magnitude (voxel units, no spacing correction, like the classic operator)."""
    f = sitk.SobelEdgeDetectionImageFilter()
    return _run(f, ctx, _float_image(array_zyx, spacing_zyx_mm))


def canny(array_zyx: np.ndarray, spacing_zyx_mm: Spacing, *, sigma_mm: float = 1.0, lower: float = 20.0,
          upper: float = 60.0, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Canny edges (uint8 0/1). ``lower``/``upper`` are hysteresis thresholds on the gradient
    magnitude (image units per mm)."""
    f = sitk.CannyEdgeDetectionImageFilter()
    f.SetVariance([float(sigma_mm) ** 2] * 3)
    f.SetLowerThreshold(float(lower))
    f.SetUpperThreshold(float(upper))
    return (_run(f, ctx, _float_image(array_zyx, spacing_zyx_mm)) > 0).astype(np.uint8)


# ------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class PreprocessOp:
    """A registered op: name, function, default parameters (with units in ``help``)."""

    name: str
    func: Callable[..., object]
    defaults: dict[str, object] = field(default_factory=dict)
    help: str = ""
    changes_grid: bool = False


OPS: dict[str, PreprocessOp] = {}


def register_op(op: PreprocessOp) -> PreprocessOp:
    """Add an op to :data:`OPS`; a duplicate name raises."""
    if op.name in OPS:
        raise ValueError(f"preprocessing op {op.name!r} already registered")
    OPS[op.name] = op
    return op


for _op in (
    PreprocessOp("gaussian", gaussian, {"sigma_mm": 1.0}, "Gaussian smoothing, sigma in mm"),
    PreprocessOp("median", median, {"radius_mm": 1.0}, "median filter, radius in mm"),
    PreprocessOp("curvature-flow", curvature_flow, {"iterations": 5, "time_step": 0.0625}, "curvature flow"),
    PreprocessOp("anisotropic-diffusion", anisotropic_diffusion,
                 {"iterations": 5, "conductance": 3.0, "time_step": 0.0625}, "gradient anisotropic diffusion"),
    PreprocessOp("nlm", non_local_means, {"patch_radius": 1, "sample_patches": 50, "iterations": 1},
                 "non-local means (slow)"),
    PreprocessOp("n4", n4_bias_correction, {"shrink": 4, "iterations": 50}, "N4 bias-field correction (MR)"),
    PreprocessOp("zscore", zscore, {}, "z-score intensity normalisation"),
    PreprocessOp("percentile-clip", percentile_clip, {"low": 0.5, "high": 99.5, "rescale": True},
                 "clip to percentiles, rescale to [0, 1]"),
    PreprocessOp("ct-window", ct_window, {"width": 400.0, "level": 40.0}, "HU window to [0, 1]"),
    PreprocessOp("resample", resample, {"new_spacing_zyx_mm": (1.0, 1.0, 1.0), "interpolation": "linear"},
                 "resample to a spacing in mm (z,y,x)", changes_grid=True),
    PreprocessOp("gradient-magnitude", gradient_magnitude, {"sigma_mm": 1.0}, "gradient magnitude, sigma in mm"),
    PreprocessOp("sobel", sobel, {}, "Sobel edge magnitude"),
    PreprocessOp("canny", canny, {"sigma_mm": 1.0, "lower": 20.0, "upper": 60.0}, "Canny edges (0/1)"),
):
    register_op(_op)
