"""Requests the offline server makes to itself: how a batch line or a gateway task runs.

A line of a batch is an image request like any other, so it goes through the very routes a request over HTTP
takes (the capability table's checks, the ``#blocked`` refusal, the server-wide drawing semaphore, the answer's
shape), only without a connection.  Faults are for requests over HTTP, so requests made here draw none.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message

#: Set in the scope of a request the server makes to itself (``Gate.guard`` draws no fault for it).
INTERNAL = "dalle_nb.internal"


@dataclass(frozen=True)
class Answer:
    """What a route answered: its status, its JSON body as sent, and the request id it would have carried."""

    status: int
    body: bytes
    request_id: str

    def json(self) -> Any:
        return json.loads(self.body)


async def dispatch(
    app: ASGIApp,
    path: str,
    body: bytes,
    *,
    content_type: str,
    host: str,
    api_key: str | None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST ``body`` to ``path`` of ``app`` and collect the answer.

    ``host`` is the ``Host`` the original request came to, so legacy ``url`` results point at the server.
    The request is never disconnected: what a route streams is always read to its end.
    """
    request_id = "req_" + secrets.token_hex(16)
    sent = [
        (b"host", host.encode("latin-1")),
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()),
    ]
    if api_key is not None:
        sent.append((b"authorization", f"Bearer {api_key}".encode()))
    name, _, port = host.rpartition(":")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": sent,
        "client": ("127.0.0.1", 0),
        "server": (name or host, int(port) if port.isdigit() else 80),
        "state": {"request_id": request_id},
        INTERNAL: True,
    }
    delivered = False
    never = asyncio.Event()

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()  # nobody hangs up on the server itself
        return {"type": "http.disconnect"}  # pragma: no cover - the event is never set

    status = 500
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    try:
        await app(scope, receive, send)
    except Exception as exc:  # a route that broke off its answer: the line failed as a 500 would
        error = {
            "message": f"The server had an error while processing your request ({type(exc).__name__}).",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return Answer(500, json.dumps({"error": error}).encode(), request_id)
    return Answer(status, b"".join(chunks), request_id)


__all__ = ["INTERNAL", "Answer", "dispatch"]
