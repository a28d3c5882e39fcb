"""The reports of ``%dalle models``, ``config``, ``jobs``, ``prices`` and ``history`` (``dalle-nb models`` prints
the first), and what a magic says about money: the cost line over its pictures and its ``--dry-run``.

Each asks what it reports on (the capability table and the settings, the session's offline
server and gallery folder, the background jobs of the gallery, the price table) and hands a
``Report`` table to ``core.formatting``, which reads as text in a terminal and as HTML in a
notebook.  Every amount is written by ``core.costs``, so it reads as ``dn.estimate`` and
``image.cost`` write it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..background.batch import jobs
from ..core.capabilities import MODELS, choices
from ..core.costs import Cost, Estimate, usd
from ..core.formatting import MUTED, Report, caption, data_uri, esc, short
from ..core.prices import BATCH_SHARE, table
from ..core.results import ImageSet
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
    return Report(
        "dalle_nb settings (%config Dalle.<name> = ... to change)", ("setting", "value", "from"), rows,
        "%config Dalle takes model, size, quality, n, concurrency, offline, gallery_dir, thumbnail_size, revise, "
        "text_model, max_cost (a budget in US dollars) and confirm_over; the rest dn.configure(...) or "
        "[tool.dalle_nb]",
    )  # fmt: skip


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


# ---------------------------------------------------------------------------- money
def prices_report() -> Report:
    """``%dalle prices``: every known price (a person's own rows in place of the table's, marked), its rates,
    the day it was read and where from."""
    rows = []
    for price in table(settings().prices):
        model = f"{price.model} (yours)" if price.mine else price.model
        source = f"{price.source}; {price.note}" if price.note else price.source
        rows.append((model, price.describe(), source, price.read.isoformat()))
    return Report(
        "prices in US dollars (what OpenAI charges; a model not listed is 'price unknown')",
        ("model", "rates", "source", "read"),
        tuple(rows),
        f"the Batch API (%%dalle_batch) charges {BATCH_SHARE:.0%} of these; (yours) = set with "
        'dn.configure(prices={"gpt-image-2": {"image_out": 25}}) or [tool.dalle_nb.prices]',
    )


def cost_text(cost: Cost | None) -> str:
    """A picture's cost in a table cell: ``$0.042``, ``unknown``, or ``—`` for one made before costs were kept."""
    if cost is None:
        return "—"
    return usd(cost.usd) if cost.usd is not None else "unknown"


def cost_line(images: ImageSet) -> dict[str, str]:
    """The line over a magic's pictures, as a display bundle: how many, which model, what they cost and whose
    price that is, e.g. ``4 pictures · gpt-image-2 · $0.17 (OpenAI's list price)``."""
    count = f"{len(images)} picture{'' if len(images) == 1 else 's'}"
    if images.failures:
        count += f" ({len(images.failures)} failed)"
    models = ", ".join(dict.fromkeys(image.model for image in images))
    cost = images.cost
    text = f"{count} · {models} · {cost.said()}"
    title = esc(cost.breakdown()) if cost.known else ""
    return {
        "text/plain": text,
        "text/html": f"<div class='dalle-nb-cost' style='{MUTED}' title='{title}'>{esc(text)}</div>",
    }


@dataclass(frozen=True)
class DryRun:
    """What ``--dry-run`` shows: that nothing was sent, what would be (``Estimate.summary()``), the prompts."""

    magic: str
    estimate: Estimate
    #: The prompts the call would send, with their labels (a ``{a|b}`` matrix, a batch's lines).
    prompts: tuple[tuple[str | None, str], ...] = ()
    #: The most prompts listed; the rest are counted.
    shown: int = 20

    @property
    def heading(self) -> str:
        return f"{self.magic} --dry-run: nothing was sent"

    def _prompts_title(self) -> str:
        kind = "lines" if self.magic.endswith("batch") else "prompts of the matrix"
        return f"the {len(self.prompts)} {kind}:"

    def __repr__(self) -> str:
        lines = [self.heading, f"would send: {self.estimate.summary()}"]
        if self.prompts:
            lines.append(self._prompts_title())
            lines += [
                f"  {label}: {prompt}" if label else f"  {prompt}" for label, prompt in self.prompts[: self.shown]
            ]
            if len(self.prompts) > self.shown:
                lines.append(f"  … and {len(self.prompts) - self.shown} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li>{f'<b>{esc(label)}</b>: ' if label else ''}{esc(prompt)}</li>"
            for label, prompt in self.prompts[: self.shown]
        )
        if len(self.prompts) > self.shown:
            items += f"<li style='{MUTED}'>… and {len(self.prompts) - self.shown} more</li>"
        listed = f"<div>{esc(self._prompts_title())}</div><ul style='margin:2px 0'>{items}</ul>" if items else ""
        return (
            f"<div class='dalle-nb-dry-run' style='font-size:13px'><div style='{MUTED}'>{esc(self.heading)}</div>"
            f"<div><b>would send:</b> {esc(self.estimate.summary())}</div>{listed}</div>"
        )


#: The longest side of a picture in the history table, in pixels: enough to tell pictures apart.
HISTORY_THUMBNAIL = 96


class History(ImageSet):
    """``%dalle history``: past pictures as a table with when each was made and what it cost; still an
    ``ImageSet`` (index it, ``save_all`` it)."""

    def rows(self) -> tuple[tuple[str, ...], ...]:
        """(made, prompt, model, size, cost) per picture; made to the second, so reruns of a prompt differ."""
        return tuple(
            (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(image.created)) if image.created else "",
             caption(image), image.model, image.size, cost_text(image.cost))
            for image in self
        )  # fmt: skip

    def report(self) -> Report:
        bases = [image.cost.basis for image in self if image.cost is not None and image.cost.basis]
        whose = f" ({bases[0]})" if bases and len(set(bases)) == 1 else ""
        rows = tuple((*row[:1], short(row[1], 60), *row[2:]) for row in self.rows())
        return Report(
            f"{len(self)} picture{'' if len(self) == 1 else 's'} from the history, newest first",
            ("made", "prompt", "model", "size", "cost"),
            rows,
            f"cost: what each picture cost when it was made{whose}; — = made before dalle_nb kept costs",
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        report = self.report()
        cells = "<td style='text-align:left;vertical-align:top{}'>{}</td>"
        when = "<td class='dalle-nb-when' style='vertical-align:top;white-space:nowrap'>{}</td>"
        body = ""
        for image, row in zip(self, self.rows(), strict=True):
            thumbnail = (
                f"<img src='{data_uri(image.thumbnail_webp(HISTORY_THUMBNAIL))}' alt='' "
                f"style='max-width:{HISTORY_THUMBNAIL}px;max-height:{HISTORY_THUMBNAIL}px;border-radius:3px'/>"
            )
            title = esc(image.cost.breakdown() if image.cost is not None else "no cost recorded")
            body += (
                "<tr>" + cells.format("", thumbnail) + when.format(esc(row[0]))
                + cells.format("", esc(row[1])) + cells.format(";white-space:nowrap", esc(row[2]))
                + cells.format(";white-space:nowrap", esc(row[3]))
                + f"<td style='text-align:right;vertical-align:top;white-space:nowrap' title='{title}'>"
                + f"{esc(row[4])}</td>"
                + "</tr>"
            )  # fmt: skip
        head = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in ("", *report.header))
        html = (
            f"<p><b>{esc(report.title)}</b></p><table class='dalle-nb-history'><tr>{head}</tr>{body}</table>"
            f"<p style='{MUTED}'>{esc(report.footer)}</p>"
        )
        return {"text/plain": repr(report), "text/html": html}


__all__ = [
    "DryRun", "History", "config_report", "cost_line", "cost_text", "jobs_report", "models_report", "prices_report",
]  # fmt: skip
