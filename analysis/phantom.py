"""A synthetic chest CT phantom with known ground-truth labels.

The phantom stands in for real data when the sample download is not possible (offline machines,
CI without a registry) and gives tests a volume whose anatomy is known exactly. Everything is
pure numpy and deterministic for a given ``seed``.

Anatomy is laid out in physical millimetres relative to the field of view, so the phantom fills
any grid: index ``x`` runs towards the patient's left and ``y`` towards posterior (DICOM LPS),
``z`` towards the head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PHANTOM_LABELS", "PHANTOM_HU", "make_ct_phantom"]

#: Label id → name of the phantom's ground truth (0 is background/air).
PHANTOM_LABELS: dict[int, str] = {
    1: "body",
    2: "lung_left",
    3: "lung_right",
    4: "heart",
    5: "bone",
    6: "lesion",
}

#: Nominal Hounsfield units of each tissue before noise.
PHANTOM_HU: dict[str, int] = {
    "air": -1000,
    "fat": -100,
    "soft_tissue": 40,
    "lung": -850,
    "heart": 40,
    "bone": 700,
    "lesion": 30,
}

_FAT_RIM_MM = 10.0
_RIB_THICKNESS_MM = 7.0
_RIB_WIDTH_Z_MM = 9.0
_RIB_PERIOD_Z_MM = 26.0
_VERTEBRA_PERIOD_Z_MM = 26.0
_DISC_MM = 5.0
_NOISE_SIGMA_HU = 12.0


def _axis_mm(n: int, spacing_mm: float) -> np.ndarray:
    """Return voxel-centre coordinates in mm, centred on the middle of the axis (float32)."""
    return ((np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * np.float32(spacing_mm)).astype(np.float32)


def _ellipse_2d(x_mm: np.ndarray, y_mm: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    """Return the (y, x) value of ((x-cx)/ax)^2 + ((y-cy)/ay)^2 on the broadcast grid."""
    return ((x_mm[None, :] - cx) / ax) ** 2 + ((y_mm[:, None] - cy) / ay) ** 2


def make_ct_phantom(
    shape_zyx: Sequence[int] = (64, 128, 128),
    spacing_zyx_mm: Sequence[float] = (2.5, 1.5, 1.5),
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Build a synthetic chest CT and its label map.

    Parameters
    ----------
    shape_zyx
        Grid size ``(z, y, x)`` in voxels. Each axis needs at least 8 voxels.
    spacing_zyx_mm
        Voxel spacing ``(z, y, x)`` in millimetres. The anatomy scales with the field of view
        (shape × spacing); lesions are true spheres in millimetres.
    seed
        Seed of the noise and of the small jitter of lesion positions; equal seeds give equal
        output.

    Returns
    -------
    ct_hu_zyx : numpy.ndarray
        int16 ``(z, y, x)`` Hounsfield units: air -1000 outside the body, fat rim about -100,
        soft tissue and heart about 40, lungs about -850, spine and ribs about 700, lung lesions
        about 30, plus Gaussian noise (sigma 12 HU).
    labels_zyx : numpy.ndarray
        uint8 ``(z, y, x)`` ground truth with the ids of :data:`PHANTOM_LABELS`.
    label_names : dict of int to str
        A copy of :data:`PHANTOM_LABELS`.

    Notes
    -----
    Pure function, any thread. About 0.5 s for 128 × 256 × 256 voxels.
    """
    nz, ny, nx = (int(s) for s in shape_zyx)
    if min(nz, ny, nx) < 8:
        raise ValueError(f"shape_zyx needs at least 8 voxels per axis, got {tuple(shape_zyx)}")
    dz, dy, dx = (float(s) for s in spacing_zyx_mm)
    if min(dz, dy, dx) <= 0:
        raise ValueError(f"spacing_zyx_mm must be positive, got {tuple(spacing_zyx_mm)}")
    rng = np.random.default_rng(seed)

    z_mm, y_mm, x_mm = _axis_mm(nz, dz), _axis_mm(ny, dy), _axis_mm(nx, dx)
    hx, hy, hz = nx * dx / 2.0, ny * dy / 2.0, nz * dz / 2.0  # half extents of the field of view

    ct = np.full((nz, ny, nx), PHANTOM_HU["air"], dtype=np.int16)
    labels = np.zeros((nz, ny, nx), dtype=np.uint8)

    # --- body: z-invariant ellipse with a fat rim, computed once in 2-D and broadcast.
    body_ax, body_ay = 0.88 * hx, 0.66 * hy
    body_q = _ellipse_2d(x_mm, y_mm, 0.0, 0.0, body_ax, body_ay)
    body_2d = body_q <= 1.0
    rim = min(_FAT_RIM_MM, 0.15 * min(body_ax, body_ay))
    inner_2d = _ellipse_2d(x_mm, y_mm, 0.0, 0.0, body_ax - rim, body_ay - rim) <= 1.0
    ct[:, body_2d] = PHANTOM_HU["fat"]
    ct[:, inner_2d] = PHANTOM_HU["soft_tissue"]
    labels[:, body_2d] = 1

    # --- lungs: ellipsoids either side of the midline (left = +x in LPS).
    lung_ax, lung_ay, lung_az = 0.30 * hx, 0.46 * hy, 0.92 * hz
    lung_cy = -0.02 * hy
    z_term = (z_mm / lung_az) ** 2  # (z,)
    for label_id, sign in ((2, +1.0), (3, -1.0)):
        q2d = _ellipse_2d(x_mm, y_mm, sign * 0.40 * hx, lung_cy, lung_ax, lung_ay)
        mask = (q2d[None, :, :] + z_term[:, None, None]) <= 1.0
        ct[mask] = PHANTOM_HU["lung"]
        labels[mask] = label_id

    # --- heart: ellipsoid, anterior and to the patient's left, in the lower two thirds.
    heart_c = (-0.25 * hz, -0.18 * hy, 0.12 * hx)  # z, y, x mm
    heart_r = (0.45 * hz, 0.28 * hy, 0.26 * hx)
    heart_q2d = _ellipse_2d(x_mm, y_mm, heart_c[2], heart_c[1], heart_r[2], heart_r[1])
    heart = (heart_q2d[None] + (((z_mm - heart_c[0]) / heart_r[0]) ** 2)[:, None, None]) <= 1.0
    ct[heart] = PHANTOM_HU["heart"]
    labels[heart] = 4

    # --- spine: vertebral bodies (discs between them) and a spinous process, posterior midline.
    spine_cy, spine_r = 0.44 * hy, min(0.11 * hx, 0.16 * hy)
    vert_2d = _ellipse_2d(x_mm, y_mm, 0.0, spine_cy, spine_r, spine_r) <= 1.0
    process_2d = (np.abs(x_mm)[None, :] <= 0.25 * spine_r) & (
        (y_mm[:, None] > spine_cy) & (y_mm[:, None] <= spine_cy + 2.2 * spine_r)
    )
    process_2d &= inner_2d
    in_vertebra_z = np.mod(z_mm + hz, _VERTEBRA_PERIOD_Z_MM) >= _DISC_MM  # (z,)
    bone_2d = vert_2d | process_2d
    spine = in_vertebra_z[:, None, None] & bone_2d[None]

    # --- ribs: a band just inside the fat rim, slanted, interrupted anteriorly (no sternum).
    rib_outer = _ellipse_2d(x_mm, y_mm, 0.0, 0.0, body_ax - rim - 1.0, body_ay - rim - 1.0)
    t = min(_RIB_THICKNESS_MM, 0.1 * min(body_ax, body_ay))
    rib_inner = _ellipse_2d(x_mm, y_mm, 0.0, 0.0, body_ax - rim - 1.0 - t, body_ay - rim - 1.0 - t)
    rib_ring_2d = (rib_outer <= 1.0) & (rib_inner > 1.0)
    anterior_gap = (y_mm[:, None] < -0.35 * body_ay) & (np.abs(x_mm)[None, :] < 0.35 * body_ax)
    rib_ring_2d &= ~anterior_gap
    slant = 0.25 * y_mm  # ribs descend anteriorly: phase shifts with y, (y,)
    phase = np.mod(z_mm[:, None] + slant[None, :] + hz, _RIB_PERIOD_Z_MM)  # (z, y)
    in_rib_z = (phase >= _RIB_PERIOD_Z_MM - _RIB_WIDTH_Z_MM)[:, :, None]  # (z, y, 1)
    z_limit = (np.abs(z_mm) <= 0.9 * hz)[:, None, None]
    ribs = in_rib_z & rib_ring_2d[None] & z_limit
    bone = spine | ribs
    ct[bone] = PHANTOM_HU["bone"]
    labels[bone] = 5

    # --- lesions: spheres of different sizes inside the lungs (true spheres in mm).
    scale = min(hx, hy, hz)
    lesions = (  # (lung sign, fractional z, y, x offset from the lung centre, radius fraction)
        (+1.0, 0.30, 0.10, 0.00, 0.16),
        (-1.0, -0.20, -0.15, 0.05, 0.11),
        (-1.0, 0.45, 0.20, -0.05, 0.07),
        (+1.0, -0.45, 0.25, 0.25, 0.05),
    )
    for sign, fz, fy, fx, fr in lesions:
        jitter = rng.uniform(-0.03, 0.03, size=3)
        cz = (fz + jitter[0]) * lung_az
        cy = lung_cy + (fy + jitter[1]) * lung_ay
        cx = sign * 0.40 * hx + (fx + jitter[2]) * lung_ax
        radius = max(fr * scale, 1.5 * max(dx, dy, dz))
        # Limit the work to the sphere's bounding box.
        sl = []
        for c, axis in ((cz, z_mm), (cy, y_mm), (cx, x_mm)):
            lo = int(np.searchsorted(axis, c - radius))
            hi = int(np.searchsorted(axis, c + radius, side="right"))
            sl.append(slice(lo, hi))
        zz, yy, xx = z_mm[sl[0]], y_mm[sl[1]], x_mm[sl[2]]
        sphere = (
            ((zz - cz) ** 2)[:, None, None] + ((yy - cy) ** 2)[None, :, None] + ((xx - cx) ** 2)[None, None, :]
        ) <= radius**2
        box = tuple(sl)
        ct[box][sphere] = PHANTOM_HU["lesion"]
        labels[box][sphere] = 6

    # --- mild noise inside the body; air stays at exactly -1000 outside it.
    noise = rng.standard_normal(ct.shape, dtype=np.float32)
    noise *= np.float32(_NOISE_SIGMA_HU)
    noise = np.rint(noise, out=noise).astype(np.int16)
    noise[:, ~body_2d] = 0
    ct += noise
    return ct, labels, dict(PHANTOM_LABELS)
