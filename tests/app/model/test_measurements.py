from __future__ import annotations

import numpy as np
import pytest

from app.model.geometry import Geometry
from app.model.image import ImageVolume
from app.model.measurements import (
    Angle,
    EllipseROI,
    MeasurementSet,
    RectROI,
    Ruler,
    SlicePlane,
    describe,
    measure_roi,
    measurement_from_dict,
    outline_lps,
)
from app.model.session import Session
from app.session import load_session, save_session
from app.tools.measure import MeasureTool

AXIAL5 = SlicePlane("axial", 0, 5)


def _image():
    arr = np.random.default_rng(0).integers(-100, 100, (10, 30, 40)).astype(np.int16)
    geometry = Geometry((10, 30, 40), (2.5, 0.8, 0.7), (-5.0, 3.0, 10.0))
    return ImageVolume(arr, geometry, modality="CT", name="img")


def test_ruler_length_and_right_angle():
    assert Ruler(((0, 0, 0), (3, 4, 0)), AXIAL5).length_mm == pytest.approx(5.0)
    angle = Angle(((10, 0, 5), (0, 0, 5), (0, -7, 5)), AXIAL5)
    assert angle.angle_deg == pytest.approx(90.0)
    assert Angle(((1, 0, 0), (0, 0, 0), (1, 1, 0)), AXIAL5).angle_deg == pytest.approx(45.0)
    assert np.isnan(Angle(((0, 0, 0),) * 3, AXIAL5).angle_deg)


def test_point_count_is_checked():
    with pytest.raises(ValueError):
        Ruler(((0, 0, 0),), AXIAL5)


@pytest.mark.parametrize("cls", [Ruler, Angle, EllipseROI, RectROI])
def test_dict_round_trip(cls):
    pts = tuple((float(i), 2.0 * i, 5.5) for i in range(cls.n_points))
    m = cls(pts, SlicePlane("coronal", 1, 7), label="x")
    assert measurement_from_dict(m.to_dict()) == m


def test_roi_stats_follow_the_image_grid():
    image = _image()
    g = image.geometry
    # rectangle over rows 4..12, columns 6..20 of slice 5 (corners at voxel centres)
    p0, p1 = g.index_zyx_to_lps([[5, 4, 6], [5, 12, 20]])
    rect = RectROI((tuple(p0), tuple(p1)), AXIAL5)
    s = measure_roi(rect, image)
    ref = image.array[5, 4:13, 6:21].astype(float)
    assert s.n_pixels == ref.size and s.mean == pytest.approx(ref.mean()) and s.sd == pytest.approx(ref.std())
    assert s.area_mm2 == pytest.approx(8 * 0.8 * 14 * 0.7)
    outline = outline_lps(rect, g)
    assert outline.shape == (5, 3) and np.allclose(outline[0], outline[-1])
    ellipse = EllipseROI((tuple(p0), tuple(p1)), AXIAL5)
    assert measure_roi(ellipse, image).n_pixels < s.n_pixels
    assert "HU" in describe(ellipse, image) and "mm²" in describe(ellipse, image)


def test_set_signals_and_records_stay_in_step():
    ms = MeasurementSet()
    events = []
    ms.added.connect(lambda m: events.append(("added", m.id)))
    ms.removed.connect(lambda m: events.append(("removed", m.id)))
    ms.changed.connect(lambda old, new: events.append(("changed", new.id)))
    r = ms.add(Ruler(((0, 0, 0), (1, 0, 0)), AXIAL5))
    a = ms.add(Angle(((1, 0, 0), (0, 0, 0), (0, 1, 0)), AXIAL5))
    ms.set_points(r.id, ((0, 0, 0), (2, 0, 0)))
    assert ms.records[0]["points_lps_mm"][1] == [2.0, 0.0, 0.0]
    ms.remove(r.id)
    assert [rec["id"] for rec in ms.records] == [a.id]
    assert events == [("added", r.id), ("added", a.id), ("changed", r.id), ("removed", r.id)]


def test_unknown_records_are_kept():
    ms = MeasurementSet()
    foreign = {"kind": "distance", "lps_mm": [[0, 0, 0], [1, 2, 3]]}
    known = Ruler(((0, 0, 0), (1, 0, 0)), AXIAL5).to_dict()
    ms.load_records([foreign, known])
    assert len(ms) == 1 and ms.records == [foreign, known]


def test_measurements_survive_a_session_save_and_load(tmp_path):
    session = Session()
    ms = session.measurement_set
    ruler = ms.add(Ruler(((0.5, 1.25, -3.0), (10.0, 1.25, -3.0)), AXIAL5, label="lesion"))
    angle = ms.add(Angle(((1, 0, 0), (0, 0, 0), (0, 1, 0)), AXIAL5))
    ellipse = ms.add(EllipseROI(((0, 0, 2), (5, 5, 2)), SlicePlane("axial", 0, 2)))
    rect = ms.add(RectROI(((0, -1, 0), (5, -1, 5)), SlicePlane("coronal", 1, 3)))
    folder = save_session(session, tmp_path / "s.medws")
    loaded = load_session(folder)
    got = {m.id: m for m in loaded.measurement_set}
    assert got == {m.id: m for m in (ruler, angle, ellipse, rect)}
    assert loaded.measurements == session.measurements
    assert got[ruler.id].length_mm == pytest.approx(9.5)


def test_tool_draws_by_drag_and_by_clicks():
    ms = MeasurementSet()
    tool = MeasureTool(ms, "ruler")
    tool.press(AXIAL5, (0, 0, 0))
    tool.drag(AXIAL5, (2, 0, 0))
    done = tool.release(AXIAL5, (3, 0, 0))
    assert done is not None and done.length_mm == pytest.approx(3.0) and not tool.drawing
    angle_tool = MeasureTool(ms, "angle")
    for p in ((5, 0, 0), (0, 0, 0), (0, 5, 0)):  # click, click, click
        angle_tool.press(AXIAL5, p)
        done = angle_tool.release(AXIAL5, p)
    assert isinstance(done, Angle) and done.angle_deg == pytest.approx(90.0)
    roi = MeasureTool(ms, "ellipse")
    roi.press(AXIAL5, (0, 0, 0))
    roi.cancel()
    assert len(ms) == 2


def test_image_key_is_saved_and_matches_only_its_image():
    image = _image()
    m = Ruler(((0, 0, 0), (1, 0, 0)), AXIAL5, image_key="img")
    assert measurement_from_dict(m.to_dict()).image_key == "img"
    assert m.belongs_to(image)
    other = ImageVolume(image.array, image.geometry, name="other")
    assert not m.belongs_to(other)
    assert Ruler(((0, 0, 0), (1, 0, 0)), AXIAL5).belongs_to(other)  # unidentified: shown everywhere
