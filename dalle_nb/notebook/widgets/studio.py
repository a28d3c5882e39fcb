"""The Studio: a panel to generate, edit, vary and browse pictures, that never blocks the kernel.

Every choice it offers comes from the capability table (``models.choices``), so a menu
offers exactly what the chosen model takes for that endpoint, and nothing about models is
written here.  Jobs are calls of the Python API (``dalle_nb.generate`` ...) with ``wait=False``:
their events arrive on the kernel's own event loop, so other cells run while pictures are made,
and the panel stays usable after any error.  Thumbnails reach the browser as image bytes over the
widget channel.  The API key is never part of the panel's state.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import ipywidgets as widgets
import traitlets

from ... import api, pricing
from ...background.batch import submit
from ...core.capabilities import MODELS, Choice, Endpoint, ParamError, choices, get_model
from ...core.costs import Estimate, usd
from ...core.errors import APIError, DalleError
from ...core.events import Event, ImageSaved, JobDone, PartialImage, RequestFailed
from ...core.formatting import caption, cost_html, esc, preview_webp, short
from ...core.results import GeneratedImage, ImageSet
from ...runtime import config
from ...runtime.session import default_session
from ..prompts import PromptError, expand
from .mask import MaskEditor

if TYPE_CHECKING:
    from ...core.plan import Job
    from ...runtime.session import JobHandle

#: How often a background batch is checked, in seconds.
_BATCH_POLL = 2.0
#: Pictures on one page of the Gallery tab.
PAGE_SIZE = 24
#: The size of the thumbnails the panel shows (the picture itself stays on disk).
CARD_SIZE = 192
_STUDIO = "dalle-nb-studio"
#: Where pictures are billed, the Studio asks before a click whose estimate may cost more than this many US
#: dollars, unless the ``confirm_over`` setting says another amount (which applies on every backend).
CONFIRM_OVER = 0.50
#: How long the Edit and Vary tabs wait after a change before pricing (their pictures are read on a worker).
_PRICE_DELAY = 0.3
#: The fields each tab offers, in the order they are shown; each appears only where the model takes it.
_FIELDS: Mapping[str, tuple[str, ...]] = {
    "generations": ("size", "quality", "n", "style", "background", "output_format", "output_compression",
                    "moderation"),
    "edits": ("size", "quality", "n", "background", "output_format", "output_compression", "input_fidelity"),
    "variations": ("size", "n"),
}  # fmt: skip
_LABELS = {
    "size": "size", "quality": "quality", "n": "pictures", "style": "style", "background": "background",
    "output_format": "format", "output_compression": "compression", "moderation": "moderation",
    "input_fidelity": "fidelity",
}  # fmt: skip
_CUSTOM = "custom WxH"
#: Widths that keep the option menus on a few rows: the model menu fits its longest label.
_MODEL_WIDTH = "460px"
_FIELD_WIDTH = "250px"
_DESCRIPTION = {"description_width": "86px"}
#: Parameters the details line leaves out: said elsewhere on it (model, size, revised by) or not settings.
_UNSHOWN = frozenset(
    {"prompt", "images", "mask", "model", "size", "text_model", "api", "n", "stream", "partial_images"}
)
#: How the panel looks beyond what ipywidgets' layout traits say: text as paragraphs (not 28 px rows),
#: long captions clamped to a few lines, the selected card outlined in the theme's own colour, the titles of
#: the tabs not shown in the pale grey that falls short of WCAG AA contrast on their grey.
_CSS = f"""<style>
.{_STUDIO}-text .widget-html-content {{ line-height: 1.4; padding: 2px 0; }}
.{_STUDIO}-clamp {{ display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; overflow: hidden; }}
.{_STUDIO}-card {{ border: 2px solid transparent; border-radius: 4px; }}
.{_STUDIO}-card.{_STUDIO}-selected {{ border-color: var(--jp-brand-color1, #1976d2); }}
.{_STUDIO}-dim {{ color: var(--jp-ui-font-color2, #616161); }}
.{_STUDIO}-problem {{ color: var(--jp-error-color1, #d32f2f); }}
.{_STUDIO} .widget-tab .lm-TabBar .lm-TabBar-tab:not(.lm-mod-current) {{ color: var(--jp-ui-font-color1); }}
.{_STUDIO} .dalle-nb-price .widget-html-content {{ font-size: 12px; padding: 4px 0; }}
.{_STUDIO} .dalle-nb-confirm {{ border-left: 3px solid var(--jp-warn-color1, #f57c00); padding: 4px 8px; gap: 4px; }}
</style>"""


def _public_url(url: str) -> str:
    """A base URL as it may be shown: no user, password or query (where gateways put keys)."""
    parts = urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _backend_line() -> str:
    current = config.settings()
    url = _public_url(current.base_url or "")
    where = {
        "offline": "the offline backend (drawn locally, free)",
        "openai": "OpenAI",
        "azure": f"Azure OpenAI at {url}",
    }.get(current.backend, f"an OpenAI-compatible API at {url}")
    return f"Pictures come from {where}."


def _field() -> dict[str, Any]:
    """The layout and style of one option (a fresh layout each: hiding one must not hide the others)."""
    return {"layout": widgets.Layout(width=_FIELD_WIDTH), "style": _DESCRIPTION}


def _wrapping(children: list[widgets.Widget], align: str = "center") -> widgets.Box:
    """A row that wraps onto the next line when the output is narrow."""
    return widgets.Box(children, layout=widgets.Layout(display="flex", flex_flow="row wrap", align_items=align))


def _text(value: str = "", *classes: str) -> widgets.HTML:
    """An HTML widget whose text reads as a paragraph."""
    html = widgets.HTML(value)
    for name in (f"{_STUDIO}-text", *classes):
        html.add_class(name)
    return html


class _Missing(ValueError):
    """What a button needs is not there yet (a prompt, a selected picture): said quietly, not as an error."""


def _say(error: BaseException) -> str:
    """One line for the status: the API's own words and what to do; never a traceback."""
    if isinstance(error, APIError):
        return error.refusal()
    if isinstance(error, DalleError):
        return error.one_line()
    if isinstance(error, ValueError | OSError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _priced(call: _Call) -> Estimate | BaseException:
    """``call``'s estimate, or why there is none (run on a worker: what it raises comes back as a value)."""
    try:
        return call.estimate()
    except Exception as error:  # whatever it is, the price line says it instead of a price
        return error


@dataclass(frozen=True)
class _Call:
    """What a button would send, as the call's arguments: the button sends it and the price line prices it, so
    the two cannot drift apart.  ``batch``: ``function`` is ``submit`` (the Batch API, at its price)."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    options: dict[str, Any] = field(default_factory=dict)
    batch: bool = False

    def start(self, loop: asyncio.AbstractEventLoop, on_event: Callable[[Event], None]) -> JobHandle:
        handle: JobHandle = self.function(*self.args, wait=False, on_event=on_event, loop=loop, **self.options)
        return handle

    def estimate(self) -> Estimate:
        """What it would cost (``InvalidRequest`` for an option the call would refuse); nothing is sent."""
        return pricing.estimate(self.function, *self.args, **self.options)  # submit: at the batch price


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _price_html(estimate: Estimate) -> str:
    """The price line: ``≈ $0.034 · 4 pictures · gpt-image-2.5-sunburst · what OpenAI would charge``."""
    what = f"{_plural(estimate.pictures, 'picture')} · {esc(', '.join(estimate.models))}"
    batch = " · Batch API" if estimate.batch else ""
    title = f" title='{esc(estimate.summary())}'"
    if not estimate.known:
        return f"<span{title}>price unknown ({esc(estimate.reason)}) · {what}{batch}</span>"
    approx = " (estimated token counts)" if not estimate.published else ""
    return (
        f"<span{title}><b>≈ {esc(estimate.price)}</b>{approx} · {what}{batch} "
        f"<span class='{_STUDIO}-dim'>· {esc(estimate.basis)}</span></span>"
    )


class _Options(widgets.VBox):  # type: ignore[misc]
    """The model and the options one endpoint takes, each offering exactly what the chosen model accepts."""

    def __init__(self, endpoint: Endpoint, *, models: tuple[str, ...] | None = None) -> None:
        self.endpoint = endpoint
        current = config.settings()
        serving = models or tuple(m.id for m in MODELS.values() if endpoint in m.endpoints)
        labels = []
        for model_id in serving:
            spec = get_model(model_id)
            tag = f" (retired {spec.retired_on})" if spec.retired else " (default)" if model_id == current.model else ""
            labels.append((model_id + tag, model_id))
        chosen = current.model if current.model in serving else serving[0]
        self.model = widgets.Dropdown(options=labels, value=chosen, description="model", style=_DESCRIPTION,
                                      layout=widgets.Layout(width=_MODEL_WIDTH))  # fmt: skip
        self.model.add_class(f"{_STUDIO}-model")
        self.controls: dict[str, widgets.Widget] = {}
        self.custom = widgets.Text(placeholder="e.g. 1536x864", description="WxH", continuous_update=True, **_field())
        self.custom.add_class(f"{_STUDIO}-custom-size")
        self.custom_problem = _text()
        self.custom.observe(lambda _: self._check_custom(), "value")
        # The slider's bounds come from the table (refresh); 2 is a starting value, not a limit.
        self.partial = widgets.IntSlider(value=2, min=0, max=3, description="partials", **_field())
        self.partial.add_class(f"{_STUDIO}-partials")
        self.stream = widgets.Checkbox(value=False, description="show partial pictures as they arrive", indent=False,
                                       layout=widgets.Layout(width="auto", margin="2px 24px 2px 2px"))  # fmt: skip
        self.stream.add_class(f"{_STUDIO}-stream")
        self.revise = widgets.Checkbox(value=True, description="revise the prompt (Responses API)", indent=False,
                                       layout=widgets.Layout(width="auto", margin="2px 24px 2px 2px"))  # fmt: skip
        self.revise.add_class(f"{_STUDIO}-revise")
        self._revise_choice: bool | None = None
        self._refreshing = False
        self.revise.observe(self._revise_chosen, "value")
        fields: list[widgets.Widget] = []
        for name in _FIELDS[endpoint]:
            control: widgets.Widget
            if name == "n":
                control = widgets.BoundedIntText(value=1, min=1, max=10, description=_LABELS[name], **_field())
            elif name == "output_compression":
                control = widgets.IntSlider(value=100, min=0, max=100, description=_LABELS[name], **_field())
            else:
                control = widgets.Dropdown(options=[], description=_LABELS[name], **_field())
            control.add_class(f"{_STUDIO}-{name.replace('_', '-')}")
            self.controls[name] = control
            fields.append(control)
            if name == "size":
                fields.append(self.custom)
        rows: list[widgets.Widget] = [self.model, _wrapping(fields), self.custom_problem]
        if endpoint != "variations":
            rows.append(_wrapping([self.stream, self.partial, self.revise]))
        super().__init__(rows)
        self.model.observe(lambda _: self.refresh(), "value")
        self.controls["size"].observe(lambda _: self._show_custom(), "value")
        if "output_format" in self.controls:
            self.controls["output_format"].observe(lambda _: self._show_compression(), "value")
        self.stream.observe(lambda _: self._show(self.partial, self.stream.value), "value")
        self.refresh()

    # ------------------------------------------------------------------ what the model takes
    def choice(self, name: str) -> Choice:
        endpoint = self.endpoint
        if endpoint == "variations" and endpoint not in get_model(self.model.value).endpoints:
            endpoint = "edits"  # a GPT image model varies through edit, with what edit takes
        return choices(self.model.value, endpoint, name)

    def refresh(self) -> None:
        """Offer exactly what the chosen model takes: new menus, defaults preselected, the rest hidden."""
        for name, control in self.controls.items():
            choice = self.choice(name)
            self._show(control, choice.supported)
            if not choice.supported:
                continue
            if name == "n":
                control.max = choice.high
                control.value = min(control.value, choice.high)
            elif name == "output_compression":
                control.min, control.max = choice.low, choice.high
                control.value = choice.default
            else:
                options = [str(a) for a in choice.allowed] + ([_CUSTOM] if name == "size" and choice.rule else [])
                keep = control.value if control.value in options else None
                control.options = options
                control.value = keep or (str(choice.default) if str(choice.default) in options else options[0])
        spec = get_model(self.model.value)
        partials = choices(spec.id, self.endpoint if self.endpoint != "variations" else "edits", "partial_images")
        if partials.supported and partials.high is not None:
            self.partial.max, self.partial.min = partials.high, partials.low or 0
        self._show(self.stream, spec.streaming and self.endpoint != "variations")
        self._show(self.partial, spec.streaming and self.stream.value)
        # the person's own tick or untick outlives a change of model; until they make one, the setting's default
        default = config.settings().revises(spec.id)
        self._refreshing = True
        try:
            self.revise.value = default if self._revise_choice is None else self._revise_choice
        finally:
            self._refreshing = False
        self._show(self.revise, spec.is_gpt and self.endpoint != "variations")
        self._show_custom()
        self._show_compression()

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever anything that goes into ``values()`` may have changed."""
        for control in (self.model, self.custom, self.stream, self.partial, self.revise, *self.controls.values()):
            control.observe(lambda _: callback(), "value")

    def _revise_chosen(self, change: dict[str, Any]) -> None:
        if not self._refreshing:
            self._revise_choice = bool(change["new"])

    def _show(self, control: widgets.Widget, shown: bool) -> None:
        control.layout.display = None if shown else "none"

    def _show_custom(self) -> None:
        custom = self.controls["size"].value == _CUSTOM
        self._show(self.custom, custom)
        self._show(self.custom_problem, custom)
        self._check_custom()

    def _show_compression(self) -> None:
        if "output_compression" in self.controls:
            lossy = self.controls.get("output_format") is not None and self.controls["output_format"].value != "png"
            self._show(self.controls["output_compression"], self.choice("output_compression").supported and lossy)

    def _check_custom(self) -> str | None:
        """Check a typed WxH as the person types: the rule's own words, with the nearest valid sizes."""
        if self.controls["size"].value != _CUSTOM:
            self.custom_problem.value = ""
            return None
        try:
            self.choice("size").check(self.custom.value.strip())
        except ParamError as error:
            self.custom_problem.value = f"<span class='{_STUDIO}-problem'>{esc(error.message)}</span>"
            return error.message
        self.custom_problem.value = ""
        return None

    # ------------------------------------------------------------------ what to send
    def values(self) -> dict[str, Any]:
        """The options for the planning functions; unset where the model does not take the field."""
        out: dict[str, Any] = {"model": self.model.value}
        for name, control in self.controls.items():
            if control.layout.display == "none":
                continue
            value = control.value
            if name == "size" and value == _CUSTOM:
                value = self.custom.value.strip()
            out[name] = value
        if self.endpoint != "variations":
            out["stream"] = bool(self.stream.value and get_model(self.model.value).streaming)
            out["partial_images"] = self.partial.value if out["stream"] else None
            out["revise"] = bool(self.revise.value) if get_model(self.model.value).is_gpt else None
        return out

    def problem(self) -> str | None:
        return self._check_custom()

    def take(self, image: GeneratedImage) -> None:
        """Reuse a picture's settings: its model and the parameters it was made with."""
        if image.model in [value for _, value in self.model.options]:
            self.model.value = image.model
        for name, control in self.controls.items():
            value = image.params.get(name)
            if value is None or control.layout.display == "none":
                continue
            if name == "size" and str(value) not in control.options and _CUSTOM in control.options:
                control.value, self.custom.value = _CUSTOM, str(value)
            elif name in ("n", "output_compression") or str(value) in control.options:
                control.value = value if name in ("n", "output_compression") else str(value)


class _Card(widgets.VBox):  # type: ignore[misc]
    """One picture: its thumbnail as image bytes, prompt, revised prompt, model, and a button to select it.

    A card can show another picture later (``show``): the gallery keeps one card per place on its
    page and only changes what they show, so turning pages sends new thumbnails and captions,
    never new widgets.
    """

    def __init__(self, image: GeneratedImage, on_select: Callable[[GeneratedImage], None]) -> None:
        self.picture = widgets.Image(format="webp", width=CARD_SIZE)
        self.text = _text()
        self.text.layout.flex = "1 1 auto"  # the select buttons of a row line up at the bottom
        self.button = widgets.Button(description="select", tooltip="select this picture", icon="check",
                                     layout=widgets.Layout(width=f"{CARD_SIZE}px"))  # fmt: skip
        self.button.add_class(f"{_STUDIO}-select")
        self.button.on_click(lambda _: on_select(self.image))
        super().__init__([self.picture, self.text, self.button],
                         layout=widgets.Layout(margin="2px", padding="2px", width=f"{CARD_SIZE + 8}px"))  # fmt: skip
        self.add_class(f"{_STUDIO}-card")
        self.show(image)

    def show(self, image: GeneratedImage, thumbnail: bytes | None = None) -> None:
        """Show ``image`` (its thumbnail already made, or made now)."""
        self.image = image
        self.picture.value = thumbnail if thumbnail is not None else image.thumbnail_webp(CARD_SIZE)
        clamp = f"{_STUDIO}-clamp"
        revised = (
            f"<div class='dalle-nb-revised {clamp}' title='{esc(image.revised_prompt)}'><i>revised:</i> "
            f"{esc(image.revised_prompt)}</div>"
            if image.revised_prompt
            else ""
        )
        label = f"<b>{esc(image.label)}</b>" if image.label else ""
        said = esc(caption(image))
        self.text.value = (
            f"<div style='font-size:11px'>{label}"
            f"<div class='dalle-nb-prompt {clamp}' title='{said}'><i>prompt:</i> {said}</div>{revised}"
            f"<div class='{_STUDIO}-dim'>{esc(image.model)} · {image.size}</div>{cost_html(image, '')}</div>"
        )

    def shows(self, image: GeneratedImage) -> bool:
        """Whether this card is of ``image`` (the same picture from the results and from the gallery)."""
        return self.image is image or bool(image.id) and self.image.id == image.id

    def mark(self, selected: bool) -> None:
        if selected:
            self.add_class(f"{_STUDIO}-selected")
        else:
            self.remove_class(f"{_STUDIO}-selected")

    def close(self) -> None:
        """Close the card's widgets too, so a card no longer shown leaves nothing behind in kernel or browser."""
        for part in _parts(self):
            if part is not self:
                part.close()
        super().close()


#: The traits through which a widget owns other widgets.  Others may point at shared ones (ipycanvas's
#: one canvas manager for the whole kernel), which must outlive any panel.
_OWNED = ("children", "_canvases", "layout", "style")


def _parts(widget: widgets.Widget) -> list[widgets.Widget]:
    """A widget and every widget it is made of (children, canvases, layouts, styles), once each."""
    found: dict[int, widgets.Widget] = {}
    waiting = [widget]
    while waiting:
        current = waiting.pop()
        if id(current) in found:
            continue
        found[id(current)] = current
        for name in _OWNED:
            value = getattr(current, name, None)
            values = value if isinstance(value, list | tuple) else (value,)
            waiting += [item for item in values if isinstance(item, widgets.Widget)]
    return list(found.values())


def _close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything in it (a closed widget's views leave the page)."""
    for part in _parts(widget):
        part.close()


class Studio(widgets.VBox):  # type: ignore[misc]
    """A panel to generate, edit, vary and browse pictures without blocking the kernel.

    ``studio.selected`` is the selected ``GeneratedImage``, ``studio.results`` the last job's
    ``ImageSet``, ``studio.history`` every picture this panel made.  Everything the buttons do
    is also a method (``generate()``, ``edit()``, ``vary()``, ``refine(text)``, ``cancel()``,
    ``search(text)``), so a tutorial can drive it from code.
    """

    selected = traitlets.Any(None, allow_none=True)

    def __init__(self, *, namespace: Mapping[str, Any] | None = None) -> None:
        self.namespace = namespace if namespace is not None else _user_namespace()
        self.results = ImageSet()
        self.history = ImageSet()
        self._handle: JobHandle | None = None
        self._failures: list[str] = []
        self._prompt_problem = ""
        self._planned_job: Job | None = None
        #: The last background batch started with "run as a batch", and the task following it.
        self.batch_job: Any = None
        self._batch_task: asyncio.Task[None] | None = None
        self._started = 0.0
        self._cards: list[_Card] = []
        self._previews: dict[tuple[str, int], tuple[widgets.Box, widgets.Image, widgets.HTML]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._shown = True  # the last job's end is on the panel (no job yet: nothing to wait for)
        #: The price lines: a count of the changes to what each button would send, the last estimate made (with
        #: the count it was made at), and the pricing waiting for the person to stop changing things.
        self._versions = {"generate": 0, "edit": 0, "vary": 0}
        self._estimates: dict[str, tuple[int, Estimate]] = {}
        self._later: dict[str, asyncio.TimerHandle] = {}
        self._price_lines: dict[str, widgets.HTML] = {}
        #: The click waiting for "Send" (its tab, its call and its estimate), asked about in ``confirmation``.
        self._pending: tuple[str, _Call, Estimate] | None = None
        self._built = False

        self.backend = _text("", f"{_STUDIO}-backend")
        self._show_backend()
        tabs = [self._generate_tab(), self._edit_tab(), self._vary_tab(), self._gallery_tab()]
        self.tabs = widgets.Tab(children=tabs)
        for index, (title, child) in enumerate(zip(("Generate", "Edit", "Vary", "Gallery"), tabs, strict=True)):
            self.tabs.set_title(index, title)
            child.add_class(f"{_STUDIO}-{title.lower()}-tab")
        self.tabs.observe(self._tab_changed, "selected_index")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="100%", display="none"))
        self.progress.add_class(f"{_STUDIO}-progress")
        self.status = _text("Ready.", f"{_STUDIO}-status")
        self.grid = _wrapping([], align="stretch")  # the cards of a row as tall as the tallest, buttons in line
        self.grid.add_class(f"{_STUDIO}-results")
        self.details = _text("", f"{_STUDIO}-details")
        self.selection = widgets.VBox([self.details, self._actions()], layout=widgets.Layout(display="none"))
        self.selection.add_class(f"{_STUDIO}-selection")
        self.confirmation = self._confirmation()
        super().__init__([widgets.HTML(_CSS), self.backend, self.tabs, self.confirmation, self.progress, self.status,
                          self.selection, self.grid])  # fmt: skip
        self.add_class(_STUDIO)
        self.observe(self._selection_changed, "selected")
        self._built = True
        for kind in self._versions:
            self._changed(kind)

    def __repr__(self) -> str:
        """One line, also what a saved notebook shows where the panel cannot be drawn (no widget state kept)."""
        made = len(self.history)
        picked = f", selected {short(self.selected.prompt)!r}" if self.selected is not None else ""
        return (
            f"<dalle_nb Studio: Generate, Edit, Vary, Gallery; {made} picture{'s' if made != 1 else ''} made here"
            f"{picked}>"
        )

    def _show_backend(self) -> None:
        """Say where pictures come from (read again before each job: settings may have changed)."""
        self.backend.value = f"<span class='{_STUDIO}-dim'>{esc(_backend_line())}</span>"

    # ------------------------------------------------------------------ the tabs
    def _generate_tab(self) -> widgets.Widget:
        self.prompt = widgets.Textarea(
            placeholder="a red fox in the snow at {dusk|night}: {a|b} runs each alternative, {name} is a variable",
            layout=widgets.Layout(width="100%", height="72px"),
        )
        self.prompt.add_class(f"{_STUDIO}-prompt")
        self.count = _text()
        self.prompt.observe(lambda _: self._count(), "value")
        self.generate_options = _Options("generations")
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="image",
                                              tooltip="make the pictures (the kernel stays free)")  # fmt: skip
        self.generate_button.add_class(f"{_STUDIO}-generate")
        self.generate_button.on_click(lambda _: self.generate())
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", disabled=True, tooltip="stop what is in flight; what arrived is kept"
        )
        self.cancel_button.add_class(f"{_STUDIO}-cancel")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.as_batch = widgets.Checkbox(
            value=False, indent=False, layout=widgets.Layout(width="auto"),
            description="run as a batch (Batch API: half the price, within 24 h; for long lists)",
        )  # fmt: skip
        self.as_batch.add_class(f"{_STUDIO}-batch")
        self.prompt.observe(lambda _: self._changed("generate"), "value")
        self.generate_options.watch(lambda: self._changed("generate"))
        self.as_batch.observe(lambda _: self._changed("generate"), "value")
        return widgets.VBox([self.prompt, self.count, self.generate_options, self.as_batch,
                             widgets.HBox([self.generate_button, self.cancel_button]),
                             self._price_line("generate")])  # fmt: skip

    def _price_line(self, kind: str) -> widgets.HTML:
        """The line under a tab's button that says what pressing it would cost."""
        line = _text("", "dalle-nb-price", f"{_STUDIO}-{kind}-price")
        self._price_lines[kind] = line
        return line

    def _confirmation(self) -> widgets.Box:
        """The question a click over the threshold asks, in the panel (never a dialog that blocks the page)."""
        self.confirm_text = _text()
        self.confirm_send = widgets.Button(description="Send", icon="check", button_style="warning",
                                           layout=widgets.Layout(width="auto"))  # fmt: skip
        self.confirm_send.add_class(f"{_STUDIO}-confirm-send")
        self.confirm_send.on_click(lambda _: self.confirm())
        self.confirm_cancel = widgets.Button(description="Cancel", icon="times", layout=widgets.Layout(width="auto"),
                                             tooltip="send nothing")  # fmt: skip
        self.confirm_cancel.add_class(f"{_STUDIO}-confirm-cancel")
        self.confirm_cancel.on_click(lambda _: self.decline())
        box = _wrapping([self.confirm_text, self.confirm_send, self.confirm_cancel])
        box.add_class("dalle-nb-confirm")
        box.layout.display = "none"
        return box

    def _source_picker(self, kind: str) -> tuple[widgets.Widget, Callable[[], object]]:
        """Where a tab's picture comes from: the selected result, a notebook variable, or an uploaded file."""
        tips = ["the picture selected under the results or in the gallery", "a picture a notebook variable holds",
                "a file of yours"]  # fmt: skip
        source = widgets.ToggleButtons(options=["selected", "variable", "upload"], value="selected", tooltips=tips)
        name = widgets.Text(placeholder="a variable holding a picture", description="variable",
                            layout=widgets.Layout(display="none"))  # fmt: skip
        upload = widgets.FileUpload(accept="image/*", multiple=False, description="choose a file",
                                    layout=widgets.Layout(width="auto", display="none"))  # fmt: skip
        for widget in (source, name, upload):
            widget.add_class(f"{_STUDIO}-{kind}-source")

        def shown(_: object = None) -> None:  # only the field the chosen source needs
            name.layout.display = None if source.value == "variable" else "none"
            upload.layout.display = None if source.value == "upload" else "none"

        source.observe(shown, "value")
        for widget in (source, name, upload):  # another picture: another price
            widget.observe(lambda _: self._changed(kind), "value")

        def pick() -> object:
            if source.value == "selected":
                if self.selected is None:
                    raise _Missing("select a picture first (the select button under a result)")
                return self.selected
            if source.value == "variable":
                if not name.value.strip():
                    raise _Missing("type the name of a variable holding a picture")
                if name.value not in self.namespace:
                    raise ValueError(f"no variable named {name.value!r} in the notebook")
                return self.namespace[name.value]
            if not upload.value:
                raise _Missing("choose a file to upload first")
            return bytes(upload.value[0]["content"])

        return widgets.VBox([source, widgets.HBox([name, upload])]), pick

    def _edit_tab(self) -> widgets.Widget:
        picker, self._edit_source = self._source_picker("edit")
        load = widgets.Button(description="Paint a mask", icon="paint-brush",
                              tooltip="open the mask editor on the picture")  # fmt: skip
        load.add_class(f"{_STUDIO}-edit-load")
        load.on_click(lambda _: self.open_editor())
        self.editor_box = widgets.VBox()
        self.references = widgets.FileUpload(accept="image/*", multiple=True, description="more input pictures",
                                             layout=widgets.Layout(width="auto", align_self="flex-start"))  # fmt: skip
        self.references.add_class(f"{_STUDIO}-references")
        self.edit_prompt = widgets.Textarea(placeholder="what to change, e.g. a bright orange sun",
                                            layout=widgets.Layout(width="100%", height="56px"))  # fmt: skip
        self.edit_prompt.add_class(f"{_STUDIO}-edit-prompt")
        self.edit_options = _Options("edits")
        self.edit_options.model.observe(lambda _: self._offer_references(), "value")
        self._offer_references()
        self.keep_unmasked = widgets.Checkbox(
            value=False,
            indent=False,
            description="keep the rest exact (pasted back here, not by the API)",
            layout=widgets.Layout(width="auto"),
        )
        self.keep_unmasked.add_class(f"{_STUDIO}-keep-unmasked")
        self.edit_button = widgets.Button(description="Edit", button_style="primary", icon="pencil")
        self.edit_button.add_class(f"{_STUDIO}-edit")
        self.edit_button.on_click(lambda _: self.edit())
        self.editor: Any = None
        for widget in (self.edit_prompt, self.references, self.keep_unmasked):
            widget.observe(lambda _: self._changed("edit"), "value")
        self.edit_options.watch(lambda: self._changed("edit"))
        return widgets.VBox([picker, load, self.editor_box, self.references, self.edit_prompt, self.edit_options,
                             self.keep_unmasked, self.edit_button, self._price_line("edit")])  # fmt: skip

    def _offer_references(self) -> None:
        """More input pictures only for a model whose edits take several (dall-e-2 takes one)."""
        takes = get_model(self.edit_options.model.value).edit.max_images
        self.references.layout.display = None if takes > 1 else "none"
        self.references.description = f"more input pictures (up to {takes - 1})" if takes > 1 else ""

    def _vary_tab(self) -> widgets.Widget:
        picker, self._vary_source = self._source_picker("vary")
        serving = tuple(m.id for m in MODELS.values() if "variations" in m.endpoints or "edits" in m.endpoints)
        self.vary_options = _Options("variations", models=serving)
        self.vary_note = _text()
        self.vary_options.model.observe(lambda _: self._vary_explained(), "value")
        self.vary_button = widgets.Button(description="Vary", button_style="primary", icon="random")
        self.vary_button.add_class(f"{_STUDIO}-vary")
        self.vary_button.on_click(lambda _: self.vary())
        self._vary_explained()
        self.vary_options.watch(lambda: self._changed("vary"))
        return widgets.VBox([picker, self.vary_options, self.vary_note, self.vary_button, self._price_line("vary")])

    def _vary_explained(self) -> None:
        spec = get_model(self.vary_options.model.value)
        if "variations" in spec.endpoints:
            self.vary_note.value = f"<span class='{_STUDIO}-dim'>Uses the variations endpoint.</span>"
        else:
            self.vary_note.value = (
                f"<span class='{_STUDIO}-dim'>{spec.id} has no variations endpoint: the variation is made through "
                f"edit with this prompt: <i>{esc(api.VARIATION_PROMPT)}</i></span>"
            )

    def _gallery_tab(self) -> widgets.Widget:
        self.search_box = widgets.Text(
            placeholder="search the history by a word of the prompt", continuous_update=False
        )
        self.search_box.add_class(f"{_STUDIO}-search")
        self.search_box.observe(lambda _: self.search(self.search_box.value), "value")
        self.page = 0
        self.page_label = _text()
        self.page_label.layout.margin = "0 8px"
        self._newer = widgets.Button(description="newer", icon="arrow-left", disabled=True,
                                     layout=widgets.Layout(width="auto"))  # fmt: skip
        self._older = widgets.Button(description="older", icon="arrow-right", disabled=True,
                                     layout=widgets.Layout(width="auto"))  # fmt: skip
        self._newer.on_click(lambda _: self._turn(-1))
        self._older.on_click(lambda _: self._turn(1))
        self.gallery = _wrapping([], align="stretch")
        self.gallery.add_class(f"{_STUDIO}-gallery")
        self._gallery_cards: list[_Card] = []
        self._gallery_pool: list[_Card] = []
        pager = widgets.HBox([self._newer, self.page_label, self._older], layout=widgets.Layout(align_items="center"))
        return widgets.VBox([self.search_box, pager, self.gallery])

    def _actions(self) -> widgets.Widget:
        """What can be done with the selected picture: one row under its details (shown once one is selected)."""
        self.refine_text = widgets.Text(placeholder="now make it dusk", layout=widgets.Layout(width="200px"))
        self.refine_text.add_class(f"{_STUDIO}-refine-text")
        self.save_path = widgets.Text(placeholder="fox.png", layout=widgets.Layout(width="160px"))
        self.save_path.add_class(f"{_STUDIO}-save-path")
        row: list[widgets.Widget] = []
        self._selection_buttons = []
        for label, icon, tip, action, before in (
            ("Edit", "pencil", "paint a mask on it and edit it (opens the Edit tab)", self._edit_selected, None),
            ("Vary", "random", "variations of it (with the Vary tab's settings)", self._vary_selected, None),
            ("Reuse", "recycle", "put its prompt and settings back in the Generate tab", self.reuse, None),
            ("Refine", "comment", "the next turn of its conversation, as the text beside says",
             lambda: self.refine(), self.refine_text),
            ("Save", "save", "write it to the path beside", lambda: self.save(self.save_path.value), self.save_path),
        ):  # fmt: skip
            button = widgets.Button(description=label, icon=icon, tooltip=tip, disabled=True,
                                    layout=widgets.Layout(width="auto", margin="2px 12px 2px 2px"))  # fmt: skip
            button.add_class(f"{_STUDIO}-{label.lower()}-selected")
            button.on_click(lambda _, act=action: self._guarded(act))
            self._selection_buttons.append(button)
            row += [before, button] if before is not None else [button]
        return _wrapping(row)

    # ------------------------------------------------------------------ running
    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.get_event_loop_policy().get_event_loop()

    def _count(self) -> list[Any]:
        text = self.prompt.value.strip()
        self._prompt_problem = "" if text else "write a prompt first"
        if not text:
            self.count.value = ""
            return []
        try:
            expanded = expand(text, self.namespace)
        except PromptError as error:
            self._prompt_problem = str(error)
            self.count.value = f"<span class='{_STUDIO}-problem'>{esc(self._prompt_problem)}</span>"
            return []
        number = len(expanded)
        self.count.value = f"<span class='{_STUDIO}-dim'>{number} prompt{'s' if number != 1 else ''}</span>"
        return expanded

    def _generate_call(self) -> _Call:
        """What Generate would send; ``ValueError`` (``_Missing`` for a missing prompt) says why nothing."""
        expanded = self._count()
        if not expanded:
            raise (_Missing if not self.prompt.value.strip() else ValueError)(self._prompt_problem)
        if problem := self.generate_options.problem():
            raise ValueError(problem)
        options = self.generate_options.values()
        prompts, labels = [e.prompt for e in expanded], [e.label for e in expanded]
        if self.as_batch.value:
            sent = {k: v for k, v in options.items() if k not in ("stream", "partial_images", "revise")}
            return _Call(submit, (prompts,), {"labels": labels, **sent}, batch=True)
        return _Call(api.generate, (prompts,), {"labels": labels, **options})

    def generate(self) -> JobHandle | None:
        """Start making the pictures the prompt box asks for; returns the job (None when refused, or when a price
        over the threshold waits for "Send": see ``confirm``)."""
        try:
            call = self._generate_call()
        except ValueError as error:
            return self._refuse(str(error))
        return self._send_or_ask("generate", call)

    def _submit_batch(self, call: _Call) -> None:
        """Send the prompts as a background batch, follow it, and show its pictures when it ends.

        Submitting (planning, writing and uploading the lines), checking and collecting all run on
        worker threads, so the kernel stays free while the batch waits on the API's side.
        """
        if self._batch_task is not None and not self._batch_task.done():
            self._refuse("a batch is running: wait for it, or cancel it")
            return
        loop = self._loop()
        self._reset_results()
        self._shown = False
        self._running(True)
        self._started = time.monotonic()
        self._say(f"Submitting a batch of {len(call.args[0])} request(s)…")

        async def follow() -> None:
            try:
                job = await loop.run_in_executor(None, lambda: call.function(*call.args, **call.options))
                self.batch_job = job
                while not (status := await loop.run_in_executor(None, job.status)).done:
                    self._say(f"Batch {status} (the kernel is free; the API runs it within 24 h)")
                    await asyncio.sleep(_BATCH_POLL)
                self._say(f"Batch {status}; collecting…")
                images = await loop.run_in_executor(None, lambda: job.collect(wait=False))
            except DalleError as error:
                self._running(False)
                self._shown = True  # the refusal is what the panel shows: nothing to wait for
                self._refuse(_say(error))
                return
            for image in images:
                self._add(image)
            self._finished(images)

        self._batch_task = loop.create_task(follow())

    def open_editor(self) -> Any:
        """Open the mask editor on the Edit tab's picture."""
        try:
            picture = self._edit_source()
            editor = MaskEditor(picture)
        except (ValueError, DalleError) as error:
            self._refuse(_say(error) if isinstance(error, DalleError) else str(error))
            return None
        if self.editor is not None:  # the panel's last editor is not shown any more: its canvases go
            self.editor_box.children = []
            _close_tree(self.editor)
        self.editor, self._edit_picture = editor, picture
        self.editor_box.children = [self.editor]
        self._changed("edit")  # the Edit button now edits this picture
        self._say("Paint where the picture should change, then press Edit.")
        return self.editor

    def _edit_call(self) -> _Call:
        """What Edit would send: the editor's picture (else the chosen source's), the prompt, the mask if painted."""
        picture = self._edit_picture if self.editor is not None else self._edit_source()
        text = self.edit_prompt.value.strip()
        if not text:
            raise _Missing("write what to change in the edit prompt")
        if problem := self.edit_options.problem():
            raise ValueError(problem)
        options = self.edit_options.values()
        more = self.references.value if self.references.layout.display != "none" else ()
        pictures: list[object] = [picture, *(bytes(f["content"]) for f in more or ())]
        mask = self.editor if self.editor is not None and self.editor.coverage > 0 else None
        if self.keep_unmasked.value:
            options["keep_unmasked"] = True
        image = pictures if len(pictures) > 1 else pictures[0]
        return _Call(api.edit, (image, text), {"mask": mask, **options})

    def edit(self) -> JobHandle | None:
        """Edit the Edit tab's picture as its prompt says, only where the mask is painted (if painted)."""
        if self.editor is None and self.open_editor() is None:
            return None
        try:
            call = self._edit_call()
        except ValueError as error:
            return self._refuse(str(error))
        return self._send_or_ask("edit", call)

    def _vary_call(self) -> _Call:
        return _Call(api.vary, (self._vary_source(),), self.vary_options.values())

    def vary(self) -> JobHandle | None:
        """Variations of the Vary tab's picture."""
        try:
            call = self._vary_call()
        except ValueError as error:
            return self._refuse(str(error))
        return self._send_or_ask("vary", call)

    def refine(self, instruction: str | None = None) -> JobHandle | None:
        """The next turn of the selected picture's conversation ("now make it dusk")."""
        text = (instruction if instruction is not None else self.refine_text.value).strip()
        if self.selected is None or not text:
            return self._refuse("select a picture and write how to refine it")
        return self._send_or_ask("refine", _Call(api.refine, (self.selected, text)))

    # ------------------------------------------------------------------ the price, before the click
    def _changed(self, kind: str) -> None:
        """Something ``kind``'s button would send changed: price it again; a question about it no longer holds."""
        if not self._built:
            return
        self._versions[kind] += 1
        if self._pending is not None and self._pending[0] == kind:
            self._hide_confirmation()
            self._say("The options changed, so nothing was sent: press the button again.")
        version, loop = self._versions[kind], self._running_loop()
        if kind == "generate" or loop is None:  # planning a generation is pure CPU, a millisecond or so
            self._show_price(kind, version, self._price_now(kind))
            return
        # an edit or a variation reads and prepares its pictures: on a worker, once the changes stop
        if (waiting := self._later.pop(kind, None)) is not None:
            waiting.cancel()
        self._later[kind] = loop.call_later(_PRICE_DELAY, self._price_on_worker, kind, version, loop)

    def _selection_changed(self, _change: object) -> None:
        self._changed("edit")
        self._changed("vary")

    def _call_for(self, kind: str) -> _Call:
        return {"generate": self._generate_call, "edit": self._edit_call, "vary": self._vary_call}[kind]()

    def _price_now(self, kind: str) -> Estimate | BaseException:
        try:
            return _priced(self._call_for(kind))
        except ValueError as error:
            return error

    def _price_on_worker(self, kind: str, version: int, loop: asyncio.AbstractEventLoop) -> None:
        self._later.pop(kind, None)
        if version != self._versions[kind]:
            return
        try:
            call = self._call_for(kind)  # the widgets are read here, on the kernel's thread
        except ValueError as error:
            self._show_price(kind, version, error)
            return
        future = loop.run_in_executor(None, _priced, call)
        future.add_done_callback(lambda done: self._show_price(kind, version, done.result()))

    def _show_price(self, kind: str, version: int, outcome: Estimate | BaseException) -> None:
        """The price line says the estimate, or why there is none; an estimate made for older options is dropped."""
        if version != self._versions[kind]:
            return
        line = self._price_lines[kind]
        if isinstance(outcome, Estimate):
            self._estimates[kind] = (version, outcome)
            line.value = _price_html(outcome)
            return
        self._estimates.pop(kind, None)
        style = f"{_STUDIO}-dim" if isinstance(outcome, _Missing) else f"{_STUDIO}-problem"
        line.value = f"<span class='{style}'>{esc(_say(outcome))}</span>"

    # ------------------------------------------------------------------ asking first
    def confirm_over(self) -> float | None:
        """The price above which a click asks first: the ``confirm_over`` setting on every backend; unset, the
        Studio's ``CONFIRM_OVER`` where pictures are billed (not the offline backend, where they are free)."""
        current = config.settings()
        if current.confirm_over is not None:
            return current.confirm_over
        return None if current.backend == "offline" else CONFIRM_OVER

    def _send_or_ask(self, kind: str, call: _Call) -> JobHandle | None:
        """Send ``call``, or, when it may cost more than ``confirm_over()``, ask first and send nothing yet.

        The price is the price line's when it was made for these very options; a generation is priced again
        at once (a millisecond); an edit, a variation or a refinement whose price is not known yet is priced on
        a worker first (its pictures are read and prepared, which may take seconds the kernel must not spend),
        and then sent or asked about, so the click returns None.
        """
        self._hide_confirmation()
        limit = self.confirm_over()
        if limit is None:
            return self._go(call)
        known = self._estimates.get(kind)
        if kind != "generate" and known is not None and known[0] == self._versions.get(kind):
            return self._decide(kind, call, known[1], limit)
        loop = self._running_loop()
        if kind == "generate" or loop is None:
            return self._decide(kind, call, _priced(call), limit)
        self._say("Pricing it before it is sent…")
        future = loop.run_in_executor(None, _priced, call)
        future.add_done_callback(lambda done: self._decide(kind, call, done.result(), limit))
        return None

    def _decide(self, kind: str, call: _Call, outcome: Estimate | BaseException, limit: float) -> JobHandle | None:
        """Ask when ``outcome`` may be over ``limit``; else send (a call that cannot be priced is sent: it says
        itself why it cannot be made, as it would without a price)."""
        if isinstance(outcome, Estimate) and outcome.high is not None and outcome.high > limit:
            self._ask(kind, call, outcome, limit)
            return None
        return self._go(call)

    def _go(self, call: _Call) -> JobHandle | None:
        if call.batch:
            self._submit_batch(call)
            return None
        return self._start(lambda loop: call.start(loop, self._on_event))

    def _ask(self, kind: str, call: _Call, estimate: Estimate, limit: float) -> None:
        self._pending = (kind, call, estimate)
        source = "your confirm_over setting" if config.settings().confirm_over is not None else "the Studio's limit"
        pictures = _plural(estimate.pictures, "picture")
        self.confirm_text.value = (
            f"<span>{pictures} may cost <b>{esc(estimate.price)}</b>, more than {esc(usd(limit))} ({source}). "
            f"Send?</span>"
        )
        self.confirm_send.description = f"Send ({estimate.price})"
        self.confirm_send.tooltip = f"send it: {estimate.summary()}"
        self.confirmation.layout.display = None
        self._say("Nothing sent yet: confirm the price above.")

    def _hide_confirmation(self) -> None:
        self._pending = None
        self.confirmation.layout.display = "none"

    def confirm(self) -> JobHandle | None:
        """Send what the confirmation asks about (its Send button); None when nothing waits, or for a batch."""
        if self._pending is None:
            return None
        call = self._pending[1]
        self._hide_confirmation()
        return self._go(call)

    def decline(self) -> None:
        """Send nothing of what the confirmation asks about (its Cancel button)."""
        if self._pending is not None:
            self._hide_confirmation()
            self._say("Not sent.")

    def _start(self, start: Callable[[asyncio.AbstractEventLoop], JobHandle]) -> JobHandle | None:
        """Start a job through the Python API with ``wait=False``: its events arrive on the kernel's loop.

        The API checks the options at the call, so a bad one (or the budget) is refused here, in the status
        line, before anything starts; a generation is planned at once.  A job with pictures to read and
        prepare (edit, vary, refine) is prepared on a worker thread, since a big picture takes seconds the
        kernel must not spend; what that refuses arrives as the job's failure, in the status line like any other.
        """
        if self._handle is not None and not self._handle.done():
            return self._refuse("a job is running: wait for it, or cancel it")
        loop = self._loop()
        try:
            handle = start(loop)
        except DalleError as error:
            return self._refuse(_say(error))
        except ValueError as error:
            return self._refuse(str(error))
        self._reset_results(handle.job.notices if handle.job is not None else [])
        self.progress.max, self.progress.value = max(1, handle.expected), 0
        self.progress.layout.display = None
        self._show_backend()
        self._started = time.monotonic()
        self._running(True)
        self._handle, self._shown, self._failures = handle, False, []
        self._what = "the picture: preparing it"
        self._planned_job = None
        self._tick(loop)
        return handle

    def _learn_job(self) -> None:
        """Once the job is planned (here, or on a worker), the line and the bar say how many pictures it makes."""
        job = self._handle.job if self._handle is not None else None
        if job is None or job is self._planned_job:
            return
        self._planned_job = job
        self.progress.max = max(1, job.pictures)
        self._what = f"{job.pictures} picture{'s' if job.pictures != 1 else ''} from {job.settings.model}"
        self.results.notices[:] = list(job.notices)

    def _reset_results(self, notices: list[str] | None = None) -> None:
        self.results = ImageSet(notices=list(notices or []))
        self.grid.children = []
        for card in self._cards:  # the last job's cards are not shown any more
            card.close()
        self._cards, self._previews = [], {}

    async def wait(self, timeout: float | None = None) -> ImageSet:
        """Wait, without blocking the kernel, until the panel's job has ended and the panel shows it; its pictures.

        For driving the panel from code: ``job = studio.generate()`` in one cell, then
        ``images = await studio.wait()`` (IPython runs a top-level ``await`` on the kernel's loop, which
        delivers the job's events meanwhile; ``job.result()`` would block that loop until the job ends).
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._shown:
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError(f"the Studio's job was still running after {timeout} s")
            await asyncio.sleep(0.02)
        return self.results

    def cancel(self) -> None:
        """Stop what is in flight; pictures that arrived stay."""
        if self._handle is not None and self._handle.cancel():
            self._say("Cancelling…")
        elif self.batch_job is not None and self._batch_task is not None and not self._batch_task.done():
            job = self.batch_job
            self._loop().run_in_executor(None, job.cancel)  # the API stops it; what ran is collected
            self._say("Cancelling the batch…")

    def _running(self, running: bool) -> None:
        for button in (self.generate_button, self.edit_button, self.vary_button):
            button.disabled = running
        self.cancel_button.disabled = not running

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._handle is None or self._handle.done():
            return
        self._say_progress()
        self._timer = loop.call_later(1.0, self._tick, loop)

    def _say_progress(self) -> None:
        """The running job's line: what is being made, how many arrived (as many as the cards shown), for how long.

        A request that failed while others run stays in the line (in the error colour) until the job
        ends, so the ticking clock never hides it.
        """
        if self._handle is None or self._handle.done():
            return
        self._learn_job()
        seconds = int(time.monotonic() - self._started)
        prefix = "Cancelling" if self._handle.cancelling else "Making"
        line = f"{prefix} {self._what}: {self.progress.value} arrived … {seconds} s"
        if self._failures:
            failed = f"{len(self._failures)} failed" if len(self._failures) > 1 else "1 failed"
            line += f"; {failed}: {self._failures[-1]}"
        self._say(line, error=bool(self._failures))

    def _on_event(self, event: Event) -> None:
        """Events arrive on the kernel's loop: the panel fills in as pictures come."""
        if isinstance(event, PartialImage):
            self._preview(event)
        elif isinstance(event, ImageSaved):
            self._add(event.image)
            self.progress.value = min(self.progress.max, self.progress.value + 1)
            self._say_progress()
        elif isinstance(event, RequestFailed):
            self._failures.append(str(event.failure))
            self._say_progress()
        elif isinstance(event, JobDone):
            self._finished(event.result)

    def _preview(self, partial: PartialImage) -> None:
        """A picture on its way, in the place its card will take; each partial replaces the last."""
        if partial.final:
            return  # the finished picture arrives as ImageSaved, with its card
        webp, _box = preview_webp(partial, CARD_SIZE)
        key = (partial.prompt, partial.index)
        what = esc(partial.label or partial.prompt)
        caption = f"<div class='{_STUDIO}-clamp' style='font-size:11px'><i>arriving:</i> {what}</div>"
        if key in self._previews:
            _box, picture, text = self._previews[key]
            picture.value, text.value = webp, caption  # in place: the same box, a better picture
        else:
            picture = widgets.Image(value=webp, format="webp", width=CARD_SIZE)
            text = _text(caption)
            box = widgets.VBox([picture, text], layout=widgets.Layout(margin="2px", padding="2px",
                                                                      width=f"{CARD_SIZE + 8}px"))  # fmt: skip
            box.add_class(f"{_STUDIO}-preview")
            self._previews[key] = (box, picture, text)
            self.grid.children = (*self.grid.children, box)

    def _add(self, image: GeneratedImage) -> None:
        """A finished picture's card: in its preview's place when it had one, else at the end."""
        card = _Card(image, self.select)
        self._cards.append(card)
        keys = sorted((key for key in self._previews if key[0] == image.prompt), key=lambda key: key[1])
        preview = self._previews.pop(keys[0])[0] if keys else None
        children = list(self.grid.children)
        if preview is not None and preview in children:
            children[children.index(preview)] = card
        else:
            children.append(card)
        self.grid.children = tuple(children)

    def _finished(self, result: ImageSet) -> None:
        self.results, self._shown = result, True
        self.history.images.extend(result.images)
        self.progress.layout.display = "none"
        self._running(False)
        if self._previews:  # partial pictures of what did not arrive (cancelled, failed) are not results
            leftovers = {box for box, _picture, _text in self._previews.values()}
            self.grid.children = tuple(child for child in self.grid.children if child not in leftovers)
            self._previews = {}
        seconds = time.monotonic() - self._started
        count = f"{len(result)} picture{'s' if len(result) != 1 else ''}"
        bill = f" · {result.cost.said()}" if result.images else ""
        if result.cancelled:
            self._say(f"Cancelled — kept {count}{bill}.")
        elif result.failures and not result.images:
            self._say(_say(result.failures[0].error), error=True)
        elif result.failures:
            self._say(f"{count} in {seconds:.0f} s{bill}; {len(result.failures)} failed: {result.failures[0]}",
                      error=True)  # fmt: skip
        else:
            note = f" {result.notices[0]}" if result.notices else ""
            self._say(f"Done: {count} in {seconds:.0f} s{bill}.{note}")

    # ------------------------------------------------------------------ the selection
    def select(self, image: GeneratedImage) -> None:
        """Make ``image`` the selected picture: the actions work on it, and ``studio.selected`` holds it."""
        self.selected = image
        for card in (*self._cards, *self._gallery_cards):
            card.mark(card.shows(image))
        for button in self._selection_buttons:
            button.disabled = False
        revised = f"<br><i>revised:</i> {esc(image.revised_prompt)}" if image.revised_prompt else ""
        facts = [image.model, image.size]
        facts += [f"{_LABELS.get(k, k)} {v}" for k, v in image.params.items() if k not in _UNSHOWN and v is not None]
        if image.text_model:
            facts.append(f"revised by {image.text_model}")
        if image.created:
            facts.append(time.strftime("made %Y-%m-%d %H:%M", time.localtime(image.created)))
        if origin := _origin(image):
            facts.append(origin)
        self.details.value = (
            f"<div style='font-size:12px'><b>selected:</b> {esc(caption(image))}{revised}<br>"
            f"<span class='{_STUDIO}-dim'>{esc(' · '.join(str(fact) for fact in facts))}</span></div>"
        )
        self.selection.layout.display = None

    def _guarded(self, action: Callable[[], object]) -> None:
        try:
            action()
        except (DalleError, OSError, ValueError) as error:
            self._refuse(_say(error) if isinstance(error, DalleError) else str(error))

    def _edit_selected(self) -> None:
        self.tabs.selected_index = 1
        self.open_editor()

    def _vary_selected(self) -> None:
        self.tabs.selected_index = 2
        self.vary()

    def reuse(self) -> None:
        """Put the selected picture's prompt and settings back into the Generate tab."""
        if self.selected is None:
            return
        self.prompt.value = self.selected.prompt
        self.generate_options.take(self.selected)
        self.tabs.selected_index = 0
        self._say("Prompt and settings copied to the Generate tab.")

    def save(self, path: str) -> Path | None:
        """Write the selected picture to ``path``."""
        if self.selected is None or not path.strip():
            self._refuse("select a picture and type a path to save it to")
            return None
        target: Path = self.selected.save(Path(path.strip()).expanduser())
        self._say(f"Saved to {target}")
        return target

    # ------------------------------------------------------------------ the gallery
    def _tab_changed(self, change: Mapping[str, Any]) -> None:
        if change["new"] == 3:
            self.search(self.search_box.value)

    def search(self, text: str = "") -> None:
        """Show the first page of the history matching ``text`` (all of it when empty), newest first."""
        self.page = 0
        self._query = text.strip() or None
        self._show_page()

    def _turn(self, step: int) -> None:
        self.page = max(0, self.page + step)
        self._show_page()

    def _show_page(self) -> None:
        store = default_session().gallery()
        try:
            total = store.count(self._query)
            pages = max(1, -(-total // PAGE_SIZE))
            self.page = min(self.page, pages - 1)
            records = store.search(self._query, limit=PAGE_SIZE, offset=self.page * PAGE_SIZE)
        except DalleError as error:
            self._refuse(_say(error))
            return
        images = [GeneratedImage.from_record(record) for record in records]
        thumbnails = _thumbnails(images)
        while len(self._gallery_pool) < len(images):  # a card per place on the page, made once
            self._gallery_pool.append(_Card(images[len(self._gallery_pool)], self.select))
        self._gallery_cards = self._gallery_pool[: len(images)]
        for card, image, thumbnail in zip(self._gallery_cards, images, thumbnails, strict=True):
            card.show(image, thumbnail)
            card.mark(self.selected is not None and card.shows(self.selected))
        self.gallery.children = tuple(self._gallery_cards)
        self._newer.disabled, self._older.disabled = self.page == 0, self.page >= pages - 1
        found = f"matching {self._query!r}" if self._query else "in the history"
        number = f"{total:,} picture{'s' if total != 1 else ''}"
        self.page_label.value = f"page {self.page + 1} of {pages:,} · {number} {esc(found)}"

    # ------------------------------------------------------------------ the status line
    def _say(self, text: str, *, error: bool = False) -> None:
        problem = f" class='{_STUDIO}-problem'" if error else ""
        self.status.value = f"<span{problem}>{esc(text)}</span>"

    def _refuse(self, text: str) -> JobHandle | None:
        """Say why nothing was started, in the status line; returns None, the job that was not started."""
        self._say(text, error=True)
        return None


def _thumbnails(images: list[GeneratedImage]) -> list[bytes]:
    """Each picture's card thumbnail, made on threads: a page of pictures never shown before decodes its
    pictures in parallel (Pillow lets go of the GIL), one shown before reads its thumbnail from ``thumbs/``."""
    if len(images) < 2:
        return [image.thumbnail_webp(CARD_SIZE) for image in images]
    with ThreadPoolExecutor(max_workers=min(len(images), os.cpu_count() or 1, 8)) as pool:
        return list(pool.map(lambda image: image.thumbnail_webp(CARD_SIZE), images))


def _origin(image: GeneratedImage) -> str | None:
    """What a picture was made from, in words ("an edit of 'a grey wall'"), never as internal ids."""
    if not image.parents:
        return None
    what = {"edit": "an edit", "vary": "a variation", "refine": "a refinement"}.get(image.kind, "made from")
    parent = short(image.parent_prompt or "")
    if what == "made from":
        return f"made from '{parent}'" if parent else None
    return f"{what} of '{parent}'" if parent else f"{what} of another picture"


def _user_namespace() -> dict[str, Any]:
    """The notebook's variables, for ``{name}`` in prompts and for pictures named by their variable."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    namespace: dict[str, Any] = shell.user_ns if shell is not None else {}
    return namespace


__all__ = ["PAGE_SIZE", "Studio"]
