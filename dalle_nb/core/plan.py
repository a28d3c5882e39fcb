"""Planning: turn what a person asked for into a checked ``Job``, before anything is sent.

``dalle_nb.api``, the one road every face takes (the blocking functions, their async twins,
``wait=False`` handles, and through them the magics and the widgets), plans with these
functions and then submits the job through the one path in ``runtime.session``.  Planning
reads the settings, expands ``n`` and prompt lists into requests, prepares input images and
masks (the slow part for big pictures, so the async twins run it off the caller's loop), and
checks every request against the capability table: a bad request raises ``InvalidRequest``
here and costs nothing.

What planning needs of the session it plans for (the settings, the backend's rules, a notice
said once, whether something was said already, the keys never to send) it asks of the
``context`` it is given, a ``PlanContext``: core knows no session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, Protocol, TypeVar, Unpack, cast

from . import config
from .capabilities import Endpoint, ParamError, Profile, choices, get_model
from .errors import DalleError, InvalidRequest, is_secret
from .imaging import KEEP_UNMASKED_FEATHER, check_fit, fit_inline, prepare_image, prepare_images, prepare_mask
from .options import EditOptions, GenerateOptions, RefineOptions, VaryOptions, passed_on
from .request import VARIATION_PROMPT, EditRequest, GenerateRequest, Request, ResponsesRequest, VaryRequest
from .results import GeneratedImage


class PlanContext(Protocol):
    """What planning asks of the session it plans for (``runtime.session.Session`` is one).

    A protocol the plan functions are handed, rather than notices and settings returned on the
    ``Job`` for the session to act on, because planning needs answers while it plans: the
    settings decide the requests, the backend's rules (the running offline server's profile)
    check them, and the keys refuse a request that would send one.  ``notice`` says a line to
    the person once per session (the first revised prompt), and ``first_time`` lets a notice that
    travels with the job's pictures (a retired model still served here) be said once: only the
    session can count.
    """

    def settings(self, **arguments: Any) -> config.Settings:
        """The effective settings, with per-call ``arguments`` (not None) taking precedence."""
        ...

    def profile_for(self, settings: config.Settings) -> Profile:
        """Which rules a request for ``settings``' backend must pass."""
        ...

    def notice(self, text: str, *, once: bool = False) -> None:
        """One line for the person (with ``once``, only the first time in the session)."""
        ...

    def secrets(self) -> frozenset[str]:
        """The keys that must never be sent as a parameter, nor shown."""
        ...

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is asked about in the session, False ever after."""
        ...


P = ParamSpec("P")
R = TypeVar("R")


def _hiding_keys(plan: Callable[P, R]) -> Callable[P, R]:
    """``plan``, whose refusals have the context's keys masked in them: what a person passed (a value, a path)
    is in them, and only the session knows which keys are secret (errors mask key-shaped text themselves)."""

    @functools.wraps(plan)
    def planned(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return plan(*args, **kwargs)
        except DalleError as error:
            context = cast("PlanContext | None", kwargs.get("context"))
            if context is not None:
                error.hide(context.secrets())
            raise

    return planned


@dataclass
class Job:
    """Everything one call asks for: checked requests, their labels and parents, and what to tell."""

    requests: list[Request]
    settings: config.Settings
    labels: list[str | None] = field(default_factory=list)
    parents: list[tuple[str, ...]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    #: What the gallery calls these pictures when not the request's own kind (``refine``).
    kind: str | None = None
    #: ``keep_unmasked``: the original picture and the mask (PNG bytes), to paste the original back outside
    #: the mask on every picture that arrives, here and not by the API.
    keep: tuple[bytes, bytes] | None = None

    def label(self, index: int) -> str | None:
        return self.labels[index] if index < len(self.labels) else None

    def parent_ids(self, index: int) -> tuple[str, ...]:
        return self.parents[index] if index < len(self.parents) else ()

    @property
    def pictures(self) -> int:
        """How many pictures the job asks for in all."""
        return sum(request.n for request in self.requests)


def _prompts(prompt: object) -> list[str]:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, Sequence) else None
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise InvalidRequest("prompt must be a non-empty string or a list of them.", field="prompt", value=prompt)
    texts = [p for p in prompts if isinstance(p, str)]
    for text in texts:
        try:
            text.encode("utf-8")
            continue
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from os.fsdecode of bytes that were not UTF-8
            refused = InvalidRequest(
                f"the prompt has a character that is not valid text at position {exc.start + 1} "
                f"({text[exc.start]!r}); retype that part of the prompt.",
                field="prompt",
                value=f"position {exc.start + 1}",
            )
        raise refused  # out here, so the UnicodeEncodeError (holding the whole prompt) is not its context
    return texts


def _no_key_in(request: Request, secrets: frozenset[str]) -> None:
    """Refuse to send the API key as a request parameter: it would travel in the body and land in the gallery."""
    for name, value in request.api_fields().items():
        if name == "api_key" or is_secret(value, secrets):
            raise _key_refused(name)


def _key_refused(name: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{name}' would send your API key as a request parameter; set the key with "
        "dalle_nb.configure(api_key=...) or OPENAI_API_KEY instead.",
        field=name,
    )


def _count(n: object, settings: config.Settings) -> int:
    value = settings.n if n is None else n
    rule = config.RULES["n"]
    if isinstance(value, bool) or not isinstance(value, int) or not rule.low <= value <= rule.high:  # type: ignore[operator]
        raise InvalidRequest(f"n must be {rule.rule}, not {n!r}.", field="n", value=n, allowed=rule.rule)
    return value


def _checked(requests: list[Request], settings: config.Settings, context: PlanContext) -> list[Request]:
    """Each request checked as the backend will check it (``n`` as one SDK call carries it), with
    the values it will send normalized: ``"50"`` becomes 50, never a JSON string."""
    return [request.normalized(_check_one(request, settings, context)) for request in requests]


def _check_one(
    request: Request, settings: config.Settings, context: PlanContext, *, files: bool = True
) -> dict[str, Any]:
    """One request checked for its backend (``files=False``: its options alone, pictures not prepared yet)."""
    _no_key_in(request, context.secrets())
    profile = context.profile_for(settings)
    strict = settings.backend != "compatible"
    return request.with_n(min(request.n, request.per_call)).check(profile, strict_extra=strict, files=files)


def _not_revisable(request: Request) -> str | None:
    """Why the Responses API's image tool cannot make ``request`` (None: it can)."""
    if not isinstance(request, GenerateRequest | EditRequest):
        return "variations have no prompt to revise"
    spec = get_model(request.model)
    if not spec.is_gpt:
        return f"{spec.id} is not a GPT image model"
    if isinstance(request, GenerateRequest) and request.style is not None:
        return "the Responses image tool has no style"
    if isinstance(request, EditRequest) and request.markup is not None:
        return "the Responses image tool has no markup"
    if any(name == "response_format" for name, _ in request.extra):
        return "the Responses image tool has no response_format"
    return None


def _revised(
    requests: list[Request], settings: config.Settings, notices: list[str], context: PlanContext
) -> list[Request]:
    """The requests that go through the Responses API, where a text model revises the prompt.

    With ``revise`` left to its default, GPT image models are revised wherever the backend
    serves the Responses API; a request the tool cannot make (a style, a markup, a legacy
    model) goes to the Images API as written, and when the person asked for revising, a
    notice says why.  An edit's pictures travel there inside the JSON, as data URLs with lower
    limits than the Images API's files: ``fit_inline`` makes them fit, and says so.
    """
    out: list[Request] = []
    for request in requests:
        why = _not_revisable(request)
        if why is None and settings.revises(request.model):
            assert isinstance(request, GenerateRequest | EditRequest)
            if isinstance(request, EditRequest):  # its pictures travel inside the JSON, where the limits are lower
                images, mask, said = fit_inline(request.images, request.mask, request.model)
                request = replace(request, images=images, mask=mask)
                notices.extend(said)
            out.append(ResponsesRequest(request, settings.text_model))
            continue
        if settings.revise and why is not None:
            notices.append(f"sent to the Images API exactly as written (no revised prompt): {why}.")
        out.append(request)
    if any(isinstance(r, ResponsesRequest) for r in out):
        context.notice(
            f"prompts are revised: {settings.text_model} rewrites each prompt and calls the image model through the "
            "Responses API (its text tokens are billed on top of the picture), and every picture shows the revised "
            "prompt. To send prompts exactly: configure(revise=False), or %%dalle --exact.",
            once=True,
        )
    return out


#: How the retirement notice names a backend that still serves retired models.
_STILL_SERVED = {"offline": "the offline backend", "compatible": "a gateway", "azure": "Azure OpenAI"}


def retirement_notice(settings: config.Settings, context: PlanContext) -> str | None:
    """What to say about ``settings.model`` being retired by OpenAI, the first time in the session (else None).

    A backend that still serves a retired model (the offline one, a gateway) draws it without a word, so a
    notebook written there would fail, unexplained, for the first person who runs it with an OpenAI key: said
    once per model, with the pictures, and with what to use instead.  Where the rules are OpenAI's the model is
    refused before this is asked (``validate``), so this is said only where it works; ``%config Dalle.model``
    asks too, where it says that the calls will be refused, every time (the memory is for where it works).
    """
    spec = get_model(settings.model)
    if not spec.retired:
        return None
    if context.profile_for(settings) == "openai":
        return f"{spec.retirement_message()} It is refused here; the offline backend and gateways still serve it."
    if not context.first_time(f"retired model {spec.id}"):
        return None
    where = _STILL_SERVED.get(settings.backend, "this backend")
    return f"{spec.retirement_message()} It works here ({where}) and will be refused with an OpenAI key."


def _said_retired(settings: config.Settings, context: PlanContext) -> list[str]:
    """The job's retirement notice, once a request is checked (a refused request says nothing, nor uses it up)."""
    said = retirement_notice(settings, context)
    return [said] if said is not None else []


def _stream_options(options: GenerateOptions | EditOptions, wants_partials: bool) -> tuple[Any, int | None]:
    stream: Any = options.get("stream", False)
    partial_images = options.get("partial_images")
    if partial_images is not None or wants_partials:
        stream = True
    if stream is True and partial_images is None:
        partial_images = 2
    return stream, partial_images


@_hiding_keys
def plan_generate(
    prompt: str | Sequence[str],
    *,
    wants_partials: bool = False,
    labels: Sequence[str | None] | None = None,
    extra: dict[str, Any] | None = None,
    context: PlanContext,
    **options: Unpack[GenerateOptions],
) -> Job:
    """A checked job for ``generate``: one request per prompt, each asking for ``n`` pictures.

    ``extra``: fields sent as they are, besides the declared ones (the ``ApiFields`` among ``options`` join them).
    """
    settings = _settings(options, context)
    count = _count(options.get("n"), settings)
    stream, partial_images = _stream_options(options, wants_partials)
    requests: list[Request] = [
        GenerateRequest(
            model=settings.model,
            prompt=text,
            n=count,
            size=settings.size,
            quality=settings.quality,
            background=options.get("background"),
            output_format=options.get("output_format"),
            output_compression=options.get("output_compression"),
            moderation=options.get("moderation"),
            style=options.get("style"),
            stream=stream,  # checked, and made a bool, by the table
            partial_images=partial_images,
            extra=_extra(options, extra),
        )
        for text in _prompts(prompt)
    ]
    notices: list[str] = []
    checked = _revised(_checked(requests, settings, context), settings, notices, context)
    notices += _said_retired(settings, context)
    return Job(_with_n(checked, count), settings, labels=list(labels or []), notices=notices)


def _settings(options: GenerateOptions | EditOptions, context: PlanContext) -> config.Settings:
    """The settings for a call: its own ``model``, ``size``, ``quality`` and ``revise`` over the session's."""
    return context.settings(
        model=options.get("model"), size=options.get("size"), quality=options.get("quality"),
        revise=options.get("revise"),
    )  # fmt: skip


def _extra(options: GenerateOptions | EditOptions, extra: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """A request's extra fields: the ``ApiFields`` given, then the undeclared ones."""
    return tuple({**passed_on(options), **(extra or {})}.items())


def _with_n(requests: list[Request], n: int) -> list[Request]:
    """Put the whole ``n`` back after checking one SDK call's share; the client fans it out."""
    return [request.with_n(n) for request in requests]


def _parents(images: object) -> tuple[str, ...]:
    items = images if isinstance(images, list | tuple) else [images]
    return tuple(item.id for item in items if isinstance(item, GeneratedImage) and item.id)


def _edit_draft(
    prompt: str, *, wants_partials: bool, extra: dict[str, Any] | None, context: PlanContext,
    **options: Unpack[EditOptions],
) -> tuple[EditRequest, config.Settings, int]:  # fmt: skip
    """The edit request without its pictures, the settings and ``n``: everything that reads no picture."""
    settings = _settings(options, context)
    count = _count(options.get("n"), settings)
    text = _prompts(prompt)
    if len(text) != 1:
        raise InvalidRequest("edit() takes one prompt; call it once per prompt.", field="prompt")
    check_fit(options.get("fit", "error"))
    stream, partial_images = _stream_options(options, wants_partials)
    draft = EditRequest(
        model=settings.model,
        prompt=text[0],
        n=count,
        size=settings.size,
        input_fidelity=options.get("input_fidelity"),
        quality=settings.quality,
        background=options.get("background"),
        output_format=options.get("output_format"),
        output_compression=options.get("output_compression"),
        stream=stream,
        partial_images=partial_images,
        extra=_extra(options, extra),
    )
    return draft, settings, count


def _check_options(request: Request, settings: config.Settings, context: PlanContext) -> None:
    """``_checked`` for a request whose pictures are not prepared yet: its options only."""
    _check_one(request, settings, context, files=False)


@_hiding_keys
def check_edit(
    prompt: str,
    *,
    wants_partials: bool = False,
    extra: dict[str, Any] | None = None,
    context: PlanContext,
    **options: Unpack[EditOptions],
) -> None:
    """What ``plan_edit`` checks without reading a picture, in microseconds: ``InvalidRequest`` at once.

    ``edit(..., wait=False)`` runs this on the caller's thread and leaves the slow part (reading
    and preparing the pictures) to a worker, so a misspelt option or a bad value fails at the
    call, while a picture that cannot be read fails through the handle.
    """
    draft, settings, _ = _edit_draft(prompt, wants_partials=wants_partials, extra=extra, context=context, **options)
    if options.get("keep_unmasked") and options.get("mask") is None:
        raise InvalidRequest(_KEEP_NEEDS_MASK, field="keep_unmasked")
    _check_options(draft, settings, context)


_KEEP_NEEDS_MASK = "keep_unmasked needs a mask: it keeps the pixels outside the mask exact."


@_hiding_keys
def plan_edit(
    image: object,
    prompt: str,
    *,
    wants_partials: bool = False,
    extra: dict[str, Any] | None = None,
    notices: Sequence[str] = (),
    context: PlanContext,
    **options: Unpack[EditOptions],
) -> Job:
    """A checked job for ``edit``, with every input image and the mask prepared for upload.

    ``keep_unmasked`` pastes the original back outside the mask on every picture that arrives
    (GPT image models treat a mask as guidance and may change pixels outside it): done here,
    with a softened seam, and said with the result.
    """
    draft, settings, count = _edit_draft(prompt, wants_partials=wants_partials, extra=extra, context=context, **options)
    prepared = prepare_images(image, settings.model, endpoint="edits", fit=options.get("fit", "error"))
    mask, markup = options.get("mask"), options.get("markup")
    mask_file = prepare_mask(mask, (prepared[0].width, prepared[0].height)) if mask is not None else None
    markup_file = None
    if markup is not None:  # a drawing over the image: its colours matter, so it is not a mask
        markup_file = replace(prepare_image(markup, settings.model, endpoint="edits"), filename="markup.png")
    notes = list(notices)
    for item in [*prepared, mask_file, markup_file]:
        notes.extend(item.notices if item is not None else ())
    request = replace(draft, images=tuple(prepared), mask=mask_file, markup=markup_file)
    checked = _with_n(_revised(_checked([request], settings, context), settings, notes, context), count)
    notes += _said_retired(settings, context)
    keep = None
    if options.get("keep_unmasked"):
        if mask_file is None:
            raise InvalidRequest(_KEEP_NEEDS_MASK, field="keep_unmasked")
        keep = (prepared[0].data, mask_file.data)
        notes.append(
            "keep_unmasked: outside the mask, the original's pixels were pasted back here (not by the API), "
            f"with the seam softened over {KEEP_UNMASKED_FEATHER} pixels."
        )
    return Job(checked, settings, parents=[_parents(image)], notices=notes, keep=keep)


def _vary_route(
    model: str | None, size: str | None, prompt: str | None, context: PlanContext
) -> tuple[config.Settings, str | None, str | None]:
    """The settings, and how ``vary`` goes: ``(settings, None, None)`` for the variations endpoint, else the
    stated prompt of the edit it becomes and the notice that says so."""
    settings = context.settings(model=model, size=size)
    spec = get_model(settings.model)
    if "variations" in spec.endpoints and prompt is None:
        return settings, None, None
    if "edits" not in spec.endpoints:
        raise InvalidRequest(f"{spec.id} can neither vary nor edit images; use a GPT image model.", field="model")
    stated = prompt or VARIATION_PROMPT
    note = (
        f"{spec.id} has no variations endpoint, so these variations are made through edit() with a stated prompt "
        "(dalle_nb.VARIATION_PROMPT, kept on each picture as .prompt)."
        if prompt is None
        else f"variations made through edit() with your prompt: {stated!r}"
    )
    return settings, stated, note


@_hiding_keys
def check_vary(*, context: PlanContext, **options: Unpack[VaryOptions]) -> str:
    """What ``plan_vary`` checks without reading the picture (see ``check_edit``); the prompt the variations
    are made with (``""`` on the variations endpoint, which takes none)."""
    n, size, fit = options.get("n"), options.get("size"), options.get("fit", "error")
    settings, stated, _note = _vary_route(options.get("model"), size, options.get("prompt"), context)
    if stated is not None:
        check_edit(stated, model=settings.model, n=n, size=size, fit=fit, revise=False, context=context)
        return stated
    check_fit(fit)
    request = VaryRequest(model=settings.model, n=_count(n, settings), size=settings.size)
    _check_options(request, settings, context)
    return ""


@_hiding_keys
def plan_vary(image: object, *, context: PlanContext, **options: Unpack[VaryOptions]) -> Job:
    """A checked job for ``vary``: the variations endpoint where served, else an edit with a stated prompt."""
    n, size, fit = options.get("n"), options.get("size"), options.get("fit", "error")
    settings, stated, note = _vary_route(options.get("model"), size, options.get("prompt"), context)
    if stated is None:
        count = _count(n, settings)
        prepared = prepare_images(image, settings.model, endpoint="variations", fit=fit)
        request = VaryRequest(model=settings.model, n=count, size=settings.size, image=prepared[0])
        checked = _with_n(_checked([request], settings, context), count)
        notices = [*prepared[0].notices, *_said_retired(settings, context)]
        return Job(checked, settings, parents=[_parents(image)], notices=notices)
    assert note is not None
    # the stated prompt is ours, not the person's: it is sent exactly, so the variation does what it says
    job = plan_edit(
        image, stated, model=settings.model, n=n, size=size, fit=fit, notices=[note], revise=False, context=context
    )
    job.kind = "vary"  # a variation, made through edit: the gallery and the cards call it what it is
    return job


def prompt_checker(model: str, endpoint: Endpoint = "generations", *, context: PlanContext) -> Callable[[object], str]:
    """A check of one prompt exactly as ``plan_generate`` checks each of its prompts for ``model``: text that is
    valid UTF-8, the table's prompt rule, never the API key.

    ``submit`` plans its options once with ``plan_generate`` and then checks each of thousands of prompts with
    this alone (nothing else of the request changes from prompt to prompt), so planning a 10,000-line batch
    costs about as much as writing its file.
    """
    row = choices(model, endpoint, "prompt")
    most = row.high if row.high is not None else 0
    secrets = context.secrets()

    def check(prompt: object) -> str:
        # the common case, which every check below accepts: ASCII text is valid UTF-8, within the limit, not blank
        fast = isinstance(prompt, str) and type(prompt) is str and len(prompt) <= most and prompt.isascii()
        if fast and isinstance(prompt, str) and prompt.strip() and not is_secret(prompt, secrets):
            return prompt
        try:
            (text,) = _prompts(prompt if isinstance(prompt, str) else [prompt])
        except DalleError as error:
            error.hide(secrets)
            raise
        if is_secret(text, secrets):
            raise _key_refused("prompt")
        try:
            row.check(text)
            return text
        except ParamError as error:
            refused = InvalidRequest.from_param(error).hide(secrets)
        raise refused  # out here, so the ParamError (holding the prompt) is not its context

    return check


@_hiding_keys
def plan_refine(
    image: object, instruction: str, *, wants_partials: bool = False, context: PlanContext,
    **options: Unpack[RefineOptions],
) -> Job:  # fmt: skip
    """A checked job for ``refine``: the next turn of the conversation that made ``image``.

    A picture made through the Responses API is continued with ``previous_response_id``
    (the text model sees the whole conversation); any other picture is sent as an input
    image with the instruction.  Either way the new picture's parent is ``image``.
    """
    made = image if isinstance(image, GeneratedImage) else None
    if options.get("model") is None and made is not None and get_model(made.model).is_gpt:
        options["model"] = made.model  # keep refining with the model that made it
    as_edit = plan_edit(image, instruction, wants_partials=wants_partials, context=context, **options)
    as_edit.kind = "refine"
    request = as_edit.requests[0]
    if made is None or not made.response_id or not isinstance(request, ResponsesRequest):
        return as_edit
    turn = GenerateRequest(
        model=request.model, prompt=request.prompt, n=request.n, size=request.image.size,
        quality=request.image.quality, background=request.image.background,
        output_format=request.image.output_format, output_compression=request.image.output_compression,
        stream=request.image.stream, partial_images=request.image.partial_images,
    )  # fmt: skip
    (checked,) = _checked([turn], as_edit.settings, context)
    assert isinstance(checked, GenerateRequest)
    continued = ResponsesRequest(
        checked.with_n(request.n), made.text_model or as_edit.settings.text_model, made.response_id, fallback=request
    )
    return replace(as_edit, requests=[continued])


__all__ = [
    "VARIATION_PROMPT", "Job", "PlanContext", "check_edit", "check_vary", "plan_edit", "plan_generate", "plan_refine",
    "plan_vary", "prompt_checker", "retirement_notice",
]  # fmt: skip
