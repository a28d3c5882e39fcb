"""The JSON types of ``POST /v1/responses``'s fields, checked as OpenAI checks them.

The SDK types these fields (``ResponseCreateParams``, the ``ImageGeneration`` tool), and OpenAI answers a value of
the wrong type with a 400 that names the field.  Without these checks the offline server echoed ``metadata: "x"``
or ``temperature: "hot"`` back with a 200, so code that would fail against OpenAI passed offline.  Whether a value
is allowed for the chosen image model is the capability table's business; this module checks only the shape of the
JSON (a string, an integer, an object of strings) and the documented bounds, in OpenAI's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .http import APIFailure

#: ``metadata``: "Set of 16 key-value pairs ... Keys are strings with a maximum length of 64 characters. Values are
#: strings with a maximum length of 512 characters."
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512

#: Top-level fields by JSON type (``response_create_params.py``), with the bounds OpenAI documents for numbers.
_STRINGS = ("user", "safety_identifier", "prompt_cache_key")
_BOOLEANS = ("background", "parallel_tool_calls")
_OBJECTS = ("reasoning", "text", "stream_options", "background_options", "access_programs", "prompt_cache_options")
#: name -> (low, high); None for no bound.
_NUMBERS: dict[str, tuple[float | None, float | None]] = {"temperature": (0, 2), "top_p": (0, 1)}
_INTEGERS: dict[str, tuple[int | None, int | None]] = {
    "max_output_tokens": (16, None),
    "max_tool_calls": (0, None),
    "top_logprobs": (0, 20),
}
_CHOICES = {"truncation": ("auto", "disabled"), "prompt_cache_retention": ("in_memory", "24h")}

#: The ``image_generation`` tool's fields by JSON type (``tool_param.ImageGeneration``); their values are checked by
#: the capability table, which also reads multipart strings such as ``"3"`` and so cannot judge JSON types itself.
_TOOL_STRINGS = (
    "type", "action", "background", "complexity", "input_fidelity", "model", "moderation", "output_format",
    "quality", "size",
)  # fmt: skip
_TOOL_INTEGERS = ("frame_count", "frame_duration_ms", "output_compression", "partial_images")
_TOOL_OBJECTS = ("input_image_mask", "svg")


def kind(value: object) -> str:
    """The JSON type of ``value`` as OpenAI's messages name it ("a string", "an integer", "a decimal" ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _wrong_type(param: str, expected: str, value: object) -> APIFailure:
    return APIFailure(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _bounded(param: str, value: float, low: float | None, high: float | None, noun: str) -> None:
    """OpenAI's out-of-range refusal: "Invalid 'temperature': decimal above maximum value. Expected ..."."""
    if high is not None and value > high:
        raise APIFailure(
            400,
            f"Invalid '{param}': {noun} above maximum value. Expected a value <= {high:g}, but got {value:g} instead.",
            param=param,
            code=f"{noun}_above_max_value",
        )
    if low is not None and value < low:
        raise APIFailure(
            400,
            f"Invalid '{param}': {noun} below minimum value. Expected a value >= {low:g}, but got {value:g} instead.",
            param=param,
            code=f"{noun}_below_min_value",
        )


def check_create_fields(params: Mapping[str, Any]) -> None:
    """Refuse the first top-level field of a ``responses.create`` body whose JSON type or bound is wrong.

    A field sent as ``null`` counts as left out, as the SDK's ``Optional`` types allow.
    """
    check_metadata(params.get("metadata"))
    for name in _STRINGS:
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise _wrong_type(name, "a string", value)
    for name in _BOOLEANS:
        value = params.get(name)
        if value is not None and not isinstance(value, bool):
            raise _wrong_type(name, "a boolean", value)
    for name in _OBJECTS:
        value = params.get(name)
        if value is not None and not isinstance(value, dict):
            raise _wrong_type(name, "an object", value)
    for name, (low, high) in _NUMBERS.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(name, "a decimal", value)
        _bounded(name, value, low, high, "decimal")
    for name, (ilow, ihigh) in _INTEGERS.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(name, "an integer", value)
        _bounded(name, value, ilow, ihigh, "integer")
    for name, allowed in _CHOICES.items():
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _wrong_type(name, "a string", value)
        if value not in allowed:
            listed = " and ".join(repr(a) for a in allowed)
            raise APIFailure(
                400,
                f"Invalid value for '{name}': '{value}'. Supported values are: {listed}.",
                param=name,
                code="invalid_value",
            )
    include = params.get("include")
    if include is not None:
        if not isinstance(include, list):
            raise _wrong_type("include", "an array", include)
        for number, item in enumerate(include):
            if not isinstance(item, str):
                raise _wrong_type(f"include[{number}]", "a string", item)


def check_metadata(metadata: object) -> None:
    """``metadata``: at most 16 pairs of strings, keys of at most 64 characters, values of at most 512."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _wrong_type("metadata", "an object", metadata)
    if len(metadata) > METADATA_MAX_PAIRS:
        raise APIFailure(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most {METADATA_MAX_PAIRS} "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX:
            raise APIFailure(
                400,
                f"Invalid 'metadata': property name too long. Expected a property name with maximum length "
                f"{METADATA_KEY_MAX}, but got a property name with length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        param = f"metadata.{key}"
        if not isinstance(value, str):
            raise _wrong_type(param, "a string", value)
        if len(value) > METADATA_VALUE_MAX:
            raise APIFailure(
                400,
                f"Invalid '{param}': string too long. Expected a string with maximum length {METADATA_VALUE_MAX}, "
                f"but got a string with length {len(value)} instead.",
                param=param,
                code="string_above_max_length",
            )


def check_tool_types(tool: Mapping[str, Any], where: str) -> None:
    """Refuse an ``image_generation`` tool field whose JSON type is wrong (``partial_images: "3"``), by its place."""
    for names, expected in ((_TOOL_STRINGS, "a string"), (_TOOL_INTEGERS, "an integer"), (_TOOL_OBJECTS, "an object")):
        for name in names:
            value = tool.get(name)
            if value is not None and kind(value) != expected:
                raise _wrong_type(f"{where}.{name}", expected, value)
