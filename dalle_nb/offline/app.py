"""The offline server's HTTP face: OpenAI Images API routes, validation, error bodies, faults.

A client cannot tell it from the real API by its shape: same paths, fields, status codes,
``{"error": {...}}`` bodies, ``x-request-id`` headers and server-sent events.  Rules come
from ``dalle_nb.models``; pixels come from ``draw``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..models import (
    MB,
    MODELS,
    Endpoint,
    InputImage,
    ModelSpec,
    ParamError,
    check_inputs,
    get_model,
    resolve_size,
    validate,
)
from .inner import INTERNAL
from .options import Fault, ServerOptions

#: Pictures of one request drawn at once: drawing is CPU work, so more threads than cores only queue.
_DRAWING_THREADS = max(1, min(8, os.cpu_count() or 1))
#: Largest JSON body a generations request can need (a 32,000-character prompt and fields).
JSON_LIMIT = 1 * MB
#: Whole multipart bodies: every input image at its limit, a mask, a markup, and the fields.
MULTIPART_LIMIT = {
    "edits": max(m.edit.max_images * m.edit.max_bytes for m in MODELS.values()) + 4 * MB + 50 * MB + MB,
    "variations": max(m.variation.max_bytes for m in MODELS.values() if m.variation) + MB,
}
#: No one file of an upload may be larger than the largest input file any model takes.
FILE_LIMIT = max(max(m.edit.max_bytes, m.edit.mask_max_bytes) for m in MODELS.values())
#: Decoded pixels above this are refused before decoding, whatever the file size.
MAX_INPUT_PIXELS = 8192 * 8192
#: A prompt containing this word is refused as the safety system refuses one, so tutorials and
#: tests can show a content-policy error offline.
BLOCKED_WORD = "#blocked"
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}


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


class _BodyTooLarge(Exception):
    pass


class _BodyStalled(Exception):
    pass


class _FileTooLarge(Exception):
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
                raise _FileTooLarge(self._current_part.field_name, self.file_limit)
        super().on_part_data(data, start, end)


async def read_form(
    request: Request, not_multipart: str, *, max_files: int, max_fields: int, file_limit: int
) -> FormData:
    """The request's multipart form, parsed with ``_LimitedParts``; the caller closes it.

    A body that is not ``multipart/form-data`` is refused with ``not_multipart``, a malformed one as Starlette
    words it; a file over ``file_limit`` raises ``_FileTooLarge``, for the caller to word.
    """
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise APIFailure(400, not_multipart, code="invalid_content_type")
    parser = _LimitedParts(
        request.headers, request.stream(), max_files=max_files, max_fields=max_fields, file_limit=file_limit
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise APIFailure(400, f"Invalid multipart body: {exc.message}", code="invalid_multipart") from None


async def _sleep_unless_gone(request: Request, seconds: float) -> None:
    """Wait ``seconds``, stopping early when the client hangs up (so cancelled calls free the server)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, left))


class RequestIdMiddleware:
    """Every response carries ``x-request-id``, as OpenAI's do; errors quote it in logs.

    It also counts the image requests (Images API and ``POST /v1/responses``) in flight and
    received (``/health`` reports them, so tests and benchmarks can see what a client really
    sends at once, and how often it sends a request again) and keeps the connection's
    transport at hand for the ``reset`` fault.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0
        self.peak_in_flight = 0
        self.received = 0

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
        if counted:
            self.received += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if counted:
                self.in_flight -= 1


@dataclass
class _Stored:
    data: bytes
    media_type: str
    expires: float


class _UrlStore:
    """Pictures served at expiring URLs, like the legacy ``response_format=url``."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, _Stored] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes, media_type: str) -> str:
        token = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, v in self._items.items() if v.expires <= now]:
                del self._items[key]
            self._items[token] = _Stored(data, media_type, now + self.ttl)
        return token

    def get(self, token: str) -> _Stored | None:
        with self._lock:
            item = self._items.get(token)
        if item is None or item.expires <= time.monotonic():
            return None
        return item


@dataclass
class _Upload:
    image: Any  # PIL.Image.Image, loaded
    info: InputImage


def _measure(field: str, data: bytes) -> _Upload:
    """Sniff the real format of an uploaded file (names and types may lie) and measure it."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise APIFailure(400, f"The file for '{field}' is empty.", param=field, code="empty_image_file")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = (probe.format or "").lower()
            width, height = probe.size
            if width * height > MAX_INPUT_PIXELS:
                raise APIFailure(
                    400,
                    f"The image for '{field}' is {width}x{height}, more pixels than the API accepts.",
                    param=field,
                    code="image_too_large",
                )
            probe.load()
            image = probe.copy()
    except APIFailure:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise APIFailure(
            400,
            f"Invalid image file for '{field}': the bytes are not a PNG, JPEG or WebP image ({type(exc).__name__}).",
            param=field,
            code="invalid_image_format",
        ) from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    transparent = False
    if has_alpha:
        alpha = image.convert("RGBA").getchannel("A")
        transparent = alpha.getextrema()[0] == 0
    fmt = {"jpg": "jpeg", "mpo": "jpeg"}.get(fmt, fmt)
    return _Upload(image, InputImage(fmt, width, height, len(data), has_alpha, transparent))


def fit_for_edit(base: Any, mask: Any, size: tuple[int, int]) -> tuple[Any, Any]:
    """The picture to edit and its mask (or None) at the output ``size``, the mask as RGBA.

    The picture is resampled smoothly (LANCZOS), the mask by nearest pixel, so what it protects keeps hard edges.
    """
    from PIL import Image

    if base.size != size:
        base = base.resize(size, Image.Resampling.LANCZOS)
        if mask is not None:
            mask = mask.convert("RGBA").resize(size, Image.Resampling.NEAREST)
    return base, mask.convert("RGBA") if mask is not None else None


def _usage(prompt: str, quality: str, size: tuple[int, int], n: int, input_images: int = 0) -> dict[str, Any]:
    text_tokens = max(1, round(len(prompt.split()) * 1.3))
    image_tokens = 323 * input_images
    per_image = round(OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["medium"]) * size[0] * size[1] / (1024 * 1024))
    output = per_image * n
    return {
        "input_tokens": text_tokens + image_tokens,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text_tokens + image_tokens + output,
    }


class OfflineImagesAPI:
    """The application: routes bound to one ``ServerOptions`` and its private state."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.urls = _UrlStore(options.url_ttl)
        self._rng = random.Random(options.seed)
        self._rng_lock = threading.Lock()
        # bound to a loop only when a drawing first waits on it (3.10+): the server's, the one loop an app runs on
        self._drawing = asyncio.Semaphore(_DRAWING_THREADS)
        #: Pictures being drawn now, and the most at once so far (``/health``).
        self.drawing = 0
        self.peak_drawing = 0
        # here, not at the top: these import this module's helpers
        from .batches import BatchesAPI
        from .files import FilesAPI
        from .responses import ResponsesAPI
        from .tasks import TasksAPI

        self.files = FilesAPI(self)
        self.batches = BatchesAPI(self, self.files.store)
        self.tasks = TasksAPI(self)
        self.responses = ResponsesAPI(self)
        routes = [
            Route("/v1/images/generations", self.generations, methods=["POST"]),
            Route("/v1/images/edits", self.edits, methods=["POST"]),
            Route("/v1/images/variations", self.variations, methods=["POST"]),
            *self.responses.routes(),
            *self.files.routes(),
            *self.batches.routes(),
            *self.tasks.routes(),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.get_model, methods=["GET"]),
            Route("/v1/offline/files/{token}", self.file, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
        ]
        self.starlette = Starlette(
            routes=routes,
            exception_handlers={
                APIFailure: self._api_failure,
                HTTPException: self._http_error,
                Exception: self._unexpected,
            },
        )
        self.gauge = RequestIdMiddleware(self.starlette)
        self.app: ASGIApp = self.gauge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ plumbing
    async def _api_failure(self, request: Request, exc: Exception) -> Response:
        """A route's refusal, raised anywhere in it, answered as OpenAI answers it (a coroutine: Starlette runs a
        plain function handler in a worker thread)."""
        assert isinstance(exc, APIFailure)
        return exc.response()

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return APIFailure(404, f"Invalid URL ({request.method} {request.url.path})").response()
        if exc.status_code == 405:
            return APIFailure(405, f"Invalid method for URL ({request.method} {request.url.path})").response()
        return APIFailure(exc.status_code, str(exc.detail)).response()

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        """A fault of the server itself still answers as OpenAI does: a JSON body, never a traceback."""
        return APIFailure(
            500, f"The server had an error while processing your request ({type(exc).__name__})."
        ).response()

    def _check_key(self, request: Request) -> None:
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

    async def _guard(
        self,
        request: Request,
        endpoint: str,
        handler: Callable[[Request, Fault | None], Awaitable[Response]],
        *,
        limit: int | None = None,
    ) -> Response:
        """Auth, fault injection, body limits and error mapping shared by the image routes.

        ``limit`` is for routes outside the Images API (``/v1/responses``), whose bodies have their own cap.
        """
        try:
            self._check_key(request)
            fault = None if request.scope.get(INTERNAL) else self._draw_fault()  # a batch line draws no fault
            if fault is not None and fault.kind in ("429", "500", "503", "timeout", "reset", "garbage"):
                return await self._fault_response(request, fault)
            if limit is None:
                limit = JSON_LIMIT if endpoint == "generations" else MULTIPART_LIMIT[endpoint]
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise APIFailure(
                    413,
                    f"Request body is {int(length) / MB:.1f} MB; the {endpoint} endpoint takes at most "
                    f"{limit / MB:.0f} MB.",
                    code="request_too_large",
                )
            limited = Request(request.scope, _limited(request.receive, limit, self.options.read_timeout))
            return await handler(limited, fault)
        except APIFailure as failure:
            return failure.response()
        except ParamError as error:
            return APIFailure.from_param(error).response()
        except _BodyTooLarge:
            return APIFailure(
                413, f"Request body too large for the {endpoint} endpoint.", code="request_too_large"
            ).response()
        except _FileTooLarge as error:
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
            await _sleep_unless_gone(request, self.options.timeout_hold)
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
        return _BrokenResponse()  # another server than uvicorn: cut it after the headers

    # ------------------------------------------------------------------ reading requests
    async def _json_params(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
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

    async def _form(self, request: Request, endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
        form = await read_form(
            request,
            f"The {endpoint} endpoint takes 'multipart/form-data' with the image as a file part.",
            max_files=64,
            max_fields=256,
            file_limit=FILE_LIMIT,
        )
        fields: dict[str, Any] = {}
        files: dict[str, list[bytes]] = {}
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files.setdefault(name, []).append(await value.read())
                elif name in fields:
                    raise APIFailure(400, f"Duplicate parameter: '{name}'.", param=name, code="duplicate_parameter")
                else:
                    fields[name] = value
        finally:
            await form.close()
        for name in ("image", "image[]", "mask", "markup"):
            if name in fields:
                raise APIFailure(400, f"'{name}' must be sent as a file, not as text.", param=name, code="invalid_type")
        return fields, files

    # ------------------------------------------------------------------ routes
    async def generations(self, request: Request) -> Response:
        return await self._guard(request, "generations", self._generations)

    async def edits(self, request: Request) -> Response:
        return await self._guard(request, "edits", self._edits)

    async def variations(self, request: Request) -> Response:
        return await self._guard(request, "variations", self._variations)

    async def _generations(self, request: Request, fault: Fault | None) -> Response:
        body = await self._json_params(request)
        if self.tasks.wanted(body):  # the gateway's task mode: answered now, delivered to the callback later
            return await self.tasks.accept(request, "generations", body)
        params = self._check_params("generations", body)
        spec = get_model(params["model"])
        width, height = resolve_size(spec, params["size"], "generations")

        def render(index: int) -> Any:
            from .painter import draw

            return draw.generate_image(
                params["prompt"],
                width,
                height,
                model=spec.id,
                index=index,
                seed=self.options.seed,
                transparent=params.get("background") == "transparent",
            )

        return await self._respond(request, "generations", spec, params, render, (width, height), 0, fault)

    async def _edits(self, request: Request, fault: Fault | None) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):  # GPT models: images by reference
            fields, files = await self.files.json_edit(request)
        else:
            fields, files = await self._form(request, "edits")
        if self.tasks.wanted(fields):
            return await self.tasks.accept(request, "edits", fields, files)
        params = self._check_params("edits", fields, files)
        spec = get_model(params["model"])
        images = [_measure("image", data) for data in files.get("image", []) + files.get("image[]", [])]
        mask = _measure("mask", files["mask"][0]) if "mask" in files else None
        markup = _measure("markup", files["markup"][0]) if "markup" in files else None
        check_inputs(
            spec, "edits", [u.info for u in images], mask.info if mask else None, markup.info if markup else None
        )
        base = images[0].image
        # as OpenAI answers: ``auto`` is the model's own size closest to the input's shape, never the input's size
        width, height = resolve_size(spec, params["size"], "edits", base.size)
        mask_image = mask.image if mask else None
        if mask_image is None and spec.edit.alpha_is_mask:
            mask_image = base
        if markup is not None:
            mask_image = markup.image  # the markup's transparent pixels guide where to change
        references = [u.image for u in images[1:]]
        # once for the n pictures, which only read them
        source, guide = await run_in_threadpool(fit_for_edit, base, mask_image, (width, height))

        def render(index: int) -> Any:
            from .painter import draw

            return draw.edit_image(
                source,
                params["prompt"],
                mask=guide,
                references=references,
                index=index,
                seed=self.options.seed,
                model=spec.id,
                transparent=params.get("background") == "transparent",
            )

        return await self._respond(request, "edits", spec, params, render, (width, height), len(images), fault)

    async def _variations(self, request: Request, fault: Fault | None) -> Response:
        fields, files = await self._form(request, "variations")
        params = self._check_params("variations", fields, files)
        spec = get_model(params["model"])
        source = _measure("image", files["image"][0]) if "image" in files else None
        check_inputs(spec, "variations", [source.info] if source else [])
        assert source is not None
        size = resolve_size(spec, params["size"], "variations")

        def render(index: int) -> Any:
            from .painter import draw

            return draw.vary_image(source.image, index=index, seed=self.options.seed, size=size)

        return await self._respond(request, "variations", spec, params, render, size, 1, fault)

    def _check_params(
        self, endpoint: Endpoint, fields: dict[str, Any], files: dict[str, list[bytes]] | None = None
    ) -> dict[str, Any]:
        for name in files or {}:
            if name not in ("image", "image[]", "mask", "markup") or (endpoint == "variations" and name != "image"):
                raise APIFailure(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
        if endpoint != "generations" and not (files or {}).get("image") and not (files or {}).get("image[]"):
            raise APIFailure(400, "An 'image' file is required.", param="image", code="missing_required_parameter")
        params = validate(endpoint, fields, profile=self.options.profile)
        if BLOCKED_WORD in params.get("prompt", "").lower():
            raise APIFailure(
                400,
                "Your request was rejected as a result of our safety system. Your prompt may contain text that is "
                f"not allowed by our safety system. (offline: the prompt contains '{BLOCKED_WORD}')",
                code="moderation_blocked",
            )
        return params

    async def _respond(
        self,
        request: Request,
        endpoint: Endpoint,
        spec: ModelSpec,
        params: dict[str, Any],
        render: Callable[[int], Any],
        size: tuple[int, int],
        input_images: int,
        fault: Fault | None,
    ) -> Response:
        from .painter import draw

        created = int(time.time())
        fmt = params.get("output_format", "png")
        compression = params.get("output_compression", 100)
        quality = params.get("quality", "standard")
        effective_quality = "medium" if quality == "auto" else quality
        background = params.get("background")
        effective_background = "transparent" if background == "transparent" else "opaque"
        size_text = f"{size[0]}x{size[1]}"
        usage = _usage(params.get("prompt", ""), effective_quality, size, params["n"], input_images)

        first = _first_index(request)
        if params.get("stream"):
            prefix = "image_generation" if endpoint == "generations" else "image_edit"
            return StreamingResponse(
                self._events(
                    prefix,
                    params,
                    lambda index: render(first + index),
                    fmt,
                    compression,
                    created,
                    effective_quality,
                    effective_background,
                    size_text,
                    usage,
                    fault,
                ),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )

        # the request is valid and read: now take as long as a real model would (refusals come at once), drawing
        # the n pictures in parallel during that time, as a real API's latency is its drawing
        started = time.monotonic()

        def drawn(index: int) -> bytes:
            return draw.encode(render(first + index), fmt, compression=compression)

        pictures = [asyncio.ensure_future(self._draw(drawn, index)) for index in range(params["n"])]

        def item(encoded: bytes) -> dict[str, Any]:
            entry: dict[str, Any] = {}
            if params.get("response_format", "b64_json") == "url":
                token = self.urls.put(encoded, f"image/{fmt}")
                entry["url"] = f"{request.url.scheme}://{request.url.netloc}/v1/offline/files/{token}"
            else:
                entry["b64_json"] = base64.b64encode(encoded).decode("ascii")
            if spec.revised_prompt and endpoint == "generations":
                entry["revised_prompt"] = draw.revise_prompt(params["prompt"], style=params.get("style", "vivid"))
            return entry

        tail: dict[str, Any] = {}
        if spec.is_gpt:
            tail.update(
                background=effective_background,
                output_format=fmt,
                quality=effective_quality,
                size=size_text,
                usage=usage,
            )
        if fault is not None and fault.kind == "drop":
            try:
                await _sleep_unless_gone(request, self.options.latency - (time.monotonic() - started))
                data = [item(encoded) for encoded in await asyncio.gather(*pictures)]
            finally:
                _settle(pictures)
            payload = json.dumps({"created": created, "data": data, **tail}).encode()
            return _BrokenResponse(payload[: len(payload) // 2], len(payload))

        async def body() -> AsyncIterator[bytes]:
            # written picture by picture, so the server holds one encoded picture per request at a time rather
            # than all n of them and their JSON (8 requests of 10 pictures at 3840x2160 were 2.7 GB)
            try:
                await _sleep_unless_gone(request, self.options.latency - (time.monotonic() - started))
                yield f'{{"created": {created}, "data": ['.encode()
                for number, picture in enumerate(pictures):
                    encoded = await picture
                    yield (b", " if number else b"") + json.dumps(item(encoded)).encode()
                yield b"]" + (b", " + json.dumps(tail).encode()[1:-1] if tail else b"") + b"}"
            finally:
                _settle(pictures)

        return StreamingResponse(body(), media_type="application/json")

    async def _draw(self, work: Callable[[int], Any], index: int) -> Any:
        """Draw one picture in a worker thread, at most as many at once across all requests as there are cores:
        requests that arrive together queue here instead of all holding half-drawn pictures in memory."""
        async with self._drawing:
            self.drawing += 1
            self.peak_drawing = max(self.peak_drawing, self.drawing)
            try:
                return await run_in_threadpool(work, index)
            finally:
                self.drawing -= 1

    async def _events(
        self,
        prefix: str,
        params: dict[str, Any],
        render: Callable[[int], Any],
        fmt: str,
        compression: int,
        created: int,
        quality: str,
        background: str,
        size_text: str,
        usage: dict[str, Any],
        fault: Fault | None,
    ) -> AsyncIterator[bytes]:
        from .painter import draw

        partials = params.get("partial_images", 0)
        total_events = params["n"] * (partials + 1)
        sent = 0
        common = {"background": background, "output_format": fmt, "quality": quality, "size": size_text}
        completed_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
        # every picture is drawn in parallel from the start; the latency is spread over the events, each of which
        # waits only for what is left of its share, so partial pictures arrive over time and drawing is not added
        started = time.monotonic()
        finals = [asyncio.ensure_future(self._draw(render, index)) for index in range(params["n"])]
        try:
            for index in range(params["n"]):
                final = await finals[index]
                frames = await run_in_threadpool(draw.partial_frames, final, partials)
                for frame_index, frame in enumerate([*frames, final]):
                    encoded = await run_in_threadpool(draw.encode, frame, fmt, compression=compression)
                    due = started + self.options.latency * (sent + 1) / total_events
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    event: dict[str, Any] = {
                        "b64_json": base64.b64encode(encoded).decode("ascii"),
                        "created_at": created,
                    }
                    if frame is final:
                        if fault is not None and fault.kind == "nofinal":
                            continue  # the stream ends cleanly without its final picture
                        event.update(type=f"{prefix}.completed", usage=completed_usage, **common)
                    else:
                        event.update(type=f"{prefix}.partial_image", partial_image_index=frame_index, **common)
                    yield _sse(event)
                    sent += 1
                    if fault is not None and fault.kind == "drop" and sent * 2 >= total_events:
                        raise _StreamCut  # the connection dies half-way through the stream
        finally:
            _settle(finals)

    # ------------------------------------------------------------------ other routes
    def _visible_models(self) -> list[ModelSpec]:
        return [m for m in MODELS.values() if self.options.profile == "compat" or not m.retired]

    async def list_models(self, request: Request) -> Response:
        self._check_key(request)
        return JSONResponse({"object": "list", "data": [_model_object(m) for m in self._visible_models()]})

    async def get_model(self, request: Request) -> Response:
        self._check_key(request)
        model_id = request.path_params["model_id"]
        for spec in self._visible_models():
            if spec.id == model_id:
                return JSONResponse(_model_object(spec))
        return APIFailure(
            404,
            f"The model '{model_id}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        ).response()

    async def file(self, request: Request) -> Response:
        item = self.urls.get(request.path_params["token"])
        if item is None:
            return APIFailure(
                404,
                f"This image URL has expired or never existed; URLs are valid for {self.options.url_ttl:.0f} seconds.",
                code="url_expired",
            ).response()
        return Response(item.data, media_type=item.media_type)

    async def health(self, request: Request) -> Response:
        """Whether the server is up, and how many image requests it is answering now, at most so far, and in all."""
        return JSONResponse(
            {
                "status": "ok",
                "profile": self.options.profile,
                "in_flight": self.gauge.in_flight,
                "peak_in_flight": self.gauge.peak_in_flight,
                "received": self.gauge.received,
                "drawing": self.drawing,
                "peak_drawing": self.peak_drawing,
            }
        )


#: Which picture index a request starts at.  dalle_nb's client sets it when it fans ``n`` out
#: into several requests, so they give different pictures, as the real API would.
FIRST_INDEX_HEADER = "x-dalle-nb-first-index"


def _first_index(request: Request) -> int:
    value = request.headers.get(FIRST_INDEX_HEADER, "0").strip()
    if not (value.isascii() and value.isdigit()):
        raise APIFailure(
            400, f"Invalid header {FIRST_INDEX_HEADER}: {value!r}; it must be a whole number.",
            code="invalid_header",
        )  # fmt: skip
    return min(int(value), 10_000)


def _model_object(spec: ModelSpec) -> dict[str, Any]:
    created = int(time.mktime(spec.retired_on.timetuple())) if spec.retired_on else 1_760_000_000
    return {"id": spec.id, "object": "model", "created": created, "owned_by": "dalle-nb-offline"}


def _settle(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Drop drawings nobody will wait for (the client left), reading their errors so none is reported as lost."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


class _StreamCut(Exception):
    """Raised inside a streaming body to cut the connection half-way (the ``drop`` fault)."""


class _BrokenResponse(Response):
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
        raise _StreamCut


def create_app(options: ServerOptions | None = None) -> OfflineImagesAPI:
    """The ASGI application for ``options`` (defaults from the environment)."""
    return OfflineImagesAPI(options or ServerOptions.from_env())
