"""One network call per sliding window; optionally on a CPU-optimised copy of the network.

On CPU, :func:`cpu_optimised` copies a TorchScript network with channels-last-3d weights, freezes
it and runs ``torch.jit.optimize_for_inference``: every convolution becomes a oneDNN convolution
with prepacked weights (PyTorch's own dispatch sends small 3-D convolutions to the slower
``slow_conv3d``), and transposed convolutions run channels-last, which oneDNN does several times
faster for few output channels. Measured on the bench UNet (``bench/infer.py``), one 96³ window
run alone, 2-core EPYC, interleaved: 78 → 57 ms (min), 105 → 67 ms (median). Whole bench runs
disagree: 18.65 → 16.24 s on a quiet machine (1 run), 33.7 → 39.0 s under load 3–5 (3 runs), and
labels move by 1.4e-5 (below), so it is off by default (``optimise=True``; ``bench/infer.py
--kinds monai,medws,medws-optimised``).

The copy is trusted only after a check: the first window runs through both networks and every
score of the copy must lie within ``SCORE_TOLERANCE`` × (max |score| + 1) of the original's.
Other kernels sum in another order; instance normalisation of a nearly flat window (air) amplifies
that to ~1e-4 relative: the bench's first window differs by 4.5e-4 (max |score| 3.4), exactly as
much as MONAI's own network differs between ``sw_batch_size=1`` and ``2`` (PyTorch picks other
convolution kernels for a batch of 2). 1e-3 leaves room for that and still refuses a wrong rewrite
(differences of order 1). On the bench volume the labels then differ from MONAI's in 1.4e-5 of the
voxels, as MONAI's ``sw_batch_size=2`` differs from its ``sw_batch_size=1`` (1.3e-5): voxels whose
two best class scores are tied within float32 noise. If the copy cannot be built or fails the
check, the original network runs (logged).

By default (CPU, fp32) the network runs as a :func:`subpixel_copy`: each transposed convolution
with stride 2, kernel 3, padding 1, output padding 1 and few output channels (a UNet's last layer)
becomes one stride-1 convolution with a 2³ kernel into 8 × C channels on the half-resolution input,
then a pixel shuffle: the same sums of products, grouped by output parity. oneDNN's transposed
convolution vectorises over output channels and wastes most of each vector on 6 channels; the
convolution computes 2.4× the multiply-adds (zero taps included) and is still faster. Measured on the
bench UNet's last layer (32 → 6 channels, 48³ → 96³), 2-core EPYC, interleaved: 25.3 → 19.3 ms (min),
28.7 → 24.7 ms (median). Scores move by float32 rounding only (≤ 3e-6 on scores up to 5); the copy is
checked on the first window against the original within ``SUBPIXEL_TOLERANCE``.

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
SUBPIXEL_TOLERANCE = 1e-5
SUBPIXEL_MAX_CHANNELS = 8  # output channels up to which the convolution beats oneDNN's transposed one

_optimised: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_subpixel: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# x (N, Ci, D, H, W) ⊛ wc (8·Co, Ci, 2, 2, 2), padding 1, without the first output plane of each axis:
# channel (pz, py, px, co) at (d, h, w) is output voxel (2d + pz, 2h + py, 2w + px) of channel co.
_SUBPIXEL_IR = """
graph(%x : Tensor, %wc : Tensor, %bc : Tensor):
  %i0 : int = prim::Constant[value=0]()
  %i1 : int = prim::Constant[value=1]()
  %i2 : int = prim::Constant[value=2]()
  %i3 : int = prim::Constant[value=3]()
  %i4 : int = prim::Constant[value=4]()
  %i8 : int = prim::Constant[value=8]()
  %none : NoneType = prim::Constant()
  %ones : int[] = prim::Constant[value=[1, 1, 1]]()
  %perm : int[] = prim::Constant[value=[0, 4, 5, 1, 6, 2, 7, 3]]()
  %y0 : Tensor = aten::conv3d(%x, %wc, %bc, %ones, %ones, %ones, %i1)
  %y1 : Tensor = aten::slice(%y0, %i2, %i1, %none, %i1)
  %y2 : Tensor = aten::slice(%y1, %i3, %i1, %none, %i1)
  %y3 : Tensor = aten::slice(%y2, %i4, %i1, %none, %i1)
  %n : int = aten::size(%x, %i0)
  %dz : int = aten::size(%x, %i2)
  %dy : int = aten::size(%x, %i3)
  %dx : int = aten::size(%x, %i4)
  %c8 : int = aten::size(%wc, %i0)
  %co : int = aten::floordiv(%c8, %i8)
  %s8 : int[] = prim::ListConstruct(%n, %i2, %i2, %i2, %co, %dz, %dy, %dx)
  %y8 : Tensor = aten::reshape(%y3, %s8)
  %yp : Tensor = aten::permute(%y8, %perm)
  %oz : int = aten::mul(%dz, %i2)
  %oy : int = aten::mul(%dy, %i2)
  %ox : int = aten::mul(%dx, %i2)
  %so : int[] = prim::ListConstruct(%n, %co, %oz, %oy, %ox)
  %r : Tensor = aten::reshape(%yp, %so)
  return (%r)"""


def subpixel_weights(weight, bias):
    """(Ci, Co, 3, 3, 3) transposed-convolution weights (stride 2, padding 1) → (8·Co, Ci, 2, 2, 2), 8·Co bias.

    Output voxel 2m + p (per axis) takes input m with tap 1 when p = 0, inputs m and m + 1 with taps 2
    and 0 when p = 1: with the kernel padded to 4 in front, tap 2(1 - d) + p for offset d ∈ {0, 1}
    (zero for p = 0, d = 1).
    """
    import torch

    ci, co = weight.shape[:2]
    wc = torch.nn.functional.pad(weight, (1, 0, 1, 0, 1, 0)).reshape(ci, co, 2, 2, 2, 2, 2, 2).flip([2, 4, 6])
    wc = wc.permute(3, 5, 7, 1, 0, 2, 4, 6).reshape(8 * co, ci, 2, 2, 2).contiguous()
    bc = (bias if bias is not None else torch.zeros(co, dtype=weight.dtype)).repeat(8)
    return wc, bc


def _constant(value):
    node = value.node()
    return node.output().toIValue() if node.kind() == "prim::Constant" else _constant


def subpixel_copy(net, max_channels: int = SUBPIXEL_MAX_CHANNELS):
    """A frozen copy of ScriptModule ``net`` with its stride-2 upsampling layers of at most ``max_channels``
    outputs as convolution + pixel shuffle (cached per ``net``), or None (nothing to rewrite, an eager
    module, or a failure of the TorchScript passes). ``net`` is never modified.
    """
    import torch

    if not isinstance(net, torch.jit.ScriptModule):
        return None
    try:
        return _subpixel[net]
    except (KeyError, TypeError):
        pass
    fast = None
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", DeprecationWarning)
            frozen = torch.jit.freeze(copy.deepcopy(net).eval(), optimize_numerics=False)  # same kernels
            graph, replacement = frozen.graph, torch._C.parse_ir(_SUBPIXEL_IR)
            rewritten = 0
            for node in list(graph.findAllNodes("aten::conv_transpose3d")):
                x, w, b, *params = (node.inputsAt(i) for i in range(8))
                weight, bias = _constant(w), _constant(b)
                if (not isinstance(weight, torch.Tensor) or not (bias is None or isinstance(bias, torch.Tensor))
                        or [_constant(v) for v in params] != [[2, 2, 2], [1, 1, 1], [1, 1, 1], 1, [1, 1, 1]]
                        or tuple(weight.shape[2:]) != (3, 3, 3) or weight.shape[1] > max_channels):
                    continue
                wc, bc = subpixel_weights(weight, bias)
                with graph.insert_point_guard(node):
                    out = graph.insertGraph(replacement, [x, graph.insertConstant(wc), graph.insertConstant(bc)])
                node.output().replaceAllUsesWith(out[0])
                node.destroy()
                rewritten += 1
            if rewritten:
                graph.lint()
                fast = frozen
    except Exception as exc:  # noqa: BLE001 - any failure of the optional passes means "run the original"
        log.info("network kept as loaded (sub-pixel rewrite failed: %s)", str(exc).splitlines()[0] if str(exc) else exc)
    with contextlib.suppress(TypeError):
        _subpixel[net] = fast
    return fast


def cpu_optimised(net):
    """Return a frozen, oneDNN-optimised copy of ScriptModule ``net`` (cached per ``net``), or None.

    None for eager modules and networks the TorchScript passes cannot handle; ``net`` is never
    modified.
    """
    import torch

    if not isinstance(net, torch.jit.ScriptModule):
        return None
    try:
        return _optimised[net]
    except (KeyError, TypeError):
        pass
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # torch ≥ 2.10 deprecates the TorchScript passes; they still run and are pickle-free
            warnings.simplefilter("ignore", DeprecationWarning)
            clone = copy.deepcopy(net).eval()  # under no_grad: leaf parameters, no autograd history
            clone.to(memory_format=torch.channels_last_3d)
            fast = torch.jit.optimize_for_inference(torch.jit.freeze(clone))
    except Exception as exc:  # noqa: BLE001 - any failure of the optional passes means "run the original"
        log.info("network kept as loaded (optimisation failed: %s)", str(exc).splitlines()[0] if str(exc) else exc)
        fast = None
    with contextlib.suppress(TypeError):
        _optimised[net] = fast
    return fast


def scores_agree(fast: np.ndarray, reference: np.ndarray, tolerance: float = SCORE_TOLERANCE) -> bool:
    """True when every score of ``fast`` is within ``tolerance``·(max|reference| + 1) of ``reference``."""
    if fast.shape != reference.shape:
        return False
    scale = float(np.max(np.abs(reference), initial=0.0)) + 1.0
    return bool(np.all(np.abs(fast - reference) <= tolerance * scale))


class TorchPredictor:
    """``predictor(batch) -> scores``: a (N, C, z, y, x) float32 numpy batch to a contiguous float32
    CPU tensor of class scores.

    On CPU in fp32 the first window runs through the network as loaded and through a faster copy; the
    copy runs from the second window on if its scores match within a tolerance, else the original does.
    The copy is :func:`subpixel_copy`'s (``subpixel``, default; :attr:`subpixel` tells whether it runs)
    or, with ``optimise`` (opt-in; instead of the sub-pixel copy), :func:`cpu_optimised`'s within
    ``tolerance`` (:attr:`optimised`). Both attributes are None before the first window.
    ``activation="sigmoid"`` with one output channel becomes two scores (0, logit) so the argmax
    thresholds at p = 0.5.
    """

    def __init__(self, net, device: str = "cpu", activation: str = "softmax", precision: str = "fp32", *,
                 optimise: bool = False, subpixel: bool = True, tolerance: float = SCORE_TOLERANCE) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self._net, self._run_net = net, net
        self._device, self._activation, self._precision, self._tolerance = device, activation, precision, tolerance
        cpu_fp32 = precision == "fp32" and device.split(":")[0] == "cpu"
        self.optimised: bool | None = None if optimise and cpu_fp32 else False
        self.subpixel: bool | None = None if subpixel and cpu_fp32 and not optimise else False
        self._first = self.optimised is None or self.subpixel is None

    def _run(self, module, x):
        import torch

        autocast = (torch.autocast(device_type=self._device.split(":")[0], dtype=torch.bfloat16)
                    if self._precision == "bf16" else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            out = module(x)
            if isinstance(out, list | tuple):
                out = out[0]
            out = out.float().contiguous()
            if self._activation == "sigmoid" and out.shape[1] == 1:
                out = torch.cat([torch.zeros_like(out), out], dim=1)  # logit > 0 ⇔ p > 0.5
            return out.cpu()

    def _adopt(self, fast, x, reference, tolerance: float, name: str) -> bool:
        """Run ``fast`` (a copy or None) on the first window; keep it for later windows if it agrees."""
        if fast is None:
            return False
        try:
            candidate = self._run(fast, x)
        except RuntimeError as exc:
            log.info("%s network failed on the first window (%s); running the original", name,
                     str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        if scores_agree(candidate.numpy(), reference.numpy(), tolerance):
            self._run_net = fast
            return True
        log.warning("%s network differs from the original beyond %.0e; running the original", name, tolerance)
        return False

    def __call__(self, batch: np.ndarray):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        if not self._first:
            return self._run(self._run_net, x)
        self._first = False
        reference = self._run(self._net, x)
        if self.optimised is None:
            self.optimised = self._adopt(cpu_optimised(self._net), x, reference, self._tolerance, "optimised")
        if self.subpixel is None:
            self.subpixel = self._adopt(subpixel_copy(self._net), x, reference, SUBPIXEL_TOLERANCE, "sub-pixel")
        return reference
