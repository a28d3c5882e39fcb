"""Connections to backends: one ``openai`` SDK client per backend, built from plain values.

The session decides which connection a job gets, shares it, and retires it when a setting
changes; this module only says what identifies a connection and builds one from the settings,
the base URL, the key and the backend's rules.  It knows no session: what it needs is passed in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..core.capabilities import Profile
from ..core.config import Settings
from ..core.errors import InvalidRequest

#: Where requests go when no base URL is set.
OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(eq=False)
class Connection:
    """A ready SDK client for one backend, which rules its requests must pass, and how many jobs use it."""

    kind: str
    base_url: str
    profile: Profile
    sdk: Any
    http: Any
    jobs: int = 0
    retired: bool = False
    closed: bool = False


def connection_ident(settings: Settings, key: str | None, offline_url: str | None) -> tuple[tuple[Any, ...], str, str]:
    """What identifies the connection ``settings`` need, its base URL and its key (never shown).

    ``key`` is the key set now (None: none); ``offline_url`` the offline server's base URL, which
    ``settings`` whose backend is the offline server need.
    """
    backend = settings.backend
    if backend == "offline":
        assert offline_url is not None, "the offline backend needs the offline server's URL"
        base_url, key = offline_url, "offline"
    elif key is None:
        raise InvalidRequest(
            "No API key: set OPENAI_API_KEY or call dalle_nb.configure(api_key=...), or use configure(offline=True).",
            field="api_key",
        )
    else:
        base_url = settings.base_url or OPENAI_BASE_URL
    return (backend, base_url, key, settings.proxy, settings.timeout, settings.max_retries), base_url, key


def open_connection(settings: Settings, base_url: str, key: str, profile: Profile) -> Connection:
    """A new SDK client for ``base_url``; the offline server is never reached through a proxy."""
    import openai  # here, not at the top: importing dalle_nb must not load the SDK

    backend = settings.backend
    offline = backend == "offline"
    http = openai.DefaultAsyncHttpxClient(
        proxy=None if offline else settings.proxy, trust_env=not offline, timeout=settings.timeout
    )
    common: dict[str, Any] = {
        "api_key": key,
        "timeout": settings.timeout,
        "max_retries": settings.max_retries,
        "http_client": http,
    }
    if backend == "azure":
        sdk: Any = openai.AsyncAzureOpenAI(
            azure_endpoint=base_url, api_version=os.environ.get("OPENAI_API_VERSION", "2025-04-01-preview"), **common
        )
    else:
        sdk = openai.AsyncOpenAI(base_url=base_url, **common)
    return Connection(backend, base_url, profile, sdk, http)


__all__ = ["OPENAI_BASE_URL", "Connection", "connection_ident", "open_connection"]
