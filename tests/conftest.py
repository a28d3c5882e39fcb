"""Shared scaffolding: a fresh machine per test, offline servers reached over real HTTP through the
official openai SDK, servers with injected faults, and the test scenes the tests paint on."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

from dalle_nb import config
from dalle_nb.offline import OfflineServer, ServerOptions, parse_faults
from dalle_nb.runtime.session import default_session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last, in their collected order.

    While Playwright's sync API is open (the browser fixtures keep one for the whole session) an
    asyncio loop counts as running in the main thread, so any later ``asyncio.run()`` (the
    blocking API inside a running loop, the async twins) fails with "cannot be called from a
    running event loop".  The sort is stable: every other test keeps its place.
    """
    browser = Path(__file__).resolve().parent / "browser"
    items.sort(key=lambda item: item.path.is_relative_to(browser))


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """What a fresh machine has: no key, no base URL, no proxy, no dalle_nb settings, a private gallery.

    Yields the gallery folder.  Every test gets it, so no test depends on the one before: the default
    session's settings store starts empty (nothing configured, no key, no secret remembered).
    """
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "DALLE_NB_")) or name.upper() in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(name)
    gallery = tmp_path / "gallery"
    monkeypatch.setenv("DALLE_NB_GALLERY_DIR", str(gallery))
    store = default_session().settings_store
    store.clear()
    yield gallery
    store.clear()


@pytest.fixture
def ip(fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """An IPython shell with ``%load_ext dalle_nb`` done, in an empty folder (no pyproject.toml of ours)."""
    shell = InteractiveShell.instance()
    monkeypatch.chdir(tmp_path)
    shell.run_line_magic("load_ext", "dalle_nb")
    yield shell
    shell.run_line_magic("unload_ext", "dalle_nb")
    shell.config.pop("Dalle", None)  # %config settings live on the shell; each test starts without them


def use(server: OfflineServer, key: str = "offline") -> None:
    """Point dalle_nb at a particular server, as one would point it at a gateway."""
    config.configure(api_key=key, base_url=server.base_url, offline=False, max_retries=0)


def faulty(kind: str, **options: object) -> OfflineServer:
    """A started offline server that answers with ``kind`` faults (``"429:1"``, ``"timeout:0.5"`` ...)."""
    return OfflineServer(ServerOptions(faults=parse_faults(kind), **options)).start()  # type: ignore[arg-type]


def scene(size: tuple[int, int] = (1024, 1024)) -> Image.Image:
    """A simple picture to edit: blue sky over a light ground, so changed pixels are easy to see."""
    image = Image.new("RGB", size, (40, 90, 160))
    width, height = size
    image.paste((230, 230, 230), (width // 10, height * 6 // 10, width * 9 // 10, height * 98 // 100))
    return image


def noise(width: int, height: int, seed: int = 0, *, mode: str = "RGB") -> Image.Image:
    """Random noise, "RGB" or "RGBA": its PNG barely compresses (a byte a channel), and a changed pixel shows."""
    import numpy as np

    data = np.random.default_rng(seed).integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
    return Image.fromarray(data)  # HxWx3: RGB, HxWx4: RGBA


def hole_mask(
    size: tuple[int, int] = (1024, 1024), box: tuple[int, int, int, int] = (300, 200, 700, 500)
) -> Image.Image:
    """An opaque RGBA mask with a fully transparent rectangle, ``box``: the API's "edit here"."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return mask


@pytest.fixture(scope="session")
def server() -> Iterator[OfflineServer]:
    """The default (compat) offline server, shared by the session."""
    with OfflineServer(ServerOptions(profile="compat", seed=7)) as srv:
        yield srv


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OfflineServer]:
    """A server that answers as OpenAI does today (retired models and variations refused)."""
    with OfflineServer(ServerOptions(profile="openai", seed=7)) as srv:
        yield srv


def make_client(srv: OfflineServer, **kw: object) -> openai.OpenAI:
    kw.setdefault("api_key", "offline")
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=srv.base_url, **kw)  # type: ignore[arg-type]


@pytest.fixture
def client(server: OfflineServer) -> Iterator[openai.OpenAI]:
    with make_client(server) as c:
        yield c


@pytest.fixture
def oa_client(openai_server: OfflineServer) -> Iterator[openai.OpenAI]:
    with make_client(openai_server) as c:
        yield c


def png_bytes(image: Image.Image) -> bytes:
    """``image`` as a PNG file's bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def decode(b64: str) -> Image.Image:
    import base64

    return Image.open(io.BytesIO(base64.b64decode(b64)))
