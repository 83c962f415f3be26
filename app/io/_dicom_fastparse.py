"""A small, fast reader for the top-level header of common DICOM files.

Scanning is dominated by pydicom's generic element parsing. Most CT/MR files are little-endian
(explicit or implicit VR) single-frame images whose header is a few kilobytes; this module walks
such a header with ``struct`` and returns a pydicom :class:`~pydicom.dataset.Dataset` of raw
elements (values decoded lazily, as pydicom does), stopping at Pixel Data. Anything unusual
(big endian, deflate, multi-frame functional groups, odd lengths, truncation) returns None, and
the caller uses ``pydicom.dcmread`` instead, which also produces the error messages.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import VR

_PIXEL_DATA = 0x7FE00010
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_LITTLE_ENDIAN_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
#: Encapsulated syntaxes still encode the data set as explicit VR little endian.
_ENCAPSULATED_PREFIXES = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")
_FIRST_READ = 16384
_MULTIFRAME_TAGS = (0x00280008, 0x52009230)  # NumberOfFrames, PerFrameFunctionalGroupsSequence
_U16 = struct.Struct("<HH")
_U32 = struct.Struct("<I")
_H = struct.Struct("<H")
_KNOWN_VRS = frozenset(v.value.encode("ascii") for v in VR)


class _Unsupported(Exception):
    pass


class _Reader:
    """Bytes of the file head, extended on demand."""

    def __init__(self, fh) -> None:
        self.fh = fh
        self.buf = fh.read(_FIRST_READ)

    def need(self, end: int) -> None:
        while end > len(self.buf):
            more = self.fh.read(max(_FIRST_READ, end - len(self.buf)))
            if not more:
                raise _Unsupported("truncated")
            self.buf += more


def _vr_of(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _parse(r: _Reader, pos: int, end: int | None, implicit: bool, elements: dict | None, stop_at_pixels: bool) -> int:
    """Walk elements from ``pos`` to ``end`` (None: until Pixel Data or an item delimiter).

    Top-level elements go into ``elements``; nested ones (inside sequences) are only skipped.
    Returns the position after the last element read.
    """
    while end is None or pos < end:
        r.need(pos + 8)
        group, elem = _U16.unpack_from(r.buf, pos)
        tag = (group << 16) | elem
        if tag in (_ITEM_END, _SEQ_END):
            return pos + 8
        if implicit or group == 0xFFFE:
            vr = None
            length = _U32.unpack_from(r.buf, pos + 4)[0]
            header = 8
        else:
            vr = r.buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                r.need(pos + 12)
                length = _U32.unpack_from(r.buf, pos + 8)[0]
                header = 12
            else:
                if vr not in _KNOWN_VRS:
                    raise _Unsupported("unknown VR")
                length = _H.unpack_from(r.buf, pos + 6)[0]
                header = 8
        value_pos = pos + header
        vr_text = vr.decode("ascii") if vr is not None else None
        if tag == _PIXEL_DATA and stop_at_pixels:
            if elements is not None:
                elements[BaseTag(tag)] = RawDataElement(BaseTag(tag), vr_text, length, None, value_pos, implicit, True)
            return value_pos
        is_sequence = (
            vr == b"SQ" or (vr_text is None and _vr_of(tag) == "SQ") or (length == _UNDEFINED and vr in (None, b"UN"))
        )
        if length == _UNDEFINED:
            if not is_sequence:
                raise _Unsupported("undefined length outside a sequence")
            # items of an undefined-length UN element are implicit VR little endian (PS3.5 6.2.2)
            next_pos = _skip_items(r, value_pos, implicit or vr == b"UN")
        else:
            next_pos = value_pos + length  # defined-length values and sequences: skipped as a block
        if elements is not None and group != 0xFFFE:
            r.need(next_pos)
            value = r.buf[value_pos:next_pos]
            elements[BaseTag(tag)] = RawDataElement(
                BaseTag(tag), "SQ" if is_sequence else vr_text, length, value, value_pos, implicit, True
            )
        pos = next_pos
    return pos


def _skip_items(r: _Reader, pos: int, implicit: bool) -> int:
    """Skip the items of an undefined-length sequence; return the position after its delimiter."""
    for _ in range(1_000_000):
        r.need(pos + 8)
        group, elem = _U16.unpack_from(r.buf, pos)
        tag = (group << 16) | elem
        length = _U32.unpack_from(r.buf, pos + 4)[0]
        if tag == _SEQ_END:
            return pos + 8
        if tag != _ITEM:
            raise _Unsupported("expected an item")
        if length == _UNDEFINED:
            pos = _parse(r, pos + 8, None, implicit, None, stop_at_pixels=False)
        else:
            pos = pos + 8 + length
    raise _Unsupported("too many items")


def fast_header(fh: BinaryIO) -> Dataset | None:
    """Return the top-level header of the file ``fh`` (positioned at 0) as raw elements, or None.

    Returns None whenever the file is not a plain little-endian DICOM file with a preamble, is a
    multi-frame image, or anything looks odd; then ``pydicom.dcmread`` should be used.
    """
    try:
        r = _Reader(fh)
        if len(r.buf) < 144 or r.buf[128:132] != b"DICM":
            return None
        meta: dict = {}
        pos = 132
        # File meta group 0002 is always explicit VR little endian.
        while True:
            r.need(pos + 8)
            group = _U16.unpack_from(r.buf, pos)[0]
            if group != 0x0002:
                break
            pos = _parse(r, pos, _element_end(r, pos), False, meta, stop_at_pixels=False)
        syntax_elem = meta.get(0x00020010)
        if syntax_elem is None:
            return None
        syntax = syntax_elem.value.decode("ascii", "replace").strip(" \x00")
        if syntax in _LITTLE_ENDIAN_SYNTAXES:
            implicit = syntax == "1.2.840.10008.1.2"
        elif syntax.startswith(_ENCAPSULATED_PREFIXES):
            implicit = False
        else:
            return None
        elements: dict = {}
        _parse(r, pos, None, implicit, elements, stop_at_pixels=True)
    except Exception:  # anything odd (deep nesting, bad lengths...): let pydicom judge the file
        return None
    if any(tag in elements for tag in _MULTIFRAME_TAGS):
        return None
    ds = Dataset(elements)
    ds.file_meta = Dataset(meta)
    ds.filename = getattr(fh, "name", None)
    ds._medws_little_endian = True
    return ds


def _element_end(r: _Reader, pos: int) -> int:
    """End position of the single explicit-VR element at ``pos`` (for the meta group walk)."""
    vr = r.buf[pos + 4 : pos + 6]
    if vr in _LONG_VRS:
        r.need(pos + 12)
        length = _U32.unpack_from(r.buf, pos + 8)[0]
        if length == _UNDEFINED:
            raise _Unsupported("undefined length in file meta")
        return pos + 12 + length
    return pos + 8 + _H.unpack_from(r.buf, pos + 6)[0]
