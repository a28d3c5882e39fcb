"""Frozen request types, their check against the capability table, and their SDK keyword arguments.

A request is built once, checked before anything is sent, and then only read: the client
fans it out, the gallery stores its parameters, and the result keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

from .capabilities import (
    FILE_FIELDS,
    KNOWN_FIELDS,
    Endpoint,
    InputImage,
    ParamError,
    Profile,
    check_inputs,
    get_model,
    validate,
)
from .errors import InvalidRequest
from .imaging import data_url, describe

if TYPE_CHECKING:
    from .imaging import Prepared

#: What ``vary`` asks a GPT image model, which has no variations endpoint, through ``edit``.
VARIATION_PROMPT = (
    "Create a variation of this image: keep its subject, composition and colour palette, and change the details."
)

#: Fields that are not API parameters.
_LOCAL = {"images", "image", "mask", "markup", "extra", "stream", "partial_images"}


def _info(prepared: Prepared) -> InputImage:
    return describe(prepared.data)


@dataclass(frozen=True)
class _Request:
    endpoint: ClassVar[Endpoint]
    kind: ClassVar[str]

    model: str
    n: int = 1
    size: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    def api_fields(self) -> dict[str, Any]:
        """The non-file fields to send, without the ones left unset."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _LOCAL}
        out = {k: v for k, v in out.items() if v is not None}
        stream = getattr(self, "stream", False)
        if stream is not False and stream is not None:
            out["stream"] = stream  # as given: the table turns "true" into True and refuses "no"
            partial = getattr(self, "partial_images", None)
            if partial is not None:
                out["partial_images"] = partial
        out.update(self.extra)
        return out

    def check(self, profile: Profile, *, strict_extra: bool = True, files: bool = True) -> dict[str, Any]:
        """Validate against the table for ``profile``; ``InvalidRequest`` names the field and what is allowed.

        With ``strict_extra=False`` (a gateway that may take its own fields), unknown extra
        fields are passed through unchecked instead of refused.  ``files=False`` checks the
        options alone, before the pictures are prepared.
        """
        api = self.api_fields()
        passthrough: dict[str, Any] = {}
        if not strict_extra:
            known = KNOWN_FIELDS[self.endpoint] | FILE_FIELDS[self.endpoint]
            passthrough = {k: v for k, v in self.extra if k not in known}
            api = {k: v for k, v in api.items() if k not in passthrough}
        try:
            normalized = validate(self.endpoint, api, profile=profile)
            if files:
                self._check_files()
            normalized.update(passthrough)
            return normalized
        except ParamError as error:
            refused = InvalidRequest.from_param(error)
        raise refused  # out here, so the ParamError (holding the value) is not its context

    def _check_files(self) -> None:
        pass

    def normalized(self, values: dict[str, Any]) -> Self:
        """This request with the values it set replaced by the checked ones (``"50"`` -> 50, ``"true"`` -> True).

        Fields left unset stay unset, so what is sent stays what the user asked for.
        """
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("extra", "images", "image", "mask", "markup"):
                continue
            value = getattr(self, f.name)
            if f.name == "stream":
                changes["stream"] = bool(values.get("stream", False))
            elif value is not None and f.name in values:
                changes[f.name] = values[f.name]
        extra = tuple((k, values.get(k, v)) for k, v in self.extra)
        return replace(self, **changes, extra=extra)

    def params(self) -> dict[str, Any]:
        """What the gallery stores: the API fields as sent (files described, not embedded)."""
        return self.api_fields()

    def with_n(self, n: int) -> Self:
        return replace(self, n=n)

    @property
    def per_call(self) -> int:
        """The most pictures one SDK call may ask for; the client fans larger ``n`` out."""
        return get_model(self.model).n_max

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SDK method; unknown extras travel in ``extra_body``."""
        api = self.api_fields()
        known = KNOWN_FIELDS[self.endpoint] | FILE_FIELDS[self.endpoint]
        kwargs = {k: v for k, v in api.items() if k in known}
        extra_body = {k: v for k, v in api.items() if k not in known}
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs


@dataclass(frozen=True)
class GenerateRequest(_Request):
    """``images.generate``: a prompt and how the picture should come back."""

    endpoint: ClassVar[Endpoint] = "generations"
    kind: ClassVar[str] = "generate"

    prompt: str = ""
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    style: str | None = None
    stream: bool = False
    partial_images: int | None = None


@dataclass(frozen=True)
class EditRequest(_Request):
    """``images.edit``: one or more input images, an optional mask or markup, and a prompt."""

    endpoint: ClassVar[Endpoint] = "edits"
    kind: ClassVar[str] = "edit"

    prompt: str = ""
    images: tuple[Prepared, ...] = ()
    mask: Prepared | None = None
    markup: Prepared | None = None
    input_fidelity: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    stream: bool = False
    partial_images: int | None = None

    def _check_files(self) -> None:
        check_inputs(
            get_model(self.model),
            "edits",
            [_info(p) for p in self.images],
            _info(self.mask) if self.mask else None,
            _info(self.markup) if self.markup else None,
        )

    def sdk_kwargs(self) -> dict[str, Any]:
        kwargs = super().sdk_kwargs()
        files = [p.as_file() for p in self.images]
        kwargs["image"] = files[0] if len(files) == 1 else files
        if self.mask is not None:
            kwargs["mask"] = self.mask.as_file()
        if self.markup is not None:
            kwargs["markup"] = self.markup.as_file()
        return kwargs

    def params(self) -> dict[str, Any]:
        out = self.api_fields()
        out["images"] = [f"{p.width}x{p.height} {p.content_type}" for p in self.images]
        if self.mask is not None:
            out["mask"] = f"{self.mask.width}x{self.mask.height}"
        if self.markup is not None:
            out["markup"] = f"{self.markup.width}x{self.markup.height}"
        return out


@dataclass(frozen=True)
class VaryRequest(_Request):
    """``images.create_variation`` (legacy): one square image, no prompt."""

    endpoint: ClassVar[Endpoint] = "variations"
    kind: ClassVar[str] = "vary"

    image: Prepared | None = None

    @property
    def prompt(self) -> str:
        return ""

    def _check_files(self) -> None:
        check_inputs(get_model(self.model), "variations", [_info(self.image)] if self.image else [])

    def sdk_kwargs(self) -> dict[str, Any]:
        kwargs = super().sdk_kwargs()
        assert self.image is not None
        kwargs["image"] = self.image.as_file()
        return kwargs

    def params(self) -> dict[str, Any]:
        out = self.api_fields()
        if self.image is not None:
            out["image"] = f"{self.image.width}x{self.image.height} {self.image.content_type}"
        return out


#: The fields of an image request that the Responses API's image tool takes (it has no ``n``, ``style``,
#: ``markup`` or ``response_format``).
TOOL_FIELDS = (
    "size", "quality", "background", "output_format", "output_compression", "moderation", "input_fidelity",
)  # fmt: skip


@dataclass(frozen=True)
class ResponsesRequest:
    """One picture made through the Responses API's ``image_generation`` tool.

    A text model reads the prompt, rewrites it (the revised prompt) and calls the image
    model with the fields of ``image``, the Images API request this stands for: it is checked
    against the capability table as that request, so the same values are refused the same
    way.  ``previous_response_id`` continues a conversation (a refinement); ``fallback`` is
    what to send instead when the server no longer has that response.
    """

    image: GenerateRequest | EditRequest
    text_model: str
    previous_response_id: str | None = None
    fallback: ResponsesRequest | None = None

    @property
    def kind(self) -> str:
        return self.image.kind

    @property
    def endpoint(self) -> Endpoint:
        return self.image.endpoint

    @property
    def model(self) -> str:
        return self.image.model

    @property
    def n(self) -> int:
        return self.image.n

    @property
    def prompt(self) -> str:
        return self.image.prompt

    @property
    def stream(self) -> bool:
        return bool(self.image.stream)

    @property
    def per_call(self) -> int:
        return 1  # the tool makes one picture per call: n becomes parallel calls

    def with_n(self, n: int) -> ResponsesRequest:
        fallback = self.fallback.with_n(n) if self.fallback is not None else None
        return replace(self, image=self.image.with_n(n), fallback=fallback)

    def check(self, profile: Profile, *, strict_extra: bool = True, files: bool = True) -> dict[str, Any]:
        return self.image.check(profile, strict_extra=strict_extra, files=files)

    def normalized(self, values: dict[str, Any]) -> ResponsesRequest:
        return replace(self, image=self.image.normalized(values))

    def api_fields(self) -> dict[str, Any]:
        return self.image.api_fields()

    def params(self) -> dict[str, Any]:
        """What the gallery stores: the image fields as the tool received them, and the text model."""
        out = self.image.params()
        out.pop("n", None)
        out.update(text_model=self.text_model, api="responses")
        if self.previous_response_id:
            out["previous_response_id"] = self.previous_response_id
        return out

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``client.responses.create``, forcing the image tool."""
        tool: dict[str, Any] = {"type": "image_generation", "model": self.image.model}
        for name in TOOL_FIELDS:
            value = getattr(self.image, name, None)
            if value is not None:
                tool[name] = value
        if self.image.stream and self.image.partial_images is not None:
            tool["partial_images"] = self.image.partial_images
        request_input: Any = self.image.prompt
        if isinstance(self.image, EditRequest):
            parts: list[dict[str, Any]] = [{"type": "input_text", "text": self.image.prompt}]
            parts += [{"type": "input_image", "image_url": data_url(p), "detail": "auto"} for p in self.image.images]
            request_input = [{"role": "user", "content": parts}]
            tool["action"] = "edit"
            if self.image.mask is not None:
                tool["input_image_mask"] = {"image_url": data_url(self.image.mask)}
        kwargs: dict[str, Any] = {
            "model": self.text_model,
            "input": request_input,
            "tools": [tool],
            "tool_choice": {"type": "image_generation"},
        }
        if self.previous_response_id:
            kwargs["previous_response_id"] = self.previous_response_id
        if self.image.stream:
            kwargs["stream"] = True
        return kwargs


Request = GenerateRequest | EditRequest | VaryRequest | ResponsesRequest
