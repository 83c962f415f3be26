"""Worklists: file format, per-reader status, next case, CLI, and stats over a worklist."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.session.worklist import Worklist, WorklistError
from tests.app.session._review_project import make_project


def test_create_set_next_per_reader(tmp_path):
    wl = Worklist.create(tmp_path / "wl.json", ["lung1", "brain1", str(tmp_path)], name="demo")
    assert [c.id for c in wl.cases] == ["case-001", "case-002", "case-003"]
    assert wl.cases[2].input == str(tmp_path.resolve())
    assert wl.next_case("alice").id == "case-001"
    wl.set_status("case-001", "in_progress", "alice")
    assert wl.next_case("alice").id == "case-001"  # resume what is in progress
    assert wl.next_case("alice", after="case-001").id == "case-002"
    wl.set_status("2", "done", "alice")  # by position
    assert wl.next_case("alice", after="case-001").id == "case-003"
    assert wl.next_case("bob").id == "case-001" and wl.cases[0].status("bob") == "not_started"
    again = Worklist.load(tmp_path / "wl.json")  # every change is saved
    rec = again.cases[1].readers["alice"]
    assert rec["status"] == "done" and rec["done_at"] and rec["updated_at"]
    assert again.counts("alice") == {"not_started": 1, "in_progress": 1, "done": 1} and again.name == "demo"
    for c in ("case-001", "case-003"):
        again.set_status(c, "done", "alice")
    assert again.next_case("alice") is None and again.next_case("alice", after="case-003") is None


def test_bad_worklists_are_clear_errors(tmp_path):
    Worklist.create(tmp_path / "wl.json", ["lung1"])
    with pytest.raises(WorklistError, match="already exists"):
        Worklist.create(tmp_path / "wl.json", ["lung1"])
    wl = Worklist.load(tmp_path / "wl.json")
    with pytest.raises(WorklistError, match="unknown status"):
        wl.set_status("case-001", "maybe")
    with pytest.raises(WorklistError, match="no case"):
        wl.find("case-009")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WorklistError, match="unreadable"):
        Worklist.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(WorklistError, match="not a medws-worklist"):
        Worklist.load(tmp_path / "other.json")


def test_cli_create_list_next_set(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MEDWS_READER", "carol")
    path = str(tmp_path / "wl.json")
    assert main(["worklist", "create", path, "lung1", "brain1"]) == 0
    assert "2 cases" in capsys.readouterr().out
    assert main(["worklist", "next", path, "--start"]) == 0
    assert capsys.readouterr().out.split()[0] == "case-001"
    assert main(["worklist", "set", path, "case-001", "done"]) == 0
    capsys.readouterr()
    assert main(["worklist", "list", path, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["reader"] == "carol" and [c["status"] for c in listing["cases"]] == ["done", "not_started"]
    assert main(["worklist", "list", path, "--reader", "dave"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("0 in progress, 0 done")
    assert main(["worklist", "set", path, "2", "done"]) == 0
    capsys.readouterr()
    assert main(["worklist", "next", path]) == 1
    assert main(["worklist", "list", str(tmp_path / "missing.json")]) == 2
    assert "no such worklist" in capsys.readouterr().err


def test_worklist_of_session_folders_feeds_stats(tmp_path, capsys):
    make_project(tmp_path / "project")
    folders = [str(tmp_path / "project" / n) for n in ("case-a.medws", "case-b.medws")]
    wl = Worklist.create(tmp_path / "wl.json", folders)
    assert wl.cases[0].study_uid == "1.2.826.0.1.1" and wl.cases[0].input == "/nonexistent/a.nii.gz"
    assert main(["stats", str(tmp_path / "wl.json"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["case"] for c in out["cases"]] == ["case-001", "case-002"] and out["aggregate"]["proposals"] == 5
