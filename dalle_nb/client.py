"""The only place that calls the ``openai`` SDK: backends, fan-out, streaming, cancellation, errors.

``session`` decides when a job runs and on which connection; this module turns one job into
SDK calls on the session's private loop.  Each request waits for a slot of its backend's
process-wide limit, holds it only until its response has arrived, and then decodes and
saves its pictures off the loop, so the next request starts at once.  Every picture is saved
to the gallery as soon as it arrives, before anything else sees it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import config
from .errors import APIError, BackendUnreachable, DalleError, InvalidRequest, ServerError, from_sdk
from .events import Event, ImageSaved, PartialImage, RequestFailed
from .models import Profile, get_model
from .plan import Job
from .requests import EditRequest, GenerateRequest, Request
from .results import Failure, GeneratedImage, ImageSet

if TYPE_CHECKING:
    from .gallery import Gallery
    from .session import Limiter, Session

#: Header that tells the offline server which picture index a fanned-out request starts at,
#: so four one-image requests give four different pictures, as the real API would.
OFFLINE_INDEX_HEADER = "x-dalle-nb-first-index"


# ---------------------------------------------------------------------------- backends
@dataclass(eq=False)
class Connection:
    """A ready SDK client for one backend, which rules its requests must pass, and how many jobs use it."""

    kind: str
    base_url: str
    profile: Profile
    sdk: Any
    http: Any
    jobs: int = 0
    retired: bool = False
    closed: bool = False


def connection_ident(settings: config.Settings, session: Session) -> tuple[tuple[Any, ...], str, str]:
    """What identifies the connection ``settings`` need, its base URL and its key (never shown)."""
    backend = settings.backend
    key = config.api_key()
    if backend != "offline" and key is None:
        raise InvalidRequest(
            "No API key: set OPENAI_API_KEY or call dalle_nb.configure(api_key=...), or use configure(offline=True).",
            field="api_key",
        )
    if backend == "offline":
        base_url, key = session.offline_server().base_url, "offline"
    else:
        base_url = settings.base_url or "https://api.openai.com/v1"
    assert key is not None
    return (backend, base_url, key, settings.proxy, settings.timeout, settings.max_retries), base_url, key


def open_connection(settings: config.Settings, base_url: str, key: str, session: Session) -> Connection:
    """A new SDK client for ``base_url``; the offline server is never reached through a proxy."""
    import openai

    backend = settings.backend
    offline = backend == "offline"
    http = openai.DefaultAsyncHttpxClient(
        proxy=None if offline else settings.proxy, trust_env=not offline, timeout=settings.timeout
    )
    common: dict[str, Any] = {
        "api_key": key,
        "timeout": settings.timeout,
        "max_retries": settings.max_retries,
        "http_client": http,
    }
    if backend == "azure":
        import os

        sdk: Any = openai.AsyncAzureOpenAI(
            azure_endpoint=base_url, api_version=os.environ.get("OPENAI_API_VERSION", "2025-04-01-preview"), **common
        )
    else:
        sdk = openai.AsyncOpenAI(base_url=base_url, **common)
    if offline and settings.sources.get("offline") == "no API key":
        session.notice(
            f"no OpenAI API key set, so pictures come from the offline backend at {base_url} (drawn locally, free). "
            "To use OpenAI, set OPENAI_API_KEY or call dalle_nb.configure(api_key=...).",
            once=True,
        )
    return Connection(backend, base_url, session.profile_for(settings), sdk, http)


def _sniff(data: bytes) -> tuple[str, str]:
    """(format, "WxH") of an encoded picture, read from its header only."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as image:
        fmt = (image.format or "png").lower()
        return ("jpeg" if fmt in ("jpg", "mpo") else fmt), f"{image.width}x{image.height}"


Emit = Callable[[Event], None]


async def run_job(job: Job, conn: Connection, store: Gallery, limiter: Limiter, emit: Emit) -> ImageSet:
    """Run every request of ``job`` on ``conn`` and return what arrived, in request order.

    Cancelling the task that runs this stops the requests in flight; pictures already being
    saved are saved and kept, and the result says ``cancelled``.
    """
    return await _Execution(job, conn, store, limiter, emit).run()


class _Execution:
    def __init__(self, job: Job, conn: Connection, store: Gallery, limiter: Limiter, emit: Emit) -> None:
        self.job = job
        self.conn = conn
        self.emit = emit
        self.store = store
        self.limiter = limiter

    async def run(self) -> ImageSet:
        units: list[tuple[int, int, Request]] = []
        for index, request in enumerate(self.job.requests):
            per_call = get_model(request.model).n_max
            offset = 0
            while offset < request.n:
                count = min(per_call, request.n - offset)
                units.append((index, offset, request.with_n(count)))
                offset += count
        arrived: list[list[GeneratedImage]] = [[] for _ in units]
        failures: list[Failure | None] = [None for _ in units]

        async def one(slot: int, index: int, offset: int, request: Request) -> None:
            try:
                await self._call(index, offset, request, arrived[slot])
            except DalleError as error:
                failures[slot] = self._failed(request, error, index)
            except (ValueError, OSError) as exc:  # a body that is not JSON, a picture that does not decode
                bad = ServerError(f"The API answered with something that is not a picture: {exc}")
                failures[slot] = self._failed(request, bad, index)

        cancelled = False
        try:
            await asyncio.gather(*(one(slot, *unit) for slot, unit in enumerate(units)))
        except asyncio.CancelledError:
            cancelled = True  # gather has cancelled and awaited every request; what arrived is kept
        result = ImageSet(notices=list(self.job.notices), cancelled=cancelled)
        for images, failure in zip(arrived, failures, strict=True):
            result.images.extend(images)  # what arrived before a failure (a cut stream) is kept too
            if failure is not None:
                result.failures.append(failure)
        return result

    def _failed(self, request: Request, error: DalleError, index: int) -> Failure:
        failure = Failure(getattr(request, "prompt", ""), error, self.job.label(index))
        self.emit(RequestFailed(failure))
        return failure

    async def _call(self, index: int, offset: int, request: Request, saved: list[GeneratedImage]) -> None:
        """Send one request and append each picture to ``saved`` as soon as it is on disk.

        The backend's slot is held while the request is on the wire and given back the moment
        its response has arrived, before decoding and saving.
        """
        import openai

        kwargs = request.sdk_kwargs()
        if get_model(request.model).response_formats:
            # legacy models answer with a URL by default: ask for the bytes unless the user asked
            # for URLs, which saves a download (and nothing can expire before it is saved)
            kwargs.setdefault("response_format", "b64_json")
        if self.conn.kind == "offline":
            kwargs["extra_headers"] = {OFFLINE_INDEX_HEADER: str(offset)}
        images = self.conn.sdk.images
        await self.limiter.acquire()
        holding = True
        try:
            if isinstance(request, GenerateRequest):
                response = await images.generate(**kwargs)
            elif isinstance(request, EditRequest):
                response = await images.edit(**kwargs)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    response = await images.create_variation(**kwargs)
            if getattr(request, "stream", False):
                await self._consume_stream(index, offset, request, response, saved)
                return
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
            for number, (data, revised) in enumerate(encoded):
                await self._keep(index, offset + number, request, data, revised, usage, saved)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise ServerError("The API answered with a body that is not valid JSON.", kind="bad_response") from None
            raise from_sdk(exc) from None
        finally:
            if holding:
                self.limiter.release()

    async def _consume_stream(
        self, index: int, offset: int, request: Request, stream: Any, saved: list[GeneratedImage]
    ) -> None:
        prompt = getattr(request, "prompt", "")
        async for event in stream:
            number = offset + len(saved)
            if event.type.endswith(".partial_image"):
                data = await asyncio.to_thread(base64.b64decode, event.b64_json)
                self.emit(PartialImage(prompt, number, event.partial_image_index, data, self.job.label(index)))
            elif event.type.endswith(".completed"):
                usage = event.usage.model_dump() if getattr(event, "usage", None) else None
                image = await self._keep(index, number, request, event.b64_json, None, usage, saved)
                self.emit(PartialImage(prompt, number, None, image.to_bytes(), self.job.label(index)))

    async def _download(self, url: str) -> bytes:
        """Fetch a URL result at once: such URLs expire (after an hour on the legacy API)."""
        try:
            response = await self.conn.http.get(url)
        except Exception as exc:  # any transport failure: the picture could not be fetched
            raise BackendUnreachable(f"Could not download the image URL: {type(exc).__name__}.") from None
        if response.status_code != 200:
            raise APIError(
                f"Could not download the image URL (HTTP {response.status_code}); it may have expired.",
                status=response.status_code,
            )
        return bytes(response.content)

    async def _keep(
        self,
        index: int,
        number: int,
        request: Request,
        data: bytes | str,
        revised: str | None,
        usage: dict[str, Any] | None,
        saved: list[GeneratedImage],
    ) -> GeneratedImage:
        """Decode and save one picture off the loop and add it to ``saved``; once started, a save
        finishes even if the job is cancelled, so a picture that arrived is never lost."""
        work = asyncio.ensure_future(asyncio.to_thread(self._decode_and_save, index, request, data, revised, usage))
        try:
            image = await asyncio.shield(work)
        except asyncio.CancelledError:
            saved.append(await work)
            self.emit(ImageSaved(saved[-1]))
            raise
        saved.append(image)
        self.emit(ImageSaved(image))
        return image

    def _decode_and_save(
        self, index: int, request: Request, data: bytes | str, revised: str | None, usage: dict[str, Any] | None
    ) -> GeneratedImage:
        raw = base64.b64decode(data) if isinstance(data, str) else data
        fmt, size = _sniff(raw)
        prompt = getattr(request, "prompt", "")
        params = request.params()
        record = self.store.save(
            raw,
            prompt=prompt,
            model=request.model,
            kind=request.kind,
            output_format=fmt,
            size=size,
            revised_prompt=revised,
            params=params,
            usage=usage,
            parent_ids=self.job.parent_ids(index),
            backend=self.conn.kind if self.conn.kind in ("offline", "openai") else self.conn.base_url,
        )
        return GeneratedImage(
            data=raw,
            path=record.path,
            prompt=prompt,
            revised_prompt=revised,
            model=request.model,
            size=size,
            output_format=fmt,
            params=params,
            usage=usage,
            created=record.created,
            id=record.id,
            kind=request.kind,
            parents=record.parent_ids,
            backend=record.backend,
            label=self.job.label(index),
        )


__all__ = ["Connection", "connection_ident", "open_connection", "run_job"]
