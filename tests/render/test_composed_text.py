"""The slice counter drawn from cached rasterisations (render.overlays.ComposedText) against VTK's own
text actor, pixel for pixel, in an offscreen window."""

from __future__ import annotations

import numpy as np
import pytest

from render._vtk import vtkTextActor
from render.capture import capture_rgb
from render.overlays import ComposedText, _text

GREY = (0.3, 0.35, 0.4)
RED = (1.0, 0.2, 0.2)


@pytest.fixture
def window(offscreen_window):
    window, renderer = offscreen_window(260, 120)
    renderer.SetBackground(*GREY)
    window.Render()
    return window, renderer


def _ink(rgb: np.ndarray) -> np.ndarray:
    background = np.round(np.array(GREY) * 255)
    return np.abs(rgb.astype(int) - background).max(axis=2) > 24


def _reference(window, renderer, text: str) -> np.ndarray:
    actor: vtkTextActor = _text(renderer, 0.05, 0.9, "Left", "Top", RED, 14, bold=True)
    actor.SetInput(text)
    rgb = capture_rgb(window)
    renderer.RemoveViewProp(actor)
    return rgb


@pytest.mark.parametrize("text", ["Axial  151/300", "Coronal (oblique)  7/512", "Sagittal", "12/1000",
                                  "Frame 12345678901234"])  # more characters than parts: one rasterisation
def test_composed_text_matches_the_text_actor(window, text):
    window_, renderer = window
    expected = _reference(window_, renderer, text)
    composed = ComposedText(renderer, 0.05, 0.9, RED, 14, bold=True)
    composed.set_text(text)
    got = capture_rgb(window_)
    ink_expected, ink_got = _ink(expected), _ink(got)
    assert ink_expected.sum() > 40
    rows = np.nonzero(ink_got.any(axis=1))[0]
    cols = np.nonzero(ink_got.any(axis=0))[0]
    rows_e = np.nonzero(ink_expected.any(axis=1))[0]
    cols_e = np.nonzero(ink_expected.any(axis=0))[0]
    # the same place and extent to within 2 px: top-left anchor, advances from FreeType
    assert abs(rows[0] - rows_e[0]) <= 2 and abs(rows[-1] - rows_e[-1]) <= 2
    assert abs(cols[0] - cols_e[0]) <= 1 and abs(cols[-1] - cols_e[-1]) <= 2
    overlap = (ink_got & ink_expected).sum() / (ink_got | ink_expected).sum()
    assert overlap > 0.5 or _shifted_overlap(ink_got, ink_expected) > 0.8
    # drawn over the background with its alpha (no box around the glyphs): as much background shows
    # between the glyphs as between the text actor's
    def background_share(rgb, r, c):
        box = rgb[r[0]:r[-1] + 1, c[0]:c[-1] + 1].astype(int)
        return (np.abs(box - np.round(np.array(GREY) * 255)).max(axis=2) <= 2).mean()

    assert abs(background_share(got, rows, cols) - background_share(expected, rows_e, cols_e)) < 0.1


def _shifted_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Best intersection-over-union of ``a`` against ``b`` shifted by up to 2 px each way."""
    best = 0.0
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            shifted = np.roll(np.roll(b, dy, axis=0), dx, axis=1)
            best = max(best, float((a & shifted).sum() / max(1, (a | shifted).sum())))
    return best


def test_counter_changes_rasterise_each_glyph_once_and_empty_text_hides(window):
    window_, renderer = window
    composed = ComposedText(renderer, 0.05, 0.9, RED, 14, bold=True)
    composed.set_text("Axial  1/300")
    atlas_mtime = composed._atlas_image.GetMTime()
    quad_mtime = composed._points.GetMTime()
    for i in range(2, 301):
        composed.set_text(f"Axial  {i}/300")
    # the name once, each glyph once, and the unchanging "/300" composed once
    assert set(composed._images) == {"Axial  ", *"0123456789/", "\0/300"}
    # scrolling only sets the parts' uniform: no new atlas to upload, the quad unchanged
    assert composed._atlas_image.GetMTime() == atlas_mtime and composed._points.GetMTime() == quad_mtime
    one = capture_rgb(window_)
    composed.set_text("Axial  8/300")
    eight = capture_rgb(window_)
    assert not np.array_equal(one, eight)  # the texture follows the text
    composed.set_text("")
    assert not composed.actor.GetVisibility()
    assert _ink(capture_rgb(window_)).sum() == 0
    composed.set_text("Axial  300/300")
    assert np.array_equal(capture_rgb(window_), one)
