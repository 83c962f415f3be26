"""Analysis menu in the real MainWindow: preprocess dialog, CT tissues proposal, model errors, screenshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QDialogButtonBox

from app.model.image import ImageVolume
from ui.param_dialog import ParamDialog, label_for

pytestmark = pytest.mark.gl

SCREENSHOT = Path(os.environ.get("MEDWS_UI_SCREENSHOT_DIR", "/tmp")) / "medws_analysis_menu.png"


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


def _menu_titles(window) -> list[str]:
    return [a.text().replace("&", "") for a in window.menuBar().actions()]


def test_param_dialog_labels_carry_units_and_values_keep_types(qtbot):
    dialog = ParamDialog("resample", {"new_spacing_zyx_mm": (1.0, 1.0, 1.0), "interpolation": "linear",
                                      "iterations": 5, "rescale": True, "sigma_mm": 1.0})
    qtbot.addWidget(dialog)
    assert label_for("sigma_mm") == "sigma (mm)"
    assert label_for("width") == "width (HU)"
    assert label_for("new_spacing_zyx_mm") == "new spacing (mm, z y x)"
    dialog.set_value("new_spacing_zyx_mm", (2.0, 1.5, 1.5))
    dialog.set_value("interpolation", "nearest")
    dialog.set_value("iterations", 7)
    assert dialog.values() == {"new_spacing_zyx_mm": (2.0, 1.5, 1.5), "interpolation": "nearest",
                               "iterations": 7, "rescale": True, "sigma_mm": 1.0}


def test_analysis_menu_lists_ops_segmenters_and_models(window):
    from analysis.preprocess import OPS

    analysis = window.analysis
    assert "Analysis" in _menu_titles(window)
    assert [a.text() for a in analysis.preprocess_menu.actions()] == [f"{n}…" for n in OPS]
    assert {"segment:ct-tissues", "segment:lung-lesions"} <= set(analysis.actions)
    analysis.fill_models_menu()
    models = [k for k in analysis.actions if k.startswith("model:")]
    assert "model:deepbet" in models
    tip = analysis.actions["model:deepbet"].toolTip()
    assert tip.startswith("Licence: MIT")
    assert "1.0.2" in analysis.actions["model:deepbet"].text()


def test_preprocess_gaussian_through_the_dialog_adds_a_derived_volume(window, volume, qtbot):
    analysis = window.analysis
    analysis.actions["preprocess:gaussian"].trigger()
    dialog = analysis.param_dialog
    assert dialog is not None and dialog.isVisible()
    assert "sigma (mm)" in [dialog.layout().itemAt(i).widget().text()
                            for i in range(dialog.layout().count())
                            if hasattr(dialog.layout().itemAt(i).widget(), "text")]
    dialog.set_value("sigma_mm", 2.0)
    with qtbot.waitSignal(analysis.controller.finished, timeout=20000) as blocker:
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        assert window.status.progress.isVisibleTo(window.status)
    derived = blocker.args[1]
    assert isinstance(derived, ImageVolume) and derived in window.session.images
    assert derived.metadata["op"] == "gaussian" and derived.metadata["params"] == {"sigma_mm": 2.0}
    assert derived.array.std() < volume.array.std()  # smoothed
    assert window.session.active_image is volume  # added, not activated
    assert not window.status.progress.isVisibleTo(window.status)
    rows = [window.layers.item(i).text() for i in range(window.layers.count())]
    assert any("phantom · gaussian" in r for r in rows)
    window.layers.setCurrentRow(next(i for i, r in enumerate(rows) if "gaussian" in r))  # select → displayed
    assert window.session.active_image is derived
    assert window.state.image.image is derived


def test_segment_ct_tissues_adds_a_proposed_segmentation_in_layers_and_views(window, qtbot):
    analysis = window.analysis
    with qtbot.waitSignal(analysis.controller.finished, timeout=30000) as blocker:
        analysis.actions["segment:ct-tissues"].trigger()
    seg = blocker.args[1]
    assert seg in window.session.segmentations and seg.array.any()
    assert {s.provenance.status for s in seg.table} == {"proposed"}
    qtbot.wait(10)
    rows = [window.layers.item(i).text() for i in range(window.layers.count())]
    assert any("CT tissues" in r and "(proposed)" in r for r in rows), rows
    for view in window.grid.slice_views.values():  # the overlay is on every slice view
        assert any(v.labels is seg for v in view.label_visuals)
    qtbot.waitUntil(lambda: bool(analysis.annotations.rows("segment")), timeout=2000)
    rows = analysis.annotations.rows("segment")
    assert {r[0] for r in rows} == {s.name for s in seg.table}
    assert {r[2] for r in rows} == {"proposed"}


def test_a_broken_user_model_shows_an_error_message(window, qtbot):
    from app.models import user_models_dir

    folder = user_models_dir() / "broken-seg"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "name": "broken-seg", "version": "0.1", "task": "segmentation", "modality": "CT",
        "labels": {"1": "thing"}, "weights": {"format": "torchscript", "path": "model.ts"},
        "licence": "none"}))
    (folder / "model.ts").write_bytes(b"this is not a TorchScript archive")
    analysis = window.analysis
    analysis.fill_models_menu()
    assert "model:broken-seg" in analysis.actions
    with qtbot.waitSignal(analysis.controller.failed, timeout=60000):
        analysis.actions["model:broken-seg"].trigger()
    box = analysis.last_error_box
    assert box is not None
    assert box.windowTitle() == "MedWS: AI: broken-seg failed"
    assert "broken-seg@0.1" in box.text() and "\n" not in box.text()
    assert box.detailedText()
    assert not window.status.progress.isVisibleTo(window.status)
    assert not window.session.segmentations


def test_starting_without_an_image_is_reported_not_raised(main_window):
    analysis = main_window.analysis
    assert analysis.run_ct_tissues() is None
    title, line, _details = analysis.errors[-1]
    assert title == "CT tissues failed" and line == "no image open"


@pytest.mark.parametrize("name", ["lung-nodule-demo", "scan-type-demo"])
def test_detection_and_classification_models_give_boxes_and_findings(window, qtbot, name):
    from analysis.infer.run import DEFAULT_RUNNERS
    from app.models import available_models

    manifest = available_models().get(name)
    if manifest is None or manifest.task not in DEFAULT_RUNNERS:
        pytest.skip(f"{name} is not installed")
    analysis = window.analysis
    job = analysis.run_model(manifest)
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=120000)
    qtbot.wait(50)
    assert not analysis.errors, analysis.errors
    if manifest.task == "classification":
        (finding,) = list(window.session.findings)
        assert finding.label in manifest.labels.values() and 0 < finding.confidence <= 1
        assert finding.provenance.status == "proposed" and finding.provenance.source == manifest.id
        assert analysis.annotations.rows("finding")[0][2] == "proposed"
    else:
        for box in window.session.boxes:  # may be none on the phantom; each must be a proposal
            assert box.provenance.status == "proposed" and 0 < box.confidence <= 1
            assert box.label == manifest.labels[box.label_id] and box.note == ""  # class name, not a note
        assert len(analysis.annotations.rows("box")) == len(window.session.boxes)


def test_screenshot_of_the_window_with_a_proposal_overlay(window, qtbot):
    """Render the whole window (menus, docks, viewports) with the CT tissues proposal to a PNG."""
    from render.capture import write_png
    from ui.screenshot import capture_grid

    analysis = window.analysis
    with qtbot.waitSignal(analysis.controller.finished, timeout=30000):
        analysis.actions["segment:ct-tissues"].trigger()
    window.resize(1400, 900)
    volume_view = window.grid.volume_view  # wait for the proposal's 3D surfaces (debounced Job)
    qtbot.wait(400)
    qtbot.waitUntil(lambda: not volume_view._surface_jobs
                    and not any(timer.isActive() for _, timer in volume_view._surfaces), timeout=20000)
    qtbot.wait(100)
    for view in window.grid.viewports.values():
        view.GetRenderWindow().Render()
    frame = window.grab().toImage().convertToFormat(window.grab().toImage().Format.Format_RGB888)
    ratio = window.devicePixelRatioF()
    rgb = np.frombuffer(frame.constBits(), np.uint8).reshape(frame.height(), frame.bytesPerLine())[
        :, : frame.width() * 3].reshape(frame.height(), frame.width(), 3).copy()
    grid = capture_grid(window)
    top_left = window.grid.mapTo(window, QPoint(0, 0))
    x0, y0 = round(top_left.x() * ratio), round(top_left.y() * ratio)
    h, w = min(grid.shape[0], rgb.shape[0] - y0), min(grid.shape[1], rgb.shape[1] - x0)
    rgb[y0:y0 + h, x0:x0 + w] = grid[:h, :w]
    write_png(rgb, SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10000
    # the overlay is coloured: the axial view holds non-grey pixels
    axial = grid[: grid.shape[0] // 2, : grid.shape[1] // 2].astype(int)
    assert (np.abs(axial[..., 0] - axial[..., 1]) > 40).sum() > 100


def test_status_bar_cancel_stops_a_running_analysis(window, qtbot):
    analysis = window.analysis
    dialog = analysis.ask_preprocess("curvature-flow")
    dialog.set_value("iterations", 100000)  # minutes of work: only a cancel ends it
    with qtbot.waitSignal(analysis.controller.cancelled, timeout=20000):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        qtbot.waitUntil(lambda: window.status.progress.value() > 0, timeout=10000)
        window.status.cancel_button.click()
    assert not window.status.progress.isVisibleTo(window.status)
    assert window.status.currentMessage() == "curvature-flow: cancelled"
    assert len(window.session.images) == 1
