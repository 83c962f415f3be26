"""`medws export --surfaces`: one mesh per segment beside the labelmaps, in the stated space."""

from __future__ import annotations

import numpy as np
import pytest

from app.io import export as export_module
from app.io.export import ExportCase, ExportOptions, export
from app.io.volume_files import write_volume
from app.model.geometry import Geometry
from app.model.image import ImageVolume
from app.model.labels import LabelTable, LabelVolume, Segment


@pytest.fixture
def files(tmp_path):
    geometry = Geometry((20, 30, 30), (2.0, 1.0, 1.0), (10.0, -5.0, 3.0))
    image = np.zeros(geometry.shape_zyx, np.int16)
    labels = np.zeros(geometry.shape_zyx, np.uint8)
    labels[5:15, 5:15, 5:15] = 1
    labels[5:15, 18:26, 18:26] = 2
    write_volume(image, geometry, tmp_path / "ct.nrrd")
    write_volume(labels, geometry, tmp_path / "labels.nrrd")
    return tmp_path, geometry, labels


@pytest.fixture(autouse=True)
def _restore_writer():
    yield
    export_module.set_surface_writer(None)


def test_cli_writes_one_surface_per_segment_in_the_requested_space(files):
    from ui.main import main

    tmp, geometry, _ = files
    out = tmp / "out"
    assert main(["export", "--format", "nifti", "--image", str(tmp / "ct.nrrd"), "--labels",
                 str(tmp / "labels.nrrd"), "--surfaces", "stl", "--surface-space", "RAS", str(out)]) == 0
    stls = sorted(out.glob("*/surfaces/*.stl"))
    assert len(stls) == 2
    from render.surface_export import read_space

    assert {read_space(p) for p in stls} == {"RAS"}


def test_surfaces_without_the_render_layer_fail_cleanly_and_write_nothing(files):
    tmp, geometry, labels = files
    table = LabelTable([Segment(1, "a", (255, 0, 0))])
    case = ExportCase("c1", ImageVolume(np.zeros(geometry.shape_zyx, np.int16), geometry),
                      LabelVolume(geometry, table, array=(labels == 1).astype(np.uint8)))
    export_module.set_surface_writer(None)
    with pytest.raises(export_module.ExportError, match="render layer"):
        export("nifti", [case], tmp / "out2", options=ExportOptions(surfaces="ply"))
    assert not (tmp / "out2").exists()
