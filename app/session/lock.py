"""One writer per session folder: ``lock.json`` holds the PID, host and start time of the owner.

:meth:`SessionLock.acquire` creates the lock with a hard link from a complete temporary file (the
link either appears whole or fails because a lock exists). An existing lock is *stale*, and taken
over, when it names this host and its PID is gone (or now belongs to a process started after the
lock was written: a reused PID). A live lock raises :class:`SessionLockedError` with a one-line
message; the caller may then open the session read-only (:func:`app.session.load_session` takes no
lock). Locks of other hosts are never taken over automatically (the PID cannot be checked).
Any thread may call these functions.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.io.errors import MedwsIOError

__all__ = ["LOCK_NAME", "SessionLock", "SessionLockedError", "lock_owner", "owner_is_alive"]

LOCK_NAME = "lock.json"
#: Age (s) after which a breaker file of a process killed while breaking a stale lock is ignored.
_BREAKER_EXPIRY_S = 10.0


class SessionLockedError(MedwsIOError):
    """The session folder is being edited by another live MedWS instance."""

    def __init__(self, folder: str | os.PathLike[str], owner: dict[str, Any]) -> None:
        self.owner = owner
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(owner.get("started_at", 0))))
        super().__init__(
            folder,
            f"locked by MedWS pid {owner.get('pid')} on {owner.get('host')} since {since}; "
            "open it read-only, or close that instance",
        )


def _process_start_time(pid: int) -> float | None:
    """Unix start time of ``pid`` from /proc (Linux); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def owner_is_alive(owner: dict[str, Any]) -> bool:
    """True unless the lock owner is provably gone (same host, dead or reused PID; unreadable lock)."""
    if not owner:
        return False  # lock.json appears whole (hard link of a complete file): garbage is nobody's lock
    if owner.get("host") != socket.gethostname():
        return True
    try:
        pid = int(owner["pid"])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's process
        pass
    except (KeyError, TypeError, ValueError, OverflowError):
        return False  # unreadable lock content: nobody can own it
    started = _process_start_time(pid)
    # a process that started well after the lock was written reuses the PID of a dead owner
    return not (started is not None and started > float(owner.get("started_at", 0)) + 2.0)


def lock_owner(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the content of ``folder``'s lock ({} when unreadable), or None when unlocked."""
    try:
        return json.loads(Path(folder, LOCK_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


@dataclass
class SessionLock:
    """A held lock on a session folder; :meth:`release` (or the context manager) removes it."""

    folder: Path
    owner: dict[str, Any]

    @classmethod
    def acquire(cls, folder: str | os.PathLike[str]) -> SessionLock:
        """Lock ``folder`` for this process, taking over a stale lock.

        Raises
        ------
        SessionLockedError
            Another live instance holds the lock.
        MedwsIOError
            The folder cannot be written (read-only medium, permissions).
        """
        folder = Path(folder)
        try:
            return cls._acquire(folder)
        except OSError as exc:
            raise MedwsIOError(folder, f"cannot lock ({exc.strerror or exc})") from None

    @classmethod
    def _acquire(cls, folder: Path) -> SessionLock:
        folder.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time(), "app": "medws"}
        path = folder / LOCK_NAME
        tmp = folder / f".lock.{os.getpid()}.{time.monotonic_ns()}.tmp"
        tmp.write_text(json.dumps(me), encoding="utf-8")
        try:
            for _attempt in range(200):
                try:
                    os.link(tmp, path)
                    return cls(folder, me)
                except FileExistsError:
                    pass
                owner = lock_owner(folder)
                if owner is None:
                    continue  # released meanwhile
                if owner.get("pid") == me["pid"] and owner.get("host") == me["host"]:
                    return cls(folder, owner)  # this process already holds it
                if owner_is_alive(owner):
                    raise SessionLockedError(folder, owner)
                cls._break_stale(folder, owner)
            raise SessionLockedError(folder, lock_owner(folder) or {})
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _break_stale(folder: Path, owner: dict[str, Any]) -> None:
        """Remove a stale lock, if it is still the same one, while holding the breaker file.

        Only one process at a time may break a lock (``O_EXCL`` on ``.lock.break``), and it removes
        ``lock.json`` only if its content is still ``owner``: a fresh lock written by a faster
        process is never removed. A breaker left by a process killed while breaking expires.
        """
        breaker = folder / ".lock.break"
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - breaker.stat().st_mtime > _BREAKER_EXPIRY_S:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            time.sleep(0.01)
            return
        try:
            if lock_owner(folder) == owner:
                Path(folder, LOCK_NAME).unlink(missing_ok=True)
        finally:
            os.close(fd)
            breaker.unlink(missing_ok=True)

    @property
    def held(self) -> bool:
        """True while ``lock.json`` still names this process."""
        owner = lock_owner(self.folder)
        return bool(owner) and owner.get("pid") == self.owner["pid"] and owner.get("host") == self.owner["host"]

    def release(self) -> None:
        """Remove the lock if this process still holds it (idempotent)."""
        if self.held:
            Path(self.folder, LOCK_NAME).unlink(missing_ok=True)

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
