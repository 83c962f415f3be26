"""``medws stats`` on a constructed project with known Dice / IoU / box IoU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.cli import main
from tests.app.session._review_project import make_project


def test_stats_json_has_the_known_numbers(tmp_path, capsys):
    expected = make_project(tmp_path / "project")
    assert main(["stats", str(tmp_path / "project"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    a, b = out["cases"]
    assert (a["case"], b["case"]) == ("case-a", "case-b")
    assert a["mean_dice"] == pytest.approx(expected["dice_a"]) and a["mean_iou"] == pytest.approx(expected["iou_a"])
    assert a["voxels_edited"] == expected["voxels_a"] and a["mean_box_iou"] == pytest.approx(0.5)
    assert a["label_changes"] == 2 and a["statuses"] == {"edited": 3} and a["time_s"] == 300
    assert b["mean_dice"] == 1.0 and b["mean_box_iou"] == 0.0 and b["voxels_edited"] == 0
    assert b["statuses"] == {"accepted": 1, "rejected": 1} and b["manual"] == 1 and b["label_changes"] == 0
    agg = out["aggregate"]
    assert agg["cases"] == 2 and agg["proposals"] == 5
    assert agg["dice"]["mean"] == pytest.approx((expected["dice_a"] + 1) / 2)
    assert agg["box_iou"]["mean"] == pytest.approx(0.25) and agg["box_iou"]["n"] == 2
    assert agg["time_s"]["total"] == 400 and agg["time_s"]["median"] == 200
    assert agg["label_changes"]["total"] == 2 and agg["voxels_edited"]["total"] == expected["voxels_a"]


def test_stats_table_in_a_subprocess(tmp_path):
    expected = make_project(tmp_path / "project")
    run = subprocess.run([sys.executable, "-m", "app.cli", "stats", str(tmp_path / "project")],
                         capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["case", "props", "acc"]
    assert lines[2].split()[0] == "case-a" and f"{expected['dice_a']:.3f}" in lines[2] and "300s" in lines[2]
    assert lines[5].split()[0] == "ALL" and "400s" in lines[5]
    assert lines[6].startswith("median per proposal: Dice")


def test_stats_bad_project_is_one_line(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such project" in err
    (tmp_path / "empty").mkdir()
    assert main(["stats", str(tmp_path / "empty")]) == 2
    assert "no readable session folders" in capsys.readouterr().err
