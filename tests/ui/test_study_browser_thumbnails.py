"""Study browser thumbnails: made off the GUI thread from the real sample series, cached on disk."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.io.samples import sample_path
from app.io.study_index import StudyIndex
from app.io.thumbnails import THUMB_PX
from ui.panels import StudyBrowserPanel


@pytest.fixture
def index(tmp_path):
    with StudyIndex(tmp_path / "index.sqlite") as study_index:
        for name in ("lung1-dicom", "phantom-dicom"):
            study_index.import_folder(sample_path(name))
        yield study_index


def _image_series(index) -> list[str]:
    return [s.series_uid for st in index.studies() for s in index.series(st.study_uid) if s.kind == "image"]


def test_browser_shows_thumbnails_made_in_the_background_and_cached(qtbot, index, tmp_path):
    cache = tmp_path / "thumbs"
    uids = _image_series(index)
    assert len(uids) == 2
    start = time.perf_counter()
    panel = StudyBrowserPanel(index, thumbnail_cache=cache)
    qtbot.addWidget(panel)
    build_s = time.perf_counter() - start
    job = panel.thumbnail_job
    assert job is not None  # the pixels are read by a Job, after the tree is already filled
    assert all(panel._series_items[uid].icon(0).isNull() or job.done for uid in uids)
    with qtbot.waitSignal(panel.thumbnails_done, timeout=20_000) as done:
        pass
    assert done.args == [2]
    for uid in uids:
        icon = panel.series_icon(uid)
        assert icon is not None and not panel._series_items[uid].icon(0).isNull()
        image = icon.pixmap(THUMB_PX, THUMB_PX).toImage()
        assert max(image.width(), image.height()) == THUMB_PX
        grey = np.array([image.pixelColor(x, image.height() // 2).value() for x in range(image.width())])
        assert grey.max() - grey.min() > 100  # a windowed CT slice, not a blank tile
    assert len(list(cache.glob("*.png"))) == 2
    assert build_s < 2.0
    # a refresh reuses the icons at once and starts no job; a new panel reads the disk cache
    panel.refresh()
    assert panel.thumbnail_job is None and all(not panel._series_items[u].icon(0).isNull() for u in uids)
    stamps = {p: p.stat().st_mtime_ns for p in cache.glob("*.png")}
    other = StudyBrowserPanel(index, thumbnail_cache=cache)
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.thumbnails_done, timeout=20_000):
        pass
    assert all(other.series_icon(u) is not None for u in uids)
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.png")} == stamps  # read, not rewritten


def test_closing_the_browser_cancels_the_thumbnail_job(qtbot, index, tmp_path):
    panel = StudyBrowserPanel(index, thumbnail_cache=tmp_path / "thumbs")
    qtbot.addWidget(panel)
    job = panel.thumbnail_job
    assert job is not None
    panel.close_panel()
    assert job.is_cancelled and panel.thumbnail_job is None
    qtbot.waitUntil(lambda: job.done, timeout=20_000)
