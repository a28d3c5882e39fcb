"""Where one job's requests are made: fan-out, streaming, cancellation, errors, saving.

``session`` decides when a job runs and on which connection (``connections`` builds the SDK
client); this module turns one job into SDK calls on that connection, on the session's private
loop, and tells what happens only through the ``emit`` it is given.  Each request waits for a
slot of its backend's process-wide limit, holds it only until its response has arrived, and
then decodes and saves its pictures off the loop, so the next request starts at once.  Every picture is saved
to the gallery as soon as it arrives, before anything else sees it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.capabilities import get_model
from ..core.costs import bill
from ..core.errors import (
    APIError,
    BackendUnreachable,
    DalleError,
    GalleryError,
    IncompleteStream,
    ServerError,
    detach,
    error_class,
    from_sdk,
)
from ..core.events import Event, ImageSaved, PartialImage, RequestFailed
from ..core.imaging import keep_unmasked, sniff
from ..core.plan import Job
from ..core.request import EditRequest, GenerateRequest, Request, ResponsesRequest
from ..core.results import Failure, GeneratedImage, ImageSet, encode
from .connections import Connection

if TYPE_CHECKING:
    from .gallery import Gallery
    from .session import Limiter

#: Header that tells the offline server which picture index a fanned-out request starts at,
#: so four one-image requests give four different pictures, as the real API would.
OFFLINE_INDEX_HEADER = "x-dalle-nb-first-index"


async def download(conn: Connection, url: str, what: str = "the image URL") -> bytes:
    """Fetch a URL result at once: such URLs expire (after an hour on the legacy API).

    A transport failure is ``BackendUnreachable``, any answer but 200 an ``APIError`` with its status.
    """
    try:
        response = await conn.http.get(url)
    except Exception as exc:  # any transport failure: the picture could not be fetched
        raise BackendUnreachable(f"Could not download {what}: {type(exc).__name__}.") from None
    if response.status_code != 200:
        raise APIError(
            f"Could not download {what} (HTTP {response.status_code}); it may have expired.",
            status=response.status_code,
        )
    return bytes(response.content)


@dataclass
class _Previews:
    """The last partial picture a streamed request showed, kept for the failure of a stream that breaks."""

    last: PartialImage | None = None


@dataclass
class _Answer:
    """What one streamed Responses API call brought: its image call item and its finished response."""

    call: Any = None
    response: Any = None

    def arrived(self) -> bool:
        return self.response is not None and self.call is not None and bool(self.call.result)


def _offer(error: DalleError, seen: _Previews) -> None:
    """Carry the last partial picture a stream showed on the error that ends it: a preview, never the result."""
    if seen.last is not None:
        error.partial = seen.last  # type: ignore[attr-defined]


def _not_json() -> ServerError:
    return ServerError("The API answered with a body that is not valid JSON.", kind="bad_response")


async def _answer(call: Awaitable[Any]) -> Any:
    """What one SDK call answers; its failures become dalle_nb's typed errors."""
    import openai  # the SDK loads with the first request, not at import

    try:
        return await call
    except json.JSONDecodeError:
        raise _not_json() from None
    except openai.OpenAIError as exc:
        raise from_sdk(exc) from None


Emit = Callable[[Event], None]


async def run_job(
    job: Job, conn: Connection, store: Gallery, limiter: Limiter, emit: Emit, session: str | None = None
) -> ImageSet:
    """Run every request of ``job`` on ``conn`` and return what arrived, in request order.

    ``session``: the id of the kernel session the pictures are made in, kept with each in the gallery.

    Cancelling the task that runs this stops the requests in flight; pictures already being
    saved are saved and kept, and the result says ``cancelled``.
    """
    return await _Execution(job, conn, store, limiter, emit, session).run()


class _Execution:
    def __init__(
        self, job: Job, conn: Connection, store: Gallery, limiter: Limiter, emit: Emit, session: str | None = None
    ) -> None:
        self.job = job
        self.session = session
        self.conn = conn
        self.emit = emit
        self.store = store
        self.limiter = limiter

    async def run(self) -> ImageSet:
        units: list[tuple[int, int, Request]] = []
        for index, request in enumerate(self.job.requests):
            per_call = request.per_call
            offset = 0
            while offset < request.n:
                count = min(per_call, request.n - offset)
                units.append((index, offset, request.with_n(count)))
                offset += count
        arrived: list[list[GeneratedImage]] = [[] for _ in units]
        failures: list[list[Failure]] = [[] for _ in units]

        async def one(slot: int, index: int, offset: int, request: Request) -> None:
            try:
                await self._call(index, offset, request, arrived[slot], failures[slot])
            except DalleError as error:
                failures[slot].append(self._failed(request, error, index))
            except (ValueError, OSError) as exc:  # a body that is not JSON, a picture that does not decode
                bad = ServerError(f"The API answered with something that is not a picture: {exc}")
                failures[slot].append(self._failed(request, bad, index))

        cancelled = False
        try:
            await asyncio.gather(*(one(slot, *unit) for slot, unit in enumerate(units)))
        except asyncio.CancelledError:
            cancelled = True  # gather has cancelled and awaited every request; what arrived is kept
        result = ImageSet(notices=list(self.job.notices), cancelled=cancelled)
        for images, problems in zip(arrived, failures, strict=True):
            result.images.extend(images)  # what arrived before a failure (a cut stream) is kept too
            result.failures.extend(problems)
        return result

    def _failed(self, request: Request, error: DalleError, index: int, image: GeneratedImage | None = None) -> Failure:
        detach(error)
        failure = Failure(
            getattr(request, "prompt", ""),
            error,
            self.job.label(index),
            image=image,
            partial=getattr(error, "partial", None),
        )
        self.emit(RequestFailed(failure))
        return failure

    async def _call(
        self, index: int, offset: int, request: Request, saved: list[GeneratedImage], failed: list[Failure]
    ) -> None:
        """Send one request and append each picture to ``saved`` as soon as it is on disk.

        The backend's slot is held while the request is on the wire and given back the moment
        its response has arrived, before decoding and saving.
        """
        if isinstance(request, ResponsesRequest):
            await self._via_responses(index, offset, request, saved, failed)
            return
        await self.limiter.acquire()
        holding = True
        try:
            if getattr(request, "stream", False):
                await self._stream(index, offset, request, saved, failed)
                return
            response = await self._send(request, offset)
            encoded: list[tuple[bytes | str, str | None]] = []
            for item in response.data or []:
                if item.b64_json:
                    encoded.append((item.b64_json, item.revised_prompt))
                elif item.url:
                    encoded.append((await self._download(item.url), item.revised_prompt))
                else:
                    raise ServerError("The API returned an image entry with neither b64_json nor url.")
            self.limiter.release()
            holding = False
            usage = response.usage.model_dump() if getattr(response, "usage", None) else None
            share = 1 / max(1, len(encoded))  # the answer's usage counts all its pictures
            for number, (data, revised) in enumerate(encoded):
                await self._keep(index, offset + number, request, data, revised, usage, saved, failed, share=share)
        finally:
            if holding:
                self.limiter.release()

    def _sdk_kwargs(self, request: Request, offset: int) -> dict[str, Any]:
        """The SDK arguments of ``request``; offline, the picture index it starts at rides along."""
        kwargs = request.sdk_kwargs()
        if self.conn.kind == "offline":
            kwargs["extra_headers"] = {OFFLINE_INDEX_HEADER: str(offset)}
        return kwargs

    async def _send(self, request: Request, offset: int) -> Any:
        """One Images API call, retried by the SDK up to ``max_retries`` times before its answer starts."""
        kwargs = self._sdk_kwargs(request, offset)
        if get_model(request.model).response_formats:
            # legacy models answer with a URL by default: ask for the bytes unless the user asked
            # for URLs, which saves a download (and nothing can expire before it is saved)
            kwargs.setdefault("response_format", "b64_json")
        images = self.conn.sdk.images
        if isinstance(request, GenerateRequest):
            return await _answer(images.generate(**kwargs))
        if isinstance(request, EditRequest):
            return await _answer(images.edit(**kwargs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            call = images.create_variation(**kwargs)
        return await _answer(call)

    async def _streamed(
        self,
        send: Callable[[], Awaitable[Any]],
        read: Callable[[Any], Awaitable[None]],
        arrived: Callable[[], bool],
        seen: _Previews,
    ) -> None:
        """Send a streamed request and read it until ``arrived()``; once its stream has opened, never send it again.

        ``send()`` opens the stream; ``read(stream)`` reads it, keeping its last partial picture in ``seen``.
        Both APIs' streams go through here, the Responses API's fallback for a lost previous response included.

        The SDK retries, within ``max_retries``, a request that failed before any of its answer arrived (a reset,
        a timeout, a 429 or 500): no picture was made for it.  A stream that opened (its 200 arrived) and then
        broke (cut, garbled, closed without its final picture) is not sent again, as the SDK itself never sends
        a stream again: the server may have made the picture, and billed it.  The failure says so and keeps the
        last partial picture that arrived: a preview, never the result.
        """
        stream = await send()
        try:
            error = await self._read_stream(read, stream, seen)
        except DalleError as broken:  # an error the API reported in the stream: the preview still offered
            _offer(broken, seen)
            raise
        if arrived():
            return
        _offer(error, seen)
        raise error

    async def _read_stream(
        self, read: Callable[[Any], Awaitable[None]], stream: Any, seen: _Previews
    ) -> IncompleteStream:
        """Read one opened stream; what to raise if it ended before its final pictures (unused when it did not).

        A connection that breaks mid-stream is such an end, told as not sent again; an error the API reports in
        the stream (a refused prompt) is raised as it is.
        """
        import openai  # the SDK loads with the first request, not at import

        try:
            await read(stream)
            cut = ""
        except openai.APIConnectionError as exc:  # a timeout is one too
            cut = f" ({exc.message.rstrip('.').lower()})"
        except json.JSONDecodeError:
            raise _not_json() from None
        except openai.OpenAIError as exc:
            raise from_sdk(exc) from None
        last = seen.last
        shown = f" after {last.partial_index + 1} partial picture(s)" if last and last.partial_index is not None else ""
        verb = "was cut" if cut else "ended"
        return IncompleteStream(
            f"The stream {verb} before its final picture{shown}{cut}; not sent again, as it may already have been"
            " billed.",
            kind="incomplete_stream",
        )

    async def _preview(
        self, index: int, number: int, request: Request, partial_index: int, encoded: str, seen: _Previews
    ) -> None:
        """Show a partial picture and keep it in ``seen``, which outlives a stream that breaks."""
        data = await asyncio.to_thread(base64.b64decode, encoded)
        seen.last = PartialImage(getattr(request, "prompt", ""), number, partial_index, data, self.job.label(index))
        self.emit(seen.last)

    async def _stream(
        self, index: int, offset: int, request: Request, saved: list[GeneratedImage], failed: list[Failure]
    ) -> None:
        """A streamed Images API request, read to its final pictures (``_streamed`` says when it is sent again).

        The pictures that arrived before a stream broke are kept; the failure stands for the rest.
        """
        first = len(saved)
        seen = _Previews()

        async def send() -> Any:
            return await self._send(request, offset)

        async def read(stream: Any) -> None:
            async for event in stream:
                number = offset + len(saved)
                if event.type.endswith(".partial_image"):
                    await self._preview(index, number, request, event.partial_image_index, event.b64_json, seen)
                elif event.type.endswith(".completed"):
                    usage = event.usage.model_dump() if getattr(event, "usage", None) else None
                    raw = await self._keep(index, number, request, event.b64_json, None, usage, saved, failed)
                    self.emit(PartialImage(getattr(request, "prompt", ""), number, None, raw, self.job.label(index)))

        await self._streamed(send, read, lambda: len(saved) - first >= request.n, seen)

    # ------------------------------------------------------------------ the Responses API
    async def _via_responses(
        self, index: int, offset: int, request: ResponsesRequest, saved: list[GeneratedImage], failed: list[Failure]
    ) -> None:
        """One picture through the Responses API's image tool: its revised prompt and response id are kept.

        A refinement whose previous response the server no longer has (a restarted server, a
        response older than its retention) is sent again with the picture as an input image.
        """
        await self.limiter.acquire()
        holding = True
        try:
            try:
                call, response_id, usage = await self._respond(index, offset, request)
            except APIError as error:
                if error.param != "previous_response_id" or request.fallback is None:
                    raise
                request = request.fallback
                call, response_id, usage = await self._respond(index, offset, request)
            self.limiter.release()
            holding = False
            raw = await self._keep(
                index, offset, request, call.result, call.revised_prompt, usage, saved, failed, response_id
            )
            if request.stream:
                self.emit(PartialImage(request.prompt, offset, None, raw, self.job.label(index)))
        finally:
            if holding:
                self.limiter.release()

    async def _respond(self, index: int, offset: int, request: ResponsesRequest) -> tuple[Any, str, dict[str, Any]]:
        """The image call item, the response id and the usage of one Responses API request.

        A streamed one is read to its final picture, and sent again only as an Images API stream is (``_streamed``).
        """
        if not request.stream:
            response = await self._create_response(request, offset)
            return _image_call(response), response.id, _responses_usage(response)
        seen = _Previews()
        answer = _Answer()

        async def send() -> Any:
            return await self._create_response(request, offset)

        async def read(stream: Any) -> None:
            async for event in stream:
                kind = event.type
                if kind == "response.image_generation_call.partial_image":
                    await self._preview(
                        index, offset, request, event.partial_image_index, event.partial_image_b64, seen
                    )
                elif kind == "response.output_item.done" and event.item.type == "image_generation_call":
                    answer.call = event.item
                elif kind in ("response.completed", "response.failed", "response.incomplete"):
                    answer.response = event.response
                elif kind == "error":
                    raise APIError(str(event.message), code=getattr(event, "code", None))
            if answer.response is not None and answer.response.status != "completed":
                _image_call(answer.response)  # raises the response's own error

        await self._streamed(send, read, answer.arrived, seen)
        return answer.call, answer.response.id, _responses_usage(answer.response)

    async def _create_response(self, request: ResponsesRequest, offset: int) -> Any:
        """One Responses API call (a stream when the request asks for one), retried by the SDK up to
        ``max_retries`` times before its answer starts."""
        # encoding the input pictures as data URLs takes tens of ms for a big one: not on the shared loop
        kwargs = await asyncio.to_thread(self._sdk_kwargs, request, offset)
        return await _answer(self.conn.sdk.responses.create(**kwargs))

    async def _download(self, url: str) -> bytes:
        return await download(self.conn, url)

    async def _keep(
        self,
        index: int,
        number: int,
        request: Request,
        data: bytes | str,
        revised: str | None,
        usage: dict[str, Any] | None,
        saved: list[GeneratedImage],
        failed: list[Failure],
        response_id: str | None = None,
        *,
        share: float = 1.0,
    ) -> bytes:
        """Decode and save one picture off the loop and add it to ``saved``; returns its bytes.

        ``share``: the part of ``usage`` that is this picture's (what its cost is computed from).

        Once started, a save finishes even if the job is cancelled, so a picture that arrived
        is never lost.  A picture that cannot be saved is still returned, holding its bytes,
        with a failure beside it that says where the bytes are.
        """
        work = asyncio.ensure_future(
            asyncio.to_thread(self._decode_and_save, index, request, data, revised, usage, response_id, share)
        )
        try:
            image, raw, problem = await asyncio.shield(work)
        except asyncio.CancelledError:
            image, raw, problem = await work
            self._kept(index, request, image, problem, saved, failed)
            raise
        self._kept(index, request, image, problem, saved, failed)
        return raw

    def _kept(
        self,
        index: int,
        request: Request,
        image: GeneratedImage,
        problem: GalleryError | None,
        saved: list[GeneratedImage],
        failed: list[Failure],
    ) -> None:
        saved.append(image)
        self.emit(ImageSaved(image))
        if problem is not None:
            failed.append(self._failed(request, problem, index, image))

    def _decode_and_save(
        self,
        index: int,
        request: Request,
        data: bytes | str,
        revised: str | None,
        usage: dict[str, Any] | None,
        response_id: str | None,
        share: float = 1.0,
    ) -> tuple[GeneratedImage, bytes, GalleryError | None]:
        raw = base64.b64decode(data) if isinstance(data, str) else data
        fmt, size = sniff(raw)
        if self.job.keep is not None:
            raw = _kept_outside_the_mask(raw, fmt, *self.job.keep)
        prompt = getattr(request, "prompt", "")
        params = request.params()
        backend = self.conn.kind if self.conn.kind in ("offline", "openai") else self.conn.base_url
        parents = self.job.parent_ids(index)
        kind = self.job.kind or request.kind
        text_model = request.text_model if isinstance(request, ResponsesRequest) else None
        cost = bill(request, usage, self.job.settings, share=share, size=size)
        problem: GalleryError | None = None
        try:
            record = self.store.save(
                raw, prompt=prompt, model=request.model, kind=kind, output_format=fmt, size=size,
                revised_prompt=revised, params=params, usage=usage, parent_ids=parents, backend=backend,
                text_model=text_model, response_id=response_id, cost=cost, session=self.session,
            )  # fmt: skip
            path, created, ident = record.path, record.created, record.id
        except GalleryError as error:
            problem = error
            path, created, ident = error.path, time.time(), error.record_id or ""
        image = GeneratedImage(
            # once the picture is safely on disk its bytes are not held: a long run of big pictures
            # would otherwise fill the kernel's memory; a picture that could not be saved keeps them
            data=raw if problem is not None else None,
            path=path,
            prompt=prompt,
            revised_prompt=revised,
            model=request.model,
            size=size,
            output_format=fmt,
            params=params,
            usage=usage,
            created=created,
            id=ident,
            kind=kind,
            parents=parents,
            backend=backend,
            label=self.job.label(index),
            text_model=text_model,
            response_id=response_id,
            parent_prompt=self.store.prompt_of(parents[0]) if parents else None,
            preview_size=self.job.settings.thumbnail_size,
            cost=cost,
        )
        return image, raw, problem


def _kept_outside_the_mask(raw: bytes, fmt: str, original: bytes, mask: bytes) -> bytes:
    """The picture with the original pasted back outside the mask (``keep_unmasked``), in its own format."""
    return encode(keep_unmasked(original, raw, mask), fmt, **({} if fmt == "png" else {"quality": 95}))


def _image_call(response: Any) -> Any:
    """The ``image_generation_call`` item of a Responses API answer, or the typed error it failed with."""
    call = next((item for item in response.output or [] if item.type == "image_generation_call"), None)
    if call is not None and call.status == "completed" and call.result:
        return call
    problem = (call.error if call is not None else None) or response.error
    if problem is not None:
        code = getattr(problem, "code", None)
        cls = error_class(None, code) if code else APIError
        raise cls(str(getattr(problem, "message", "") or "The image call failed."), code=code, kind="image_call")
    raise ServerError(f"The response has no finished picture (status {response.status}).", kind="bad_response")


def _responses_usage(response: Any) -> dict[str, Any]:
    """The picture's own usage (the image tool's tokens), with the text model's tokens beside it."""
    usage: dict[str, Any] = {}
    tool = getattr(response, "tool_usage", None)
    image = getattr(tool, "image_gen", None) if tool is not None else None
    if image is not None:
        usage.update(image.model_dump())
    if getattr(response, "usage", None) is not None:
        usage["text_model"] = response.usage.model_dump()
    return usage


__all__ = ["OFFLINE_INDEX_HEADER", "download", "run_job"]
