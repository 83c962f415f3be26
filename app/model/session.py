"""The open study: its images, segmentations, boxes and findings."""

from __future__ import annotations

import uuid
from typing import Any

from psygnal import Signal

from app.model.annotations import BoxSet, FindingSet
from app.model.image import ImageVolume
from app.model.labels import LabelTable, LabelVolume
from app.model.measurements import MeasurementSet
from app.model.review import AnnotationRef, ReviewClock, ReviewTracker


class Session:
    """Everything open in one MedWS window. No module-level singletons: the composition root
    (``ui.main``) or a CLI command creates one.

    Signals: ``image_added(ImageVolume)``, ``active_image_changed(ImageVolume | None)``,
    ``segmentation_added(LabelVolume)``. GUI thread only.

    Attributes kept by the session folder (:mod:`app.session`): ``uid`` (random hex, stable across
    saves), ``study_uid`` (StudyInstanceUID of the open study, the key used to find its session;
    falls back to the active image's metadata), ``sources`` (references to the source images:
    UIDs and paths, never pixels; kept even when the images are not loaded) and ``measurements``
    (JSON-ready dicts of :attr:`measurement_set`, see :mod:`app.model.measurements`),
    ``original_proposals`` (the original of every model proposal, see :mod:`app.model.review`) and
    ``review_clock`` (active review time in seconds).
    """

    image_added = Signal(object)
    active_image_changed = Signal(object)
    segmentation_added = Signal(object)

    def __init__(self) -> None:
        self.images: list[ImageVolume] = []
        self.segmentations: list[LabelVolume] = []
        self.boxes = BoxSet()
        self.findings = FindingSet()
        self._active_image: ImageVolume | None = None
        self.uid: str = uuid.uuid4().hex
        self.study_uid: str | None = None
        self.sources: list[dict[str, Any]] = []
        self.measurement_set = MeasurementSet()  # live measurements; ``measurements`` is their JSON form
        # review workflow (app.model.review): originals of proposals by AnnotationRef, active review time
        self.original_proposals: dict[AnnotationRef, Any] = {}
        self.review_clock = ReviewClock()
        self.review = ReviewTracker(self)

    @property
    def measurements(self) -> list[dict[str, Any]]:
        """JSON form of :attr:`measurement_set` (saved by the session folder); assigning reloads the set."""
        return self.measurement_set.records

    @measurements.setter
    def measurements(self, records: list[dict[str, Any]]) -> None:
        self.measurement_set.load_records(records)

    @property
    def active_image(self) -> ImageVolume | None:
        """The image the viewports show."""
        return self._active_image

    def add_image(self, image: ImageVolume, *, activate: bool = True) -> ImageVolume:
        """Add an image volume (a loaded series or a derived volume)."""
        self.images.append(image)
        self.image_added.emit(image)
        if activate:
            self.set_active_image(image)
        return image

    def set_active_image(self, image: ImageVolume | None) -> None:
        """Make ``image`` (already added) the one on display."""
        if image is not None and image not in self.images:
            raise ValueError("set_active_image: image is not part of this session")
        if image is not self._active_image:
            self._active_image = image
            self.active_image_changed.emit(image)

    def add_segmentation(self, labels: LabelVolume) -> LabelVolume:
        """Add an existing segmentation (e.g. a labelmap file opened with its image)."""
        self.segmentations.append(labels)
        self.segmentation_added.emit(labels)
        return labels

    def new_segmentation(self, name: str = "Segmentation", reference: ImageVolume | None = None) -> LabelVolume:
        """Create an empty segmentation on the grid of ``reference`` (default: the active image)."""
        ref = reference or self._active_image
        if ref is None:
            raise ValueError("new_segmentation: no image open")
        labels = LabelVolume(ref.geometry, LabelTable(), name=name)
        self.segmentations.append(labels)
        self.segmentation_added.emit(labels)
        return labels
