"""The offline server's ASGI application: its APIs composed into one Starlette app, and nothing else.

Each API answers its own paths (``images``, ``responses``, ``files``, ``batches``, ``tasks``, ``service``); what
they share, they get from one ``Gate`` (``http``) made here and handed to each, and the Images API is also handed
the task mode it passes callback requests to.  This module only wires them: it makes the gate, builds the APIs,
mounts their routes with the handlers that answer any error as OpenAI does, and wraps the whole in the middleware
that stamps ``x-request-id`` and counts requests.  No module imports it back but ``server``, which runs it.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .batches import BatchesAPI
from .files import FilesAPI
from .http import (
    APIFailure,
    Gate,
    RequestIdMiddleware,
    api_failure_handler,
    http_error_handler,
    unexpected_error_handler,
)
from .images import ImagesAPI
from .options import ServerOptions
from .responses import ResponsesAPI
from .service import ServiceAPI
from .tasks import TasksAPI


class OfflineApp:
    """One offline server's application: its APIs, bound to one ``ServerOptions`` through one ``Gate``."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.gate = Gate(options)
        self.tasks = TasksAPI(self.gate)
        self.images = ImagesAPI(self.gate, self.tasks)
        self.responses = ResponsesAPI(self.gate)
        self.files = FilesAPI(self.gate)
        self.batches = BatchesAPI(self.gate)
        self.service = ServiceAPI(self.gate)
        self.starlette = Starlette(
            routes=[
                *self.images.routes(),
                *self.responses.routes(),
                *self.files.routes(),
                *self.batches.routes(),
                *self.tasks.routes(),
                *self.service.routes(),
            ],
            exception_handlers={
                APIFailure: api_failure_handler,
                HTTPException: http_error_handler,
                Exception: unexpected_error_handler,
            },
        )
        # a batch line or a gateway task goes straight to the routes, past the middleware: not counted as a request
        self.gate.router = self.starlette
        #: What ``/health`` reports: requests in flight and pictures being drawn.
        self.gauge = self.gate.gauge
        self.app: ASGIApp = RequestIdMiddleware(self.starlette, self.gate.gauge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(options: ServerOptions | None = None) -> OfflineApp:
    """The ASGI application for ``options`` (defaults from the environment)."""
    return OfflineApp(options or ServerOptions.from_env())
