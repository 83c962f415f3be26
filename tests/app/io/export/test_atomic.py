from __future__ import annotations

import errno
import os

import pytest

from analysis._task import Cancelled, TaskContext
from app.io.errors import MedwsIOError
from app.io.export import EXPORTERS, ExportError, export
from app.io.export._common import ExportOptions
from app.model.geometry import Geometry
from app.model.labels import LabelVolume


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_one_bad_case_leaves_nothing_and_is_named(cases, tmp_path, fmt):
    good = cases.make_case("good", source_dir=tmp_path / "src")
    bad = cases.make_case("bad_case")
    bad.labels = LabelVolume(
        Geometry(bad.image.geometry.shape_zyx, (9, 9, 9)), bad.labels.table, array=bad.labels.array.copy()
    )  # not on the image grid
    if fmt == "csv":
        pytest.skip("the CSV exporter reads no voxels: valid model objects cannot fail per case")
    with pytest.raises(ExportError, match="case bad_case") as info:
        export(fmt, [good, bad], tmp_path / "out")
    assert info.value.case == "bad_case" and "\n" not in str(info.value)
    assert _leftovers(tmp_path) == ["src"]  # no out/, no staging folder


def test_disk_full_midway_leaves_no_half_written_files(cases, tmp_path, monkeypatch):
    import app.io.export.nifti as nifti

    calls = {"n": 0}
    real = nifti.write_volume

    def flaky(array, geometry, path, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(array, geometry, path, **kw)

    monkeypatch.setattr(nifti, "write_volume", flaky)
    with pytest.raises(ExportError, match="case b: .*No space left"):
        export("nifti", [cases.make_case("a"), cases.make_case("b")], tmp_path / "out")
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_target_gives_one_line_error(cases, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(MedwsIOError, match="cannot create output"):
            export("nifti", [cases.make_case()], ro / "out")
        assert _leftovers(ro) == []
    finally:
        ro.chmod(0o755)


def test_target_under_a_file_gives_one_line_error(cases, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MedwsIOError, match="cannot create output"):
        export("nifti", [cases.make_case()], blocker / "out")


def test_existing_output_is_kept_unless_overwrite(cases, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(MedwsIOError, match="not empty"):
        export("nifti", [cases.make_case()], out)
    assert _leftovers(out) == ["keep.txt"]
    export("nifti", [cases.make_case()], out, options=ExportOptions(overwrite=True))
    assert "keep.txt" not in _leftovers(out) and _leftovers(tmp_path) == ["out"]


def test_cancel_leaves_nothing(cases, tmp_path):
    ctx = TaskContext(is_cancelled=lambda: True)
    with pytest.raises(Cancelled):
        export("nifti", [cases.make_case()], tmp_path / "out", ctx=ctx)
    assert _leftovers(tmp_path) == []


def test_unknown_format_is_a_value_error(cases, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export("stl", [cases.make_case()], tmp_path / "out")


def test_failed_final_rename_leaves_nothing(cases, tmp_path, monkeypatch):
    import app.io.export._common as common

    real = os.replace

    def refuse(src, dst):
        if str(dst) == str(tmp_path / "out"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(common.os, "replace", refuse)
    with pytest.raises(MedwsIOError, match="cannot move the export into place"):
        export("nifti", [cases.make_case()], tmp_path / "out")
    assert _leftovers(tmp_path) == []


def test_dataset_level_failure_is_an_export_error(cases, tmp_path):
    case = cases.make_case()
    case.labels = None
    with pytest.raises(ExportError, match="no case has a segmentation"):
        export("nnunet", [case], tmp_path / "out")
    assert _leftovers(tmp_path) == []
