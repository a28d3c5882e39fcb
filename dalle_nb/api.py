"""The public Python API: ``generate``, ``edit``, ``vary``, their async twins, and ``history``.

Each function builds frozen requests, checks them against the capability table before
anything is sent (a bad request costs nothing), and hands them to the client.  Every face
of dalle_nb (magics, widgets, tutorials) calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from . import client, config
from .client import Job, PartialImage
from .errors import InvalidRequest
from .imaging import Fit, prepare_image, prepare_images, prepare_mask
from .models import get_model
from .requests import EditRequest, GenerateRequest, Request, VaryRequest
from .results import GeneratedImage, ImageSet

#: What ``vary`` asks a GPT image model, which has no variations endpoint, through ``edit``.
VARIATION_PROMPT = (
    "Create a variation of this image: keep its subject, composition and colour palette, and change the details."
)

OnPartial = Callable[[PartialImage], None]


def _prompts(prompt: object) -> list[str]:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, Sequence) else None
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise InvalidRequest("prompt must be a non-empty string or a list of them.", field="prompt", value=prompt)
    return [p for p in prompts if isinstance(p, str)]


def _count(n: int | None, settings: config.Settings) -> int:
    value = settings.n if n is None else n
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= client.MAX_IMAGES_PER_CALL:
        raise InvalidRequest(
            f"n must be a whole number from 1 to {client.MAX_IMAGES_PER_CALL}, not {n!r}.", field="n", value=n
        )
    return value


def _checked(requests: list[Request], settings: config.Settings) -> None:
    """Check each request as the backend will, with ``n`` as one SDK call carries it."""
    profile = client.profile_for(settings)
    for request in requests:
        per_call = get_model(request.model).n_max
        request.with_n(min(request.n, per_call)).check(profile, strict_extra=settings.backend != "compatible")


def _stream_options(stream: bool, partial_images: int | None, on_partial: OnPartial | None) -> tuple[bool, int | None]:
    if partial_images is not None or on_partial is not None:
        stream = True
    if stream and partial_images is None:
        partial_images = 2
    return stream, partial_images


def _on_event(on_partial: OnPartial | None) -> Callable[[client.Event], None] | None:
    if on_partial is None:
        return None

    def deliver(event: client.Event) -> None:
        if event[0] == "partial":
            on_partial(event[1])

    return deliver


# ---------------------------------------------------------------------------- generate
def _generate_job(
    prompt: str | Sequence[str],
    *,
    model: str | None,
    n: int | None,
    size: str | None,
    quality: str | None,
    background: str | None,
    output_format: str | None,
    output_compression: int | None,
    moderation: str | None,
    style: str | None,
    stream: bool,
    partial_images: int | None,
    on_partial: OnPartial | None,
    labels: Sequence[str | None] | None = None,
    extra: dict[str, Any],
) -> Job:
    settings = config.settings(model=model, size=size, quality=quality)
    count = _count(n, settings)
    stream, partial_images = _stream_options(stream, partial_images, on_partial)
    requests: list[Request] = [
        GenerateRequest(
            model=settings.model,
            prompt=text,
            n=count,
            size=settings.size,
            quality=settings.quality,
            background=background,
            output_format=output_format,
            output_compression=output_compression,
            moderation=moderation,
            style=style,
            stream=stream,
            partial_images=partial_images,
            extra=tuple(extra.items()),
        )
        for text in _prompts(prompt)
    ]
    _checked(requests, settings)
    return Job(requests, settings, labels=list(labels or []))


def generate(
    prompt: str | Sequence[str],
    *,
    model: str | None = None,
    n: int | None = None,
    size: str | None = None,
    quality: str | None = None,
    background: str | None = None,
    output_format: str | None = None,
    output_compression: int | None = None,
    moderation: str | None = None,
    style: str | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    on_partial: OnPartial | None = None,
    **extra: Any,
) -> ImageSet:
    """Make pictures from a prompt, or from each prompt of a list (run concurrently, order kept).

    ``n`` above what the model takes per request (``dall-e-3``: 1) becomes parallel
    requests.  ``stream=True`` with ``partial_images`` (0-3) calls ``on_partial`` with each
    partial picture as it arrives, then the final one.  Bad values raise ``InvalidRequest``
    before anything is sent; API refusals raise an ``APIError``.  When some requests fail
    and others succeed, the returned ``ImageSet`` has the pictures and ``.failures``.
    """
    job = _generate_job(
        prompt, model=model, n=n, size=size, quality=quality, background=background, output_format=output_format,
        output_compression=output_compression, moderation=moderation, style=style, stream=stream,
        partial_images=partial_images, on_partial=on_partial, extra=extra,
    )  # fmt: skip
    return client.run(job, _on_event(on_partial))


async def agenerate(
    prompt: str | Sequence[str],
    *,
    model: str | None = None,
    n: int | None = None,
    size: str | None = None,
    quality: str | None = None,
    background: str | None = None,
    output_format: str | None = None,
    output_compression: int | None = None,
    moderation: str | None = None,
    style: str | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    on_partial: OnPartial | None = None,
    **extra: Any,
) -> ImageSet:
    """``generate`` for code that already runs an event loop (``await dalle_nb.agenerate(...)``)."""
    job = _generate_job(
        prompt, model=model, n=n, size=size, quality=quality, background=background, output_format=output_format,
        output_compression=output_compression, moderation=moderation, style=style, stream=stream,
        partial_images=partial_images, on_partial=on_partial, extra=extra,
    )  # fmt: skip
    return await client.arun(job, _on_event(on_partial))


# ---------------------------------------------------------------------------- edit
def _parents(images: object) -> tuple[str, ...]:
    items = images if isinstance(images, list | tuple) else [images]
    return tuple(item.id for item in items if isinstance(item, GeneratedImage) and item.id)


def _edit_job(
    image: object,
    prompt: str,
    *,
    mask: object,
    markup: object,
    input_fidelity: str | None,
    model: str | None,
    n: int | None,
    size: str | None,
    quality: str | None,
    background: str | None,
    output_format: str | None,
    output_compression: int | None,
    stream: bool,
    partial_images: int | None,
    on_partial: OnPartial | None,
    fit: Fit,
    extra: dict[str, Any],
    notices: list[str] | None = None,
) -> Job:
    settings = config.settings(model=model, size=size, quality=quality)
    count = _count(n, settings)
    text = _prompts(prompt)
    if len(text) != 1:
        raise InvalidRequest("edit() takes one prompt; call it once per prompt.", field="prompt")
    stream, partial_images = _stream_options(stream, partial_images, on_partial)
    prepared = prepare_images(image, settings.model, endpoint="edits", fit=fit)
    mask_file = prepare_mask(mask, (prepared[0].width, prepared[0].height)) if mask is not None else None
    markup_file = None
    if markup is not None:  # a drawing over the image: its colours matter, so it is not a mask
        markup_file = replace(prepare_image(markup, settings.model, endpoint="edits"), filename="markup.png")
    notes = list(notices or [])
    for item in [*prepared, mask_file, markup_file]:
        notes.extend(item.notices if item is not None else ())
    request = EditRequest(
        model=settings.model,
        prompt=text[0],
        n=count,
        size=settings.size,
        images=tuple(prepared),
        mask=mask_file,
        markup=markup_file,
        input_fidelity=input_fidelity,
        quality=settings.quality,
        background=background,
        output_format=output_format,
        output_compression=output_compression,
        stream=stream,
        partial_images=partial_images,
        extra=tuple(extra.items()),
    )
    _checked([request], settings)
    return Job([request], settings, parents=[_parents(image)], notices=notes)


def edit(
    image: object,
    prompt: str,
    *,
    mask: object = None,
    markup: object = None,
    input_fidelity: str | None = None,
    model: str | None = None,
    n: int | None = None,
    size: str | None = None,
    quality: str | None = None,
    background: str | None = None,
    output_format: str | None = None,
    output_compression: int | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    on_partial: OnPartial | None = None,
    fit: Fit = "error",
    **extra: Any,
) -> ImageSet:
    """Change a picture as the prompt says: everywhere, or only where ``mask`` marks.

    ``image`` is a path, bytes, ``BytesIO``, ``PIL.Image``, numpy array, ``GeneratedImage``,
    or a list of them (GPT image models take up to 16).  ``mask``: an RGBA image whose
    transparent pixels (alpha 0) mark where to edit, or a boolean / 0-255 array or "L"
    image where True / white marks it.  ``fit="crop"`` or ``"pad"`` squares an image for a
    square-only model.
    """
    job = _edit_job(
        image, prompt, mask=mask, markup=markup, input_fidelity=input_fidelity, model=model, n=n, size=size,
        quality=quality, background=background, output_format=output_format, output_compression=output_compression,
        stream=stream, partial_images=partial_images, on_partial=on_partial, fit=fit, extra=extra,
    )  # fmt: skip
    return client.run(job, _on_event(on_partial))


async def aedit(
    image: object,
    prompt: str,
    *,
    mask: object = None,
    markup: object = None,
    input_fidelity: str | None = None,
    model: str | None = None,
    n: int | None = None,
    size: str | None = None,
    quality: str | None = None,
    background: str | None = None,
    output_format: str | None = None,
    output_compression: int | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    on_partial: OnPartial | None = None,
    fit: Fit = "error",
    **extra: Any,
) -> ImageSet:
    """``edit`` for code that already runs an event loop."""
    job = _edit_job(
        image, prompt, mask=mask, markup=markup, input_fidelity=input_fidelity, model=model, n=n, size=size,
        quality=quality, background=background, output_format=output_format, output_compression=output_compression,
        stream=stream, partial_images=partial_images, on_partial=on_partial, fit=fit, extra=extra,
    )  # fmt: skip
    return await client.arun(job, _on_event(on_partial))


# ---------------------------------------------------------------------------- vary
def _vary_job(
    image: object, *, n: int | None, model: str | None, size: str | None, prompt: str | None, fit: Fit
) -> Job:
    settings = config.settings(model=model, size=size)
    spec = get_model(settings.model)
    profile = client.profile_for(settings)
    if "variations" in spec.endpoints and prompt is None:
        count = _count(n, settings)
        prepared = prepare_images(image, settings.model, endpoint="variations", fit=fit)
        request = VaryRequest(model=settings.model, n=count, size=settings.size, image=prepared[0])
        request.with_n(min(count, spec.n_max)).check(profile)
        notes = list(prepared[0].notices)
        return Job([request], settings, parents=[_parents(image)], notices=notes)
    if "edits" not in spec.endpoints:
        raise InvalidRequest(f"{spec.id} can neither vary nor edit images; use a GPT image model.", field="model")
    stated = prompt or VARIATION_PROMPT
    note = (
        f"{spec.id} has no variations endpoint, so this variation is made through edit() with the prompt: {stated!r}"
        if prompt is None
        else f"variation made through edit() with your prompt: {stated!r}"
    )
    return _edit_job(
        image, stated, mask=None, markup=None, input_fidelity=None, model=settings.model, n=n, size=size,
        quality=None, background=None, output_format=None, output_compression=None, stream=False,
        partial_images=None, on_partial=None, fit=fit, extra={}, notices=[note],
    )  # fmt: skip


def vary(
    image: object,
    *,
    n: int | None = None,
    model: str | None = None,
    size: str | None = None,
    prompt: str | None = None,
    fit: Fit = "error",
) -> ImageSet:
    """Variations of a picture.

    Where the model and backend serve the variations endpoint (``dall-e-2`` on a gateway
    or the offline ``compat`` profile), it is used.  GPT image models have none: the
    variation is made through ``edit`` with a stated prompt (``VARIATION_PROMPT``, or
    yours), which is kept on each result as ``.prompt`` so you see exactly what was asked.
    """
    return client.run(_vary_job(image, n=n, model=model, size=size, prompt=prompt, fit=fit))


async def avary(
    image: object,
    *,
    n: int | None = None,
    model: str | None = None,
    size: str | None = None,
    prompt: str | None = None,
    fit: Fit = "error",
) -> ImageSet:
    """``vary`` for code that already runs an event loop."""
    return await client.arun(_vary_job(image, n=n, model=model, size=size, prompt=prompt, fit=fit))


# ---------------------------------------------------------------------------- history
def history(
    query: str | None = None, *, limit: int = 50, model: str | None = None, kind: str | None = None
) -> ImageSet:
    """Past pictures from the on-disk gallery, newest first; ``query`` searches prompts and revised prompts."""
    records = client.gallery().search(query, limit=limit, model=model, kind=kind)
    return ImageSet([GeneratedImage.from_record(record) for record in records])
