"""GrowCut-class seeded growth: known answers, incremental updates equal recomputation, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from analysis._task import Cancelled, TaskContext
from analysis.grow_cut import GrowCut


def test_two_flat_regions_split_at_the_edge_and_distances_are_path_lengths():
    img = np.zeros((1, 1, 10), np.float32)
    img[..., 5:] = 100
    seeds = np.zeros(img.shape, np.uint8)
    seeds[0, 0, 0], seeds[0, 0, 9] = 1, 2
    gc = GrowCut(img, (1, 1, 1), spatial_weight=1.0)
    labels = gc.update(seeds)
    assert labels[0, 0].tolist() == [1] * 5 + [2] * 5
    assert gc.distances()[0, 0].tolist() == [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]


def test_incremental_update_equals_recomputation_on_a_noisy_image():
    rng = np.random.default_rng(3)
    img = rng.normal(0, 20, (8, 30, 30)).astype(np.float32)
    img[:, :, 15:] += 150
    seeds = np.zeros(img.shape, np.uint8)
    seeds[4, 5:25, 3] = 1
    seeds[4, 5:25, 27] = 2
    gc = GrowCut(img, (2.0, 1.0, 1.0))
    gc.update(seeds)
    more = seeds.copy()
    more[1, 10, 5:10] = 1
    more[7, 20, 20:26] = 3
    updated = gc.update(more)
    assert gc.last_incremental
    fresh = GrowCut(img, (2.0, 1.0, 1.0))
    assert np.array_equal(updated, fresh.update(more))
    assert np.allclose(gc.distances(), fresh.distances())
    assert ((updated == 1) == (np.arange(30) < 15)[None, None, :]).mean() > 0.97
    more[4, 5, 3] = 0  # a seed erased: recomputed
    gc.update(more)
    assert not gc.last_incremental


def test_cancel_and_bad_input():
    img = np.zeros((4, 40, 40), np.float32)
    seeds = np.zeros(img.shape, np.uint8)
    seeds[0, 0, 0], seeds[3, 39, 39] = 1, 2
    with pytest.raises(Cancelled):
        GrowCut(img, (1, 1, 1)).update(seeds, ctx=TaskContext(is_cancelled=lambda: True))
    with pytest.raises(ValueError, match="do not match"):
        GrowCut(img, (1, 1, 1)).update(seeds[:2])
    with pytest.raises(ValueError, match="3D"):
        GrowCut(img[0], (1, 1, 1))
