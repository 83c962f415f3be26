"""Load model weights without executing pickled Python.

TorchScript archives are loaded with ``torch.jit.load`` (TorchScript's own deserialiser, which
does not run Python pickles). State dicts are loaded with ``torch.load(weights_only=True)``,
whose restricted unpickler refuses arbitrary objects, into an architecture from
``analysis.infer.nets``. Call from the inference worker thread; networks are cached per
(file, mtime, device).
"""

from __future__ import annotations

import importlib
import threading
import warnings
import zipfile
from pathlib import Path

from analysis.infer.manifest import ALLOWED_ARCHITECTURE_PREFIX, ModelManifest


class ModelLoadError(RuntimeError):
    """Weights are missing, not of the declared format, or would need unsafe unpickling."""


_cache: dict[tuple[str, float, str], object] = {}
_lock = threading.Lock()


def _check_torchscript_archive(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path}: not a TorchScript archive (a plain pickle or other file); "
                             "MedWS never loads pickled model files")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if not any(n.split("/", 1)[-1].startswith("code/") for n in names) or not any(
            n.endswith("constants.pkl") for n in names):
        raise ModelLoadError(f"{path}: zip archive without TorchScript code (a torch.save() pickle of a "
                             "Python module?); export the model with torch.jit.script/trace and save that")


def load_network(manifest: ModelManifest, device: str = "cpu"):
    """Return the eval-mode torch module of ``manifest`` on ``device`` (cached).

    Raises
    ------
    ModelLoadError
        One line naming the file and the reason.
    """
    import torch

    path = manifest.weights_file
    if not path.is_file():
        raise ModelLoadError(f"{path}: weights file not found")
    key = (str(path), path.stat().st_mtime, device)
    with _lock:
        if key in _cache:
            return _cache[key]
        if manifest.weights_format == "torchscript":
            _check_torchscript_archive(path)
            try:
                with warnings.catch_warnings():
                    # torch ≥ 2.10 deprecates TorchScript; it stays the pickle-free format of
                    # MONAI bundles and deepbet, so MedWS keeps loading it.
                    warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated",
                                            category=DeprecationWarning)
                    net = torch.jit.load(str(path), map_location=device)
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "TorchScript error"
                raise ModelLoadError(f"{path}: cannot load TorchScript ({first})") from None
        else:
            net = _load_state_dict_model(manifest, path, device)
        net.eval()
        _cache[key] = net
        return net


def _load_state_dict_model(manifest: ModelManifest, path: Path, device: str):
    import pickle

    import torch

    arch = manifest.architecture or ""
    if not arch.startswith(ALLOWED_ARCHITECTURE_PREFIX):
        raise ModelLoadError(f"{path}: architecture {arch!r} is not one of MedWS's own networks")
    module_name, _, class_name = arch.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError:
        cls = None
    if cls is None:
        raise ModelLoadError(f"{path}: unknown architecture {arch!r}")
    try:
        state = torch.load(str(path), map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{path}: refused to load (needs unsafe unpickling or is corrupt: {reason})") from None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: expected a state dict, got {type(state).__name__}")
    net = cls(**manifest.architecture_kwargs)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"{path}: weights do not fit {arch} ({str(exc).splitlines()[0]})") from None
    return net.to(device)


def network_for(manifest: ModelManifest, task: str, net=None, device: str = "cpu"):
    """Check that ``manifest`` is a ``task`` model and return ``net`` or its loaded network."""
    if manifest.task != task:
        raise ValueError(f"{manifest.id} is a {manifest.task} model, not {task}")
    return net if net is not None else load_network(manifest, device)


def clear_cache() -> None:
    """Forget cached networks (tests; after a model folder changes)."""
    with _lock:
        _cache.clear()
