"""What the magics say about money, in a real IPython shell against the offline server: ``--dry-run``, the
cost line over the pictures, the history's cost column, ``%dalle prices`` and ``%config Dalle.max_cost``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets import TraitError

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core.costs import usd
from dalle_nb.notebook.magics import Dalle, apply_pyproject
from dalle_nb.offline import OfflineServer

from ..conftest import scene, use


def shown(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], source: str) -> str:
    """Everything a person sees under a cell run in a terminal shell: printed lines and displayed text."""
    capsys.readouterr()
    ip.run_cell(source)
    seen = capsys.readouterr()
    return seen.out + seen.err


def text_and_html(value: Any) -> tuple[str, str]:
    """A displayed value as plain text and as HTML, as a front end receives it."""
    bundle = value._repr_mimebundle_() if hasattr(value, "_repr_mimebundle_") else None
    if bundle is not None:
        return bundle["text/plain"], bundle["text/html"]
    return repr(value), value._repr_html_()


def no_internals(text: str) -> None:
    """What a person reads carries no Python reprs, no error labels and no ids."""
    for leak in ("<dalle_nb", "object at 0x", "Estimate(", "Cost(", "UsageError", "Traceback", "img_", "req_"):
        assert leak not in text, f"{leak!r} shown: {text}"


# ---------------------------------------------------------------------------- --dry-run
def test_dry_run_shows_the_plan_and_its_price_and_sends_nothing(ip: InteractiveShell, fresh: Path) -> None:
    with OfflineServer() as server:
        use(server)
        plan = ip.run_cell_magic("dalle", "--dry-run -s 1024x1024 -q low -n 2 -o planned", "a {red|blue} fox")
        assert server.app.gauge.received == 0, "a dry run sent a request"
        assert not fresh.exists() or not any(fresh.rglob("*.png"))
        expected = dn.estimate(
            dn.generate, ["a red fox", "a blue fox"], n=2, size="1024x1024", quality="low", labels=["red", "blue"]
        )
        text, html = text_and_html(plan)
        assert text.splitlines()[:2] == ["%%dalle --dry-run: nothing was sent", f"would send: {expected.summary()}"]
        assert "2 requests · 4 pictures · gpt-image-2.5-sunburst · 1024x1024" in text
        assert expected.price in text and "$" in expected.price and "OpenAI's list price" in text
        assert "the 2 prompts of the matrix:\n  red: a red fox\n  blue: a blue fox" in text
        assert "nothing was sent" in html and "<b>red</b>: a red fox" in html and "color:" not in html
        no_internals(text + html)
        assert ip.user_ns["planned"].requests == 2 and ip.user_ns["planned"].pictures == 4  # -o keeps the estimate
        ip.run_cell_magic("dalle", "-s 1024x1024 -q low -n 2", "a {red|blue} fox")
        assert server.app.gauge.received == 2, "the same cell without --dry-run sends its two requests"


def test_dry_run_of_edit_vary_refine_and_batch_sends_nothing(ip: InteractiveShell, fresh: Path) -> None:
    ip.user_ns["photo"] = scene()
    with OfflineServer() as server:
        use(server)
        made = ip.run_cell_magic("dalle", "-s 1024x1024 -q low -o pic", "a lighthouse")
        sent = server.app.gauge.received
        edit = repr(ip.run_cell_magic("dalle_edit", "photo --dry-run -s 1024x1024 -q low", "make it night"))
        vary = repr(ip.run_line_magic("dalle_vary", "pic[0] --dry-run -n 3"))
        refine = repr(ip.run_cell_magic("dalle_refine", "pic[0] --dry-run", "now at dusk"))
        batch = repr(ip.run_cell_magic("dalle_batch", "--dry-run -s 1024x1024 -q low", "a fox\na {big|small} owl"))
        assert server.app.gauge.received == sent, "a dry run sent a request"
    assert len(made) == 1 and dn.jobs() == [], "the batch dry run submitted no job"
    assert edit.startswith("%%dalle_edit --dry-run: nothing was sent\nwould send: 1 request · 1 picture ·")
    assert vary.startswith("%dalle_vary --dry-run: nothing was sent\nwould send: 1 request · 3 pictures ·")
    assert refine.startswith("%%dalle_refine --dry-run: nothing was sent\nwould send: 1 request · 1 picture ·")
    assert "would send: 3 requests · 3 pictures · gpt-image-2.5-sunburst · 1024x1024 · Batch API · $" in batch
    assert "the 3 lines:\n  a fox\n  big: a big owl\n  small: a small owl" in batch
    for text in (edit, vary, refine, batch):
        no_internals(text)


def test_dry_run_says_price_unknown_and_refuses_what_the_run_would(ip: InteractiveShell) -> None:
    text = repr(ip.run_cell_magic("dalle", "--dry-run -m gpt-image-2.6-sunburst -s 1024x1024", "a fox"))
    assert "1 request · 1 picture · gpt-image-2.6-sunburst · 1024x1024 · price unknown (no known price for " in text
    assert "set one with configure(prices=...)" in text
    with pytest.raises(Exception, match="multiples of 16"):  # the same one-line refusal as a real run
        ip.run_cell_magic("dalle", "--dry-run -s 1000x1000", "a fox")


def test_dry_run_is_in_the_help(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("dalle", "help")
    out = capsys.readouterr().out
    assert "--dry-run" in out and "what it would send and its price; nothing is sent" in out
    assert "%dalle prices" in out and "max_cost" in out


# ---------------------------------------------------------------------------- the cost line
def test_the_line_over_the_pictures_says_what_the_cell_cost(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = shown(ip, capsys, "%%dalle -n 2 -s 1024x1024 -q low -o pics\na fox")
    pictures = ip.user_ns["pics"]
    cost = pictures.cost
    assert cost.usd is not None and cost.usd > 0
    free = "what OpenAI would charge; offline pictures are free"
    line = f"2 pictures · gpt-image-2.5-sunburst · {usd(cost.usd)} ({free})"
    assert line in seen.splitlines()
    no_internals(seen)
    unknown = shown(ip, capsys, "%%dalle -m gpt-image-2.6-sunburst -s 1024x1024\na fox")
    assert "1 picture · gpt-image-2.6-sunburst · price unknown (no known price for gpt-image-2.6-sunburst" in unknown
    quiet = shown(ip, capsys, "%%dalle --no-show -o kept -s 1024x1024\na fox")
    assert "picture" not in quiet, "--no-show shows nothing"


# ---------------------------------------------------------------------------- %dalle history
def test_history_has_a_cost_column(ip: InteractiveShell, fresh: Path) -> None:
    first = ip.run_cell_magic("dalle", "-s 1024x1024 -q low", "a purple owl")
    ip.run_cell_magic("dalle", "-m gpt-image-2.6-sunburst -s 1024x1024", "a green frog")
    ip.run_cell_magic("dalle", "-s 1024x1024 -q low", "an old heron")
    with sqlite3.connect(fresh / "index.sqlite3") as index:  # a picture saved before costs were kept
        index.execute("UPDATE images SET cost = NULL WHERE prompt = 'an old heron'")
    found = ip.run_line_magic("dalle", "history")
    assert [image.prompt for image in found] == ["an old heron", "a green frog", "a purple owl"]
    text, html = text_and_html(found)
    rows = {line.split("  ")[-1].strip(): line for line in text.splitlines() if "gpt-image" in line}
    owl = str(first.cost)
    assert owl.startswith("$") and "purple owl" in rows[owl]
    assert "green frog" in rows["unknown"] and "old heron" in rows["—"]
    assert "cost" in text.splitlines()[2] and "<th style='text-align:left'>cost</th>" in html
    assert f">{owl}</td>" in html and ">unknown</td>" in html and ">—</td>" in html and "<img src='data:" in html
    no_internals(text + html)
    assert [image.prompt for image in ip.run_line_magic("dalle", "history OWL")] == ["a purple owl"]


# ---------------------------------------------------------------------------- %dalle prices
def test_prices_lists_the_table_with_a_persons_own_rows_marked(ip: InteractiveShell) -> None:
    config.configure(prices={"gpt-image-2": {"image_out": 25}})
    table = ip.run_line_magic("dalle", "prices")
    text, html = repr(table), table._repr_html_()
    rows = {row[0]: row for row in table.rows}
    assert table.header == ("model", "rates", "source", "read")
    assert rows["gpt-image-2 (yours)"][1].startswith("text in $5") and "image out $25" in rows["gpt-image-2 (yours)"][1]
    assert rows["gpt-image-1.5"][1].endswith("per 1M tokens") and "image out $32" in rows["gpt-image-1.5"][1]
    assert "standard 1024x1024 $0.040" in rows["dall-e-3"][1] and rows["dall-e-3"][3] == "2026-12-07"
    assert "langfuse/langfuse#14123" in rows["gpt-image-1.5"][2]
    assert "gpt-image-2" not in rows, "a person's row replaces the table's"
    assert "<table>" in html and "gpt-image-2 (yours)" in html and "the Batch API (%%dalle_batch) charges 50%" in text
    no_internals(text + html)


# ---------------------------------------------------------------------------- %config Dalle.max_cost
def test_max_cost_and_confirm_over_are_config_traits(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Dalle.max_cost = 5")
    ip.run_line_magic("config", "Dalle.confirm_over = 0.5")
    current = config.settings()
    assert (current.max_cost, current.confirm_over) == (5.0, 0.5)
    rows = {row[0]: row[1:] for row in ip.run_line_magic("dalle", "config").rows}
    assert rows["max_cost"] == ("$5.00", "%config Dalle") and rows["confirm_over"] == ("$0.50", "%config Dalle")
    magics = next(c for c in ip.configurables if isinstance(c, Dalle))
    with pytest.raises(TraitError, match="an amount of US dollars above 0"):
        magics.max_cost = -1
    ip.run_line_magic("config", "Dalle.max_cost = None")
    assert config.settings().max_cost is None and "max_cost" not in config.settings().sources


def test_pyproject_takes_max_cost_and_prices(ip: InteractiveShell, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.dalle_nb]\nmax_cost = 2.5\n\n[tool.dalle_nb.prices]\ngpt-image-2 = { image_out = 20 }\n"
    )
    magics = next(c for c in ip.configurables if isinstance(c, Dalle))
    assert apply_pyproject(magics, tmp_path) == ["max_cost", "prices"]
    assert config.settings().max_cost == 2.5 and magics.max_cost == 2.5
    assert "gpt-image-2 (yours)" in repr(ip.run_line_magic("dalle", "prices"))
