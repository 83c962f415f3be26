from __future__ import annotations

import numpy as np
import pytest

from analysis import classical as C
from analysis.phantom import PHANTOM_LABELS, make_ct_phantom

SPACING = (2.5, 1.5, 1.5)
IDS = {name: i for i, name in PHANTOM_LABELS.items()}


@pytest.fixture(scope="module")
def phantom():
    ct, labels, _ = make_ct_phantom((64, 128, 128), SPACING, seed=1)
    return ct, labels


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


def test_body_lungs_bone_match_the_phantom_truth(phantom):
    ct, truth = phantom
    body = C.body_mask(ct, SPACING)
    assert _dice(body, truth > 0) > 0.97
    lungs = C.lung_masks(ct, SPACING, body=body)
    assert _dice(lungs.lungs, np.isin(truth, [IDS["lung_left"], IDS["lung_right"]])) > 0.9
    assert _dice(C.bone_mask(ct, SPACING), truth == IDS["bone"]) > 0.85
    fat = C.fat_mask(ct, SPACING, body=body)
    assert fat.sum() > 0 and not (fat & lungs.lungs).any()


def test_lesion_candidates_find_every_phantom_lesion_first(phantom):
    ct, truth = phantom
    lungs = C.lung_masks(ct, SPACING).lungs
    cands = C.lung_lesion_candidates(ct, SPACING, lungs)
    lesion = truth == IDS["lesion"]
    n_lesions = int(np.max(C._arr(C.sitk.ConnectedComponent(C._img(lesion)))))
    hits = []
    for c in cands:
        box = tuple(slice(a, b) for a, b in zip(c.start_zyx, c.stop_zyx, strict=True))
        hits.append(bool(lesion[box].any()))
    assert n_lesions >= 2
    assert all(hits[:n_lesions]), "the best-scored candidates are the true lesions"
    assert all(0 <= c.score <= 1 for c in cands)
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)


def test_otsu_and_kmeans_order_classes_by_intensity():
    rng = np.random.default_rng(0)
    arr = np.concatenate([rng.normal(m, 5, 2000) for m in (100, 300, 600)]).reshape(6, 20, 50)
    otsu = C.otsu_classes(arr, classes=3)
    km = C.kmeans_classes(arr, classes=3)
    for labels, first in ((otsu, 0), (km, 1)):
        flat = labels.ravel()
        assert (flat[:2000] == first).mean() > 0.99
        assert (flat[2000:4000] == first + 1).mean() > 0.99
        assert (flat[4000:] == first + 2).mean() > 0.99
    with pytest.raises(ValueError):
        C.otsu_classes(arr, classes=1)
    mask = np.zeros(arr.shape, np.uint8)
    mask[:3] = 1
    assert (C.kmeans_classes(arr, classes=2, mask=mask)[3:] == 0).all()
