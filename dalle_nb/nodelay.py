"""An opt-in Jupyter Server extension: small widget messages leave at once instead of waiting ~40 ms.

Jupyter Server never sets ``TCP_NODELAY`` on kernel websockets, so each small reply a widget
sends back (a brush segment drawn on the mask editor's canvas, a slider's echo) can wait for
the browser's delayed acknowledgement: Nagle's algorithm.  Measured with ``bench/mask.py``: a
mouse move reached the screen in 61-68 ms (p90) on a stock server and in 25-26 ms with this.

It is not switched on by installing dalle_nb, because it changes every kernel websocket of
the server it is loaded into.  Switch it on for one server::

    jupyter lab --ServerApp.jpserver_extensions="{'dalle_nb.nodelay': True}"

(``make lab`` does), or for good with ``jupyter server extension enable dalle_nb.nodelay``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dalle_nb.nodelay"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from jupyter_server.services.kernels import websocket  # loaded by Jupyter Server itself, never by a kernel

    handler: Any = websocket.KernelWebsocketHandler
    if getattr(handler, "_dalle_nb_nodelay", False):
        return
    opened = handler.open

    async def open_without_delay(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)  # tornado's own switch for this websocket's stream
        return await opened(self, *args, **kwargs)

    handler.open = open_without_delay
    handler._dalle_nb_nodelay = True
    server_app.log.info("dalle_nb.nodelay: kernel websockets send small messages at once (TCP_NODELAY)")


__all__: list[str] = []
