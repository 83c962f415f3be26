"""Edit a synthetic session without pause, with an Autosaver running, until killed.

Run as ``python tests/app/session/_edit_driver.py FOLDER [slow-compaction]`` from the repository
root. Prints
``ready`` once autosaving started, then ``done <n> <unix time>`` after each completed operation n
(a brush stroke through LabelVolume.paint in a coalescing transaction, an undo, a box or a
segment status change). The test imports :func:`build_session` and :func:`do_op` to recompute the
expected state after any number of operations. The GUI's QTimer is replaced by a tick every
``TICK_S`` seconds between operations.
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


def _slow_down_saves() -> None:
    """Make every save spend ~0.4 s between writing its files and committing (a kill lands inside)."""
    from app.session import folder as folder_mod

    write_json = folder_mod.atomic_write_json

    def slow(*args, **kwargs):
        time.sleep(0.2)
        return write_json(*args, **kwargs)

    folder_mod.atomic_write_json = slow


def main(folder: str, mode: str = "") -> None:
    """Edit until killed; ``mode`` "slow-compaction" compacts at every tick, slowly."""
    from app.session import Autosaver

    session = build_session()
    compact_interval_s = 1.0
    if mode == "slow-compaction":
        _slow_down_saves()
        compact_interval_s = 0.0
    autosaver = Autosaver(session, folder, fsync_interval_s=1.0, compact_interval_s=compact_interval_s).start()
    print("ready", flush=True)
    last_tick, n = time.monotonic(), 0
    while True:
        do_op(session, n)
        print(f"done {n} {time.time():.6f}", flush=True)
        n += 1
        if time.monotonic() - last_tick >= TICK_S:
            autosaver.tick()
            last_tick = time.monotonic()
        time.sleep(0.005)


if __name__ == "__main__":
    main(*sys.argv[1:3])
