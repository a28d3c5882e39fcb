"""The options of each call, declared once: ``TypedDict``s that the API, its async twins, planning and ``submit``
all take as ``**options: Unpack[...]``.

A new API field is one line here (and its row in the capability table): every signature that takes the set sees
it, a type checker checks it at every call, and ``help()`` lists it (``shows_options``).  The sets are built
from small pieces, so each name is written once:

- ``ModelOptions``: model, ``n``, size; what every call takes, a variation's too.
- ``RequestOptions``: and how the picture comes back; what every request made from a prompt takes, a batch
  line's too.
- ``LiveOptions``: streaming and prompt revising, for a call that is followed as it runs (not a batch).
- ``GenerationOptions``, ``MaskOptions``: what only generations, only edits take.
- ``ApiFields``: fields of the API that dalle_nb only passes on (checked by the capability table like the rest).

At run time an option that is not declared is not lost: ``generate``, ``edit`` and ``submit`` send it as an extra
API field, which the capability table refuses with a "did you mean" unless the backend takes its own fields.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ForwardRef, TypedDict, TypeVar

from .imaging import Fit


class ModelOptions(TypedDict, total=False):
    """Which model, how many pictures, what size: what every call takes."""

    model: str | None
    n: int | None
    size: str | None


class RequestOptions(ModelOptions, total=False):
    """What every request made from a prompt takes (an interactive call's and a batch line's alike)."""

    quality: str | None
    background: str | None
    output_format: str | None
    output_compression: int | None


class LiveOptions(TypedDict, total=False):
    """What a call followed as it runs takes: streamed partial pictures, and the prompt revised or sent as written.
    A batch has neither (``submit`` refuses them, saying why)."""

    stream: bool
    partial_images: int | None
    revise: bool | None


class GenerationOptions(TypedDict, total=False):
    """What only the generations endpoint takes."""

    moderation: str | None
    style: str | None


class ApiFields(TypedDict, total=False):
    """Fields of the Images API that dalle_nb does not use, only passes on (declared so typed callers may pass
    them; the capability table checks them as the rest)."""

    response_format: str | None
    user: str | None
    safety_identifier: str | None


class FitOption(TypedDict, total=False):
    """How a picture the model cannot take as it is is made to fit: ``"error"``, ``"crop"`` or ``"pad"``."""

    fit: Fit


class PictureOptions(RequestOptions, LiveOptions, total=False):
    """What every picture-making call takes: ``generate``, ``edit``, ``refine``."""


class GenerateOptions(PictureOptions, GenerationOptions, ApiFields, total=False):
    """The options of ``generate`` and ``agenerate``."""


class MaskOptions(TypedDict, total=False):
    """What only edits take: where to edit (``mask``) or a drawing over the picture (``markup``), how closely to
    follow the input, and whether to paste the original back outside the mask."""

    mask: object
    markup: object
    input_fidelity: str | None
    keep_unmasked: bool


class EditOptions(MaskOptions, PictureOptions, FitOption, ApiFields, total=False):
    """The options of ``edit`` and ``aedit``."""


class RefineOptions(PictureOptions, FitOption, total=False):
    """The options of ``refine`` and ``arefine``."""


class VaryOptions(ModelOptions, FitOption, total=False):
    """The options of ``vary`` and ``avary``: ``prompt`` makes the variation through ``edit`` with it."""

    prompt: str | None


class BatchOptions(RequestOptions, GenerationOptions, ApiFields, total=False):
    """The options of ``submit``, for every line of the list (a dict item overrides them for its line)."""


#: The defaults that are not None, as the signatures show them (planning falls back to the same values); every
#: other option's default is None: the settings, the model or the API decide.
DEFAULTS: Mapping[str, object] = {"stream": False, "fit": "error", "keep_unmasked": False}

T = TypeVar("T", bound=Mapping[str, object])
F = TypeVar("F", bound=Callable[..., Any])


def names(declared: type) -> frozenset[str]:
    """The option names of a set (a ``TypedDict`` built from the pieces above)."""
    return frozenset(declared.__annotations__)


def split(options: T, declared: type[T]) -> tuple[T, dict[str, Any]]:
    """``options`` as the declared ones and the rest, which a call that passes them on sends as extra API fields."""
    known = names(declared)
    ours = {name: value for name, value in options.items() if name in known}
    extra = {name: value for name, value in options.items() if name not in known}
    return ours, extra  # type: ignore[return-value]  # the declared keys of a T are a T


def only_declared(options: Mapping[str, object], declared: type, function: str) -> None:
    """Refuse an undeclared option as Python refuses an unknown keyword: for a call that passes none on."""
    known = names(declared)
    for name in options:
        if name not in known:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")


def passed_on(options: Mapping[str, object]) -> dict[str, Any]:
    """The ``ApiFields`` among ``options``, in the order given: what planning sends as they are."""
    fields = names(ApiFields)
    return {name: value for name, value in options.items() if name in fields}


def shows_options(declared: type, *, extra: bool = False) -> Callable[[F], F]:
    """Make ``help()`` and ``inspect.signature`` list each option of ``declared`` as a keyword-only parameter.

    A function that takes ``**options: Unpack[GenerateOptions]`` shows only that in ``help()``; this sets its
    ``__signature__`` with the options in place of ``**options`` (before its own keyword-only parameters), each
    with the type written here and its default (``DEFAULTS``, else None).  ``extra=True`` (a call that passes
    undeclared options on as API fields) ends the signature with ``**extra``.  Only what is shown changes.
    """

    def show(function: F) -> F:
        signature = inspect.signature(function)
        *own, rest = signature.parameters.values()
        assert rest.kind is inspect.Parameter.VAR_KEYWORD, f"{function.__name__} takes no **options"
        shown = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=DEFAULTS.get(name),
                annotation=kind.__forward_arg__ if isinstance(kind, ForwardRef) else kind,
            )
            for name, kind in declared.__annotations__.items()
        ]
        first = next((i for i, p in enumerate(own) if p.kind is inspect.Parameter.KEYWORD_ONLY), len(own))
        tail = [inspect.Parameter("extra", inspect.Parameter.VAR_KEYWORD, annotation="Any")] if extra else []
        function.__signature__ = signature.replace(parameters=[*own[:first], *shown, *own[first:], *tail])  # type: ignore[attr-defined]
        return function

    return show


__all__ = [
    "DEFAULTS", "ApiFields", "BatchOptions", "EditOptions", "FitOption", "GenerateOptions", "GenerationOptions",
    "LiveOptions", "MaskOptions", "ModelOptions", "PictureOptions", "RefineOptions", "RequestOptions",
    "VaryOptions", "names", "only_declared", "passed_on", "shows_options", "split",
]  # fmt: skip
