"""A real process is killed with SIGKILL mid-editing; recovery must lose at most ~2 s of edits."""

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

from app.session import has_recoverable_changes, load_session, read_manifest, recover
from app.session.lock import SessionLock
from tests.app.session._edit_driver import build_session, do_op

ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("_edit_driver.py")

#: Edits completed this long before the kill must survive (the issue's "~2 s").
MAX_LOSS_S = 2.0


def _run_and_kill(folder: Path, edit_seconds: float, mode: str = "") -> tuple[list[tuple[int, float]], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    errors = folder.with_suffix(".stderr")
    cmd = [sys.executable, str(DRIVER), str(folder), *([mode] if mode else [])]
    with open(errors, "w") as err, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                                                    text=True) as proc:
        return _drive(proc, errors, edit_seconds)


def _drive(proc: subprocess.Popen, errors: Path, edit_seconds: float) -> tuple[list[tuple[int, float]], float]:
    done: list[tuple[int, float]] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("ready"):
                ready.set()
            elif line.startswith("done"):
                _, n, t = line.split()
                done.append((int(n), float(t)))

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
