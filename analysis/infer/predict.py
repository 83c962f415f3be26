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

_optimised: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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

    ``optimise`` (opt-in; CPU, fp32 only) runs :func:`cpu_optimised`'s copy once it has matched the original
    on the first window within ``tolerance``; :attr:`optimised` tells which ran (None before the first
    window). ``activation="sigmoid"`` with one output channel becomes two scores (0, logit) so the
    argmax thresholds at p = 0.5.
    """

    def __init__(self, net, device: str = "cpu", activation: str = "softmax", precision: str = "fp32", *,
                 optimise: bool = False, tolerance: float = SCORE_TOLERANCE) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self._net, self._run_net = net, net
        self._device, self._activation, self._precision, self._tolerance = device, activation, precision, tolerance
        self.optimised: bool | None = None
        if not (optimise and precision == "fp32" and device.split(":")[0] == "cpu"):
            self.optimised = False

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

    def __call__(self, batch: np.ndarray):
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        if self.optimised is not None:
            return self._run(self._run_net, x)
        self.optimised = False
        reference = self._run(self._net, x)
        fast = cpu_optimised(self._net)
        if fast is None:
            return reference
        try:
            candidate = self._run(fast, x)
        except RuntimeError as exc:
            log.info("optimised network failed on the first window (%s); running the original",
                     str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return reference
        if scores_agree(candidate.numpy(), reference.numpy(), self._tolerance):
            self._run_net, self.optimised = fast, True
        else:
            log.warning("optimised network differs from the original beyond %.0e; running the original",
                        self._tolerance)
        return reference
