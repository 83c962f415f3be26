"""Mapped image voxels (``app.io.mapped_voxels``): the same values as a read, then free of the file."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from app.io.errors import MedwsIOError
from app.io.mapped_voxels import detach_from_file, is_file_mapped, map_file_voxels
from app.io.volume_files import read_volume

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mapping is Linux-only")


def _region_of(address: int) -> str | None:
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
            if lo <= address < hi:
                return line
    return None


@pytest.fixture
def raw_file(tmp_path) -> tuple[Path, np.ndarray]:
    voxels = np.random.default_rng(7).integers(-1024, 3000, (9, 33, 70), dtype=np.int16)
    path = tmp_path / "voxels.raw"
    path.write_bytes(b"H" * 352 + voxels.tobytes())  # a header the mapping must skip, not page-aligned
    return path, voxels


def test_mapping_gives_the_files_voxels_read_only(raw_file):
    path, voxels = raw_file
    with open(path, "rb") as f:
        array = map_file_voxels(f.fileno(), 352, np.int16, voxels.shape)
    assert array is not None and is_file_mapped(array)  # the file object is closed: the mapping lives on
    np.testing.assert_array_equal(array, voxels)
    assert not array.flags.writeable
    with pytest.raises(ValueError):
        array[0, 0, 0] = 1
    assert "voxels.raw" in _region_of(array.__array_interface__["data"][0])


def test_detach_keeps_values_and_views_and_leaves_the_file(raw_file):
    path, voxels = raw_file
    with open(path, "rb") as f:
        array = map_file_voxels(f.fileno(), 352, np.int16, voxels.shape)
    view = array[3:7, ::2, 5]  # a view taken before the detach still reads the right voxels
    address = array.__array_interface__["data"][0]
    assert detach_from_file(view)  # any array over the mapping detaches all of it
    assert not is_file_mapped(array) and not is_file_mapped(view)
    assert array.__array_interface__["data"][0] == address
    region = _region_of(address)
    assert "voxels.raw" not in region and region.split()[4] == "0"  # anonymous memory now (inode 0)
    path.write_bytes(b"\0" * 100)  # the file rewritten in place (truncated): the image does not change
    np.testing.assert_array_equal(array, voxels)
    np.testing.assert_array_equal(view, voxels[3:7, ::2, 5])
    assert not detach_from_file(array)  # once only
    assert not detach_from_file(voxels)  # an ordinary array: nothing to do


def test_the_mapping_is_released_with_its_last_array(raw_file):
    path, voxels = raw_file
    with open(path, "rb") as f:
        array = map_file_voxels(f.fileno(), 352, np.int16, voxels.shape)
    address = array.__array_interface__["data"][0]
    view = array[2]
    del array
    gc.collect()
    assert _region_of(address) is not None  # the view still uses it
    del view
    gc.collect()
    assert _region_of(address) is None
    with open(path, "rb") as f:  # detached memory is released the same way
        array = map_file_voxels(f.fileno(), 352, np.int16, voxels.shape)
    detach_from_file(array)
    address = array.__array_interface__["data"][0]
    del array
    gc.collect()
    assert _region_of(address) is None


def test_files_that_cannot_be_mapped_as_asked_return_none(raw_file):
    path, voxels = raw_file
    with open(path, "rb") as f:
        assert map_file_voxels(f.fileno(), 352, np.dtype(">i2"), voxels.shape) is None  # not native order
        assert map_file_voxels(f.fileno(), 352, np.int16, (10, 33, 70)) is None  # one plane more than the file
        assert map_file_voxels(f.fileno(), 352, np.int16, (0, 33, 70)) is None


_TRUNCATE = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    from app.io.mapped_voxels import detach_from_file, map_file_voxels
    path = {path!r}
    with open(path, "rb") as f:
        array = map_file_voxels(f.fileno(), 352, np.int16, (9, 33, 70))
    if sys.argv[1] == "detach":
        detach_from_file(array)
    open(path, "wb").close()  # truncated in place by another program
    print(int(array.astype(np.int64).sum()))
""")


@pytest.mark.parametrize("detach", [True, False])
def test_truncating_the_file_is_harmless_only_after_the_detach(raw_file, detach):
    """A private mapping alone does not protect the image: the kernel drops even copied pages of a
    truncated file and the next read is a SIGBUS. After the detach the voxels are the process's own."""
    path, voxels = raw_file
    script = _TRUNCATE.format(repo=str(REPO), path=str(path))
    proc = subprocess.run([sys.executable, "-c", script, "detach" if detach else "keep"], capture_output=True,
                          text=True, timeout=60)
    if detach:
        assert proc.returncode == 0, proc.stderr
        assert int(proc.stdout) == int(voxels.astype(np.int64).sum())
    else:
        assert proc.returncode == -signal.SIGBUS


def _nifti(tmp_path: Path, name: str) -> tuple[Path, np.ndarray, sitk.Image]:
    voxels = np.random.default_rng(1).integers(-1000, 2000, (12, 20, 24), dtype=np.int16)
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-10.0, 20.0, 33.0))
    path = tmp_path / name
    sitk.WriteImage(image, str(path))
    return path, voxels, image


def test_read_volume_maps_an_uncompressed_nifti_only_when_asked(tmp_path):
    path, voxels, _ = _nifti(tmp_path, "ct.nii")
    read, mapped = read_volume(path), read_volume(path, map_file=True)
    assert not is_file_mapped(read.array) and is_file_mapped(mapped.array)
    assert mapped.geometry == read.geometry and mapped.modality == read.modality
    np.testing.assert_array_equal(mapped.array, voxels)
    assert not mapped.array.flags.writeable
    assert detach_from_file(mapped.array)
    path.unlink()
    np.testing.assert_array_equal(mapped.array, voxels)
    packed, voxels, _ = _nifti(tmp_path, "ct.nii.gz")
    assert not is_file_mapped(read_volume(packed, map_file=True).array)  # compressed: read as always
    np.testing.assert_array_equal(read_volume(packed, map_file=True).array, voxels)


def test_a_truncated_nifti_is_refused_with_map_file_too(tmp_path):
    path, _, _ = _nifti(tmp_path, "short.nii")
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(MedwsIOError, match="short.nii.*truncated"):
        read_volume(path, map_file=True)
