"""A real process is killed with SIGKILL mid-editing; recovery must lose at most ~2 s of edits,
no original of a model proposal, and review time only within the clock's journal interval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.model.review import SegmentProposal
from app.session import has_recoverable_changes, load_session, read_manifest, recover
from app.session.lock import SessionLock
from tests.app.session._edit_driver import (
    REVIEW_EDIT_OPS,
    REVIEW_INTERVAL_S,
    SHAPE,
    TICK_S,
    build_session,
    do_op,
    do_review_op,
)

ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("_edit_driver.py")

#: Edits completed this long before the kill must survive (the issue's "~2 s").
MAX_LOSS_S = 2.0


def _run_and_kill(folder: Path, edit_seconds: float, mode: str = "") -> tuple[list[tuple], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    errors = folder.with_suffix(".stderr")
    cmd = [sys.executable, str(DRIVER), str(folder), *([mode] if mode else [])]
    with open(errors, "w") as err, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                                                    text=True) as proc:
        return _drive(proc, errors, edit_seconds)


def _drive(proc: subprocess.Popen, errors: Path, edit_seconds: float) -> tuple[list[tuple], float]:
    """Let the driver work ``edit_seconds``, SIGKILL it; return its ``(n, unix time, *extra)`` lines."""
    done: list[tuple] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("ready"):
                ready.set()
            elif line.startswith("done"):
                _, n, *values = line.split()
                done.append((int(n), *map(float, values)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), errors.read_text() or "driver never became ready"
        time.sleep(edit_seconds)
        assert proc.poll() is None, errors.read_text()
        kill_time = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    assert proc.returncode == -signal.SIGKILL
    return done, kill_time


def _recovered_prefix(labels: np.ndarray, boxes: set[str], statuses: list[str], n_done: int) -> int | None:
    """Largest n such that ops 0..n-1 give exactly the recovered state (None: no prefix matches)."""
    expected = build_session()
    match = None
    for n in range(n_done + 1):
        if n:
            do_op(expected, n - 1)
        seg = expected.segmentations[0]
        if (np.array_equal(seg.array, labels) and {b.id for b in expected.boxes} == boxes
                and [s.status for s in seg.table] == statuses):
            match = n
    return match


def test_sigkill_mid_editing_loses_at_most_two_seconds(tmp_path, capsys):
    folder = tmp_path / "killed.medws"
    done, kill_time = _run_and_kill(folder, edit_seconds=3.0)
    assert len(done) > 50, "the driver did not edit continuously"

    # the lock of the killed process is stale: taken over on the same host
    assert json.loads((folder / "lock.json").read_text())["pid"] != os.getpid()
    assert read_manifest(folder)["generation"] >= 2, "no compaction ran while editing (compact_interval_s=1)"
    with SessionLock.acquire(folder):
        session = recover(folder)

    labels = session.segmentations[0]
    n = _recovered_prefix(labels.array, {b.id for b in session.boxes}, [s.status for s in labels.table], len(done))
    assert n is not None, "recovered state is not the state after any whole number of operations"
    completed_at = dict(done)
    must_have = [k for k, t in done if t <= kill_time - MAX_LOSS_S]
    assert n >= len(must_have), f"lost operations completed more than {MAX_LOSS_S} s before the kill"
    lost = [completed_at[k] for k in range(n, len(done))]
    loss_window = kill_time - min(lost) if lost else 0.0
    with capsys.disabled():
        print(f"\nkill test: {len(done)} ops in {done[-1][1] - done[0][1]:.2f} s, recovered {n}, "
              f"lost {len(done) - n} ops = last {loss_window:.2f} s before the kill")
    assert loss_window <= MAX_LOSS_S

    # the recovered file set is consistent: one committed save, no leftovers, no pending journal
    manifest = read_manifest(folder)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["session.json", manifest["data"]] + (["journal.wal"] if "journal.wal" in names else []))
    for entry in manifest["segmentations"]:
        assert (folder / entry["file"]).is_file()
    assert not has_recoverable_changes(folder)
    reopened = load_session(folder)
    assert np.array_equal(reopened.segmentations[0].array, labels.array)
    assert {b.id for b in reopened.boxes} == {b.id for b in session.boxes}


@pytest.mark.parametrize("edit_seconds", [0.3, 1.7])
def test_sigkill_at_other_moments_recovers_a_consistent_prefix(tmp_path, edit_seconds):
    folder = tmp_path / "early.medws"
    done, kill_time = _run_and_kill(folder, edit_seconds=edit_seconds)
    session = recover(folder)
    labels = session.segmentations[0]
    n = _recovered_prefix(labels.array, {b.id for b in session.boxes}, [s.status for s in labels.table], len(done))
    assert n is not None
    assert n >= len([k for k, t in done if t <= kill_time - MAX_LOSS_S])


def test_sigkill_during_a_compaction_recovers_from_the_old_or_the_new_save(tmp_path):
    folder = tmp_path / "compacting.medws"
    done, kill_time = _run_and_kill(folder, edit_seconds=2.6, mode="slow-compaction")
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".save-")]
    session = recover(folder)
    labels = session.segmentations[0]
    n = _recovered_prefix(labels.array, {b.id for b in session.boxes}, [s.status for s in labels.table], len(done))
    assert n is not None
    assert n >= len([k for k, t in done if t <= kill_time - MAX_LOSS_S])
    assert not [p for p in folder.iterdir() if p.name.startswith(".save-")]  # cleaned by the recovery save
    print(f"killed with {leftovers or 'no'} half-written save folder(s); recovered {n} of {len(done)} ops")


def test_sigkill_after_a_model_proposal_keeps_originals_edits_and_review_time(tmp_path, capsys):
    """Proposal lands, the reader edits it (bare paints included), then only reads; killed before any compaction."""
    folder = tmp_path / "review.medws"
    done, kill_time = _run_and_kill(folder, edit_seconds=4.5, mode="review")
    times = {n: t for n, t, _ in done}
    assert len(done) > REVIEW_EDIT_OPS, "the driver never reached the read-only phase"
    assert times[REVIEW_EDIT_OPS - 1] <= kill_time - MAX_LOSS_S, "editing ended too close to the kill"
    assert read_manifest(folder)["generation"] == 1, "a compaction ran: the journal alone must carry the state"
    saved = load_session(folder)
    assert not saved.original_proposals and saved.review_clock.seconds == 0 and len(saved.segmentations) == 1
    with SessionLock.acquire(folder):
        session = recover(folder)

    # originals exactly as proposed (segment masks bit-identical), though every one was edited afterwards
    expected = build_session()
    do_review_op(expected, 0)
    assert set(session.original_proposals) == set(expected.original_proposals)
    assert {r.kind for r in expected.original_proposals} == {"segment", "box"}
    for ref, original in expected.original_proposals.items():
        got = session.original_proposals[ref]
        if isinstance(original, SegmentProposal):
            assert (got.start_zyx, got.shape_zyx, got.voxels) == (original.start_zyx, original.shape_zyx,
                                                                  original.voxels)
            np.testing.assert_array_equal(got.packed, original.packed)
            np.testing.assert_array_equal(got.mask(SHAPE), original.mask(SHAPE))
        else:
            assert got == original
    # every edit made > 2 s before the kill is there, with the statuses it set
    for n in range(1, REVIEW_EDIT_OPS):
        do_review_op(expected, n)
    seg, want = session.segmentations[1], expected.segmentations[1]
    assert np.array_equal(seg.array, want.array)
    assert [s.provenance.status for s in seg.table] == [s.provenance.status for s in want.table] == ["edited"] * 2
    def corners(s):
        return {b.id: (b.lps_min, b.lps_max, b.provenance.status) for b in s.boxes}

    assert corners(session) == corners(expected) and corners(expected)["ai1"][2] == "edited"

    # review time: all but at most one journal interval (+ one tick) of reading is kept
    last_seconds = done[-1][2]
    due = [sec for _, t, sec in done if t <= kill_time - (REVIEW_INTERVAL_S + TICK_S + 0.5)]
    recovered = session.review_clock.seconds
    assert due and recovered >= max(due)
    assert recovered <= last_seconds + 0.1
    with capsys.disabled():
        print(f"\nreview kill test: {len(done)} ops, clock {last_seconds:.2f} s at the last op, recovered "
              f"{recovered:.2f} s (lost {last_seconds - recovered:.2f} s; interval {REVIEW_INTERVAL_S} s, "
              f"tick {TICK_S} s)")
    assert last_seconds - recovered <= REVIEW_INTERVAL_S + TICK_S + 0.5
