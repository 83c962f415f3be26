"""Session folders: save, reopen, autosave (journal), crash recovery and the edit lock.

A session keeps the annotations of one study; the source images are referenced (UIDs, paths)
and never copied or modified.

Format (``format_version`` 1)
-----------------------------
A session is a folder ``<name>.medws/``, by default ``app.paths.data_dir()/sessions/
study-<sha256(StudyInstanceUID)[:16]>.medws`` (no patient data in names); sessions saved
elsewhere are registered in ``data_dir()/sessions/registry/<uid>.json`` so
:func:`find_session_for` finds them. Contents::

    session.json                  manifest and commit point (replaced atomically)
    save-000007/                  the committed save generation (never modified once committed)
        seg-0.seg.nrrd            segmentation 0: single-layer 3D Slicer .seg.nrrd, reference grid
        annotations.json          boxes, findings, measurements, originals of proposals, review time
        proposals.npz             bit-packed original masks of proposed segments (only when there are some)
    journal.wal                   autosave write-ahead log (binary; see app.session.journal)
    lock.json                     {"pid", "host", "started_at", "app"} of the editing instance

``session.json`` (UTF-8 JSON, sorted keys, indented):

* ``format`` = ``"medws-session"``, ``format_version`` (int), ``uid`` (hex, stable across saves),
  ``name``, ``created_at`` / ``saved_at`` (ISO 8601 UTC), ``app`` (``name``, ``version``).
* ``generation`` (int, +1 per save) and ``data``: the folder of the committed save.
* ``study``: ``{"study_uid"}``. ``sources``: one entry per source image series:
  ``series_uid``, ``study_uid``, ``frame_of_reference_uid``, ``series_number``, ``description``,
  ``source_path`` (DICOM folder or volume file), ``format``, ``name``, ``modality`` and
  ``geometry`` (``shape_zyx``, ``spacing_zyx_mm``, ``origin_lps_mm``, ``direction``: LPS, full
  float precision). No patient tags.
* ``segmentations``: per label volume ``key`` (``seg-<index>``), ``file`` (relative path),
  ``name``, ``dtype`` (uint8/uint16), ``geometry`` (as above; the .seg.nrrd must lie on it),
  ``reference_source`` (index in ``sources`` of the image with the same grid, or null) and
  ``label_table``: the ``medws-label-table`` JSON (``labels``: ``id``, ``name``, ``color_rgb``
  0-255, ``category`` / ``type`` codes, ``status`` of the segment) extended per label with
  ``visible``, ``locked`` and ``provenance`` (null or as below). The table in ``session.json``
  wins over the ``Segment{N}_*`` fields of the .seg.nrrd, which are written for other tools.
* ``annotations``: relative path of ``annotations.json``; ``counts`` (for listings).
* ``journal``: null, or ``{"file": "journal.wal", "id", "applied_seq"}``: the journal with that id
  continues this save; its records with ``seq`` > ``applied_seq`` are not in the save yet.

``annotations.json``: ``boxes`` (``id``, ``lps_min`` / ``lps_max`` in LPS mm, ``label_id``,
``kind`` "2d"/"3d", ``orientation``, ``confidence``, ``note``, ``provenance``), ``findings``
(``id``, ``label``, ``level``, ``target``, ``value``, ``confidence``, ``note``, ``provenance``),
``measurements`` (list of objects, kept as they are). ``provenance``: ``source`` ("manual" or
"model@version"), ``parameters``, ``created_by``, ``created_at``, ``edited_by``, ``edited_at``
(Unix seconds UTC) and the review ``status`` (manual, proposed, accepted, edited, rejected).
``annotations.json`` has its own ``version`` (absent = 1): version 2 adds ``originals`` (the
original of every model proposal: boxes and findings as above, segments as a bit-packed mask of
their bounding box in ``proposals.npz``), ``proposal_masks`` (that file's name, or null) and
``review`` (``active_seconds``); see :mod:`app.session._review_codec`. Version-1 files load with
no originals and zero review time.

Journal records (JSON header ``t``, ``seq``, optional binary blob): ``labels`` (``seg``, ``box``
``[[z0, z1], [y0, y1], [x0, x1]]`` voxel indices, ``dtype``, ``shape``; blob: the box's values
after the edit in C order, ``codec`` "zlib" when compressed), ``seg_new`` (a new segmentation:
``name``, ``dtype``, ``geometry``, ``label_table``), ``segment`` (``seg``, ``id``, ``segment``:
the table entry, null when removed), ``box_put`` / ``finding_put`` (``item``), ``box_del`` /
``finding_del`` (``id``), ``source`` (``ref``), ``original`` (a new original of a model proposal,
as in ``annotations.json`` ``originals`` without ``mask``; a segment's bit-packed mask is the blob,
zlib-compressed), ``original_del`` (``ref``), ``review`` (``active_seconds``: the review clock,
journaled with the other records of a tick, else at most every ``review_interval_s``), and
``commit`` closing each autosave tick: recovery replays up to the last ``commit`` only, so it
restores the exact state of one tick. Label records hold whole boxes of new values and the others
whole values, so replaying is idempotent and undo/redo need no special records. Journals from
before ``original`` / ``review`` existed replay as they did.

Atomicity: a save writes ``.save-NNNNNN.tmp-PID/``, fsyncs it, renames it to ``save-NNNNNN/``
and then replaces ``session.json`` (temp + fsync + rename + folder fsync). Until that last
rename the previous save is in force; leftovers are removed by the next save.

Versioning and migration: ``format_version`` changes only when a reader of the previous version
would misread a file. Fields may be added without a change (readers ignore unknown keys and
journal record types, with a warning). A reader refuses a newer version with a clear error and
upgrades an older one in memory through ``folder._MIGRATIONS[v]`` (v -> v+1, one step at a time);
the next save writes the current version.

Usage (GUI thread)::

    folder = find_session_for(study_uid=uid, image_path=path) or default_session_folder(session)
    lock = SessionLock.acquire(folder)           # SessionLockedError -> offer load_session (read-only)
    session = recover(folder) if has_recoverable_changes(folder) else load_session(folder)
    autosaver = Autosaver(session, folder, lock=lock).start()
    # QTimer every 500 ms: autosaver.tick(); File > Save: autosaver.save(); quit: autosaver.close()

Exporting a session: :func:`app.session.cases.export_cases` returns the ``ExportCase`` objects that
:func:`app.io.export.export` takes. CLI: ``medws session list | info FOLDER | recover FOLDER``.
"""

from __future__ import annotations

from app.session.autosave import Autosaver
from app.session.folder import (
    FORMAT_VERSION,
    SessionFormatError,
    default_session_folder,
    discard_journal,
    find_session_for,
    load_session,
    read_manifest,
    save_as,
    save_session,
    sessions_root,
)
from app.session.lock import SessionLock, SessionLockedError
from app.session.recovery import has_recoverable_changes, recover

__all__ = [
    "FORMAT_VERSION", "Autosaver", "SessionFormatError", "SessionLock", "SessionLockedError",
    "default_session_folder", "discard_journal", "find_session_for", "has_recoverable_changes", "load_session",
    "read_manifest", "recover", "save_as", "save_session", "sessions_root",
]
