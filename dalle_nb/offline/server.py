"""Start and stop the offline server: in a background thread of this process, or in the foreground.

``start()`` is what the library uses when there is no API key: a loopback port chosen by
the operating system, a uvicorn server in a daemon thread, ``.base_url`` for the SDK.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .app import OfflineApp, create_app
from .http import StreamCut
from .options import ServerOptions

LOOPBACK = "127.0.0.1"


class _QuietInjectedFaults(logging.Filter):
    """Drop uvicorn's error records for connections we cut on purpose (``reset``/``drop`` faults)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, StreamCut):
                return False
            if isinstance(exc, BaseExceptionGroup):
                if any(isinstance(e, StreamCut) for e in exc.exceptions):
                    return False
                break
            exc = exc.__cause__ or exc.__context__
        return "returned without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietInjectedFaults())


def _uvicorn_server() -> type[Any]:
    import uvicorn  # not at the top: reading ServerOptions (dalle_nb.session does) needs no server

    class Server(uvicorn.Server):
        """uvicorn's server, telling its owner when it is listening (so a printed URL is ready to use)."""

        on_ready: Callable[[], None] | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and self.on_ready is not None:
                self.on_ready()

    return Server


class OfflineServer:
    """An offline Images API server bound to a loopback port.

    Use as a context manager or call ``stop()``.  ``base_url`` ends in ``/v1``, ready for
    ``openai.OpenAI(base_url=...)``.
    """

    def __init__(self, options: ServerOptions | None = None, *, host: str = LOOPBACK, port: int = 0) -> None:
        import uvicorn  # not at the top: reading ServerOptions (dalle_nb.session does) needs no server

        self.options = options or ServerOptions.from_env()
        self.app: OfflineApp = create_app(self.options)
        # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose
        # proto says TCP, and accepted connections inherit it; without it every small response on a reused
        # connection waits ~40 ms for the client's delayed ACK.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = _uvicorn_server()(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<OfflineServer {self.base_url} profile={self.options.profile} {state}>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 15.0) -> OfflineServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        if self.running:
            return self
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="dalle-nb-offline", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the offline server stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the offline server did not start within {timeout:.0f} s")
            time.sleep(0.01)
        return self

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in this thread until interrupted (``dalle-nb serve``); ``on_ready`` runs once connections are taken."""
        self._server.on_ready = on_ready
        self._server.run(sockets=[self._socket])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and close the port; safe to call twice."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(*, host: str = LOOPBACK, port: int = 0, **options: Any) -> OfflineServer:
    """Start an offline server in the background and return it.

    Keywords are ``ServerOptions`` fields (``profile``, ``seed``, ``latency``, ``faults``
    such as ``"429:0.5,500:0.1"``, ``api_key``, ``url_ttl``); those left out come from the
    ``DALLE_NB_OFFLINE_*`` environment variables, then the defaults.
    """
    return OfflineServer(ServerOptions.from_env(**options), host=host, port=port).start()
