"""The only place that calls the ``openai`` SDK: backends, concurrency, fan-out, streaming, cancellation, errors.

Requests run on one private asyncio loop in a daemon thread, so a blocking call works the
same in a script and in Jupyter (where the kernel's own loop is already running), several
requests run at once under a semaphore, and Ctrl-C / "interrupt kernel" cancels what is in
flight.  Every picture is saved to the gallery as soon as it arrives, before anything
else sees it.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import io
import json
import queue
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import config
from .errors import APIError, BackendUnreachable, DalleError, InvalidRequest, ServerError, from_sdk
from .models import Profile, get_model
from .requests import EditRequest, GenerateRequest, Request, VaryRequest
from .results import Failure, GeneratedImage, ImageSet

if TYPE_CHECKING:
    from PIL import Image

    from .gallery import Gallery
    from .offline import OfflineServer

#: Header that tells the offline server which picture index a fanned-out request starts at,
#: so four one-image requests give four different pictures, as the real API would.
OFFLINE_INDEX_HEADER = "x-dalle-nb-first-index"
#: The most pictures one call may ask for, however it is fanned out.
MAX_IMAGES_PER_CALL = 100


@dataclass(frozen=True)
class PartialImage:
    """A picture on its way: ``partial_index`` counts up, ``final`` marks the finished one."""

    prompt: str
    index: int
    partial_index: int | None
    data: bytes
    label: str | None = None

    @property
    def final(self) -> bool:
        return self.partial_index is None

    def to_pil(self) -> Image.Image:
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(self.data)) as image:
            image.load()
            return image.copy()


Event = tuple[Literal["partial"], PartialImage] | tuple[Literal["image"], GeneratedImage]
Emit = Callable[[Event], None]


# ---------------------------------------------------------------------------- the private loop
class _Loop:
    """One event loop in a daemon thread for the whole process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dalle-nb-loop", daemon=True)
        self.thread.start()

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]


_loop: _Loop | None = None
_loop_lock = threading.Lock()


def _runner() -> _Loop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _Loop()
        return _loop


def in_flight() -> int:
    """How many request tasks are running now (0 after a call returns or is interrupted)."""
    if _loop is None:
        return 0
    return sum(1 for task in asyncio.all_tasks(_loop.loop) if not task.done())


# ---------------------------------------------------------------------------- backends
@dataclass
class Connection:
    """A ready SDK client for one backend, and which rules its requests must pass."""

    kind: str
    base_url: str
    profile: Profile
    sdk: Any
    http: Any


_connections: dict[tuple[Any, ...], Connection] = {}
_offline: OfflineServer | None = None
_offline_lock = threading.Lock()
_notified: set[str] = set()


def notice(text: str, *, once: bool = False) -> None:
    """One line for the person at the notebook (with ``once``, only the first time per process)."""
    if once and text in _notified:
        return
    _notified.add(text)
    print(f"dalle_nb: {text}", file=sys.stdout, flush=True)


def offline_server() -> OfflineServer:
    """The process's offline server, started on a free loopback port the first time."""
    global _offline
    with _offline_lock:
        if _offline is None or not _offline.running:
            from .offline import start

            _offline = start()
            atexit.register(_offline.stop)
        return _offline


def offline_profile() -> Profile:
    from .offline import ServerOptions

    return _offline.options.profile if _offline is not None else ServerOptions.from_env().profile


def profile_for(settings: config.Settings) -> Profile:
    """Which rules a request must pass for this backend, before it is sent."""
    if settings.backend == "offline":
        return offline_profile()
    return "openai" if settings.backend == "openai" else "compat"


def connection(settings: config.Settings) -> Connection:
    """The SDK client for ``settings``' backend, built once and reused."""
    import openai

    backend = settings.backend
    key = config.api_key()
    if backend != "offline" and key is None:
        raise InvalidRequest(
            "No API key: set OPENAI_API_KEY or call dalle_nb.configure(api_key=...), or use configure(offline=True).",
            field="api_key",
        )
    if backend == "offline":
        server = offline_server()
        base_url, key = server.base_url, "offline"
    else:
        base_url = settings.base_url or "https://api.openai.com/v1"
    ident = (backend, base_url, key, settings.proxy, settings.timeout, settings.max_retries)
    found = _connections.get(ident)
    if found is not None:
        return found
    # the offline server is on loopback: never route it through a proxy from the environment
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
    if backend == "offline" and settings.sources.get("offline") == "no API key":
        notice(
            f"no OpenAI API key set, so pictures come from the offline backend at {base_url} (drawn locally, free). "
            "To use OpenAI, set OPENAI_API_KEY or call dalle_nb.configure(api_key=...).",
            once=True,
        )
    conn = Connection(backend, base_url, profile_for(settings), sdk, http)
    _connections[ident] = conn
    return conn


def _forget_connections() -> None:
    old = list(_connections.values())
    _connections.clear()
    if _loop is not None:
        for conn in old:
            _loop.submit(conn.sdk.close())


config.on_change(_forget_connections)


_galleries: dict[Any, Gallery] = {}


def gallery(settings: config.Settings | None = None) -> Gallery:
    """The history store for ``settings.gallery_dir`` (default: the user's data folder)."""
    from .gallery import Gallery

    directory = (settings or config.settings()).gallery_dir
    if directory not in _galleries:
        _galleries[directory] = Gallery(directory)
    return _galleries[directory]


# ---------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """Everything one call asks for: checked requests, their labels and parents, and what to tell."""

    requests: list[Request]
    settings: config.Settings
    labels: list[str | None] = field(default_factory=list)
    parents: list[tuple[str, ...]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def label(self, index: int) -> str | None:
        return self.labels[index] if index < len(self.labels) else None

    def parent_ids(self, index: int) -> tuple[str, ...]:
        return self.parents[index] if index < len(self.parents) else ()


def _sniff(data: bytes) -> tuple[str, str]:
    """(format, "WxH") of an encoded picture, read from its header only."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as image:
        fmt = (image.format or "png").lower()
        return ("jpeg" if fmt in ("jpg", "mpo") else fmt), f"{image.width}x{image.height}"


class _Execution:
    def __init__(self, job: Job, conn: Connection, emit: Emit) -> None:
        self.job = job
        self.conn = conn
        self.emit = emit
        self.store = gallery(job.settings)

    async def run(self) -> ImageSet:
        units: list[tuple[int, int, Request]] = []
        for index, request in enumerate(self.job.requests):
            per_call = get_model(request.model).n_max
            offset = 0
            while offset < request.n:
                count = min(per_call, request.n - offset)
                units.append((index, offset, request.with_n(count)))
                offset += count
        limit = asyncio.Semaphore(self.job.settings.concurrency)
        arrived: list[list[GeneratedImage]] = [[] for _ in units]
        failures: list[Failure | None] = [None for _ in units]

        async def one(slot: int, index: int, offset: int, request: Request) -> None:
            async with limit:
                try:
                    await self._call(index, offset, request, arrived[slot])
                except DalleError as error:
                    failures[slot] = Failure(getattr(request, "prompt", ""), error, self.job.label(index))
                except (ValueError, OSError) as exc:  # a body that is not JSON, a picture that does not decode
                    bad = ServerError(f"The API answered with something that is not a picture: {exc}")
                    failures[slot] = Failure(getattr(request, "prompt", ""), bad, self.job.label(index))

        await asyncio.gather(*(one(slot, *unit) for slot, unit in enumerate(units)))
        result = ImageSet(notices=list(self.job.notices))
        for images, failure in zip(arrived, failures, strict=True):
            result.images.extend(images)  # what arrived before a failure (a cut stream) is kept too
            if failure is not None:
                result.failures.append(failure)
        return result

    async def _call(self, index: int, offset: int, request: Request, saved: list[GeneratedImage]) -> None:
        """Send one request and append each picture to ``saved`` as soon as it is on disk."""
        import openai

        kwargs = request.sdk_kwargs()
        if get_model(request.model).response_formats:
            # legacy models answer with a URL by default: ask for the bytes unless the user asked
            # for URLs, which saves a download (and nothing can expire before it is saved)
            kwargs.setdefault("response_format", "b64_json")
        if self.conn.kind == "offline":
            kwargs["extra_headers"] = {OFFLINE_INDEX_HEADER: str(offset)}
        images = self.conn.sdk.images
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
            for number, item in enumerate(response.data or []):
                if item.b64_json:
                    data = base64.b64decode(item.b64_json)
                elif item.url:
                    data = await self._download(item.url)
                else:
                    raise ServerError("The API returned an image entry with neither b64_json nor url.")
                usage = response.usage.model_dump() if getattr(response, "usage", None) else None
                saved.append(await self._save(index, offset + number, request, data, item.revised_prompt, usage))
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise ServerError("The API answered with a body that is not valid JSON.", kind="bad_response") from None
            raise from_sdk(exc) from None

    async def _consume_stream(
        self, index: int, offset: int, request: Request, stream: Any, saved: list[GeneratedImage]
    ) -> None:
        prompt = getattr(request, "prompt", "")
        async for event in stream:
            number = offset + len(saved)
            if event.type.endswith(".partial_image"):
                data = base64.b64decode(event.b64_json)
                self.emit(
                    ("partial", PartialImage(prompt, number, event.partial_image_index, data, self.job.label(index)))
                )
            elif event.type.endswith(".completed"):
                data = base64.b64decode(event.b64_json)
                usage = event.usage.model_dump() if getattr(event, "usage", None) else None
                image = await self._save(index, number, request, data, None, usage)
                self.emit(("partial", PartialImage(prompt, number, None, data, self.job.label(index))))
                saved.append(image)

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

    async def _save(
        self, index: int, number: int, request: Request, data: bytes, revised: str | None, usage: dict[str, Any] | None
    ) -> GeneratedImage:
        fmt, size = _sniff(data)
        prompt = getattr(request, "prompt", "")
        params = request.params()
        record = await asyncio.to_thread(
            self.store.save,
            data,
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
        image = GeneratedImage(
            data=data,
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
        self.emit(("image", image))
        return image


def _finish(result: ImageSet) -> ImageSet:
    if result.images or not result.failures:
        return result
    raise result.failures[0].error


def run(job: Job, on_event: Callable[[Event], None] | None = None) -> ImageSet:
    """Run ``job`` and wait, delivering events on this thread; Ctrl-C cancels what is in flight.

    On interruption the ``KeyboardInterrupt`` carries ``.images``: what already arrived
    (and is saved).
    """
    conn = connection(job.settings)
    events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()  # None: the job has ended
    arrived: list[GeneratedImage] = []
    finished = threading.Event()

    async def body() -> ImageSet:
        try:
            return await _Execution(job, conn, events.put).run()
        finally:
            finished.set()

    def handle(event: Event) -> None:
        if event[0] == "image":
            arrived.append(event[1])
        if on_event is not None:
            on_event(event)

    def next_event(timeout: float | None) -> Event | None:
        # no `continue` inside an except clause here: on CPython 3.11 a Ctrl-C landing on that
        # jump escapes the enclosing `except KeyboardInterrupt`
        try:
            return events.get(timeout=timeout) if timeout else events.get_nowait()
        except queue.Empty:
            return None

    def dispatch() -> None:
        while (event := next_event(None)) is not None:
            handle(event)

    future = _runner().submit(body())
    # wake the waiting loop the moment the job ends, instead of at its next poll
    future.add_done_callback(lambda _: events.put(None))
    try:
        while not future.done():
            if (event := next_event(0.05)) is not None:
                handle(event)
        dispatch()
        return _finish(future.result())
    except KeyboardInterrupt as interrupt:
        future.cancel()
        finished.wait(10)
        dispatch()
        interrupt.images = ImageSet(list(arrived))  # type: ignore[attr-defined]
        raise


async def arun(job: Job, on_event: Callable[[Event], None] | None = None) -> ImageSet:
    """``run`` for code already in an event loop; events are delivered on the caller's loop."""
    caller = asyncio.get_running_loop()
    conn = await asyncio.to_thread(connection, job.settings)

    def emit(event: Event) -> None:
        if on_event is not None:
            caller.call_soon_threadsafe(on_event, event)

    future = _runner().submit(_Execution(job, conn, emit).run())
    return _finish(await asyncio.wrap_future(future))


__all__ = ["Connection", "Job", "PartialImage", "VaryRequest", "arun", "connection", "gallery", "run"]
