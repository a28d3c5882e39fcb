"""The offline backend: a local HTTP server that speaks the OpenAI Images API.

Classrooms, Binder, CI and machines without a key use it through the official ``openai``
SDK exactly as they would use OpenAI.  ``start()`` runs one in the background.

The server (starlette, uvicorn, the painter) loads on first use of ``OfflineServer`` or ``start``:
planning a call reads only ``ServerOptions`` (which rules the server checks), and a notebook's first
call must not spend a tenth of a second of its kernel's loop importing a web server it starts elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .options import Fault, ServerOptions, parse_faults

if TYPE_CHECKING:
    from .server import OfflineServer, start

__all__ = ["Fault", "OfflineServer", "ServerOptions", "parse_faults", "start"]


def __getattr__(name: str) -> Any:
    if name in ("OfflineServer", "start"):
        from . import server  # the web server loads when it is first asked for, not when options are read

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
