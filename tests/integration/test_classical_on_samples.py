"""Classical segmentation on the real lung CT samples (pyradiomics lung1/lung2)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import classical as C
from app.io.samples import get_sample
from app.io.volume_files import read_volume

pytestmark = pytest.mark.network


@pytest.mark.parametrize("case", ["lung1", "lung2"])
def test_lung_masks_have_plausible_volume_and_contain_the_tumour(real_samples, case):
    info = get_sample(case)
    ct = read_volume(info.path)
    tumour = read_volume(info.mask_path).array > 0
    spacing = ct.geometry.spacing_zyx_mm
    masks = C.lung_masks(ct.array, spacing)
    lungs_ml = masks.lungs.sum() * np.prod(spacing) / 1000.0
    assert 1500 < lungs_ml < 7000, lungs_ml  # partial chest coverage (48–61 slices of 5 mm)
    assert 5 < masks.airways.sum() * np.prod(spacing) / 1000.0 < 200
    assert (masks.lungs_without_airways & masks.airways).sum() == 0
    # lung parenchyma is dark: median HU inside the mask is in the lung range
    assert -950 < np.median(ct.array[masks.lungs > 0]) < -600
    cands = C.lung_lesion_candidates(ct.array, spacing, masks.lungs)
    hits = [tumour[tuple(slice(a, b) for a, b in zip(c.start_zyx, c.stop_zyx, strict=True))].any()
            for c in cands]
    assert any(hits[:2]), f"{case}: no top-2 lesion candidate overlaps the tumour mask"
