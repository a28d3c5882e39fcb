"""What the offline server's APIs share, so that every one of them answers as OpenAI does.

The routes live in their own modules (``images``, ``responses``, ``files``, ``batches``, ``tasks``, ``service``);
what makes all of them look like OpenAI's lives here once: ``APIFailure`` and the handlers that turn any error
into an ``{"error": {...}}`` body, ``Body`` (the one reader of request bodies: limit, read timeout, content type),
``x-request-id``, server-sent events, the cut connections of the ``drop`` and ``reset`` faults, uploaded pictures
measured, token usage.

``Gate`` is the state one server's APIs share, made by ``app`` and handed to each of them: the options and
injected faults, the drawing threads, the file store, the gauge ``/health`` reads, and the way back in to the
server's own routes.  Nothing here imports an API, and nothing here draws: pictures are the painter's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import os
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core import tokens
from ..core.capabilities import (
    DATA_URL_LIMIT,
    INPUT_MAX_PIXELS,
    INPUT_MAX_REQUEST_PIXELS,
    MB,
    InputImage,
    ParamError,
)
from .inner import INTERNAL, Answer, dispatch
from .options import Fault, ServerOptions
from .store import FileStore

#: Pictures drawn at once across all requests: drawing is CPU work, so more threads than cores only queue.
DRAWING_THREADS = max(1, min(8, os.cpu_count() or 1))
#: Largest JSON body a generations request can need (a 32,000-character prompt and fields).
JSON_LIMIT = 1 * MB
#: A picture that only tints the drawing (an edit's second and later images) is kept at most this many pixels on a
#: side once measured: the painter reads only its mean colour, and the full picture need not stay in memory.
REFERENCE_SIDE = 256
#: A prompt containing this word is refused as the safety system refuses one, so tutorials and
#: tests can show a content-policy error offline.
BLOCKED_WORD = "#blocked"
#: Which picture index a request starts at.  dalle_nb's client sets it when it fans ``n`` out
#: into several requests, so they give different pictures, as the real API would.
FIRST_INDEX_HEADER = "x-dalle-nb-first-index"
_DATA_URL = re.compile(r"data:(?:[\w.+-]+/[\w.+-]+)?(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)


# ------------------------------------------------------------------------------------------------- errors


class APIFailure(Exception):
    """An error answered as OpenAI answers it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        err_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.err_type = err_type or ("server_error" if status >= 500 else "invalid_request_error")
        self.headers = dict(headers or {})

    @classmethod
    def from_param(cls, error: ParamError) -> APIFailure:
        return cls(error.status, error.message, param=error.field, code=error.code, err_type=error.err_type)

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.err_type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


async def api_failure_handler(request: Request, exc: Exception) -> Response:
    """A route's refusal, raised anywhere in it, answered as OpenAI answers it (a coroutine: Starlette runs a
    plain function handler in a worker thread)."""
    assert isinstance(exc, APIFailure)
    return exc.response()


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such path, wrong method) in OpenAI's words and shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return APIFailure(404, f"Invalid URL ({request.method} {request.url.path})").response()
    if exc.status_code == 405:
        return APIFailure(405, f"Invalid method for URL ({request.method} {request.url.path})").response()
    return APIFailure(exc.status_code, str(exc.detail)).response()


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """A fault of the server itself still answers as OpenAI does: a JSON body, never a traceback."""
    return APIFailure(500, f"The server had an error while processing your request ({type(exc).__name__}).").response()


# ------------------------------------------------------------------------------------------------- reading bodies


class _BodyTooLarge(Exception):
    pass


class _BodyStalled(Exception):
    pass


class FileTooLarge(Exception):
    """One file of a multipart body passed its limit while arriving; the route words the refusal."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(field)
        self.field = field
        self.limit = limit


def _limited(receive: Receive, limit: int, read_timeout: float) -> Receive:
    """A receive channel that stops once the body passes ``limit`` bytes, or when the client stalls.

    A client that sends half a request and then nothing would otherwise hold its connection
    (and the memory of what it sent) forever.
    """
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        try:
            message = await asyncio.wait_for(receive(), read_timeout)
        except TimeoutError:
            raise _BodyStalled from None
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return wrapped


class _LimitedParts(MultiPartParser):
    """Starlette's multipart parser, refusing any one file over ``file_limit`` while it is still arriving,
    so a 200 MB upload costs 50 MB of reading, not 200 MB, before it is refused."""

    def __init__(self, *args: Any, file_limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.file_limit = file_limit
        self._part_bytes = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._part_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._part_bytes += end - start
            if self._part_bytes > self.file_limit:
                raise FileTooLarge(self._current_part.field_name, self.file_limit)
        super().on_part_data(data, start, end)


class Body:
    """The one way a route reads its request's body: made by ``Gate.guard`` only, over a receive channel that
    refuses a body past the route's limit and a client that stalls, and checks the content type before reading.

    Routes are handed one and never read ``request.body()``, ``.json()``, ``.form()`` or ``.stream()`` themselves
    (``tests/offline`` checks the package for it): a route that skipped the limit would read a body of any size
    whole, and one without the timeout would wait on a half-sent request forever.
    """

    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "").split(";")[0].strip().lower()

    async def json(self) -> dict[str, Any]:
        """The request's JSON object, or the 400 OpenAI gives for a body that is not one (or says it is not)."""
        kind = self.content_type
        if kind and not (kind == "application/json" or kind.endswith("+json")):
            raise APIFailure(
                400, f"This endpoint takes a JSON body with 'Content-Type: application/json', not {kind!r}.",
                code="invalid_content_type",
            )  # fmt: skip
        raw = await self._request.body()
        try:
            params = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise APIFailure(
                400,
                "We could not parse the JSON body of your request. Send a JSON object "
                "with 'Content-Type: application/json'.",
                code="invalid_json",
            ) from None
        if not isinstance(params, dict):
            raise APIFailure(400, "The request body must be a JSON object.", code="invalid_json")
        return params

    async def form(self, not_multipart: str, *, max_files: int, max_fields: int, file_limit: int) -> FormData:
        """The request's multipart form, parsed with ``_LimitedParts``; the caller closes it.

        A body that is not ``multipart/form-data`` is refused with ``not_multipart``, a malformed one as Starlette
        words it; a file over ``file_limit`` raises ``FileTooLarge``, for the caller to word.
        """
        if self.content_type != "multipart/form-data":
            raise APIFailure(400, not_multipart, code="invalid_content_type")
        request = self._request
        parser = _LimitedParts(
            request.headers, request.stream(), max_files=max_files, max_fields=max_fields, file_limit=file_limit
        )
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise APIFailure(400, f"Invalid multipart body: {exc.message}", code="invalid_multipart") from None


def first_index(request: Request) -> int:
    """The picture index the request starts at (``FIRST_INDEX_HEADER``, 0 when absent)."""
    value = request.headers.get(FIRST_INDEX_HEADER, "0").strip()
    if not (value.isascii() and value.isdigit()):
        raise APIFailure(
            400, f"Invalid header {FIRST_INDEX_HEADER}: {value!r}; it must be a whole number.",
            code="invalid_header",
        )  # fmt: skip
    return min(int(value), 10_000)


# ------------------------------------------------------------------------------------------------- input pictures


@dataclass
class Upload:
    """An input picture, decoded, and what the capability table checks of it."""

    image: Any  # PIL.Image.Image, loaded
    info: InputImage


def _not_an_image(field: str, exc: Exception) -> APIFailure:
    return APIFailure(
        400,
        f"Invalid image file for '{field}': the bytes are not a PNG, JPEG or WebP image ({type(exc).__name__}).",
        param=field,
        code="invalid_image_format",
    )


def _too_many_pixels(field: str, size: str) -> APIFailure:
    return APIFailure(
        400,
        f"The image for '{field}' is {size}; an input image may have at most {INPUT_MAX_PIXELS:,} pixels (4096x4096).",
        param=field,
        code="image_too_large",
    )


def check_pictures(
    images: Sequence[tuple[str, bytes]], *, most: int, extra: Sequence[tuple[str, bytes]] = ()
) -> list[tuple[int, int]]:
    """Refuse a request's pictures by what their headers say, before any of them is decoded; the sizes of
    ``images`` (what their input tokens are counted from).

    ``images`` (each named by its field) are at most ``most``; each of them and of ``extra`` (a mask, a markup:
    not counted as images) has at most ``INPUT_MAX_PIXELS``, and all together at most ``INPUT_MAX_REQUEST_PIXELS``.
    Decoding costs 3 to 4 bytes a pixel whatever the file's size, so a 339 KB PNG of an 8192x8192 picture once cost
    the server 862 MB; Pillow reads only the header here.
    """
    from PIL import Image, UnidentifiedImageError  # not at the top: the server starts without Pillow

    if len(images) > most:
        raise APIFailure(
            400, f"Too many input images: {len(images)} given, at most {most} are accepted.",
            param=images[most][0], code="too_many_images",
        )  # fmt: skip
    total = 0
    sizes: list[tuple[int, int]] = []
    for field, data in (*images, *extra):
        if not data:
            raise APIFailure(400, f"The file for '{field}' is empty.", param=field, code="empty_image_file")
        try:
            with Image.open(io.BytesIO(data)) as probe:  # lazy: the header only
                width, height = probe.size
        except Image.DecompressionBombError:
            raise _too_many_pixels(field, "larger than Pillow will open") from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise _not_an_image(field, exc) from None
        if width * height > INPUT_MAX_PIXELS:
            raise _too_many_pixels(field, f"{width}x{height} ({width * height:,} pixels)")
        total += width * height
        sizes.append((width, height))
        if total > INPUT_MAX_REQUEST_PIXELS:
            raise APIFailure(
                400,
                f"The input images of this request have {total:,} pixels or more together; one request may have "
                f"at most {INPUT_MAX_REQUEST_PIXELS:,} (four 4096x4096 images).",
                param=field,
                code="image_too_large",
            )
    return sizes[: len(images)]


def measure(field: str, data: bytes, *, keep: int | None = None) -> Upload:
    """Sniff the real format of an uploaded file (names and types may lie), decode it and measure it.

    Callers run ``check_pictures`` on the request's pictures first and decode them one at a time; ``keep``: the
    longest side the decoded picture is kept at (a reference the painter only takes the colour of), so a request's
    pictures are not all held at full size at once.
    """
    from PIL import Image, UnidentifiedImageError  # not at the top: the server starts without Pillow

    if not data:
        raise APIFailure(400, f"The file for '{field}' is empty.", param=field, code="empty_image_file")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = (probe.format or "").lower()
            width, height = probe.size
            if width * height > INPUT_MAX_PIXELS:
                raise _too_many_pixels(field, f"{width}x{height} ({width * height:,} pixels)")
            probe.load()
            image = probe.copy()
    except APIFailure:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(field, "larger than Pillow will open") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise _not_an_image(field, exc) from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    transparent = False
    if has_alpha:
        alpha = image.convert("RGBA").getchannel("A")
        transparent = alpha.getextrema()[0] == 0
    fmt = {"jpg": "jpeg", "mpo": "jpeg"}.get(fmt, fmt)
    if keep is not None:
        image.thumbnail((keep, keep))
    return Upload(image, InputImage(fmt, width, height, len(data), has_alpha, transparent))


def data_url(url: object, where: str) -> bytes:
    """The bytes of a base64 ``data:`` URL; ``where`` names the field in refusals."""
    if not isinstance(url, str):
        raise APIFailure(400, f"'{where}' must be a string.", param=where, code="invalid_type")
    if len(url) > DATA_URL_LIMIT:
        raise APIFailure(
            400,
            f"'{where}' is {len(url):,} characters; a data URL may be at most {DATA_URL_LIMIT:,}.",
            param=where,
            code="string_above_max_length",
        )
    if url.startswith(("http://", "https://")):
        raise APIFailure(
            400,
            f"The offline server cannot download '{url[:80]}': send the image as a data URL "
            "(data:image/png;base64,...).",
            param=where,
            code="invalid_image_url",
        )
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise APIFailure(
            400, f"'{where}' must be a base64 data URL (data:image/png;base64,...).", param=where,
            code="invalid_image_url",
        )  # fmt: skip
    try:
        return base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError):
        raise APIFailure(
            400, f"The data URL in '{where}' is not valid base64.", param=where, code="invalid_base64_image"
        ) from None


# ------------------------------------------------------------------------------------------------- answering


def token_usage(
    model: str,
    prompt: str,
    quality: str,
    size: tuple[int, int],
    n: int,
    inputs: Sequence[tuple[int, int]] = (),
    fidelity: str | None = None,
) -> dict[str, Any]:
    """The ``usage`` of ``n`` pictures of GPT image ``model``, counted by ``core.tokens``: the rules the price estimate
    uses, so an offline answer costs what the estimate said and what OpenAI would charge.

    Each picture reads the prompt and every input picture (``inputs``, their real sizes, at ``fidelity``), so an
    answer of ``n`` pictures counts them ``n`` times, as it counts ``n`` pictures' output.
    """
    text = tokens.text_tokens(prompt)
    image_in = sum(tokens.input_image_tokens(width, height, fidelity).tokens for width, height in inputs)
    output = tokens.output_tokens(model, size[0], size[1], quality).tokens * n
    return {
        "input_tokens": (text + image_in) * n,
        "input_tokens_details": {"image_tokens": image_in * n, "text_tokens": text * n},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": (text + image_in) * n + output,
    }


def approx_bytes(value: object) -> int:
    """About how many bytes a JSON-like ``value`` holds (its strings' lengths), walked without encoding it: what the
    in-memory stores count against their byte bounds (``json.dumps`` of a body with a 20 MB string would itself
    cost 20 MB more)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(len(str(key)) + approx_bytes(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return sum(approx_bytes(item) for item in value)
    return 8


def sse(event: dict[str, Any]) -> bytes:
    """One server-sent event, named by the event's ``type``."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def new_id(prefix: str) -> str:
    """An object id as the Files and Batch APIs make them: ``prefix`` and 24 hex digits."""
    return f"{prefix}{secrets.token_hex(12)}"


def page(
    items: list[dict[str, Any]], after: str | None, limit: str | None, *, default: int, most: int
) -> dict[str, Any]:
    """One page of a cursor list as the SDK's ``CursorPage`` reads it: items after the id ``after``, ``has_more``."""
    if limit is None:
        count = default
    elif limit.isdigit() and 1 <= int(limit) <= most:
        count = int(limit)
    else:
        raise APIFailure(400, f"limit must be a whole number from 1 to {most}, not {limit!r}.", param="limit",
                         code="invalid_value")  # fmt: skip
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chosen = items[start : start + count]
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
        "has_more": start + count < len(items),
    }


async def sleep_unless_gone(request: Request, seconds: float) -> None:
    """Wait ``seconds``, stopping early when the client hangs up (so cancelled calls free the server)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, left))


class StreamCut(Exception):
    """Raised inside a streaming body to cut the connection half-way (the ``drop`` fault)."""


class BrokenResponse(Response):
    """Starts a response, then closes the connection: what a reset or a dropped link looks like."""

    def __init__(self, partial: bytes = b"", announced: int = 1024) -> None:
        super().__init__()
        self.partial = partial
        self.announced = announced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(self.announced).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.partial, "more_body": True})
        raise StreamCut


# ------------------------------------------------------------------------------------------------- the shared state


@dataclass
class Gauge:
    """How busy the server is, for ``/health`` (so tests and benchmarks can see what a client really sends at once,
    and how often it sends a request again): image requests in flight, the most at once so far, received in all;
    pictures being drawn now and the most at once so far."""

    in_flight: int = 0
    peak_in_flight: int = 0
    received: int = 0
    drawing: int = 0
    peak_drawing: int = 0


class RequestIdMiddleware:
    """Every response carries ``x-request-id``, as OpenAI's do; errors quote it in logs.

    It also counts the image requests (Images API and ``POST /v1/responses``) in flight and
    received on ``gauge``, and keeps the connection's transport at hand for the ``reset`` fault.
    """

    def __init__(self, app: ASGIApp, gauge: Gauge) -> None:
        self.app = app
        self.gauge = gauge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        # uvicorn's receive is a method of the connection's request cycle, which holds its transport
        scope["dalle_nb.transport"] = getattr(getattr(receive, "__self__", None), "transport", None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        # the requests that ask for pictures: the Images API's and the Responses API's (a POST; looking up a
        # stored response is not one)
        counted = scope.get("method") == "POST" and str(scope.get("path", "")).startswith(
            ("/v1/images/", "/v1/responses")
        )
        gauge = self.gauge
        if counted:
            gauge.received += 1
            gauge.in_flight += 1
            gauge.peak_in_flight = max(gauge.peak_in_flight, gauge.in_flight)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if counted:
                gauge.in_flight -= 1


class Gate:
    """What one server's APIs share, and the checks every request passes on its way in.

    ``guard`` is the way in to every route that takes a body, and the only maker of the ``Body`` it is read
    through: the key, an injected fault, the body's limit and read timeout, and reading errors answered as OpenAI
    answers them.  ``draw`` is the one way to draw: at most ``DRAWING_THREADS``
    pictures at once across all requests and APIs.  ``call`` runs a request through the server's own routes (a
    batch line, a gateway task), once ``app`` has set ``router``.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.store = FileStore(options.files_limit)
        self.gauge = Gauge()
        #: The server's routes, without the middleware: where ``call`` sends a request (set by ``app``).
        self.router: ASGIApp | None = None
        self._rng = random.Random(options.seed)
        self._rng_lock = threading.Lock()
        # bound to a loop only when a drawing first waits on it (3.10+): the server's, the one loop an app runs on
        self._drawing = asyncio.Semaphore(DRAWING_THREADS)

    def check_key(self, request: Request) -> None:
        """Refuse a request without the server's API key, when it has one, as OpenAI refuses it."""
        expected = self.options.api_key
        if expected is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if not given or scheme.lower() != "bearer":
            raise APIFailure(
                401,
                "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.",
                code="missing_api_key",
            )
        # bytes, not str: compare_digest refuses non-ASCII text, and a key is whatever bytes the client sent
        if not secrets.compare_digest(given.strip().encode("utf-8", "replace"), expected.encode("utf-8")):
            raise APIFailure(401, "Incorrect API key provided.", code="invalid_api_key")

    def _draw_fault(self) -> Fault | None:
        with self._rng_lock:
            for fault in self.options.faults:
                if self._rng.random() < fault.rate:
                    return fault
        return None

    async def guard(
        self,
        request: Request,
        endpoint: str,
        handler: Callable[[Request, Body, Fault | None], Awaitable[Response]],
        *,
        limit: int,
        faults: bool = True,
    ) -> Response:
        """Auth, fault injection, the body's ``limit`` and error mapping, around ``handler``.

        The handler reads the body only through the ``Body`` it is handed, which holds it to ``limit`` and the
        read timeout.  A fault that answers at once (429, 500, 503, timeout, reset, garbage) answers here; the
        others (drop, nofinal) are the handler's to act out, so it is handed the fault drawn.  ``faults=False``:
        a route that injected faults are not meant for (the gateway's task lookups) draws none.
        """
        try:
            self.check_key(request)
            # a batch line draws no fault
            fault = None if request.scope.get(INTERNAL) or not faults else self._draw_fault()
            if fault is not None and fault.kind in ("429", "500", "503", "timeout", "reset", "garbage"):
                return await self._fault_response(request, fault)
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise APIFailure(
                    413,
                    f"Request body is {int(length) / MB:.1f} MB; the {endpoint} endpoint takes at most "
                    f"{limit / MB:.0f} MB.",
                    code="request_too_large",
                )
            limited = Request(request.scope, _limited(request.receive, limit, self.options.read_timeout))
            return await handler(limited, Body(limited), fault)
        except APIFailure as failure:
            return failure.response()
        except ParamError as error:
            return APIFailure.from_param(error).response()
        except _BodyTooLarge:
            return APIFailure(
                413, f"Request body too large for the {endpoint} endpoint.", code="request_too_large"
            ).response()
        except FileTooLarge as error:
            return APIFailure(
                413,
                f"The file for '{error.field}' is larger than {error.limit // MB} MB, the most any model takes.",
                param=error.field,
                code="image_file_too_large",
            ).response()
        except _BodyStalled:
            return APIFailure(
                408,
                f"The request body stopped arriving for {self.options.read_timeout:g} s; send the whole request.",
                code="request_timeout",
                headers={"connection": "close"},
            ).response()

    async def _fault_response(self, request: Request, fault: Fault) -> Response:
        if fault.kind == "429":
            return APIFailure(
                429,
                "Rate limit reached for images per minute (offline fault injection). Please try again in 1s.",
                code="rate_limit_exceeded",
                err_type="requests",
                headers={"retry-after": "1", "retry-after-ms": "1000"},
            ).response()
        if fault.kind in ("500", "503"):
            status = int(fault.kind)
            message = (
                "The server had an error while processing your request (offline fault injection)."
                if status == 500
                else "The engine is currently overloaded, please try again later (offline fault injection)."
            )
            return APIFailure(status, message).response()
        if fault.kind == "timeout":
            await sleep_unless_gone(request, self.options.timeout_hold)
            return APIFailure(504, "Request timed out (offline fault injection).", code="timeout").response()
        if fault.kind == "garbage":
            return Response(
                b'{"created": 17, "data": [{"b64_json": "iVBOR', status_code=200, media_type="application/json"
            )
        transport = request.scope.get("dalle_nb.transport")
        if transport is not None and hasattr(transport, "abort"):
            # the connection dies before any answer, as a reset does: a client retries such a request
            transport.abort()
            return Response(status_code=500)  # never sent: the connection is gone
        return BrokenResponse()  # another server than uvicorn: cut it after the headers

    async def draw(self, work: Callable[[int], Any], index: int) -> Any:
        """Draw one picture in a worker thread, at most as many at once across all requests as there are cores:
        requests that arrive together queue here instead of all holding half-drawn pictures in memory."""
        async with self._drawing:
            self.gauge.drawing += 1
            self.gauge.peak_drawing = max(self.gauge.peak_drawing, self.gauge.drawing)
            try:
                return await run_in_threadpool(work, index)
            finally:
                self.gauge.drawing -= 1

    async def call(
        self, path: str, body: bytes, *, content_type: str, host: str, headers: dict[str, str] | None = None
    ) -> Answer:
        """POST ``body`` to one of the server's own routes, with its key and without a fault (``inner.dispatch``)."""
        assert self.router is not None, "app sets the router before any request arrives"
        return await dispatch(
            self.router, path, body, content_type=content_type, host=host, api_key=self.options.api_key,
            headers=headers,
        )  # fmt: skip

    def image_ref(self, ref: object, where: str, *, loose: bool = False) -> bytes:
        """The bytes behind ``{"image_url": data URL}`` or ``{"file_id": id}`` (exactly one of them not null).

        ``where`` names ``ref`` in the request.  ``loose``: other keys may sit beside them (a Responses
        ``input_image`` part's ``type`` and ``detail``); a JSON edit's references hold only the one.
        """
        url = ref.get("image_url") if isinstance(ref, Mapping) else None
        file_id = ref.get("file_id") if isinstance(ref, Mapping) else None
        if not isinstance(ref, Mapping) or (url is None) == (file_id is None) or (not loose and len(ref) != 1):
            raise APIFailure(
                400, f"'{where}' needs exactly one of 'image_url' (a data URL) or 'file_id'.", param=where,
                code="invalid_value",
            )  # fmt: skip
        if file_id is None:
            return data_url(url, f"{where}.image_url")
        at = f"{where}.file_id"
        if not isinstance(file_id, str):
            raise APIFailure(400, f"'{at}' must be a string.", param=at, code="invalid_type")
        data = self.store.lookup(file_id)
        if data is None:
            raise APIFailure(400, f"No file found with id '{file_id}'.", param=at, code="image_file_not_found")
        return data
