from __future__ import annotations

import io
import json
import logging
import os
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from analysis._task import Cancelled, TaskContext
from app.io import _sample_fetch, _sample_mni152, samples
from app.io.errors import MedwsIOError
from app.io.volume_files import read_volume

REAL = ("lung1", "lung1-dicom", "lung2", "brain1", "brain2", "breast1")


def _read_headers(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.glob("*.dcm"))]


def _assert_one_consistent_series(headers: list[pydicom.Dataset]) -> None:
    assert len({h.StudyInstanceUID for h in headers}) == 1
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert len({h.FrameOfReferenceUID for h in headers}) == 1
    assert len({h.SOPInstanceUID for h in headers}) == len(headers)


# ----------------------------------------------------------------------------- offline
@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDWS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "samples"


def test_offline_fetch_builds_the_phantom_and_says_so(tmp_cache, caplog):
    reports: list[float] = []
    ctx = TaskContext(report=lambda f, m: reports.append(f))
    with caplog.at_level(logging.WARNING, logger="app.io.samples"):
        catalog = samples.fetch_samples(ctx=ctx, offline=True)
    assert catalog.offline
    assert catalog.root == tmp_cache
    assert any(samples.OFFLINE_MESSAGE in note for note in catalog.notes)
    assert any(samples.OFFLINE_MESSAGE in line for line in catalog.describe())
    assert samples.OFFLINE_MESSAGE in caplog.text
    assert reports[-1] == 1.0 and reports == sorted(reports)

    assert {i.name for i in catalog.available()} == {"phantom-ct", "phantom-dicom"}
    for name in REAL:
        assert not catalog[name].available
        with pytest.raises(MedwsIOError, match="medws samples fetch"):
            samples.sample_path(name)

    ct = read_volume(samples.sample_path("phantom-ct"))
    mask = read_volume(catalog["phantom-ct"].mask_path)
    assert ct.array.shape == (64, 128, 128) and ct.array.dtype == np.int16
    assert mask.geometry.same_grid(ct.geometry)
    assert catalog["phantom-ct"].labels[6] == "lesion"
    headers = _read_headers(samples.sample_path("phantom-dicom"))
    assert len(headers) == 64
    _assert_one_consistent_series(headers)
    assert all(h.PatientName == "Phantom^Chest" for h in headers)


def test_manifest_describes_the_cache(tmp_cache):
    samples.fetch_samples(offline=True)
    manifest = json.loads((tmp_cache / samples.MANIFEST_NAME).read_text())
    assert manifest["version"] == samples.MANIFEST_VERSION
    assert manifest["offline"] is True
    assert manifest["source"]["sha256"] == samples.SDIST_SHA256
    entries = {e["name"]: e for e in manifest["samples"]}
    assert set(entries) == {i.name for i in samples.list_samples()}
    assert entries["phantom-ct"]["available"] and not entries["lung1"]["available"]
    assert entries["phantom-ct"]["path"] == "phantom/phantom_ct.nrrd"  # relative to the cache


def test_second_fetch_is_fast_and_rewrites_nothing(tmp_cache):
    samples.fetch_samples(offline=True)
    files = {p: p.stat().st_mtime_ns for p in tmp_cache.rglob("*") if p.is_file()}
    start = time.perf_counter()
    samples.fetch_samples(offline=True)
    assert time.perf_counter() - start < 1.0
    assert {p: p.stat().st_mtime_ns for p in tmp_cache.rglob("*") if p.is_file()} == files


def test_cancel_leaves_no_partial_folders(tmp_cache):
    calls = {"n": 0}

    def cancel_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Cancelled):
        samples.fetch_samples(ctx=TaskContext(is_cancelled=cancel_after_two), offline=True)
    assert sorted(p.name for p in tmp_cache.iterdir()) == [".lock"]
    assert not any(i.available for i in samples.list_samples())


def test_unreachable_registry_falls_back_to_the_phantom(tmp_cache, monkeypatch, caplog):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip finds no distribution: a real pip failure
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_cache.parent))
    with caplog.at_level(logging.WARNING, logger="app.io.samples"):
        catalog = samples.fetch_samples(timeout_s=120)
    assert catalog.offline
    assert any("download failed" in n for n in catalog.notes)
    assert samples.OFFLINE_MESSAGE in caplog.text
    assert catalog["phantom-ct"].available and not catalog["lung1"].available
    assert not any(p.name.startswith(".download") for p in tmp_cache.iterdir())


def test_unknown_sample_name_is_a_one_line_error(tmp_cache):
    with pytest.raises(MedwsIOError, match="unknown sample"):
        samples.sample_path("nope")


def test_pip_command_fetches_the_sdist_without_building_or_installing(tmp_path):
    cmd = samples.pip_download_command("python", tmp_path, tmp_path / "req.txt")
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "install" not in cmd
    for flag in ("--no-deps", "--no-build-isolation"):
        assert flag in cmd
    assert cmd[cmd.index("--no-binary") + 1] == "pyradiomics"


def _tar_with(tmp_path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    path = tmp_path / "pyradiomics-3.0.1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def test_extraction_keeps_only_data_files_and_refuses_traversal(tmp_path):
    root = tmp_path / "samples"
    root.mkdir()
    sdist = _tar_with(
        tmp_path,
        {
            "pyradiomics-3.0.1/data/lung1_image.nrrd": b"NRRD0004",
            "pyradiomics-3.0.1/data/baseline/x.csv": b"a,b",
            "pyradiomics-3.0.1/setup.py": b"print('never')",
            "pyradiomics-3.0.1/data/../../escaped.txt": b"no",
            "/abs/pyradiomics-3.0.1/data/abs.txt": b"no",
            "pyradiomics-3.0.1/data/sub/../../../../up.txt": b"no",
        },
        links={"pyradiomics-3.0.1/data/link.nrrd": "/etc/passwd"},
    )
    n = _sample_fetch._extract_data(sdist, root / "pyradiomics-data")
    assert n == 2
    got = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert got == ["pyradiomics-data/baseline/x.csv", "pyradiomics-data/lung1_image.nrrd"]
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "up.txt").exists()


def test_extraction_of_an_archive_without_images_fails_cleanly(tmp_path):
    root = tmp_path / "samples"
    root.mkdir()
    sdist = _tar_with(tmp_path, {"pyradiomics-3.0.1/data/README.md": b"x"})
    with pytest.raises(samples.SampleFetchError, match="no data"):
        _sample_fetch._extract_data(sdist, root / "pyradiomics-data")
    assert list(root.iterdir()) == []


# ----------------------------------------------------------------------------- network
@pytest.fixture(scope="session")
def fetched() -> samples.SampleCatalog:
    """One real fetch per test session into the real user cache (downloads at most once)."""
    catalog = samples.fetch_samples()
    if catalog.offline:
        pytest.fail("sample download failed: " + "; ".join(catalog.notes))
    return catalog


@pytest.mark.network
def test_real_samples_are_all_available(fetched):
    assert not fetched.offline
    for name in REAL:
        info = fetched[name]
        assert info.available, name
        assert info.mask_path is not None and info.mask_path.is_file()
        assert samples.sample_path(name) == info.path
    assert {i.modality for i in fetched.samples if i.name.startswith(("brain", "breast"))} == {"MR"}


@pytest.mark.network
def test_lung1_is_a_plausible_ct_with_its_tumour_mask(fetched):
    ct = read_volume(samples.sample_path("lung1"))
    mask = read_volume(fetched["lung1"].mask_path)
    assert ct.array.shape == (48, 512, 512)
    lo, hi = ct.value_range()
    assert -1100 <= lo <= -900 and 1000 <= hi <= 4000
    assert np.median(ct.array) < -500  # mostly air and lung
    assert mask.geometry.same_grid(ct.geometry)
    tumour = mask.array > 0
    assert 100 < tumour.sum() < 0.01 * tumour.size
    assert -200 < float(np.median(ct.array[tumour])) < 200  # soft-tissue density


@pytest.mark.network
def test_lung2_has_61_slices(fetched):
    assert read_volume(samples.sample_path("lung2")).array.shape == (61, 512, 512)


@pytest.mark.network
def test_lung1_dicom_reads_back_as_one_series_matching_the_nrrd(fetched):
    folder = samples.sample_path("lung1-dicom")
    headers = _read_headers(folder)
    assert len(headers) == 48
    _assert_one_consistent_series(headers)
    assert {h.Modality for h in headers} == {"CT"}
    ct = read_volume(samples.sample_path("lung1"))
    by_z = sorted(headers, key=lambda h: float(h.ImagePositionPatient[2]))
    first = pydicom.dcmread(folder / Path(by_z[0].filename).name)
    hu = first.pixel_array * float(first.RescaleSlope) + float(first.RescaleIntercept)
    np.testing.assert_array_equal(hu, ct.array[0])
    np.testing.assert_allclose([float(v) for v in first.ImagePositionPatient], ct.geometry.origin_lps_mm, atol=1e-3)


@pytest.mark.network
def test_lung1_dicom_scans_to_the_nrrd_geometry(fetched):
    dicom_scan = pytest.importorskip("app.io.dicom_scan")
    folder = samples.sample_path("lung1-dicom")
    scan = dicom_scan.scan_dicom(sorted(folder.glob("*.dcm")))
    assert len(scan.series) == 1
    ct = read_volume(samples.sample_path("lung1"))
    assert scan.series[0].geometry.same_grid(ct.geometry, tol_mm=1e-3)


@pytest.mark.network
def test_second_real_fetch_does_nothing(fetched, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run again")

    monkeypatch.setattr(samples.subprocess, "Popen", no_pip)
    start = time.perf_counter()
    again = samples.fetch_samples()
    assert time.perf_counter() - start < 2.0
    assert not again.offline and [i.available for i in again.samples] == [i.available for i in fetched.samples]


def test_sample_path_can_fetch_on_demand(tmp_cache, monkeypatch):
    calls = []
    real_fetch = samples.fetch_samples

    def offline_fetch(**kwargs):
        calls.append(kwargs)
        return real_fetch(ctx=kwargs.get("ctx", samples.NULL_CONTEXT), offline=True)

    monkeypatch.setattr(samples, "fetch_samples", offline_fetch)
    with pytest.raises(MedwsIOError, match="phantom-ct"):
        samples.sample_path("lung1")
    assert calls == []
    path = samples.sample_path("phantom-ct", fetch=True)
    assert path.is_file() and len(calls) == 1
    assert samples.sample_path("phantom-ct", fetch=True) == path and len(calls) == 1


def _slow_pip(monkeypatch) -> None:
    """Make the pip step a process that would run for a minute."""
    monkeypatch.setattr(
        samples, "pip_download_command", lambda *a: [sys.executable, "-c", "import time; time.sleep(60)"]
    )


def test_cancel_during_the_download_kills_pip_and_leaves_no_partial_folders(tmp_cache, monkeypatch):
    _slow_pip(monkeypatch)
    samples.fetch_samples(offline=True)  # phantom first, so the next run goes straight to pip
    deadline = time.monotonic() + 1.0
    start = time.monotonic()
    with pytest.raises(Cancelled):
        samples.fetch_samples(ctx=TaskContext(is_cancelled=lambda: time.monotonic() > deadline))
    assert time.monotonic() - start < 10
    assert not any(p.name.startswith(".download") for p in tmp_cache.iterdir())
    assert not (tmp_cache / "pyradiomics-data").exists()


def test_a_pip_timeout_falls_back_to_the_phantom(tmp_cache, monkeypatch):
    _slow_pip(monkeypatch)
    start = time.monotonic()
    catalog = samples.fetch_samples(timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert catalog.offline and any("timed out" in n for n in catalog.notes)


@pytest.mark.network
@pytest.mark.skipif(
    not os.environ.get("MEDWS_TEST_PIP_VENV"),
    reason="downloads the sdist a second time plus numpy; set MEDWS_TEST_PIP_VENV=1 to run",
)
def test_fetch_without_build_tools_uses_a_throwaway_venv(tmp_cache, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        samples.importlib.util, "find_spec", lambda name, *a: None if name == "setuptools" else real(name, *a)
    )
    catalog = samples.fetch_samples(timeout_s=300)
    assert not catalog.offline, catalog.notes
    assert catalog["lung2"].available
    assert sorted(p.name for p in tmp_cache.iterdir()) == [
        ".lock",
        "lung1-dicom",
        "mni152",
        "phantom",
        "pyradiomics-data",
        "samples.json",
    ]


def test_phantom_dicom_loads_back_to_the_phantom_volume(tmp_cache):
    loader = pytest.importorskip("app.io.loader")
    samples.fetch_samples(offline=True)
    result = loader.load_path(samples.sample_path("phantom-dicom"))
    nrrd = read_volume(samples.sample_path("phantom-ct"))
    (image,) = result.images
    assert image.geometry.same_grid(nrrd.geometry)
    np.testing.assert_array_equal(image.array, nrrd.array)


@pytest.mark.network
def test_lung1_dicom_loads_back_voxel_for_voxel(fetched):
    loader = pytest.importorskip("app.io.loader")
    result = loader.load_path(samples.sample_path("lung1-dicom"))
    nrrd = read_volume(samples.sample_path("lung1"))
    (image,) = result.images
    assert result.errors == []
    assert image.geometry.same_grid(nrrd.geometry)
    np.testing.assert_array_equal(image.array, nrrd.array)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_an_unwritable_cache_is_a_one_line_error(tmp_cache):
    tmp_cache.mkdir(parents=True)
    tmp_cache.chmod(0o500)
    try:
        with pytest.raises(MedwsIOError, match="cannot write samples"):
            samples.fetch_samples(offline=True)
    finally:
        tmp_cache.chmod(0o700)


def test_a_failing_writer_is_a_one_line_error(tmp_cache, monkeypatch):
    def broken(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_cache / "x"))

    monkeypatch.setattr(samples, "write_volume", broken)
    with pytest.raises(MedwsIOError, match="cannot write samples: Permission denied"):
        samples.fetch_samples(offline=True)
    assert not any(p.name.startswith(".phantom") for p in tmp_cache.iterdir())


# ----------------------------------------------------------------------------- mni152-t1
def _wheel_with(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "nilearn-0.14.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_wheel_extraction_copies_only_the_named_members(tmp_path):
    wheel = _wheel_with(
        tmp_path,
        {
            "nilearn/datasets/data/t1.nii.gz": b"T1",
            "nilearn/datasets/data/other.nii.gz": b"no",
            "../../escaped.txt": b"no",
            "/abs.txt": b"no",
        },
    )
    out = tmp_path / "out"
    out.mkdir()
    _sample_fetch.extract_wheel_members(wheel, {"nilearn/datasets/data/t1.nii.gz": "t1.nii.gz"}, out)
    assert [p.name for p in out.iterdir()] == ["t1.nii.gz"] and (out / "t1.nii.gz").read_bytes() == b"T1"
    assert not (tmp_path.parent / "escaped.txt").exists()
    with pytest.raises(samples.SampleFetchError, match="no nilearn/x.nii.gz"):
        _sample_fetch.extract_wheel_members(wheel, {"nilearn/x.nii.gz": "x.nii.gz"}, out)
    with pytest.raises(ValueError, match="bare file name"):
        _sample_fetch.extract_wheel_members(wheel, {"nilearn/datasets/data/t1.nii.gz": "../t1.nii.gz"}, out)
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(samples.SampleFetchError, match="cannot unpack"):
        _sample_fetch.extract_wheel_members(tmp_path / "bad.whl", {}, out)


def test_brain_mask_is_gm_plus_wm_above_half_with_holes_filled():
    zz, yy, xx = np.mgrid[:24, :24, :24]
    r = np.sqrt((zz - 12) ** 2 + (yy - 12) ** 2 + (xx - 12) ** 2)
    gm = np.where((r >= 7) & (r < 9), 200, 0).astype(np.uint8)  # a closed shell, P(GM) = 0.78
    wm = np.where((r >= 5) & (r < 7), 128, 0).astype(np.uint8)  # P(WM) = 0.50: not > 0.5 alone
    wm[r < 3] = 1  # a "ventricle" of almost-zero probability: must be filled
    gm[0, 0, :4] = 63  # (63 + 64) / 255 = 0.498 at the border: outside (and not enclosed)
    wm[0, 0, :4] = 64
    gm[0, 1, :4] = 64  # (64 + 64) / 255 = 0.502: inside (uint8 values are probabilities × 255)
    wm[0, 1, :4] = 64
    mask = _sample_mni152.derive_brain_mask(gm, wm)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    expected = (r < 9).astype(np.uint8)  # the shell and everything it encloses
    expected[0, 1, :4] = 1
    np.testing.assert_array_equal(mask, expected)
    half = np.full((2, 2, 2), 0.25)
    assert not _sample_mni152.derive_brain_mask(half, half).any()  # exactly 0.5 is not > 0.5
    probs = _sample_mni152.derive_brain_mask(gm / 255.0, wm / 255.0)  # float maps are probabilities already
    np.testing.assert_array_equal(probs, mask)


def test_an_unfetchable_nilearn_wheel_is_a_note_and_the_other_samples_work(tmp_cache, monkeypatch):
    samples.fetch_samples(offline=True)
    for folder in ("pyradiomics-data", "lung1-dicom"):  # real data "already fetched": no pip for them
        (tmp_cache / folder).mkdir()

    def unreachable(*args, **kwargs):
        raise samples.SampleFetchError("nilearn", "pip exited with 1: ERROR: no network")

    monkeypatch.setattr(_sample_mni152, "download_wheel", unreachable)
    catalog = samples.fetch_samples()
    assert not catalog.offline
    assert any(n.startswith("mni152-t1 unavailable") and "no network" in n for n in catalog.notes), catalog.notes
    assert not catalog["mni152-t1"].available and catalog["phantom-ct"].available
    assert not any(p.name.startswith(".mni152") for p in tmp_cache.iterdir())
    manifest = json.loads((tmp_cache / samples.MANIFEST_NAME).read_text())
    assert manifest["extra_sources"][0]["package"] == "nilearn" and not manifest["extra_sources"][0]["fetched"]

    monkeypatch.setattr(_sample_mni152, "download_wheel", lambda *a, **k: pytest.fail("offline must not fetch"))
    assert not any("mni152" in n for n in samples.fetch_samples(offline=True).notes)


@pytest.fixture(scope="session")
def mni152(fetched) -> samples.SampleInfo:
    info = fetched["mni152-t1"]
    if not info.available:
        pytest.fail("mni152-t1 not fetched: " + "; ".join(fetched.notes))
    return info


@pytest.mark.network
def test_mni152_t1_and_its_brain_mask_share_one_grid(mni152):
    assert (mni152.modality, mni152.kind, mni152.labels) == ("MR", "nifti", {1: "brain"})
    assert "P(GM) + P(WM) > 0.5" in mni152.description and "BinaryFillhole" in mni152.description
    t1 = read_volume(samples.sample_path("mni152-t1"))
    mask = read_volume(mni152.mask_path)
    assert t1.array.shape == (189, 233, 197)
    np.testing.assert_allclose(t1.geometry.spacing_zyx_mm, (1.0, 1.0, 1.0))
    assert mask.geometry.same_grid(t1.geometry)
    assert set(np.unique(mask.array)) == {0, 1}
    volume_ml = mask.array.sum() * np.prod(mask.geometry.spacing_zyx_mm) / 1000.0
    assert 1000 <= volume_ml <= 1800, volume_ml
    # the mask sits on the brain: T1 inside is brighter than the background ring around the head
    assert float(np.mean(t1.array[mask.array > 0])) > 3 * float(np.mean(t1.array[mask.array == 0]))
