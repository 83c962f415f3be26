"""The findings vocabulary: which classification labels a reader can attach, and their shortcuts.

A vocabulary is a JSON file (format ``medws-finding-vocabulary``, version 1)::

    {"format": "medws-finding-vocabulary", "version": 1, "name": "...",
     "entries": [{"label": "nodule", "value": "suspicious", "level": "box",
                  "shortcut": "Alt+6",
                  "code": {"scheme": "SCT", "value": "...", "meaning": "..."}}]}

``level`` is one of :data:`~app.model.annotations.FINDING_LEVELS` (study, series, box, segment);
``value``, ``shortcut`` (a Qt key sequence string, like CVAT's tag shortcuts) and ``code`` (a
coded concept, scheme^value^meaning) are optional. Which file is used: ``$MEDWS_VOCABULARY``, else
``<config dir>/vocabulary.json``, else the demo set shipped in ``resources/vocabularies``.
Any thread (plain data).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.model.annotations import FINDING_LEVELS, Finding, Provenance
from app.paths import config_dir

FORMAT = "medws-finding-vocabulary"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "resources" / "vocabularies" / "default.json"


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class CodedValue:
    """A coded concept (e.g. SNOMED CT): ``scheme`` ("SCT"), ``value`` (code), ``meaning`` (text)."""

    scheme: str
    value: str
    meaning: str


@dataclass(frozen=True)
class VocabularyEntry:
    """One attachable label, e.g. ``nodule: suspicious`` at box level."""

    label: str
    value: str = ""
    level: str = "study"
    shortcut: str = ""
    code: CodedValue | None = None

    @property
    def title(self) -> str:
        """Display text: "label: value" (or just the label)."""
        return f"{self.label}: {self.value}" if self.value else self.label

    def finding(self, target: str | None = None, *, note: str = "") -> Finding:
        """A manual :class:`Finding` of this entry attached to ``target`` (None for study level)."""
        code = f"{self.code.scheme}^{self.code.value}^{self.code.meaning}" if self.code else ""
        return Finding(label=self.label, level=self.level, target=target, value=self.value, note=note,
                       code=code, provenance=Provenance())


@dataclass(frozen=True)
class Vocabulary:
    """A named list of :class:`VocabularyEntry` loaded from ``path``."""

    name: str
    entries: tuple[VocabularyEntry, ...]
    path: Path | None = None

    def for_level(self, level: str) -> list[VocabularyEntry]:
        """Entries attachable at ``level``."""
        return [e for e in self.entries if e.level == level]


def _entry(raw: Any, where: str) -> VocabularyEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("label"), str) or not raw["label"].strip():
        raise VocabularyError(f"{where}: each entry needs a non-empty 'label' string")
    level = raw.get("level", "study")
    if level not in FINDING_LEVELS:
        raise VocabularyError(f"{where}: level {level!r} is not one of {', '.join(FINDING_LEVELS)}")
    code = raw.get("code")
    coded = None
    if code is not None:
        if not isinstance(code, dict) or not all(isinstance(code.get(k), str) for k in ("scheme", "value", "meaning")):
            raise VocabularyError(f"{where}: 'code' needs string 'scheme', 'value' and 'meaning'")
        coded = CodedValue(code["scheme"], code["value"], code["meaning"])
    return VocabularyEntry(label=raw["label"].strip(), value=str(raw.get("value", "")).strip(), level=level,
                           shortcut=str(raw.get("shortcut", "")).strip(), code=coded)


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read and validate a vocabulary file; raises :class:`VocabularyError` with a one-line reason."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VocabularyError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VocabularyError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise VocabularyError(f"{path}: not a {FORMAT} file (missing \"format\": \"{FORMAT}\")")
    if doc.get("version") != 1:
        raise VocabularyError(f"{path}: unsupported vocabulary version {doc.get('version')!r} (expected 1)")
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise VocabularyError(f"{path}: 'entries' must be a non-empty list")
    entries = tuple(_entry(raw, f"{path} entry {i + 1}") for i, raw in enumerate(raw_entries))
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.shortcut:
            if entry.shortcut in seen:
                raise VocabularyError(f"{path}: shortcut {entry.shortcut} used by both {seen[entry.shortcut]!r} "
                                      f"and {entry.title!r}")
            seen[entry.shortcut] = entry.title
    return Vocabulary(name=str(doc.get("name", path.stem)), entries=entries, path=path)


def vocabulary_path() -> Path:
    """The vocabulary file in effect (environment, user config, then the shipped demo set)."""
    env = os.environ.get("MEDWS_VOCABULARY")
    if env:
        return Path(env)
    user = config_dir() / "vocabulary.json"
    return user if user.is_file() else DEFAULT_PATH


def default_vocabulary() -> Vocabulary:
    """Load the vocabulary in effect (see :func:`vocabulary_path`)."""
    return load_vocabulary(vocabulary_path())
