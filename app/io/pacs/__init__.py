"""PACS query/retrieve/store over DICOMweb (``dicomweb-client``) and DIMSE (``pynetdicom``).

- :mod:`app.io.pacs.servers`: the server list in settings and its secrets (keyring / env var).
- :mod:`app.io.pacs.client`: ``echo``, ``find_studies``, ``find_series``, ``retrieve``, ``send``.
- :mod:`app.io.pacs.storage`: the managed storage of retrieved instances (``data_dir()/pacs``).
- :mod:`app.io.pacs.dicomweb`, :mod:`app.io.pacs.dimse`: the two protocols.

Network libraries are imported only when a call needs them. No Qt: the GUI runs these functions
in a ``Job`` and passes the job's ``TaskContext``.
"""

from __future__ import annotations

from app.io.pacs._common import (
    PacsError,
    RetrieveResult,
    SendResult,
    SeriesResult,
    StudyQuery,
    StudyResult,
    parse_date_range,
)
from app.io.pacs.client import echo, find_series, find_studies, retrieve, send
from app.io.pacs.servers import PacsServer, get_server, load_servers

__all__ = [
    "PacsError",
    "PacsServer",
    "RetrieveResult",
    "SendResult",
    "SeriesResult",
    "StudyQuery",
    "StudyResult",
    "echo",
    "find_series",
    "find_studies",
    "get_server",
    "load_servers",
    "parse_date_range",
    "retrieve",
    "send",
]
