from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from analysis._task import Cancelled, TaskContext
from analysis.infer import loading
from analysis.infer.manifest import ManifestError, read_manifest
from analysis.infer.registry import discover
from analysis.infer.segment import segment
from analysis.infer.sliding_window import class_argmax, gaussian_importance, sliding_window_labels, window_starts

THRESHOLD = 100.0

# torch 2.13 deprecates TorchScript creation; MedWS only *loads* TorchScript (MONAI bundles, deepbet).
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class Evil:
    """Stands for any pickled Python object a weights file could smuggle in."""


def _threshold_net():
    """A 1×1×1 conv 'network': class 1 logit = x - THRESHOLD, class 0 logit = 0."""
    import torch

    conv = torch.nn.Conv3d(1, 2, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1, 0] = 1.0
        conv.bias.copy_(torch.tensor([0.0, -THRESHOLD]))
    return torch.jit.script(conv.eval())


def _model_folder(root, name="thresh", **overrides):
    folder = root / name
    folder.mkdir(parents=True)
    _threshold_net().save(str(folder / "model.ts"))
    manifest = {"name": name, "version": "1.2", "task": "segmentation", "modality": "CT",
                "labels": {"1": "bright"}, "weights": {"format": "torchscript", "path": "model.ts"},
                "patch_size_zyx": [16, 16, 16], "overlap": 0.25, "activation": "softmax",
                "licence": "CC0", "citation": "test"}
    manifest.update(overrides)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(autouse=True)
def _fresh_cache():
    loading.clear_cache()
    yield
    loading.clear_cache()


def test_window_starts_cover_the_axis_and_end_flush():
    assert window_starts(10, 16, 0.25) == [0]
    starts = window_starts(100, 32, 0.25)
    assert starts[0] == 0 and starts[-1] == 68 and all(b - a <= 24 for a, b in zip(starts, starts[1:], strict=False))


def test_class_argmax_matches_numpy_argmax_and_keeps_the_first_of_tied_classes():
    import torch

    scores = np.random.default_rng(1).normal(size=(5, 7, 8, 9)).astype(np.float32)
    scores[3, :2] = scores[1, :2]  # ties: the lower class wins, as in numpy and torch
    scores[4, 2:4] = scores[:, 2:4].max(axis=0)
    labels = class_argmax(torch.from_numpy(scores))
    assert labels.dtype == torch.uint8 and np.array_equal(labels.numpy(), np.argmax(scores, axis=0))
    strided = torch.from_numpy(scores)[:, 1:, ::2, 2:7]
    assert np.array_equal(class_argmax(strided).numpy(), np.argmax(strided.numpy(), axis=0))
    many = np.random.default_rng(2).normal(size=(300, 4, 5)).astype(np.float32)
    assert np.array_equal(class_argmax(torch.from_numpy(many)).numpy(), np.argmax(many, axis=0))
    assert class_argmax(torch.zeros((1, 3, 3))).eq(0).all()


@pytest.mark.parametrize(("roi", "overlap"), [((12, 16, 10), 0.5), ((12, 16, 10), 0.25), ((16, 12, 8), 0.75),
                                             ((40, 16, 10), 0.25), ((10, 12, 9), 0.3)])
def test_sliding_window_equals_full_accumulation_reference(roi, overlap):
    """Every box kind (one window, first of several, last of several, in between), overlaps above and
    below one half (a plane shared with both neighbouring slabs: the uncompacted carry), last windows
    shifted less than the others (carry parts of different sizes), and a volume thinner than the window
    (padded)."""
    rng = np.random.default_rng(0)
    vol = rng.normal(size=(1, 37, 41, 29)).astype(np.float32)
    w = rng.normal(size=(3, 1)).astype(np.float32)

    def predict(batch):  # position-dependent so that blending matters
        return np.einsum("oc,bczyx->bozyx", w, batch) + np.cos(np.arange(batch.shape[-1]))

    vol = np.pad(vol, [(0, 0), (0, max(0, roi[0] - 37)), (0, 0), (0, 0)])  # the reference does not pad
    starts = [window_starts(n, r, overlap) for n, r in zip(vol.shape[1:], roi, strict=True)]
    g = gaussian_importance(roi)
    acc = np.zeros((3, *vol.shape[1:]))
    count = np.zeros(vol.shape[1:])
    for z in starts[0]:
        for y in starts[1]:
            for x in starts[2]:
                box = (slice(z, z + roi[0]), slice(y, y + roi[1]), slice(x, x + roi[2]))
                acc[(slice(None), *box)] += predict(vol[(slice(None), *box)][None])[0] * g
                count[box] += g
    reference = np.argmax(acc / count, axis=0)
    assert np.array_equal(sliding_window_labels(vol, predict, roi, 3, overlap=overlap), reference)
    assert np.array_equal(sliding_window_labels(vol, predict, roi, 3, overlap=overlap, batch_size=4), reference)


def test_segment_resamples_reorients_and_returns_labels_on_the_image_grid(tmp_path):
    folder = _model_folder(tmp_path, input={"spacing_zyx_mm": [2.0, 1.0, 1.0], "orientation": "RAS"})
    manifest = read_manifest(folder)
    image = np.zeros((20, 30, 40), np.int16)
    image[5:15, 8:22, 10:30] = 300  # bright block
    direction = (-1, 0, 0, 0, 1, 0, 0, 0, 1)  # x runs to the right: exercises the flips
    labels = segment(manifest, image, (1.0, 1.0, 1.0), direction)
    assert labels.shape == image.shape and labels.dtype == np.uint8
    truth = image > THRESHOLD
    agree = (labels == truth).mean()
    assert agree > 0.98, agree  # only the resampled border may differ
    assert labels[10, 15, 20] == 1 and labels[0, 0, 0] == 0


def test_cancel_mid_inference(tmp_path):
    manifest = read_manifest(_model_folder(tmp_path))
    calls = {"n": 0}

    def cancelled():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        segment(manifest, np.zeros((40, 40, 40), np.int16), (1, 1, 1), (1, 0, 0, 0, 1, 0, 0, 0, 1),
                ctx=TaskContext(is_cancelled=cancelled))


def test_pickled_module_is_refused_with_a_clear_error(tmp_path):
    import torch

    folder = _model_folder(tmp_path)
    torch.save(torch.nn.Conv3d(1, 2, 1), folder / "model.ts")  # a Python pickle of a module
    with pytest.raises(loading.ModelLoadError, match="pickle"):
        loading.load_network(read_manifest(folder))
    (folder / "model.ts").write_bytes(pickle.dumps({"evil": object()}))  # a raw pickle
    with pytest.raises(loading.ModelLoadError, match="pickle"):
        loading.load_network(read_manifest(folder))


def test_state_dict_needs_weights_only_and_a_medws_architecture(tmp_path):
    import torch

    folder = _model_folder(tmp_path, weights={"format": "state_dict", "path": "w.pt",
                                              "architecture": "analysis.infer.nets:Nope"})
    torch.save({"w": torch.zeros(2), "bad": Evil()}, folder / "w.pt")  # an arbitrary object inside
    with pytest.raises(loading.ModelLoadError, match="refused|unknown architecture|No module"):
        loading.load_network(read_manifest(folder))
    with pytest.raises(ManifestError, match="architecture"):
        _model_folder(tmp_path, name="m2", weights={"format": "state_dict", "path": "w.pt",
                                                     "architecture": "os:system"})
        read_manifest(tmp_path / "m2")


def test_discover_reads_manifests_and_monai_bundles_and_skips_broken_ones(tmp_path):
    builtin, user = tmp_path / "builtin", tmp_path / "user"
    _model_folder(builtin, "a")
    _model_folder(user, "a", version="2.0")  # user model shadows the built-in one
    broken = user / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    bundle = user / "spleen_bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    _threshold_net().save(str(bundle / "models" / "model.ts"))
    (bundle / "configs" / "metadata.json").write_text(json.dumps({
        "name": "Spleen CT", "version": "0.5.0", "license": "Apache-2.0",
        "network_data_format": {
            "inputs": {"image": {"num_channels": 1, "spatial_shape": [96, 96, 96]}},
            "outputs": {"pred": {"num_channels": 2, "channel_def": {"0": "background", "1": "spleen"}}}}}))
    (bundle / "configs" / "inference.json").write_text(json.dumps({
        "pre": [{"_target_": "Spacingd", "pixdim": [1.5, 1.5, 2.0]},
                {"_target_": "ScaleIntensityRanged", "a_min": -57, "a_max": 164, "b_min": 0, "b_max": 1}],
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [96, 96, 96], "overlap": 0.5}}))
    models = discover([builtin, user])
    assert sorted(models) == ["Spleen CT", "a"]
    assert models["a"].version == "2.0"
    spleen = models["Spleen CT"]
    assert spleen.labels == {1: "spleen"} and spleen.spacing_zyx_mm == (2.0, 1.5, 1.5)
    assert spleen.normalisation.kind == "ct_window" and spleen.overlap == 0.5 and spleen.orientation == "RAS"
    assert loading.load_network(spleen) is not None


def test_isolated_run_matches_in_process_and_reports_progress(tmp_path):
    from analysis.infer.isolated import run_model_isolated
    from analysis.infer.run import run_model

    manifest = read_manifest(_model_folder(tmp_path))
    image = np.zeros((20, 24, 28), np.int16)
    image[5:15, 6:18, 4:20] = 250
    direction = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    fractions = []
    isolated = run_model_isolated(manifest, image, (1, 1, 1), direction,
                                  ctx=TaskContext(report=lambda f, m: fractions.append(f)))
    assert np.array_equal(isolated, run_model(manifest, image, (1, 1, 1), direction))
    assert fractions and fractions[-1] == pytest.approx(1.0)


def test_isolated_run_errors_and_cancel(tmp_path):
    from analysis.infer.isolated import ModelRunError, run_model_isolated

    folder = _model_folder(tmp_path)
    (folder / "model.ts").write_bytes(b"garbage")
    with pytest.raises(ModelRunError, match="not a TorchScript archive"):
        run_model_isolated(read_manifest(folder), np.zeros((8, 8, 8), np.int16), (1, 1, 1),
                           (1, 0, 0, 0, 1, 0, 0, 0, 1))
    good = read_manifest(_model_folder(tmp_path, name="good"))
    with pytest.raises(Cancelled):
        run_model_isolated(good, np.zeros((64, 64, 64), np.int16), (1, 1, 1), (1, 0, 0, 0, 1, 0, 0, 0, 1),
                           ctx=TaskContext(is_cancelled=lambda: True))


def test_bf16_is_opt_in_and_close_to_fp32_on_a_clear_cut_model(tmp_path):
    """bf16 changes labels where logits are close (11 % on a random-weight UNet, bench/infer.py),
    so fp32 stays the default; on a model with clear margins it agrees to within 1 %."""
    import inspect

    manifest = read_manifest(_model_folder(tmp_path))
    assert inspect.signature(segment).parameters["precision"].default == "fp32"
    rng = np.random.default_rng(0)
    image = rng.normal(100, 300, size=(32, 32, 32)).astype(np.int16)
    direction = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    fp32 = segment(manifest, image, (1, 1, 1), direction)
    bf16 = segment(manifest, image, (1, 1, 1), direction, precision="bf16")
    agreement = float((fp32 == bf16).mean())
    assert agreement > 0.99, agreement
    with pytest.raises(ValueError, match="precision"):
        segment(manifest, image, (1, 1, 1), direction, precision="fp8")


def _unet_like():
    """The ops of MONAI's UNet: strided conv, instance norm, PReLU, skip concatenation, transposed conv."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Sequential(nn.Conv3d(1, 8, 3, stride=2, padding=1), nn.InstanceNorm3d(8), nn.PReLU())
            self.mid = nn.Sequential(nn.Conv3d(8, 16, 3, padding=1), nn.InstanceNorm3d(16), nn.PReLU())
            self.up = nn.ConvTranspose3d(24, 3, 3, stride=2, padding=1, output_padding=1)

        def forward(self, x):
            d = self.down(x)
            return self.up(torch.cat([d, self.mid(d)], 1))

    torch.manual_seed(0)
    return torch.jit.script(Net().eval())


def test_onednn_copy_runs_by_default_agrees_and_leaves_the_loaded_network_alone():
    import torch

    from analysis.infer.predict import SCORE_TOLERANCE, TorchPredictor, onednn_copy, scores_agree

    net = _unet_like()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = onednn_copy(net)
    assert fast is not None and onednn_copy(net) is fast  # cached per network
    graph = str(fast.graph)
    assert "aten::conv3d" not in graph and graph.count("aten::mkldnn_convolution") == 2
    assert "aten::conv_transpose3d" in graph and "aten::contiguous" in graph
    assert "aten::conv3d" in str(net.inlined_graph)  # the loaded network is not rewritten
    batch = np.random.default_rng(5).normal(size=(2, 1, 16, 32, 24)).astype(np.float32)
    with torch.inference_mode():
        exact, candidate = net(torch.from_numpy(batch)), fast(torch.from_numpy(batch))
    assert candidate.is_contiguous(memory_format=torch.channels_last_3d)
    assert scores_agree(candidate.numpy(), exact.numpy(), 1e-5)  # float32 rounding only
    predictor = TorchPredictor(net)
    assert predictor.onednn is None
    first = predictor(batch)
    assert torch.equal(first, exact) and first.is_contiguous()  # the first window: the network as loaded
    assert predictor.onednn is True
    second = predictor(batch)
    assert torch.equal(second, candidate) and second.is_contiguous()
    plain = TorchPredictor(net, onednn=False)
    assert torch.equal(plain(batch), exact) and torch.equal(plain(batch), exact) and plain.onednn is False
    vol = np.random.default_rng(3).normal(size=(1, 40, 56, 48)).astype(np.float32)
    labels = sliding_window_labels(vol, TorchPredictor(net), (16, 32, 32), 3, overlap=0.25)
    reference = sliding_window_labels(vol, TorchPredictor(net, onednn=False), (16, 32, 32), 3, overlap=0.25)
    assert (labels == reference).mean() >= 0.9999
    x = torch.from_numpy(vol[None, :, :16, :32, :32].copy())
    with torch.inference_mode():
        assert scores_agree(fast(x).numpy(), net(x).numpy(), SCORE_TOLERANCE)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].is_contiguous() for k in before)


def test_a_copy_beyond_the_tolerance_is_refused_and_the_original_runs():
    import torch

    from analysis.infer.predict import TorchPredictor, onednn_copy, scores_agree

    ref = np.array([[1.0, -2.0, 3.0]], np.float32)
    assert scores_agree(ref + 3e-3, ref) and not scores_agree(ref + 5e-3, ref) and not scores_agree(ref[:, :2], ref)
    net = _unet_like()
    batch = np.random.default_rng(4).normal(size=(1, 1, 16, 32, 32)).astype(np.float32)
    with torch.inference_mode():
        exact = net(torch.from_numpy(batch))
        diff = (onednn_copy(net)(torch.from_numpy(batch)) - exact).abs().max().item()
    if diff == 0.0:
        pytest.skip("oneDNN copy is bit-identical on this CPU: nothing to refuse")
    strict = TorchPredictor(net, tolerance=0.0)
    strict(batch)
    assert strict.onednn is False
    assert torch.equal(strict(batch), exact)  # later windows run the original network too


def test_onednn_copy_leaves_what_it_cannot_rewrite():
    import torch

    from analysis.infer.predict import TorchPredictor, onednn_copy

    conv = torch.nn.Conv3d(1, 2, 1).eval()
    batch = np.ones((1, 1, 4, 4, 4), np.float32)
    eager = TorchPredictor(conv)
    assert eager(batch).shape == (1, 2, 4, 4, 4) and eager.onednn is False  # eager module: no TorchScript copy
    assert onednn_copy(torch.jit.script(torch.nn.Conv2d(1, 2, 3).eval())) is None  # nothing 3-D to rewrite
    same = torch.jit.script(torch.nn.Conv3d(1, 2, 3, padding="same").eval())
    assert onednn_copy(same) is None  # string padding: another aten::conv3d overload, kept
    bf16 = TorchPredictor(_unet_like(), precision="bf16")
    bf16(np.zeros((1, 1, 8, 8, 8), np.float32))
    assert bf16.onednn is False
    with pytest.raises(ValueError, match="precision"):
        TorchPredictor(conv, precision="fp8")


def test_sliding_window_accepts_tensor_scores_and_batches_and_argmax_keeps_the_lower_class_on_ties():
    import torch

    rng = np.random.default_rng(5)
    vol = rng.normal(size=(1, 30, 20, 25)).astype(np.float32)

    def predict(batch):
        return np.concatenate([batch, -batch, 0.5 * batch], axis=1)

    as_numpy = sliding_window_labels(vol, predict, (12, 12, 12), 3, overlap=0.5)
    as_tensor = sliding_window_labels(vol, lambda b: torch.from_numpy(predict(b)), (12, 12, 12), 3, overlap=0.5)
    batched = sliding_window_labels(vol, predict, (12, 12, 12), 3, overlap=0.5, batch_size=3)
    assert np.array_equal(as_numpy, as_tensor) and np.array_equal(as_numpy, batched)
    tied = np.zeros((3, 2, 2, 2), np.float32)
    tied[2, 0] = 1.0
    assert class_argmax(torch.from_numpy(tied)).tolist() == [[[2, 2], [2, 2]], [[0, 0], [0, 0]]]


def test_default_path_gives_monais_labels():
    """MedWS's default inference (oneDNN copy, box-wise blending) against MONAI's
    sliding_window_inference + argmax, on a MONAI UNet with random weights (as bench/infer.py)."""
    monai = pytest.importorskip("monai")
    import torch
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import UNet

    from analysis.infer.predict import TorchPredictor

    assert monai.__version__
    torch.manual_seed(0)
    net = torch.jit.script(UNet(spatial_dims=3, in_channels=1, out_channels=6, channels=(8, 16, 32),
                                strides=(2, 2)).eval())
    vol = np.random.default_rng(0).normal(size=(1, 45, 70, 52)).astype(np.float32)
    vol[:, :, :20] = 0.0  # a flat region, where instance normalisation amplifies rounding
    roi = (32, 32, 32)
    with torch.inference_mode():
        logits = sliding_window_inference(torch.from_numpy(vol)[None], roi, 1, net, overlap=0.25, mode="gaussian")
    reference = torch.argmax(logits, dim=1)[0].numpy()
    predictor = TorchPredictor(net)
    labels = sliding_window_labels(vol, predictor, roi, 6, overlap=0.25)
    assert predictor.onednn is True
    assert (labels == reference).mean() >= 0.999999
