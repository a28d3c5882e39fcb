"""Frozen request types, their check against the capability table, and their SDK keyword arguments.

A request is built once, checked before anything is sent, and then only read: the client
fans it out, the gallery stores its parameters, and the result keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self

from .errors import InvalidRequest
from .models import Endpoint, InputImage, ParamError, Profile, check_inputs, get_model, validate

if TYPE_CHECKING:
    from .imaging import Prepared

#: Fields that are not API parameters.
_LOCAL = {"images", "image", "mask", "markup", "extra", "stream", "partial_images"}


def _info(prepared: Prepared) -> InputImage:
    from .imaging import describe

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

    def check(self, profile: Profile, *, strict_extra: bool = True) -> dict[str, Any]:
        """Validate against the table for ``profile``; ``InvalidRequest`` names the field and what is allowed.

        With ``strict_extra=False`` (a gateway that may take its own fields), unknown extra
        fields are passed through unchecked instead of refused.
        """
        api = self.api_fields()
        passthrough: dict[str, Any] = {}
        if not strict_extra:
            from .models import FILE_FIELDS, KNOWN_FIELDS

            known = KNOWN_FIELDS[self.endpoint] | FILE_FIELDS[self.endpoint]
            passthrough = {k: v for k, v in self.extra if k not in known}
            api = {k: v for k, v in api.items() if k not in passthrough}
        try:
            normalized = validate(self.endpoint, api, profile=profile)
            self._check_files()
        except ParamError as error:
            raise InvalidRequest.from_param(error) from None
        normalized.update(passthrough)
        return normalized

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

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SDK method; unknown extras travel in ``extra_body``."""
        from .models import FILE_FIELDS, KNOWN_FIELDS

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


Request = GenerateRequest | EditRequest | VaryRequest
