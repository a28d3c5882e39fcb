"""The offline server's Images API: ``POST /v1/images/generations``, ``/edits`` and ``/variations``.

A client cannot tell it from the real API by its shape: same paths, fields, status codes, error bodies, JSON or
server-sent events, and legacy ``url`` results served at expiring ``/v1/offline/files/{token}`` URLs.  Every field
is checked by ``dalle_nb.models``; the pictures are drawn by the painter, through ``Gate.draw`` so that all requests
share the drawing threads.  An edit may come as multipart (files) or as JSON (images by data URL or file id).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..core.capabilities import MB, MODELS, Endpoint, ModelSpec, check_inputs, get_model, resolve_size, validate
from .http import (
    BLOCKED_WORD,
    JSON_LIMIT,
    REFERENCE_SIDE,
    APIFailure,
    Body,
    BrokenResponse,
    Gate,
    StreamCut,
    check_pictures,
    first_index,
    measure,
    sleep_unless_gone,
    sse,
    token_usage,
)
from .options import Fault
from .tasks import TasksAPI

#: Whole multipart bodies: every input image at its limit, a mask, a markup, and the fields.
MULTIPART_LIMIT = {
    "edits": max(m.edit.max_images * m.edit.max_bytes for m in MODELS.values()) + 4 * MB + 50 * MB + MB,
    "variations": max(m.variation.max_bytes for m in MODELS.values() if m.variation) + MB,
}
#: No one file of an upload may be larger than the largest input file any model takes.
FILE_LIMIT = max(max(m.edit.max_bytes, m.edit.mask_max_bytes) for m in MODELS.values())
#: An edit sent as JSON takes 1 to 16 input images (OpenAPI ``EditImageBodyJsonParam``).
MAX_JSON_IMAGES = 16


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


class ImagesAPI:
    """The Images API's routes bound to one server's ``Gate``; requests in the gateway's task mode go to ``tasks``."""

    def __init__(self, gate: Gate, tasks: TasksAPI) -> None:
        self.gate = gate
        self.options = gate.options
        self.tasks = tasks
        self.urls = _UrlStore(gate.options.url_ttl)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/images/generations", self.generations, methods=["POST"]),
            Route("/v1/images/edits", self.edits, methods=["POST"]),
            Route("/v1/images/variations", self.variations, methods=["POST"]),
            Route("/v1/offline/files/{token}", self.file, methods=["GET"]),
        ]

    # ------------------------------------------------------------------ routes
    async def generations(self, request: Request) -> Response:
        return await self.gate.guard(request, "generations", self._generations, limit=JSON_LIMIT)

    async def edits(self, request: Request) -> Response:
        return await self.gate.guard(request, "edits", self._edits, limit=MULTIPART_LIMIT["edits"])

    async def variations(self, request: Request) -> Response:
        return await self.gate.guard(request, "variations", self._variations, limit=MULTIPART_LIMIT["variations"])

    async def file(self, request: Request) -> Response:
        """A picture asked for with ``response_format=url``, until its URL expires."""
        item = self.urls.get(request.path_params["token"])
        if item is None:
            return APIFailure(
                404,
                f"This image URL has expired or never existed; URLs are valid for {self.options.url_ttl:.0f} seconds.",
                code="url_expired",
            ).response()
        return Response(item.data, media_type=item.media_type)

    async def _generations(self, request: Request, reader: Body, fault: Fault | None) -> Response:
        fields = await reader.json()
        if self.tasks.wanted(fields):  # the gateway's task mode: answered now, delivered to the callback later
            return await self.tasks.accept(request, "generations", fields, check=self._check_params)
        params = self._check_params("generations", fields)
        spec = get_model(params["model"])
        width, height = resolve_size(spec, params["size"], "generations")

        def render(index: int) -> Any:
            from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

            return draw.generate_image(
                params["prompt"],
                width,
                height,
                model=spec.id,
                index=index,
                seed=self.options.seed,
                transparent=params.get("background") == "transparent",
            )

        return await self._respond(request, "generations", spec, params, render, (width, height), [], fault)

    async def _edits(self, request: Request, reader: Body, fault: Fault | None) -> Response:
        if reader.content_type == "application/json":  # GPT models: images by reference
            fields, files = await self._json_edit(reader)
        else:
            fields, files = await self._form(reader, "edits")
        if self.tasks.wanted(fields):
            return await self.tasks.accept(request, "edits", fields, files, check=self._check_params)
        params = self._check_params("edits", fields, files)
        spec = get_model(params["model"])
        given = [("image", data) for data in files.get("image", []) + files.get("image[]", [])]
        extra = [(name, files[name][0]) for name in ("mask", "markup") if name in files]
        check_pictures(given, most=spec.edit.max_images, extra=extra)
        # one at a time, after their headers passed; the second and later only tint the drawing and are kept small
        images = [measure(name, data, keep=REFERENCE_SIDE if n else None) for n, (name, data) in enumerate(given)]
        mask = measure("mask", files["mask"][0]) if "mask" in files else None
        markup = measure("markup", files["markup"][0]) if "markup" in files else None
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
        from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

        # once for the n pictures, which only read them
        source, guide = await run_in_threadpool(draw.fit_for_edit, base, mask_image, (width, height))

        def render(index: int) -> Any:
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

        inputs = [(u.info.width, u.info.height) for u in images]  # their sizes as sent, before any was made small
        return await self._respond(request, "edits", spec, params, render, (width, height), inputs, fault)

    async def _variations(self, request: Request, reader: Body, fault: Fault | None) -> Response:
        fields, files = await self._form(reader, "variations")
        params = self._check_params("variations", fields, files)
        spec = get_model(params["model"])
        if "image" in files:
            check_pictures([("image", files["image"][0])], most=1)
        source = measure("image", files["image"][0]) if "image" in files else None
        check_inputs(spec, "variations", [source.info] if source else [])
        assert source is not None
        size = resolve_size(spec, params["size"], "variations")

        def render(index: int) -> Any:
            from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

            return draw.vary_image(source.image, index=index, seed=self.options.seed, size=size)

        inputs = [(source.info.width, source.info.height)]
        return await self._respond(request, "variations", spec, params, render, size, inputs, fault)

    # ------------------------------------------------------------------ reading requests
    async def _form(self, reader: Body, endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
        form = await reader.form(
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

    async def _json_edit(self, reader: Body) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
        """The fields and files of an edit sent as ``application/json``, as the multipart form gives them.

        ``images`` (1-16) and ``mask`` are ``{"image_url": "data:..."}`` or ``{"file_id": "file-..."}``;
        GPT image models only, as OpenAI documents (``dall-e-2`` edits stay multipart).
        """
        params = await reader.json()
        for name in ("image", "image[]", "markup"):
            if name in params:
                raise APIFailure(
                    400, f"'{name}' is a multipart file field; an edit sent as JSON gives its pictures as "
                    "'images': [{'image_url': 'data:image/png;base64,...'} or {'file_id': 'file-...'}].",
                    param=name, code="unknown_parameter",
                )  # fmt: skip
        model = params.get("model")
        spec = MODELS.get(model) if isinstance(model, str) else None
        if model is None or (spec is not None and not spec.is_gpt):
            raise APIFailure(
                400, "An edit sent as JSON needs a GPT image 'model' (gpt-image-1.5, gpt-image-2, ...); send "
                "dall-e-2 edits as multipart/form-data.", param="model",
                code="missing_required_parameter" if model is None else "unsupported_value",
            )  # fmt: skip
        images = params.pop("images", None)
        if not isinstance(images, list) or not 1 <= len(images) <= MAX_JSON_IMAGES:
            raise APIFailure(
                400, f"'images' must be a list of 1 to {MAX_JSON_IMAGES} image references "
                "({'image_url': data URL} or {'file_id': id}).", param="images",
                code="missing_required_parameter" if images is None else "invalid_value",
            )  # fmt: skip
        mask = params.pop("mask", None)
        refs = [(f"images[{i}]", ref) for i, ref in enumerate(images)]
        if mask is not None:
            refs.append(("mask", mask))
        loaded = await run_in_threadpool(lambda: [(where, self.gate.image_ref(ref, where)) for where, ref in refs])
        files: dict[str, list[bytes]] = {"image": [data for where, data in loaded if where != "mask"]}
        if mask is not None:
            files["mask"] = [loaded[-1][1]]
        return params, files

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

    # ------------------------------------------------------------------ answering
    async def _respond(
        self,
        request: Request,
        endpoint: Endpoint,
        spec: ModelSpec,
        params: dict[str, Any],
        render: Callable[[int], Any],
        size: tuple[int, int],
        inputs: Sequence[tuple[int, int]],
        fault: Fault | None,
    ) -> Response:
        from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

        created = int(time.time())
        fmt = params.get("output_format", "png")
        compression = params.get("output_compression", 100)
        quality = params.get("quality", "standard")
        effective_quality = "medium" if quality == "auto" else quality
        background = params.get("background")
        effective_background = "transparent" if background == "transparent" else "opaque"
        size_text = f"{size[0]}x{size[1]}"
        # the answer's usage counts its n pictures; a streamed picture's own event counts that one picture, so that
        # the n events of a stream add up to what the one answer of the same request says
        usage = token_usage(
            spec.id,
            params.get("prompt", ""),
            effective_quality,
            size,
            params["n"],
            inputs,
            params.get("input_fidelity"),
        )
        picture_usage = token_usage(
            spec.id, params.get("prompt", ""), effective_quality, size, 1, inputs, params.get("input_fidelity")
        )

        first = first_index(request)
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
                    picture_usage,
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

        pictures = [asyncio.ensure_future(self.gate.draw(drawn, index)) for index in range(params["n"])]

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
                await sleep_unless_gone(request, self.options.latency - (time.monotonic() - started))
                data = [item(encoded) for encoded in await asyncio.gather(*pictures)]
            finally:
                _settle(pictures)
            payload = json.dumps({"created": created, "data": data, **tail}).encode()
            return BrokenResponse(payload[: len(payload) // 2], len(payload))

        async def body() -> AsyncIterator[bytes]:
            # written picture by picture, so the server holds one encoded picture per request at a time rather
            # than all n of them and their JSON (8 requests of 10 pictures at 3840x2160 were 2.7 GB)
            try:
                await sleep_unless_gone(request, self.options.latency - (time.monotonic() - started))
                yield f'{{"created": {created}, "data": ['.encode()
                for number, picture in enumerate(pictures):
                    encoded = await picture
                    yield (b", " if number else b"") + json.dumps(item(encoded)).encode()
                yield b"]" + (b", " + json.dumps(tail).encode()[1:-1] if tail else b"") + b"}"
            finally:
                _settle(pictures)

        return StreamingResponse(body(), media_type="application/json")

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
        from .painter import draw  # not at the top: the painter (numpy, Pillow) loads with the first picture

        partials = params.get("partial_images", 0)
        total_events = params["n"] * (partials + 1)
        sent = 0
        common = {"background": background, "output_format": fmt, "quality": quality, "size": size_text}
        completed_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
        # every picture is drawn in parallel from the start; the latency is spread over the events, each of which
        # waits only for what is left of its share, so partial pictures arrive over time and drawing is not added
        started = time.monotonic()
        finals = [asyncio.ensure_future(self.gate.draw(render, index)) for index in range(params["n"])]
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
                    yield sse(event)
                    sent += 1
                    if fault is not None and fault.kind == "drop" and sent * 2 >= total_events:
                        raise StreamCut  # the connection dies half-way through the stream
        finally:
            _settle(finals)


def _settle(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Drop drawings nobody will wait for (the client left), reading their errors so none is reported as lost."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()


__all__ = ["FILE_LIMIT", "MAX_JSON_IMAGES", "MULTIPART_LIMIT", "ImagesAPI"]
