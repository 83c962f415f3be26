"""Series thumbnails on the real sample DICOM series (lung1-dicom, phantom-dicom) and their disk cache."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest

from app.io.errors import MedwsIOError
from app.io.samples import sample_path
from app.io.study_index import StudyIndex
from app.io.thumbnails import (
    THUMB_PX,
    decode_png_gray,
    encode_png_gray,
    indexed_series_thumbnail,
    series_thumbnail,
    thumbnail_key,
)


def _series(name: str) -> tuple[str, list]:
    folder = sample_path(name)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        pytest.fail(f"sample {name} has no files: run `medws samples fetch`")
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    files = [p for _, p in sorted(zip([float(h.ImagePositionPatient[2]) for h in headers], files, strict=True))]
    return str(headers[0].SeriesInstanceUID), files


def test_png_round_trip_and_damage_is_refused():
    image = (np.arange(35 * 50) % 251).astype(np.uint8).reshape(35, 50)
    data = encode_png_gray(image)
    assert np.array_equal(decode_png_gray(data), image)
    with pytest.raises(ValueError):
        decode_png_gray(data[:-20] + b"x" * 20)
    with pytest.raises(ValueError):
        decode_png_gray(b"GIF89a")


@pytest.mark.parametrize("name", ["lung1-dicom", "phantom-dicom"])
def test_thumbnail_is_the_windowed_middle_slice_and_is_cached(tmp_path, name):
    uid, files = _series(name)
    thumb = series_thumbnail(uid, files, tmp_path)
    assert thumb.dtype == np.uint8 and max(thumb.shape) <= THUMB_PX and min(thumb.shape) >= THUMB_PX // 2
    assert thumb.min() < 30 and thumb.max() > 225  # auto window spans black to white
    ds = pydicom.dcmread(files[len(files) // 2])
    middle = ds.pixel_array.astype(float)
    # the thumbnail follows the middle slice: brighter thumbnail pixels sit on brighter source blocks
    factor = int(np.ceil(max(middle.shape) / THUMB_PX))
    blocks = middle[:thumb.shape[0] * factor, :thumb.shape[1] * factor]
    blocks = blocks.reshape(thumb.shape[0], factor, thumb.shape[1], factor).mean(axis=(1, 3))
    assert np.corrcoef(blocks.ravel(), thumb.ravel())[0, 1] > 0.9
    cached = list(tmp_path.glob("*.png"))
    assert len(cached) == 1 and cached[0].name.startswith(thumbnail_key(uid, files))
    assert np.array_equal(decode_png_gray(cached[0].read_bytes()), thumb)
    stamp = cached[0].stat().st_mtime_ns
    assert np.array_equal(series_thumbnail(uid, files, tmp_path), thumb)  # from the cache, not rewritten
    assert cached[0].stat().st_mtime_ns == stamp


def test_a_changed_file_or_a_damaged_cache_entry_makes_a_new_thumbnail(tmp_path):
    uid, files = _series("phantom-dicom")
    copies = []
    for p in files:
        q = tmp_path / "series" / p.name
        q.parent.mkdir(exist_ok=True)
        q.write_bytes(p.read_bytes())
        copies.append(q)
    cache = tmp_path / "cache"
    first = series_thumbnail(uid, copies, cache)
    key = thumbnail_key(uid, copies)
    os.utime(copies[0], ns=(1_000_000_000, 1_000_000_000))
    assert thumbnail_key(uid, copies) != key
    assert np.array_equal(series_thumbnail(uid, copies, cache), first)
    assert len(list(cache.glob("*.png"))) == 2
    entry = cache / f"{thumbnail_key(uid, copies)}-{THUMB_PX}.png"
    entry.write_bytes(b"garbage")
    assert np.array_equal(series_thumbnail(uid, copies, cache), first)
    assert decode_png_gray(entry.read_bytes()).shape == first.shape


def test_unreadable_series_gives_one_line(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"not dicom")
    with pytest.raises(MedwsIOError) as info:
        series_thumbnail("1.2.3", [bad], tmp_path)
    assert str(info.value).startswith(f"{bad}: no thumbnail") and "\n" not in str(info.value)
    assert not list(tmp_path.glob("*.png"))
    with pytest.raises(MedwsIOError):
        series_thumbnail("1.2.3", [], tmp_path)


def test_thumbnail_of_an_indexed_series(tmp_path):
    folder = sample_path("lung1-dicom")
    with StudyIndex(tmp_path / "index.sqlite") as index:
        index.import_folder(folder)
        (study,) = index.studies()
        (series,) = index.series(study.study_uid)
        uid, thumb = indexed_series_thumbnail(index, series.series_uid, tmp_path / "cache")
    assert uid == series.series_uid and thumb.shape[1] == THUMB_PX
