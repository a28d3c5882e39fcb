"""Settings and where each one comes from: argument > ``configure()`` > environment > default.

The API key is held in this module's memory only.  It is never part of ``Settings``, so no
repr, widget state, notebook output, log or file can carry it; ``settings()`` says only
whether one is set and where it came from.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .errors import InvalidRequest, remember_secret

BackendKind = Literal["offline", "openai", "azure", "compatible"]
OPENAI_HOST = "api.openai.com"

_lock = threading.RLock()
_key_from_configure: str | None = None
_overrides: dict[str, tuple[Any, str]] = {}  # name -> (value, where it was set)


@dataclass(frozen=True)
class Settings:
    """The effective settings.  Holds no key: ``key_source`` says only where one came from."""

    model: str
    size: str | None = None
    quality: str | None = None
    n: int = 1
    base_url: str | None = None
    offline: bool = False
    concurrency: int = 4
    timeout: float = 120.0
    max_retries: int = 2
    proxy: str | None = field(default=None, repr=False)
    gallery_dir: Path | None = None
    thumbnail_size: int = 256
    key_source: str | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def has_key(self) -> bool:
        return self.key_source is not None

    @property
    def backend(self) -> BackendKind:
        """Where requests go: decided by ``offline``, the key and the base URL."""
        if self.offline:
            return "offline"
        if self.base_url and ".openai.azure.com" in self.base_url:
            return "azure"
        if self.base_url and OPENAI_HOST not in self.base_url:
            return "compatible"
        return "openai"

    def table(self) -> list[tuple[str, str, str]]:
        """``(setting, value, source)`` rows; the key appears only as set / not set, a proxy only as set."""
        rows: list[tuple[str, str, str]] = []
        for f in fields(self):
            if f.name in ("sources", "key_source"):
                continue
            value = getattr(self, f.name)
            if f.name == "proxy" and value:
                value = "set"
            rows.append((f.name, str(value), self.sources.get(f.name, "default")))
        rows.append(("api_key", "set" if self.key_source else "not set", self.key_source or "-"))
        rows.append(("backend", self.backend, "derived"))
        return rows

    def describe(self) -> dict[str, str]:
        """Each setting as ``"value (source)"``."""
        return {name: f"{value} ({source})" for name, value, source in self.table()}


_FIELDS = {f.name for f in fields(Settings)} - {"key_source", "sources"}
_ENV: dict[str, str] = {
    "base_url": "OPENAI_BASE_URL",
    "proxy": "HTTPS_PROXY",
    "model": "DALLE_NB_MODEL",
    "gallery_dir": "DALLE_NB_GALLERY_DIR",
    "offline": "DALLE_NB_OFFLINE",
    "concurrency": "DALLE_NB_CONCURRENCY",
    "timeout": "DALLE_NB_TIMEOUT",
}


def _coerce(name: str, value: Any) -> Any:
    """Type-check one setting, raising ``InvalidRequest`` with what to do."""
    if value is None:
        return None
    try:
        if name == "offline":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if name in ("concurrency", "n", "max_retries", "thumbnail_size"):
            number = int(value)
            low = 0 if name == "max_retries" else 1
            if number < low or isinstance(value, bool):
                raise ValueError
            return number
        if name == "timeout":
            seconds = float(value)
            if seconds <= 0:
                raise ValueError
            return seconds
        if name == "gallery_dir":
            return Path(value).expanduser()
        if name == "model":
            from .models import get_model

            get_model(str(value))
            return str(value)
    except (TypeError, ValueError) as exc:
        message = getattr(exc, "message", None) or f"{name}={value!r} is not valid; see help(dalle_nb.configure)."
        raise InvalidRequest(message, field=name, value=value) from None
    return str(value) if name in ("base_url", "size", "quality", "proxy") else value


def configure(
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    model: str | None = None,
    size: str | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    proxy: str | None = None,
    gallery_dir: str | os.PathLike[str] | None = None,
    **more: Any,
) -> Settings:
    """Set defaults for this process; arguments left out keep their current value.

    ``api_key`` stays in memory only.  ``offline=True`` uses the bundled offline server
    even when a key is set; ``offline=False`` insists on a real backend.  ``base_url``
    points at Azure OpenAI or any OpenAI-compatible gateway.  ``concurrency`` limits
    parallel requests (default 4).  Also accepted: ``quality``, ``n``, ``max_retries``,
    ``thumbnail_size``.  Returns the effective ``Settings``.
    """
    given: dict[str, Any] = dict(
        base_url=base_url,
        offline=offline,
        model=model,
        size=size,
        concurrency=concurrency,
        timeout=timeout,
        proxy=proxy,
        gallery_dir=gallery_dir,
        **more,
    )
    return update(given, source="configure()", api_key=api_key)


def update(values: dict[str, Any], *, source: str, api_key: str | None = None) -> Settings:
    """``configure()`` with the place the values came from (``%config Dalle``, ``[tool.dalle_nb]``)."""
    global _key_from_configure
    unknown = sorted(set(values) - _FIELDS)
    if unknown:
        raise InvalidRequest(
            f"configure() got an unknown setting '{unknown[0]}'; settings are: api_key, {', '.join(sorted(_FIELDS))}.",
            field=unknown[0],
        )
    coerced = {name: _coerce(name, value) for name, value in values.items() if value is not None}
    with _lock:
        if api_key is not None:
            if not isinstance(api_key, str) or not api_key.strip():
                raise InvalidRequest("api_key must be a non-empty string.", field="api_key")
            remember_secret(api_key.strip())
            _key_from_configure = api_key.strip()
        _overrides.update({name: (value, source) for name, value in coerced.items()})
    _changed()
    return settings()


def reset() -> None:
    """Forget everything ``configure()`` set (mainly for tests and tutorials)."""
    global _key_from_configure
    with _lock:
        _key_from_configure = None
        _overrides.clear()
    _changed()


def api_key() -> str | None:
    """The key to send, from ``configure()`` or ``OPENAI_API_KEY``; only the client calls this."""
    with _lock:
        key = _key_from_configure or os.environ.get("OPENAI_API_KEY") or None
    remember_secret(key)
    return key


def settings(**arguments: Any) -> Settings:
    """The effective settings, with per-call ``arguments`` (not None) taking precedence."""
    from .models import DEFAULT_MODEL

    values: dict[str, Any] = {"model": DEFAULT_MODEL}
    sources: dict[str, str] = {}
    for name, env_name in _ENV.items():
        raw = os.environ.get(env_name)
        if raw:
            values[name] = _coerce(name, raw)
            sources[name] = env_name
    with _lock:
        for name, (value, where) in _overrides.items():
            values[name] = value
            sources[name] = where
        key_source = (
            "configure()" if _key_from_configure else ("OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None)
        )
    for name, value in arguments.items():
        if value is not None:
            values[name] = _coerce(name, value)
            sources[name] = "argument"
    if values.get("offline") is None:
        # no explicit choice: no key means the offline server (the client says so in one notice line)
        values["offline"] = key_source is None
        sources["offline"] = "no API key" if key_source is None else "API key set"
    return replace(Settings(model=values.pop("model")), **values, key_source=key_source, sources=sources)


_listeners: list[Any] = []


def on_change(callback: Any) -> None:
    """Call ``callback()`` whenever ``configure()`` or ``reset()`` changes something (the client rebuilds)."""
    _listeners.append(callback)


def _changed() -> None:
    for callback in list(_listeners):
        callback()
