"""The one capability table: what each image model accepts, and the check that enforces it.

Every other part of dalle_nb (the Python API, the magics, the widgets and the offline
server) reads model facts from here, so adding or changing a model is one row in
``MODELS``.  The facts come from the official ``openai`` SDK's own docstrings (see
``docs/capabilities.md``); where the SDK says nothing for one model, the row takes the
rule the SDK states for "the GPT image models" as a group, and says so in ``notes``.

``validate`` turns the fields of a request into normalized parameters, or raises
``ParamError`` naming the field, the value and the allowed values.  It needs no network,
no image library and no SDK, so it can run before any paid request is sent.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

Endpoint = Literal["generations", "edits", "variations"]
Profile = Literal["compat", "openai"]

ENDPOINTS: tuple[Endpoint, ...] = ("generations", "edits", "variations")
PROFILES: tuple[Profile, ...] = ("compat", "openai")

#: The model dalle_nb uses when none is named: the newest GPT image model whose whole
#: contract (sizes, qualities, edit limits, markup) the SDK documents.  See README.
DEFAULT_MODEL = "gpt-image-2.5-sunburst"

#: The date of the API state this table describes.
TABLE_DATE = date(2026, 11, 22)

MB = 1024 * 1024

#: A picture inside a JSON request (the Responses API's ``input_image``, its mask, a batch line) travels as a data
#: URL of at most this many characters (OpenAPI ``ImageRefParam``).
DATA_URL_LIMIT = 20_971_520
#: The most a Responses API request body may hold (OpenAI's vision guide: 50 MB of payload per request).
RESPONSES_MAX_BYTES = 50 * MB
#: The most input images one Responses API request may hold (OpenAI's vision guide: "up to 500 individual image
#: inputs per request").
RESPONSES_MAX_IMAGES = 500
#: The most pixels one input picture may have, read from its header before it is decoded.  OpenAI states no pixel
#: limit for input images (only bytes and counts), but its models scale every input down to fit 2048x2048 and draw
#: at most 3840x2160, so an edge past 4096 adds nothing they see; the limit is what keeps one small, highly
#: compressed file (8192x8192 zeros is a 339 KB PNG) from costing a server hundreds of megabytes once decoded.
INPUT_MAX_PIXELS = 4096 * 4096
#: The most pixels all the input pictures of one request may have together (four pictures at the limit above):
#: the byte limits allow some 140 such tiny files in one 50 MB body.
INPUT_MAX_REQUEST_PIXELS = 4 * INPUT_MAX_PIXELS
STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
GPT_QUALITIES = ("low", "medium", "high", "auto")
GPT_FORMATS = ("png", "webp", "jpeg")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("low", "auto")
COMPLEXITIES = ("low", "medium", "high")
FIDELITIES = ("high", "low")
RESPONSE_FORMATS = ("url", "b64_json")
STYLES = ("vivid", "natural")
#: Formats whose support the SDK leaves to per-project preview access; no row claims them.
PREVIEW_FORMATS = ("gif", "svg")


@dataclass(frozen=True)
class ArbitrarySizeRule:
    """The SDK's ``WIDTHxHEIGHT`` rule for models that take any resolution.

    The SDK states: multiples of 16, aspect between 1:3 and 3:1, at most ``3840x2160``,
    and "the model's current pixel and edge limits" without numbers.  We read the maximum
    as a longest edge of 3840 and at most 3840*2160 pixels, and take 655,360 pixels (the
    pixel count of 1024x640) as the floor that OpenAI's image guide gives for these models.
    """

    multiple: int = 16
    max_aspect: float = 3.0
    max_edge: int = 3840
    max_pixels: int = 3840 * 2160
    min_pixels: int = 655_360
    experimental_above: int = 2560 * 1440

    def problem(self, width: int, height: int) -> str | None:
        """Why ``width x height`` breaks the rule, or None when it is fine."""
        if width % self.multiple or height % self.multiple:
            return f"width and height must both be multiples of {self.multiple}"
        if max(width, height) > self.max_aspect * min(width, height):
            return "the aspect ratio must be between 1:3 and 3:1"
        if max(width, height) > self.max_edge:
            return f"the longest edge must be at most {self.max_edge} pixels"
        if width * height > self.max_pixels:
            return "at most 3840x2160 pixels in total"
        if width * height < self.min_pixels:
            return f"at least {self.min_pixels:,} pixels in total (e.g. 1024x640)"
        return None


ARBITRARY = ArbitrarySizeRule()


@dataclass(frozen=True)
class EditLimits:
    """What the edits endpoint accepts as input images for one model."""

    formats: tuple[str, ...] = ("png", "webp", "jpeg")
    max_bytes: int = 50 * MB
    max_images: int = 16
    square_only: bool = False
    mask_max_bytes: int = 4 * MB
    #: dall-e-2 without a mask uses the image's own transparent pixels as the mask.
    alpha_is_mask: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """Everything dalle_nb knows about one model id."""

    id: str
    family: Literal["gpt-image", "dall-e"]
    endpoints: tuple[Endpoint, ...]
    sizes: Mapping[Endpoint, tuple[str, ...]]
    qualities: tuple[str, ...]
    n_max: int = 10
    auto_size: bool = False
    arbitrary_size: bool = False
    output_formats: tuple[str, ...] = ()
    backgrounds: tuple[str, ...] = ()
    compression: bool = False
    streaming: bool = False
    max_partial_images: int = 0
    revised_prompt: bool = False
    response_formats: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    moderation: tuple[str, ...] = ()
    complexity: tuple[str, ...] = ()
    input_fidelity: tuple[str, ...] = ()
    markup: bool = False
    edit: EditLimits = field(default_factory=EditLimits)
    variation: EditLimits | None = None
    max_prompt_chars: int = 32000
    retired_on: date | None = None
    replacements: tuple[str, ...] = ()
    snapshot_of: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def retired(self) -> bool:
        return self.retired_on is not None and self.retired_on <= TABLE_DATE

    @property
    def is_gpt(self) -> bool:
        return self.family == "gpt-image"

    def retirement_message(self) -> str:
        """One line naming when the model went away and what to use instead."""
        when = f"{self.retired_on:%B} {self.retired_on.day}, {self.retired_on.year}" if self.retired_on else "?"
        verb = "shut down" if self.is_gpt else "retired"
        instead = " or ".join(self.replacements) if self.replacements else "a GPT image model"
        return f"The model '{self.id}' was {verb} on {when}. Use {instead} instead."

    def size_choices(self, endpoint: Endpoint) -> tuple[str, ...]:
        """The sizes to offer a person (menus, help), ``auto`` first where allowed."""
        listed = self.sizes.get(endpoint, ())
        return (("auto",) if self.auto_size else ()) + listed


def _gpt(
    model_id: str,
    *,
    arbitrary: bool = False,
    extra_quality: bool = False,
    fidelity: tuple[str, ...] = FIDELITIES,
    markup: bool = False,
    snapshot_of: str | None = None,
    retired_on: date | None = None,
    replacements: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
) -> ModelSpec:
    """A GPT image model row: the group rules the SDK states, plus what differs."""
    return ModelSpec(
        id=model_id,
        family="gpt-image",
        endpoints=("generations", "edits"),
        sizes={"generations": STANDARD_SIZES, "edits": STANDARD_SIZES},
        qualities=("low", "medium", "high", "xhigh", "max", "auto") if extra_quality else GPT_QUALITIES,
        auto_size=True,
        arbitrary_size=arbitrary,
        output_formats=GPT_FORMATS,
        backgrounds=BACKGROUNDS,
        compression=True,
        streaming=True,
        max_partial_images=3,
        moderation=MODERATIONS,
        complexity=COMPLEXITIES,
        input_fidelity=fidelity,
        markup=markup,
        snapshot_of=snapshot_of,
        retired_on=retired_on,
        replacements=replacements,
        notes=notes,
    )


_NOT_STATED = "the SDK states no per-model limits here; the GPT image group rules apply"

MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        _gpt("gpt-image-1.5"),
        _gpt(
            "gpt-image-2",
            arbitrary=True,
            fidelity=(),
            notes=("transparent backgrounds are in preview", "input_fidelity must be omitted"),
        ),
        _gpt(
            "gpt-image-2-2026-04-21",
            arbitrary=True,
            fidelity=(),
            snapshot_of="gpt-image-2",
            notes=("transparent backgrounds are in preview", "input_fidelity must be omitted"),
        ),
        _gpt("gpt-image-2.5-sunburst", arbitrary=True, extra_quality=True, markup=True),
        _gpt(
            "gpt-image-2.5-sunburst-2026-09-08",
            arbitrary=True,
            extra_quality=True,
            markup=True,
            snapshot_of="gpt-image-2.5-sunburst",
        ),
        _gpt("gpt-image-2.5-flare", arbitrary=True, extra_quality=True, markup=True),
        _gpt(
            "gpt-image-2.5-flare-2026-09-08",
            arbitrary=True,
            extra_quality=True,
            markup=True,
            snapshot_of="gpt-image-2.5-flare",
        ),
        _gpt("gpt-image-2.6-sunburst", notes=(_NOT_STATED, "default model of the Responses image tool")),
        _gpt("gpt-image-2.6-flare", notes=(_NOT_STATED,)),
        _gpt(
            "gpt-image-1",
            retired_on=date(2026, 10, 23),
            replacements=("gpt-image-2.5-sunburst", "gpt-image-2.5-flare"),
        ),
        _gpt("gpt-image-1-mini", fidelity=("low",), notes=("input_fidelity only 'low'",)),
        _gpt("chatgpt-image-latest", notes=("an alias; follows the GPT image input constraints",)),
        ModelSpec(
            id="dall-e-2",
            family="dall-e",
            endpoints=("generations", "edits", "variations"),
            sizes={
                "generations": ("256x256", "512x512", "1024x1024"),
                "edits": ("256x256", "512x512", "1024x1024"),
                "variations": ("256x256", "512x512", "1024x1024"),
            },
            qualities=("standard",),
            response_formats=RESPONSE_FORMATS,
            edit=EditLimits(formats=("png",), max_bytes=4 * MB, max_images=1, square_only=True, alpha_is_mask=True),
            variation=EditLimits(formats=("png",), max_bytes=4 * MB, max_images=1, square_only=True),
            max_prompt_chars=1000,
            retired_on=date(2026, 5, 12),
            notes=("served by gateways, Azure and the offline 'compat' profile",),
        ),
        ModelSpec(
            id="dall-e-3",
            family="dall-e",
            endpoints=("generations",),
            sizes={"generations": ("1024x1024", "1792x1024", "1024x1792")},
            qualities=("standard", "hd"),
            n_max=1,
            revised_prompt=True,
            response_formats=RESPONSE_FORMATS,
            styles=STYLES,
            max_prompt_chars=4000,
            retired_on=date(2026, 5, 12),
            notes=("n=1 per request; dalle_nb fans larger n out into parallel requests",),
        ),
    )
}


def get_model(model_id: str) -> ModelSpec:
    """The row for ``model_id``; ``ParamError`` (with close matches) when there is none."""
    try:
        return MODELS[model_id]
    except KeyError:
        raise ParamError(
            "model",
            model_id,
            tuple(MODELS),
            f"Unknown model '{model_id}'.{_did_you_mean(model_id, MODELS)} Known models: {', '.join(MODELS)}.",
            code="model_not_found",
            status=404,
        ) from None


def current_models() -> list[ModelSpec]:
    """Models OpenAI itself still serves, newest families first (for menus)."""
    return [m for m in MODELS.values() if not m.retired and m.snapshot_of is None]


class ParamError(ValueError):
    """A request field breaks a rule of the table.

    Carries what a person needs to fix it (``field``, ``value``, ``allowed``) and what
    an OpenAI-shaped error body needs (``code``, ``status``).
    """

    def __init__(
        self,
        field: str,
        value: object,
        allowed: tuple[Any, ...] | str = (),
        message: str = "",
        *,
        code: str = "invalid_value",
        status: int = 400,
        hint: str = "",
        err_type: str = "invalid_request_error",
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.code = code
        self.status = status
        #: What a person can do, added by the library to OpenAI's own words (the server sends ``message`` alone).
        self.hint = hint
        self.err_type = err_type
        if not message:
            choices = ", ".join(f"'{a}'" for a in allowed) if isinstance(allowed, tuple) else allowed
            message = f"Invalid value for '{field}': {value!r}. Supported values are: {choices}."
        self.message = message
        super().__init__(message)


def _did_you_mean(value: str, choices: Mapping[str, object] | tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


_SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def parse_size(size: str) -> tuple[int, int]:
    """``"1536x1024"`` -> ``(1536, 1024)``; ``ValueError`` for anything else."""
    match = _SIZE_RE.match(size)
    if not match:
        raise ValueError(size)
    return int(match.group(1)), int(match.group(2))


# ---------------------------------------------------------------------------- rules as data
FieldKind = Literal["options", "integer", "flag", "size", "text"]


@dataclass(frozen=True)
class Choice:
    """What one field takes for one model on one endpoint: the menu, the default, the rule in words.

    Menus, ``%dalle help``, ``%config`` checks, the widgets and the offline server all read
    this, so no limit is written twice.  ``allowed`` lists the values to offer (for an
    integer, every value from ``low`` to ``high``); ``rule`` says in a sentence what is
    accepted beyond the list (any ``WxH`` within limits, for open sizes); ``supported`` is
    False when the model does not take the field at all, and ``why_not`` then says why.
    ``default`` is what the API uses when the field is left out (None: nothing).
    """

    field: str
    kind: FieldKind
    model: str
    endpoint: Endpoint
    allowed: tuple[Any, ...] = ()
    default: Any = None
    rule: str = ""
    supported: bool = True
    why_not: str = ""
    low: int | None = None
    high: int | None = None
    #: Values refused with their own message (``gif``: preview access) instead of "not one of".
    refusals: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The code (and error type) an unsupported field is refused with, as OpenAI answers.
    code: str = "unsupported_parameter"
    err_type: str = "invalid_request_error"
    #: What to do about an unsupported field, for a person (the offline server leaves it out, as OpenAI does).
    hint: str = ""

    def check(self, value: object) -> Any:
        """The value as the API takes it (numeric strings become numbers), or ``ParamError`` saying why not."""
        if not self.supported:
            raise ParamError(
                self.field, value, (), self.why_not, code=self.code, hint=self.hint, err_type=self.err_type
            )
        if isinstance(value, str) and value in self.refusals:
            raise ParamError(self.field, value, self.allowed, self.refusals[value], code="unsupported_value")
        if self.kind == "integer":
            assert self.low is not None and self.high is not None
            return _int(self.field, value, self.low, self.high)
        if self.kind == "flag":
            flag = _flag(self.field, value)
            if flag not in self.allowed:
                raise ParamError(self.field, flag, self.allowed, self.why_not, code="unsupported_parameter")
            return flag
        if self.kind == "size":
            return self._check_size(value)
        if self.kind == "text":
            return self._check_text(value)
        return _one_of(self.field, value, self.allowed)

    def _check_size(self, size: object) -> str:
        if isinstance(size, str) and size in self.allowed:
            return size
        if self.rule and isinstance(size, str):
            try:
                width, height = parse_size(size)
            except ValueError:
                pass
            else:
                problem = ARBITRARY.problem(width, height)
                if problem is None:
                    return size
                raise ParamError(
                    "size",
                    size,
                    self.allowed,
                    f"Invalid value for 'size': '{size}' on {self.model}: {problem}.{_nearest_sizes(size, self)}",
                )
        listed = ", ".join(f"'{s}'" for s in self.allowed)
        extra = f" or {self.rule}" if self.rule else ""
        raise ParamError(
            "size", size, self.allowed, f"Invalid value for 'size': {size!r} on {self.model}. "
            f"Supported values are: {listed}{extra}.{_nearest_sizes(size, self)}"
        )  # fmt: skip

    def _check_text(self, value: object) -> str:
        if not isinstance(value, str):
            raise ParamError(self.field, value, "a string", code="invalid_type")
        if self.field == "prompt":
            if not value.strip():
                raise ParamError("prompt", value, "a non-empty string", "The 'prompt' must be a non-empty string.")
            assert self.high is not None
            if len(value) > self.high:
                raise ParamError(
                    "prompt",
                    f"<{len(value)} characters>",
                    f"at most {self.high} characters",
                    f"The prompt is {len(value)} characters long; {self.model} takes at most {self.high}.",
                    code="string_above_max_length",
                )
        return value


def _nearest_sizes(size: object, choice: Choice) -> str:
    """For a ``WxH`` that breaks an open size rule, the closest sizes that keep it: what a person meant."""
    if not (isinstance(size, str) and choice.rule):
        return ""
    try:
        width, height = parse_size(size)
    except ValueError:
        return ""
    if not width or not height:
        return ""
    candidates = set()
    for w in (width // 16 * 16, -(-width // 16) * 16):
        for h in (height // 16 * 16, -(-height // 16) * 16):
            if w and h and ARBITRARY.problem(w, h) is None:
                candidates.add((w, h))
    if not candidates:
        return ""
    best = sorted(candidates, key=lambda wh: (abs(wh[0] - width) + abs(wh[1] - height), wh))[:2]
    return " Nearest valid: " + ", ".join(f"'{w}x{h}'" for w, h in best) + "."


def _one_of(name: str, value: object, allowed: tuple[Any, ...]) -> Any:
    if not isinstance(value, str) or value not in allowed:
        hint = _did_you_mean(value, tuple(str(a) for a in allowed)) if isinstance(value, str) else ""
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise ParamError(
            name, value, allowed, f"Invalid value for '{name}': {value!r}.{hint} Supported values are: {listed}."
        )
    return value


def _int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ParamError(name, value, f"an integer from {low} to {high}", code="invalid_type")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?\d+\s*", value):
            raise ParamError(
                name,
                value,
                f"an integer from {low} to {high}",
                f"Invalid type for '{name}': expected an integer, but got {value!r}.",
                code="invalid_type",
            )
        value = int(value)
    if not isinstance(value, int):
        raise ParamError(
            name,
            value,
            f"an integer from {low} to {high}",
            f"Invalid type for '{name}': expected an integer, but got {type(value).__name__}.",
            code="invalid_type",
        )
    if not low <= value <= high:
        raise ParamError(
            name,
            value,
            f"an integer from {low} to {high}",
            f"Invalid value for '{name}': {value}. It must be between {low} and {high}.",
            code="integer_out_of_range" if value > high else "integer_below_min_value",
        )
    return value


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ParamError(
        name, value, (True, False), f"Invalid type for '{name}': expected a boolean, but got {value!r}.",
        code="invalid_type",
    )  # fmt: skip


def _unsupported(name: str, spec: ModelSpec, endpoint: Endpoint, why: str, **more: Any) -> Choice:
    return Choice(name, "options", spec.id, endpoint, supported=False, why_not=why, **more)


# One function per field: what ``spec`` takes for it on ``endpoint``.  Adding a rule is one row here.
def _row_prompt(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    return Choice("prompt", "text", spec.id, endpoint, high=spec.max_prompt_chars,
                  rule=f"a description of the picture, up to {spec.max_prompt_chars:,} characters")  # fmt: skip


def _row_n(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    return Choice("n", "integer", spec.id, endpoint, tuple(range(1, spec.n_max + 1)), 1,
                  f"an integer from 1 to {spec.n_max}", low=1, high=spec.n_max)  # fmt: skip


def _row_size(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    rule = "any WIDTHxHEIGHT with multiples of 16, aspect 1:3 to 3:1, up to 3840x2160" if spec.arbitrary_size else ""
    default = "auto" if spec.auto_size else "1024x1024"
    return Choice("size", "size", spec.id, endpoint, spec.size_choices(endpoint), default, rule)


def _row_quality(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    qualities = spec.qualities if endpoint == "generations" or spec.is_gpt else ("standard",)
    default = "auto" if "auto" in qualities else qualities[0]
    return Choice("quality", "options", spec.id, endpoint, qualities, default)


def _row_style(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    if not spec.styles or endpoint != "generations":
        return _unsupported(
            "style", spec, endpoint, f"'style' is not supported by {spec.id}: only dall-e-3 generations take a style."
        )
    return Choice("style", "options", spec.id, endpoint, spec.styles, spec.styles[0])


def _row_response_format(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    if not spec.response_formats:
        return _unsupported(
            "response_format", spec, endpoint, "Unknown parameter: 'response_format'.", code="unknown_parameter",
            hint=f"{spec.id} always returns base64 (b64_json); leave response_format out.",
        )  # fmt: skip
    return Choice("response_format", "options", spec.id, endpoint, spec.response_formats, "url")


def _gpt_only(name: str, default: str | None, why: str) -> Callable[[ModelSpec, Endpoint], Choice]:
    """A field whose allowed values are the model row's attribute of the same name (empty: unsupported)."""

    def row(spec: ModelSpec, endpoint: Endpoint) -> Choice:
        allowed: tuple[str, ...] = getattr(spec, name)
        if not allowed:
            return _unsupported(name, spec, endpoint, f"'{name}' is not supported by {spec.id}: {why}")
        return Choice(name, "options", spec.id, endpoint, allowed, default if default in allowed else None)

    return row


def _row_input_fidelity(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    if not spec.input_fidelity:
        why = "omit input_fidelity for this model." if spec.is_gpt else "input_fidelity applies to GPT image models."
        return _unsupported(
            "input_fidelity", spec, endpoint, f"input_fidelity is not supported for {spec.id}.",
            code="invalid_input_fidelity_model", err_type="image_generation_user_error", hint=why,
        )  # fmt: skip
    return Choice("input_fidelity", "options", spec.id, endpoint, spec.input_fidelity, "low")


_PREVIEW = (
    "output_format '{value}' needs preview access for the selected model, which no model in dalle_nb's table has. "
    "Supported values are: {listed}."
)


def _row_output_format(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    listed = ", ".join(spec.output_formats) or "png"
    refusals = {fmt: _PREVIEW.format(value=fmt, listed=listed) for fmt in PREVIEW_FORMATS}
    if not spec.output_formats:
        return _unsupported(
            "output_format", spec, endpoint, f"'output_format' is not supported by {spec.id}: it always returns PNG.",
            refusals=refusals,
        )  # fmt: skip
    return Choice("output_format", "options", spec.id, endpoint, spec.output_formats, "png", refusals=refusals)


def _row_background(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    if not spec.backgrounds:
        return _unsupported(
            "background", spec, endpoint, f"'background' is not supported by {spec.id}: it has no background option."
        )
    return Choice("background", "options", spec.id, endpoint, spec.backgrounds, "auto",
                  "transparent needs output_format png or webp")  # fmt: skip


def _row_output_compression(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    if not spec.compression:
        return _unsupported(
            "output_compression", spec, endpoint, f"'output_compression' is not supported by {spec.id}."
        )
    return Choice("output_compression", "integer", spec.id, endpoint, (), 100,
                  "an integer from 0 to 100, below 100 only for webp or jpeg", low=0, high=100)  # fmt: skip


def _row_stream(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    allowed = (False, True) if spec.streaming else (False,)
    return Choice("stream", "flag", spec.id, endpoint, allowed, False,
                  why_not=f"Streaming is only supported for the GPT image models, not {spec.id}.")  # fmt: skip


def _row_partial_images(spec: ModelSpec, endpoint: Endpoint) -> Choice:
    if not spec.streaming:
        return _unsupported(
            "partial_images", spec, endpoint,
            f"'partial_images' is only supported for the GPT image models, not {spec.id}.",
        )  # fmt: skip
    high = spec.max_partial_images
    return Choice("partial_images", "integer", spec.id, endpoint, tuple(range(high + 1)), 0,
                  f"an integer from 0 to {high}, with stream", low=0, high=high)  # fmt: skip


def _row_text(name: str) -> Callable[[ModelSpec, Endpoint], Choice]:
    def row(spec: ModelSpec, endpoint: Endpoint) -> Choice:
        return Choice(name, "text", spec.id, endpoint, rule="any string")

    return row


def _row_gif_only(name: str) -> Callable[[ModelSpec, Endpoint], Choice]:
    def row(spec: ModelSpec, endpoint: Endpoint) -> Choice:
        return _unsupported(name, spec, endpoint, f"'{name}' is only supported with output_format gif or svg.")

    return row


#: Every field a request may carry, in the order they are checked (the first broken one is named).
FIELDS: dict[str, Callable[[ModelSpec, Endpoint], Choice]] = {
    "prompt": _row_prompt,
    "n": _row_n,
    "size": _row_size,
    "quality": _row_quality,
    "style": _row_style,
    "response_format": _row_response_format,
    "moderation": _gpt_only("moderation", "auto", "moderation applies to GPT image models."),
    "complexity": _gpt_only("complexity", None, "complexity applies to GPT image models."),
    "input_fidelity": _row_input_fidelity,
    "user": _row_text("user"),
    "safety_identifier": _row_text("safety_identifier"),
    "frame_count": _row_gif_only("frame_count"),
    "frame_duration_ms": _row_gif_only("frame_duration_ms"),
    "svg": _row_gif_only("svg"),
    "output_format": _row_output_format,
    "background": _row_background,
    "output_compression": _row_output_compression,
    "stream": _row_stream,
    "partial_images": _row_partial_images,
}

#: Fields generations and edits share (the SDK's own parameter names).
_IMAGE_FIELDS = frozenset(
    {
        "prompt", "model", "n", "size", "quality", "background", "output_format", "output_compression", "stream",
        "partial_images", "response_format", "user", "safety_identifier", "complexity", "frame_count",
        "frame_duration_ms", "svg",
    }
)  # fmt: skip
#: Fields each endpoint takes besides files.  Anything else is an unknown parameter.
KNOWN_FIELDS: dict[Endpoint, frozenset[str]] = {
    "generations": _IMAGE_FIELDS | {"moderation", "style"},
    "edits": _IMAGE_FIELDS | {"input_fidelity"},
    "variations": frozenset({"model", "n", "size", "response_format", "user"}),
}
FILE_FIELDS: dict[Endpoint, frozenset[str]] = {
    "generations": frozenset(),
    "edits": frozenset({"image", "image[]", "mask", "markup"}),
    "variations": frozenset({"image"}),
}


def choices(model: str, endpoint: Endpoint, field_name: str) -> Choice:
    """What ``model`` takes for ``field_name`` on ``endpoint``: ``.allowed``, ``.default``, ``.rule``.

    >>> choices("dall-e-3", "generations", "size").allowed
    ('1024x1024', '1792x1024', '1024x1792')

    A field the endpoint does not know is a ``Choice`` with ``supported=False``; an unknown
    model raises ``ParamError`` with the closest match.
    """
    spec = get_model(model)
    if field_name == "model":
        serving = tuple(m.id for m in MODELS.values() if endpoint in m.endpoints)
        return Choice("model", "options", spec.id, endpoint, serving, DEFAULT_MODEL)
    if field_name not in KNOWN_FIELDS[endpoint] or field_name not in FIELDS:
        return _unsupported(field_name, spec, endpoint, f"Unknown parameter: '{field_name}'.", code="unknown_parameter")
    return FIELDS[field_name](spec, endpoint)


def _filled(spec: ModelSpec, endpoint: Endpoint) -> tuple[str, ...]:
    """The fields whose default the API echoes back when they are left out, and so does ``validate``."""
    names = ["n", "size"]
    if endpoint != "variations":
        names.append("quality")
    if not spec.is_gpt:
        names.append("response_format")
        if spec.styles and endpoint == "generations":
            names.append("style")
    elif endpoint != "variations":
        names += ["output_format", "background", "output_compression"]
    return tuple(names)


def _cross_field(out: dict[str, Any], params: Mapping[str, Any]) -> None:
    """The rules that join two fields: formats that cannot carry alpha, lossless PNG, partial pictures."""
    if out.get("background") == "transparent" and out.get("output_format") == "jpeg":
        raise ParamError(
            "background",
            "transparent",
            ("png", "webp"),
            "A transparent background needs output_format 'png' or 'webp', not 'jpeg'.",
            code="unsupported_value",
        )
    compression = out.get("output_compression")
    if (
        "output_compression" in params
        and compression is not None
        and compression < 100
        and out.get("output_format") == "png"
    ):
        raise ParamError(
            "output_compression",
            params["output_compression"],
            ("webp", "jpeg"),
            "output_compression below 100 needs output_format 'webp' or 'jpeg'; PNG is lossless.",
            code="unsupported_value",
        )
    if out["stream"] and "partial_images" not in out:
        out["partial_images"] = 0


def validate(
    endpoint: Endpoint,
    params: Mapping[str, Any],
    *,
    profile: Profile = "compat",
    default_model: str | None = None,
) -> dict[str, Any]:
    """Check one request against the table and return its effective parameters.

    ``params`` holds the request's non-file fields, as JSON values or as the strings a
    multipart form carries.  ``profile="openai"`` answers as OpenAI does today (retired
    models and the variations endpoint refused); ``"compat"`` serves them, like the
    gateways in the seed documents.  Each field is checked by its row (``choices``), then
    the few rules that join fields; the result has ``model``, ``n``, ``size``, ``quality``
    and, for each field the model supports, its effective value, with numbers as numbers.
    Raises ``ParamError`` for the first field that breaks a rule.
    """
    unknown = sorted(set(params) - KNOWN_FIELDS[endpoint] - FILE_FIELDS[endpoint])
    if unknown:
        raise ParamError(
            unknown[0],
            params[unknown[0]],
            tuple(sorted(KNOWN_FIELDS[endpoint])),
            f"Unknown parameter: '{unknown[0]}'.",
            code="unknown_parameter",
        )
    if endpoint == "variations" and profile == "openai":
        raise ParamError(
            "model",
            params.get("model"),
            (),
            "The image variations endpoint is retired and no longer accepts requests. "
            "Use the image edits endpoint with a GPT image model and a prompt to create a variation.",
            code="endpoint_retired",
            status=404,
        )
    spec = _resolve_model(endpoint, params.get("model"), profile, default_model, params)
    out: dict[str, Any] = {"model": spec.id}
    if endpoint != "variations" and params.get("prompt") is None:
        raise ParamError(
            "prompt", None, "a non-empty string", "The 'prompt' must be a non-empty string.",
            code="missing_required_parameter",
        )  # fmt: skip
    filled = _filled(spec, endpoint)
    for name, row in FIELDS.items():
        if name not in KNOWN_FIELDS[endpoint]:
            continue
        value = params.get(name)
        if value is not None:
            out[name] = row(spec, endpoint).check(value)
        elif name in filled:
            out[name] = row(spec, endpoint).default
    out["stream"] = out.get("stream", False)
    _cross_field(out, params)
    return out


#: The model a request that names none gets, per profile (OpenAI's API reference, then and now).  ``openai`` is
#: today's API: dall-e-2 for generations unless a parameter only GPT image models take is present, gpt-image-1.5
#: for edits.  ``compat`` is the API the seed documents and 2023-era clients know, where an edit without a model is
#: dall-e-2 (``response_format="url"``, ``256x256``) under the same rule as generations, so those clients still work.
OMITTED_MODEL: dict[Profile, dict[Endpoint, str]] = {
    "openai": {"generations": "dall-e-2", "edits": "gpt-image-1.5", "variations": "dall-e-2"},
    "compat": {"generations": "dall-e-2", "edits": "dall-e-2", "variations": "dall-e-2"},
}
OMITTED_GPT_MODEL = "gpt-image-1.5"
_GPT_ONLY_FIELDS = ("background", "output_format", "output_compression", "moderation", "partial_images", "stream",
                    "input_fidelity", "complexity")  # fmt: skip


def _omitted_model(endpoint: Endpoint, params: Mapping[str, Any], profile: Profile) -> str:
    """The model OpenAI picks for a request without one: a GPT image model as soon as anything asks for one.

    The rule ("dall-e-2 unless a parameter specific to GPT image models is used") applies wherever the profile's
    default is dall-e-2 for an endpoint GPT image models also serve; variations have only dall-e-2.
    """
    default = OMITTED_MODEL[profile][endpoint]
    if endpoint == "variations" or MODELS[default].is_gpt:
        return default
    legacy = MODELS[default]
    if any(params.get(name) not in (None, False, "false") for name in _GPT_ONLY_FIELDS):
        return OMITTED_GPT_MODEL
    quality, size = params.get("quality"), params.get("size")
    if quality is not None and quality not in legacy.qualities:
        return OMITTED_GPT_MODEL
    if size is not None and size not in legacy.size_choices(endpoint):
        return OMITTED_GPT_MODEL
    return default


def _resolve_model(
    endpoint: Endpoint, model_id: object, profile: Profile, default_model: str | None, params: Mapping[str, Any]
) -> ModelSpec:
    if model_id is None:
        model_id = default_model or _omitted_model(endpoint, params, profile)
    if not isinstance(model_id, str):
        raise ParamError("model", model_id, tuple(MODELS), code="invalid_type")
    spec = get_model(model_id)
    if spec.retired and profile == "openai":
        raise ParamError(
            "model", model_id, spec.replacements, spec.retirement_message(), code="model_retired", status=404
        )
    if endpoint not in spec.endpoints:
        serving = [m.id for m in MODELS.values() if endpoint in m.endpoints]
        raise ParamError(
            "model",
            model_id,
            tuple(serving),
            f"The model '{model_id}' does not support the {endpoint} endpoint. Models that do: {', '.join(serving)}.",
        )
    return spec


@dataclass(frozen=True)
class InputImage:
    """What the rules need to know about one uploaded file, measured by the caller."""

    format: str  # "png", "jpeg", "webp", "gif", ... as sniffed from the bytes
    width: int
    height: int
    nbytes: int
    has_alpha: bool = False
    has_transparent_pixels: bool = False


def check_inputs(
    spec: ModelSpec,
    endpoint: Endpoint,
    images: list[InputImage],
    mask: InputImage | None = None,
    markup: InputImage | None = None,
) -> None:
    """Check uploaded files against the model's edit or variation limits.

    Raises ``ParamError`` (status 413 for files over the byte limit) naming the file.
    """
    limits = spec.variation if endpoint == "variations" else spec.edit
    if limits is None:
        raise ParamError("model", spec.id, (), f"The model '{spec.id}' does not take input images.")
    field_name = "image"
    if not images:
        raise ParamError(
            field_name, None, "an image file", "An 'image' file is required.", code="missing_required_parameter"
        )
    if len(images) > limits.max_images:
        raise ParamError(
            field_name,
            f"{len(images)} images",
            f"at most {limits.max_images}",
            f"{spec.id} takes at most {limits.max_images} input image(s); got {len(images)}.",
        )
    for index, image in enumerate(images):
        label = field_name if len(images) == 1 else f"image[{index}]"
        if image.format not in limits.formats:
            raise ParamError(
                label,
                image.format,
                limits.formats,
                f"Invalid file format for {label}: '{image.format}'. {spec.id} accepts: {', '.join(limits.formats)}.",
                code="invalid_image_format",
            )
        if image.nbytes >= limits.max_bytes:
            raise ParamError(
                label,
                f"{image.nbytes} bytes",
                f"less than {limits.max_bytes // MB} MB",
                f"{label} is {image.nbytes / MB:.1f} MB; {spec.id} takes files under {limits.max_bytes // MB} MB.",
                code="image_file_too_large",
                status=413,
            )
        if limits.square_only and image.width != image.height:
            raise ParamError(
                label,
                f"{image.width}x{image.height}",
                "a square image",
                f"{label} is {image.width}x{image.height}; {spec.id} needs a square image.",
                code="invalid_image_dimensions",
            )
    first = images[0]
    if mask is not None and markup is not None:
        raise ParamError(
            "markup",
            "markup",
            (),
            "markup cannot be combined with mask; send one of them.",
            code="unsupported_parameter",
        )
    if mask is not None:
        if mask.format != "png":
            raise ParamError(
                "mask",
                mask.format,
                ("png",),
                f"The mask must be a PNG file, not '{mask.format}'.",
                code="invalid_image_format",
            )
        if mask.nbytes >= limits.mask_max_bytes:
            raise ParamError(
                "mask",
                f"{mask.nbytes} bytes",
                "less than 4 MB",
                f"The mask is {mask.nbytes / MB:.1f} MB; it must be under 4 MB.",
                code="image_file_too_large",
                status=413,
            )
        if (mask.width, mask.height) != (first.width, first.height):
            raise ParamError(
                "mask",
                f"{mask.width}x{mask.height}",
                f"{first.width}x{first.height}",
                f"The mask is {mask.width}x{mask.height} but the image is {first.width}x{first.height}; "
                "they must have the same dimensions.",
                code="invalid_image_dimensions",
            )
        if not mask.has_alpha:
            raise ParamError(
                "mask",
                "no alpha channel",
                "an RGBA PNG",
                "The mask needs an alpha channel: fully transparent pixels mark where to edit.",
                code="invalid_image_mode",
            )
    elif limits.alpha_is_mask and not first.has_transparent_pixels and endpoint == "edits":
        raise ParamError(
            "mask",
            None,
            "an RGBA PNG",
            f"{spec.id} needs a mask, or an image with transparent pixels to use as one.",
            code="missing_required_parameter",
        )
    if markup is not None:
        if not spec.markup:
            markup_models = [m.id for m in MODELS.values() if m.markup]
            raise ParamError(
                "markup",
                "markup",
                tuple(markup_models),
                f"'markup' is not supported by {spec.id}; it needs one of: {', '.join(markup_models)}.",
                code="unsupported_parameter",
            )
        if markup.format != "png" or not markup.has_transparent_pixels:
            raise ParamError(
                "markup",
                markup.format,
                ("png",),
                "markup must be a PNG with transparent pixels.",
                code="invalid_image_format",
            )
        if (markup.width, markup.height) != (first.width, first.height):
            raise ParamError(
                "markup",
                f"{markup.width}x{markup.height}",
                f"{first.width}x{first.height}",
                "markup must have the same dimensions as the first image.",
                code="invalid_image_dimensions",
            )


def resolve_size(
    spec: ModelSpec, size: str, endpoint: Endpoint, source: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Pixel dimensions for an accepted ``size``; ``auto`` follows the input's shape."""
    if size != "auto":
        return parse_size(size)
    if source is not None:
        width, height = source
        if width > height * 1.2:
            return parse_size(STANDARD_SIZES[1])
        if height > width * 1.2:
            return parse_size(STANDARD_SIZES[2])
    return parse_size(spec.sizes.get(endpoint, STANDARD_SIZES)[0] if not spec.is_gpt else STANDARD_SIZES[0])
