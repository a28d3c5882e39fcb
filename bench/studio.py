"""What the Studio sends to the browser per picture, and how fast its Gallery tab opens on a long history.

(a) Bytes per thumbnail.  A Studio card shows its picture through an ``ipywidgets.Image`` whose
    value (a small WebP) travels as a binary buffer of the widget message.  Measured: that
    value, and the whole message of the Image widget (its JSON state plus the buffer), against
    the picture's PNG, and against the same thumbnail written into an ``ipywidgets.HTML`` as a
    base64 data URI (``<img src="data:image/webp;base64,...">``, the usual way to show a picture
    in HTML), whose whole state is JSON text.  Two pictures, as in ``payload.py``: one from the
    offline backend (flat shapes, a small PNG) and a photo-like one (1/f noise, a PNG the size
    of a real model's).

(b) Opening the Gallery tab on a history of 10,000 indexed pictures: a fresh ``Studio`` (so no
    picture is cached in memory), then the time from selecting the tab until its first page of
    24 cards is built (count and search the index, read each card's thumbnail, make the
    widgets).  Once with the thumbnails not yet made ("cold": each card decodes its picture and
    writes ``thumbs/ID-192.webp``), then with them on disk ("warm", as every later visit), and
    the warm open of a page far back (offset 9,600).  The baseline, in the same run: reading the
    same page of rows straight from the same SQLite index on one open connection (the floor of
    any gallery view).  The 10,000 rows are written straight into the index, each with its own
    hard link to one real offline-backend PNG, so ``Gallery.search`` sees 10,000 pictures.

Prints ratios, no pass/fail.  Run: ``.venv/bin/python bench/studio.py`` (~1 min).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from _harness import table
from payload import pink_noise_png

import dalle_nb
from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.core.results import GeneratedImage
from dalle_nb.notebook.widgets.studio import CARD_SIZE, PAGE_SIZE, Studio, _Card
from dalle_nb.runtime import gallery as gallery_module
from dalle_nb.runtime.config import reset
from dalle_nb.runtime.session import default_session

PICTURES = 10_000
REPEATS = 7
WORDS = ("fox", "kite", "boat", "owl", "lighthouse", "tractor", "jellyfish", "castle", "cat", "balloon")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "white", "black")


def message_bytes(widget: object) -> int:
    """Bytes of a widget's state message as the kernel sends it: the JSON text plus its binary buffers."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _paths, buffers = _remove_buffers(widget.get_state())  # type: ignore[attr-defined]
    return len(json.dumps(state, separators=(",", ":"))) + sum(len(bytes(b)) for b in buffers)


def thumbnail_rows(pictures: list[tuple[str, GeneratedImage, bytes]]) -> list[list[str]]:
    import ipywidgets as widgets

    rows = []
    for label, image, png in pictures:
        card = _Card(image, lambda _image: None)
        shown = card.children[0]
        value = bytes(shown.value)
        uri = f"<img src='data:image/webp;base64,{base64.b64encode(value).decode()}' width='{CARD_SIZE}'>"
        as_html = message_bytes(widgets.HTML(uri))
        as_image = message_bytes(shown)
        rows.append(
            [
                label,
                f"{len(png):,}",
                f"{len(value):,}",
                f"{as_image:,}",
                f"{as_html:,}",
                f"1/{len(png) / len(value):.0f}",
                f"{as_html / as_image:.2f}x",
            ]
        )
    return rows


def build_history(directory: Path, seed: GeneratedImage, count: int) -> None:
    """``count`` rows in the gallery's index, newest last, each with its own hard link to ``seed``'s PNG."""
    assert seed.path is not None
    store = default_session().gallery()
    store.count()  # the schema exists (the seed picture made it)
    now = time.time()
    rows = []
    for i in range(count):
        created = now - (count - i) * 60.0  # one a minute, oldest first
        record_id = gallery_module._new_id(created) + f"{i:05d}"
        day = time.strftime("%Y-%m-%d", time.gmtime(created))
        relative = f"{gallery_module.IMAGES_DIR}/{day}/{record_id}.png"
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(seed.path, target)
        prompt = f"a {COLOURS[i % len(COLOURS)]} {WORDS[i % len(WORDS)]} on a hill, number {i}"
        params = json.dumps({"model": seed.model, "quality": "low", "size": "1024x1024"}, sort_keys=True)
        rows.append(
            (record_id, relative, prompt, f"A picture of {prompt}.", seed.model, "generate", "1024x1024", "png",
             params, None, created, "[]", "offline", None, None)
        )  # fmt: skip
    with sqlite3.connect(store.index_path) as conn:
        conn.executemany(gallery_module._INSERT, rows)


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def open_gallery(page: int = 0) -> float:
    """A fresh Studio; the seconds from selecting the Gallery tab to its cards (or, with ``page``, the seconds
    from pressing "older" on the open tab to that page's cards)."""
    studio = Studio(namespace={})
    if page:
        studio.tabs.selected_index = 3
        seconds = timed(lambda: studio._turn(page))
    else:
        seconds = timed(lambda: setattr(studio.tabs, "selected_index", 3))
    assert len(studio.gallery.children) == PAGE_SIZE, len(studio.gallery.children)
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dalle-nb-bench-studio-") as folder:
        directory = Path(folder)
        dalle_nb.configure(offline=True, gallery_dir=directory)
        try:
            seed = dalle_nb.generate("a red fox in a green forest under a blue sky", size="1024x1024", revise=False)[0]
            photo_png = pink_noise_png()
            photo = GeneratedImage(
                data=photo_png, path=None, prompt="photo-like test picture", model=DEFAULT_MODEL, size="1024x1024"
            )
            print(f"(a) Bytes per thumbnail sent to the browser ({CARD_SIZE} px WebP of a 1024x1024 picture)")
            print()
            print(
                table(
                    [
                        "picture",
                        "PNG",
                        "Image value",
                        "Image message",
                        "HTML data URI message",
                        "value/PNG",
                        "HTML/Image",
                    ],
                    thumbnail_rows(
                        [
                            ("offline-backend picture", seed, seed.to_bytes()),
                            ("photo-like picture (1/f noise)", photo, photo_png),
                        ]
                    ),
                )  # fmt: skip
            )
            print()

            started = time.perf_counter()
            build_history(directory, seed, PICTURES - 1)
            store = default_session().gallery()
            total = store.count()
            built = time.perf_counter() - started
            print(f"(b) Opening the Gallery tab on {total:,} indexed pictures (the history built in {built:.1f} s)")
            assert total == PICTURES

            conn = sqlite3.connect(store.index_path)
            sql = f"{gallery_module._SELECT} ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?"

            def rows(offset: int = 0) -> None:
                assert len(conn.execute(sql, (PAGE_SIZE, offset)).fetchall()) == PAGE_SIZE

            thumbs = directory / "thumbs"
            cold, warm, far, baseline, far_baseline, construct = [], [], [], [], [], []
            rows()
            open_gallery()  # warm-up: imports, the index connection, widget classes
            for _ in range(REPEATS):
                shutil.rmtree(thumbs, ignore_errors=True)
                cold.append(open_gallery())
                warm.append(open_gallery())
                baseline.append(timed(rows))
                open_gallery(page=400)  # its thumbnails made: the far page warm too
                far.append(open_gallery(page=400))
                far_baseline.append(timed(lambda: rows(400 * PAGE_SIZE)))
                construct.append(timed(lambda: Studio(namespace={})))
            conn.close()
        finally:
            reset()

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.1f} ms ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"

    floor = statistics.median(baseline)
    far_floor = statistics.median(far_baseline)
    print()
    print(
        table(
            ["what", "median (min-max)", "vs the SQLite page"],
            [
                [f"SQLite: the first page of {PAGE_SIZE} rows (baseline)", ms(baseline), "1x"],
                [
                    "Gallery tab, first page, thumbnails on disk (warm)",
                    ms(warm),
                    f"{statistics.median(warm) / floor:,.0f}x",
                ],
                [
                    "Gallery tab, first page, thumbnails not yet made (cold)",
                    ms(cold),
                    f"{statistics.median(cold) / floor:,.0f}x",
                ],
                [f"SQLite: page 401 (offset {400 * PAGE_SIZE:,}) (baseline)", ms(far_baseline), "1x"],
                ["Gallery tab open, turning to page 401, warm", ms(far), f"{statistics.median(far) / far_floor:,.0f}x"],
                ["(info) building a Studio, before any tab opens", ms(construct), ""],
            ],
        )  # fmt: skip
    )
    per_card = (statistics.median(warm) - floor) / PAGE_SIZE * 1000
    cold_vs_warm = statistics.median(cold) / statistics.median(warm)
    print()
    print(f"studio (b): the warm Gallery tab is {statistics.median(warm) / floor:,.0f}x the bare SQLite page, "
          f"{per_card:.2f} ms per card; cold {cold_vs_warm:.1f}x warm")  # fmt: skip


if __name__ == "__main__":
    main()
