"""Settings, the rules each one follows, and how the layers combine: argument > ``configure()`` > environment > default.

Values and rules only: what ``configure()`` set, and the key, are held by a session's store
(``runtime.settings_store``), which hands them to ``resolve`` with the environment it reads.  The
API key is never part of ``Settings``, so no repr, widget state, notebook output, log or file can
carry it; ``Settings.key_source`` says only whether one is set and where it came from.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .capabilities import DEFAULT_MODEL, ParamError, choices, get_model
from .errors import InvalidRequest
from .prices import Price, overrides

BackendKind = Literal["offline", "openai", "azure", "compatible"]
OPENAI_HOST = "api.openai.com"
#: The text model that calls the image tool when prompts are revised.  A revision is a short rewrite,
#: so the smallest current mainline model does it: its tokens cost little and it answers fast
#: (see README, "Revised prompts").
DEFAULT_TEXT_MODEL = "gpt-5.6-luna"


@dataclass(frozen=True)
class Settings:
    """The effective settings.  Holds no key: ``key_source`` says only where one came from."""

    model: str
    size: str | None = None
    quality: str | None = None
    n: int = 1
    base_url: str | None = None
    offline: bool = False
    concurrency: int = 4
    timeout: float = 120.0
    max_retries: int = 2
    proxy: str | None = field(default=None, repr=False)
    gallery_dir: Path | None = None
    thumbnail_size: int = 256
    #: How ``dalle_nb.submit`` runs background jobs: ``"batch"`` (the Batch API), ``"gateway"`` (a gateway's
    #: task mode) or ``"auto"`` (the gateway's mode on a base URL known to speak it, else the Batch API).
    task_mode: str = "auto"
    #: Revise prompts through the Responses API's image tool: True, False, or None (on where it is served).
    revise: bool | None = None
    text_model: str = DEFAULT_TEXT_MODEL
    #: At most this many pictures in this session (a class's budget); None: no cap.
    max_images: int | None = None
    #: At most this many US dollars spent in this session (estimated before each call); None: no cap.
    max_cost: float | None = None
    #: Ask before a Studio click whose estimate is above this many US dollars; None: never ask.
    confirm_over: float | None = None
    #: A person's prices (``configure(prices=...)``, ``[tool.dalle_nb.prices]``), over the table's.
    prices: tuple[Price, ...] = ()
    key_source: str | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def has_key(self) -> bool:
        return self.key_source is not None

    @property
    def backend(self) -> BackendKind:
        """Where requests go: decided by ``offline``, the key and the base URL."""
        if self.offline:
            return "offline"
        if self.base_url and ".openai.azure.com" in self.base_url:
            return "azure"
        if self.base_url and OPENAI_HOST not in self.base_url:
            return "compatible"
        return "openai"

    @property
    def serves_responses(self) -> bool:
        """Whether the backend is known to serve the Responses API (OpenAI and the offline server)."""
        return self.backend in ("openai", "offline")

    def revises(self, model: str) -> bool:
        """Whether a request for ``model`` goes through the Responses API, where its prompt is revised.

        ``revise=None`` (the default) means: yes for GPT image models wherever the backend serves the
        Responses API, no elsewhere (a gateway may not).  An explicit True or False decides.
        """
        if not get_model(model).is_gpt:
            return False
        return self.serves_responses if self.revise is None else self.revise

    def table(self) -> list[tuple[str, str, str]]:
        """``(setting, value, source)`` rows; the key appears only as set / not set, a proxy only as set."""
        rows: list[tuple[str, str, str]] = []
        for f in fields(self):
            if f.name in ("sources", "key_source"):
                continue
            value = getattr(self, f.name)
            if f.name == "proxy":
                value = "set" if value else "not set"
            elif f.name in ("max_images", "max_cost") and value is None:
                value = "no cap"
            elif f.name == "confirm_over" and value is None:
                value = "off"
            elif f.name == "max_cost" or f.name == "confirm_over":
                value = f"${value:,.2f}"
            elif f.name == "prices":
                value = ", ".join(price.model for price in value) if value else "the table"
            rows.append((f.name, str(value), self.sources.get(f.name, "default")))
        rows.append(("api_key", "set" if self.key_source else "not set", self.key_source or "-"))
        rows.append(("backend", self.backend, "derived"))
        return rows

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """One line in a notebook, where ``dn.configure(...)`` as a cell's last line would print all fields."""
        key = "key set" if self.has_key else "no key"
        revising = "revised" if self.revises(self.model) else "exact"
        printer.text(f"<dalle_nb settings: {self.backend} backend, {self.model}, prompts {revising}, {key}>")

    def describe(self) -> dict[str, str]:
        """Each setting as ``"value (source)"``."""
        return {name: f"{value} ({source})" for name, value, source in self.table()}


#: The names ``configure()`` takes besides ``api_key``.
SETTING_NAMES = frozenset({f.name for f in fields(Settings)} - {"key_source", "sources"})


@dataclass(frozen=True)
class SettingRule:
    """What one setting takes: the one place its limits are written (``configure``, ``%config``, help)."""

    name: str
    kind: Literal["int", "float", "bool", "text", "path", "model", "size", "quality", "choice", "money", "prices"]
    help: str
    env: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        """The limits in words, for messages and help."""
        if self.kind == "int":
            return f"a whole number from {self.low:g} to {self.high:g}"
        if self.kind == "float":
            return "a number of seconds above 0"
        if self.kind == "bool":
            return "True or False"
        if self.kind == "money":
            return "an amount of US dollars above 0, e.g. 5 or 0.50"
        if self.kind == "prices":
            return 'a mapping of model ids to rates, e.g. {"gpt-image-2": {"image_out": 25}}'
        if self.kind == "choice":
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        return {"model": "a model id", "size": "a size the model takes", "quality": "a quality the model takes"}.get(
            self.kind, "text"
        )


#: The most pictures one call may ask for, however it is fanned out into requests.
MAX_IMAGES_PER_CALL = 100

#: Every setting, with its environment variable and limits.  Nothing else writes these limits down.
RULES: dict[str, SettingRule] = {
    rule.name: rule
    for rule in (
        SettingRule("model", "model", "default model id", "DALLE_NB_MODEL"),
        SettingRule("size", "size", "default size, e.g. 1024x1024 or auto (the model's default when unset)"),
        SettingRule("quality", "quality", "default quality (the model's default when unset)"),
        SettingRule("n", "int", "pictures per prompt", low=1, high=MAX_IMAGES_PER_CALL),
        SettingRule("base_url", "text", "OpenAI, Azure OpenAI or a compatible gateway", "OPENAI_BASE_URL"),
        SettingRule("offline", "bool", "use the bundled offline server", "DALLE_NB_OFFLINE"),
        SettingRule(
            "concurrency", "int", "requests in flight at once, per backend", "DALLE_NB_CONCURRENCY", low=1, high=64
        ),
        SettingRule("timeout", "float", "seconds to wait for one request", "DALLE_NB_TIMEOUT"),
        SettingRule("max_retries", "int", "retries of a failed request", low=0, high=10),
        SettingRule("proxy", "text", "an HTTPS proxy URL", "HTTPS_PROXY"),
        SettingRule("gallery_dir", "path", "where pictures and history are kept", "DALLE_NB_GALLERY_DIR"),
        SettingRule("thumbnail_size", "int", "largest side of previews, in pixels", low=32, high=2048),
        SettingRule(
            "revise", "bool", "revise prompts through the Responses API (None: where served)", "DALLE_NB_REVISE"
        ),
        SettingRule("text_model", "text", "the text model that revises prompts", "DALLE_NB_TEXT_MODEL"),
        SettingRule(
            "max_images",
            "int",
            "the most pictures this session may make (a budget)",
            "DALLE_NB_MAX_IMAGES",
            low=1,
            high=1_000_000,
        ),  # fmt: skip
        SettingRule("max_cost", "money", "the most US dollars this session may spend (a budget)", "DALLE_NB_MAX_COST"),
        SettingRule(
            "confirm_over",
            "money",
            "ask before a Studio click that would cost more than this many US dollars",
            "DALLE_NB_CONFIRM_OVER",
        ),  # fmt: skip
        SettingRule("prices", "prices", "your own prices over the table's (a gateway, Azure, a negotiated rate)"),
        SettingRule(
            "task_mode",
            "choice",
            "how submit() runs background jobs: the Batch API, a gateway's task mode, or auto",
            "DALLE_NB_TASK_MODE",
            choices=("auto", "batch", "gateway"),
        ),  # fmt: skip
    )
}
_ENV: dict[str, str] = {name: rule.env for name, rule in RULES.items() if rule.env}


def _coerce(name: str, value: Any, environ: Mapping[str, str]) -> Any:
    """Type-check one setting against its rule, raising ``InvalidRequest`` with what to do."""
    if value is None:
        return None
    rule = RULES[name]
    try:
        return _as_kind(rule, value)
    except (TypeError, ValueError) as exc:
        source = f" (from {rule.env})" if rule.env and environ.get(rule.env) == str(value) else ""
        said = str(exc) if rule.kind == "prices" else None  # the table's own words: which model, which rate
        message = getattr(exc, "message", None) or said or f"{name}={value!r}{source} is not valid: use {rule.rule}."
        refused = InvalidRequest(message, field=name, value=value, allowed=rule.rule)
    # raised out here, so the ValueError (whose text holds the value: a key typed as a setting) is not its context
    raise refused


def _as_kind(rule: SettingRule, value: Any) -> Any:
    """``value`` as the kind of setting ``rule`` describes; ``TypeError`` or ``ValueError`` when it is not one."""
    if rule.kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if rule.kind == "int":
        number = int(value)
        assert rule.low is not None and rule.high is not None
        if isinstance(value, (bool, float)) or not rule.low <= number <= rule.high:
            raise ValueError
        return number
    if rule.kind == "float":
        seconds = float(value)
        if seconds <= 0 or isinstance(value, bool):
            raise ValueError
        return seconds
    if rule.kind == "money":
        amount = float(str(value).strip().lstrip("$")) if isinstance(value, str) else float(value)
        if isinstance(value, bool) or not amount > 0 or amount == float("inf"):
            raise ValueError
        return amount
    if rule.kind == "prices":
        return overrides(value)
    if rule.kind == "path":
        return Path(value).expanduser()
    if rule.kind == "choice":
        if not isinstance(value, str) or value.strip().lower() not in rule.choices:
            raise ValueError
        return value.strip().lower()
    if rule.kind == "model":
        get_model(str(value))
    return str(value)


def _check_together(values: dict[str, Any]) -> None:
    """Size and quality must suit the model they will be used with: checked on the merged settings,
    so ``configure(model="dall-e-3", quality="hd")`` and ``[tool.dalle_nb]`` work in any key order."""
    model = values["model"]
    for name in ("size", "quality"):
        value = values.get(name)
        if value is None:
            continue
        try:
            choices(model, "generations", name).check(value)
            continue
        except ParamError as error:
            refused = InvalidRequest(
                f"{name} {value!r} does not suit the model {model}: {error.message}", field=name, value=value,
                allowed=error.allowed,
            )  # fmt: skip
        raise refused  # out here, so the ParamError (holding the value) is not its context


def check_update(
    current: Mapping[str, Any],
    values: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    api_key: object = None,
    unset: Collection[str] = (),
) -> dict[str, Any]:
    """``values`` (those not None) as the settings they set: ``InvalidRequest`` when one is refused.

    They are checked as one change, together with ``current`` (what ``configure()`` set and keeps,
    less ``unset``) and the environment: a quality against the model set in the same update,
    whatever the order.  ``api_key``, when given, must be a non-empty string.
    """
    unknown = sorted((set(values) | set(unset)) - SETTING_NAMES)
    if unknown:
        raise InvalidRequest(
            f"configure() got an unknown setting '{unknown[0]}'; settings are: api_key, "
            f"{', '.join(sorted(SETTING_NAMES))}.",
            field=unknown[0],
        )
    coerced = {name: _coerce(name, value, environ) for name, value in values.items() if value is not None}
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise InvalidRequest("api_key must be a non-empty string.", field="api_key")
    merged = {name: value for name, value in current.items() if name not in unset}
    merged.update(coerced)
    _check_together(_layered(merged, environ))
    return coerced


def _layered(
    overrides: Mapping[str, Any], environ: Mapping[str, str], sources: dict[str, str] | None = None
) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides``: the values before per-call arguments."""
    values: dict[str, Any] = {"model": DEFAULT_MODEL}
    for name, env_name in _ENV.items():
        raw = environ.get(env_name)
        if raw:
            values[name] = _coerce(name, raw, environ)
            if sources is not None:
                sources[name] = env_name
    values.update(overrides)
    return values


def resolve(
    overrides: Mapping[str, tuple[Any, str]],
    environ: Mapping[str, str],
    arguments: Mapping[str, Any],
    *,
    key_source: str | None,
) -> Settings:
    """The effective settings: defaults, then ``environ``, then ``overrides`` (name -> (value, where it was
    set)), then the per-call ``arguments`` that are not None.  ``key_source`` says where the key came from
    (None: there is none, which makes the offline server the backend unless ``offline`` says otherwise)."""
    sources: dict[str, str] = {}
    values = _layered({name: value for name, (value, _) in overrides.items()}, environ, sources)
    for name, (_, where) in overrides.items():
        sources[name] = where
    for name, value in arguments.items():
        if value is not None:
            values[name] = _coerce(name, value, environ)
            sources[name] = "argument"
    if values.get("offline") is None:
        # no explicit choice: no key means the offline server (the session says so in one notice line)
        values["offline"] = key_source is None
        sources["offline"] = "no API key" if key_source is None else "API key set"
    return replace(Settings(model=values.pop("model")), **values, key_source=key_source, sources=sources)


__all__ = [
    "DEFAULT_TEXT_MODEL", "MAX_IMAGES_PER_CALL", "OPENAI_HOST", "RULES", "SETTING_NAMES", "BackendKind",
    "SettingRule", "Settings", "check_update", "resolve",
]  # fmt: skip
