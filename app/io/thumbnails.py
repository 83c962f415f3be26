"""Series thumbnails for the study browser: middle slice, automatic window, cached on disk as PNG.

A thumbnail is the middle file (middle frame of a multi-frame file) of a series in slice order,
rescaled to HU/units, windowed to its 1st–99th percentile, shrunk by area averaging to at most
:data:`THUMB_PX` pixels on its long side and stored as an 8-bit grey PNG in the cache folder. The
cache key hashes the SeriesInstanceUID with every file's path, modification time and size, so a
changed or re-imported series gets a new thumbnail and a stale one is never shown.

Pure numpy + pydicom + zlib (no Qt, no VTK). Any thread may call these functions; the GUI runs
:func:`series_thumbnail` in a ``Job``. Files are written atomically. Patient tags never reach
the log or the error messages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError

if TYPE_CHECKING:
    from app.io.study_index import StudyIndex

log = logging.getLogger(__name__)

#: Longest side of a thumbnail in pixels.
THUMB_PX = 64
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def thumbnail_dir() -> Path:
    """The thumbnail cache folder (``cache_dir()/thumbnails``), created when missing."""
    from app.paths import cache_dir

    path = cache_dir() / "thumbnails"
    path.mkdir(parents=True, exist_ok=True)
    return path


def thumbnail_key(series_uid: str, paths: Sequence[str | os.PathLike[str]]) -> str:
    """Return the cache key: SHA-1 of the series UID and every file's (path, mtime_ns, size)."""
    digest = hashlib.sha1(str(series_uid).encode())
    for path in paths:
        try:
            st = os.stat(path)
            stamp = f"{st.st_mtime_ns}:{st.st_size}"
        except OSError:
            stamp = "missing"
        digest.update(f"\0{os.fspath(path)}\0{stamp}".encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- PNG (8-bit grey)
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png_gray(image: np.ndarray) -> bytes:
    """Encode a ``(rows, cols)`` uint8 array as an 8-bit greyscale PNG (top row first)."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim != 2 or 0 in img.shape:
        raise ValueError(f"expected a non-empty 2-D image, got shape {img.shape}")
    rows, cols = img.shape
    raw = np.hstack([np.zeros((rows, 1), np.uint8), img]).tobytes()  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def decode_png_gray(data: bytes) -> np.ndarray:
    """Decode a PNG written by :func:`encode_png_gray`; ``ValueError`` for anything else or damage."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    pos, header, idat = len(_PNG_SIGNATURE), None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or data[pos + 8 + length:pos + 12 + length] != struct.pack(
                ">I", zlib.crc32(kind + body) & 0xFFFFFFFF):
            raise ValueError("damaged PNG chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or header[2:] != (8, 0, 0, 0, 0):
        raise ValueError("not an 8-bit greyscale PNG")
    cols, rows = header[:2]
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    except zlib.error as exc:
        raise ValueError(f"damaged PNG data: {exc}") from None
    if raw.size != rows * (cols + 1):
        raise ValueError("truncated PNG data")
    lines = raw.reshape(rows, cols + 1)
    if np.any(lines[:, 0] != 0):
        raise ValueError("unsupported PNG row filter")
    return lines[:, 1:].copy()


def write_png_gray(image: np.ndarray, path: Path) -> Path:
    """Write :func:`encode_png_gray` output to ``path`` atomically (temporary file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode_png_gray(image))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# ----------------------------------------------------------------------------- pixels
def _middle_slice(path: Path) -> np.ndarray:
    """Return the middle 2-D frame of one DICOM file as float, rescaled (slope/intercept)."""
    import pydicom

    ds = pydicom.dcmread(path)
    pixels = np.asarray(ds.pixel_array)
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    if samples > 1:  # colour: luminance-ish mean of the channels
        pixels = pixels.mean(axis=-1)
    if pixels.ndim == 3:
        pixels = pixels[pixels.shape[0] // 2]
    image = pixels.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1) or 1) \
        + float(getattr(ds, "RescaleIntercept", 0) or 0)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        image = -image
    return image


def auto_window(image: np.ndarray) -> np.ndarray:
    """Map the 1st–99th percentile of ``image`` to 0–255 (uint8); a flat image becomes mid-grey."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return np.full(image.shape, 128, np.uint8)
    lo, hi = np.percentile(finite, (1.0, 99.0))
    if hi <= lo:
        return np.full(image.shape, 128, np.uint8)
    return (np.clip((image - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def shrink(image: np.ndarray, max_px: int = THUMB_PX) -> np.ndarray:
    """Shrink a 2-D image by area averaging so its long side is at most ``max_px`` (aspect kept)."""
    rows, cols = image.shape
    factor = int(np.ceil(max(rows, cols) / max_px))
    if factor <= 1:
        return image
    r, c = rows // factor * factor, cols // factor * factor
    blocks = image[:r, :c].reshape(r // factor, factor, c // factor, factor)
    return blocks.mean(axis=(1, 3))


def series_thumbnail(series_uid: str, paths: Sequence[str | os.PathLike[str]], cache: Path | None = None, *,
                     max_px: int = THUMB_PX, ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Return the ``(rows, cols)`` uint8 thumbnail of a series, from the cache or made and cached.

    Parameters
    ----------
    series_uid
        SeriesInstanceUID (part of the cache key).
    paths
        The series' files in slice order; the middle one is shown.
    cache
        Cache folder (default :func:`thumbnail_dir`).
    max_px
        Longest side in pixels.

    Raises
    ------
    MedwsIOError
        No files, or the middle file has no readable pixels (one line: ``<file>: <reason>``).
    """
    if not paths:
        raise MedwsIOError(f"series {series_uid}", "no files")
    cache = cache or thumbnail_dir()
    target = cache / f"{thumbnail_key(series_uid, paths)}-{max_px}.png"
    if target.exists():
        try:
            return decode_png_gray(target.read_bytes())
        except (OSError, ValueError):
            log.debug("thumbnail cache entry unreadable; making it again")
    ctx.step(0.1, "thumbnail")
    middle = Path(paths[len(paths) // 2])
    try:
        image = _middle_slice(middle)
    except Exception as exc:  # noqa: BLE001 - any decoder error becomes one line (never a patient tag)
        raise MedwsIOError(middle, f"no thumbnail: {type(exc).__name__}") from None
    if image.ndim != 2 or 0 in image.shape:
        raise MedwsIOError(middle, "no thumbnail: not a 2-D image")
    thumb = auto_window(shrink(image, max_px))
    try:
        write_png_gray(thumb, target)
    except OSError as exc:  # a read-only cache still shows the thumbnail
        log.warning("cannot cache a thumbnail: %s", type(exc).__name__)
    return thumb


def indexed_series_thumbnail(index: StudyIndex, series_uid: str, cache: Path | None = None, *,
                             max_px: int = THUMB_PX, ctx: TaskContext = NULL_CONTEXT) -> tuple[str, np.ndarray]:
    """Return ``(series_uid, thumbnail)`` for a series of the study index (files from :meth:`StudyIndex.instances`).

    Any thread (the index opens one connection per thread); the GUI runs it in a ``Job``.
    """
    return series_uid, series_thumbnail(series_uid, index.instances(series_uid), cache, max_px=max_px, ctx=ctx)


def indexed_thumbnails(index: StudyIndex, series_uids: Sequence[str], cache: Path | None = None, *,
                       on_thumbnail: Callable[[str, np.ndarray], None], max_px: int = THUMB_PX,
                       ctx: TaskContext = NULL_CONTEXT) -> int:
    """Make the thumbnails of several indexed series in turn, handing each to ``on_thumbnail(uid, image)``.

    A series without a readable middle file is skipped (logged without paths). Cancellable between
    series through ``ctx``. Returns how many thumbnails were delivered. Any thread; the calling
    thread's index connection is closed when done (pool threads outlive the job).
    """
    done = 0
    try:
        for i, uid in enumerate(series_uids):
            ctx.step(i / max(1, len(series_uids)), "thumbnails")
            try:
                on_thumbnail(*indexed_series_thumbnail(index, uid, cache, max_px=max_px, ctx=ctx))
                done += 1
            except MedwsIOError as exc:
                log.info("no thumbnail: %s", exc.reason)
    finally:
        index.close()
    return done
