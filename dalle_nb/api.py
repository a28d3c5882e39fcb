"""The public Python API: ``generate``, ``edit``, ``vary``, ``refine``, their async twins, and ``history``.

This is the one road every request takes: the magics call these functions and wait, the
Studio calls them with ``wait=False``, so planning, the budget, progress, partial pictures,
cancelling and refusals work the same from every face.  Each function plans a checked job
(``plan``: a bad request raises ``InvalidRequest`` and costs nothing) and submits it on the
session's one path.  By default it waits and returns the ``ImageSet``, showing an activity line
in a notebook; with ``wait=False`` it returns a ``JobHandle`` at once, a
``concurrent.futures.Future[ImageSet]`` that reports events while the kernel stays free.
``wait=False`` checks the options at the call and leaves reading and preparing the pictures
(seconds for a big one) to a worker thread, whose failures come from the handle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Literal, Unpack, overload

from .core.errors import InvalidRequest
from .core.events import Event, OnEvent, PartialImage
from .core.imaging import snapshot
from .core.options import EditOptions, GenerateOptions, RefineOptions, VaryOptions, only_declared, shows_options, split
from .core.plan import VARIATION_PROMPT, Job, check_edit, check_vary, plan_edit, plan_generate, plan_refine, plan_vary
from .core.results import GeneratedImage, ImageSet
from .runtime.gallery import KINDS
from .runtime.progress import Progress, in_notebook, wait_showing
from .runtime.session import JobHandle, default_session

OnPartial = Callable[[PartialImage], None]


def _listener(on_partial: OnPartial | None, on_event: OnEvent | None) -> OnEvent | None:
    """One callback for the session: ``on_event`` gets everything, ``on_partial`` the pictures on their way."""
    if on_partial is None:
        return on_event

    def deliver(event: Event) -> None:
        if isinstance(event, PartialImage):
            on_partial(event)
        if on_event is not None:
            on_event(event)

    return deliver


def _start(
    job: Job,
    wait: bool,
    on_partial: OnPartial | None,
    on_event: OnEvent | None,
    loop: asyncio.AbstractEventLoop | None,
    progress: bool = True,
) -> ImageSet | JobHandle:
    """Submit ``job``; when waiting in a notebook, its activity line shows from the first moment (unless
    ``progress`` is False).  Ctrl-C while waiting cancels the job and raises with ``.images``, what arrived."""
    if not wait:
        return default_session().submit(job, on_event=_listener(on_partial, on_event), loop=loop)
    line = (
        Progress(job.pictures, job.settings.model, job.settings.thumbnail_size) if progress and in_notebook() else None
    )
    listener = _listener(on_partial, on_event)
    if line is not None:
        listener = _both(line.on_event, listener)
    try:
        handle = default_session().submit(job, on_event=listener, deliver_here=True)
        return wait_showing(handle, line)
    finally:
        if line is not None:
            line.close()


def _start_later(
    plan: Callable[[], Job],
    prompt: str,
    on_partial: OnPartial | None,
    on_event: OnEvent | None,
    loop: asyncio.AbstractEventLoop | None,
) -> JobHandle:
    """``wait=False`` for a call with pictures: ``plan`` runs on a worker thread, its failures go to the handle."""
    listener = _listener(on_partial, on_event)
    return default_session().submit_planning(plan, on_event=listener, loop=loop, prompt=prompt)


def _both(first: OnEvent, second: OnEvent | None) -> OnEvent:
    if second is None:
        return first

    def deliver(event: Event) -> None:
        first(event)
        second(event)

    return deliver


async def _astart(plan: Callable[[], Job], on_partial: OnPartial | None, on_event: OnEvent | None) -> ImageSet:
    """Plan off the caller's loop (preparing a big picture takes a while), then await the job there."""
    job = await asyncio.to_thread(plan)
    session = default_session()
    caller = asyncio.get_running_loop()
    handle = await asyncio.to_thread(session.submit, job, on_event=_listener(on_partial, on_event), loop=caller)
    return await asyncio.wrap_future(handle)


# ---------------------------------------------------------------------------- generate
@overload
def generate(
    prompt: str | Sequence[str],
    *,
    on_partial: OnPartial | None = ...,
    labels: Sequence[str | None] | None = ...,
    wait: Literal[True] = ...,
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[GenerateOptions],
) -> ImageSet: ...
@overload
def generate(
    prompt: str | Sequence[str],
    *,
    on_partial: OnPartial | None = ...,
    labels: Sequence[str | None] | None = ...,
    wait: Literal[False],
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[GenerateOptions],
) -> JobHandle: ...
@shows_options(GenerateOptions, extra=True)
def generate(
    prompt: str | Sequence[str],
    *,
    on_partial: OnPartial | None = None,
    labels: Sequence[str | None] | None = None,
    wait: bool = True,
    progress: bool = True,
    on_event: OnEvent | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    **options: Unpack[GenerateOptions],
) -> ImageSet | JobHandle:
    """Make pictures from a prompt, or from each prompt of a list (run concurrently, order kept).

    ``n`` above what the model takes per request (``dall-e-3``: 1) becomes parallel
    requests.  ``stream=True`` with ``partial_images`` (0-3) calls ``on_partial`` with each
    partial picture as it arrives, then the final one.  Bad values raise ``InvalidRequest``
    before anything is sent; API refusals raise an ``APIError``.  When some requests fail
    and others succeed, the returned ``ImageSet`` has the pictures and ``.failures``.
    An option not listed is sent as an API field of its own (checked as the rest).

    ``revise``: on GPT image models the prompt goes through the Responses API, where a text
    model rewrites it (``revised_prompt``); on by default wherever the backend serves it,
    ``revise=False`` sends the prompt exactly as written.  ``labels`` names each prompt's pictures
    (``GeneratedImage.label``): the choices of a ``{a|b}`` prompt matrix, whose set shows as its grid.

    Waiting in a notebook, an activity line shows under the cell until the pictures are there
    (``progress=False``: none).  Ctrl-C cancels what is in flight and raises ``KeyboardInterrupt``
    with ``.images``, the ``ImageSet`` of what had arrived.

    ``wait=False`` returns a ``JobHandle`` at once (``.result()``, ``.done()``,
    ``.cancel()``); ``on_event`` then gets ``PartialImage``, ``ImageSaved``,
    ``RequestFailed`` and ``JobDone`` on ``loop`` (or the notebook's own loop).  With no
    picture to prepare, everything is checked at the call: a bad value raises there.
    """
    declared, extra = split(options, GenerateOptions)
    job = plan_generate(
        prompt, wants_partials=on_partial is not None, labels=labels, extra=extra, context=default_session(),
        **declared,
    )  # fmt: skip
    return _start(job, wait, on_partial, on_event, loop, progress)


@shows_options(GenerateOptions, extra=True)
async def agenerate(
    prompt: str | Sequence[str],
    *,
    on_partial: OnPartial | None = None,
    on_event: OnEvent | None = None,
    **options: Unpack[GenerateOptions],
) -> ImageSet:
    """``generate`` for code that already runs an event loop (``await dalle_nb.agenerate(...)``)."""
    declared, extra = split(options, GenerateOptions)

    def plan() -> Job:
        return plan_generate(
            prompt, wants_partials=on_partial is not None, extra=extra, context=default_session(), **declared
        )

    return await _astart(plan, on_partial, on_event)


# ---------------------------------------------------------------------------- edit
@overload
def edit(
    image: object,
    prompt: str,
    *,
    on_partial: OnPartial | None = ...,
    wait: Literal[True] = ...,
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[EditOptions],
) -> ImageSet: ...
@overload
def edit(
    image: object,
    prompt: str,
    *,
    on_partial: OnPartial | None = ...,
    wait: Literal[False],
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[EditOptions],
) -> JobHandle: ...
@shows_options(EditOptions, extra=True)
def edit(
    image: object,
    prompt: str,
    *,
    on_partial: OnPartial | None = None,
    wait: bool = True,
    progress: bool = True,
    on_event: OnEvent | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    **options: Unpack[EditOptions],
) -> ImageSet | JobHandle:
    """Change a picture as the prompt says: everywhere, or only where ``mask`` marks.

    ``image`` is a path, bytes, ``BytesIO``, ``PIL.Image``, numpy array, ``GeneratedImage``,
    or a list of them (GPT image models take up to 16).  ``mask``: an RGBA image whose
    transparent pixels (alpha 0) mark where to edit, or a boolean / 0-255 array or "L"
    image where True / white marks it; a ``MaskEditor`` itself.  ``fit="crop"`` or ``"pad"``
    squares an image for a square-only model.  ``keep_unmasked=True`` pastes the original
    back outside the mask (GPT image models treat a mask as guidance), here, not by the API.
    ``progress`` and Ctrl-C as for ``generate``.  ``wait=False`` returns a ``JobHandle`` at once,
    as for ``generate``.  The options (their names and values, the prompt, ``n``, ``fit``, the
    model) are checked at the call and a bad one raises ``InvalidRequest`` there; the pictures
    are copied as they are (change an array afterwards and the edit still sees the old one),
    then read and prepared on a worker thread: a picture that cannot be used makes
    ``handle.result()`` raise ``InvalidRequest``.
    """
    declared, extra = split(options, EditOptions)
    wants_partials = on_partial is not None
    if not wait:
        check_edit(prompt, wants_partials=wants_partials, extra=extra, context=default_session(), **declared)
        image = snapshot(image)
        declared["mask"] = snapshot(declared.get("mask"), field="mask")
        declared["markup"] = snapshot(declared.get("markup"), field="markup")

    def plan() -> Job:
        return plan_edit(
            image, prompt, wants_partials=wants_partials, extra=extra, context=default_session(), **declared
        )

    if not wait:
        return _start_later(plan, prompt, on_partial, on_event, loop)
    return _start(plan(), True, on_partial, on_event, loop, progress)


@shows_options(EditOptions, extra=True)
async def aedit(
    image: object,
    prompt: str,
    *,
    on_partial: OnPartial | None = None,
    on_event: OnEvent | None = None,
    **options: Unpack[EditOptions],
) -> ImageSet:
    """``edit`` for code that already runs an event loop; the image preparation runs off that loop."""
    declared, extra = split(options, EditOptions)

    def plan() -> Job:
        return plan_edit(
            image, prompt, wants_partials=on_partial is not None, extra=extra, context=default_session(), **declared
        )

    return await _astart(plan, on_partial, on_event)


# ---------------------------------------------------------------------------- vary
@overload
def vary(
    image: object,
    *,
    wait: Literal[True] = ...,
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[VaryOptions],
) -> ImageSet: ...
@overload
def vary(
    image: object,
    *,
    wait: Literal[False],
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[VaryOptions],
) -> JobHandle: ...
@shows_options(VaryOptions)
def vary(
    image: object,
    *,
    wait: bool = True,
    progress: bool = True,
    on_event: OnEvent | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    **options: Unpack[VaryOptions],
) -> ImageSet | JobHandle:
    """Variations of a picture.

    Where the model and backend serve the variations endpoint (``dall-e-2`` on a gateway
    or the offline ``compat`` profile), it is used.  GPT image models have none: the
    variation is made through ``edit`` with a stated prompt (``VARIATION_PROMPT``, or
    yours), which is kept on each result as ``.prompt`` so you see exactly what was asked.

    ``wait=False`` returns a ``JobHandle`` at once and prepares the picture on a worker
    thread, as for ``edit``: bad options raise at the call, a bad picture from ``result()``.
    ``progress`` and Ctrl-C as for ``generate``.
    """
    only_declared(options, VaryOptions, "vary")
    session = default_session()
    if not wait:
        stated = check_vary(context=session, **options)
        held = snapshot(image)
        return _start_later(lambda: plan_vary(held, context=session, **options), stated, None, on_event, loop)
    job = plan_vary(image, context=session, **options)
    return _start(job, True, None, on_event, loop, progress)


@shows_options(VaryOptions)
async def avary(image: object, *, on_event: OnEvent | None = None, **options: Unpack[VaryOptions]) -> ImageSet:
    """``vary`` for code that already runs an event loop."""
    only_declared(options, VaryOptions, "avary")
    session = default_session()
    return await _astart(lambda: plan_vary(image, context=session, **options), None, on_event)


# ---------------------------------------------------------------------------- refine
@overload
def refine(
    image: object,
    instruction: str,
    *,
    on_partial: OnPartial | None = ...,
    wait: Literal[True] = ...,
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[RefineOptions],
) -> ImageSet: ...
@overload
def refine(
    image: object,
    instruction: str,
    *,
    on_partial: OnPartial | None = ...,
    wait: Literal[False],
    progress: bool = ...,
    on_event: OnEvent | None = ...,
    loop: asyncio.AbstractEventLoop | None = ...,
    **options: Unpack[RefineOptions],
) -> JobHandle: ...
@shows_options(RefineOptions)
def refine(
    image: object,
    instruction: str,
    *,
    on_partial: OnPartial | None = None,
    wait: bool = True,
    progress: bool = True,
    on_event: OnEvent | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    **options: Unpack[RefineOptions],
) -> ImageSet | JobHandle:
    """The next turn of a picture's conversation: ``refine(fox, "now make it dusk")``.

    A picture made through the Responses API (``image.response_id``) is continued with
    ``previous_response_id``, so the text model knows what came before; any other picture is
    sent as an input image with the instruction.  The new picture's parent is ``image``, and
    ``history(chain=...)`` shows the chain.

    ``progress`` and Ctrl-C as for ``generate``.  ``wait=False`` returns a ``JobHandle`` at once
    (events as for ``generate``) and plans on a worker thread: which model continues the
    conversation depends on the picture, so the options are checked with it there, and a bad
    one comes from ``handle.result()``.
    """
    only_declared(options, RefineOptions, "refine")
    if not wait:
        image = snapshot(image)  # as it is now: the worker reads it later

    def plan() -> Job:
        return plan_refine(
            image, instruction, wants_partials=on_partial is not None, context=default_session(), **options
        )

    if not wait:
        return _start_later(plan, instruction, on_partial, on_event, loop)
    return _start(plan(), True, on_partial, on_event, loop, progress)


@shows_options(RefineOptions)
async def arefine(
    image: object, instruction: str, *, on_partial: OnPartial | None = None, **options: Unpack[RefineOptions]
) -> ImageSet:
    """``refine`` for code that already runs an event loop (the same options)."""
    only_declared(options, RefineOptions, "arefine")

    def plan() -> Job:
        return plan_refine(
            image, instruction, wants_partials=on_partial is not None, context=default_session(), **options
        )

    return await _astart(plan, on_partial, None)


# ---------------------------------------------------------------------------- history
def history(
    query: str | None = None,
    *,
    limit: int = 50,
    model: str | None = None,
    kind: str | None = None,
    chain: GeneratedImage | str | None = None,
) -> ImageSet:
    """Past pictures from the on-disk gallery, newest first; ``query`` searches prompts and revised prompts.

    ``chain=picture`` gives instead the pictures that led to ``picture`` (its parent, the
    parent's parent ...), oldest first and ending with ``picture``: a refinement chain.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidRequest(
            f"limit must be a whole number of pictures, 0 or more, not {limit!r}.", field="limit", value=limit,
            allowed="an integer >= 0",
        )  # fmt: skip
    if query is not None and not isinstance(query, str):
        raise InvalidRequest(f"query must be text, not {type(query).__name__}.", field="query")
    if kind is not None and kind not in KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(sorted(KINDS))}, not {kind!r}.", field="kind",
                             value=kind, allowed=tuple(sorted(KINDS)))  # fmt: skip
    session = default_session()
    store, shown = session.gallery(), session.settings().thumbnail_size
    if chain is not None:
        ident: str | None = chain.id if isinstance(chain, GeneratedImage) else str(chain)
        lineage: list[GeneratedImage] = []
        while ident and len(lineage) < limit:
            try:
                record = store.get(ident)
            except KeyError:
                break
            lineage.append(GeneratedImage.from_record(record, preview_size=shown))
            ident = record.parent_ids[0] if record.parent_ids else None
        return ImageSet(lineage[::-1])
    records = store.search(query, limit=limit, model=model, kind=kind)
    return ImageSet([GeneratedImage.from_record(record, preview_size=shown) for record in records])


__all__ = [
    "VARIATION_PROMPT", "aedit", "agenerate", "arefine", "avary", "edit", "generate", "history", "refine", "vary",
]  # fmt: skip
