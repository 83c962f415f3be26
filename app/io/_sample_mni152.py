"""The "mni152-t1" sample: the ICBM 2009a T1 template with a reference brain mask, from the nilearn wheel.

The nilearn 0.14.1 wheel on PyPI ships the ICBM 2009a nonlinear symmetric template
(197×233×189 voxels, 1 mm isotropic) in ``nilearn/datasets/data/``. :func:`ensure_mni152` downloads
that wheel with pip (``--only-binary``, ``--no-deps``, sha256-pinned), copies exactly three files
out of it into ``cache_dir()/samples/mni152/`` and derives the reference mask:

* ``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``: the T1 template (uint8);
* ``mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz`` / ``..._wm_...``: grey- and white-matter
  probability maps, stored as uint8 with probability = value / 255;
* ``brain_mask.nii.gz``: **brain = P(GM) + P(WM) > 0.5**, then holes filled in 3D
  (SimpleITK ``BinaryFillhole``, face connectivity), so the enclosed ventricles count as brain
  while the sulcal CSF outside the brain surface does not. The mask includes the cerebellum and
  the brain stem down to the bottom of the template (about 1.75 l in total).

nilearn is never installed and none of its code is imported or run. The files land in a staging
folder that is renamed into place at the end, so the sample is either complete or absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from analysis._task import TaskContext
from app.io._sample_fetch import SampleFetchError, _publish, _staging, _sub, download_wheel, extract_wheel_members
from app.io.volume_files import read_volume, write_volume

log = logging.getLogger(__name__)

WHEEL_NAME = "nilearn"
WHEEL_VERSION = "0.14.1"
#: sha256 of ``nilearn-0.14.1-py3-none-any.whl`` (11 509 444 bytes) from pypi.org; pip refuses any other file.
WHEEL_SHA256 = "725206484e9fb3f6691f9c2d20204a068759d5072f12055324702ee0cb2bbe8a"

MNI_DIR = "mni152"
T1_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
GM_FILE = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
WM_FILE = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
MASK_FILE = "brain_mask.nii.gz"
_MEMBERS = {f"nilearn/datasets/data/{name}": name for name in (T1_FILE, GM_FILE, WM_FILE)}
#: The mask rule, in words (sample description, SOURCE.txt).
MASK_DEFINITION = "brain = P(GM) + P(WM) > 0.5 with holes filled in 3D (SimpleITK BinaryFillhole)"
SOURCE = f"{WHEEL_NAME} {WHEEL_VERSION} wheel (PyPI), nilearn/datasets/data/"

_SOURCE_TEXT = f"""ICBM 2009a nonlinear symmetric T1 template (1 mm) with grey/white matter probability maps.
Copied unchanged from the {WHEEL_NAME} {WHEEL_VERSION} wheel on PyPI (sha256 {WHEEL_SHA256}),
members {", ".join(sorted(_MEMBERS))}.
{MASK_FILE}: {MASK_DEFINITION}; probabilities are the stored uint8 values / 255.
Template: V. Fonov et al., NeuroImage 47 (2009) S102 and NeuroImage 54 (2011) 313-327; see
http://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009 for its terms of use.
"""


def mni152_ready(root: Path) -> bool:
    """True when ``root/mni152`` holds the T1 and the brain mask."""
    return all((root / MNI_DIR / name).is_file() for name in (T1_FILE, MASK_FILE))


def tissue_probability(array: np.ndarray) -> np.ndarray:
    """Return a probability map in [0, 1] as float32: uint8 maps are scaled by 1/255, floats kept."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    return array.astype(np.float32, copy=False)


def derive_brain_mask(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Return the reference brain mask (uint8 0/1, ``(z, y, x)``) from GM and WM probability maps.

    Parameters
    ----------
    gm, wm
        Probability maps on one grid: uint8 (value / 255) or floats in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``P(GM) + P(WM) > 0.5``, with every background region that does not touch the volume
        border (ventricles, enclosed CSF) filled; same shape as the inputs.
    """
    if gm.shape != wm.shape:
        raise ValueError(f"GM {gm.shape} and WM {wm.shape} maps differ in shape")
    tissue = (tissue_probability(gm) + tissue_probability(wm)) > 0.5
    filled = sitk.BinaryFillhole(sitk.GetImageFromArray(tissue.astype(np.uint8)), fullyConnected=False)
    return sitk.GetArrayFromImage(filled).astype(np.uint8)


def _build(folder: Path) -> float:
    """Write ``MASK_FILE`` next to the extracted maps in ``folder``; return the mask volume (ml)."""
    t1, gm, wm = (read_volume(folder / name) for name in (T1_FILE, GM_FILE, WM_FILE))
    for name, vol in ((GM_FILE, gm), (WM_FILE, wm)):
        if not vol.geometry.same_grid(t1.geometry):
            raise SampleFetchError(folder / name, "tissue map is not on the T1 grid")
    mask = derive_brain_mask(gm.array, wm.array)
    write_volume(mask, t1.geometry, folder / MASK_FILE)
    (folder / "SOURCE.txt").write_text(_SOURCE_TEXT, encoding="utf-8")
    return float(mask.sum() * np.prod(t1.geometry.spacing_zyx_mm) / 1000.0)


def ensure_mni152(root: Path, *, ctx: TaskContext, timeout_s: float) -> None:
    """Make ``root/mni152`` complete (idempotent: returns at once when it is).

    Raises
    ------
    SampleFetchError
        pip could not fetch the wheel, or the wheel lacks the template files.
    Cancelled
        When ``ctx`` asks to stop; nothing is left behind.
    """
    if mni152_ready(root):
        return
    with _staging(root, MNI_DIR) as tmp:
        wheel = download_wheel(
            WHEEL_NAME,
            WHEEL_VERSION,
            WHEEL_SHA256,
            tmp / "download",
            ctx=_sub(ctx, 0.0, 0.8),
            timeout_s=timeout_s,
            log_path=tmp / "pip.log",
        )
        out = tmp / MNI_DIR
        out.mkdir()
        ctx.step(0.8, "samples: extracting the MNI152 template")
        extract_wheel_members(wheel, _MEMBERS, out)
        ctx.step(0.9, "samples: deriving the MNI152 brain mask")
        volume_ml = _build(out)
        ctx.check()
        _publish(out, root / MNI_DIR)
    log.info("MNI152 sample ready in %s (brain mask %.0f ml)", root / MNI_DIR, volume_ml)


def ensure_mni152_noted(root: Path, *, ctx: TaskContext, timeout_s: float) -> list[str]:
    """Run :func:`ensure_mni152`; return catalog notes (a failed fetch is a note, not an error)."""
    try:
        ensure_mni152(root, ctx=ctx, timeout_s=timeout_s)
    except SampleFetchError as exc:
        log.warning("mni152-t1 sample unavailable: %s", exc)
        return [f"mni152-t1 unavailable: {WHEEL_NAME} {WHEEL_VERSION} wheel not fetched ({exc.reason})"]
    return []
