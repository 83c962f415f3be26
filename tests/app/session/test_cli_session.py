from __future__ import annotations

import json

import numpy as np

from app.cli import main
from app.session import Autosaver, has_recoverable_changes, load_session
from tests.app.session._helpers import make_session


def _crashed_folder(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder).start()
    session.segmentations[0].paint((slice(0, 4), slice(0, 4), slice(0, 4)), None, 2)
    autosaver.flush()
    autosaver._writer.close()  # killed: lock and journal stay
    return folder


def test_session_info_reports_pending_edits_and_the_lock(session, tmp_path, capsys):
    folder = _crashed_folder(session, tmp_path)
    assert main(["session", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["recoverable_records"] == 1 and info["study_uid"] == "1.2.3.4"
    assert info["segmentations"][0]["labels"] == 2 and info["counts"]["boxes"] == 1
    assert main(["session", "info", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "autosaved edits to recover: 1 records" in text and "1 boxes, 1 findings" in text


def test_session_recover_commits_the_journal(session, tmp_path, capsys):
    folder = _crashed_folder(session, tmp_path)
    (folder / "lock.json").unlink()  # the killed instance was this test process: drop its lock
    assert main(["session", "recover", str(folder)]) == 0
    assert "recovered 1 journal records" in capsys.readouterr().out
    assert not has_recoverable_changes(folder)
    assert np.array_equal(load_session(folder).segmentations[0].array, session.segmentations[0].array)
    assert main(["session", "recover", str(folder)]) == 0
    assert "nothing to recover" in capsys.readouterr().out


def test_session_info_on_a_missing_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["session", "info", str(tmp_path / "none.medws")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no session here" in err


def test_session_list_shows_known_sessions(session, tmp_path, capsys):
    from app.session import default_session_folder, save_session

    save_session(session, default_session_folder(session))
    other = make_session()
    other.study_uid = "9.9"
    _crashed_folder(other, tmp_path)
    assert main(["session", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and sum(r["recoverable"] for r in rows) == 1
    assert {r["study_uid"] for r in rows} == {"1.2.3.4", "9.9"}
    assert main(["session", "list"]) == 0
    assert "[autosaved edits to recover]" in capsys.readouterr().out
