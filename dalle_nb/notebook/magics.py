"""``%%dalle`` and its siblings: parse a magic into one call of the Python API, and show what it made.

Every magic goes the same road: ``parse`` turns its line and cell into a ``MagicCall``
(the options are declared once, in ``OPTIONS``, which also writes ``%dalle help``), and
``Dalle._run`` makes it one call of ``dalle_nb.api`` (which plans, submits, and shows the
activity line while it waits, as ``dn.generate`` does), keeps what a Ctrl-C leaves, and
catches ``DalleError`` once.  Loading this module imports no SDK, numpy or Pillow
(``%load_ext dalle_nb`` stays fast).  Settings are traitlets, so ``%config Dalle.model =
"..."`` works, is checked against the capability table, and ``= None`` returns to the default.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from traitlets import Bool, Float, Int, TraitError, Unicode, validate

from .prompts import Expanded, PromptError, expand

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ..core.capabilities import Endpoint
    from ..core.costs import Estimate
    from ..core.results import ImageSet

MagicName = Literal["dalle", "dalle_edit", "dalle_vary", "dalle_refine", "dalle_batch", "dalle_mask"]
SUBCOMMANDS = ("models", "config", "history", "jobs", "studio", "prices", "help")
_ALL: frozenset[MagicName] = frozenset({"dalle", "dalle_edit", "dalle_vary", "dalle_refine", "dalle_batch"})
_MAKE: frozenset[MagicName] = frozenset({"dalle", "dalle_edit", "dalle_refine"})
#: What a batch line takes: the Images API's fields for generations, sent exactly (a batch revises no prompt).
_BATCH: frozenset[MagicName] = frozenset({"dalle_batch"})
#: The magics that take a picture as their first word.
_ON_A_PICTURE: frozenset[MagicName] = frozenset({"dalle_edit", "dalle_vary", "dalle_refine", "dalle_mask"})


@dataclass(frozen=True)
class Option:
    """One option of the magics: its flags, where it goes, what it says in ``%dalle help``."""

    flags: tuple[str, ...]
    dest: str
    help: str
    magics: frozenset[MagicName] = _ALL
    kind: Literal["text", "number", "switch"] = "text"
    metavar: str = ""
    #: The capability-table field whose choices ``%dalle help`` lists for the current model.
    field: str | None = None


#: Every option, declared once: the parser and ``%dalle help`` are both made from this.
OPTIONS: tuple[Option, ...] = (
    Option(("-m", "--model"), "model", "model id (see %dalle models)", metavar="ID"),
    Option(("-n",), "n", "how many pictures", kind="number", metavar="N", field="n"),
    Option(("-s", "--size"), "size", "size, e.g. 1024x1024 or auto", metavar="WxH", field="size"),
    Option(("-q", "--quality"), "quality", "quality", _MAKE | _BATCH, metavar="Q", field="quality"),
    Option(("--style",), "style", "style (dall-e-3)", frozenset({"dalle", "dalle_batch"}), metavar="S", field="style"),
    Option(("--background",), "background", "background", _MAKE | _BATCH, metavar="B", field="background"),
    Option(("-f", "--format"), "output_format", "output format", _MAKE | _BATCH, metavar="F", field="output_format"),
    Option(("--compression",), "output_compression", "0-100, webp/jpeg only", _MAKE | _BATCH, "number", "N"),
    Option(
        ("--moderation",),
        "moderation",
        "moderation",
        frozenset({"dalle", "dalle_batch"}),
        metavar="M",
        field="moderation",
    ),  # fmt: skip
    Option(("--stream",), "stream", "show partial pictures as they arrive", _MAKE, "switch"),
    Option(
        ("--revise",), "revise", "revise the prompt through the Responses API (default where served)", _MAKE, "switch"
    ),  # fmt: skip
    Option(("--exact",), "exact", "send the prompt exactly as written: no revised prompt", _MAKE, "switch"),
    Option(("--partial",), "partial_images", "partial pictures 0-3 (implies --stream)", _MAKE, "number", "N"),
    Option(
        ("--mask",),
        "mask",
        "mask: a variable or expression (True/white or alpha 0 = edit here)",
        frozenset({"dalle_edit"}),
        metavar="MASK",
    ),  # fmt: skip
    Option(
        ("--markup",),
        "markup",
        "a drawing over the picture to guide the edit",
        frozenset({"dalle_edit"}),
        metavar="IMG",
    ),
    Option(
        ("--fidelity",),
        "input_fidelity",
        "input_fidelity",
        frozenset({"dalle_edit"}),
        metavar="F",
        field="input_fidelity",
    ),
    Option(
        ("--keep-unmasked",),
        "keep_unmasked",
        "paste the original back outside the mask, here (not by the API)",
        frozenset({"dalle_edit"}),
        "switch",
    ),
    Option(
        ("-p", "--prompt"),
        "prompt",
        "the prompt, instead of the cell body",
        frozenset({"dalle_edit", "dalle_vary", "dalle_refine"}),
        metavar="TEXT",
    ),
    Option(
        ("-o", "--out"),
        "out",
        "store the result (an ImageSet, a BatchJob, a MaskEditor) in this variable",
        _ALL | frozenset({"dalle_mask"}),
        metavar="NAME",
    ),
    Option(("--no-show",), "no_show", "do not display the result (use with -o)", kind="switch"),
    Option(
        ("--dry-run",),
        "dry_run",
        "show what would be sent and its price; send nothing (-o keeps the estimate)",
        kind="switch",
    ),  # fmt: skip
)

USAGE = (
    ("%%dalle [options]", "the cell body is the prompt"),
    ("%dalle [options] PROMPT", "a one-line prompt"),
    ("%%dalle_edit IMAGE [--mask M]", "edit IMAGE as the cell body (or --prompt) says"),
    ("%dalle_vary IMAGE [-n N]", "variations of IMAGE"),
    ("%%dalle_refine IMAGE", "the next turn of IMAGE's conversation (cell body)"),
    ("%%dalle_batch [options]", "each line (or matrix) is a prompt, run as a background batch"),
    ("%dalle_mask IMAGE [-o NAME]", "paint a mask on IMAGE; use it with --mask NAME"),
    ("%dalle models | config | help", "the model table, the settings, this help"),
    ("%dalle jobs", "background batches, newest first (collect one with .collect())"),
    ("%dalle studio", "a panel to generate, edit, vary and browse"),
    ("%dalle history [TEXT]", "past pictures, searched by prompt, with what each cost"),
    ("%dalle prices", "the price table: each model's rates, when they were read, where from"),
    ("%%dalle --dry-run ...", "any magic: what it would send and its price; nothing is sent"),
)
NOTES = (
    "prompt:  {name}, {obj.attr}, {items[0]} fill in variables; {{ and }} are literal braces;",
    "         {red|blue} runs every alternative (a prompt matrix), labelled in the grid.",
    '%config Dalle.model = "gpt-image-1.5"  (also size, quality, n, concurrency, offline, gallery_dir,',
    "         thumbnail_size, revise, text_model, max_cost, confirm_over; = None returns to the default;",
    "         or [tool.dalle_nb])",
    "%config Dalle.max_cost = 5  (stop spending past $5 this session; confirm_over = 0.5: the Studio asks first)",
    "cost:    the line over the pictures says what the cell cost (offline: what OpenAI would charge; it is free).",
)


def help_text(model: str | None = None) -> str:
    """``%dalle help``, written from ``OPTIONS`` and the capability table for ``model``."""
    # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
    from ..core.capabilities import choices
    from ..runtime.config import settings

    model = model or settings().model
    width = max(len(usage) for usage, _ in USAGE) + 2
    lines = ["dalle_nb magics: pictures from OpenAI's image models (or the offline backend)", ""]
    lines += [f"{usage:<{width}}{what}" for usage, what in USAGE]
    lines += ["", f"options (values for {model}):"]
    rows = []
    for option in OPTIONS:
        flags = ", ".join(option.flags) + (f" {option.metavar}" if option.metavar else "")
        what = option.help
        if option.field is not None:
            endpoint: Endpoint = "edits" if option.magics == {"dalle_edit"} else "generations"
            choice = choices(model, endpoint, option.field)
            if not choice.supported:
                what += " (not for this model)"
            elif choice.kind != "integer" and choice.allowed:
                wxh = " or any WxH" if choice.rule and option.field == "size" else ""  # only a size has a WxH rule
                what += ": " + ", ".join(str(a) for a in choice.allowed) + wxh
            elif choice.rule:
                what += f": {choice.rule}"
        where = "" if option.magics in (_ALL, _MAKE) else "  [" + ", ".join(sorted(option.magics)) + "]"
        rows.append((flags, what + where))
    flag_width = max(len(flags) for flags, _ in rows) + 2
    lines += [f"  {flags:<{flag_width}}{what}" for flags, what in rows]
    return "\n".join([*lines, "", *NOTES])


# ---------------------------------------------------------------------------- parsing
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
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _parser(magic: MagicName) -> _Parser:
    parser = _Parser(prog=magic, add_help=False, allow_abbrev=False)
    if magic in _ON_A_PICTURE:
        parser.add_argument("image", help="the picture: a variable or expression (GeneratedImage, path, PIL, ...)")
    for option in OPTIONS:
        if magic not in option.magics:
            continue
        extra: dict[str, Any] = {"nargs": 0} if option.kind == "switch" else {}
        if option.kind == "number":
            extra["type"] = _whole
        parser.add_argument(*option.flags, dest=option.dest, action=_Once, default=None, **extra)
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
            close = difflib.get_close_matches(arg, known, n=1, cutoff=0.75)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UsageError(f"%{parser.prog}: unknown option {arg}.{hint} See %dalle help.")


#: How alike a word and a subcommand must be to count as a slip: ``confg``, ``histroy``, ``hist``, ``modle`` and
#: ``jbos`` are; ``modern``, ``hello`` and ``stadium`` (0.6 to 0.67) are prompts.
_NEARLY = 0.7


def _not_a_misspelt_subcommand(word: str) -> None:
    """Refuse ``%dalle modles``: one unquoted word that is nearly a subcommand is a slip, not a prompt.

    Sent as a prompt it would cost a picture of "modles"; refused, it costs nothing, and the
    message says how to draw that word after all (quoted, it is a prompt).  A word close to no
    subcommand (``%dalle sunset``) is a prompt as before.
    """
    close = difflib.get_close_matches(word.lower(), SUBCOMMANDS, n=1, cutoff=_NEARLY)
    if close:
        raise UsageError(
            f"%dalle: {word!r} is not a subcommand; did you mean `%dalle {close[0]}`? "
            f'To draw that one word, quote it: %dalle "{word}".'
        )


@dataclass
class MagicCall:
    """One magic as typed: which magic, its options, its prompt text and the picture expression."""

    magic: MagicName
    options: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    image: str | None = None
    subcommand: tuple[str, list[str]] | None = None
    #: True for a cell magic (``%%dalle``), False for a line magic.
    cell: bool = False

    def option(self, name: str) -> Any:
        return self.options.get(name)

    @property
    def typed(self) -> str:
        """The magic as a person typed it: ``%%dalle`` for a cell, ``%dalle_vary`` for a line."""
        return f"%%{self.magic}" if self.cell else f"%{self.magic}"

    @property
    def streaming(self) -> bool:
        return bool(self.option("stream") or self.option("partial_images") is not None)

    @property
    def revise(self) -> bool | None:
        """True (``--revise``), False (``--exact``) or None (the setting decides)."""
        if self.option("exact"):
            return False
        return True if self.option("revise") else None


def parse(magic: MagicName, line: str, cell: str | None) -> MagicCall:
    """``MagicCall`` from a magic's line and cell, or a one-line ``UsageError`` saying what to fix."""
    words = _split(line, magic)
    if magic == "dalle" and cell is None:
        if not words:
            return MagicCall(magic, subcommand=("help", []))
        if words[0] in SUBCOMMANDS:
            return MagicCall(magic, subcommand=(words[0], words[1:]))
        if len(words) == 1 and line.strip() == words[0] and not words[0].startswith("-"):  # unquoted, no option
            _not_a_misspelt_subcommand(words[0])
    parser = _parser(magic)
    namespace, rest = parser.parse_known_args(words)
    _unknown_option(parser, rest)
    options = {o.dest: getattr(namespace, o.dest, None) for o in OPTIONS if magic in o.magics}
    if options.get("revise") and options.get("exact"):
        raise UsageError(f"%{magic}: --revise and --exact contradict each other; give one.")
    out = options.get("out")
    if out is not None and not str(out).isidentifier():
        raise UsageError(f"-o/--out: {out!r} is not a valid variable name; use letters, digits and _.")
    call = MagicCall(magic, options, image=getattr(namespace, "image", None), cell=cell is not None)
    if magic == "dalle_batch":
        if rest:
            raise UsageError(
                f"%%dalle_batch: unexpected {' '.join(rest)!r} on the magic line; the prompts go in the cell."
            )
        call.prompt = cell or ""
        if not call.prompt.strip():
            raise UsageError("%%dalle_batch: no prompts: write one prompt per line in the cell.")
        return call
    if magic == "dalle":
        if cell is not None and rest:
            raise UsageError(f"%%dalle: unexpected {' '.join(rest)!r} on the magic line; the prompt goes in the cell.")
        call.prompt = cell if cell is not None else " ".join(rest)
        if not call.prompt.strip():
            raise UsageError("%%dalle: the prompt is empty: write it in the cell body (or after %dalle on the line).")
        return call
    if rest:
        raise UsageError(f'%{magic}: unexpected {" ".join(rest)!r}; quote a prompt with --prompt "...".')
    given = options.get("prompt")
    if given is not None and cell and cell.strip():
        raise UsageError(f"%%{magic}: give the prompt in the cell or with --prompt, not both.")
    call.prompt = given if given is not None else (cell or "")
    if magic == "dalle_mask":
        if call.prompt.strip():
            raise UsageError("%dalle_mask: it takes a picture, not a prompt; paint on the editor it shows.")
        return call
    if magic in ("dalle_edit", "dalle_refine") and not call.prompt.strip():
        raise UsageError(f'%{magic}: no prompt: write it in the cell body, or pass --prompt "...".')
    return call


@dataclass(frozen=True)
class Planned:
    """The one call of the Python API a magic stands for: run as it is, or priced (``--dry-run``) as it is."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: The prompts a ``{a|b}`` matrix expanded into, with their labels (``--dry-run`` lists them).
    prompts: list[Expanded] = field(default_factory=list)


# ---------------------------------------------------------------------------- the magics
_SETTINGS = (
    "model", "size", "quality", "n", "concurrency", "offline", "gallery_dir", "thumbnail_size", "revise", "text_model",
    "max_cost", "confirm_over",
)  # fmt: skip
#: What ``[tool.dalle_nb]`` may set: the traitlets, and ``[tool.dalle_nb.prices]`` (a table, no ``%config``).
_PYPROJECT = (*_SETTINGS, "prices")


@magics_class
class Dalle(Magics):
    """The dalle_nb magics and their defaults (``%config Dalle.<name> = ...``; ``= None`` for the default)."""

    model = Unicode(None, allow_none=True, help="Default model id, e.g. 'gpt-image-1.5'.").tag(config=True)
    size = Unicode(None, allow_none=True, help="Default size, e.g. '1024x1024' or 'auto'.").tag(config=True)
    quality = Unicode(None, allow_none=True, help="Default quality.").tag(config=True)
    n = Int(None, allow_none=True, help="Default number of pictures.").tag(config=True)
    concurrency = Int(None, allow_none=True, help="How many requests run at once, per backend.").tag(config=True)
    offline = Bool(None, allow_none=True, help="True: always use the offline backend.").tag(config=True)
    gallery_dir = Unicode(None, allow_none=True, help="Where pictures and history are kept.").tag(config=True)
    thumbnail_size = Int(None, allow_none=True, help="Largest side of previews, in pixels.").tag(config=True)
    revise = Bool(None, allow_none=True, help="Revise prompts through the Responses API (None: where served).").tag(
        config=True
    )
    text_model = Unicode(None, allow_none=True, help="The text model that revises prompts.").tag(config=True)
    max_cost = Float(
        None, allow_none=True, help="The most US dollars this session may spend, estimated before each call."
    ).tag(config=True)
    confirm_over = Float(
        None, allow_none=True, help="Ask before a Studio click whose estimate is above this many US dollars."
    ).tag(config=True)

    #: Where a setting changed through these traits came from, as ``%dalle config`` shows it.
    _source = "%config Dalle"
    #: True while ``apply_pyproject`` mirrors settings it already applied as one update.
    _mirroring = False

    # ------------------------------------------------------------------ settings as traitlets
    @validate(*_SETTINGS)
    def _apply_setting(self, proposal: Any) -> Any:
        """Check a setting against the same rules ``configure()`` uses, and apply it (None: back to the default)."""
        # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
        from ..core.errors import InvalidRequest
        from ..runtime import config

        name, value = proposal["trait"].name, proposal["value"]
        if self._mirroring:
            return value
        try:
            if value is None:
                config.update({}, source=self._source, unset=(name,))
            else:
                config.update({name: value}, source=self._source)
        except InvalidRequest as error:
            raise TraitError(error.message) from None
        if name == "model" and value is not None:
            # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
            from ..core.plan import retirement_notice
            from ..runtime.session import default_session

            # the planner's own notice, said now and so not again with the first pictures
            said = retirement_notice(config.settings(), default_session())
            if said is not None:
                print(f"dalle_nb: note: {said}")
        return value

    # ------------------------------------------------------------------ the magics
    @line_cell_magic
    def dalle(self, line: str, cell: str | None = None) -> Any:
        """Make pictures from the cell body (or the rest of the line); ``%dalle help`` lists the options."""
        return self._run(parse("dalle", line, cell))

    @line_cell_magic
    def dalle_edit(self, line: str, cell: str | None = None) -> Any:
        """Edit IMAGE as the cell body (or ``--prompt``) says, optionally only where ``--mask`` marks."""
        return self._run(parse("dalle_edit", line, cell))

    @line_magic
    def dalle_vary(self, line: str) -> Any:
        """Variations of IMAGE (through edit on GPT image models, said plainly)."""
        return self._run(parse("dalle_vary", line, None))

    @line_magic
    def dalle_mask(self, line: str) -> Any:
        """Show a mask editor on IMAGE (and keep it with ``-o NAME``); ``%%dalle_edit IMAGE --mask NAME`` uses it."""
        return self._run(parse("dalle_mask", line, None))

    @cell_magic
    def dalle_batch(self, line: str, cell: str) -> Any:
        """Each line of the cell (or each prompt of a matrix) as one request of a background batch."""
        return self._run(parse("dalle_batch", line, cell))

    @line_cell_magic
    def dalle_refine(self, line: str, cell: str | None = None) -> Any:
        """The next turn of IMAGE's conversation: the cell body (or ``--prompt``) says what to change."""
        return self._run(parse("dalle_refine", line, cell))

    # ------------------------------------------------------------------ the one run path
    def _run(self, call: MagicCall) -> Any:
        # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
        from ..core.errors import APIError, DalleError, InvalidRequest

        if call.subcommand is not None:
            return self._subcommand(*call.subcommand)
        if call.magic == "dalle_mask":
            return self._mask(call)
        try:
            if call.magic == "dalle_batch":
                return self._batch(call)
            planned = self._request(call)
            if call.option("dry_run"):
                from .. import pricing  # with the first dry run, not at %load_ext (it loads the session)

                return self._dry_run(call, pricing.estimate(planned.function, *planned.args, **planned.kwargs),
                                     planned.prompts)  # fmt: skip
            return self._make(call, planned)
        except InvalidRequest as error:  # a value the table refuses: the person's usage, said in one line
            raise UsageError(error.one_line()) from None
        except APIError as error:
            raise MagicError(error.refusal()) from None
        except DalleError as error:
            raise MagicError(error.one_line()) from None

    def _request(self, call: MagicCall) -> Planned:
        """The magic as one call of the Python API, its pictures evaluated and its prompt expanded: the API
        plans it, submits it and shows its activity line while it waits (not with ``--no-show``);
        ``--dry-run`` prices the very same call instead."""
        from .. import api  # the session and the planning load with the first picture, not at %load_ext

        o = call.option
        common: dict[str, Any] = {"model": o("model"), "n": o("n"), "size": o("size"), "progress": not o("no_show")}
        if call.magic == "dalle_vary":
            image = self._evaluate(call.image or "", "IMAGE")
            return Planned(api.vary, (image,), {"prompt": o("prompt"), **common})
        making: dict[str, Any] = {
            "quality": o("quality"), "background": o("background"), "output_format": o("output_format"),
            "output_compression": o("output_compression"), "stream": call.streaming,
            "partial_images": o("partial_images"), "revise": call.revise,
        }  # fmt: skip
        prompts = self._expand(call.prompt)
        if call.magic == "dalle_refine":
            if len(prompts) > 1:
                raise UsageError("%dalle_refine: {a|b} alternatives are for %%dalle; refine one way at a time.")
            image = self._evaluate(call.image or "", "IMAGE")
            return Planned(api.refine, (image, prompts[0].prompt), {**common, **making})
        if call.magic == "dalle":
            return Planned(
                api.generate, ([p.prompt for p in prompts],),
                {"style": o("style"), "moderation": o("moderation"), "labels": [p.label for p in prompts],
                 **common, **making},
                prompts,
            )  # fmt: skip
        if len(prompts) > 1:
            raise UsageError("%dalle_edit: {a|b} alternatives are for %%dalle; edit one prompt at a time.")
        image = self._evaluate(call.image or "", "IMAGE")
        mask = self._evaluate(o("mask"), "--mask") if o("mask") else None
        markup = self._evaluate(o("markup"), "--markup") if o("markup") else None
        return Planned(
            api.edit, (image, prompts[0].prompt),
            {"mask": mask, "markup": markup, "input_fidelity": o("input_fidelity"),
             "keep_unmasked": bool(o("keep_unmasked")), **common, **making},
        )  # fmt: skip

    def _make(self, call: MagicCall, request: Planned) -> Any:
        """Run the request and keep its pictures (``-o``); Ctrl-C keeps, stores and shows what had arrived."""
        try:
            result: ImageSet = request.function(*request.args, **request.kwargs)
        except KeyboardInterrupt as interrupt:
            from ..core.results import ImageSet  # only on Ctrl-C: %load_ext stays light

            kept: ImageSet = getattr(interrupt, "images", None) or ImageSet()
            self._store(call, kept)
            if len(kept) and not call.option("no_show"):
                from IPython.display import display  # IPython only where a notebook or shell runs

                display(kept)
            out = call.option("out")
            count = f"{len(kept)} picture{'' if len(kept) == 1 else 's'}" + (f", {kept.cost}" if len(kept) else "")
            raise MagicError(
                f"Interrupted — kept {count}"
                + (f" (in {out})." if out else ".")
                + " The requests in flight were cancelled."
            ) from None
        self._store(call, result)
        if call.option("no_show"):
            return None
        if len(result):
            from IPython.display import display  # IPython only where a notebook or shell runs

            from .reports import cost_line  # with the first picture, as the rest of the magics' reports

            display(cost_line(result), raw=True)  # above the pictures: what the cell cost, in one quiet line
        return result

    def _dry_run(self, call: MagicCall, estimate: Estimate, prompts: list[Expanded]) -> Any:
        """What ``--dry-run`` shows: the requests, pictures, model, sizes, the matrix's prompts and the price."""
        from .reports import DryRun  # with the first dry run, as the rest of the magics' reports

        self._store(call, estimate)
        shown = tuple((p.label, p.prompt) for p in prompts) if len(prompts) > 1 or call.magic == "dalle_batch" else ()
        return None if call.option("no_show") else DryRun(call.typed, estimate, shown)

    def _mask(self, call: MagicCall) -> Any:
        # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
        from ..core.errors import DalleError
        from .widgets import MaskEditor

        picture = self._evaluate(call.image or "", "IMAGE")
        try:
            editor = MaskEditor(picture)
        except DalleError as error:
            raise UsageError(error.one_line()) from None
        self._store(call, editor)
        return editor

    def _batch(self, call: MagicCall) -> Any:
        """Submit the cell's prompts as a background batch; the BatchJob is the result (``-o`` keeps it)."""
        # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
        from ..background.batch import submit

        expanded = [p for line in call.prompt.splitlines() if line.strip() for p in self._expand(line)]
        o = call.option
        fields = ("model", "n", "size", "quality", "style", "background", "output_format", "output_compression",
                  "moderation")  # fmt: skip
        prompts, labels, options = [p.prompt for p in expanded], [p.label for p in expanded], {f: o(f) for f in fields}
        if o("dry_run"):
            return self._dry_run(call, _batch_estimate(submit, prompts, labels, options), expanded)
        job = submit(prompts, labels=labels, **options)
        self._store(call, job)
        return None if o("no_show") else job

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

    def _store(self, call: MagicCall, result: Any) -> None:
        out = call.option("out")
        if out and self.shell is not None:
            self.shell.user_ns[out] = result

    def _subcommand(self, name: str, args: list[str]) -> Any:
        from . import reports  # the session and the batch store load when a report is asked for

        if name == "help":
            print(help_text())
            return None
        if name == "models":
            return reports.models_report()
        if name == "config":
            return reports.config_report()
        if name == "jobs":
            return reports.jobs_report()
        if name == "prices":
            return reports.prices_report()
        if name == "studio":
            # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)
            from .widgets import Studio

            return Studio(namespace=self.shell.user_ns if self.shell is not None else None)
        from .. import api  # with the first magic, not at %load_ext (the session, the table and widgets take ~200 ms)

        query = " ".join(args) or None
        found = api.history(query, limit=12)
        if not len(found):
            print(f"dalle_nb: no pictures in the history{f' matching {query!r}' if query else ''} yet.")
            return None
        return reports.History(found.images)


def _batch_estimate(
    submit: Callable[..., Any], prompts: list[str], labels: list[str | None], options: dict[str, Any]
) -> Estimate:
    """What ``submit(prompts, ...)`` would cost: its lines planned as ``submit`` plans them, at the batch price."""
    # with the first dry run, not at %load_ext (planning loads the session and the capability table)
    from .. import pricing

    return pricing.estimate(submit, prompts, labels=labels, **options)


class MagicError(Exception):
    """What a magic shows when the API refused, the network failed or the run was interrupted: its own
    words, in one line, without "UsageError:" (it was not a usage error) and without a traceback."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows exactly these lines in place of a traceback (the protocol ipyparallel uses)
        return [str(self)]


# ---------------------------------------------------------------------------- [tool.dalle_nb]
def _read_pyproject(start: Path) -> dict[str, Any]:
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


def _apply_together(wanted: dict[str, Any]) -> None:
    """Apply ``wanted`` as one update; each setting that cannot be used is reported and left out of it."""
    # the session loads only when pyproject.toml has settings for it, so a bare %load_ext stays light
    from ..core.errors import InvalidRequest
    from ..runtime import config

    while wanted:
        try:
            config.update(wanted, source="[tool.dalle_nb]")
            return
        except InvalidRequest as error:
            bad = error.field if error.field in wanted else next(iter(wanted))
            print(f"dalle_nb: [tool.dalle_nb] {bad}: {error.message}", file=sys.stderr)
            del wanted[bad]


def apply_pyproject(magics: Dalle, start: Path | None = None) -> list[str]:
    """Apply ``[tool.dalle_nb]`` from the nearest pyproject.toml as one update; returns the settings it set.

    The settings are checked together, so a quality written before the model it belongs to
    is fine; a setting that cannot be used is reported on stderr and left out.
    """
    wanted: dict[str, Any] = {}
    for key, value in _read_pyproject(start or Path.cwd()).items():
        name = key.replace("-", "_")
        if name not in _PYPROJECT:
            close = difflib.get_close_matches(name, _PYPROJECT, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            print(f"dalle_nb: unknown setting '{key}' in [tool.dalle_nb]{hint}", file=sys.stderr)
            continue
        wanted[name] = value
    if wanted:
        _apply_together(wanted)
    magics._mirroring = True
    try:
        for name, value in wanted.items():
            if name in _SETTINGS:  # prices has no traitlet: a table is no %config value
                setattr(magics, name, value)
    finally:
        magics._mirroring = False
    return list(wanted)


def load_ipython_extension(shell: InteractiveShell) -> None:
    magics = Dalle(shell=shell, parent=shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)  # type: ignore[arg-type]
    apply_pyproject(magics)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    for kind, names in Dalle.magics.items():  # every magic the class declares, so none is left behind
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    shell.magics_manager.registry.pop("Dalle", None)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, Dalle)]
