"""The MedWS document model: plain classes with psygnal signals, no Qt, no VTK."""

from app.model.annotations import Box, BoxSet, Finding, FindingSet, Provenance
from app.model.geometry import Geometry
from app.model.history import Edit, History
from app.model.image import ImageVolume
from app.model.labels import Code, LabelTable, LabelVolume, Segment
from app.model.session import Session

__all__ = [
    "Box", "BoxSet", "Code", "Edit", "Finding", "FindingSet", "Geometry", "History", "ImageVolume",
    "LabelTable", "LabelVolume", "Provenance", "Segment", "Session",
]
