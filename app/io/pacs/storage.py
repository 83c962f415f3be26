"""Managed storage of retrieved instances: ``data_dir()/pacs/<server>/<study>/<series>/<sop>.dcm``.

Instances of a series being retrieved are written into a hidden sibling folder
``.<series>.partial/`` (hidden folders are skipped by :func:`app.io.dicom_scan.iter_files`), each
file atomically (temporary name + rename), so a file that exists under its SOP Instance UID is
complete. Only when every instance of the series is present are the files moved into the series
folder and that folder imported into the study index in one transaction: a failed or cancelled
retrieve never leaves a partial series in the index, and the next retrieve skips the instances
already present (resume).

Thread rule: a :class:`SeriesStore` belongs to one retrieve; :meth:`SeriesStore.write` may be called
from a network thread (pynetdicom's SCP handler) while the retrieve thread waits.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError
from app.io.pacs._common import check_uid
from app.paths import data_dir

log = logging.getLogger(__name__)

__all__ = ["SeriesStore", "pacs_root", "series_dir"]


def pacs_root() -> Path:
    """Return the root of the managed PACS storage."""
    return data_dir() / "pacs"


def series_dir(server: str, study_uid: str, series_uid: str) -> Path:
    """Return the managed folder of one series (UIDs are validated: they come from the network)."""
    return pacs_root() / server / check_uid(study_uid, "StudyInstanceUID") / check_uid(series_uid, "SeriesInstanceUID")


def _sop_names(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.name[:-4] for p in folder.iterdir() if p.name.endswith(".dcm") and not p.name.startswith(".")}


class SeriesStore:
    """Collect the instances of one series, then commit them into the managed folder and the index.

    Parameters
    ----------
    server, study_uid, series_uid
        Where the series goes (see :func:`series_dir`).
    """

    def __init__(self, server: str, study_uid: str, series_uid: str) -> None:
        self.final = series_dir(server, study_uid, series_uid)
        self.partial = self.final.with_name(f".{self.final.name}.partial")
        self.bytes_written = 0
        self.written = 0
        self._lock = threading.Lock()

    def present(self) -> set[str]:
        """Return the SOP Instance UIDs already stored (complete files, committed or partial)."""
        return _sop_names(self.final) | _sop_names(self.partial)

    def write(self, sop_instance_uid: str, data: bytes) -> Path:
        """Write one instance's Part-10 bytes atomically into the partial folder; return its path."""
        name = check_uid(sop_instance_uid, "SOPInstanceUID") + ".dcm"
        self.partial.mkdir(parents=True, exist_ok=True)
        path = self.partial / name
        tmp = self.partial / f".{name}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MedwsIOError(path, f"cannot write the retrieved instance ({exc.strerror or exc})") from None
        with self._lock:
            self.bytes_written += len(data)
            self.written += 1
        return path

    def missing(self, expected: set[str]) -> set[str]:
        """Return the SOP Instance UIDs of ``expected`` not yet stored."""
        return set(expected) - self.present()

    def commit(self, index, *, ctx: TaskContext = NULL_CONTEXT) -> Path:  # noqa: ANN001 - StudyIndex
        """Move the partial files into the series folder and import it into ``index``; return the folder.

        Parameters
        ----------
        index
            A :class:`app.io.study_index.StudyIndex`; the import is one transaction.
        ctx
            Progress and cancellation of the import (a cancelled import leaves the index unchanged).
        """
        self.final.mkdir(parents=True, exist_ok=True)
        if self.partial.is_dir():
            for p in self.partial.iterdir():
                if p.name.endswith(".dcm") and not p.name.startswith("."):
                    os.replace(p, self.final / p.name)
            shutil.rmtree(self.partial, ignore_errors=True)
        index.import_folder(self.final, ctx=ctx)
        return self.final

    def copy_to(self, dest: Path) -> Path:
        """Copy the committed series into ``dest/<study>/<series>/``; return that folder."""
        out = Path(dest) / self.final.parent.name / self.final.name
        out.mkdir(parents=True, exist_ok=True)
        for p in self.final.iterdir():
            if p.name.endswith(".dcm") and not p.name.startswith("."):
                target = out / p.name
                tmp = out / f".{p.name}.tmp"
                shutil.copyfile(p, tmp)
                os.replace(tmp, target)
        return out
