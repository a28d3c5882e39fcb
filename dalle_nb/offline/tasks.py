"""The seed gateway's task mode, offline (``compat`` profile only): answer at once, deliver later.

An image request carrying a ``callback_url`` (and optionally the caller's own ``trace_id``) is checked as any
request is (a refusal still comes at once), answered ``{"task_id": ...}`` at once, then runs like any request
(``inner.dispatch``) and its result is POSTed to the callback as
``{"success", "task_id", "trace_id", "data"}``.  The server POSTs only to loopback addresses, and follows no
redirect (a loopback receiver could send it anywhere): it never reaches out of the machine.  The task's
``callback`` says what became of the POST.  ``POST /tasks`` (also ``/v1/tasks`` and the gateway's own
``/openai/tasks``) with ``{"action": "retrieve", "id" | "trace_id"}`` answers the stored task, and ``{}`` when none
is known, as the gateway does; ``"retrieve_batch"`` takes lists of them.  The last 1,024 tasks are kept, in memory.

Where the gateway's documents are silent the choice is local and says so: a task still running has
``"response": null``; a failed one has ``"response": {"success": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.capabilities import Endpoint
from .http import JSON_LIMIT, APIFailure, Body, Gate, approx_bytes
from .inner import Answer

TASK_PATHS = ("/tasks", "/v1/tasks", "/openai/tasks")
#: Tasks kept for ``retrieve``: the oldest are forgotten first (``{}`` then, as for an unknown task).
TASK_CAPACITY = 1024
#: And the bytes they may hold together (request and answer, whose ``data`` carries the pictures as base64): 1024
#: finished tasks of a few MB each would otherwise keep gigabytes.
TASK_BYTES = 64 * 1024 * 1024
#: How long a callback POST may take before the server gives up on it (the task stays retrievable).
CALLBACK_TIMEOUT = 10.0
#: Fields of a task-mode request that are the gateway's own, not the Images API's.
GATEWAY_FIELDS = ("callback_url", "trace_id")


@dataclass
class _Task:
    id: str
    trace_id: str
    type: str
    request: dict[str, Any]
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    response: dict[str, Any] | None = None
    #: What became of the callback POST (``_post``), once tried.
    callback: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        end = self.finished_at or time.time()
        return {
            "id": self.id,
            "trace_id": self.trace_id,
            "type": self.type,
            "request": self.request,
            "response": self.response,
            "callback": self.callback,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed": round(end - (self.started_at or self.created_at), 3),
        }


def loopback_only(url: object) -> str:
    """``url`` when it points at this machine (127.0.0.0/8, ::1, localhost); otherwise a 400 saying so."""
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    host = parsed.hostname if parsed is not None else None
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or (host is not None and ipaddress.ip_address(host).is_loopback)
    if parsed is None or parsed.scheme not in ("http", "https") or not loopback:
        raise APIFailure(
            400, f"callback_url must be an http(s) URL on a loopback address (127.0.0.1, ::1 or localhost): the "
            f"offline server delivers results to this machine only, not to {url!r}.", param="callback_url",
            code="invalid_callback_url",
        )  # fmt: skip
    assert isinstance(url, str)
    return url


def _multipart(fields: dict[str, Any], files: dict[str, list[bytes]]) -> tuple[str, bytes]:
    """An edit's fields and files as the multipart body the edits route reads."""
    boundary = "dalle-nb-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode())
    for name, items in files.items():
        for number, data in enumerate(items):
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}-{number}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect: the callback URL was checked to be on this machine, the URL a receiver redirects
    to was not, so following it could reach any host (``0.0.0.0``, the network) the server refuses to call."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


def _post(url: str, payload: bytes) -> dict[str, Any]:
    """POST the result to the callback, with no proxy and no redirect, ever (in a worker thread); what became of it.

    A receiver that is down, answers an error or redirects costs nothing but the record: the task stays retrievable.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
    request = urllib.request.Request(url, data=payload, headers={"content-type": "application/json"}, method="POST")
    try:
        with opener.open(request, timeout=CALLBACK_TIMEOUT) as answer:
            answer.read()
            return {"status": answer.status, "outcome": "delivered"}
    except urllib.error.HTTPError as error:
        error.close()
        if 300 <= error.code < 400:
            where = error.headers.get("location", "")
            return {"status": error.code, "outcome": f"redirect not followed (to {where!r}): callbacks go only to "
                    "the callback_url"}  # fmt: skip
        return {"status": error.code, "outcome": f"the receiver answered {error.code}"}
    except (OSError, ValueError) as error:
        return {"status": None, "outcome": f"not delivered: {error}"}


class TasksAPI:
    """The gateway's task mode bound to one server's ``Gate``; the Images API hands it the requests that ask for it."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.options = gate.options
        self._tasks: OrderedDict[str, _Task] = OrderedDict()
        #: What each kept task counts against ``TASK_BYTES`` (``approx_bytes`` of its request and answer).
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._running: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        return [Route(path, self.lookup, methods=["POST"]) for path in TASK_PATHS]

    def wanted(self, fields: dict[str, Any]) -> bool:
        """Whether an image request asks for task mode (``compat`` only: OpenAI refuses the unknown field)."""
        return self.options.profile == "compat" and "callback_url" in fields

    async def accept(
        self,
        request: Request,
        endpoint: Endpoint,
        fields: dict[str, Any],
        files: dict[str, list[bytes]] | None = None,
        *,
        check: Callable[[Endpoint, dict[str, Any], dict[str, list[bytes]] | None], object],
    ) -> Response:
        """Check the request (the gateway's fields here, the Images API's with ``check``), answer ``{"task_id"}``
        now, and run it in the background."""
        callback = loopback_only(fields.pop("callback_url"))
        trace_id = fields.pop("trace_id", None)
        if trace_id is not None and (not isinstance(trace_id, str) or not trace_id or len(trace_id) > 128):
            raise APIFailure(400, "trace_id must be a non-empty string of at most 128 characters.", param="trace_id",
                             code="invalid_value")  # fmt: skip
        check(endpoint, fields, files)  # a refusal comes at once, as for any request
        if files:
            content_type, body = _multipart(fields, files)
        else:
            content_type, body = "application/json", json.dumps(fields).encode()
        task = _Task(
            id=str(uuid.uuid4()), trace_id=trace_id or str(uuid.uuid4()), type=f"images_{endpoint}",
            request={**{k: v for k, v in fields.items()}, "callback_url": callback},
        )  # fmt: skip
        self._tasks[task.id] = task
        self._account(task)
        host = request.headers.get("host") or request.url.netloc
        work = asyncio.get_running_loop().create_task(self._run(task, endpoint, content_type, body, host, callback))
        self._running.add(work)  # held until done: a task nobody references may be collected mid-way
        work.add_done_callback(self._running.discard)
        return JSONResponse({"task_id": task.id})

    async def _run(self, task: _Task, endpoint: Endpoint, content_type: str, body: bytes, host: str, url: str) -> None:
        task.started_at = time.time()
        answer = await self.gate.call(f"/v1/images/{endpoint}", body, content_type=content_type, host=host)
        response, delivery = await run_in_threadpool(self._outcome, task, answer)
        task.response, task.finished_at = response, time.time()
        if task.id in self._tasks:  # not already forgotten while it ran
            self._account(task)
        task.callback = await run_in_threadpool(_post, url, delivery)

    def _account(self, task: _Task) -> None:
        """Count ``task`` as it is now, then forget the oldest tasks while more than ``TASK_CAPACITY`` or
        ``TASK_BYTES`` are kept (a forgotten task is retrieved as ``{}``, as an unknown one)."""
        size = approx_bytes(task.request) + approx_bytes(task.response)
        self._bytes += size - self._sizes.get(task.id, 0)
        self._sizes[task.id] = size
        while self._tasks and (len(self._tasks) > TASK_CAPACITY or self._bytes > TASK_BYTES):
            gone, _ = self._tasks.popitem(last=False)
            self._bytes -= self._sizes.pop(gone, 0)

    @staticmethod
    def _outcome(task: _Task, answer: Answer) -> tuple[dict[str, Any], bytes]:
        """What ``retrieve`` answers for the finished task, and the callback's body (in a worker thread)."""
        try:
            parsed = answer.json()
        except ValueError:
            parsed = {}
        ids = {"task_id": task.id, "trace_id": task.trace_id}
        if answer.status == 200 and isinstance(parsed, dict):
            response = {"success": True, **ids, "data": parsed.get("data", [])}
            return response, json.dumps({"success": True, **ids, "data": parsed}).encode()
        error = parsed.get("error") if isinstance(parsed, dict) else None
        error = error if isinstance(error, dict) else {}
        failure = {
            "success": False,
            **ids,
            "error": {"code": error.get("code") or f"http_{answer.status}", "message": error.get("message", "")},
        }
        return failure, json.dumps(failure).encode()

    async def lookup(self, request: Request) -> Response:
        """Through the ``Gate`` as every route with a body: a lookup is small, and a body of any size was once read
        whole here."""
        return await self.gate.guard(request, "tasks", self._lookup, limit=JSON_LIMIT, faults=False)

    async def _lookup(self, request: Request, reader: Body, fault: object) -> Response:
        """``{"action": "retrieve", "id" | "trace_id"}`` (``trace_id`` wins) or ``"retrieve_batch"``."""
        if self.options.profile != "compat":
            raise APIFailure(404, f"Invalid URL ({request.method} {request.url.path})")
        params = await reader.json()
        action = params.get("action")
        if action == "retrieve":
            task = self._find(params.get("id"), params.get("trace_id"))
            return JSONResponse(task.body() if task is not None else {})
        if action == "retrieve_batch":
            return JSONResponse(self._many(params))
        raise APIFailure(400, f"action must be 'retrieve' or 'retrieve_batch', not {action!r}.", param="action",
                         code="invalid_value")  # fmt: skip

    def _find(self, task_id: object, trace_id: object) -> _Task | None:
        if isinstance(trace_id, str):
            return next((t for t in reversed(self._tasks.values()) if t.trace_id == trace_id), None)
        return self._tasks.get(task_id) if isinstance(task_id, str) else None

    def _many(self, params: dict[str, Any]) -> dict[str, Any]:
        ids, traces = params.get("ids") or [], params.get("trace_ids") or []
        if not isinstance(ids, list) or not isinstance(traces, list):
            raise APIFailure(400, "ids and trace_ids must be lists.", code="invalid_value")
        offset, limit = params.get("offset", 0), params.get("limit", 12)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (offset, limit)):
            raise APIFailure(400, "offset and limit must be whole numbers.", code="invalid_value")
        found = [t for t in self._tasks.values() if (not ids and not traces) or t.id in ids or t.trace_id in traces]
        return {"items": [t.body() for t in found[offset : offset + limit]], "count": len(found)}


__all__ = ["TASK_PATHS", "TasksAPI", "loopback_only"]
