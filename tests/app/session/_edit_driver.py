"""Edit a synthetic session without pause, with an Autosaver running, until killed.

Run as ``python tests/app/session/_edit_driver.py FOLDER [slow-compaction|review]`` from the
repository root. Prints
``ready`` once autosaving started, then ``done <n> <unix time>`` after each completed operation n
(a brush stroke through LabelVolume.paint in a coalescing transaction, an undo, a box or a
segment status change). The test imports :func:`build_session` and :func:`do_op` to recompute the
expected state after any number of operations. The GUI's QTimer is replaced by a tick every
``TICK_S`` seconds between operations.

Mode ``review`` (no compaction): operation 0 lands a model proposal (:func:`land_proposal`: a
segmentation of two proposed segments, kept as originals, and two proposed boxes); the reader
then edits it (:func:`do_review_op`: bare paints, strokes, a box move) for ``REVIEW_EDIT_OPS``
operations and afterwards only reads (the review clock ticks, nothing is edited). Each line is
``done <n> <unix time> <review clock seconds>``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.model import Box, Geometry, ImageVolume, Provenance, Session  # noqa: E402

SHAPE = (40, 96, 96)
TICK_S = 0.5
#: Review mode: operations that edit before the reader only reads; journal interval of the clock.
REVIEW_EDIT_OPS = 150
REVIEW_INTERVAL_S = 1.0


def build_session() -> Session:
    """Return the session the driver starts from: one CT-like image, one segmentation, three labels."""
    geometry = Geometry(SHAPE, (2.0, 0.8, 0.8), (-40.0, -30.0, 12.5))
    uids = {"study_uid": "1.2.826.0.1.3680043.8.498.1", "series_uid": "1.2.826.0.1.3680043.8.498.2"}
    image = ImageVolume(np.zeros(SHAPE, np.int16), geometry, modality="CT", metadata=uids)
    session = Session()
    session.uid = "0" * 32
    session.add_image(image)
    labels = session.new_segmentation("Driver")
    for _ in range(3):
        labels.table.new_segment()
    return session


def _ball(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2) <= radius * radius


def do_op(session: Session, n: int) -> None:
    """Apply operation ``n`` (deterministic in ``n``) to ``session``."""
    labels = session.segmentations[0]
    if n % 17 == 16:
        labels.undo()
        return
    if n % 10 == 9:
        session.boxes.add(Box((n, 0.0, 1.0), (n + 5.0, 4.0, 9.0), label_id=1 + n % 3, id=f"box{n}",
                              provenance=Provenance(created_by="driver", created_at=float(n))))
        return
    if n % 23 == 22:
        labels.table.update(1 + n % 3, status="completed")
        return
    rng = np.random.default_rng(n)
    value = 0 if n % 5 == 4 else 1 + n % 3
    radius = int(rng.integers(2, 6))
    ball = _ball(radius)
    start, end = rng.uniform(0, SHAPE), rng.uniform(0, SHAPE)
    with labels.transaction("Brush", coalesce=True):
        for t in np.linspace(0.0, 1.0, 8):
            centre = np.rint(start + t * (end - start)).astype(int)
            box = tuple(slice(int(c) - radius, int(c) + radius + 1) for c in centre)
            labels.paint(box, ball, value)  # type: ignore[arg-type]


def land_proposal(session: Session) -> None:
    """A model result arrives as the analysis controller adds it: rows + voxels in one step, then originals."""
    from app.model import Segment
    from app.model.review import record_segment_proposals

    proposed = Provenance(source="net@2", status="proposed", created_by="model", created_at=1.0)
    seg = session.new_segmentation("AI")
    with seg.transaction("AI"):
        seg.table.add(Segment(1, "lesion", (255, 0, 0), provenance=proposed))
        seg.table.add(Segment(2, "node", (0, 255, 0), provenance=proposed))
        lesion = np.zeros(SHAPE, bool)
        lesion[8:21, 20:33, 30:43] = _ball(6)
        node = np.zeros(SHAPE, bool)
        node[25:30, 60:65, 61:66] = _ball(2)
        seg.write(tuple(slice(0, n) for n in SHAPE), lesion | node, np.where(node, 2, 1))  # type: ignore[arg-type]
    record_segment_proposals(session, seg)
    for k in range(2):
        session.boxes.add(Box((k, 0.0, 1.0), (k + 5.0, 4.0, 9.0), label_id=1, id=f"ai{k}", confidence=0.8,
                              label="nodule", provenance=proposed))


def do_review_op(session: Session, n: int) -> None:
    """Review-mode operation ``n``: 0 lands the proposal, then the reader edits it, then only reads."""
    if n == 0:
        land_proposal(session)
        return
    if n >= REVIEW_EDIT_OPS:
        return  # reading: scrolling, windowing
    seg = session.segmentations[1]
    rng = np.random.default_rng(n)
    centre = rng.integers((8, 18, 28), (19, 35, 43))
    box = tuple(slice(int(c) - 1, int(c) + 2) for c in centre)
    if n % 3 == 0:
        with seg.transaction("Brush", coalesce=True):
            seg.paint(box, None, 0)  # type: ignore[arg-type]
    elif n % 7 == 1:
        session.boxes.update("ai1", lps_max=(6.0 + n % 5, 4.0, 9.0))
    else:
        seg.paint(box, None, 1 + n % 2)  # type: ignore[arg-type]  # bare paint: its own undo step


def _slow_down_saves() -> None:
    """Make every save spend ~0.4 s between writing its files and committing (a kill lands inside)."""
    from app.session import folder as folder_mod

    write_json = folder_mod.atomic_write_json

    def slow(*args, **kwargs):
        time.sleep(0.2)
        return write_json(*args, **kwargs)

    folder_mod.atomic_write_json = slow


def main(folder: str, mode: str = "") -> None:
    """Edit until killed; ``mode`` "slow-compaction" compacts at every tick, slowly; "review" see above."""
    from app.session import Autosaver

    session = build_session()
    compact_interval_s = 1.0
    if mode == "slow-compaction":
        _slow_down_saves()
        compact_interval_s = 0.0
    elif mode == "review":
        compact_interval_s = 3600.0  # killed before any compaction: only the journal has the review state
    autosaver = Autosaver(session, folder, fsync_interval_s=1.0, compact_interval_s=compact_interval_s,
                          review_interval_s=REVIEW_INTERVAL_S).start()
    print("ready", flush=True)
    last_tick, n = time.monotonic(), 0
    while True:
        if mode == "review":
            do_review_op(session, n)
            session.review_clock.tick()  # the GUI ticks it on user input
            print(f"done {n} {time.time():.6f} {session.review_clock.seconds:.6f}", flush=True)
        else:
            do_op(session, n)
            print(f"done {n} {time.time():.6f}", flush=True)
        n += 1
        if time.monotonic() - last_tick >= TICK_S:
            autosaver.tick()
            last_tick = time.monotonic()
        time.sleep(0.005)


if __name__ == "__main__":
    main(*sys.argv[1:3])
