"""Opening files through the background loader, previews, errors, and ``medws screenshot``."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.io.volume_files import write_image
from render.orientation import ViewKind
from ui.gui import initial_specs
from ui.loading import LoadOutcome, load_inputs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def nifti(tmp_path, volume) -> Path:
    return write_image(volume, tmp_path / "phantom.nii.gz")


def test_load_inputs_reports_one_line_per_bad_input(nifti, tmp_path):
    from analysis._task import NULL_CONTEXT

    missing = tmp_path / "nope.nii.gz"
    outcome = load_inputs([str(nifti), str(missing)], ctx=NULL_CONTEXT)
    assert len(outcome.images) == 1 and outcome.images[0].geometry.shape_zyx == (40, 64, 80)
    assert len(outcome.errors) == 1 and "nope.nii.gz" in outcome.errors[0] and "\n" not in outcome.errors[0]


def test_initial_specs_puts_the_sample_last():
    class Args:
        paths = ["/a", "/b"]
        sample = "lung1"

    assert initial_specs(Args()) == ["/a", "/b", "sample:lung1"]


@pytest.mark.gl
def test_open_paths_loads_in_a_job_and_shows_the_volume(main_window, nifti, qtbot):
    with qtbot.waitSignal(main_window.loader.finished, timeout=20000):
        job = main_window.open_paths([str(nifti)])
        assert main_window.status.progress.isVisibleTo(main_window.status)
    assert job.done
    assert main_window.session.active_image is not None
    assert main_window.grid.slice_views[ViewKind.AXIAL].scene.n_slices == 40
    assert not main_window.status.progress.isVisibleTo(main_window.status)
    assert main_window.recent_files()[0] == str(nifti)


@pytest.mark.gl
def test_an_uncompressed_nifti_is_shown_mapped_then_moved_into_memory(main_window, volume, tmp_path, qtbot):
    from app.io.mapped_voxels import is_file_mapped

    path = write_image(volume, tmp_path / "ct.nii", compress=False)
    when_loaded = []
    main_window.loader.loaded.connect(lambda outcome: when_loaded.append(is_file_mapped(outcome.images[0].array)))
    with qtbot.waitSignal(main_window.loader.finished, timeout=20000):
        main_window.open_paths([str(path)])
    assert when_loaded == [True]  # handed to the views as the file's pages
    image = main_window.session.active_image
    qtbot.waitUntil(lambda: main_window.loader.detach_job is not None and main_window.loader.detach_job.done,
                    timeout=20000)
    assert not is_file_mapped(image.array)
    path.write_bytes(b"")  # the file emptied in place afterwards: the image is the process's own
    np.testing.assert_array_equal(image.array, volume.array)
    assert main_window.grid.slice_views[ViewKind.AXIAL].scene.n_slices == 40


@pytest.mark.gl
def test_errors_are_shown_one_line_per_file(main_window, tmp_path, qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr("ui.main_window.QMessageBox.warning", lambda parent, title, text: shown.append(text))
    main_window.interactive = True
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a volume")
    with qtbot.waitSignal(main_window.loader.finished, timeout=20000):
        main_window.open_paths([str(bad), str(tmp_path / "missing.nrrd")])
    assert len(shown) == 1
    lines = shown[0].splitlines()
    assert len(lines) == 2 and "broken.nii.gz" in lines[0] and "missing.nrrd" in lines[1]
    assert main_window.session.active_image is None


@pytest.mark.gl
def test_preview_slice_shows_in_the_axial_view_until_the_volume_arrives(main_window, volume):
    main_window._on_loader_preview(20, np.asarray(volume.array[20]))
    axial = main_window.grid.slice_views[ViewKind.AXIAL].scene
    assert axial.image is not None and axial.image.image.geometry.shape_zyx == (1, 64, 80)
    main_window._on_loader_loaded(LoadOutcome([volume]))
    assert axial.image.image is volume


@pytest.mark.gl
def test_cancel_drops_the_result(main_window, nifti, qtbot):
    with qtbot.waitSignal(main_window.loader.cancelled, timeout=5000):
        main_window.open_paths([str(nifti)])
        main_window.status.cancel_button.click()
    qtbot.wait(200)
    assert main_window.session.active_image is None
    assert not main_window.loader.busy


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.gl
@pytest.mark.parametrize("layout", ["2x2", "axial"])
def test_screenshot_cli_writes_a_png(nifti, tmp_path, layout):
    out = tmp_path / "shots" / f"{layout}.png"
    env = dict(os.environ, MEDWS_VOLUME_MAPPER="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "ui.main", "screenshot", str(nifti), str(out), "--layout", layout,
         "--size", "480x360", "--wl", "400,40", "--slice", "30"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _png_size(out) == (480, 360)
    assert out.stat().st_size > 2000
    assert [p.name for p in out.parent.iterdir()] == [out.name]


@pytest.mark.gl
def test_screenshot_cli_fails_cleanly_on_a_missing_input(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ui.main", "screenshot", str(tmp_path / "none.nii.gz"), str(tmp_path / "o.png")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "none.nii.gz" in proc.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.gl
def test_study_index_import_lists_the_series_and_opens_it(main_window, volume, tmp_path, qtbot):
    from app.io.dicom_write import write_dicom_series

    folder = tmp_path / "dicom"
    write_dicom_series(volume.array, volume.geometry, folder, series_description="Phantom CT",
                       study_description="Chest")
    assert main_window.study_index is not None
    job = main_window.import_folder(str(folder))
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    browser = main_window.browser
    series_items = browser.findItems("Phantom CT", Qt.MatchFlag.MatchContains | Qt.MatchFlag.MatchRecursive)
    assert len(series_items) == 1
    with qtbot.waitSignal(main_window.loader.finished, timeout=20000):
        browser.itemDoubleClicked.emit(series_items[0], 0)
    image = main_window.session.active_image
    assert image is not None and image.geometry.shape_zyx == (40, 64, 80)
    assert np.array_equal(image.array, volume.array)


@pytest.mark.gl
def test_dicom_folder_sends_a_middle_slice_preview_before_the_volume(main_window, volume, tmp_path, qtbot):
    from app.io.dicom_write import write_dicom_series

    folder = tmp_path / "series"
    write_dicom_series(volume.array, volume.geometry, folder)
    previews = []
    main_window.loader.preview.connect(lambda z, arr: previews.append((z, arr.shape)))
    with qtbot.waitSignal(main_window.loader.finished, timeout=20000):
        main_window.open_paths([str(folder)])
    assert previews and previews[0][1] == (64, 80)
    assert main_window.session.active_image.geometry.shape_zyx == (40, 64, 80)


@pytest.mark.gl
def test_a_failed_load_removes_its_preview(main_window, volume):
    main_window._on_loader_preview(20, np.asarray(volume.array[20]))
    axial = main_window.grid.slice_views[ViewKind.AXIAL].scene
    assert axial.image is not None
    main_window._on_loader_loaded(LoadOutcome(errors=["x.dcm: broken"]))
    assert axial.image is None


@pytest.mark.gl
def test_view_command_starts_loads_and_runs_without_tracebacks(nifti):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.main", "-v", "view", str(nifti), "--layout", "1x3"],
        cwd=REPO, env=dict(os.environ, MEDWS_VOLUME_MAPPER="cpu"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=12)
    except subprocess.TimeoutExpired:
        proc.terminate()
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode in (0, -15), stderr[-2000:]  # still running until terminated
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "volume mapper" in stderr  # the 3D view got the image (logged at -v)
