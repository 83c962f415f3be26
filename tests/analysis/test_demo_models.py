"""Detection and classification runners, and the two built-in demonstration models.

Runner tests use tiny hand-made networks (no weights); the built-in model tests load the shipped
state dicts through the registry (``torch.load(weights_only=True)``) and run on a small phantom.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from analysis.infer import loading
from analysis.infer.classify import axial_thumbnails, classify, slice_indices
from analysis.infer.detect import Detection, boxes_from_probability, detect, prepare_volume
from analysis.infer.manifest import parse_manifest
from analysis.infer.run import DEFAULT_RUNNERS, run_model
from app.models import available_models, builtin_models_dir

DETECTOR, CLASSIFIER = "lung-nodule-demo", "scan-type-demo"
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


class _ThresholdNet:
    """Logit +20 where the (normalised) input exceeds 0.5, -20 elsewhere: boxes = bright objects."""

    def __call__(self, x):
        return (x > 0.5).float() * 40.0 - 20.0


class _FixedLogits:
    """Classifier stand-in: the same logits for every thumbnail."""

    def __init__(self, logits):
        self.logits = logits

    def __call__(self, x):
        import torch

        return torch.tensor(self.logits, dtype=torch.float32).repeat(x.shape[0], 1)


def _det_manifest(tmp_path, spacing=(5.0, 2.5, 2.5), orientation="LPS"):
    data = {"name": "t-det", "version": "1", "task": "detection", "labels": {"1": "thing"},
            "input": {"spacing_zyx_mm": list(spacing), "orientation": orientation,
                      "normalisation": {"kind": "none"}},
            "patch_size_zyx": [16, 32, 32],
            "weights": {"format": "state_dict", "path": "model.pt", "architecture": "analysis.infer.nets:HeatmapNet3D"},
            "detection": {"threshold": 0.5, "min_score": 0.5, "min_volume_mm3": 1.0}}
    return parse_manifest(data, tmp_path)


def test_default_runners_cover_every_task():
    assert set(DEFAULT_RUNNERS) == {"segmentation", "detection", "classification"}


@pytest.mark.parametrize("direction", [IDENTITY, (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0),
                                       (0, 1.0, 0, 1.0, 0, 0, 0, 0, 1.0)])
def test_detect_maps_boxes_back_to_the_input_grid(tmp_path, direction):
    """A bright cuboid on a 1 mm grid, a 5/2.5/2.5 mm model grid, flipped or transposed axes: the box comes back."""
    image = np.zeros((60, 80, 80), np.float32)
    image[20:40, 30:50, 10:30] = 1.0
    manifest = _det_manifest(tmp_path)
    found = detect(manifest, image, (1.0, 1.0, 1.0), direction, net=_ThresholdNet())
    assert len(found) == 1
    (d,) = found
    assert isinstance(d, Detection) and d.label_id == 1 and 0.5 < d.score <= 1.0
    for a, (lo, hi) in enumerate([(20, 40), (30, 50), (10, 30)]):
        assert abs(d.start_zyx[a] - lo) <= 3 and abs(d.stop_zyx[a] - hi) <= 3, (a, d)
    assert json.loads(json.dumps(d.to_dict()))["score"] == round(d.score, 4)


def test_detect_tiles_a_volume_larger_than_the_patch_and_reports_progress(tmp_path):
    image = np.zeros((40, 100, 100), np.float32)
    image[5:10, 10:20, 10:20] = 1.0
    image[30:38, 70:90, 60:80] = 1.0
    seen = []
    from analysis._task import TaskContext

    ctx = TaskContext(report=lambda f, m: seen.append(f))
    found = detect(_det_manifest(tmp_path, spacing=(1.0, 1.0, 1.0)), image, (1.0, 1.0, 1.0), IDENTITY,
                   net=_ThresholdNet(), ctx=ctx)
    assert sorted((d.start_zyx, d.stop_zyx) for d in found) == [((5, 10, 10), (10, 20, 20)), ((30, 70, 60),
                                                                                               (38, 90, 80))]
    assert seen[-1] == 1.0 and len(seen) > 4


def test_detect_cancels_between_tiles(tmp_path):
    from analysis._task import Cancelled, TaskContext

    calls = []
    ctx = TaskContext(is_cancelled=lambda: len(calls) > 2, report=lambda f, m: calls.append(f))
    with pytest.raises(Cancelled):
        detect(_det_manifest(tmp_path, spacing=(1.0, 1.0, 1.0)), np.zeros((40, 100, 100), np.float32),
               (1.0, 1.0, 1.0), IDENTITY, net=_ThresholdNet(), ctx=ctx)


def test_boxes_from_probability_filters_by_score_and_size():
    prob = np.zeros((10, 20, 20), np.float32)
    prob[1:4, 1:5, 1:5] = 0.9
    prob[6:8, 10:12, 10:12] = 0.55  # below min_score
    prob[9, 19, 19] = 0.99  # too small
    boxes = boxes_from_probability(prob, (1.0, 1.0, 1.0), threshold=0.5, min_score=0.6, min_volume_mm3=4.0)
    assert boxes == [((1, 1, 1), (4, 5, 5), pytest.approx(0.9))]


def test_prepare_volume_resamples_over_the_same_extent():
    prep = prepare_volume(np.zeros((48, 512, 512), np.int16), (5.0, 0.57, 0.57), IDENTITY, (5.0, 2.5, 2.5))
    assert prep.volume.shape == (48, 117, 117) and prep.volume.dtype == np.float32
    assert prep.canonical_shape_zyx == (48, 512, 512)


def test_classify_returns_probabilities_in_label_order(tmp_path):
    data = {"name": "t-cls", "version": "1", "task": "classification", "labels": {"2": "b", "1": "a", "3": "c"},
            "input": {"normalisation": {"kind": "minmax"}},
            "weights": {"format": "state_dict", "path": "model.pt",
                        "architecture": "analysis.infer.nets:SliceClassifier2D"}}
    manifest = parse_manifest(data, tmp_path)
    probs = classify(manifest, np.random.default_rng(0).normal(size=(10, 30, 40)), (2.0, 1.0, 1.0), IDENTITY,
                     net=_FixedLogits([0.0, 2.0, 0.0]))
    assert list(probs) == ["a", "b", "c"]
    assert sum(probs.values()) == pytest.approx(1.0) and max(probs, key=probs.get) == "b"
    with pytest.raises(ValueError, match="classification"):
        classify(_det_manifest(tmp_path), np.zeros((4, 8, 8)), (1, 1, 1), IDENTITY, net=_FixedLogits([0.0]))


def test_thumbnails_keep_aspect_and_cover_the_field_of_view():
    vol = np.zeros((3, 40, 80), np.float32)
    vol[:, :, :40] = 1.0  # left half of the image bright
    thumbs = axial_thumbnails(vol, (1.0, 1.0, 1.0), [0, 2], size=32, pad_value=-1.0)
    assert thumbs.shape == (2, 32, 32)
    assert thumbs[0, 16, 4] == pytest.approx(1.0, abs=0.05) and thumbs[0, 16, 28] == pytest.approx(0.0, abs=0.05)
    assert thumbs[0, 1, 16] == pytest.approx(-1.0)  # 80 × 40 mm in a square: padding above and below
    idx = slice_indices(100, 5, 0.8)
    assert len(idx) == 5 and idx[0] == 10 and idx[-1] == 89 and np.all(np.diff(idx) > 0)
    assert list(slice_indices(3, 16)) == [0, 1, 2]


# ------------------------------------------------------------------ the shipped demonstration models
@pytest.mark.parametrize("name,task", [(DETECTOR, "detection"), (CLASSIFIER, "classification")])
def test_demo_model_is_registered_small_documented_and_pickle_free(name, task):
    import torch

    manifest = available_models()[name]
    assert manifest.task == task and manifest.weights_format == "state_dict"
    assert manifest.architecture.startswith("analysis.infer.nets:")
    assert "not for clinical use" in manifest.description.lower()
    folder = builtin_models_dir() / name
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8").lower()
    assert "not for clinical use" in card and "held-out" in card
    assert manifest.weights_file.stat().st_size < 5 * 1024 * 1024
    state = torch.load(str(manifest.weights_file), weights_only=True)  # plain tensors only
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loading.clear_cache()
    net = loading.load_network(manifest)
    assert type(net).__name__ == manifest.architecture.split(":")[1] and not net.training


def test_demo_detector_finds_a_phantom_lesion_quickly():
    from analysis.phantom import make_ct_phantom

    ct, labels, _ = make_ct_phantom((48, 128, 128), (5.0, 2.5, 2.5), seed=7)
    t = time.perf_counter()
    found = run_model(available_models()[DETECTOR], ct, (5.0, 2.5, 2.5), IDENTITY)
    assert time.perf_counter() - t < 30
    assert found and all(isinstance(d, Detection) for d in found)
    assert all(0 <= s < e <= n for d in found for s, e, n in zip(d.start_zyx, d.stop_zyx, ct.shape, strict=True))
    assert all(0.0 <= d.score <= 1.0 for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    lesion = labels == 6
    hits = [d for d in found if lesion[tuple(slice(s, e) for s, e in zip(d.start_zyx, d.stop_zyx, strict=True))].any()]
    assert hits, found


def test_demo_classifier_calls_a_phantom_ct_chest():
    from analysis.phantom import make_ct_phantom

    ct, _, _ = make_ct_phantom((64, 200, 200), (2.5, 1.5, 1.5), seed=3)
    probs = run_model(available_models()[CLASSIFIER], ct, (2.5, 1.5, 1.5), IDENTITY)
    assert set(probs) == {"CT chest", "MR brain", "MR breast"}
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(probs, key=probs.get) == "CT chest"
