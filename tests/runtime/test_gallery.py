"""The gallery: every image lands on disk, is indexed, and can be found again, even from another process."""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import threading
from typing import Any

import pytest

import dalle_nb.runtime.gallery as gallery_module
from dalle_nb.runtime.gallery import Gallery, GalleryIndexError, Record, default_dir

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
T0 = 1_795_000_000.0  # a fixed moment in 2026, so ordering does not depend on the clock


def _save(gallery: Gallery, prompt: str = "a red fox", **kw: Any) -> Record:
    kw.setdefault("model", "gpt-image-2")
    kw.setdefault("kind", "generate")
    kw.setdefault("output_format", "png")
    kw.setdefault("size", "1024x1024")
    data = kw.pop("data", f"bytes of {prompt}".encode())
    return gallery.save(data, prompt=prompt, **kw)


def _files(directory: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_nothing_is_created_until_the_first_save(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "deep" / "gallery"
    gallery = Gallery(target)
    assert len(gallery) == 0
    assert gallery.search() == []
    with pytest.raises(KeyError):
        gallery.get("img_missing")
    assert not target.exists()
    assert repr(gallery) == f"<Gallery {target} (0 images)>"


def test_saved_file_holds_exactly_the_bytes(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path / "g")
    data = bytes(range(256)) * 40
    record = _save(gallery, data=data, output_format="webp", created=T0)
    assert record.path.is_absolute()
    assert record.path.read_bytes() == data
    assert record.path.suffix == ".webp"
    assert record.path.parent.name == "2026-11-18"
    assert record.path.parent.parent == gallery.directory / "images"
    assert record.id.startswith("img_20261118T") and record.path.stem == record.id
    assert (gallery.directory / "index.sqlite3").is_file()


def test_get_round_trips_every_field(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    parent = _save(gallery, created=T0)
    record = gallery.save(
        b"\x89PNG fake",
        prompt="Ein Fuchs im Schnee 🦊",
        revised_prompt="A fox in the snow, photographic",
        model="gpt-image-2",
        kind="edit",
        output_format="jpeg",
        size="1536x1024",
        params={"quality": "high", "n": 1, "background": None, "where": pathlib.Path("/x")},
        usage={"input_tokens": 12, "output_tokens": 4160, "details": {"image_tokens": 4160}},
        parent_ids=[parent.id],
        backend="https://gateway.example/v1",
        created=T0 + 1.25,
    )
    got = gallery.get(record.id)
    assert got == record
    assert got.prompt == "Ein Fuchs im Schnee 🦊"
    assert got.revised_prompt == "A fox in the snow, photographic"
    assert (got.model, got.kind, got.output_format, got.size) == ("gpt-image-2", "edit", "jpeg", "1536x1024")
    # not JSON-serialisable values survive as text rather than losing the picture
    assert got.params == {"quality": "high", "n": 1, "background": None, "where": "/x"}
    assert got.usage == {"input_tokens": 12, "output_tokens": 4160, "details": {"image_tokens": 4160}}
    assert got.parent_ids == (parent.id,)
    assert got.backend == "https://gateway.example/v1"
    assert got.created == T0 + 1.25
    assert gallery.get(parent.id).usage is None and gallery.get(parent.id).parent_ids == ()
    assert gallery.get(parent.id).params == {} and gallery.get(parent.id).backend == "offline"


def test_get_unknown_id_raises_a_clear_key_error(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    _save(gallery)
    with pytest.raises(KeyError, match="img_nope"):
        gallery.get("img_nope")


def test_search_text_matches_prompt_and_revised_prompt_case_insensitively(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    fox = _save(gallery, "A Red FOX", created=T0)
    owl = _save(gallery, "an owl", revised_prompt="A snowy owl beside a fox den", created=T0 + 1)
    _save(gallery, "a cat", created=T0 + 2)
    assert [r.id for r in gallery.search("fox")] == [owl.id, fox.id]
    assert [r.id for r in gallery.search("SNOWY")] == [owl.id]
    assert gallery.search("giraffe") == []
    assert len(gallery.search()) == len(gallery.search("")) == 3


def test_search_treats_percent_underscore_and_backslash_literally(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    pct = _save(gallery, "100% cotton shirt", created=T0)
    _save(gallery, "1000 cotton shirts", created=T0 + 1)
    under = _save(gallery, "file a_b.png", created=T0 + 2)
    _save(gallery, "file axb.png", created=T0 + 3)
    slash = _save(gallery, r"path C:\temp\%x", created=T0 + 4)
    assert [r.id for r in gallery.search("100%")] == [pct.id]
    assert [r.id for r in gallery.search("a_b")] == [under.id]
    assert [r.id for r in gallery.search("\\")] == [slash.id]
    assert [r.id for r in gallery.search(r"\%x")] == [slash.id]
    assert gallery.search("%") == [slash, pct]
    assert gallery.search("_") == [under]


def test_search_filters_by_model_and_kind(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    a = _save(gallery, "fox", model="gpt-image-2", kind="generate", created=T0)
    b = _save(gallery, "fox", model="dall-e-2", kind="vary", parent_ids=[a.id], created=T0 + 1)
    c = _save(gallery, "fox", model="gpt-image-2", kind="edit", parent_ids=[a.id], created=T0 + 2)
    assert [r.id for r in gallery.search(model="gpt-image-2")] == [c.id, a.id]
    assert [r.id for r in gallery.search(kind="vary")] == [b.id]
    assert [r.id for r in gallery.search("fox", model="gpt-image-2", kind="edit")] == [c.id]
    assert gallery.search(model="dall-e-3") == []


def test_search_is_newest_first_and_honours_limit(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    # saved out of time order: the order comes from `created`, not from insertion
    times = [T0 + 5, T0 + 1, T0 + 9, T0 + 3, T0 + 7]
    records = {t: _save(gallery, f"img at {t}", created=t) for t in times}
    newest_first = [records[t].id for t in sorted(times, reverse=True)]
    assert [r.id for r in gallery.search()] == newest_first
    assert [r.id for r in gallery.search(limit=2)] == newest_first[:2]
    assert gallery.search(limit=0) == []
    with pytest.raises(ValueError):
        gallery.search(limit=-1)


def test_ids_sort_by_time_and_are_unique(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    same_second = [_save(gallery, "x", created=T0) for _ in range(20)]
    assert len({r.id for r in same_second}) == 20
    later = _save(gallery, "x", created=T0 + 60)
    assert all(r.id < later.id for r in same_second)


def test_deleted_files_are_skipped_by_search(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    old = _save(gallery, "fox one", created=T0)
    mid = _save(gallery, "fox two", created=T0 + 1)
    new = _save(gallery, "fox three", created=T0 + 2)
    new.path.unlink()
    assert [r.id for r in gallery.search("fox")] == [mid.id, old.id]
    # the limit is filled from older images rather than coming back short
    assert [r.id for r in gallery.search(limit=1)] == [mid.id]
    # the index still remembers what was asked
    assert gallery.get(new.id).prompt == "fox three"
    assert len(gallery) == 3


def test_history_survives_a_new_process(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "history"
    gallery = Gallery(directory)
    first = _save(gallery, "before the restart", model="gpt-image-2", created=T0)
    second = _save(gallery, "also before", revised_prompt="revised", kind="edit", parent_ids=[first.id], created=T0 + 1)
    code = (
        "import json, sys\n"
        "from dalle_nb.runtime.gallery import Gallery\n"
        "g = Gallery(sys.argv[1])\n"
        "print(json.dumps([[r.id, r.prompt, r.revised_prompt, r.kind, list(r.parent_ids), r.path.read_bytes().hex()]"
        " for r in g.search()]))\n"
        "g.save(b'from the child', prompt='written by the child', model='m', kind='generate',"
        " output_format='png', size='1x1')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", code, str(directory)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == [
        [second.id, "also before", "revised", "edit", [first.id], b"bytes of also before".hex()],
        [first.id, "before the restart", None, "generate", [], b"bytes of before the restart".hex()],
    ]
    # and what the other process wrote is visible here, through the same Gallery object
    assert [r.prompt for r in gallery.search("child")] == ["written by the child"]
    assert len(gallery) == 3


def test_concurrent_saves_from_many_threads_all_land(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path / "g")
    errors: list[BaseException] = []
    records: list[Record] = []
    records_lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                rec = _save(gallery, f"thread {n} image {i}", data=f"{n}-{i}".encode())
                with records_lock:
                    records.append(rec)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(gallery) == 80
    assert len({r.id for r in records}) == 80
    assert all(r.path.read_bytes() == r.prompt.replace("thread ", "").replace(" image ", "-").encode() for r in records)
    assert len(gallery.search(limit=1000)) == 80


def test_atomic_writes_leave_no_temp_files(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path / "g")
    records = [_save(gallery, f"p{i}", output_format=fmt) for i, fmt in enumerate(["png", "webp", "jpeg"] * 3)]
    images = sorted(p for p in _files(gallery.directory / "images"))
    assert images == sorted(r.path for r in records)
    assert not [p for p in _files(gallery.directory) if p.suffix == ".tmp" or p.name.startswith(".")]


def test_a_failed_index_write_keeps_the_picture_and_raises(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    (tmp_path / "index.sqlite3").write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(GalleryIndexError) as caught:
        _save(gallery, "precious", data=b"paid for")
    assert caught.value.path.read_bytes() == b"paid for"
    assert caught.value.record_id == caught.value.path.stem
    assert str(caught.value.path) in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert "unreadable" in repr(gallery)


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path / "g")
    with pytest.raises(ValueError, match="kind"):
        _save(gallery, kind="upscale")
    with pytest.raises(ValueError, match="output_format"):
        _save(gallery, output_format="gif")
    with pytest.raises(ValueError, match="empty"):
        _save(gallery, data=b"")
    assert not (tmp_path / "g").exists()
    assert _save(gallery, output_format="JPG").output_format == "jpeg"


def test_index_uses_wal_and_records_its_schema_version(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    _save(gallery)
    with sqlite3.connect(tmp_path / "index.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (gallery_module.SCHEMA_VERSION,)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"images_created", "images_model", "jobs_created"} <= names
    assert {"images", "jobs", "job_results"} <= tables


def test_a_version_1_index_is_migrated_and_its_pictures_kept(tmp_path: pathlib.Path) -> None:
    picture = tmp_path / "images" / "2026-01-01" / "img_20260101T000000_00000000.png"
    picture.parent.mkdir(parents=True)
    picture.write_bytes(b"old picture")
    with sqlite3.connect(tmp_path / "index.sqlite3") as conn:
        conn.execute(
            "CREATE TABLE images (id TEXT PRIMARY KEY, path TEXT NOT NULL, prompt TEXT NOT NULL, revised_prompt TEXT,"
            " model TEXT NOT NULL, kind TEXT NOT NULL, size TEXT NOT NULL, output_format TEXT NOT NULL,"
            " params TEXT NOT NULL, usage TEXT, created REAL NOT NULL, parent_ids TEXT NOT NULL, backend TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO images VALUES ('img_20260101T000000_00000000', 'images/2026-01-01/"
            "img_20260101T000000_00000000.png', 'an old owl', NULL, 'dall-e-3', 'generate', '1024x1024', 'png', '{}',"
            " NULL, 1767225600, '[]', 'offline')"
        )
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    gallery = Gallery(tmp_path)
    (old,) = gallery.search("owl")
    assert old.prompt == "an old owl" and old.text_model is None and old.response_id is None
    new = _save(gallery, "a new owl")
    assert [r.prompt for r in gallery.search("owl")] == ["a new owl", "an old owl"] and new.text_model is None


def test_repr_counts_images(tmp_path: pathlib.Path) -> None:
    gallery = Gallery(tmp_path)
    _save(gallery)
    assert repr(gallery) == f"<Gallery {tmp_path} (1 image)>"
    _save(gallery)
    assert repr(gallery) == f"<Gallery {tmp_path} (2 images)>"


def test_default_dir_honours_the_environment(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DALLE_NB_GALLERY_DIR", str(tmp_path / "custom"))
    assert default_dir() == tmp_path / "custom"
    assert Gallery().directory == tmp_path / "custom"
    monkeypatch.delenv("DALLE_NB_GALLERY_DIR")
    fallback = default_dir()
    assert fallback.name == "gallery" and fallback.parent.name == "dalle_nb"
