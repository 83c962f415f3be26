"""One network call per sliding window; on CPU in fp32 through a oneDNN copy of the network.

:func:`onednn_copy` freezes a copy of a TorchScript network and rewrites its 3-D convolutions:

* every ``aten::conv3d`` becomes ``aten::mkldnn_convolution``. PyTorch's own dispatch sends 3-D
  convolutions whose N·C·D·H is below 20 480 to ``slow_conv3d`` (im2col + GEMM): the bench UNet's first
  (1 → 16 channels on 96³), third (32 → 64 on 24³) and bottom (64 → 128 on 12³) layers. oneDNN runs them
  3.2–4.7× faster (2-core EPYC, 30 calls each: 2.15 → 0.46, 1.48 → 0.47, 4.88 → 1.38 ms median);
* every ``aten::conv_transpose3d`` gets its input made channels-last-3d and its weights stored
  channels-last-3d. oneDNN's channels-first transposed convolution vectorises over output channels and
  wastes most of each vector on a UNet's last layer (6 classes); channels-last it is 1.2–3.4× faster
  (last layer 32 → 6 channels, 48³ → 96³: 17.6–30.8 → 8.9–9.2 ms; 64 → 16 on 24³: 3.0 → 1.9 ms).
  The network's output is then channels-last; :class:`TorchPredictor` makes it contiguous (~3 ms per
  96³ × 6 window: the sliding-window blend of 196 bench windows takes 1.9 s on channels-last scores,
  1.0 s on contiguous ones).

Instance normalisation, activations and concatenations are untouched. The whole bench UNet
(``bench/infer.py``, one 96³ window, 15 interleaved calls, 2-core EPYC): 45.1 ms (min) / 47.9 ms
(median) as loaded, 25.2 / 30.1 ms as the oneDNN copy (38.8 / 42.4 ms for the sub-pixel rewrite of the
last layer this replaced). Scores move by float32 rounding only: 1.5e-6 at most on scores up to ~5
(oneDNN sums the products in another order than ``slow_conv3d``). On the whole bench volume the labels
then differ from MONAI's in 1.4e-5 of the voxels (1 072 of 78.6 M, 95 % of them in air: instance
normalisation of a flat window turns the rounding into near-ties), as much as MONAI's own
``sw_batch_size=2`` differs from its ``sw_batch_size=1`` (1.3e-5); the network as loaded differs in 1e-8.
Whole bench runs (3 alternated): MedWS 6.9 s (forward 5.6 s) vs MONAI 17.9 s; as loaded 8.4 s (7.1 s).

The copy is trusted only after a check: the first window runs through both networks and every score of
the copy must lie within ``tolerance`` × (max |score| + 1) of the original's (``SCORE_TOLERANCE``, 1e-3:
instance normalisation of a nearly flat window amplifies rounding to ~1e-4 relative, exactly as much as
MONAI's own network differs between ``sw_batch_size=1`` and ``2``; a wrong rewrite differs by order 1).
If the copy cannot be built, fails on the first window or fails the check, the original network runs
(logged). ``net`` itself is never modified.

Call from the inference worker thread.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
import weakref

import numpy as np

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
SCORE_TOLERANCE = 1e-3
_CHANNELS_LAST_3D = 3  # c10::MemoryFormat::ChannelsLast3d, as aten::contiguous takes it

_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _constant(value):
    """The value of a graph input that is a prim::Constant; ``_constant`` itself (a sentinel) otherwise."""
    node = value.node()
    return node.output().toIValue() if node.kind() == "prim::Constant" else _constant


def _int_triple(value) -> bool:
    v = _constant(value)
    return isinstance(v, list) and len(v) == 3 and all(isinstance(i, int) for i in v)


def _rewrite_conv3d(graph) -> int:
    """``aten::conv3d`` with constant float weights and int paddings → ``aten::mkldnn_convolution``."""
    import torch

    rewritten = 0
    for node in list(graph.findAllNodes("aten::conv3d")):
        x, w, b, stride, padding, dilation, groups = (node.inputsAt(i) for i in range(7))
        weight = _constant(w)
        if (not isinstance(weight, torch.Tensor) or weight.dtype != torch.float32
                or not all(_int_triple(v) for v in (stride, padding, dilation))):
            continue  # e.g. padding="same" (another overload) or weights computed at run time
        with graph.insert_point_guard(node):
            fast = graph.insertNode(graph.create("aten::mkldnn_convolution", [x, w, b, padding, stride, dilation,
                                                                                groups]))
        fast.output().setType(node.output().type())
        node.output().replaceAllUsesWith(fast.output())
        node.destroy()
        rewritten += 1
    return rewritten


def _rewrite_conv_transpose3d(graph) -> int:
    """``aten::conv_transpose3d`` with constant float weights → channels-last-3d input and weights."""
    import torch

    rewritten = 0
    for node in list(graph.findAllNodes("aten::conv_transpose3d")):
        weight = _constant(node.inputsAt(1))
        if not isinstance(weight, torch.Tensor) or weight.dtype != torch.float32 or weight.dim() != 5:
            continue
        with graph.insert_point_guard(node):
            layout = graph.insertConstant(_CHANNELS_LAST_3D)
            x_cl = graph.insertNode(graph.create("aten::contiguous", [node.inputsAt(0), layout]))
            x_cl.output().setType(node.inputsAt(0).type())
            w_cl = graph.insertConstant(weight.contiguous(memory_format=torch.channels_last_3d))
        node.replaceInput(0, x_cl.output())
        node.replaceInput(1, w_cl)
        rewritten += 1
    return rewritten


def onednn_copy(net):
    """A frozen copy of ScriptModule ``net`` with its 3-D convolutions on oneDNN (module docstring), cached
    per ``net``; None for eager modules, networks without 3-D convolutions, a PyTorch without oneDNN, or a
    failure of the TorchScript passes. ``net`` is never modified.
    """
    import torch

    if not isinstance(net, torch.jit.ScriptModule) or not torch.backends.mkldnn.is_available():
        return None
    try:
        return _copies[net]
    except (KeyError, TypeError):
        pass
    fast = None
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # torch ≥ 2.10 deprecates the TorchScript passes; they still run and are pickle-free
            warnings.simplefilter("ignore", DeprecationWarning)
            frozen = torch.jit.freeze(copy.deepcopy(net).eval(), optimize_numerics=False)  # weights → constants
            graph = frozen.graph
            if _rewrite_conv3d(graph) + _rewrite_conv_transpose3d(graph):
                graph.lint()
                fast = frozen
    except Exception as exc:  # noqa: BLE001 - any failure of the optional passes means "run the original"
        log.info("network kept as loaded (oneDNN rewrite failed: %s)", str(exc).splitlines()[0] if str(exc) else exc)
    with contextlib.suppress(TypeError):
        _copies[net] = fast
    return fast


def scores_agree(fast: np.ndarray, reference: np.ndarray, tolerance: float = SCORE_TOLERANCE) -> bool:
    """True when every score of ``fast`` is within ``tolerance``·(max|reference| + 1) of ``reference``."""
    if fast.shape != reference.shape:
        return False
    scale = float(np.max(np.abs(reference), initial=0.0)) + 1.0
    return bool(np.all(np.abs(fast - reference) <= tolerance * scale))


class TorchPredictor:
    """``predictor(batch) -> scores``: a (N, C, z, y, x) float32 numpy batch to a contiguous float32 CPU
    tensor of class scores.

    On CPU in fp32 (``onednn``, default) the first window runs through the network as loaded and through
    :func:`onednn_copy`'s copy; the copy runs from the second window on if its scores match within
    ``tolerance``, else the original does. :attr:`onednn` tells which (None before the first window).
    ``activation="sigmoid"`` with one output channel becomes two scores (0, logit) so the argmax
    thresholds at p = 0.5.
    """

    def __init__(self, net, device: str = "cpu", activation: str = "softmax", precision: str = "fp32", *,
                 onednn: bool = True, tolerance: float = SCORE_TOLERANCE) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self._net, self._run_net = net, net
        self._device, self._activation, self._precision, self._tolerance = device, activation, precision, tolerance
        cpu_fp32 = precision == "fp32" and device.split(":")[0] == "cpu"
        self.onednn: bool | None = None if onednn and cpu_fp32 else False

    def _run(self, module, x):
        import torch

        autocast = (torch.autocast(device_type=self._device.split(":")[0], dtype=torch.bfloat16)
                    if self._precision == "bf16" else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            out = module(x)
            if isinstance(out, list | tuple):
                out = out[0]
            out = out.float().contiguous()  # the blend reads class planes: 1.9 s channels-last vs 1.0 s
            if self._activation == "sigmoid" and out.shape[1] == 1:
                out = torch.cat([torch.zeros_like(out), out], dim=1)  # logit > 0 ⇔ p > 0.5
            return out.cpu()

    def _adopt(self, fast, x, reference) -> bool:
        """Run ``fast`` (a copy or None) on the first window; keep it for later windows if it agrees."""
        if fast is None:
            return False
        try:
            candidate = self._run(fast, x)
        except RuntimeError as exc:
            log.info("oneDNN network failed on the first window (%s); running the original",
                     str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        if scores_agree(candidate.numpy(), reference.numpy(), self._tolerance):
            self._run_net = fast
            return True
        log.warning("oneDNN network differs from the original beyond %.0e; running the original", self._tolerance)
        return False

    def __call__(self, batch: np.ndarray):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        if self.onednn is not None:
            return self._run(self._run_net, x)
        reference = self._run(self._net, x)
        self.onednn = self._adopt(onednn_copy(self._net), x, reference)
        return reference
