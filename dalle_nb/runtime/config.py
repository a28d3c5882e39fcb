"""``dalle_nb.configure()``, ``settings()``, ``reset()``: the settings of the default session, as functions.

Each is a one-line proxy onto ``default_session().settings_store``, as the ``openai`` module's
functions proxy onto one client: a notebook calls ``dn.configure(...)``, and code (a test) that
wants state of its own makes a ``Session()`` and uses its ``settings_store``.  ``core.config``
holds the values and the rules; ``dalle_nb.config`` shows both under the old path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ..core.config import Settings
from .session import default_session


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
    """Set defaults for this session; arguments left out keep their current value.

    ``api_key`` stays in memory only.  ``offline=True`` uses the bundled offline server
    even when a key is set; ``offline=False`` insists on a real backend.  ``base_url``
    points at Azure OpenAI or any OpenAI-compatible gateway.  ``concurrency`` limits
    parallel requests (default 4).  Also accepted: ``quality``, ``n``, ``max_retries``,
    ``thumbnail_size``, ``task_mode`` (``"auto"``, ``"batch"`` or ``"gateway"``: how ``submit``
    runs background jobs).  Returns the effective ``Settings``.
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


def update(
    values: Mapping[str, Any], *, source: str, api_key: str | None = None, unset: tuple[str, ...] = ()
) -> Settings:
    """``configure()`` with the place the values came from (``%config Dalle``, ``[tool.dalle_nb]``).

    All of ``values`` are applied as one change: they are checked together against the
    settings they would make (a quality against the model set in the same update, whatever
    the order), and nothing is applied when one is refused.  ``unset`` names settings to
    return to their default.
    """
    return default_session().settings_store.update(values, source=source, api_key=api_key, unset=unset)


def reset(*names: str) -> None:
    """Forget what ``configure()`` set: the named settings, or everything (and the key) when none is named."""
    default_session().settings_store.reset(*names)


def settings(**arguments: Any) -> Settings:
    """The effective settings, with per-call ``arguments`` (not None) taking precedence."""
    return default_session().settings_store.settings(**arguments)


def api_key() -> str | None:
    """The key to send, from ``configure()`` or ``OPENAI_API_KEY``."""
    return default_session().settings_store.api_key()


def on_change(callback: Callable[[], None]) -> None:
    """Call ``callback()`` whenever ``configure()`` or ``reset()`` changes something."""
    default_session().settings_store.on_change(callback)


__all__ = ["api_key", "configure", "on_change", "reset", "settings", "update"]
