"""``%%dalle`` and its siblings: parse the options, fill in the prompt, call the public API, show the pictures.

Loading this module imports no SDK, numpy or Pillow (``%load_ext dalle_nb`` stays fast);
they load on the first request.  Every mistake and every API refusal is a one-line
``UsageError`` (no traceback); settings are traitlets, so ``%config Dalle.model = "..."``
works and is checked against the capability table.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from traitlets import Bool, Int, TraitError, Unicode, observe, validate

from .prompts import PromptError, expand

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .client import Event
    from .results import ImageSet

SUBCOMMANDS = ("models", "config", "history", "help")


class _Parser(argparse.ArgumentParser):
    """argparse that reports as ``UsageError`` and refuses an option given twice."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%{self.prog}: {message}. See %dalle help.")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%{self.prog}: see %dalle help.")


class _Once(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        if getattr(namespace, f"_seen_{self.dest}", False):
            raise UsageError(f"%{parser.prog}: option {option_string} was given twice; give it once.")
        setattr(namespace, f"_seen_{self.dest}", True)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _parser(prog: str, *, image: bool = False, prompt_option: bool = False, vary: bool = False) -> _Parser:
    parser = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    if image:
        parser.add_argument("image", help="the picture: a variable or expression (GeneratedImage, path, PIL, ...)")
    add = parser.add_argument
    add("-m", "--model", action=_Once, help="model id (see %dalle models)")
    add("-n", type=_whole, action=_Once, help="how many pictures")
    add("-s", "--size", action=_Once, help="e.g. 1024x1024, 1536x1024, auto")
    add("-o", "--out", action=_Once, metavar="NAME", help="store the ImageSet in this variable")
    add("--no-show", action=_Once, nargs=0, dest="no_show", help="do not display the pictures")
    if prompt_option:
        add("-p", "--prompt", action=_Once, help="the prompt, instead of the cell body")
    if vary:
        return parser
    add("-q", "--quality", action=_Once, help="low, medium, high, auto (GPT); standard, hd (dall-e-3)")
    add("--background", action=_Once, help="transparent, opaque, auto")
    add("-f", "--format", action=_Once, dest="output_format", help="png, webp, jpeg")
    add("--compression", type=_whole, action=_Once, dest="output_compression", help="0-100, webp/jpeg")
    add("--stream", action=_Once, nargs=0, help="show partial pictures as they arrive")
    add("--partial", type=_whole, action=_Once, dest="partial_images", metavar="N", help="partial pictures 0-3")
    if image:
        add("--mask", action=_Once, help="mask: a variable or expression (True/white or alpha 0 = edit here)")
        add("--markup", action=_Once, help="markup drawing (GPT Image 2.5)")
        add("--fidelity", action=_Once, dest="input_fidelity", help="input_fidelity: high, low")
    else:
        add("--style", action=_Once, help="vivid, natural (dall-e-3)")
        add("--moderation", action=_Once, help="low, auto")
    return parser


def _split(line: str, prog: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"%{prog}: {exc} (check the quotes).") from None


def _unknown_option(parser: argparse.ArgumentParser, args: list[str]) -> None:
    known = [s for action in parser._actions for s in action.option_strings]
    for arg in args:
        if arg.startswith("-") and arg not in known and not arg.lstrip("-").isdigit():
            close = difflib.get_close_matches(arg, known, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UsageError(f"%{parser.prog}: unknown option {arg}.{hint} See %dalle help.")


HELP = """dalle_nb magics — pictures from OpenAI's image models (or the offline backend)

%%dalle [options]              the cell body is the prompt
%dalle [options] PROMPT         a one-line prompt
%%dalle_edit IMAGE [--mask M]   edit IMAGE as the cell body says (or --prompt)
%dalle_vary IMAGE [-n N]        variations of IMAGE
%dalle models | config | history [TEXT] | help

options: -m/--model  -n N  -s/--size WxH  -q/--quality  --style  --background  -f/--format
         --compression 0-100  --moderation  --stream  --partial N  -o/--out NAME  --no-show
prompt:  {name}, {obj.attr}, {items[0]} fill in variables; {{ and }} are literal braces;
         {red|blue} runs every alternative (a prompt matrix), labelled in the grid.
config:  %config Dalle.model = "gpt-image-1.5"   (also size, quality, n, concurrency, offline,
         gallery_dir, thumbnail_size; or [tool.dalle_nb] in pyproject.toml)"""


@magics_class
class Dalle(Magics):
    """The dalle_nb magics and their defaults (``%config Dalle.<name> = ...``)."""

    model = Unicode(None, allow_none=True, help="Default model id, e.g. 'gpt-image-1.5'.").tag(config=True)
    size = Unicode(None, allow_none=True, help="Default size, e.g. '1024x1024' or 'auto'.").tag(config=True)
    quality = Unicode(None, allow_none=True, help="Default quality.").tag(config=True)
    n = Int(None, allow_none=True, help="Default number of pictures.").tag(config=True)
    concurrency = Int(None, allow_none=True, help="How many requests run at once.").tag(config=True)
    offline = Bool(None, allow_none=True, help="True: always use the offline backend.").tag(config=True)
    gallery_dir = Unicode(None, allow_none=True, help="Where pictures and history are kept.").tag(config=True)
    thumbnail_size = Int(None, allow_none=True, help="Largest side of previews, in pixels.").tag(config=True)

    #: Where a setting changed through these traits came from, as ``%dalle config`` shows it.
    _source = "%config Dalle"

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._apply_all()

    # ------------------------------------------------------------------ settings as traitlets
    @validate("model")
    def _check_model(self, proposal: Any) -> Any:
        from .models import ParamError, get_model

        if proposal["value"] is not None:
            try:
                spec = get_model(proposal["value"])
            except ParamError as error:
                raise TraitError(error.message) from None
            if spec.retired:
                print(f"dalle_nb: note: {spec.retirement_message()} (still served by gateways and offline)")
        return proposal["value"]

    @validate("quality")
    def _check_quality(self, proposal: Any) -> Any:
        from .models import get_model

        value = proposal["value"]
        spec = get_model(self.model or _current_model())
        if value is not None and value not in spec.qualities:
            raise TraitError(f"quality {value!r} is not one of {', '.join(spec.qualities)} for {spec.id}")
        return value

    @validate("size")
    def _check_size(self, proposal: Any) -> Any:
        from .models import ParamError, check_size, get_model

        value = proposal["value"]
        if value is not None:
            try:
                check_size(get_model(self.model or _current_model()), "generations", value)
            except ParamError as error:
                raise TraitError(error.message) from None
        return value

    @validate("n", "concurrency", "thumbnail_size")
    def _check_positive(self, proposal: Any) -> Any:
        value = proposal["value"]
        limits = {"n": (1, 100), "concurrency": (1, 64), "thumbnail_size": (32, 2048)}[proposal["trait"].name]
        if value is not None and not limits[0] <= value <= limits[1]:
            raise TraitError(f"{proposal['trait'].name} must be from {limits[0]} to {limits[1]}, not {value}")
        return value

    @observe("model", "size", "quality", "n", "concurrency", "offline", "gallery_dir", "thumbnail_size")
    def _apply(self, change: Any) -> None:
        from . import config

        if change["new"] is not None:
            config.update({change["name"]: change["new"]}, source=self._source)

    def _apply_all(self) -> None:
        from . import config

        values = {name: getattr(self, name) for name in self.trait_names(config=True)}
        values = {k: v for k, v in values.items() if v is not None and k not in ("config", "parent")}
        if values:
            config.update(values, source="%config Dalle")

    # ------------------------------------------------------------------ the magics
    @line_cell_magic
    def dalle(self, line: str, cell: str | None = None) -> Any:
        """Make pictures from the cell body (or the rest of the line); ``%dalle help`` lists the options."""
        words = _split(line, "dalle")
        if cell is None and not words:
            return self._subcommand("help", [])
        if cell is None and words and words[0] in SUBCOMMANDS:
            return self._subcommand(words[0], words[1:])
        parser = _parser("dalle")
        options, rest = parser.parse_known_args(words)
        _unknown_option(parser, rest)
        text = cell if cell is not None else " ".join(rest)
        if cell is not None and rest:
            raise UsageError(f"%%dalle: unexpected {' '.join(rest)!r} on the magic line; the prompt goes in the cell.")
        return self._generate(text, options)

    @line_cell_magic
    def dalle_edit(self, line: str, cell: str | None = None) -> Any:
        """Edit IMAGE as the cell body (or ``--prompt``) says, optionally only where ``--mask`` marks."""
        parser = _parser("dalle_edit", image=True, prompt_option=True)
        options, rest = parser.parse_known_args(_split(line, "dalle_edit"))
        _unknown_option(parser, rest)
        if rest:
            raise UsageError(f'%dalle_edit: unexpected {" ".join(rest)!r}; quote a prompt with --prompt "...".')
        text = options.prompt if options.prompt is not None else (cell or "")
        if options.prompt is not None and cell and cell.strip():
            raise UsageError("%%dalle_edit: give the prompt in the cell or with --prompt, not both.")
        if not text.strip():
            raise UsageError('%dalle_edit: no prompt: write it in the cell body, or pass --prompt "...".')
        prompts = self._expand(text)
        if len(prompts) > 1:
            raise UsageError("%dalle_edit: {a|b} alternatives are for %%dalle; edit one prompt at a time.")
        image = self._evaluate(options.image, "IMAGE")
        mask = self._evaluate(options.mask, "--mask") if options.mask else None
        markup = self._evaluate(options.markup, "--markup") if options.markup else None

        streaming = bool(options.stream or options.partial_images is not None)

        def run(progress: _Progress | None) -> ImageSet:
            from . import api

            return api.edit(
                image, prompts[0].prompt, mask=mask, markup=markup, input_fidelity=options.input_fidelity,
                model=options.model, n=options.n, size=options.size, quality=options.quality,
                background=options.background, output_format=options.output_format,
                output_compression=options.output_compression, stream=bool(options.stream),
                partial_images=options.partial_images,
                on_partial=progress.on_partial if progress is not None and streaming else None,
            )  # fmt: skip

        return self._run(run, options, streaming=streaming)

    @line_magic
    def dalle_vary(self, line: str) -> Any:
        """Variations of IMAGE (through edit on GPT image models, said plainly)."""
        parser = _parser("dalle_vary", image=True, prompt_option=True, vary=True)
        options, rest = parser.parse_known_args(_split(line, "dalle_vary"))
        _unknown_option(parser, rest)
        if rest:
            raise UsageError(f"%dalle_vary: unexpected {' '.join(rest)!r}; see %dalle help.")
        image = self._evaluate(options.image, "IMAGE")

        def run(progress: _Progress | None) -> ImageSet:
            from . import api

            return api.vary(image, n=options.n, model=options.model, size=options.size, prompt=options.prompt)

        return self._run(run, options, streaming=False)

    # ------------------------------------------------------------------ pieces
    def _expand(self, text: str) -> list[Any]:
        try:
            return expand(text.strip(), self.shell.user_ns if self.shell else {})
        except PromptError as error:
            raise UsageError(f"prompt: {error}") from None

    def _evaluate(self, expression: str, what: str) -> Any:
        namespace = self.shell.user_ns if self.shell else {}
        try:
            return eval(expression, namespace)  # the user's own expression, in the user's own namespace
        except NameError as exc:
            raise UsageError(f"{what}: {exc}; pass a variable that holds a picture, or a quoted path.") from None
        except SyntaxError:
            if Path(expression).expanduser().exists():
                return expression
            raise UsageError(f"{what}: {expression!r} is neither a Python expression nor an existing file.") from None
        except Exception as exc:
            raise UsageError(f"{what}: evaluating {expression!r} failed: {type(exc).__name__}: {exc}") from None

    def _generate(self, text: str, options: argparse.Namespace) -> Any:
        if not text.strip():
            raise UsageError("%%dalle: the prompt is empty: write it in the cell body (or after %dalle on the line).")
        prompts = self._expand(text)
        streaming = bool(options.stream or options.partial_images is not None)

        def run(progress: _Progress | None) -> ImageSet:
            from . import api, client

            job = api._generate_job(
                [p.prompt for p in prompts], model=options.model, n=options.n, size=options.size,
                quality=options.quality, background=options.background, output_format=options.output_format,
                output_compression=options.output_compression, moderation=options.moderation, style=options.style,
                stream=streaming, partial_images=options.partial_images, on_partial=None,
                labels=[p.label for p in prompts], extra={},
            )  # fmt: skip
            return client.run(job, progress.on_event if progress is not None else None)

        return self._run(run, options, streaming=streaming, expected=len(prompts))

    def _run(
        self,
        run: Callable[[_Progress | None], ImageSet],
        options: argparse.Namespace,
        *,
        streaming: bool,
        expected: int = 1,
    ) -> Any:
        from .errors import APIError, InvalidRequest
        from .results import ImageSet

        total = expected * (options.n or 1)
        formatter = self.shell.display_formatter if self.shell is not None else None
        shows_html = formatter is not None and "text/html" in formatter.active_types
        wanted = (streaming or total > 1) and shows_html and not options.no_show
        progress = _Progress(total) if wanted else None
        try:
            result = run(progress)
        except InvalidRequest as error:
            raise UsageError(error.message) from None
        except APIError as error:
            raise UsageError(error.one_line()) from None
        except KeyboardInterrupt as interrupt:
            kept: ImageSet = getattr(interrupt, "images", None) or ImageSet()
            self._store(options, kept)
            if len(kept) and not options.no_show:
                from IPython.display import display

                display(kept)
            raise UsageError(
                f"Interrupted: cancelled the requests in flight; kept the {len(kept)} picture(s) that had arrived"
                + (f" (in {options.out})." if options.out else ".")
            ) from None
        finally:
            if progress is not None:
                progress.close()
        self._store(options, result)
        return None if options.no_show else result

    def _store(self, options: argparse.Namespace, result: Any) -> None:
        if options.out:
            if not options.out.isidentifier():
                raise UsageError(f"-o/--out: {options.out!r} is not a valid variable name.")
            if self.shell is not None:
                self.shell.user_ns[options.out] = result

    def _subcommand(self, name: str, args: list[str]) -> Any:
        if name == "help":
            print(HELP)
            return None
        if name == "models":
            return models_table()
        if name == "config":
            return config_table()
        from . import api

        query = " ".join(args) or None
        found = api.history(query, limit=12)
        if not len(found):
            print(f"dalle_nb: no pictures in the history{f' matching {query!r}' if query else ''} yet.")
            return None
        return found


class _Progress:
    """What a long run shows while it works: a count, and partial pictures updating in place."""

    def __init__(self, total: int) -> None:
        from IPython.display import HTML, display

        self.total = total
        self.done = 0
        self.previews: dict[tuple[str, int], str] = {}
        # open empty, then fill in by update: the cell's stored output ends empty again (see close),
        # so a notebook checker that ignores display updates (nbval) sees the same as a live run
        self.handle = display(HTML(""), display_id=True)
        self._refresh()

    def _html(self) -> str:
        cards = "".join(self.previews.values())
        return (
            f"<div class='dalle-nb-progress' style='opacity:.8'>dalle_nb: {self.done}/{self.total} picture(s)…</div>"
            f"<div style='display:flex;flex-wrap:wrap'>{cards}</div>"
        )

    def _refresh(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML

            self.handle.update(HTML(self._html()))

    def on_event(self, event: Event) -> None:
        if event[0] == "image":
            self.done += 1
            self._refresh()
        else:
            self.on_partial(event[1])

    def on_partial(self, partial: Any) -> None:
        import base64
        import html
        import io

        image = partial.to_pil()
        image.thumbnail((192, 192))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="WEBP", quality=60)
        stage = "final" if partial.final else f"partial {partial.partial_index + 1}"
        uri = "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        caption = html.escape((partial.label or partial.prompt)[:80])
        # a fixed box, so each new partial replaces the last without the output jumping
        self.previews[(partial.prompt, partial.index)] = (
            "<figure style='margin:4px;font-size:11px;width:192px'>"
            f"<img src='{uri}' style='width:192px;height:192px;object-fit:contain'/>"
            f"<figcaption>{caption} — {stage}</figcaption></figure>"
        )
        self._refresh()

    def close(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML

            self.handle.update(HTML(""))


def _current_model() -> str:
    from .config import settings

    return settings().model


@dataclass(frozen=True)
class Report:
    """A table for ``%dalle models`` / ``config``: plain text in a terminal, an HTML table in a notebook."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    footer: str = ""

    def __repr__(self) -> str:
        widths = [max(len(row[i]) for row in (self.header, *self.rows)) for i in range(len(self.header))]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

        parts = [self.title, "", line(self.header), "  ".join("-" * w for w in widths), *map(line, self.rows)]
        return "\n".join(parts + ([""] + [self.footer] if self.footer else []))

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.header)
        whole = "<td style='text-align:left;white-space:nowrap'>{}</td>"  # ids and numbers never break
        wraps = "<td style='text-align:left'>{}</td>"
        last = len(self.header) - 1
        body = "".join(
            "<tr>"
            + "".join((whole if i in (0, last) else wraps).format(html.escape(c)) for i, c in enumerate(row))
            + "</tr>"
            for row in self.rows
        )
        foot = f"<p style='opacity:.7'>{html.escape(self.footer)}</p>" if self.footer else ""
        return f"<p><b>{html.escape(self.title)}</b></p><table><tr>{head}</tr>{body}</table>{foot}"


def models_table() -> Report:
    """The capability table, with the active backend and whether a key is set (✅/❌)."""
    from .config import settings
    from .models import MODELS

    current = settings()
    key = f"✅ set ({current.key_source})" if current.has_key else "❌ not set"
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
            sizes = " ".join(spec.sizes["generations"])
        endpoints = ", ".join(e[:3] for e in spec.endpoints)
        rows.append((spec.id, status, endpoints, sizes, " ".join(spec.qualities), f"1-{spec.n_max}"))
    return Report(
        f"backend: {backend}    API key: {key}",
        ("model", "status", "endpoints", "sizes", "quality", "n"),
        tuple(rows),
        "gen/edi/var = generations/edits/variations; standard = 1024x1024 1536x1024 1024x1536; "
        "any WxH = multiples of 16, aspect 1:3 to 3:1, up to 3840x2160",
    )


def config_table() -> Report:
    """The current settings, where each came from, and the key only as set / not set."""
    from .config import settings

    rows = tuple(settings().table())
    return Report("dalle_nb settings (%config Dalle.<name> = ... to change)", ("setting", "value", "from"), rows)


def _read_pyproject(start: Path) -> dict[str, Any]:
    import tomllib

    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                print(f"dalle_nb: could not read {candidate}: {exc}", file=sys.stderr)
                return {}
            table = data.get("tool", {}).get("dalle_nb", {})
            return dict(table) if isinstance(table, dict) else {}
    return {}


def apply_pyproject(magics: Dalle, start: Path | None = None) -> list[str]:
    """Apply ``[tool.dalle_nb]`` from the nearest pyproject.toml; returns the settings it set."""
    table = _read_pyproject(start or Path.cwd())
    applied = []
    names = [n for n in magics.trait_names(config=True) if n not in ("config", "parent")]
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            print(f"dalle_nb: unknown setting '{key}' in [tool.dalle_nb]{hint}", file=sys.stderr)
            continue
        try:
            magics._source = "[tool.dalle_nb]"
            setattr(magics, name, value)
        except TraitError as error:
            print(f"dalle_nb: [tool.dalle_nb] {key}: {error}", file=sys.stderr)
            continue
        finally:
            magics._source = "%config Dalle"
        applied.append(name)
    return applied


def load_ipython_extension(shell: InteractiveShell) -> None:
    magics = Dalle(shell=shell, parent=shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)  # type: ignore[arg-type]
    apply_pyproject(magics)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    for kind, names in (("line", ("dalle", "dalle_edit", "dalle_vary")), ("cell", ("dalle", "dalle_edit"))):
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    shell.magics_manager.registry.pop("Dalle", None)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, Dalle)]
