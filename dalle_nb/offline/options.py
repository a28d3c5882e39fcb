"""Settings of the offline server: profile, seed, latency, injected faults, key, URL expiry, batches.

Each setting can come from a keyword, a CLI flag or an environment variable, so a
benchmark, a reliability test and a classroom can all shape the same server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..core.capabilities import PROFILES, Profile

FaultKind = Literal["429", "500", "503", "timeout", "reset", "drop", "garbage", "nofinal"]
FAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "503", "timeout", "reset", "drop", "garbage", "nofinal")

ENV_PREFIX = "DALLE_NB_OFFLINE_"


@dataclass(frozen=True)
class Fault:
    """Answer a share ``rate`` (0..1) of image requests with failure ``kind``."""

    kind: FaultKind
    rate: float


def parse_faults(text: str | None) -> tuple[Fault, ...]:
    """``"429:0.5,500:0.1"`` -> faults; a bare kind means rate 1.  ValueError names the bad part."""
    faults: list[Fault] = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        kind, _, rate_text = part.partition(":")
        kind = kind.strip().lower()
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} in {part!r}; use one of {', '.join(FAULT_KINDS)}")
        try:
            rate = float(rate_text) if rate_text else 1.0
        except ValueError:
            raise ValueError(f"fault rate in {part!r} must be a number between 0 and 1") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate in {part!r} must be between 0 and 1")
        faults.append(Fault(kind, rate))
    return tuple(faults)


@dataclass(frozen=True)
class ServerOptions:
    """How the offline server behaves.  ``repr`` never shows the API key."""

    profile: Profile = "compat"
    seed: int = 0
    latency: float = 0.0
    faults: tuple[Fault, ...] = ()
    api_key: str | None = field(default=None, repr=False)
    url_ttl: float = 3600.0
    #: How long a ``timeout`` fault holds a request: longer than any sane client timeout.
    timeout_hold: float = 600.0
    #: How long the server waits for the next piece of a request body before answering 408.
    read_timeout: float = 30.0
    #: How long a batch takes from validating to completed (OpenAI: minutes to 24 hours), so tests run in seconds.
    batch_seconds: float = 10.0
    #: A batch's completion window in seconds: one not done by then expires (OpenAI: ``"24h"``).
    batch_window: float = 24 * 3600.0
    #: The most bytes the server keeps in uploaded and output files at once (a 200 MB batch file and its output fit).
    files_limit: int = 2 * 1024**3

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.latency < 0:
            raise ValueError("latency must be zero or more seconds")
        if self.url_ttl <= 0:
            raise ValueError("url_ttl must be more than zero seconds")
        if self.read_timeout <= 0:
            raise ValueError("read_timeout must be more than zero seconds")
        if self.batch_seconds < 0:
            raise ValueError("batch_seconds must be zero or more seconds")
        if self.batch_window <= 0:
            raise ValueError("batch_window must be more than zero seconds")
        if self.files_limit <= 0:
            raise ValueError("files_limit must be more than zero bytes")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServerOptions:
        """Options from ``DALLE_NB_OFFLINE_*`` variables, then ``overrides`` that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if (profile := env.get(ENV_PREFIX + "PROFILE")) is not None:
            values["profile"] = profile
        if (seed := env.get(ENV_PREFIX + "SEED")) is not None:
            values["seed"] = int(seed)
        if (latency := env.get(ENV_PREFIX + "LATENCY")) is not None:
            values["latency"] = float(latency)
        if (faults := env.get(ENV_PREFIX + "FAULTS")) is not None:
            values["faults"] = parse_faults(faults)
        if (key := env.get(ENV_PREFIX + "API_KEY")) is not None:
            values["api_key"] = key or None
        if (ttl := env.get(ENV_PREFIX + "URL_TTL")) is not None:
            values["url_ttl"] = float(ttl)
        if (read_timeout := env.get(ENV_PREFIX + "READ_TIMEOUT")) is not None:
            values["read_timeout"] = float(read_timeout)
        if (batch_seconds := env.get(ENV_PREFIX + "BATCH_SECONDS")) is not None:
            values["batch_seconds"] = float(batch_seconds)
        if (batch_window := env.get(ENV_PREFIX + "BATCH_WINDOW")) is not None:
            values["batch_window"] = float(batch_window)
        if (files_limit := env.get(ENV_PREFIX + "FILES_LIMIT_MB")) is not None:
            values["files_limit"] = int(float(files_limit) * 1024 * 1024)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("faults"), str):
            values["faults"] = parse_faults(values["faults"])
        return replace(cls(), **values)
