"""The built-in demonstration detector and classifier on the real CT/MR samples, via Python and `medws infer`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from analysis.infer.detect import Detection
from analysis.infer.run import run_model
from app.io.loader import load_first_image
from app.io.samples import get_sample
from app.io.volume_files import read_volume
from app.models import available_models

pytestmark = pytest.mark.network

DETECTOR, CLASSIFIER = "lung-nodule-demo", "scan-type-demo"


def medws(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.main", *args], capture_output=True, text=True, timeout=600)


def _tumour_hit(found, mask: np.ndarray) -> list[Detection]:
    return [d for d in found if mask[tuple(slice(s, e) for s, e in zip(d.start_zyx, d.stop_zyx, strict=True))].any()]


@pytest.mark.parametrize("name", ["lung1", "lung2"])
def test_detector_on_real_lung_ct_is_fast_and_well_formed(real_samples, name):
    image = load_first_image(get_sample(name).path)
    t = time.perf_counter()
    found = run_model(available_models()[DETECTOR], image.array, image.geometry.spacing_zyx_mm,
                      image.geometry.direction)
    assert time.perf_counter() - t < 30
    assert len(found) <= 20
    for d in found:
        assert d.label_id == 1 and 0.0 <= d.score <= 1.0
        assert all(0 <= s < e <= n for s, e, n in zip(d.start_zyx, d.stop_zyx, image.array.shape, strict=True))


@pytest.mark.parametrize("name", ["lung1", "lung2"])
def test_detector_ranks_the_real_tumour_first(real_samples, name):
    """lung2 is held out; lung1's tumour was in the training data (see MODEL_CARD.md), so lung1 checks the pipeline."""
    image = load_first_image(get_sample(name).path)
    mask = read_volume(get_sample(name).mask_path).array > 0
    found = run_model(available_models()[DETECTOR], image.array, image.geometry.spacing_zyx_mm,
                      image.geometry.direction)
    assert found and _tumour_hit(found[:1], mask), found


@pytest.mark.parametrize("name,expected", [("lung1", "CT chest"), ("lung2", "CT chest"), ("brain1", "MR brain"),
                                           ("brain2", "MR brain"), ("breast1", "MR breast")])
def test_classifier_names_the_scan_type_of_each_sample(real_samples, name, expected):
    image = load_first_image(get_sample(name).path)
    t = time.perf_counter()
    probs = run_model(available_models()[CLASSIFIER], image.array, image.geometry.spacing_zyx_mm,
                      image.geometry.direction)
    assert time.perf_counter() - t < 30
    assert set(probs) == {"CT chest", "MR brain", "MR breast"}
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(probs, key=probs.get) == expected, probs


def test_medws_infer_detector_writes_boxes_json(real_samples, tmp_path):
    out = tmp_path / "lung1.boxes.json"
    proc = medws("infer", DETECTOR, "lung1", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["model"] == available_models()[DETECTOR].id and data["task"] == "detection"
    assert "not for clinical use" in data["description"].lower()
    assert data["boxes"], data
    for rank, box in enumerate(data["boxes"], 1):
        assert box["rank"] == rank and box["label"] == "lung_nodule" and box["model"] == data["model"]
        assert 0.0 <= box["score"] <= 1.0
        assert all(a < b for a, b in zip(box["start_zyx"], box["stop_zyx"], strict=True))
        assert all(a <= b for a, b in zip(box["lps_min_mm"], box["lps_max_mm"], strict=True))


def test_medws_infer_classifier_writes_labels_json(real_samples, tmp_path):
    out = tmp_path / "brain1.labels.json"
    proc = medws("infer", CLASSIFIER, "brain1", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["task"] == "classification" and data["model"] == available_models()[CLASSIFIER].id
    assert sum(data["labels"].values()) == pytest.approx(1.0, abs=1e-4)
    assert data["top_label"] == "MR brain" and data["top_probability"] == max(data["labels"].values())


def test_medws_infer_refuses_a_labelmap_path_for_a_detector(real_samples, tmp_path):
    proc = medws("infer", DETECTOR, "lung1", str(tmp_path / "out.nii.gz"))
    assert proc.returncode == 2 and ".json" in proc.stderr
