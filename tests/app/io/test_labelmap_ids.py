"""The ids a labelmap file holds (its default label table) are exact, whatever the sample step misses."""

from __future__ import annotations

import numpy as np
import pytest

from app.io.labelmap import _present_ids


def _reference(array: np.ndarray) -> list[int]:
    return [int(v) for v in np.unique(array) if v]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_ids_match_numpy_unique_on_random_labelmaps(dtype):
    rng = np.random.default_rng(3)
    for trial in range(120):
        shape = tuple(int(v) for v in rng.integers(1, 40, 3))
        hi = int(rng.choice([1, 5, 30, 255] if dtype == np.uint8 else [1, 30, 300, 3000]))
        array = np.zeros(shape, dtype)
        for _ in range(int(rng.integers(0, 6))):  # a few single voxels: what a strided sample misses
            array[tuple(int(rng.integers(0, s)) for s in shape)] = rng.integers(1, hi + 1)
        if trial % 3 == 0:
            array[...] = rng.integers(0, hi + 1, shape)
        assert _present_ids(array) == _reference(array), trial


def test_a_one_voxel_segment_in_a_ct_sized_labelmap_is_found():
    array = np.zeros((60, 256, 256), np.uint8)
    array[10:50, 20:200, 30:220] = 1
    array[20:30, 50:60, 50:60] = 3
    array[33, 101, 77] = 2  # not on the 1/61 sample
    assert (array.reshape(-1)[::61] == 2).sum() == 0
    assert _present_ids(array) == [1, 2, 3]
    array[33, 101, 77] = 0
    assert _present_ids(array) == [1, 3]  # 2 up to the maximum, searched for and absent


def test_sparse_large_ids_and_empty_labelmaps():
    array = np.zeros((4, 50, 50), np.uint16)
    array[1, 2, 3], array[2, 40, 40] = 1000, 40000
    assert _present_ids(array) == [1000, 40000]
    assert _present_ids(np.zeros((3, 3, 3), np.uint8)) == []
    assert _present_ids(np.zeros((0, 3, 3), np.uint8)) == []
