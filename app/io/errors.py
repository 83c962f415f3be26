"""The documented error types of MedWS IO. Every message is one line: ``<file>: <reason>``."""

from __future__ import annotations

import os


class MedwsIOError(Exception):
    """A file or folder could not be read or written.

    ``str(error)`` is a single line naming the file and the reason; it never contains patient tags.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = " ".join(str(reason).split())  # force one line
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):  # picklable, so worker processes can return it
        return (type(self), (self.path, self.reason))


class DicomFileError(MedwsIOError):
    """One DICOM file is corrupt, truncated, not DICOM, unsupported or unreadable."""


class NoImageError(MedwsIOError):
    """A path held no loadable image series."""
