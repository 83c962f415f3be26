from __future__ import annotations

import json

import numpy as np
import pytest

from app.io.errors import MedwsIOError
from app.session import (
    SessionFormatError,
    default_session_folder,
    find_session_for,
    load_session,
    read_manifest,
    save_as,
    save_session,
    sessions_root,
)
from app.session import folder as folder_mod
from tests.app.session._helpers import assert_same_session, make_session


def test_save_load_round_trip_is_exact(session, tmp_path):
    folder = save_session(session, tmp_path / "case.medws")
    loaded = load_session(folder)
    assert_same_session(session, loaded)
    assert loaded.uid == session.uid and loaded.study_uid == "1.2.3.4"
    assert loaded.sources[0]["series_uid"] == "1.2.3.4.5"
    assert loaded.sources[0]["source_path"] == "/nonexistent/ct.nii.gz"
    seg = loaded.segmentations[0].table[2]
    assert seg.provenance.source == "lungseg@1.2" and seg.provenance.parameters == {"threshold": 0.5}
    assert seg.locked and seg.status == "completed" and seg.type.meaning == "Mass"


def test_folder_layout_is_documented_and_human_readable(session, tmp_path):
    folder = save_session(session, tmp_path / "case.medws")
    manifest = json.loads((folder / "session.json").read_text())
    assert manifest["format"] == "medws-session" and manifest["format_version"] == 1
    assert sorted(p.name for p in folder.iterdir()) == ["save-000001", "session.json"]
    assert sorted(p.name for p in (folder / "save-000001").iterdir()) == ["annotations.json", "seg-0.seg.nrrd"]
    notes = json.loads((folder / manifest["annotations"]).read_text())
    assert notes["boxes"][0]["note"] == "nodule" and notes["boxes"][0]["provenance"]["status"] == "proposed"
    assert notes["findings"][0]["label"] == "malignant"
    assert manifest["segmentations"][0]["reference_source"] == 0
    assert manifest["sources"][0]["geometry"]["spacing_zyx_mm"][1] == 0.7031250001  # full precision
    assert "[-120.123456789, 87.5, -301.25]" in (folder / "session.json").read_text()  # number arrays on one line


def test_seg_nrrd_in_the_folder_opens_with_the_generic_reader(session, tmp_path):
    from app.io.seg_nrrd import read_seg_nrrd

    folder = save_session(session, tmp_path / "case.medws")
    seg = read_seg_nrrd(folder / read_manifest(folder)["segmentations"][0]["file"])
    assert np.array_equal(seg.layers[0], session.segmentations[0].array)
    assert [s.name for s in seg.segments] == ["left lung", "tumour"]


def test_resave_replaces_the_generation_and_keeps_created_at(session, tmp_path):
    folder = save_session(session, tmp_path / "case.medws")
    first = read_manifest(folder)
    session.segmentations[0].paint((slice(0, 2), slice(0, 2), slice(0, 2)), None, 1)
    save_session(session, folder)
    second = read_manifest(folder)
    assert second["generation"] == 2 and second["created_at"] == first["created_at"]
    assert not (folder / "save-000001").exists()
    assert_same_session(session, load_session(folder))


def test_interrupted_save_leaves_the_previous_save_intact(session, tmp_path, monkeypatch):
    folder = save_session(session, tmp_path / "case.medws")
    before = load_session(folder)
    session.segmentations[0].paint((slice(0, 5), slice(0, 5), slice(0, 5)), None, 2)
    session.boxes.remove(next(iter(session.boxes)).id)

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder_mod, "atomic_write_json", crash)  # dies after the seg.nrrd, before the commit
    with pytest.raises(MedwsIOError, match="previous save kept"):
        save_session(session, folder)
    monkeypatch.undo()
    assert_same_session(before, load_session(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["save-000001", "session.json"]


def test_killed_mid_save_leftovers_are_ignored_then_cleaned(session, tmp_path):
    folder = save_session(session, tmp_path / "case.medws")
    (folder / ".save-000002.tmp-99999").mkdir()
    (folder / ".save-000002.tmp-99999" / "seg-0.seg.nrrd").write_bytes(b"NRRD000")  # half-written
    (folder / "save-000002").mkdir()  # renamed but never committed
    (folder / "save-000002" / "annotations.json").write_text("{")
    assert_same_session(session, load_session(folder))
    save_session(session, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["save-000002", "session.json"]
    assert_same_session(session, load_session(folder))


def test_newer_format_version_is_refused_with_one_line(session, tmp_path):
    folder = save_session(session, tmp_path / "case.medws")
    manifest = json.loads((folder / "session.json").read_text())
    manifest["format_version"] = 99
    (folder / "session.json").write_text(json.dumps(manifest))
    with pytest.raises(SessionFormatError, match="newer than this MedWS") as err:
        load_session(folder)
    assert "\n" not in str(err.value)


def test_older_format_versions_migrate_step_by_step(session, tmp_path, monkeypatch):
    folder = save_session(session, tmp_path / "case.medws")
    manifest = json.loads((folder / "session.json").read_text())
    manifest["format_version"] = 0
    manifest["study"] = None
    (folder / "session.json").write_text(json.dumps(manifest))

    def v0_to_v1(m):
        return {**m, "format_version": 1, "study": {"study_uid": "migrated"}}

    monkeypatch.setitem(folder_mod._MIGRATIONS, 0, v0_to_v1)
    assert load_session(folder).study_uid == "migrated"


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SessionFormatError, match="no session here"):
        load_session(tmp_path / "nothing.medws")


def test_find_session_by_study_uid_or_source_path(session, tmp_path):
    default = save_session(session, default_session_folder(session))
    assert default.parent == sessions_root() and "1.2.3.4" not in default.name
    assert find_session_for(study_uid="1.2.3.4") == default
    assert find_session_for(image_path="/nonexistent/ct.nii.gz") == default
    assert find_session_for(image_path="/nonexistent") == default  # the folder holding the source
    assert find_session_for(study_uid="9.9") is None


def test_save_as_registers_a_new_session_elsewhere(session, tmp_path):
    original = save_session(session, default_session_folder(session))
    old_uid = session.uid
    session.segmentations[0].paint((slice(0, 1), slice(0, 1), slice(0, 1)), None, 1)
    copy = save_as(session, tmp_path / "elsewhere" / "copy.medws")
    assert session.uid != old_uid
    assert find_session_for(study_uid="1.2.3.4") == copy.resolve()  # most recent save wins
    assert read_manifest(original)["uid"] == old_uid
    with pytest.raises(MedwsIOError, match="already exists"):
        save_as(session, copy)


def test_empty_session_round_trips(tmp_path):
    from app.model import Session

    empty = Session()
    assert_same_session(empty, load_session(save_session(empty, tmp_path / "empty.medws")))


def test_uint16_labels_round_trip(tmp_path):
    session = make_session()
    labels = session.segmentations[0]
    from app.model import Segment

    labels.table.add(Segment(300, "many", (1, 2, 3)))
    labels.paint((slice(1, 3), slice(1, 3), slice(1, 3)), None, 300)
    assert labels.array.dtype == np.uint16
    assert_same_session(session, load_session(save_session(session, tmp_path / "u16.medws")))


def test_load_images_reopens_volume_file_sources(tmp_path):
    from app.io.volume_files import read_volume, write_image
    from app.model import Session

    source = make_session().images[0]
    path = write_image(source, tmp_path / "ct.nrrd")
    image = read_volume(path)
    session = Session()
    session.add_image(image)
    labels = session.new_segmentation()
    labels.table.new_segment()
    labels.paint((slice(1, 3), slice(1, 3), slice(1, 3)), None, 1)
    folder = save_session(session, tmp_path / "s.medws")
    assert read_manifest(folder)["sources"][0]["source_path"] == str(path)
    loaded = load_session(folder, load_images=True)
    assert len(loaded.images) == 1 and loaded.active_image is loaded.images[0]
    assert np.array_equal(loaded.images[0].array, source.array)
    assert loaded.images[0].geometry.same_grid(loaded.segmentations[0].geometry)
    assert find_session_for(image_path=path) == folder  # registered: saved outside sessions_root()
    path.unlink()
    assert load_session(folder, load_images=True).images == []  # a missing source is skipped
    assert path.parent.is_dir()


def test_save_never_overwrites_another_or_a_newer_session(session, tmp_path):
    folder = save_session(session, tmp_path / "case.medws")
    with pytest.raises(MedwsIOError, match="another session"):
        save_session(make_session(), folder)
    manifest = json.loads((folder / "session.json").read_text())
    manifest["format_version"] = 2
    (folder / "session.json").write_text(json.dumps(manifest))
    with pytest.raises(SessionFormatError, match="newer"):
        save_session(session, folder)
    assert (folder / "save-000001").is_dir()
