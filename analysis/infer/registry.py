"""Find models: MedWS model folders (``manifest.json``) and MONAI bundles, without loading torch.

The caller (``app``) passes the folders to search — the built-in ``resources/models`` and the
user's models folder — so this module knows no MedWS paths. Any thread may call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from analysis.infer.manifest import ManifestError, ModelManifest, parse_manifest, read_manifest

log = logging.getLogger(__name__)


def is_monai_bundle(folder: Path) -> bool:
    """True for a MONAI bundle folder (``configs/metadata.json`` + ``models/model.ts``)."""
    return (folder / "configs" / "metadata.json").is_file() and (folder / "models" / "model.ts").is_file()


def _find_key(node: object, target: str) -> list[dict]:
    """Return every dict in a parsed MONAI config whose ``_target_`` ends with ``target``."""
    found: list[dict] = []
    if isinstance(node, dict):
        if str(node.get("_target_", "")).split(".")[-1] == target:
            found.append(node)
        for v in node.values():
            found.extend(_find_key(v, target))
    elif isinstance(node, list):
        for v in node:
            found.extend(_find_key(v, target))
    return found


def read_monai_bundle(folder: Path) -> ModelManifest:
    """Translate a MONAI bundle's metadata (and, best effort, its inference config) to a manifest.

    Reads ``network_data_format`` for channels, labels and patch size; from
    ``configs/inference.json`` the ``Spacingd`` pixdim, ``ScaleIntensityRanged`` window and the
    ``SlidingWindowInferer`` roi/overlap when present. Anything not found keeps manifest defaults.
    """
    meta_path = folder / "configs" / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{meta_path}: unreadable bundle metadata ({exc})") from None
    fmt = meta.get("network_data_format", {})
    inputs = next(iter(fmt.get("inputs", {}).values()), {})
    outputs = next(iter(fmt.get("outputs", {}).values()), {})
    channel_def = outputs.get("channel_def") or {}
    labels = {int(k): str(v) for k, v in channel_def.items() if int(k) != 0 and str(v).lower() != "background"}
    if not labels:
        n_out = int(outputs.get("num_channels", 2))
        labels = {i: f"label_{i}" for i in range(1, n_out)}
    data: dict = {
        "name": meta.get("name") or folder.name, "version": meta.get("version", "0"), "task": "segmentation",
        "modality": str(meta.get("modality", "")), "labels": {str(k): v for k, v in labels.items()},
        "input": {"channels": int(inputs.get("num_channels", 1)), "orientation": "RAS"},
        "weights": {"format": "torchscript", "path": "models/model.ts"},
        "activation": "softmax", "licence": meta.get("license", ""),
        "citation": "; ".join(meta.get("references", []) or []), "description": meta.get("description", ""),
        "source": "monai-bundle",
    }
    shape = inputs.get("spatial_shape")
    if shape and all(isinstance(s, int) for s in shape) and len(shape) == 3:
        data["patch_size_zyx"] = list(shape)[::-1]  # MONAI spatial order is (x, y, z) in RAS
    config_path = folder / "configs" / "inference.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            config = {}
        spacing = _find_key(config, "Spacingd")
        if spacing and isinstance(spacing[0].get("pixdim"), list):
            data["input"]["spacing_zyx_mm"] = [float(v) for v in spacing[0]["pixdim"]][::-1]
        scale = _find_key(config, "ScaleIntensityRanged")
        if scale:
            s = scale[0]
            lo, hi = float(s.get("a_min", 0)), float(s.get("a_max", 1))
            data["input"]["normalisation"] = {"kind": "ct_window", "width": hi - lo, "level": (hi + lo) / 2}
        inferer = _find_key(config, "SlidingWindowInferer")
        if inferer:
            roi = inferer[0].get("roi_size")
            if isinstance(roi, list) and len(roi) == 3 and all(isinstance(v, int) for v in roi):
                data["patch_size_zyx"] = roi[::-1]
            if isinstance(inferer[0].get("overlap"), int | float):
                data["overlap"] = float(inferer[0]["overlap"])
    return parse_manifest(data, folder, meta_path)


def discover(folders: Iterable[Path]) -> dict[str, ModelManifest]:
    """Return ``name → manifest`` for every model folder directly inside ``folders``.

    Later folders override earlier ones (a user model shadows a built-in one of the same name).
    A broken model folder is logged and skipped, never fatal.
    """
    models: dict[str, ModelManifest] = {}
    for root in folders:
        root = Path(root)
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            try:
                if (folder / "manifest.json").is_file():
                    manifest = read_manifest(folder)
                elif is_monai_bundle(folder):
                    manifest = read_monai_bundle(folder)
                else:
                    continue
            except ManifestError as exc:
                log.warning("skipping model: %s", exc)
                continue
            models[manifest.name] = manifest
    return models
