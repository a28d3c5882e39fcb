"""The offline server's Batch API for images: ``/v1/batches`` over ``/v1/images/generations`` and ``/v1/images/edits``.

A batch reads its JSONL input file and checks every line (each error names its line number), then runs the lines
through the image routes themselves (``inner.dispatch``: the same checks, drawing semaphore and answers as over
HTTP), and writes one output line per success and one error-file line per failure, each with its ``custom_id``.
Its status moves as OpenAI's does: ``validating`` → ``in_progress`` → ``finalizing`` → ``completed``; ``failed``
when the file does not pass; ``cancelling`` → ``cancelled``; ``expired`` when the completion window ends first
(the lines that never ran go to the error file, as ``batch_expired`` or ``batch_cancelled``).

``ServerOptions.batch_seconds`` sets how long a batch takes (a tenth validating, most of it running, the lines
spread over that time so ``request_counts`` rise as they would; never shorter than the drawing itself), and
``batch_window`` its completion window, so a 24-hour window can be tested in seconds.  The worker runs on the
server's loop and does its file work in threads, so the server keeps answering while a batch runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.capabilities import MB, MODELS
from .http import DRAWING_THREADS, FIRST_INDEX_HEADER, JSON_LIMIT, APIFailure, Body, Gate, approx_bytes, new_id, page
from .inner import Answer
from .options import Fault
from .store import EXPIRY_RANGE, FileStore

#: The endpoints a batch of this server runs; the SDK names others, which are refused by name.
ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
SDK_ENDPOINTS = (
    "/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
    "/v1/images/generations", "/v1/images/edits", "/v1/videos",
)  # fmt: skip
#: OpenAI's limits for one batch (``batch_create_params.py``).
MAX_REQUESTS = 50_000
MAX_INPUT_BYTES = 200_000_000  # "200 MB", counted in decimal megabytes as the client counts it
COMPLETION_WINDOW = "24h"
#: At most this many line errors are listed in ``errors.data`` of a failed batch.
MAX_REPORTED_ERRORS = 100
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
#: Finished batches kept in memory for ``retrieve`` and ``list``, and the bytes their bodies may hold together (a
#: body is small: at most 16 metadata pairs and ``MAX_REPORTED_ERRORS`` errors); the oldest finished are forgotten
#: first, and a forgotten batch is answered as an unknown one.  OpenAI keeps batches; a server in memory cannot.
BATCH_CAPACITY = 1024
BATCH_BYTES = 64 * MB
#: Lines run at once: enough to keep every drawing thread busy while others are being written.
_LINES_AT_ONCE = max(2, 2 * DRAWING_THREADS)
#: Shares of ``batch_seconds``: validating, then running the lines, then finalizing.
_VALIDATING, _RUNNING = 0.1, 0.8


@dataclass
class _Line:
    custom_id: str
    offset: int
    length: int
    #: The picture index this line starts at: lines asking the same thing continue each other's pictures, as
    #: requests fanned out from one call do, so ``n=3`` of ``dall-e-3`` as three lines gives three pictures.
    first_index: int = 0


@dataclass
class _Batch:
    id: str
    endpoint: str
    input_file_id: str
    metadata: dict[str, str] | None
    output_ttl: int
    host: str
    created_at: int
    expires_at: int
    status: str = "validating"
    times: dict[str, int] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def moved(self, status: str) -> None:
        self.status = status
        self.times[f"{status}_at"] = int(time.time())

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": COMPLETION_WINDOW,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.times.get("in_progress_at"),
            "expires_at": self.expires_at,
            "finalizing_at": self.times.get("finalizing_at"),
            "completed_at": self.times.get("completed_at"),
            "failed_at": self.times.get("failed_at"),
            "expired_at": self.times.get("expired_at"),
            "cancelling_at": self.times.get("cancelling_at"),
            "cancelled_at": self.times.get("cancelled_at"),
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "usage": {
                "input_tokens": self.usage["input_tokens"],
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": self.usage["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.usage["total_tokens"],
            },
            "metadata": self.metadata,
        }


def _error(code: str, message: str, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": param}


def tail_usage(body: bytes) -> Any:
    """The ``usage`` of an Images API answer, read from its tail: the body is mostly base64 pictures (megabytes),
    and ``usage`` is its last field, so only what follows the last ``"usage"`` key is parsed.  None when absent.

    A ``"usage"`` inside a string (a revised prompt quoting one) cannot match: JSON escapes its quotes.
    """
    at = body.rfind(b'"usage"')
    if at < 0:
        return None
    rest = body[at + len(b'"usage"') :].decode("utf-8", "replace").lstrip()
    if not rest.startswith(":"):
        return None
    try:
        return json.JSONDecoder().raw_decode(rest[1:].lstrip())[0]
    except ValueError:
        return None


class _Results:
    """The output file and the error file of one batch, written line by line in worker threads within the cap."""

    def __init__(self, store: FileStore, batch: _Batch) -> None:
        self.store = store
        self.batch = batch
        self._files: dict[str, tuple[str, Path, BinaryIO]] = {}
        self._reserved: dict[str, int] = {"output": 0, "error": 0}
        self._lock = threading.Lock()

    def write(self, custom_id: str, answer: Answer | None, error: dict[str, str] | None = None) -> bool:
        """Append the result of one line; True when it succeeded.  Runs in a worker thread."""
        if answer is not None and not answer.body.lstrip().startswith(b"{"):  # never a JSON-less answer in a line
            error = {"code": "server_error", "message": f"The route answered HTTP {answer.status} without JSON."}
            answer = None
        ok = answer is not None and answer.status == 200
        line = self._line(custom_id, answer, error)
        if not self.store.reserve(len(line)):
            ok = False
            line = self._line(custom_id, None, {
                "code": "storage_limit_exceeded",
                "message": f"The offline server's files are full ({self.store.limit / MB:,.0f} MB): this result "
                "could not be kept. Delete files you no longer need, or raise DALLE_NB_OFFLINE_FILES_LIMIT_MB.",
            })  # fmt: skip
            self.store.reserve(len(line))  # a short line: kept even at the cap, so no line goes unanswered
        kind = "output" if ok else "error"
        with self._lock:
            if kind not in self._files:
                file_id = new_id("file-")
                path = self.store.new_path(file_id)
                self._files[kind] = (file_id, path, path.open("wb"))
            self._files[kind][2].write(line)
            self._reserved[kind] += len(line)
        if ok and answer is not None:
            self._count_usage(answer)
        return ok

    @staticmethod
    def _line(custom_id: str, answer: Answer | None, error: dict[str, str] | None) -> bytes:
        head = json.dumps({"id": new_id("batch_req_"), "custom_id": custom_id})[:-1].encode()
        if answer is None:
            return head + b', "response": null, "error": ' + json.dumps(error).encode() + b"}\n"
        # the route's JSON body goes in as sent: a big picture is not decoded and encoded again
        response = json.dumps({"status_code": answer.status, "request_id": answer.request_id})[:-1].encode()
        return head + b', "response": ' + response + b', "body": ' + answer.body + b'}, "error": null}\n'

    def _count_usage(self, answer: Answer) -> None:
        usage = tail_usage(answer.body)
        if not isinstance(usage, dict):
            return
        with self._lock:
            for name in ("input_tokens", "output_tokens", "total_tokens"):
                value = usage.get(name)
                if isinstance(value, int):
                    self.batch.usage[name] += value

    def close(self) -> None:
        """Make the files downloadable and name them on the batch."""
        with self._lock:
            for kind, (file_id, path, handle) in self._files.items():
                handle.close()
                self.store.add(
                    file_id, path, filename=f"{self.batch.id}_{kind}.jsonl", purpose="batch_output",
                    expires_after=self.batch.output_ttl, reserved=self._reserved[kind],
                )  # fmt: skip
                if kind == "output":
                    self.batch.output_file_id = file_id
                else:
                    self.batch.error_file_id = file_id
            self._files.clear()


class BatchesAPI:
    """``/v1/batches`` bound to one server's ``Gate``: its checks, its file store, and its routes to run lines on."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.options = gate.options
        self.store = gate.store
        self._batches: dict[str, _Batch] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/v1/batches", self.create, methods=["POST"]),
            Route("/v1/batches", self.listing, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
        ]

    # ------------------------------------------------------------------ routes
    async def create(self, request: Request) -> Response:
        return await self.gate.guard(request, "batches", self._create, limit=JSON_LIMIT)

    async def _create(self, request: Request, reader: Body, fault: Fault | None) -> Response:
        params = await reader.json()
        known = {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"}
        for name in params:
            if name not in known:
                raise APIFailure(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(params.get(name), str):
                raise APIFailure(
                    400, f"'{name}' is required, as a string.", param=name, code="missing_required_parameter"
                )  # fmt: skip
        endpoint = params["endpoint"]
        if endpoint not in ENDPOINTS:
            served = " and ".join(ENDPOINTS)
            why = "is not served here" if endpoint in SDK_ENDPOINTS else "is not an endpoint batches take"
            raise APIFailure(
                400, f"The offline server runs batches for {served}; '{endpoint}' {why}.", param="endpoint",
                code="unsupported_value" if endpoint in SDK_ENDPOINTS else "invalid_value",
            )  # fmt: skip
        if params["completion_window"] != COMPLETION_WINDOW:
            raise APIFailure(
                400, f"completion_window must be '{COMPLETION_WINDOW}', not {params['completion_window']!r}.",
                param="completion_window", code="invalid_value",
            )  # fmt: skip
        metadata = _metadata(params.get("metadata"))
        ttl = _output_ttl(params.get("output_expires_after"))
        file_id = params["input_file_id"]
        stored = self.store.get(file_id)
        if stored is None:
            raise APIFailure(
                400, f"The input file '{file_id}' does not exist (or was deleted, or has expired).",
                param="input_file_id", code="invalid_value",
            )  # fmt: skip
        if stored.purpose != "batch":
            raise APIFailure(
                400, f"The input file must be uploaded with purpose 'batch', not '{stored.purpose}'.",
                param="input_file_id", code="invalid_value",
            )  # fmt: skip
        if stored.bytes > MAX_INPUT_BYTES:
            raise APIFailure(
                400, f"The input file is {stored.bytes / MB:,.1f} MB; a batch input file may be at most "
                f"{MAX_INPUT_BYTES // MB} MB. Split it into several batches.", param="input_file_id",
                code="file_too_large",
            )  # fmt: skip
        now = int(time.time())
        batch = _Batch(
            id=new_id("batch_"), endpoint=endpoint, input_file_id=file_id, metadata=metadata, output_ttl=ttl,
            host=request.headers.get("host") or request.url.netloc, created_at=now,
            expires_at=now + int(self.options.batch_window),
        )  # fmt: skip
        self._batches[batch.id] = batch
        self._forget_oldest()
        batch.task = asyncio.get_running_loop().create_task(self._run(batch, stored.path, time.monotonic()))
        return JSONResponse(batch.body())

    async def retrieve(self, request: Request) -> Response:
        self.gate.check_key(request)
        return JSONResponse(self._found(request).body())

    async def listing(self, request: Request) -> Response:
        self.gate.check_key(request)
        newest_first = [b.body() for b in reversed(self._batches.values())]
        query = request.query_params
        return JSONResponse(page(newest_first, query.get("after"), query.get("limit"), default=20, most=100))

    async def cancel(self, request: Request) -> Response:
        self.gate.check_key(request)
        batch = self._found(request)
        if batch.status in ("validating", "in_progress"):
            batch.moved("cancelling")  # the lines running now finish; no new one starts
            batch.stop.set()
        elif batch.status != "cancelling":
            raise APIFailure(
                409, f"Cannot cancel a batch with status '{batch.status}'.", param="batch_id", code="invalid_state"
            )  # fmt: skip
        return JSONResponse(batch.body())

    def _forget_oldest(self) -> None:
        """Forget the oldest finished batches while more than ``BATCH_CAPACITY`` or ``BATCH_BYTES`` are kept; a
        running batch is never forgotten."""
        sizes = {key: approx_bytes(b.body()) for key, b in self._batches.items()}
        total = sum(sizes.values())
        for key in [key for key, b in self._batches.items() if b.status not in ACTIVE]:
            if len(self._batches) <= BATCH_CAPACITY and total <= BATCH_BYTES:
                return
            del self._batches[key]
            total -= sizes[key]

    def _found(self, request: Request) -> _Batch:
        batch_id = request.path_params["batch_id"]
        batch = self._batches.get(batch_id)
        if batch is None:
            raise APIFailure(404, f"No such Batch object: {batch_id}", param="batch_id", code="batch_not_found")
        return batch

    # ------------------------------------------------------------------ the worker
    async def _run(self, batch: _Batch, path: Path, started: float) -> None:
        seconds = self.options.batch_seconds
        try:
            lines = await run_in_threadpool(self._validate, batch, path)
            if batch.errors:  # known bad: it fails now, not after its share of batch_seconds spent validating
                batch.moved("failed")
                return
            await self._until(started + _VALIDATING * seconds, batch)
            batch.total = len(lines)
            expired = self._expired(batch)
            if expired or batch.stop.is_set():  # no line ran: each is answered as expired or cancelled
                await self._end(batch, lines, bytearray(len(lines)), "expired" if expired else "cancelled")
                return
            batch.moved("in_progress")
            results = _Results(self.store, batch)
            ran = await self._lines(batch, path, lines, results, time.monotonic(), _RUNNING * seconds)
            if batch.stop.is_set():
                await self._end(batch, lines, ran, "expired" if batch.status == "in_progress" else "cancelled", results)
                return
            batch.moved("finalizing")
            await run_in_threadpool(results.close)
            await self._until(started + seconds, batch, cancellable=False)
            batch.moved("completed")
        except Exception as exc:  # a fault of the server: the batch fails and says so, it never hangs
            why = f"The batch failed inside the offline server ({type(exc).__name__})."
            batch.errors = [_error("server_error", why)]
            batch.moved("failed")

    def _expired(self, batch: _Batch) -> bool:
        return time.time() >= batch.expires_at

    async def _until(self, deadline: float, batch: _Batch, *, cancellable: bool = True) -> None:
        """Wait until ``deadline`` (monotonic), waking early on a cancel or when the window ends."""
        window_left = batch.expires_at - time.time()
        left = min(deadline - time.monotonic(), window_left)
        if left <= 0:
            return
        if not cancellable:
            await asyncio.sleep(left)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(batch.stop.wait(), left)

    async def _lines(
        self, batch: _Batch, path: Path, lines: list[_Line], results: _Results, start: float, span: float
    ) -> bytearray:
        """Run every line, spread over ``span`` seconds; returns which ones ran (1) and which never started (0)."""
        ran = bytearray(len(lines))
        taken = 0

        async def worker() -> None:
            nonlocal taken
            while taken < len(lines) and not batch.stop.is_set():
                index = taken
                taken += 1
                await self._until(start + span * index / len(lines), batch)
                if self._expired(batch):
                    batch.stop.set()  # the window is over: what has not started never will
                if batch.stop.is_set():
                    return
                ran[index] = 1
                line = lines[index]
                body, problem = await run_in_threadpool(_read_body, path, line)
                answer = None
                if problem is None:
                    answer = await self.gate.call(
                        batch.endpoint, body, content_type="application/json", host=batch.host,
                        headers={FIRST_INDEX_HEADER: str(line.first_index)},
                    )  # fmt: skip
                ok = await run_in_threadpool(results.write, line.custom_id, answer, problem)
                if ok:
                    batch.completed += 1
                else:
                    batch.failed += 1

        await asyncio.gather(*(worker() for _ in range(min(_LINES_AT_ONCE, max(1, len(lines))))))
        return ran

    async def _end(
        self, batch: _Batch, lines: list[_Line], ran: bytearray, status: str, results: _Results | None = None
    ) -> None:
        """Close a batch that stops early: the lines that never ran are answered in the error file."""
        results = results or _Results(self.store, batch)
        code, message = {
            "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
            "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
        }[status]

        def answer_the_rest() -> None:
            for index, line in enumerate(lines):
                if not ran[index]:
                    results.write(line.custom_id, None, {"code": code, "message": message})
            results.close()

        await run_in_threadpool(answer_the_rest)
        batch.failed += sum(1 for flag in ran if not flag)
        batch.moved(status)

    def _validate(self, batch: _Batch, path: Path) -> list[_Line]:
        """Check every line of the input file (in a worker thread); problems go to ``batch.errors`` with their line."""
        lines: list[_Line] = []
        seen: set[str] = set()
        asked: dict[bytes, int] = {}  # what a line asks (all but n) -> pictures asked for so far
        count = 0
        offset = 0

        def problem(code: str, message: str, number: int | None, param: str | None = None) -> None:
            if len(batch.errors) < MAX_REPORTED_ERRORS:
                batch.errors.append(_error(code, message, number, param))

        with path.open("rb") as source:
            for number, raw in enumerate(source, 1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                count += 1
                if count > MAX_REQUESTS:
                    continue
                try:
                    request = json.loads(raw)
                except (ValueError, RecursionError):
                    request = None
                if not isinstance(request, dict):
                    problem("invalid_json_line", "This line is not parseable as valid JSON.", number)
                    continue
                custom_id = request.get("custom_id")
                if not isinstance(custom_id, str) or not custom_id:
                    problem("missing_required_parameter", "Each request needs a 'custom_id' string.", number,
                            "custom_id")  # fmt: skip
                    continue
                if custom_id in seen:
                    problem("duplicate_custom_id", "The custom_id for this request is a duplicate of another "
                            "request. The custom_id parameter must be unique for each request in a batch.", number,
                            "custom_id")  # fmt: skip
                    continue
                seen.add(custom_id)
                if request.get("method") != "POST":
                    problem("invalid_method", f"The method must be 'POST', not {request.get('method')!r}.", number,
                            "method")  # fmt: skip
                    continue
                if request.get("url") != batch.endpoint:
                    problem("invalid_url", f"The URL {request.get('url')!r} of this request does not match the "
                            f"batch's endpoint '{batch.endpoint}'.", number, "url")  # fmt: skip
                    continue
                body = request.get("body")
                if not isinstance(body, dict):
                    problem("missing_required_parameter", "Each request needs a 'body' object.", number, "body")
                    continue
                refused = self._model_problem(batch, body.get("model"))
                if refused is not None:
                    problem(refused[0], refused[1], number, "body.model")
                    continue
                n = body.get("n", 1)
                same = hashlib.sha1(json.dumps({**body, "n": None}, sort_keys=True).encode()).digest()
                lines.append(_Line(custom_id, start, len(raw), asked.get(same, 0)))
                asked[same] = asked.get(same, 0) + (n if isinstance(n, int) and not isinstance(n, bool) else 1)
        if count == 0:
            problem("empty_file", "The input file has no requests.", None)
        elif count > MAX_REQUESTS:
            problem("too_many_requests", f"The input file has {count:,} requests; a batch takes at most "
                    f"{MAX_REQUESTS:,}. Split it into several batches.", None)  # fmt: skip
        return lines

    def _model_problem(self, batch: _Batch, model: object) -> tuple[str, str] | None:
        """Why a line's ``model`` cannot be in this batch, or None.  All lines of a batch use one model."""
        endpoint = batch.endpoint.rsplit("/", 1)[-1]
        if not isinstance(model, str):
            return "missing_required_parameter", "Each request's body needs a 'model': a batch runs on one model."
        spec = MODELS.get(model)
        if spec is None or (spec.retired and self.options.profile == "openai"):
            why = spec.retirement_message() if spec is not None else f"The model '{model}' does not exist."
            return "model_not_found", why
        if endpoint not in spec.endpoints or (endpoint == "edits" and not spec.is_gpt):
            return "invalid_value", f"The model '{model}' cannot be batched on {batch.endpoint}."
        if batch.model is None:
            batch.model = model
        elif model != batch.model:
            return "mismatched_model", (
                f"The model '{model}' does not match the model of the batch's other requests ('{batch.model}'); "
                "a batch runs on one model."
            )
        return None


def _read_body(path: Path, line: _Line) -> tuple[bytes, dict[str, str] | None]:
    """The ``body`` of one input line, as the JSON the route reads (in a worker thread)."""
    with path.open("rb") as source:
        source.seek(line.offset)
        raw = source.read(line.length)
    try:
        return json.dumps(json.loads(raw)["body"]).encode(), None
    except (ValueError, KeyError, TypeError):  # the file changed under the batch: never, but say so if it does
        return b"", {"code": "invalid_json_line", "message": "This line could not be read again."}


def _metadata(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    ok = (
        isinstance(value, Mapping)
        and len(value) <= 16
        and all(isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512 for k, v in value.items())
    )
    if not ok:
        raise APIFailure(
            400, "metadata takes at most 16 pairs of strings: keys up to 64 characters, values up to 512.",
            param="metadata", code="invalid_value",
        )  # fmt: skip
    assert isinstance(value, Mapping)
    return {str(k): str(v) for k, v in value.items()}


def _output_ttl(value: object) -> int:
    """Seconds the output and error files live (``output_expires_after``; 30 days by default)."""
    if value is None:
        return 30 * 24 * 3600
    low, high = EXPIRY_RANGE
    seconds = value.get("seconds") if isinstance(value, Mapping) else None
    if (
        not isinstance(value, Mapping)
        or value.get("anchor") != "created_at"
        or isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not low <= seconds <= high
    ):
        raise APIFailure(
            400, f"output_expires_after must be {{'anchor': 'created_at', 'seconds': {low} to {high}}}.",
            param="output_expires_after", code="invalid_value",
        )  # fmt: skip
    return seconds


__all__ = ["COMPLETION_WINDOW", "ENDPOINTS", "MAX_INPUT_BYTES", "MAX_REQUESTS", "BatchesAPI"]
