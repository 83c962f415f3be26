from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.session import Autosaver, SessionLock, SessionLockedError, load_session, save_session
from tests.app.session._helpers import make_session

ROOT = Path(__file__).resolve().parents[3]
_HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from app.session import SessionLock
lock = SessionLock.acquire(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """Another live process holding the lock of a saved session folder."""
    folder = save_session(make_session(), tmp_path / "held.medws")
    proc = subprocess.Popen([sys.executable, "-c", _HOLD.format(root=str(ROOT)), str(folder)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield folder, proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def _write_lock(folder: Path, **owner) -> None:
    base = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time(), "app": "medws"}
    (folder / "lock.json").write_text(json.dumps({**base, **owner}))


def test_live_lock_is_refused_with_a_one_line_message(holder):
    folder, proc = holder
    with pytest.raises(SessionLockedError) as err:
        SessionLock.acquire(folder)
    message = str(err.value)
    assert "\n" not in message and f"pid {proc.pid}" in message and "read-only" in message
    assert err.value.owner["pid"] == proc.pid


def test_read_only_open_works_while_locked_but_saving_is_refused(holder):
    folder, _ = holder
    session = load_session(folder)  # read-only: takes no lock
    assert session.segmentations
    with pytest.raises(SessionLockedError):
        save_session(session, folder)
    with pytest.raises(SessionLockedError):
        Autosaver(session, folder).start()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    _write_lock(tmp_path, pid=dead_pid, started_at=time.time() - 5)
    with SessionLock.acquire(tmp_path) as lock:
        assert json.loads((tmp_path / "lock.json").read_text())["pid"] == os.getpid()
        assert lock.held
    assert not (tmp_path / "lock.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lock")]


def test_lock_whose_pid_was_reused_by_a_newer_process_is_stale(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.1)
        _write_lock(tmp_path, pid=sleeper.pid, started_at=time.time() - 3600)  # written long before it started
        if not Path(f"/proc/{sleeper.pid}/stat").exists():
            pytest.skip("no /proc: PID reuse cannot be detected")
        SessionLock.acquire(tmp_path).release()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lock_of_another_host_is_never_taken_over(tmp_path):
    _write_lock(tmp_path, pid=1, host="workstation-42")
    with pytest.raises(SessionLockedError, match="workstation-42"):
        SessionLock.acquire(tmp_path)


def test_unreadable_lock_is_stale(tmp_path):
    (tmp_path / "lock.json").write_text("{garbage")
    SessionLock.acquire(tmp_path).release()


def test_acquire_is_reentrant_in_one_process_and_release_is_idempotent(tmp_path):
    lock = SessionLock.acquire(tmp_path)
    again = SessionLock.acquire(tmp_path)
    assert again.owner["pid"] == os.getpid()
    lock.release()
    lock.release()
    again.release()
    assert not (tmp_path / "lock.json").exists()


def test_release_leaves_a_lock_taken_over_by_someone_else(tmp_path):
    lock = SessionLock.acquire(tmp_path)
    _write_lock(tmp_path, pid=1, host="other-host")
    lock.release()
    assert (tmp_path / "lock.json").exists()


_RACE = """
import sys, time
sys.path.insert(0, {root!r})
from app.session import SessionLock, SessionLockedError
while time.time() < {start}:
    time.sleep(0.001)
try:
    lock = SessionLock.acquire(sys.argv[1])
except SessionLockedError:
    print("refused", flush=True)
else:
    print("won", flush=True)
    sys.stdin.read()  # hold the lock until the test has every outcome
    lock.release()
"""


def test_only_one_of_racing_processes_gets_the_lock(tmp_path):
    code = _RACE.format(root=str(ROOT), start=time.time() + 1.0)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    try:
        outcomes = [proc.stdout.readline().strip() for proc in procs]
    finally:
        for proc in procs:
            proc.communicate(timeout=60)
    assert outcomes.count("won") == 1 and outcomes.count("refused") == 5, outcomes


def test_racing_takeover_of_a_stale_lock_has_one_winner(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _write_lock(tmp_path, pid=int(proc.stdout), started_at=time.time() - 5)
    test_only_one_of_racing_processes_gets_the_lock(tmp_path)
