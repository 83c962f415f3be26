"""Model manifests: what a model folder declares about itself (read without loading weights).

A model is a folder holding ``manifest.json`` and its weights. Example::

    {"name": "brain-mask", "version": "1.0", "task": "segmentation", "modality": "MR",
     "labels": {"1": "brain"},
     "input": {"spacing_zyx_mm": [1, 1, 1], "orientation": "LPS",
               "normalisation": {"kind": "zscore"}, "channels": 1},
     "patch_size_zyx": [96, 96, 96], "overlap": 0.25, "activation": "softmax",
     "weights": {"format": "torchscript", "path": "model.ts"},
     "licence": "MIT", "citation": "...", "description": "..."}

``weights.format`` is ``torchscript`` (``torch.jit.load``; no Python pickle runs) or
``state_dict`` (``torch.load(weights_only=True)`` into ``weights.architecture``, an import string
``"package.module:Class"`` restricted to MedWS's own ``analysis.infer.nets``, with ``kwargs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

TASKS = ("segmentation", "detection", "classification")
ACTIVATIONS = ("softmax", "sigmoid", "none")
NORMALISATIONS = ("none", "zscore", "percentile", "ct_window", "minmax")
WEIGHT_FORMATS = ("torchscript", "state_dict")
ALLOWED_ARCHITECTURE_PREFIX = "analysis.infer.nets:"


class ManifestError(ValueError):
    """A manifest is missing, malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Normalisation:
    """Intensity normalisation before the network: ``kind`` plus its parameters."""

    kind: str = "none"
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelManifest:
    """Everything MedWS needs to run a model, readable without torch."""

    name: str
    version: str
    task: str
    modality: str
    labels: dict[int, str]
    folder: Path
    weights_format: str = "torchscript"
    weights_path: str = "model.ts"
    architecture: str | None = None
    architecture_kwargs: dict = field(default_factory=dict)
    spacing_zyx_mm: tuple[float, float, float] | None = None
    orientation: str | None = None
    normalisation: Normalisation = field(default_factory=Normalisation)
    channels: int = 1
    patch_size_zyx: tuple[int, int, int] | None = None
    overlap: float = 0.25
    activation: str = "softmax"
    licence: str = ""
    citation: str = ""
    description: str = ""
    source: str = "medws"
    weights_distribution: str | None = None
    runner: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        """``name@version`` — what provenance records as the source of a proposal."""
        return f"{self.name}@{self.version}"

    @property
    def weights_file(self) -> Path:
        """Absolute path of the weights file.

        With ``weights.distribution`` the file is looked up inside that installed Python
        distribution (e.g. deepbet's TorchScript files), so weights are never copied into MedWS.
        """
        if self.weights_distribution:
            return distribution_file(self.weights_distribution, self.weights_path)
        return (self.folder / self.weights_path).resolve()

    def to_dict(self) -> dict:
        """JSON-ready summary (for ``medws models list --json``)."""
        return {
            "name": self.name, "version": self.version, "task": self.task, "modality": self.modality,
            "labels": {str(k): v for k, v in self.labels.items()}, "folder": str(self.folder),
            "weights": {"format": self.weights_format, "path": self.weights_path},
            "spacing_zyx_mm": list(self.spacing_zyx_mm) if self.spacing_zyx_mm else None,
            "patch_size_zyx": list(self.patch_size_zyx) if self.patch_size_zyx else None,
            "overlap": self.overlap, "activation": self.activation, "licence": self.licence,
            "citation": self.citation, "description": self.description, "source": self.source,
        }


def distribution_file(distribution: str, relative: str) -> Path:
    """Locate ``relative`` (a RECORD path such as ``data/models/model.pt``) in an installed distribution."""
    from importlib import metadata

    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise ManifestError(f"python distribution {distribution!r} is not installed") from None
    for f in files:
        if str(f) == relative:
            return Path(str(f.locate())).resolve()
    raise ManifestError(f"{distribution}: no file {relative!r} in the installed distribution")


def _require(data: dict, key: str, path: Path) -> object:
    if key not in data:
        raise ManifestError(f"{path}: missing required field {key!r}")
    return data[key]


def _triple(value: object, key: str, path: Path, cast: type) -> tuple | None:
    if value is None:
        return None
    try:
        out = tuple(cast(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ManifestError(f"{path}: {key} must be three numbers") from None
    if len(out) != 3 or min(out) <= 0:
        raise ManifestError(f"{path}: {key} must be three positive numbers, got {value!r}")
    return out


def parse_manifest(data: dict, folder: Path, path: Path | None = None) -> ModelManifest:
    """Validate a manifest dict (from JSON) and return a :class:`ModelManifest`."""
    path = path or folder / "manifest.json"
    task = str(_require(data, "task", path))
    if task not in TASKS:
        raise ManifestError(f"{path}: task must be one of {TASKS}, got {task!r}")
    try:
        labels = {int(k): str(v) for k, v in dict(_require(data, "labels", path)).items()}  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ManifestError(f"{path}: labels must map integer ids to names") from None
    inp = dict(data.get("input") or {})
    norm = dict(inp.get("normalisation") or {"kind": "none"})
    kind = str(norm.pop("kind", "none"))
    if kind not in NORMALISATIONS:
        raise ManifestError(f"{path}: normalisation kind must be one of {NORMALISATIONS}, got {kind!r}")
    weights = dict(_require(data, "weights", path))  # type: ignore[arg-type]
    fmt = str(weights.get("format", "torchscript"))
    if fmt not in WEIGHT_FORMATS:
        raise ManifestError(f"{path}: weights.format must be one of {WEIGHT_FORMATS}, got {fmt!r}")
    arch = weights.get("architecture")
    if fmt == "state_dict":
        if not arch or not str(arch).startswith(ALLOWED_ARCHITECTURE_PREFIX):
            raise ManifestError(f"{path}: state_dict weights need an architecture from "
                                f"{ALLOWED_ARCHITECTURE_PREFIX}* (got {arch!r})")
    weights_path = str(_require(weights, "path", path))
    if Path(weights_path).is_absolute() or ".." in Path(weights_path).parts:  # stay inside the model folder
        raise ManifestError(f"{path}: weights.path must be relative to the model folder")
    runner = data.get("runner")
    if runner is not None and not str(runner).startswith("analysis.infer."):
        raise ManifestError(f"{path}: runner must be a MedWS runner in analysis.infer.* (got {runner!r})")
    activation = str(data.get("activation", "softmax"))
    if activation not in ACTIVATIONS:
        raise ManifestError(f"{path}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    overlap = float(data.get("overlap", 0.25))
    if not 0.0 <= overlap < 1.0:
        raise ManifestError(f"{path}: overlap must be in [0, 1)")
    known = {"name", "version", "task", "modality", "labels", "input", "weights", "patch_size_zyx", "overlap",
             "activation", "licence", "license", "citation", "description", "source", "runner"}
    return ModelManifest(
        name=str(_require(data, "name", path)), version=str(data.get("version", "0")), task=task,
        modality=str(data.get("modality", "")), labels=labels, folder=folder.resolve(), weights_format=fmt,
        weights_path=weights_path, architecture=str(arch) if arch else None,
        architecture_kwargs=dict(weights.get("kwargs") or {}),
        spacing_zyx_mm=_triple(inp.get("spacing_zyx_mm"), "input.spacing_zyx_mm", path, float),
        orientation=inp.get("orientation"), normalisation=Normalisation(kind, norm),
        channels=int(inp.get("channels", 1)),
        patch_size_zyx=_triple(data.get("patch_size_zyx"), "patch_size_zyx", path, int),
        overlap=overlap, activation=activation,
        licence=str(data.get("licence", data.get("license", ""))), citation=str(data.get("citation", "")),
        description=str(data.get("description", "")), source=str(data.get("source", "medws")),
        weights_distribution=weights.get("distribution"), runner=str(runner) if runner else None,
        extra={k: v for k, v in data.items() if k not in known},
    )


def read_manifest(folder: Path) -> ModelManifest:
    """Read ``folder/manifest.json``."""
    path = Path(folder) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest.json in the model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: manifest must be a JSON object")
    return parse_manifest(data, Path(folder), path)
