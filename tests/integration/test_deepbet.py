"""The real pretrained deepbet model on the real brain MR samples (no network at run time)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import SimpleITK as sitk

from analysis.infer.run import run_model
from app.io.samples import get_sample
from app.io.volume_files import read_volume
from app.models import available_models

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def deepbet():
    models = available_models()
    assert "deepbet" in models, "the built-in deepbet model must be registered"
    return models["deepbet"]


def test_deepbet_manifest_points_into_the_installed_wheel(deepbet):
    assert deepbet.weights_file.is_file() and "site-packages" in str(deepbet.weights_file)
    assert deepbet.licence.startswith("MIT") and "Fisch" in deepbet.citation


def test_deepbet_extracts_a_plausible_brain_from_brain1(real_samples, deepbet):
    image = read_volume(get_sample("brain1").path)
    mask = run_model(deepbet, image.array, image.geometry.spacing_zyx_mm, image.geometry.direction)
    assert mask.shape == image.array.shape and mask.dtype == np.uint8
    volume_ml = mask.sum() * np.prod(image.geometry.spacing_zyx_mm) / 1000.0
    assert 1000 < volume_ml < 2100, volume_ml  # intracranial volume of an adult
    cc = sitk.ConnectedComponent(sitk.GetImageFromArray(mask))
    assert sitk.GetArrayViewFromImage(cc).max() == 1, "one connected brain"
    # the scalp/skull ring is outside: the mask is smaller than the head (intensity > 5 % of max)
    head = image.array > 0.05 * image.array.max()
    assert mask.sum() < 0.9 * head.sum()
    # the mask is compact and centred in the head
    centre = np.array(np.nonzero(mask)).mean(axis=1)
    head_centre = np.array(np.nonzero(head)).mean(axis=1)
    assert np.all(np.abs(centre - head_centre)[1:] < 15)


def test_deepbet_matches_the_mni152_reference_brain_mask(real_samples, deepbet, capsys):
    info = get_sample("mni152-t1")
    assert info.available, "mni152-t1 not fetched: " + "; ".join(real_samples.notes)
    image, reference = read_volume(info.path), read_volume(info.mask_path)
    assert reference.geometry.same_grid(image.geometry)
    start = time.perf_counter()
    mask = run_model(deepbet, image.array, image.geometry.spacing_zyx_mm, image.geometry.direction)
    seconds = time.perf_counter() - start
    assert mask.shape == image.array.shape
    predicted, truth = mask > 0, reference.array > 0
    dice = 2.0 * np.logical_and(predicted, truth).sum() / (predicted.sum() + truth.sum())
    voxel_ml = float(np.prod(image.geometry.spacing_zyx_mm)) / 1000.0
    volume_ml = predicted.sum() * voxel_ml
    with capsys.disabled():  # the measurement belongs in the test output, also without -s
        print(
            f"\ndeepbet on mni152-t1: Dice {dice:.4f} vs P(GM)+P(WM)>0.5 filled, {seconds:.1f} s on CPU, "
            f"brain {volume_ml:.0f} ml vs reference {truth.sum() * voxel_ml:.0f} ml"
        )
    assert dice >= 0.90, dice


def test_medws_infer_cli_writes_a_labelmap_on_the_input_grid(real_samples, tmp_path):
    out = tmp_path / "brain2_mask.nii.gz"
    src = get_sample("brain2").path
    proc = subprocess.run([sys.executable, "-m", "ui.main", "infer", "deepbet", str(src), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    labels, image = read_volume(out), read_volume(src)
    assert labels.geometry.same_grid(image.geometry)
    assert set(np.unique(labels.array)) == {0, 1}


def test_models_list_and_unknown_model_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ui.main", "models", "list"], capture_output=True, text=True)
    assert proc.returncode == 0 and "deepbet" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "ui.main", "infer", "nope", "x.nii", str(tmp_path / "o.nii")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown model 'nope'" in proc.stderr
