"""``medws models list`` and ``medws infer``: the model registry and running a model."""

from __future__ import annotations

import argparse
import json
import sys

from app.commands._progress import TqdmContext
from app.io.errors import MedwsIOError
from app.io.inputs import resolve_input


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the model commands."""
    p = sub.add_parser("models", help="models available to MedWS")
    msub = p.add_subparsers(dest="models_command", required=True)
    ls = msub.add_parser("list", help="list built-in and user models")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_models_list)

    p = sub.add_parser("infer", help="run a model on an image and write its output")
    p.add_argument("model", help="model name (see `medws models list`)")
    p.add_argument("input", help="DICOM folder or volume file")
    p.add_argument("output", help="segmentation: labelmap file (.nii.gz, .nrrd, .seg.nrrd, .mha); "
                                  "detection: boxes .json; classification: labels .json")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch", action="store_true",
                   help="INPUT is a folder (each volume file / sub-folder is a case) or a .txt list; OUTPUT a folder")
    p.set_defaults(run=run_infer)
    add_segment_parser(sub)


def run_models_list(args: argparse.Namespace) -> int:
    """Print the registry."""
    from app.models import available_models, user_models_dir

    models = available_models()
    if args.json:
        print(json.dumps([m.to_dict() for m in models.values()], indent=2))
        return 0
    for m in models.values():
        labels = ", ".join(f"{k}:{v}" for k, v in sorted(m.labels.items()))
        print(f"{m.name:16s} {m.version:8s} {m.task:14s} {m.modality:4s} [{labels}]  {m.licence}")
    print(f"(user models folder: {user_models_dir()})")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    """Run a model: segmentation writes a labelmap on the input's grid, detection a boxes JSON,
    classification a labels JSON. With ``--batch`` INPUT is a folder (each volume file and each
    sub-folder is a case) or a text file of paths, and OUTPUT a folder."""
    from pathlib import Path

    from app.models import available_models

    models = available_models()
    manifest = models.get(args.model)
    if manifest is None:
        print(f"medws infer: unknown model {args.model!r}; available: {', '.join(sorted(models)) or 'none'}",
              file=sys.stderr)
        return 2
    if not args.batch:
        if manifest.task != "segmentation" and not str(args.output).lower().endswith(".json"):
            print(f"medws infer: {manifest.id} is a {manifest.task} model; its output is JSON "
                  "(OUTPUT must end in .json)", file=sys.stderr)
            return 2
        print(_infer_one(manifest, args.input, Path(args.output), args.device))
        return 0
    cases = _batch_inputs(Path(args.input))
    if not cases:
        print(f"medws infer: {args.input}: no inputs (volume files or folders) found", file=sys.stderr)
        return 2
    suffix = ".nii.gz" if manifest.task == "segmentation" else ".json"
    failed = 0
    for n, case in enumerate(cases, 1):
        name = case.name.split(".")[0] if case.is_file() else case.name
        try:
            out = _infer_one(manifest, str(case), Path(args.output) / f"{name}{suffix}", args.device,
                             desc=f"{manifest.name} {n}/{len(cases)}")
            print(out)
        except MedwsIOError as exc:  # one bad case never stops the batch
            failed += 1
            print(f"medws infer: {exc}", file=sys.stderr)
    print(f"medws infer: {len(cases) - failed}/{len(cases)} case(s) done", file=sys.stderr)
    return 0 if failed < len(cases) else 2


def _batch_inputs(source) -> list:
    """Cases of a batch: the lines of a ``.txt`` list, or the volume files and sub-folders of a folder."""
    from pathlib import Path

    from app.io.volume_files import is_volume_file

    if source.is_file() and source.suffix == ".txt":
        lines = (line.strip() for line in source.read_text(encoding="utf-8").splitlines())
        return [Path(line) for line in lines if line and not line.startswith("#")]
    if not source.is_dir():
        return []
    return sorted(p for p in source.iterdir() if (p.is_dir() and not p.name.startswith(".")) or is_volume_file(p))


def _infer_one(manifest, input_spec: str, output, device: str, desc: str | None = None):
    """Run ``manifest`` on one input and write its output file; return the path written."""
    from analysis.infer.run import run_model
    from app.io.loader import load_first_image
    from app.io.volume_files import write_volume

    with TqdmContext(desc or manifest.name) as ctx:
        image = load_first_image(resolve_input(input_spec), ctx=ctx)
        result = run_model(manifest, image.array, image.geometry.spacing_zyx_mm, image.geometry.direction,
                           device=device, ctx=ctx)
    if manifest.task == "segmentation":
        return write_volume(result, image.geometry, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = {"model": manifest.id, "task": manifest.task, "input": str(input_spec),
            "description": manifest.description}
    if manifest.task == "detection":
        data["boxes"] = detection_records(result, image.geometry, manifest)
    else:
        data["labels"] = {k: round(float(v), 6) for k, v in result.items()}
        top = max(result, key=result.get) if result else None
        data["top_label"], data["top_probability"] = top, round(float(result[top]), 6) if top else None
    return _write_json(output, data)


def detection_records(detections, geometry, manifest) -> list[dict]:
    """JSON records of detections: voxel box ``[start, stop)`` (z, y, x), LPS mm corners, score, label, model."""
    import numpy as np

    records = []
    for rank, d in enumerate(detections, 1):
        corners = geometry.index_zyx_to_lps(np.array([d.start_zyx, np.array(d.stop_zyx) - 1], float))
        records.append({"rank": rank, "label_id": int(d.label_id), "label": manifest.labels.get(d.label_id, ""),
                        "score": round(float(d.score), 4), "start_zyx": [int(v) for v in d.start_zyx],
                        "stop_zyx": [int(v) for v in d.stop_zyx],
                        "lps_min_mm": corners.min(axis=0).round(2).tolist(),
                        "lps_max_mm": corners.max(axis=0).round(2).tolist(), "model": manifest.id})
    return records


def add_segment_parser(sub: argparse._SubParsersAction) -> None:
    """``medws segment``: classical (model-free) segmentation."""
    p = sub.add_parser("segment", help="classical segmentation (no model): CT tissues, lung lesions, Otsu, k-means")
    p.add_argument("method", choices=["ct-tissues", "lung-lesions", "otsu", "kmeans"])
    p.add_argument("input", help="DICOM folder or volume file")
    p.add_argument("output", help="labelmap (.nii.gz/.nrrd/.seg.nrrd); for lung-lesions also a boxes JSON next to it")
    p.add_argument("--classes", type=int, default=3, help="classes for otsu / kmeans")
    p.set_defaults(run=run_segment)


def run_segment(args: argparse.Namespace) -> int:
    """Run a classical method; write a labelmap (and for lung lesions, scored boxes as JSON)."""
    import numpy as np

    from analysis import classical
    from app.io.loader import load_first_image
    from app.io.volume_files import write_volume

    with TqdmContext(args.method) as ctx:
        image = load_first_image(resolve_input(args.input), ctx=ctx)
        spacing = image.geometry.spacing_zyx_mm
        boxes = None
        if args.method == "ct-tissues":
            labels, names = classical.ct_tissue_labels(image.array, spacing, ctx=ctx), classical.CT_TISSUE_LABELS
        elif args.method == "otsu":
            labels = classical.otsu_classes(image.array, classes=args.classes)
            names = {i: f"class_{i}" for i in range(1, args.classes)}
        elif args.method == "kmeans":
            labels = classical.kmeans_classes(image.array, classes=args.classes, ctx=ctx)
            names = {i: f"class_{i}" for i in range(1, args.classes + 1)}
        else:
            lungs = classical.lung_masks(image.array, spacing, ctx=ctx).lungs
            cands = classical.lung_lesion_candidates(image.array, spacing, lungs, ctx=ctx)
            labels = np.zeros(image.array.shape, np.uint8)
            names = {1: "lesion_candidate"}
            boxes = []
            for rank, c in enumerate(cands, 1):
                box = tuple(slice(a, b) for a, b in zip(c.start_zyx, c.stop_zyx, strict=True))
                labels[box][image.array[box] > -400] = 1
                corners = image.geometry.index_zyx_to_lps(np.array([c.start_zyx, np.array(c.stop_zyx) - 1], float))
                boxes.append({"rank": rank, "score": round(c.score, 4), "start_zyx": list(c.start_zyx),
                              "stop_zyx": list(c.stop_zyx), "lps_min_mm": corners.min(axis=0).round(2).tolist(),
                              "lps_max_mm": corners.max(axis=0).round(2).tolist(),
                              "diameter_mm": round(c.diameter_mm, 2), "volume_mm3": round(c.volume_mm3, 1),
                              "contrast_hu": round(c.contrast_hu, 1)})
    out = write_volume(labels, image.geometry, args.output)
    table = {str(k): v for k, v in names.items()}
    print(out)
    _write_json(out.with_name(out.name.split(".")[0] + ".labels.json"), table)
    if boxes is not None:
        print(_write_json(out.with_name(out.name.split(".")[0] + ".boxes.json"),
                          {"source": "medws classical lung-lesions", "boxes": boxes}))
    return 0


def _write_json(path, data) -> object:
    """Write JSON atomically (temp + fsync + rename)."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
