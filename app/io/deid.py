"""De-identification of DICOM objects: PS3.15 Annex E Basic Application Level Confidentiality Profile.

One :class:`Deidentifier` serves one export. Every DICOM object the export writes goes through
:meth:`Deidentifier.apply`, so UIDs are remapped *consistently* (an image's SOPInstanceUID and the
SEG's ReferencedSOPInstanceUID map to the same new UID) and every patient gets the same pseudonym.
The mapping (original → replacement) stays in memory and is written only by
:meth:`Deidentifier.write_mapping`, when the user asks for it, to a path the user chooses.

Actions follow the basic profile column of PS3.15 Table E.1-1 (``D`` dummy, ``Z`` zero length,
``X`` remove, ``U`` new UID; compound ``X/Z/D`` resolves to the least destructive one that keeps
type-1 attributes valid, ``U*`` sequences are kept and their UIDs remapped). On top of the table:
private tags, curves (50xx) and overlay data/comments (60xx) are removed; any other person name is
emptied; any non-standard UID is remapped. Dates follow :attr:`DeidOptions.dates`:

* ``"shift"``: the Retain Longitudinal Temporal Information *Modified Dates* option (DCM 113107):
  every DA/DT value moves by one per-export offset (days); times are kept.
* ``"remove"``: the basic profile alone (dates emptied, removed or replaced by dummies).
* ``"keep"``: the *Full Dates* option (DCM 113106).

Patient name and ID become a pseudonym (never empty: 3D Slicer refuses empty ones). The object
records PatientIdentityRemoved=YES, DeidentificationMethod and DeidentificationMethodCodeSequence.
Not done: burned-in pixel text (no Clean Pixel Data claim), structured-content cleaning.
Not thread-safe: use one Deidentifier per export, from one thread.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import generate_uid

__all__ = ["BASIC_PROFILE", "DeidOptions", "Deidentifier", "basic_profile_action"]

#: PS3.15 Table E.1-1, basic profile column (tags as ggggeeee hex), grouped by action.
_PROFILE_TEXT = {
    "D": """
        00401101 0040A073 0040A075 0040A123 00700001
    """,
    "U": """
        00001001 00020003 00041511 00080014 00080018 00080058 00081155 00081195 00083010 00181002 00182042 0020000D
        0020000E 00200052 00200200 00209161 00209164 00281199 00281214 00404023 0040A124 0040A171 0040A172 0040A402
        0040DB0C 0040DB0D 00620021 0070031A 00701101 00701102 00880140 30060024 300600C2 300A0013
    """,
    "X": """
        00001000 00080015 00080024 00080025 00080034 00080035 00080081 00080092 00080094 00080096 0008009D 00080201
        00081030 0008103E 00081040 00081048 00081049 00081050 00081052 00081060 00081062 00081080 00081084 00081120
        00082111 00084000 00100021 00100032 00100050 00100101 00100102 00101000 00101001 00101002 00101005 00101010
        00101020 00101030 00101040 00101050 00101060 00101080 00101081 00101090 00101100 00102000 00102110 00102150
        00102152 00102154 00102155 00102160 00102180 001021A0 001021B0 001021C0 001021D0 001021F0 00102297 00102299
        00104000 00181004 00181005 00181007 00181008 00184000 00189424 0018A003 00203401 00203404 00203406 00204000
        00209158 00284000 00320012 00321020 00321021 00321030 00321032 00321033 00321070 00324000 00380004 00380010
        00380011 0038001E 00380020 00380021 00380040 00380050 00380060 00380061 00380062 00380300 00380400 00380500
        00384000 00400001 00400002 00400003 00400004 00400005 00400006 00400007 0040000B 00400010 00400011 00400012
        00400241 00400242 00400243 00400244 00400245 00400250 00400251 00400253 00400254 00400275 00400280 00400555
        00401001 00401004 00401005 00401010 00401011 00401102 00401103 00401104 00401400 00402001 00402008 00402009
        00402010 00402011 00402400 00403001 00404005 00404010 00404011 00404025 00404027 00404028 00404030 00404034
        00404035 00404036 00404037 00404050 00404051 00404052 0040A027 0040A078 0040A07A 0040A07C 0040A192 0040A193
        0040A307 0040A352 0040A353 0040A354 0040A358 0040A730 00700086 00880200 00880904 00880906 00880910 00880912
        04000100 04000402 04000403 04000404 04000550 04000561 20300020 30080105 300C0113 40000010 40004000 40080042
        40080102 4008010A 4008010B 4008010C 40080111 40080114 40080115 40080118 40080119 4008011A 40080202 40080300
        40084000 FFFAFFFA FFFCFFFC
    """,
    "X/D": """
        00080021 0008002A 00080031 00081072 00181030 00181400 0018700A 00189516 00189517
    """,
    "X/Z": """
        00080022 00080032 00081110 00102203 00321060 300E0008
    """,
    "X/Z/D": """
        00080080 00080082 00081010 00081070 00081111 00181000
    """,
    "X/Z/U*": """
        00081140 00082112
    """,
    "Z": """
        00080020 00080030 00080050 00080090 0008009C 00100010 00100020 00100030 00100040 00200010 00402016 00402017
        0040A088 00700084
    """,
    "Z/D": """
        00080023 00080033 00180010
    """,
}
#: Attributes of later editions of Table E.1-1 (dates, clinical trial, calibration) we also treat.
_PROFILE_EXTRA = {
    "X/D": """
        00080012 00189074 00189151 00189623 0040A030 0040A032 0040A120 0040A121 0040A122 00120010 00120020
        00120040 00120042 00120081
    """,
    "X/Z/D": "00080013",
    "X/Z": "00081032",
    "Z": "00120021 00120030 00120031 00120050 00120060",
    "X": """
        00181009 00181012 00181014 00181200 00181201 00320032 00320033 00320034 00320035 00321000 00321001
        00321010 00321011 00321040 00321041 00321050 00321051 00100033 00100034 00100035 00100024 0008103F
        00081041 00400009 00120051 00120071 00120072 00380014
    """,
}


def _parse(groups: dict[str, str]) -> dict[int, str]:
    return {int(tag, 16): action for action, text in groups.items() for tag in text.split()}


BASIC_PROFILE: dict[int, str] = {**_parse(_PROFILE_TEXT), **_parse(_PROFILE_EXTRA)}

#: DICOM CID 7050 codes written to DeidentificationMethodCodeSequence.
_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "shift": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "keep": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
}
#: UI attributes that hold well-known identifiers (classes, coding schemes), never instance UIDs.
_KEEP_UID_KEYWORDS = frozenset(
    {
        "TransferSyntaxUID",
        "CodingSchemeUID",
        "ContextUID",
        "MappingResourceUID",
        "ContextGroupExtensionCreatorUID",
        "ImplementationClassUID",
        "PrivateInformationCreatorUID",
        "EncryptedContentTransferSyntaxUID",
    }
)
_DATE_TAGS_NEVER_SHIFTED = frozenset({0x00100030, 0x00100032})  # birth date/time: always basic action
_DUMMY = {
    "PN": "Anonymized",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    "UI": None,
}


def basic_profile_action(tag: int) -> str | None:
    """Return the basic-profile action code of ``tag`` ("X", "Z/D", ...) or None when unlisted."""
    tag = int(tag)
    if tag in BASIC_PROFILE:
        return BASIC_PROFILE[tag]
    group, elem = tag >> 16, tag & 0xFFFF
    if group & 1:
        return "X"  # private
    if 0x5000 <= group <= 0x50FF and not group & 1:
        return "X"  # curves
    if 0x6000 <= group <= 0x60FF and elem in (0x3000, 0x4000):
        return "X"  # overlay data and comments
    return None


@dataclass(frozen=True)
class DeidOptions:
    """Choices for one de-identified export.

    Parameters
    ----------
    dates
        "shift" (default), "remove" or "keep" (see the module docstring).
    date_offset_days
        Days added to every date with ``dates="shift"``; None draws a random offset of -1 to -3650
        days per export.
    salt
        Secret mixed into new UIDs; None draws one per export (UIDs of two exports do not link).
    pseudonym_prefix
        Pseudonyms are ``<prefix>0001``, ``<prefix>0002``... in order of first appearance.
    """

    dates: str = "shift"
    date_offset_days: int | None = None
    salt: str | None = None
    pseudonym_prefix: str = "ANON"

    def __post_init__(self) -> None:
        if self.dates not in ("shift", "remove", "keep"):
            raise ValueError(f"dates must be 'shift', 'remove' or 'keep', got {self.dates!r}")


class Deidentifier:
    """Applies the basic profile to datasets of one export, with consistent UIDs and pseudonyms."""

    def __init__(self, options: DeidOptions | None = None) -> None:
        self.options = options or DeidOptions()
        self._salt = self.options.salt or secrets.token_hex(16)
        offset = self.options.date_offset_days
        self.date_offset_days = int(offset) if offset is not None else -(1 + secrets.randbelow(3650))
        self._uids: dict[str, str] = {}
        self._new_uids: set[str] = set()
        self._seen: set[int] = set()
        self._patients: dict[str, str] = {}
        self._cases: dict[str, str] = {}

    # ------------------------------------------------------------------ mappings
    def uid(self, original: str) -> str:
        """Return the replacement of ``original`` (the same one for the whole export)."""
        original = str(original).strip()
        if not original:
            return original
        if original not in self._uids:
            self._uids[original] = str(generate_uid(entropy_srcs=[self._salt, original]))
            self._new_uids.add(self._uids[original])
        return self._uids[original]

    def pseudonym(self, patient_key: str) -> str:
        """Return the pseudonym of a patient (by original PatientID, or name, or study UID)."""
        if patient_key not in self._patients:
            self._patients[patient_key] = f"{self.options.pseudonym_prefix}{len(self._patients) + 1:04d}"
        return self._patients[patient_key]

    def case_id(self, original: str) -> str:
        """Return a PHI-free case id (``case_0001``...) for a case name used in files and JSON."""
        if original not in self._cases:
            self._cases[original] = f"case_{len(self._cases) + 1:04d}"
        return self._cases[original]

    def reader(self, user_name: str | None) -> str:
        """Return a pseudonym (``reader_01``...) for a reader's user name ("" stays "")."""
        if not user_name:
            return ""
        key = f"reader:{user_name}"
        if key not in self._cases:
            self._cases[key] = f"reader_{sum(k.startswith('reader:') for k in self._cases) + 1:02d}"
        return self._cases[key]

    def mapping(self) -> dict[str, Any]:
        """Return the private re-identification table (patients, cases, UIDs, date offset)."""
        return {
            "format": "medws-deid-mapping",
            "version": 1,
            "date_offset_days": self.date_offset_days,
            "dates": self.options.dates,
            "patients": dict(self._patients),
            "cases": dict(self._cases),
            "uids": dict(self._uids),
        }

    def write_mapping(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`mapping` as JSON (mode 0600) atomically. Call only when the user asks."""
        from app.io.label_tables import atomic_write_text

        path = atomic_write_text(Path(path), json.dumps(self.mapping(), indent=2) + "\n")
        os.chmod(path, 0o600)
        return path

    # ------------------------------------------------------------------ datasets
    def apply(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place (file meta included) and return it."""
        key = (
            str(ds.get("PatientID", "") or "")
            or str(ds.get("PatientName", "") or "")
            or str(ds.get("StudyInstanceUID", "") or "unknown")
        )
        pseudonym = self.pseudonym(key)
        self._seen: set[int] = set()
        self._clean(ds)
        ds.PatientName = f"{pseudonym}^"  # family-name component: dciodvfy warns on the bare form
        ds.PatientID = pseudonym
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "PS3.15 Basic Application Level Confidentiality Profile (MedWS)"
        codes = [_CODES["basic"]] + ([_CODES[self.options.dates]] if self.options.dates in _CODES else [])
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        ds.LongitudinalTemporalInformationModified = {"shift": "MODIFIED", "remove": "REMOVED", "keep": "UNMODIFIED"}[
            self.options.dates
        ]
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return ds

    def _clean(self, ds: Dataset) -> None:
        # writers (highdicom) may put the same item object in several sequences: clean it once
        if id(ds) in self._seen:
            return
        self._seen.add(id(ds))
        for elem in list(ds):
            self._clean_element(ds, elem)

    def _clean_element(self, ds: Dataset, elem: DataElement) -> None:
        tag, vr = int(elem.tag), elem.VR
        action = basic_profile_action(tag)
        if tag in (0x00100010, 0x00100020):
            return  # replaced by the pseudonym in apply()
        if vr in ("DA", "DT", "TM") and tag not in _DATE_TAGS_NEVER_SHIFTED and self.options.dates != "remove":
            if self.options.dates == "shift" and vr in ("DA", "DT"):
                elem.value = self._shift(elem.value, vr)
            return
        if action is None:
            if vr == "SQ":
                for item in elem.value or []:
                    self._clean(item)
            elif vr == "UI":
                self._remap(elem)
            elif vr == "PN" and elem.value:
                elem.value = ""
            return
        if "U" in action:
            if vr == "SQ":
                for item in elem.value or []:
                    self._clean(item)
            else:
                self._remap(elem)
        elif "D" in action:
            if vr == "SQ":
                for item in elem.value or []:
                    self._clean(item)
            elif vr == "UI":
                self._remap(elem)
            else:
                elem.value = _DUMMY.get(vr, "ANONYMIZED") if vr not in ("DA", "TM", "DT") else _DUMMY[vr]
        elif "Z" in action:
            elem.value = Sequence() if vr == "SQ" else ""
        else:
            del ds[Tag(tag)]

    def _remap(self, elem: DataElement) -> None:
        if elem.keyword in _KEEP_UID_KEYWORDS or elem.keyword.endswith("ClassUID") or not elem.value:
            return
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        new = [
            v if str(v).startswith("1.2.840.10008.") or str(v) in self._new_uids else self.uid(str(v)) for v in values
        ]
        elem.value = new if elem.VM > 1 else new[0]

    def _shift(self, value: Any, vr: str) -> Any:
        values = (
            list(value)
            if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, str)
            else [value]
        )
        out = [self._shift_one(str(v), vr) for v in values]
        return out if len(out) != 1 else out[0]

    def _shift_one(self, text: str, vr: str) -> str:
        text = text.strip()
        if len(text) < 8:
            return ""
        try:
            day = _dt.datetime.strptime(text[:8], "%Y%m%d").date()
        except ValueError:
            return ""
        shifted = (day + _dt.timedelta(days=self.date_offset_days)).strftime("%Y%m%d")
        return shifted + (text[8:] if vr == "DT" else "")

    def apply_all(self, datasets: Iterable[Dataset]) -> list[Dataset]:
        """Apply :meth:`apply` to several datasets (one export) and return them."""
        return [self.apply(ds) for ds in datasets]
