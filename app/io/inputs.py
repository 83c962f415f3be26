"""Turn what a user typed (a path, ``sample:NAME`` or a bare sample name) into a path."""

from __future__ import annotations

import os
from pathlib import Path

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError

SAMPLE_PREFIX = "sample:"


def resolve_input(spec: str | os.PathLike[str], *, fetch: bool = False, ctx: TaskContext = NULL_CONTEXT) -> Path:
    """Return the path ``spec`` names.

    An existing path wins; otherwise ``sample:NAME`` or a bare name without a slash or dot is
    looked up among the samples (``medws samples list``), fetching them first when ``fetch``
    (network; worker thread or CLI only).

    Raises
    ------
    MedwsIOError
        One line: no such file, or an unknown / unfetched sample.
    """
    text = os.fspath(spec)
    name = text[len(SAMPLE_PREFIX) :] if text.startswith(SAMPLE_PREFIX) else None
    if name is None and os.path.exists(text):
        return Path(text)
    if name is None and (os.sep in text or "." in Path(text).name):
        raise MedwsIOError(text, "no such file or folder")
    from app.io.samples import sample_path

    return Path(sample_path(name or text, fetch=fetch, ctx=ctx))
