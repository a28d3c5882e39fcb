"""The reports of ``%dalle models``, ``%dalle config`` and ``%dalle jobs`` (``dalle-nb models`` prints the first).

Each asks what it reports on (the capability table and the settings, the session's offline
server and gallery folder, the background jobs of the gallery) and hands a ``Report`` table
to ``core.formatting``, which reads as text in a terminal and as HTML in a notebook.
"""

from __future__ import annotations

import time

from ..background.batch import jobs
from ..core.capabilities import MODELS, choices
from ..core.formatting import Report
from ..runtime.config import settings
from ..runtime.gallery import default_dir
from ..runtime.session import default_session


def models_report() -> Report:
    """The capability table, with the active backend and whether a key is set."""
    current = settings()
    key = f"✓ set ({current.key_source})" if current.has_key else "✗ not set"
    backend = {"offline": "offline (bundled server, free)", "openai": "OpenAI"}.get(
        current.backend, f"{current.backend} ({current.base_url})"
    )
    rows = []
    for spec in MODELS.values():
        if spec.retired:
            status = f"retired {spec.retired_on}" + (f", use {spec.replacements[0]}" if spec.replacements else "")
        else:
            status = "default" if spec.id == current.model else "active"
        if spec.is_gpt:
            sizes = "auto, standard" + (", any WxH" if spec.arbitrary_size else "")
        else:
            sizes = " ".join(choices(spec.id, "generations", "size").allowed)
        endpoints = ", ".join(e[:3] for e in spec.endpoints)
        quality = choices(spec.id, "generations", "quality").allowed
        n = choices(spec.id, "generations", "n")
        rows.append((spec.id, status, endpoints, sizes, " ".join(quality), f"{n.low}-{n.high}"))
    return Report(
        f"backend: {backend}    API key: {key}",
        ("model", "status", "endpoints", "sizes", "quality", "n"),
        tuple(rows),
        "gen/edi/var = generations/edits/variations; standard = 1024x1024 1536x1024 1024x1536; "
        "any WxH = multiples of 16, aspect 1:3 to 3:1, up to 3840x2160",
    )


def config_report() -> Report:
    """The effective settings, where each came from, and the key only as set / not set.

    A setting left unset shows what is actually used: the model's default size and quality,
    the real gallery folder, the base URL requests go to (the offline server's, when offline).
    """
    current = settings()
    effective: dict[str, tuple[str, str]] = {}
    for name in ("size", "quality"):
        if getattr(current, name) is None:
            effective[name] = (str(choices(current.model, "generations", name).default), f"{current.model}'s default")
    if current.gallery_dir is None:
        effective["gallery_dir"] = (str(default_dir()), "default")
    if current.base_url is None:
        if current.backend == "offline":
            url = default_session().offline_url or "started on first use, on loopback"
            effective["base_url"] = (url, "offline server")
        else:
            effective["base_url"] = ("https://api.openai.com/v1", "default")
    if current.revise is None:
        effective["revise"] = (str(current.revises(current.model)), f"default for {current.backend}")
    rows = tuple(
        (name, *effective[name]) if name in effective else (name, value, source)
        for name, value, source in current.table()
    )
    return Report("dalle_nb settings (%config Dalle.<name> = ... to change)", ("setting", "value", "from"), rows)


def jobs_report(limit: int = 20) -> Report:
    """The background batches of this gallery, newest first: where they run, their state and counts."""
    rows = []
    for job in jobs(limit):
        record = job.record
        counts = record.counts
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created))
        engine = "Batch API" if record.engine == "batch" else "gateway tasks"
        rows.append(
            (record.id, when, engine, record.state, f"{counts.get('completed', 0):,}/{job.requests:,}",
             f"{counts.get('failed', 0):,}", record.title)
        )  # fmt: skip
    return Report(
        "background jobs (collect one with dn.jobs()[i].collect())",
        ("job", "submitted", "on", "state", "done", "failed", "prompts"),
        tuple(rows),
    )


__all__ = ["config_report", "jobs_report", "models_report"]
