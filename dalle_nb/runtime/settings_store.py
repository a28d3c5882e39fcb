"""A session's settings: what ``configure()`` set and where, the API key, the keys to hide, and who to tell.

``core.config`` says what each setting takes and how the layers combine (argument > ``configure()``
> environment > default); a ``SettingsStore`` holds the one layer that changes, ``configure()``'s,
for one ``Session``, and reads the environment each time it is asked, so an environment variable
set later counts from the next call.

The API key is held here, in memory only, and never put in ``Settings``.  Every key the store has
seen, configured or read from ``OPENAI_API_KEY``, is a secret: errors mask what is shaped like a key
as they are made, and keys of other shapes (an Azure key, a gateway's) only the store knows, so the
session masks them in the errors that leave it: a setting refused here, a request refused by
planning (``PlanContext.secrets``), a request that failed (the session's events).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..core.config import Settings, check_update, resolve
from ..core.errors import DalleError, worth_hiding

E = TypeVar("E", bound=DalleError)


class SettingsStore:
    """The settings one session holds; ``Session.settings_store``, which ``dalle_nb.configure()`` changes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._overrides: dict[str, tuple[Any, str]] = {}  # name -> (value, where it was set)
        self._key: str | None = None
        self._secrets: set[str] = set()
        self._listeners: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<SettingsStore: {len(self._overrides)} setting(s) set, {'a' if self._key else 'no'} key set>"

    def update(
        self, values: Mapping[str, Any], *, source: str, api_key: str | None = None, unset: tuple[str, ...] = ()
    ) -> Settings:
        """Apply ``values`` as one change (``core.config.check_update``: all or nothing), saying where they came
        from (``configure()``, ``%config Dalle``, ``[tool.dalle_nb]``); ``unset`` returns settings to their
        default.  Returns the effective settings."""
        self._remember(os.environ.get("OPENAI_API_KEY"))  # so a key typed as another setting is never echoed
        if isinstance(api_key, str):
            self._remember(api_key.strip())
        with self._lock:
            current = {name: value for name, (value, _) in self._overrides.items()}
            try:
                coerced = check_update(current, values, os.environ, api_key=api_key, unset=unset)
            except DalleError as error:
                self.hide(error)
                raise
            if api_key is not None:
                self._key = api_key.strip()  # remembered as a secret above
            for name in unset:
                self._overrides.pop(name, None)
            self._overrides.update({name: (value, source) for name, value in coerced.items()})
        self._changed()
        return self.settings()

    def reset(self, *names: str) -> None:
        """Forget what ``configure()`` set: the named settings, or everything (and the key) when none is named."""
        if names:
            self.update({}, source="reset()", unset=names)
            return
        with self._lock:
            self._key = None
            self._overrides.clear()
        self._changed()

    def clear(self) -> None:
        """``reset()``, and the secrets forgotten too: the store a new session starts with (a test's fresh start)."""
        with self._lock:
            self._secrets.clear()
        self.reset()

    def settings(self, **arguments: Any) -> Settings:
        """The effective settings, with per-call ``arguments`` (not None) taking precedence."""
        with self._lock:
            overrides = dict(self._overrides)
            from_env = "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None
            key_source = "configure()" if self._key else from_env
        try:
            return resolve(overrides, os.environ, arguments, key_source=key_source)
        except DalleError as error:
            self.hide(error)
            raise

    def api_key(self) -> str | None:
        """The key to send, from ``configure()`` or ``OPENAI_API_KEY``; only the session's connections use it."""
        with self._lock:
            key = self._key or os.environ.get("OPENAI_API_KEY") or None
        self._remember(key)
        return key

    def secrets(self) -> frozenset[str]:
        """Every key seen, ``OPENAI_API_KEY``'s included: what must never be sent as a parameter, nor shown."""
        self._remember(os.environ.get("OPENAI_API_KEY"))
        with self._lock:
            return frozenset(self._secrets)

    def hide(self, error: E) -> E:
        """``error`` with every key this store knows masked in it (``DalleError.hide``)."""
        return error.hide(self.secrets())

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever ``update()`` or ``reset()`` changes something (the session's connections)."""
        self._listeners.append(callback)

    def _remember(self, secret: str | None) -> None:
        if secret is not None and worth_hiding(secret):
            with self._lock:
                self._secrets.add(secret)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback()


__all__ = ["SettingsStore"]
