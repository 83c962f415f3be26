"""``medws models list`` and ``medws infer``: the model registry and running a model."""

from __future__ import annotations

import argparse
import json
import sys

from app.commands._progress import TqdmContext


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
    p.add_argument("output", help="labelmap file (.nii.gz, .nrrd, .seg.nrrd, .mha)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(run=run_infer)


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
    """Run a segmentation model and write the labelmap on the input's grid."""
    from analysis.infer.run import run_model
    from app.io.loader import load_first_image
    from app.io.volume_files import write_volume
    from app.models import available_models

    models = available_models()
    manifest = models.get(args.model)
    if manifest is None:
        print(f"medws infer: unknown model {args.model!r}; available: {', '.join(sorted(models)) or 'none'}",
              file=sys.stderr)
        return 2
    if manifest.task != "segmentation":
        print(f"medws infer: {manifest.id} is a {manifest.task} model; only segmentation writes a labelmap",
              file=sys.stderr)
        return 2
    with TqdmContext(manifest.name) as ctx:
        image = load_first_image(args.input, ctx=ctx)
        labels = run_model(manifest, image.array, image.geometry.spacing_zyx_mm, image.geometry.direction,
                           device=args.device, ctx=ctx)
    print(write_volume(labels, image.geometry, args.output))
    return 0
