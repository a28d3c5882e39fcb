"""The magics in a real IPython shell, against the offline server: what a person types and sees."""

from __future__ import annotations

import _thread
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image
from traitlets import TraitError

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.notebook.magics import Dalle, apply_pyproject
from dalle_nb.offline import OfflineServer, ServerOptions
from dalle_nb.runtime.session import default_session


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    yield shell


@pytest.fixture(autouse=True)
def loaded(
    ip: InteractiveShell, fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    """The extension loaded in a shell on a fresh machine (``fresh`` in conftest)."""
    monkeypatch.chdir(tmp_path)  # no pyproject.toml of ours in the way
    ip.run_line_magic("load_ext", "dalle_nb")
    yield ip
    ip.run_line_magic("unload_ext", "dalle_nb")
    ip.config.pop("Dalle", None)  # %config settings live on the shell; each test starts without them


def cell(ip: InteractiveShell, line: str, body: str, magic: str = "dalle") -> Any:
    return ip.run_cell_magic(magic, line, body)


def usage_error(ip: InteractiveShell, line: str, body: str | None = "a fox", magic: str = "dalle") -> str:
    with pytest.raises(UsageError) as err:
        if body is None:
            ip.run_line_magic(magic, line)
        else:
            ip.run_cell_magic(magic, line, body)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ---------------------------------------------------------------------------- %%dalle
def test_cell_body_is_the_prompt_and_the_result_is_returned(ip: InteractiveShell) -> None:
    result = cell(ip, "-s 1536x1024", "a lighthouse\non a rocky coast")
    assert isinstance(result, dn.ImageSet) and len(result) == 1
    assert result[0].prompt == "a lighthouse\non a rocky coast" and result[0].size == "1536x1024"
    ip.run_cell("%%dalle -s 1024x1024\na harbour at dawn", store_history=True)
    assert ip.user_ns["_"][0].prompt == "a harbour at dawn"  # the displayed result lands in _ and Out[n]


def test_every_option_reaches_the_request(ip: InteractiveShell) -> None:
    result = cell(ip, '-m gpt-image-2.5-flare -n 2 -s 1536x864 -q high --background transparent -f webp '
                      "--compression 80 --moderation low -o pics", "a paper crane")  # fmt: skip
    assert ip.user_ns["pics"] is result and len(result) == 2
    image = result[0]
    assert image.model == "gpt-image-2.5-flare" and image.size == "1536x864" and image.output_format == "webp"
    assert image.params["quality"] == "high" and image.params["moderation"] == "low"
    assert image.params["output_compression"] == 80 and image.params["background"] == "transparent"
    assert image.to_pil().mode == "RGBA"
    legacy = cell(ip, "--model dall-e-3 --style natural --quality hd", "a sea otter")
    assert legacy[0].params["style"] == "natural" and legacy[0].revised_prompt


def test_no_show_returns_nothing_but_stores(ip: InteractiveShell) -> None:
    assert cell(ip, "--no-show --out kept", "a quiet pond") is None
    assert ip.user_ns["kept"][0].prompt == "a quiet pond"


def test_streaming_options(ip: InteractiveShell) -> None:
    result = cell(ip, "--stream --partial 2 -s 1024x1024", "a glowing jellyfish")
    assert result[0].params["stream"] is True and result[0].params["partial_images"] == 2


def test_line_form_takes_a_quoted_prompt(ip: InteractiveShell) -> None:
    result = ip.run_line_magic("dalle", '-s 1024x1024 "a fox, in quotes"')
    assert result[0].prompt == "a fox, in quotes"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--sizee 1024x1024", "unknown option --sizee. Did you mean --size?"),
        ("-n 2 -n 3", "option -n was given twice"),
        ("-n two", "expected a whole number"),
        ("-s 1000x1000", "multiples of 16"),
        ("-m gpt-image-9", "Unknown model 'gpt-image-9'"),
        ("-q ultra", "Supported values are: 'low', 'medium', 'high', 'xhigh', 'max', 'auto'"),
        ("-m dall-e-3 -n 1 --background transparent", "not supported by dall-e-3"),
        ('-s "1024x1024', "No closing quotation"),
        ("-o 2bad", "not a valid variable name"),
    ],
)
def test_bad_options_are_one_line_usage_errors(ip: InteractiveShell, line: str, expected: str) -> None:
    assert expected in usage_error(ip, line)


def test_empty_prompt_is_refused(ip: InteractiveShell) -> None:
    assert "the prompt is empty" in usage_error(ip, "", "   \n")


def received() -> int:
    """How many picture requests the session's offline server has received in all (its ``/health`` counts them)."""
    health = default_session().offline_server().base_url.removesuffix("/v1") + "/health"
    return int(httpx.get(health).json()["received"])


@pytest.mark.parametrize(
    ("word", "meant"), [("modles", "models"), ("histroy", "history"), ("confg", "config"), ("jbos", "jobs")]
)
def test_a_misspelt_subcommand_is_refused_and_sends_nothing(ip: InteractiveShell, word: str, meant: str) -> None:
    before = received()
    message = usage_error(ip, word, body=None)
    assert message == (
        f"%dalle: {word!r} is not a subcommand; did you mean `%dalle {meant}`? "
        f'To draw that one word, quote it: %dalle "{word}".'
    )
    assert received() == before, "a slip of the keyboard must not cost a picture"


def test_a_quoted_word_and_words_that_are_no_subcommand_are_prompts(ip: InteractiveShell) -> None:
    before = received()
    assert ip.run_line_magic("dalle", '"modles"')[0].prompt == "modles"  # quoted: the person means the word
    assert ip.run_line_magic("dalle", "sunset")[0].prompt == "sunset"  # close to no subcommand
    assert ip.run_line_magic("dalle", "modles of cats")[0].prompt == "modles of cats"  # more than one word
    assert cell(ip, "", "modles")[0].prompt == "modles"  # the cell body is always the prompt
    assert received() == before + 4


# ---------------------------------------------------------------------------- variables and the matrix
class Style:
    name = "watercolour"


def test_variables_are_filled_in(ip: InteractiveShell) -> None:
    ip.user_ns.update(style=Style(), colors=["teal", "gold"], mood={"key": "calm"}, price=3.14159)
    result = cell(ip, "-s 1024x1024", "a {style.name} of {colors[0]} hills, {mood[key]}, {price:.2f}, {style.name!r}")
    assert result[0].prompt == "a watercolour of teal hills, calm, 3.14, 'watercolour'"


def test_double_braces_are_literal(ip: InteractiveShell) -> None:
    result = cell(ip, "-s 1024x1024", 'a sign that says "{{hello}}" and a JSON {{"a": 1}}')
    assert result[0].prompt == 'a sign that says "{hello}" and a JSON {"a": 1}'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a {nobody_defined_this} fox", "name 'nobody_defined_this' is not defined"),
        ("a fox {", "unclosed '{'"),
        ("a fox }", "single '}'"),
        ("a {} fox", "empty '{}'"),
        ("a {colors[9]} fox", "IndexError"),
        ("a {1+1} fox", "is not a variable"),
    ],
)
def test_template_mistakes_are_one_line(ip: InteractiveShell, body: str, expected: str) -> None:
    ip.user_ns["colors"] = ["teal"]
    assert expected in usage_error(ip, "", body)


def test_prompt_matrix_expands_every_combination_with_labels(ip: InteractiveShell) -> None:
    result = cell(ip, "-s 1024x1024", "a {red|blue} {cat|dog}")
    assert [image.prompt for image in result] == ["a red cat", "a red dog", "a blue cat", "a blue dog"]
    assert [image.label for image in result] == ["red · cat", "red · dog", "blue · cat", "blue · dog"]
    html = result._repr_mimebundle_()["text/html"]
    assert html.index("red · cat") < html.index("blue · dog")
    optional = cell(ip, "-s 1024x1024", "a {|very} tall tower")
    assert [image.prompt for image in optional] == ["a tall tower", "a very tall tower"]


def test_huge_matrices_are_refused(ip: InteractiveShell) -> None:
    assert "expands into 81 combinations" in usage_error(ip, "", "{a|b|c} {d|e|f} {g|h|i} {j|k|l}")


# ---------------------------------------------------------------------------- edit and vary
def test_edit_magic_with_a_mask_expression(ip: InteractiveShell) -> None:
    import numpy as np

    source = cell(ip, "-s 1024x1024 -o base", "a grey wall")[0]
    ip.user_ns["np"] = np
    ip.run_cell("hole = np.zeros((1024, 1024), bool); hole[100:300, 100:300] = True")
    edited = cell(ip, "base[0] --mask hole -o fixed", "a red door", magic="dalle_edit")
    before, after = np.asarray(source.to_pil().convert("RGB")), np.asarray(edited[0].to_pil().convert("RGB"))
    keep = ~ip.user_ns["hole"]
    assert np.array_equal(before[keep], after[keep]) and ip.user_ns["fixed"] is edited
    assert edited[0].parents == (source.id,)


def test_edit_magic_takes_paths_and_prompt_option(ip: InteractiveShell, tmp_path: Path) -> None:
    Image.new("RGB", (512, 512), (10, 200, 10)).save(tmp_path / "green.png")
    result = ip.run_line_magic("dalle_edit", f'"{tmp_path / "green.png"}" --prompt "add a yellow sun"')
    assert result[0].prompt == "add a yellow sun"
    assert "not defined" in usage_error(ip, "missing_picture --prompt x", None, magic="dalle_edit")
    assert "no prompt" in usage_error(ip, "missing_picture", None, magic="dalle_edit")


def test_vary_magic(ip: InteractiveShell) -> None:
    cell(ip, "-s 1024x1024 -o kite", "an orange kite")
    result = ip.run_line_magic("dalle_vary", "kite[0] -n 2 -o variants")
    assert len(result) == 2 and ip.user_ns["variants"] is result
    assert "no variations endpoint" in result._repr_mimebundle_()["text/plain"]
    cell(ip, "-m dall-e-2 -s 256x256 -o small", "a white cat")
    classic = ip.run_line_magic("dalle_vary", "small[0] -m dall-e-2 -s 256x256")
    assert classic[0].kind == "vary"


# ---------------------------------------------------------------------------- errors and interruption
def shown_error(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], source: str) -> str:
    """What a person sees under a cell that failed: the lines IPython prints in place of a traceback."""
    capsys.readouterr()
    ip.run_cell(source)
    shown = capsys.readouterr()
    return (shown.out + shown.err).strip()


def test_api_errors_show_the_apis_message_and_keep_what_arrived(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = shown_error(ip, capsys, "%%dalle -s 1024x1024 --exact\nonly a #blocked thing")
    assert seen.startswith("Refused by the API (400 moderation_blocked): Your request was rejected")
    revised = shown_error(ip, capsys, "%%dalle -s 1024x1024\nonly a #blocked thing")  # the Responses API's words
    assert revised.startswith("Refused by the API (moderation_blocked): Your request was rejected")
    assert "rephrase the prompt" in seen and "UsageError" not in seen and "Traceback" not in seen
    assert len(seen.splitlines()) == 1
    partial = cell(ip, "-s 1024x1024", "a {calm|#blocked} sea")
    assert [image.prompt for image in partial] == ["a calm sea"] and len(partial.failures) == 1
    assert "#blocked" in partial._repr_mimebundle_()["text/plain"]


def test_interrupt_cancels_and_says_what_was_kept(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    with OfflineServer(ServerOptions(latency=30)) as slow:
        config.configure(api_key="offline", base_url=slow.base_url, offline=False, max_retries=0)
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        seen = shown_error(ip, capsys, "%%dalle -o partial\na slow {one|two}")
        timer.join()
    assert seen == "Interrupted — kept 0 pictures (in partial). The requests in flight were cancelled."
    assert len(ip.user_ns["partial"]) == 0


def test_an_empty_set_says_so(ip: InteractiveShell) -> None:
    empty = dn.ImageSet()
    bundle = empty._repr_mimebundle_()
    assert bundle["text/plain"] == "<ImageSet: 0 pictures>" and "&lt;ImageSet: 0 pictures&gt;" in bundle["text/html"]


# ---------------------------------------------------------------------------- subcommands and config
def test_models_lists_the_table_the_backend_and_the_key(ip: InteractiveShell) -> None:
    table = ip.run_line_magic("dalle", "models")
    text, html = repr(table), table._repr_html_()
    assert "backend: offline" in text and "API key: ✗ not set" in text
    assert "dall-e-3" in text and "retired 2026-05-12" in text and "gpt-image-2.5-sunburst" in text
    assert "<table>" in html and "retired 2026-10-23, use gpt-image-2.5-sunburst" in html
    config.configure(api_key="sk-test-key-never-shown-1234")
    text = repr(ip.run_line_magic("dalle", "models"))
    assert "API key: ✓ set (configure())" in text and "backend: OpenAI" in text and "never-shown" not in text


def test_config_and_help(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    config.configure(api_key="sk-test-key-never-shown-1234", concurrency=3)
    table = ip.run_line_magic("dalle", "config")
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["api_key"] == ("set", "configure()") and rows["concurrency"] == ("3", "configure()")
    assert "never-shown" not in repr(table) + table._repr_html_()
    ip.run_line_magic("dalle", "help")
    assert "%%dalle_edit" in capsys.readouterr().out
    ip.run_line_magic("dalle", "")  # a bare %dalle shows the same help
    assert "%%dalle_edit" in capsys.readouterr().out


def test_history_search(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    cell(ip, "-s 1024x1024", "a purple owl")
    cell(ip, "-s 1024x1024", "a green frog")
    found = ip.run_line_magic("dalle", "history OWL")
    assert [image.prompt for image in found] == ["a purple owl"]
    assert ip.run_line_magic("dalle", "history nothing-like-this") is None
    assert "no pictures in the history matching" in capsys.readouterr().out


def test_config_traitlets_are_validated_and_applied(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Dalle.model = 'gpt-image-1.5'")
    assert config.settings().model == "gpt-image-1.5"
    assert cell(ip, "", "a fox")[0].model == "gpt-image-1.5"
    ip.run_line_magic("config", "Dalle.n = 2")
    assert len(cell(ip, "-s 1024x1024", "two foxes")) == 2
    rows = {row[0]: row[1:] for row in ip.run_line_magic("dalle", "config").rows}
    assert rows["n"] == ("2", "%config Dalle") and rows["model"] == ("gpt-image-1.5", "%config Dalle")
    magics = next(c for c in ip.configurables if isinstance(c, Dalle))
    with pytest.raises(TraitError, match="Did you mean 'gpt-image-1.5'"):
        magics.model = "gpt-image-15"
    with pytest.raises(TraitError, match="Supported values are: .low., .medium., .high., .auto."):
        magics.quality = "hd"
    with pytest.raises(TraitError, match="Supported values are: 'auto', '1024x1024'"):
        magics.size = "1000x1000"
    with pytest.raises(TraitError, match="from 1 to 100"):
        magics.n = 0


def test_a_retired_model_is_drawn_offline_and_said_once(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    default_session()._notified.clear()
    note = (
        "note: The model 'dall-e-2' was retired on May 12, 2026. Use a GPT image model instead. "
        "It works here (the offline backend) and will be refused with an OpenAI key."
    )
    ip.run_cell("%%dalle -m dall-e-2\na lighthouse", store_history=True)
    shown = capsys.readouterr().out
    assert ip.user_ns["_"][0].model == "dall-e-2" and shown.count(note) == 1, shown
    ip.run_cell("%%dalle -m dall-e-2\na second lighthouse", store_history=True)
    shown = capsys.readouterr().out
    assert ip.user_ns["_"][0].prompt == "a second lighthouse" and "retired" not in shown, "once a session"
    ip.run_line_magic("config", "Dalle.model = 'dall-e-3'")  # said when chosen, so not again with its pictures
    assert capsys.readouterr().out.count("note: The model 'dall-e-3' was retired") == 1
    assert cell(ip, "", "a third lighthouse").notices == []
    ip.run_line_magic("config", "Dalle.model = None")
    config.configure(api_key="sk-test-key-never-sent-1234")  # OpenAI's rules: refused before anything is sent
    ip.run_line_magic("config", "Dalle.model = 'dall-e-3'")
    assert "It is refused here" in capsys.readouterr().out
    assert "was retired on May 12, 2026" in usage_error(ip, "", "a lighthouse")


def test_pyproject_settings(ip: InteractiveShell, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dalle_nb]\nmodel = "gpt-image-2"\nsize = "1536x864"\nconcurrency = 2\nmodle = "x"\n'
    )
    (tmp_path / "lesson").mkdir()
    magics = next(c for c in ip.configurables if isinstance(c, Dalle))
    assert apply_pyproject(magics, tmp_path / "lesson") == ["model", "size", "concurrency"]
    assert "unknown setting 'modle' in [tool.dalle_nb]; did you mean 'model'?" in capsys.readouterr().err
    current = config.settings()
    assert (current.model, current.size, current.concurrency) == ("gpt-image-2", "1536x864", 2)
    assert current.sources["model"] == "[tool.dalle_nb]"
    magics.concurrency = 3
    assert config.settings().sources["concurrency"] == "%config Dalle"


def test_unload_removes_the_magics(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "dalle_nb")
    assert "dalle" not in ip.magics_manager.magics["cell"]
    left = [name for kind in ("line", "cell") for name in ip.magics_manager.magics[kind] if name.startswith("dalle")]
    assert left == [], f"still registered after unload: {left}"
    ip.run_line_magic("load_ext", "dalle_nb")
    assert "dalle" in ip.magics_manager.magics["cell"]


def test_loading_the_extension_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 'dalle_nb')\n"
        "print(sorted(m for m in ('openai', 'numpy', 'PIL', 'httpx2', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_pyproject_order_does_not_matter(ip: InteractiveShell, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.dalle_nb]\nquality = "hd"\nmodel = "dall-e-3"\n')
    magics = next(c for c in ip.configurables if isinstance(c, Dalle))
    assert apply_pyproject(magics, tmp_path) == ["quality", "model"]
    current = config.settings()
    assert (current.model, current.quality) == ("dall-e-3", "hd")


def test_config_none_returns_to_the_default(ip: InteractiveShell) -> None:
    from dalle_nb.core.capabilities import DEFAULT_MODEL

    ip.run_line_magic("config", "Dalle.model = 'gpt-image-1.5'")
    assert config.settings().model == "gpt-image-1.5"
    ip.run_line_magic("config", "Dalle.model = None")
    assert config.settings().model == DEFAULT_MODEL and "model" not in config.settings().sources


def test_a_broken_index_is_one_line_under_the_magic(ip: InteractiveShell, fresh: Path) -> None:
    fresh.mkdir(parents=True)
    (fresh / "index.sqlite3").write_bytes(b"not a database" * 100)
    result = cell(ip, "-s 1024x1024", "a fox in a broken gallery")
    assert len(result) == 1, "the picture is shown"
    lines = [line for line in result._repr_mimebundle_()["text/plain"].splitlines() if "✗" in line]
    assert len(lines) == 1 and "could not be added to the index" in lines[0] and ".png" in lines[0]


def test_a_bad_out_name_is_refused_before_anything_is_sent(ip: InteractiveShell, fresh: Path) -> None:
    assert "not a valid variable name" in usage_error(ip, "-o 1bad -s 1024x1024", "a fox")
    assert not fresh.exists() or not any(fresh.rglob("*.png")), "no request was sent"
