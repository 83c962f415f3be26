"""Save and load session folders (see :mod:`app.session` for the format).

A save is a *generation*: every file of the save goes into ``.save-NNNNNN.tmp-PID/``, which is
fsynced and renamed to ``save-NNNNNN/``; then ``session.json`` is replaced atomically to point at
it. That replacement is the commit: a crash before it leaves the previous save in force, a crash
after it leaves the new one. Older generations and leftovers of interrupted saves are removed
after the commit (and by the next save).

Thread rules: :func:`snapshot_session` reads the model and must run on the thread that edits it
(the GUI thread); :func:`write_snapshot`, :func:`load_session` and :func:`find_session_for` may
run on any thread. :func:`save_session` does both, so it runs on the GUI thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.io.errors import MedwsIOError
from app.io.seg_nrrd import read_seg_nrrd, write_seg_nrrd
from app.model.geometry import Geometry
from app.model.labels import LabelVolume
from app.model.session import Session
from app.paths import data_dir
from app.session import _codec, _review_codec
from app.session._atomic import atomic_write_json, fsync_dir, fsync_tree, read_json
from app.session.lock import SessionLockedError, lock_owner, owner_is_alive

__all__ = [
    "FORMAT", "FORMAT_VERSION", "JOURNAL_NAME", "MANIFEST_NAME", "SUFFIX", "SessionFormatError", "SessionSnapshot",
    "default_session_folder", "discard_journal", "find_session_for", "known_sessions", "load_session",
    "read_manifest", "save_as", "save_session", "sessions_root", "set_journal", "snapshot_session", "write_snapshot",
]

log = logging.getLogger(__name__)

FORMAT = "medws-session"
FORMAT_VERSION = 1
SUFFIX = ".medws"
MANIFEST_NAME = "session.json"
JOURNAL_NAME = "journal.wal"
ANNOTATIONS_NAME = "annotations.json"
_SAVE_RE = re.compile(r"^save-(\d{6})$")
#: Serialises commits of this process (autosave compaction vs. an explicit Save).
_COMMIT_LOCK = threading.Lock()
#: ``_MIGRATIONS[v]`` turns a version-``v`` manifest into version ``v + 1`` (none yet).
_MIGRATIONS: dict[int, Any] = {}


class SessionFormatError(MedwsIOError):
    """``session.json`` is missing, unreadable, from a newer MedWS, or names missing files."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------- snapshot (GUI thread)
@dataclass
class SessionSnapshot:
    """A consistent copy of what a save writes, detached from the live model.

    ``segmentations`` holds ``(entry, array, geometry, table)`` per segmentation; arrays are
    private copies (safe to write from another thread).
    """

    uid: str
    study_uid: str | None
    sources: list[dict[str, Any]]
    segmentations: list[tuple[dict[str, Any], np.ndarray, Geometry, Any]] = field(default_factory=list)
    annotations: dict[str, Any] = field(default_factory=dict)
    proposal_masks: dict[str, np.ndarray] = field(default_factory=dict)  # packed original proposals (read-only)


def _source_refs(session: Session) -> list[dict[str, Any]]:
    """Refs of the loaded images merged with the stored ones (kept when the pixels are not loaded)."""
    refs = [dict(r) for r in session.sources]
    for image in session.images:
        ref = _codec.image_ref(image)
        same = next((r for r in refs if (ref.get("series_uid") and r.get("series_uid") == ref.get("series_uid"))
                     or (ref.get("source_path") and r.get("source_path") == ref.get("source_path"))), None)
        if same is None:
            refs.append(ref)
        else:
            same.update({k: v for k, v in ref.items() if k not in same})
    return refs


def snapshot_session(session: Session) -> SessionSnapshot:
    """Copy what a save needs out of ``session``. GUI thread only (reads the live model)."""
    sources = _source_refs(session)
    study_uid = session.study_uid or next((r["study_uid"] for r in sources if r.get("study_uid")), None)
    snap = SessionSnapshot(session.uid, study_uid, sources)
    for index, labels in enumerate(session.segmentations):
        ref = next((n for n, r in enumerate(sources) if "geometry" in r
                    and _codec.geometry_from_dict(r["geometry"]).same_grid(labels.geometry)), None)
        entry = {"key": f"seg-{index}", "name": labels.name, "dtype": str(labels.array.dtype),
                 "geometry": _codec.geometry_to_dict(labels.geometry), "reference_source": ref,
                 "label_table": _codec.table_to_dict(labels.table)}
        snap.segmentations.append((entry, labels.array.copy(), labels.geometry, _copy_table(labels)))
    snap.annotations = {
        "boxes": [_codec.box_to_dict(b) for b in session.boxes],
        "findings": [_codec.finding_to_dict(f) for f in session.findings],
        "measurements": [dict(m) for m in session.measurements],
    }
    originals, snap.proposal_masks = _review_codec.originals_to_records(session.original_proposals)
    snap.annotations.update(version=_review_codec.ANNOTATIONS_VERSION, originals=originals,
                            review={"active_seconds": float(session.review_clock.seconds)},
                            proposal_masks=_review_codec.MASKS_NAME if snap.proposal_masks else None)
    return snap


def _copy_table(labels: LabelVolume) -> Any:
    return _codec.table_from_dict(_codec.table_to_dict(labels.table))


# ---------------------------------------------------------------------------- writing (any thread)
def _check_lock(folder: Path) -> None:
    owner = lock_owner(folder)
    if owner and not (owner.get("pid") == os.getpid() and owner.get("host") == _hostname()) and owner_is_alive(owner):
        raise SessionLockedError(folder, owner)


def _hostname() -> str:
    return socket.gethostname()


def _clean_generations(folder: Path, keep: str) -> None:
    for child in folder.iterdir():
        if child.is_dir() and child.name != keep and (_SAVE_RE.match(child.name) or child.name.startswith(".save-")):
            shutil.rmtree(child, ignore_errors=True)


def write_snapshot(snapshot: SessionSnapshot, folder: str | os.PathLike[str], *,
                   journal: dict[str, Any] | None = None) -> Path:
    """Write ``snapshot`` as the next save generation of ``folder`` and commit it.

    Parameters
    ----------
    snapshot
        From :func:`snapshot_session`.
    folder
        The session folder (created when missing).
    journal
        ``{"id": journal_id, "applied_seq": S}`` when an autosave journal continues after this save
        (records with seq <= S are in it); None makes the save authoritative and deletes any journal.

    Raises
    ------
    SessionLockedError
        Another live MedWS instance holds the folder's lock.
    SessionFormatError
        ``folder`` holds a ``session.json`` this MedWS cannot read (newer format): left alone.
    MedwsIOError
        ``folder`` holds another session (different uid), or the save could not be written; the
        previous save is still in force.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _COMMIT_LOCK:
        _check_lock(folder)
        # an unreadable or newer session.json raises: never overwrite what this MedWS cannot read
        previous = read_manifest(folder) if (folder / MANIFEST_NAME).exists() else None
        if previous is not None and previous.get("uid") != snapshot.uid:
            raise MedwsIOError(folder, "holds another session; choose another folder (Save As)")
        generation = int(previous["generation"]) + 1 if previous else 1
        data_name = f"save-{generation:06d}"
        tmp = folder / f".{data_name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            segs = []
            for entry, array, geometry, table in snapshot.segmentations:
                name = f"{entry['key']}.seg.nrrd"
                write_seg_nrrd(tmp / name, array, geometry, table)
                segs.append({**entry, "file": f"{data_name}/{name}"})
            if snapshot.proposal_masks:
                with open(tmp / _review_codec.MASKS_NAME, "wb") as fh:
                    np.savez_compressed(fh, **snapshot.proposal_masks)
            atomic_write_json(tmp / ANNOTATIONS_NAME, {"format": "medws-annotations", **snapshot.annotations})
            fsync_tree(tmp)
            shutil.rmtree(folder / data_name, ignore_errors=True)  # left by a save killed before its commit
            os.replace(tmp, folder / data_name)
            fsync_dir(folder)
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "uid": snapshot.uid,
                "name": folder.name.removesuffix(SUFFIX),
                "created_at": previous.get("created_at", _now_iso()) if previous else _now_iso(),
                "saved_at": _now_iso(),
                "app": {"name": "medws", "version": _app_version()},
                "generation": generation,
                "data": data_name,
                "study": {"study_uid": snapshot.study_uid},
                "sources": snapshot.sources,
                "segmentations": segs,
                "annotations": f"{data_name}/{ANNOTATIONS_NAME}",
                "counts": {"segmentations": len(segs), "boxes": len(snapshot.annotations.get("boxes", [])),
                           "findings": len(snapshot.annotations.get("findings", []))},
                "journal": None if journal is None else {"file": JOURNAL_NAME, **journal},
            }
            atomic_write_json(folder / MANIFEST_NAME, manifest)  # the commit
        except OSError as exc:
            raise MedwsIOError(folder, f"cannot save session ({exc.strerror or exc}); previous save kept") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _clean_generations(folder, data_name)
        if journal is None:
            Path(folder, JOURNAL_NAME).unlink(missing_ok=True)
        _register(folder, manifest)
    return folder


def set_journal(folder: str | os.PathLike[str], journal: dict[str, Any] | None) -> None:
    """Re-commit ``session.json`` of ``folder`` naming another journal (same save generation).

    ``journal`` is ``{"id": ..., "applied_seq": ...}``; None detaches (and deletes) the journal, which
    discards the edits it holds.
    """
    folder = Path(folder)
    with _COMMIT_LOCK:
        _check_lock(folder)
        manifest = read_manifest(folder)
        manifest["journal"] = None if journal is None else {"file": JOURNAL_NAME, **journal}
        atomic_write_json(folder / MANIFEST_NAME, manifest)
        if journal is None:
            Path(folder, JOURNAL_NAME).unlink(missing_ok=True)


def discard_journal(folder: str | os.PathLike[str]) -> None:
    """Drop autosaved edits that were not recovered (the user declined recovery)."""
    set_journal(folder, None)


def save_session(session: Session, folder: str | os.PathLike[str]) -> Path:
    """Save ``session`` to ``folder`` (``<name>.medws``) atomically; an existing journal is dropped.

    With an :class:`~app.session.autosave.Autosaver` running, call its ``save()`` instead (it keeps
    the journal consistent). GUI thread only. Source images are referenced, never copied.
    """
    return write_snapshot(snapshot_session(session), folder)


def save_as(session: Session, folder: str | os.PathLike[str]) -> Path:
    """Save ``session`` to a new folder under a new session uid (the original folder is untouched)."""
    import uuid

    folder = Path(folder)
    if (folder / MANIFEST_NAME).exists():
        raise MedwsIOError(folder, "a session already exists there")
    session.uid = uuid.uuid4().hex
    return save_session(session, folder)


def _app_version() -> str:
    try:
        from importlib.metadata import version

        return version("medws")
    except Exception:
        return "unknown"


# ---------------------------------------------------------------------------- reading (any thread)
def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the committed ``session.json`` of ``folder``, migrated to :data:`FORMAT_VERSION`.

    Raises
    ------
    SessionFormatError
        No session, unreadable JSON, another format, or a version newer than this MedWS reads.
    """
    path = Path(folder, MANIFEST_NAME)
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise SessionFormatError(folder, "no session here (session.json missing)") from None
    except (OSError, ValueError) as exc:
        raise SessionFormatError(path, f"unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SessionFormatError(path, f"not a {FORMAT} manifest")
    version = int(manifest.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise SessionFormatError(path, f"format version {version} is newer than this MedWS reads ({FORMAT_VERSION})")
    while version < FORMAT_VERSION:
        if version not in _MIGRATIONS:
            raise SessionFormatError(path, f"no migration from format version {version}")
        manifest = _MIGRATIONS[version](manifest)
        version = int(manifest["format_version"])
    return manifest


def _read_segmentation(folder: Path, entry: dict[str, Any]) -> LabelVolume:
    geometry = _codec.geometry_from_dict(entry["geometry"])
    seg = read_seg_nrrd(folder / entry["file"])
    if not seg.geometry.same_grid(geometry):
        raise SessionFormatError(folder / entry["file"], "grid differs from session.json")
    if seg.layers.shape[0] == 1:
        array = np.array(seg.layers[0], dtype=np.dtype(entry.get("dtype", seg.layers.dtype)), copy=True)
    else:
        array = seg.to_label_volume(geometry).array
    return LabelVolume(geometry, _codec.table_from_dict(entry["label_table"]), name=entry.get("name", ""),
                       array=array)


def load_session(folder: str | os.PathLike[str], *, load_images: bool = False) -> Session:
    """Load the last committed save of ``folder`` into a new :class:`Session` (no journal replay).

    Takes no lock: this is also the read-only open. ``load_images`` re-opens the source images
    named by ``source_path`` (missing ones are logged and skipped); otherwise the GUI loads them
    from ``session.sources``. Use :func:`app.session.recover` to include autosaved edits.

    Raises
    ------
    SessionFormatError
        See :func:`read_manifest`; also a save file that is missing or does not match.
    """
    folder = Path(folder)
    for attempt in range(3):  # a concurrent save may delete the generation we just read
        manifest = read_manifest(folder)
        try:
            return _load(folder, manifest, load_images)
        except MedwsIOError:
            if attempt == 2 or read_manifest(folder).get("generation") == manifest.get("generation"):
                raise
    raise AssertionError("unreachable")


def _load(folder: Path, manifest: dict[str, Any], load_images: bool) -> Session:
    session = Session()
    session.uid = str(manifest.get("uid") or session.uid)
    session.study_uid = (manifest.get("study") or {}).get("study_uid")
    session.sources = [dict(r) for r in manifest.get("sources", [])]
    if load_images:
        _load_images(session)
    for entry in manifest.get("segmentations", []):
        labels = _read_segmentation(folder, entry)
        session.segmentations.append(labels)
        session.segmentation_added.emit(labels)
    try:
        notes = read_json(folder / manifest["annotations"]) if manifest.get("annotations") else {}
    except (OSError, ValueError) as exc:
        raise SessionFormatError(folder / manifest["annotations"], f"unreadable ({exc})") from None
    for data in notes.get("boxes", []):
        session.boxes.add(_codec.box_from_dict(data))
    for data in notes.get("findings", []):
        session.findings.add(_codec.finding_from_dict(data))
    session.measurements = [dict(m) for m in notes.get("measurements", [])]
    _load_review(folder / manifest["annotations"] if notes else folder, notes, session)
    return session


def _load_review(annotations_path: Path, notes: dict[str, Any], session: Session) -> None:
    """Originals of proposals and review time (``annotations.json`` version 2; absent in version 1)."""
    session.review_clock.seconds = float((notes.get("review") or {}).get("active_seconds", 0.0))
    records = notes.get("originals") or []
    if not records:
        return
    masks_path = annotations_path.parent / str(notes.get("proposal_masks") or _review_codec.MASKS_NAME)
    try:
        if any(r.get("mask") for r in records):
            with np.load(masks_path, allow_pickle=False) as masks:
                originals = _review_codec.originals_from_records(records, masks)
        else:
            originals = _review_codec.originals_from_records(records, {})
    except (OSError, ValueError, KeyError) as exc:
        raise SessionFormatError(masks_path, f"original proposals unreadable ({exc})") from None
    session.original_proposals.update(originals)


def _load_images(session: Session) -> None:
    from app.io.loader import load_path

    for ref in session.sources:
        path = ref.get("source_path")
        if not path or not Path(path).exists():
            log.warning("session source %s is not available", ref.get("name") or ref.get("series_uid") or "?")
            continue
        result = load_path(path)
        uid = ref.get("series_uid")
        match = [i for i in result.images if not uid or i.metadata.get("series_uid") == uid]
        if match:
            session.add_image(match[0], activate=not session.images)


# ---------------------------------------------------------------------------- finding sessions
def sessions_root() -> Path:
    """Default home of session folders: ``app.paths.data_dir()/sessions``."""
    root = data_dir() / "sessions"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_session_folder(session: Session) -> Path:
    """Return ``sessions_root()/<key>.medws``: the key hashes the study UID (no PHI in file names)."""
    study = session.study_uid or next((i.metadata.get("study_uid") for i in session.images
                                       if i.metadata.get("study_uid")), None)
    key = hashlib.sha256((study or session.uid).encode()).hexdigest()[:16]
    return sessions_root() / f"study-{key}{SUFFIX}"


def _register(folder: Path, manifest: dict[str, Any]) -> None:
    """Record a session saved outside :func:`sessions_root` so :func:`find_session_for` sees it."""
    root = sessions_root()
    if folder.resolve().parent == root.resolve():
        return
    pointer = {"folder": str(folder.resolve()), "uid": manifest["uid"], "saved_at": manifest["saved_at"]}
    try:
        atomic_write_json(root / "registry" / f"{manifest['uid']}.json", pointer)
    except OSError as exc:  # the save itself succeeded; finding it later is a convenience
        log.warning("cannot register session (%s)", exc.strerror or exc)


def known_sessions() -> list[Path]:
    """Session folders in :func:`sessions_root` and those registered there that still exist."""
    root = sessions_root()
    found = {p.resolve(): None for p in root.glob(f"*{SUFFIX}") if p.is_dir()}
    for pointer in (root / "registry").glob("*.json"):
        try:
            folder = Path(read_json(pointer)["folder"])
        except (OSError, ValueError, KeyError):
            continue
        if folder.is_dir():
            found.setdefault(folder.resolve(), None)
    return list(found)


def _path_matches(path: Path, source: str) -> bool:
    src = Path(source).resolve()
    return path == src or src in path.parents or path in src.parents


def find_session_for(study_uid: str | None = None, image_path: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the most recently saved session folder of a study (by UID) or source path, or None.

    Looks at ``sessions_root()/*.medws`` and the sessions registered there when saved elsewhere.
    ``image_path`` matches a source path that is equal to it, contains it, or lies inside it.
    """
    path = Path(image_path).resolve() if image_path is not None else None
    best: tuple[str, Path] | None = None
    for folder in known_sessions():
        try:
            manifest = read_manifest(folder)
        except SessionFormatError:
            continue
        hit = bool(study_uid) and (manifest.get("study") or {}).get("study_uid") == study_uid
        if not hit and path is not None:
            hit = any(r.get("source_path") and _path_matches(path, r["source_path"]) for r in manifest["sources"])
        if hit and (best is None or manifest["saved_at"] > best[0]):
            best = (manifest["saved_at"], folder)
    return best[1] if best else None
