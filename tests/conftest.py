"""Shared fixtures: offline servers reached over real HTTP through the official openai SDK."""

from __future__ import annotations

import io
from collections.abc import Iterator

import openai
import pytest
from PIL import Image

from dalle_nb.offline import OfflineServer, ServerOptions


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
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def decode(b64: str) -> Image.Image:
    import base64

    return Image.open(io.BytesIO(base64.b64decode(b64)))
