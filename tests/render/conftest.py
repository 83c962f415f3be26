"""Fixtures for render tests: a synthetic CT volume whose bright block position is known, and slice
scenes in standalone offscreen render windows (no Qt) of ``SCENE_SIZE`` × ``SCENE_SIZE`` pixels."""

from __future__ import annotations

import pytest

from app.model.image import ImageVolume
from render._vtk import vtkRenderer, vtkRenderWindow
from render.image_data import VtkImage
from render.orientation import ViewKind
from render.slice_scene import SliceScene
from tests._volumes import BONE_ZYX, make_volume, rotation_about_z


@pytest.fixture
def volume() -> ImageVolume:
    return make_volume()


@pytest.fixture(name="make_volume")
def _make_volume_fixture():
    return make_volume


@pytest.fixture(name="rotation_about_z")
def _rotation_fixture():
    return rotation_about_z


@pytest.fixture
def bone_zyx():
    return BONE_ZYX


SCENE_SIZE = 240


@pytest.fixture
def offscreen_window():
    """``make(width, height) -> (window, renderer)``: an offscreen render window (MSAA off) with one
    renderer, finalized after the test."""
    windows = []

    def make(width: int, height: int):
        window = vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.SetMultiSamples(0)
        window.SetSize(width, height)
        renderer = vtkRenderer()
        window.AddRenderer(renderer)
        windows.append(window)
        return window, renderer

    yield make
    for window in windows:
        window.Finalize()


@pytest.fixture
def make_scene(offscreen_window):
    """``make(image, kind) -> SliceScene`` in its own offscreen window (``scene.renderer.GetRenderWindow()``)."""
    windows = []

    def make(image, kind: ViewKind = ViewKind.AXIAL) -> SliceScene:
        window, renderer = offscreen_window(SCENE_SIZE, SCENE_SIZE)
        scene = SliceScene(renderer, lambda: None, kind)
        window.Render()
        scene.set_image(VtkImage(image))
        windows.append((window, scene))
        return scene

    yield make
    for _window, scene in windows:
        scene.close()  # before offscreen_window finalizes the window
