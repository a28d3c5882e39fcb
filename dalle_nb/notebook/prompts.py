"""Prompt templates for the magics: ``{name}`` variables, ``{{``/``}}`` literal braces, ``{a|b}`` alternatives.

A prompt is prose, so braces are rare, but when a user writes them nothing may break: this
parser never calls ``str.format`` on the prompt.  A field is an f-string-like reference to
the user's namespace (``{style.name}``, ``{colors[0]}``, ``{n!r}``, ``{price:.2f}``); a field
with ``|`` is a list of alternatives that expands into every combination (a prompt matrix).
"""

from __future__ import annotations

import importlib
import itertools
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The most prompts one matrix may expand into: beyond this a typo is likelier than intent.
MAX_COMBINATIONS = 64


class PromptError(ValueError):
    """A template that cannot be filled in; the message says which field and what to do."""


@dataclass(frozen=True)
class Expanded:
    """One prompt a template expands into, with the alternatives that made it (its label)."""

    prompt: str
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str | None:
        return " · ".join(choice or "∅" for choice in self.choices) if self.choices else None


_Part = str | tuple[str, ...]  # literal text, or the alternatives of one field


def _fields(template: str) -> list[tuple[str, str | None]]:
    """Split into ``(text, None)`` literals and ``("", field)`` fields, honouring ``{{`` and ``}}``."""
    parts: list[tuple[str, str | None]] = []
    text: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char == "{" and template.startswith("{{", i):
            text.append("{")
            i += 2
        elif char == "}" and template.startswith("}}", i):
            text.append("}")
            i += 2
        elif char == "{":
            end = template.find("}", i + 1)
            nested = template.find("{", i + 1)
            if end == -1 or (nested != -1 and nested < end):
                raise PromptError(f"unclosed '{{' at position {i + 1} of the prompt; write '{{{{' for a literal brace.")
            parts.append(("".join(text), None))
            text = []
            parts.append(("", template[i + 1 : end]))
            i = end + 1
        elif char == "}":
            raise PromptError(f"single '}}' at position {i + 1} of the prompt; write '}}}}' for a literal brace.")
        else:
            text.append(char)
            i += 1
    parts.append(("".join(text), None))
    return [p for p in parts if p[1] is not None or p[0]]


def _resolve(field: str, namespace: Mapping[str, Any]) -> str:
    """The text of one ``{field}``: a name with attribute/index access, an optional ``!conv`` and ``:spec``."""
    body = field.strip()
    if not body:
        raise PromptError("empty '{}' in the prompt; write '{{}}' for literal braces.")
    spec = ""
    conversion: str | None = None
    if ":" in body:
        body, spec = body.split(":", 1)
    if "!" in body:
        body, conversion = body.split("!", 1)
        if conversion not in ("r", "s", "a"):
            raise PromptError(f"unknown conversion '!{conversion}' in {{{field}}}; use !r, !s or !a.")
    formatter = string.Formatter()
    try:
        first, rest = _split_field_name(body)
    except ValueError:
        raise PromptError(
            f"{{{field}}} is not a variable reference; write '{{{{' and '}}}}' for literal braces."
        ) from None
    if not first.isidentifier():
        raise PromptError(f"{{{field}}} is not a variable name; write '{{{{' and '}}}}' for literal braces.")
    if first not in namespace:
        raise PromptError(f"name '{first}' is not defined (used as {{{field}}} in the prompt).")
    value = namespace[first]
    try:
        for is_attribute, key in rest:
            value = getattr(value, key) if is_attribute else value[key]
        value = formatter.convert_field(value, conversion)
        return str(formatter.format_field(value, spec))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise PromptError(f"could not fill in {{{field}}}: {type(exc).__name__}: {exc}") from None


def _split_field_name(body: str) -> tuple[str, list[tuple[bool, Any]]]:
    # the parser str.format itself uses for "name.attr[key]", without formatting the whole prompt
    split = importlib.import_module("_string").formatter_field_name_split
    first, rest = split(body)
    return str(first), list(rest)


def expand(template: str, namespace: Mapping[str, Any]) -> list[Expanded]:
    """Every prompt ``template`` stands for, in order; one when it has no ``{a|b}`` field.

    ``PromptError`` for an undefined name, a stray brace, or more than ``MAX_COMBINATIONS``.
    """
    parts: list[_Part] = []
    for text, field in _fields(template):
        if field is None:
            parts.append(text)
        elif "|" in field:
            parts.append(tuple(option.strip() for option in field.split("|")))
        else:
            parts.append(_resolve(field, namespace))
    choice_lists = [part for part in parts if isinstance(part, tuple)]
    total = 1
    for options in choice_lists:
        total *= len(options)
    if total > MAX_COMBINATIONS:
        raise PromptError(
            f"the prompt expands into {total} combinations; at most {MAX_COMBINATIONS} run at once. Use fewer "
            "alternatives, or '{{' and '}}' if the '|' was meant literally."
        )
    results = []
    for combination in itertools.product(*choice_lists):
        picks = iter(combination)
        text = "".join(part if isinstance(part, str) else next(picks) for part in parts)
        results.append(Expanded(" ".join(text.split()) if choice_lists else text, tuple(combination)))
    return results
