"""VolumeScene, VolumeRenderVisual and capture helpers in an offscreen vtkRenderWindow (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from render._vtk import vtkFixedPointVolumeRayCastMapper, vtkRenderer, vtkRenderWindow, vtkSmartVolumeMapper
from render.capture import capture_rgb, compose, write_png
from render.image_data import VtkImage
from render.orientation import ViewKind
from render.volume_scene import VolumeScene
from render.volume_visual import VOLUME_PRESETS, choose_mapper_kind

SIZE = 200


@pytest.fixture
def window():
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetMultiSamples(0)
    window.SetSize(SIZE, SIZE)
    yield window
    window.Finalize()


def _scene(window, volume, kind="cpu") -> VolumeScene:
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    scene = VolumeScene(renderer, lambda: None, kind)
    scene.set_image(VtkImage(volume), volume.default_window())
    return scene


def test_volume_render_shows_the_bone_block_on_the_patient_left(window, volume):
    scene = _scene(window, volume)
    assert isinstance(scene.volume.mapper, vtkFixedPointVolumeRayCastMapper)
    assert scene.volume.mapper.GetAutoAdjustSampleDistances()
    rgb = capture_rgb(window)
    background = rgb[2, 2].astype(int)
    differs = np.abs(rgb.astype(int) - background).sum(axis=2) > 60
    assert differs.mean() > 0.003
    cols = np.nonzero(differs)[1]
    # anterior view: the patient's left (+x, where the block is) is on screen right
    assert cols.mean() > SIZE / 2
    scene.close()


def test_volume_actor_is_placed_in_lps(window, make_volume, rotation_about_z):
    volume = make_volume(direction=rotation_about_z(20.0))
    scene = _scene(window, volume)
    lo, hi = volume.geometry.bounds_lps_mm()
    bounds = np.array(scene.volume.actor.GetBounds()).reshape(3, 2)
    assert np.allclose(bounds[:, 0], lo, atol=1e-6) and np.allclose(bounds[:, 1], hi, atol=1e-6)
    scene.close()


def test_presets_switch_blend_mode_and_transfer_functions(window, volume):
    scene = _scene(window, volume)
    for name in VOLUME_PRESETS:
        scene.volume.set_preset(name)
        mip = scene.volume.mapper.GetBlendMode() == scene.volume.mapper.MAXIMUM_INTENSITY_BLEND
        assert mip == VOLUME_PRESETS[name].mip
        assert scene.volume.property.GetScalarOpacity().GetSize() == len(VOLUME_PRESETS[name].opacities)
    scene.close()


def test_slice_plane_outlines_follow_the_slice(window, volume):
    scene = _scene(window, volume)
    scene.planes.set_plane(ViewKind.AXIAL, scene.image, 0, 12)
    points = scene.planes._points[ViewKind.AXIAL]
    z_lps = {round(points.GetPoint(i)[2], 6) for i in range(4)}
    assert z_lps == {round(float(volume.geometry.index_zyx_to_lps([12, 0, 0])[2]), 6)}
    assert scene.planes.actors[ViewKind.AXIAL].GetVisibility()
    scene.close()


def test_mapper_choice_follows_env_and_renderer_string(monkeypatch, window):
    monkeypatch.setenv("MEDWS_VOLUME_MAPPER", "gpu")
    assert choose_mapper_kind(window) == "gpu"
    monkeypatch.setenv("MEDWS_VOLUME_MAPPER", "cpu")
    assert choose_mapper_kind(window) == "cpu"
    monkeypatch.delenv("MEDWS_VOLUME_MAPPER")
    assert choose_mapper_kind(None) == "cpu"  # unknown renderer: the safe choice


def test_gpu_mapper_can_be_requested(window, volume):
    scene = _scene(window, volume, "gpu")
    assert isinstance(scene.volume.mapper, vtkSmartVolumeMapper)
    scene.close()


def test_compose_and_write_png(tmp_path):
    red = np.zeros((10, 20, 3), np.uint8)
    red[..., 0] = 255
    canvas = compose([(red, 5, 2), (red, 35, 0)], (40, 15))
    assert canvas.shape == (15, 40, 3)
    assert (canvas[2:12, 5:25, 0] == 255).all() and canvas[0, 0, 0] == 30
    assert (canvas[0:10, 35:40, 0] == 255).all()  # clipped at the right edge
    out = write_png(canvas, tmp_path / "sub" / "x.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.parent.iterdir() if p.name != "x.png"]  # no temp file left


def test_cpu_proxy_keeps_the_physical_extent(volume):
    from render.volume_visual import cpu_proxy

    full = VtkImage(volume)
    assert cpu_proxy(full) is full  # small volumes are rendered as they are
    proxy = cpu_proxy(full, max_voxels=volume.geometry.n_voxels // 7)
    assert proxy.image.geometry.shape_zyx == (20, 32, 40)
    assert proxy.image.geometry.spacing_zyx_mm == (5.0, 1.6, 1.6)
    assert proxy.image.geometry.origin_lps_mm == volume.geometry.origin_lps_mm
    assert np.array_equal(proxy.image.array, volume.array[::2, ::2, ::2])
