"""Findings vocabulary: the shipped demo set, user overrides, and one-line errors for bad files."""

from __future__ import annotations

import json

import pytest

from app.model.annotations import FINDING_LEVELS, Finding
from app.model.vocabulary import (
    DEFAULT_PATH,
    VocabularyError,
    default_vocabulary,
    load_vocabulary,
    vocabulary_path,
)
from app.session._codec import finding_from_dict, finding_to_dict


def test_shipped_default_is_valid_and_covers_every_level():
    vocab = load_vocabulary(DEFAULT_PATH)
    assert {e.level for e in vocab.entries} == set(FINDING_LEVELS)
    shortcuts = [e.shortcut for e in vocab.entries if e.shortcut]
    assert len(shortcuts) == len(set(shortcuts)) >= 5
    normal = next(e for e in vocab.entries if e.value == "normal")
    assert normal.title == "study: normal"
    assert normal.code is not None and normal.code.scheme == "SCT"


def test_entry_makes_a_manual_finding_with_its_code(tmp_path):
    vocab = load_vocabulary(DEFAULT_PATH)
    entry = next(e for e in vocab.for_level("box") if e.value == "suspicious")
    finding = entry.finding("box123", note="RUL")
    assert (finding.label, finding.value, finding.level, finding.target) == ("nodule", "suspicious", "box", "box123")
    assert finding.provenance.status == "manual"
    normal = next(e for e in vocab.entries if e.value == "normal").finding()
    assert normal.code == "SCT^17621005^Normal"
    assert finding_from_dict(json.loads(json.dumps(finding_to_dict(normal)))) == normal


def test_old_finding_records_without_code_still_load():
    record = finding_to_dict(Finding(label="study", value="normal"))
    del record["code"]
    assert finding_from_dict(record).code == ""


def test_user_file_and_environment_override(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDWS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.delenv("MEDWS_VOCABULARY", raising=False)
    assert vocabulary_path() == DEFAULT_PATH
    user = tmp_path / "cfg" / "vocabulary.json"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(json.dumps({"format": "medws-finding-vocabulary", "version": 1, "name": "mine",
                                "entries": [{"label": "pneumothorax", "value": "present", "shortcut": "Alt+P"}]}))
    assert default_vocabulary().name == "mine"
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"format": "medws-finding-vocabulary", "version": 1,
                               "entries": [{"label": "fracture", "level": "series"}]}))
    monkeypatch.setenv("MEDWS_VOCABULARY", str(env))
    vocab = default_vocabulary()
    assert [e.title for e in vocab.entries] == ["fracture"] and vocab.entries[0].level == "series"


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"version": 1, "entries": []}), "not a medws-finding-vocabulary file"),
    (json.dumps({"format": "medws-finding-vocabulary", "version": 2, "entries": []}), "unsupported vocabulary version"),
    (json.dumps({"format": "medws-finding-vocabulary", "version": 1, "entries": []}), "non-empty list"),
    (json.dumps({"format": "medws-finding-vocabulary", "version": 1, "entries": [{"value": "x"}]}), "'label'"),
    (json.dumps({"format": "medws-finding-vocabulary", "version": 1,
                 "entries": [{"label": "a", "level": "pixel"}]}), "level 'pixel'"),
    (json.dumps({"format": "medws-finding-vocabulary", "version": 1,
                 "entries": [{"label": "a", "code": {"scheme": "SCT"}}]}), "'code' needs"),
    (json.dumps({"format": "medws-finding-vocabulary", "version": 1,
                 "entries": [{"label": "a", "shortcut": "Alt+1"}, {"label": "b", "shortcut": "Alt+1"}]}),
     "shortcut Alt+1 used by both"),
])
def test_bad_files_give_one_line_errors(tmp_path, content, reason):
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with pytest.raises(VocabularyError) as err:
        load_vocabulary(path)
    message = str(err.value)
    assert reason in message and str(path) in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(VocabularyError, match="cannot read"):
        load_vocabulary(tmp_path / "absent.json")
