"""Sample data: real CT/MR cases from the pyradiomics sdist on PyPI, or a synthetic phantom offline.

``fetch_samples`` fills ``cache_dir()/samples`` once:

* ``pyradiomics-data/``: the ``data/`` folder of the pyradiomics 3.0.1 **source distribution**
  (lung1/lung2 CT, brain1/brain2/breast1 MR, each with a ``*_label.nrrd`` mask). pip hands over
  the sdist (hash-pinned); pyradiomics is never installed and none of its code is imported.
* ``lung1-dicom/``: lung1 converted to a 48-file DICOM CT series (deterministic UIDs).
* ``phantom/``: the synthetic chest phantom of :mod:`analysis.phantom` as NRRD, labels and DICOM.
* ``mni152/``: "mni152-t1", the ICBM 2009a T1 template (197×233×189, 1 mm) and its GM/WM maps from
  the hash-pinned nilearn 0.14.1 **wheel** (never installed), plus ``brain_mask.nii.gz``:
  **P(GM) + P(WM) > 0.5, holes filled in 3D** (SimpleITK ``BinaryFillhole``); see
  :mod:`app.io._sample_mni152`. If the wheel cannot be fetched, the notes say so; the rest works.
* ``samples.json``: a manifest describing what is there.

Every step writes into a temporary folder and renames it into place, so an interrupted fetch
leaves nothing half-written, and a second fetch finds everything and returns quickly. When pip
cannot reach the registry (or ``offline=True``) only the phantom is built, and the catalog and the
log say "offline: using the synthetic phantom".

Any thread may call these functions; concurrent fetches serialise on a lock file (POSIX). The pip
download, staging and archive extraction live in :mod:`app.io._sample_fetch`; this module keeps
the catalog, the public API and the samples built locally (phantom, lung1 as DICOM).
"""

from __future__ import annotations

import contextlib
import importlib.util  # noqa: F401 - kept as ``samples.importlib``: tests patch find_spec through it
import json
import logging
import os
import subprocess  # noqa: F401 - kept as ``samples.subprocess``: tests patch Popen through it
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.phantom import PHANTOM_LABELS, make_ct_phantom
from app.io import _sample_mni152 as mni
from app.io._sample_fetch import (
    PIP_TIMEOUT_S,
    SDIST_NAME,
    SDIST_SHA256,
    SDIST_VERSION,
    SampleFetchError,
    _fetch_data,
    _publish,
    _staging,
    _sub,
    pip_download_command,
)
from app.io.dicom_write import write_dicom_series
from app.io.errors import MedwsIOError
from app.io.volume_files import read_volume, write_volume
from app.model.geometry import Geometry
from app.paths import cache_dir

__all__ = [
    "SDIST_NAME",
    "SDIST_SHA256",
    "SDIST_VERSION",
    "SampleCatalog",
    "SampleFetchError",
    "SampleInfo",
    "fetch_samples",
    "get_sample",
    "list_samples",
    "load_catalog",
    "pip_download_command",
    "sample_path",
    "samples_dir",
]

log = logging.getLogger(__name__)

OFFLINE_MESSAGE = "offline: using the synthetic phantom"

MANIFEST_NAME = "samples.json"
MANIFEST_VERSION = 1
_DATA_DIR = "pyradiomics-data"
_LUNG1_DICOM_DIR = "lung1-dicom"
_PHANTOM_DIR = "phantom"
_PHANTOM_SPACING_ZYX_MM = (2.5, 1.5, 1.5)
_PYRADIOMICS_SOURCE = f"{SDIST_NAME} {SDIST_VERSION} sdist (PyPI), data/"


@dataclass(frozen=True)
class _Spec:
    name: str
    modality: str
    kind: str  # "nrrd" | "nifti" | "dicom" | "phantom"
    rel_path: str
    rel_mask: str | None
    source: str
    description: str
    labels: dict[int, str] = field(default_factory=dict)


def _radiomics(name: str, modality: str, description: str, label: str) -> _Spec:
    return _Spec(
        name,
        modality,
        "nrrd",
        f"{_DATA_DIR}/{name}_image.nrrd",
        f"{_DATA_DIR}/{name}_label.nrrd",
        _PYRADIOMICS_SOURCE,
        description,
        {1: label},
    )


_PHANTOM_SOURCE = "synthetic (analysis.phantom, seed 0)"
_SPECS: tuple[_Spec, ...] = (
    _radiomics("lung1", "CT", "chest CT 512×512×48 with a lung tumour mask", "tumour"),
    _Spec(
        "lung1-dicom",
        "CT",
        "dicom",
        _LUNG1_DICOM_DIR,
        f"{_DATA_DIR}/lung1_label.nrrd",
        f"converted from lung1 ({_PYRADIOMICS_SOURCE})",
        "lung1 as a 48-file DICOM CT series",
        {1: "tumour"},
    ),
    _radiomics("lung2", "CT", "chest CT 512×512×61 with a lung tumour mask", "tumour"),
    _radiomics("brain1", "MR", "brain MR 256×256×25 with a tumour mask", "tumour"),
    _radiomics("brain2", "MR", "brain MR 256×256×23 with a tumour mask", "tumour"),
    _radiomics("breast1", "MR", "breast MR 45×120×21 with a lesion mask", "lesion"),
    _Spec(
        "phantom-ct",
        "CT",
        "phantom",
        f"{_PHANTOM_DIR}/phantom_ct.nrrd",
        f"{_PHANTOM_DIR}/phantom_labels.nrrd",
        _PHANTOM_SOURCE,
        "synthetic chest CT 128×128×64 with body, lungs, heart, bone and lesion labels",
    ),
    _Spec(
        "phantom-dicom",
        "CT",
        "dicom",
        f"{_PHANTOM_DIR}/dicom",
        f"{_PHANTOM_DIR}/phantom_labels.nrrd",
        _PHANTOM_SOURCE,
        "the phantom as a 64-file DICOM CT series",
    ),
    _Spec(
        "mni152-t1",
        "MR",
        "nifti",
        f"{mni.MNI_DIR}/{mni.T1_FILE}",
        f"{mni.MNI_DIR}/{mni.MASK_FILE}",
        mni.SOURCE,
        f"ICBM 2009a T1 template 197×233×189 1 mm; mask: {mni.MASK_DEFINITION}",
        {1: "brain"},
    ),
)
_SPEC_BY_NAME = {spec.name: spec for spec in _SPECS}


@dataclass(frozen=True)
class SampleInfo:
    """One sample as found on disk.

    Attributes
    ----------
    name
        Short name used by ``sample_path`` and ``medws view --sample``.
    modality
        "CT" or "MR".
    kind
        "nrrd" or "nifti" (a volume file), "dicom" (a folder holding one series) or "phantom"
        (synthetic NRRD).
    path
        The volume file or DICOM folder (exists only when ``available``).
    mask_path
        Label map on the same grid (voxel value → ``labels``), or None.
    available
        True when the image (and its mask) are on disk.
    source
        Where the data come from.
    description
        One line for listings.
    labels
        Label id → name of the mask.
    """

    name: str
    modality: str
    kind: str
    path: Path
    mask_path: Path | None
    available: bool
    source: str
    description: str = ""
    labels: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (paths as strings)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["path"] = str(self.path)
        data["mask_path"] = str(self.mask_path) if self.mask_path else None
        data["labels"] = {str(k): v for k, v in self.labels.items()}
        return data


@dataclass(frozen=True)
class SampleCatalog:
    """What a fetch left in the cache.

    Attributes
    ----------
    root
        The samples folder (``cache_dir()/samples``).
    samples
        Every known sample, available or not.
    offline
        True when the real data are not there and only the phantom is.
    notes
        Human-readable lines about the fetch (the offline reason, for example).
    """

    root: Path
    samples: tuple[SampleInfo, ...]
    offline: bool
    notes: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> SampleInfo:
        for info in self.samples:
            if info.name == name:
                return info
        raise KeyError(name)

    def available(self) -> list[SampleInfo]:
        """Return the samples that are on disk."""
        return [info for info in self.samples if info.available]

    def describe(self) -> list[str]:
        """Return printable lines: the folder, notes, then one line per sample."""
        lines = [f"samples folder: {self.root}"]
        lines += list(self.notes)
        for info in self.samples:
            state = "available" if info.available else "missing"
            lines.append(f"{info.name:14s} {info.modality:3s} {info.kind:8s} {state:9s} {info.path}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest form (paths relative to ``root``)."""
        entries = []
        for info in self.samples:
            entry = info.to_dict()
            entry["path"] = _relative(info.path, self.root)
            entry["mask_path"] = _relative(info.mask_path, self.root) if info.mask_path else None
            entries.append(entry)
        return {
            "format": "medws-samples",
            "version": MANIFEST_VERSION,
            "source": {
                "package": SDIST_NAME,
                "version": SDIST_VERSION,
                "sha256": SDIST_SHA256,
                "fetched": (self.root / _DATA_DIR).is_dir(),
            },
            "extra_sources": [
                {
                    "package": mni.WHEEL_NAME,
                    "version": mni.WHEEL_VERSION,
                    "sha256": mni.WHEEL_SHA256,
                    "fetched": mni.mni152_ready(self.root),
                },
            ],
            "offline": self.offline,
            "notes": list(self.notes),
            "samples": entries,
        }


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# ----------------------------------------------------------------------------- public API
def samples_dir() -> Path:
    """Return (and create) the samples folder, ``app.paths.cache_dir()/samples``."""
    root = cache_dir() / "samples"
    root.mkdir(parents=True, exist_ok=True)
    return root


def load_catalog() -> SampleCatalog:
    """Describe what is in the samples folder now, without fetching anything."""
    root = samples_dir()
    notes: tuple[str, ...] = ()
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        with contextlib.suppress(OSError, ValueError):
            notes = tuple(json.loads(manifest.read_text(encoding="utf-8")).get("notes", ()))
    return _catalog(root, notes)


def list_samples() -> list[SampleInfo]:
    """Return every known sample with its availability (nothing is fetched)."""
    return list(load_catalog().samples)


def get_sample(name: str) -> SampleInfo:
    """Return the :class:`SampleInfo` of ``name``.

    Raises
    ------
    MedwsIOError
        ``name`` is not a known sample.
    """
    if name not in _SPEC_BY_NAME:
        raise MedwsIOError(name, f"unknown sample (known: {', '.join(_SPEC_BY_NAME)})")
    return _info(samples_dir(), _SPEC_BY_NAME[name])


def sample_path(name: str, *, fetch: bool = False, ctx: TaskContext = NULL_CONTEXT) -> Path:
    """Return the volume file or DICOM folder of sample ``name`` (e.g. "lung1", "lung1-dicom").

    Parameters
    ----------
    name
        A sample name (see :func:`list_samples`).
    fetch
        Run :func:`fetch_samples` first when the sample is missing (may download; worker thread
        only in the GUI).
    ctx
        Progress and cancellation of that fetch.

    Raises
    ------
    MedwsIOError
        Unknown name, or the sample is not on disk (run ``medws samples fetch``; offline, only the
        phantom samples exist).
    """
    info = get_sample(name)
    if not info.available and fetch:
        fetch_samples(ctx=ctx)
        info = get_sample(name)
    if not info.available:
        hint = "run `medws samples fetch`"
        if info.source != _PHANTOM_SOURCE:
            hint += "; without network only 'phantom-ct' and 'phantom-dicom' exist"
        raise MedwsIOError(info.path, f"sample {name!r} is not fetched; {hint}")
    return info.path


def fetch_samples(
    *, ctx: TaskContext = NULL_CONTEXT, offline: bool = False, timeout_s: float = PIP_TIMEOUT_S
) -> SampleCatalog:
    """Make the samples available in ``cache_dir()/samples`` (idempotent; fast when done).

    Parameters
    ----------
    ctx
        Progress (fractions in [0, 1]) and cancellation. Cancelling leaves no partial folders.
    offline
        Skip the network: build only the phantom (real data already fetched stay available).
    timeout_s
        Limit for each pip call, in seconds.

    Returns
    -------
    SampleCatalog
        What is on disk afterwards; ``offline`` is True when the real data are missing.

    Raises
    ------
    Cancelled
        When ``ctx`` asks to stop.
    MedwsIOError
        A local file could not be written. A failed download is not an error: it falls back to
        the phantom and says so in ``notes``.
    """
    try:
        return _fetch(ctx=ctx, offline=offline, timeout_s=timeout_s)
    except OSError as exc:  # a cache folder we cannot write: one line, like every IO error
        raise MedwsIOError(exc.filename or cache_dir(), f"cannot write samples: {exc.strerror or exc}") from None


def _fetch(*, ctx: TaskContext, offline: bool, timeout_s: float) -> SampleCatalog:
    root = samples_dir()
    notes: list[str] = []
    with _fetch_lock(root):
        ctx.step(0.0, "samples: phantom")
        _ensure_phantom(root, ctx=_sub(ctx, 0.0, 0.1))
        has_data = _data_ready(root)
        registry_failed = False
        if not has_data and not offline:
            try:
                # pip_download_command is looked up here at call time, so patching samples.pip_download_command works
                target = root / _DATA_DIR
                _fetch_data(target, ctx=_sub(ctx, 0.1, 0.6), timeout_s=timeout_s, command=pip_download_command)
                has_data = True
            except SampleFetchError as exc:
                registry_failed = True
                notes.append(f"download failed: {exc.reason}")
                log.warning("sample download failed: %s", exc)
        if has_data:
            _ensure_lung1_dicom(root, ctx=_sub(ctx, 0.6, 0.75))
        else:
            why = "offline requested" if offline else "the registry could not be reached"
            notes.insert(0, f"{OFFLINE_MESSAGE} ({why}; real samples need `medws samples fetch`)")
            log.warning(OFFLINE_MESSAGE)
        # After a failed download the registry is most likely unreachable: do not wait for pip twice.
        if not offline and not registry_failed:
            notes += mni.ensure_mni152_noted(root, ctx=_sub(ctx, 0.75, 0.98), timeout_s=timeout_s)
        catalog = _catalog(root, tuple(notes))
        _write_manifest(root, catalog)
    ctx.step(1.0, "samples ready")
    return catalog


# ----------------------------------------------------------------------------- catalog
def _info(root: Path, spec: _Spec) -> SampleInfo:
    path = root / spec.rel_path
    mask = root / spec.rel_mask if spec.rel_mask else None
    labels = PHANTOM_LABELS if spec.rel_path.startswith(_PHANTOM_DIR) else spec.labels
    exists = path.is_dir() if spec.kind == "dicom" else path.is_file()
    available = exists and (mask is None or mask.is_file())
    return SampleInfo(
        spec.name, spec.modality, spec.kind, path, mask, available, spec.source, spec.description, dict(labels)
    )


def _catalog(root: Path, notes: tuple[str, ...]) -> SampleCatalog:
    infos = tuple(_info(root, spec) for spec in _SPECS)
    return SampleCatalog(root, infos, offline=not _data_ready(root), notes=notes)


def _write_manifest(root: Path, catalog: SampleCatalog) -> None:
    text = json.dumps(catalog.to_dict(), indent=2, ensure_ascii=False) + "\n"
    path = root / MANIFEST_NAME
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return  # unchanged: a repeated fetch writes nothing
    tmp = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MedwsIOError(path, f"cannot write manifest: {exc.strerror or exc}") from None


def _data_ready(root: Path) -> bool:
    return (root / _DATA_DIR).is_dir()


# ----------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _fetch_lock(root: Path) -> Iterator[None]:
    """Serialise fetches of several processes on ``root/.lock`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one fetch at a time is the user's job
        yield
        return
    with open(root / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- phantom
def _ensure_phantom(root: Path, *, ctx: TaskContext) -> None:
    target = root / _PHANTOM_DIR
    wanted = ("phantom_ct.nrrd", "phantom_labels.nrrd", "labels.json", "dicom")
    if all((target / name).exists() for name in wanted):
        return
    log.info("building the synthetic phantom in %s", target)
    with _staging(root, "phantom") as tmp:
        ct, labels, names = make_ct_phantom(spacing_zyx_mm=_PHANTOM_SPACING_ZYX_MM, seed=0)
        spacing = _PHANTOM_SPACING_ZYX_MM
        origin_lps_mm = tuple(-(n - 1) / 2.0 * s for n, s in zip(ct.shape[::-1], spacing[::-1], strict=True))
        geometry = Geometry(ct.shape, spacing, origin_lps_mm)
        ctx.step(0.3, "samples: writing the phantom")
        write_volume(ct, geometry, tmp / "phantom_ct.nrrd")
        write_volume(labels, geometry, tmp / "phantom_labels.nrrd")
        (tmp / "labels.json").write_text(
            json.dumps({str(k): v for k, v in names.items()}, indent=2) + "\n", encoding="utf-8"
        )
        ctx.step(0.6, "samples: phantom DICOM series")
        write_dicom_series(
            ct,
            geometry,
            tmp / "dicom",
            modality="CT",
            series_description="Synthetic chest phantom",
            study_description="MedWS phantom",
            patient_name="Phantom^Chest",
            patient_id="MEDWS-PHANTOM",
            uid_seed="medws-sample-phantom",
            window=(1500.0, -600.0),
        )
        ctx.check()
        _publish(tmp, target)


# ----------------------------------------------------------------------------- lung1 as DICOM
def _ensure_lung1_dicom(root: Path, *, ctx: TaskContext) -> None:
    """Write lung1 as a DICOM CT series (read through ``read_volume`` so LPS handling is shared)."""
    target = root / _LUNG1_DICOM_DIR
    if target.is_dir():
        return
    log.info("converting lung1 to a DICOM series in %s", target)
    image = read_volume(root / _DATA_DIR / "lung1_image.nrrd", ctx=_sub(ctx, 0.0, 0.3))
    ctx.step(0.3, "samples: writing lung1 as DICOM")
    with _staging(root, "lung1-dicom") as tmp:
        write_dicom_series(
            image.array,
            image.geometry,
            tmp,
            modality="CT",
            series_description="lung1 CT (pyradiomics sample)",
            study_description="MedWS sample lung1",
            patient_name="Sample^Lung1",
            patient_id="MEDWS-LUNG1",
            uid_seed="medws-sample-lung1",
            window=(1500.0, -600.0),
        )
        ctx.check()
        _publish(tmp, target)
