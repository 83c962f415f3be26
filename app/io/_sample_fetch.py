"""Fetch sample data from the package registry with pip, without installing anything.

Two downloads feed :mod:`app.io.samples`:

* the pyradiomics 3.0.1 **source distribution** (hash-pinned ``pip download --no-binary``), whose
  ``data/`` folder is unpacked by :func:`_extract_data`;
* a hash-pinned **wheel** (nilearn, see :mod:`app.io._sample_mni152`), from which
  :func:`extract_wheel_members` copies a few named files.

Nothing is installed and no downloaded code is imported or run. Extraction refuses links,
absolute names and ``..``; it writes into a staging folder (:func:`_staging`) that is renamed into
place at the end (:func:`_publish`), so an interrupted fetch leaves nothing half-written. pip runs
as a subprocess polled for cancellation and a timeout (:func:`_run`). Any thread may call these.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError

log = logging.getLogger(__name__)

SDIST_NAME = "pyradiomics"
SDIST_VERSION = "3.0.1"
#: sha256 of ``pyradiomics-3.0.1.tar.gz`` as published on PyPI; pip refuses any other file.
SDIST_SHA256 = "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"
PIP_TIMEOUT_S = 600.0
_MAX_MEMBER_BYTES = 200 * 1024 * 1024

#: ``(python, dest, requirements) -> argv`` of a pip download (see :func:`pip_download_command`).
PipCommand = Callable[[str, Path, Path], list[str]]


class SampleFetchError(MedwsIOError):
    """The real sample data could not be downloaded or unpacked."""


def _sub(ctx: TaskContext, lo: float, hi: float) -> TaskContext:
    """Return a context mapping [0, 1] progress onto [lo, hi] of ``ctx``."""

    def report(fraction: float, message: str) -> None:
        ctx.report(lo + (hi - lo) * max(0.0, min(1.0, fraction)), message)

    return TaskContext(report=report, is_cancelled=ctx.is_cancelled)


@contextlib.contextmanager
def _staging(root: Path, prefix: str) -> Iterator[Path]:
    """Yield a fresh temporary folder inside ``root``; it is removed unless renamed away."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=root))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, target: Path) -> None:
    """Rename a finished staging folder into place, replacing an incomplete old one."""
    if target.exists():
        shutil.rmtree(target)
    os.chmod(tmp, 0o755)  # mkdtemp made it private; the cache is the user's ordinary folder
    os.rename(tmp, target)


# ----------------------------------------------------------------------------- pyradiomics sdist
def pip_download_command(python: str, dest: Path, requirements: Path) -> list[str]:
    """Return the pip command that saves the pyradiomics sdist into ``dest`` without installing it.

    ``--no-binary`` forces the sdist; ``--no-build-isolation`` lets pip prepare its metadata with
    the build tools of ``python`` (numpy, setuptools) instead of failing in an isolated build
    environment; the requirements file pins the version and its sha256.
    """
    return [
        python,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        SDIST_NAME,
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        "--requirement",
        str(requirements),
    ]


def _run(cmd: list[str], *, ctx: TaskContext, timeout_s: float, what: str, log_path: Path) -> None:
    """Run ``cmd`` with polling for cancel and timeout; raise SampleFetchError on failure."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    start = time.monotonic()
    with open(log_path, "wb") as out:
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            raise SampleFetchError(cmd[0], f"cannot run pip: {exc}") from None
        try:
            while proc.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed > timeout_s:
                    raise SampleFetchError(what, f"timed out after {timeout_s:.0f} s")
                # pip prints no parsable progress without a TTY: show time passing.
                ctx.step(1.0 - math.exp(-elapsed / 20.0), f"samples: {what} ({elapsed:.0f} s)")
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-1:]
        raise SampleFetchError(what, f"pip exited with {proc.returncode}: {errors[-1] if errors else ''}")


def _build_python(staging: Path, *, ctx: TaskContext, timeout_s: float, log_path: Path) -> str:
    """Return a Python whose environment has numpy and setuptools for pip's metadata step.

    This interpreter when it has them; otherwise a throwaway venv inside ``staging`` (deleted with
    it after the download) gets them from the registry.
    """
    if all(importlib.util.find_spec(m) is not None for m in ("numpy", "setuptools")):
        return sys.executable
    env_dir = staging / "build-env"
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    log.info("creating a throwaway build environment in %s", env_dir)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SampleFetchError(env_dir, f"cannot create a build environment: {exc}") from None
    _run(
        [str(python), "-m", "pip", "install", "numpy", "setuptools", "wheel", "versioneer"],
        ctx=ctx,
        timeout_s=timeout_s,
        what="installing build tools",
        log_path=log_path,
    )
    return str(python)


def _data_member(name: str) -> PurePosixPath | None:
    """Return the path below ``data/`` of an sdist member, or None when it is outside or unsafe."""
    path = PurePosixPath(name)
    parts = path.parts
    if path.is_absolute() or len(parts) < 3 or parts[:2] != (f"{SDIST_NAME}-{SDIST_VERSION}", "data"):
        return None
    rel = parts[2:]
    if any(p in ("", ".", "..") or "\\" in p or ":" in p for p in rel):
        return None
    return PurePosixPath(*rel)


def _extract_data(sdist: Path, target: Path, *, ctx: TaskContext = NULL_CONTEXT) -> int:
    """Copy the regular files under ``data/`` of ``sdist`` to ``target`` atomically.

    Links, devices, absolute names and ``..`` are skipped; nothing is written outside a staging
    folder next to ``target``, which is renamed to ``target`` at the end. Returns the file count.
    """
    count = 0
    with _staging(target.parent, "extract") as tmp:
        try:
            with tarfile.open(sdist, "r:*") as tar:
                members = tar.getmembers()
                for i, member in enumerate(members):
                    rel = _data_member(member.name)
                    if rel is None or not member.isfile():
                        continue
                    if member.size > _MAX_MEMBER_BYTES:
                        raise SampleFetchError(sdist, f"member too large: {member.name}")
                    out = tmp.joinpath(*rel.parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    if src is None:
                        continue
                    with src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    count += 1
                    ctx.step(i / max(1, len(members)), f"samples: unpacking {rel.name}")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SampleFetchError(sdist, f"cannot unpack: {exc}") from None
        if not any(tmp.glob("*.nrrd")):
            raise SampleFetchError(sdist, "no data/*.nrrd files in the archive")
        _publish(tmp, target)
    return count


def _fetch_data(
    target: Path, *, ctx: TaskContext, timeout_s: float, command: PipCommand = pip_download_command
) -> None:
    """Download the sdist with pip and unpack its ``data/`` folder to ``target`` (``root/pyradiomics-data``).

    ``command`` builds the pip call; :mod:`app.io.samples` passes its ``pip_download_command``.
    """
    with _staging(target.parent, "download") as tmp:
        log_path = tmp / "pip.log"
        python = _build_python(tmp, ctx=_sub(ctx, 0.0, 0.2), timeout_s=timeout_s, log_path=log_path)
        requirements = tmp / "requirements.txt"
        requirements.write_text(f"{SDIST_NAME}=={SDIST_VERSION} --hash=sha256:{SDIST_SHA256}\n", encoding="utf-8")
        dest = tmp / "dist"
        cmd = command(python, dest, requirements)
        log.info("downloading %s %s sdist with pip", SDIST_NAME, SDIST_VERSION)
        _run(
            cmd,
            ctx=_sub(ctx, 0.2, 0.8),
            timeout_s=timeout_s,
            what="downloading the pyradiomics sdist",
            log_path=log_path,
        )
        sdists = sorted(dest.glob(f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"))
        if not sdists:
            raise SampleFetchError(dest, "pip reported success but saved no sdist")
        n = _extract_data(sdists[0], target, ctx=_sub(ctx, 0.8, 1.0))
        log.info("unpacked %d sample files into %s", n, target)


# ----------------------------------------------------------------------------- wheels
def wheel_download_command(python: str, dest: Path, requirements: Path) -> list[str]:
    """Return the pip command that saves a hash-pinned wheel into ``dest`` without installing it.

    ``--only-binary :all:`` means pip never builds (or runs) anything; ``--no-deps`` keeps it to
    the one file the requirements file pins.
    """
    return [
        python,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        "--requirement",
        str(requirements),
    ]


def download_wheel(
    name: str, version: str, sha256: str, dest: Path, *, ctx: TaskContext, timeout_s: float, log_path: Path
) -> Path:
    """Download the wheel ``name==version`` (pinned to ``sha256``) into ``dest``; return its path.

    Raises
    ------
    SampleFetchError
        pip failed, timed out, or saved no matching wheel.
    Cancelled
        When ``ctx`` asks to stop (pip is killed).
    """
    requirements = dest / "requirements.txt"
    dest.mkdir(parents=True, exist_ok=True)
    requirements.write_text(f"{name}=={version} --hash=sha256:{sha256}\n", encoding="utf-8")
    log.info("downloading the %s %s wheel with pip", name, version)
    cmd = wheel_download_command(sys.executable, dest / "dist", requirements)
    _run(cmd, ctx=ctx, timeout_s=timeout_s, what=f"downloading the {name} wheel", log_path=log_path)
    wheels = sorted((dest / "dist").glob(f"{name}-{version}-*.whl"))
    if not wheels:
        raise SampleFetchError(dest, f"pip reported success but saved no {name} wheel")
    return wheels[0]


def extract_wheel_members(wheel: Path, members: dict[str, str], target: Path) -> None:
    """Copy the named ``members`` of ``wheel`` (a zip) to ``target / members[name]``.

    Only the exact member names asked for are read, and each lands under a file name chosen by
    the caller (a bare name, no folders), so nothing in the archive decides where bytes go: no
    path traversal, links or absolute names are possible. Sizes are capped; ``zipfile`` checks
    each member's CRC while reading.

    Raises
    ------
    SampleFetchError
        A member is missing, too large or corrupt, or the archive is not a zip.
    """
    for out_name in members.values():
        if PurePosixPath(out_name).name != out_name or out_name in ("", ".", ".."):
            raise ValueError(f"not a bare file name: {out_name!r}")
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name, out_name in members.items():
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    raise SampleFetchError(wheel, f"no {name} in the wheel") from None
                if info.is_dir() or info.file_size > _MAX_MEMBER_BYTES:
                    raise SampleFetchError(wheel, f"member too large or not a file: {name}")
                with archive.open(info) as src, open(target / out_name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise SampleFetchError(wheel, f"cannot unpack: {exc}") from None
