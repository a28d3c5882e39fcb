"""What a person sees: the activity line from the first moment, grids, captions, dates, settings, messages."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core.formatting import matrix_grid
from dalle_nb.notebook.magics import help_text
from dalle_nb.notebook.reports import config_report
from dalle_nb.runtime.gallery import default_dir


def run_in_a_kernel(code: str, env: dict[str, str], timeout: float = 90) -> list[dict[str, Any]]:
    """Run ``code`` in a real IPython kernel and return every display message it sent, in order."""
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory() as runtime:
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(runtime) / "k"))
        manager.start_kernel(env={**os.environ, **env})
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            msg_id = client.execute(code)
            shown: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = client.get_iopub_msg(timeout=timeout)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind in ("display_data", "update_display_data", "execute_result", "error", "stream"):
                    shown.append({"type": kind, **msg["content"]})
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    return shown
            raise TimeoutError(code)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def html_of(message: dict[str, Any]) -> str:
    return str(message.get("data", {}).get("text/html", ""))


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ('import dalle_nb as dn\ndn.generate("a slow fox", size="1024x1024", revise=False)', "python"),
        ('%load_ext dalle_nb\n%dalle -s 1024x1024 --exact "a slow fox"', "magic"),
    ],
)
def test_a_single_picture_shows_an_activity_line_with_elapsed_time_from_the_first_moment(
    fresh: Path, code: str, kind: str
) -> None:
    shown = run_in_a_kernel(code, {"DALLE_NB_GALLERY_DIR": str(fresh), "DALLE_NB_OFFLINE": "1",
                                   "DALLE_NB_OFFLINE_LATENCY": "2.5", "OPENAI_API_KEY": ""})  # fmt: skip
    lines = [html_of(m) for m in shown if m["type"] in ("display_data", "update_display_data")]
    activity = [line for line in lines if "dalle-nb-progress" in line]
    assert activity and "making 1 picture from gpt-image-2.5-sunburst … 0 s" in activity[0], kind
    moving = [line for line in activity if re.search(r"making 1 picture .* … [1-9]\d* s", line)]
    assert moving, f"the elapsed time moves while waiting: {activity}"
    updates = [html_of(m) for m in shown if m["type"] == "update_display_data"]
    assert updates[-1] == "", "the activity line is gone once the picture is shown"
    if kind == "magic":  # the magic says what the cell cost, in one line over the picture
        assert "1 picture · gpt-image-2.5-sunburst · $" in lines[-1] and "offline pictures are free" in lines[-1]
    else:
        assert lines[-1] == ""
    result = [m for m in shown if m["type"] == "execute_result"]
    assert result and "a slow fox" in html_of(result[0])


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ('import dalle_nb as dn\nkept = dn.generate("a quiet fox", size="1024x1024", revise=False, progress=False)',
         "python"),
        ('%load_ext dalle_nb\n%dalle -s 1024x1024 --exact --no-show -o kept "a quiet fox"', "magic"),
    ],
)  # fmt: skip
def test_no_activity_line_where_it_is_asked_for_none(fresh: Path, code: str, kind: str) -> None:
    shown = run_in_a_kernel(code, {"DALLE_NB_GALLERY_DIR": str(fresh), "DALLE_NB_OFFLINE": "1",
                                   "DALLE_NB_OFFLINE_LATENCY": "1.5", "OPENAI_API_KEY": ""})  # fmt: skip
    assert not [m for m in shown if "dalle-nb-progress" in html_of(m)], kind
    assert not [m for m in shown if m["type"] in ("error", "execute_result")], shown


def test_a_prompt_matrix_is_laid_out_as_its_grid(ip: InteractiveShell) -> None:
    result = ip.run_cell_magic("dalle", "-s 1024x1024 --exact", "a {red|blue} {cat|dog}")
    grid = matrix_grid(result)
    assert grid is not None and grid.rows == ("red", "blue") and grid.columns == ("cat", "dog")
    html = result._repr_mimebundle_()["text/html"]
    assert "<table class='dalle-nb-set dalle-nb-grid'>" in html
    rows = html.split("<tr>")[1:]
    assert len(rows) == 3 and ">cat</th>" in rows[0] and ">dog</th>" in rows[0]
    assert ">red</th>" in rows[1] and rows[1].count("dalle-nb-card") == 2 and ">blue</th>" in rows[2]
    single = ip.run_cell_magic("dalle", "-s 1024x1024 --exact", "a {red|green|blue} kite")
    one_row = matrix_grid(single)
    assert one_row is not None and one_row.columns == ("red", "green", "blue") and len(one_row.rows) == 1


def test_history_cards_say_when_each_picture_was_made(ip: InteractiveShell) -> None:
    ip.run_cell_magic("dalle", "-s 1024x1024 --exact", "a purple owl")
    time.sleep(1.05)  # a rerun a second later, as a person would: the same prompt, the same picture
    ip.run_cell_magic("dalle", "-s 1024x1024 --exact", "a purple owl")
    found = ip.run_line_magic("dalle", "history owl")
    today = time.strftime("%Y-%m-%d")
    when = re.findall(r"class='dalle-nb-when'[^>]*>([^<]*)<", found._repr_mimebundle_()["text/html"])
    assert len(found) == 2 and len(when) == 2 and all(w.startswith(f"{today} ") for w in when)
    assert when[0] != when[1], "two runs of one prompt must be told apart"


def test_failures_use_the_themes_error_colour(ip: InteractiveShell) -> None:
    result = ip.run_cell_magic("dalle", "-s 1024x1024 --exact", "a {calm|#blocked} sea")
    html = result._repr_mimebundle_()["text/html"]
    failure = re.search(r"<div class='dalle-nb-failure' style='([^']*)'>✗", html)
    assert failure is not None and "color:var(--jp-error-color1," in failure.group(1)
    assert "#b00020" not in html


@pytest.mark.parametrize(
    ("size", "box"), [((1536, 1024), (256, 171)), ((1024, 1536), (171, 256)), ((512, 512), (256, 256))]
)
def test_partial_previews_take_the_place_of_the_final_card(size: tuple[int, int], box: tuple[int, int]) -> None:
    import io

    from PIL import Image

    from dalle_nb.core.events import PartialImage
    from dalle_nb.core.results import GeneratedImage
    from dalle_nb.runtime.progress import Progress

    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, format="PNG")
    progress = Progress(1, size=256)
    progress.partial(PartialImage("a teal square", 0, 0, buffer.getvalue()))
    preview = next(iter(progress.previews.values()))
    assert f"width:{box[0]}px;height:{box[1]}px" in preview
    picture = GeneratedImage(
        data=buffer.getvalue(), path=None, prompt="a teal square", model="gpt-image-1.5", size=f"{size[0]}x{size[1]}"
    )
    card = Image.open(io.BytesIO(picture.thumbnail_webp(256)))
    assert abs(card.size[0] - box[0]) <= 1 and abs(card.size[1] - box[1]) <= 1  # the card the preview stands for


def test_config_shows_the_values_actually_used(ip: InteractiveShell) -> None:
    dn.generate("warm up the offline server", size="1024x1024", revise=False)
    rows = {row[0]: row[1:] for row in config_report().rows}
    assert rows["size"] == ("auto", "gpt-image-2.5-sunburst's default")
    assert rows["quality"] == ("auto", "gpt-image-2.5-sunburst's default")
    assert rows["base_url"][0].startswith("http://127.0.0.1:") and rows["base_url"][1] == "offline server"
    assert rows["gallery_dir"][0] == str(default_dir())
    assert "None" not in [value for value, _ in rows.values()]
    config.configure(model="dall-e-3")
    rows = {row[0]: row[1:] for row in config_report().rows}
    assert rows["size"][0] == "1024x1024" and rows["quality"][0] == "standard"


def test_help_is_aligned_and_hints_do_not_mislead(ip: InteractiveShell) -> None:
    usage = [line for line in help_text().splitlines()[2:8]]
    columns = {len(re.match(r"^(\S.*?\s{2,})\S", line).group(1)) for line in usage}  # type: ignore[union-attr]
    assert len(columns) == 1, "the usage lines line up"
    with pytest.raises(UsageError) as err:
        ip.run_cell_magic("dalle", "--colour red", "a fox")
    assert "Did you mean" not in str(err.value) and "unknown option --colour" in str(err.value)
    with pytest.raises(UsageError, match="Nearest valid: '992x704', '1008x704'"):
        ip.run_cell_magic("dalle", "-s 1000x700", "a fox")


def test_models_table_uses_marks_every_font_has(ip: InteractiveShell) -> None:
    text = repr(ip.run_line_magic("dalle", "models"))
    assert "✗ not set" in text and "❌" not in text and "✅" not in text


def test_a_progress_line_that_did_not_change_is_not_sent_again(ip: InteractiveShell) -> None:
    from dalle_nb.runtime.progress import Progress

    progress = Progress(2, model="gpt-image-1.5")
    assert progress.handle is not None
    sent: list[object] = []
    progress.handle.update = lambda *args, **kwargs: sent.append(args)  # type: ignore[method-assign]
    progress.refresh()
    progress.refresh()  # nothing new within the same second: no second message
    progress.done = 1
    progress.refresh()
    assert len(sent) <= 2 and "1 of 2 pictures" in str(sent[-1])


def test_a_batch_status_reads_as_a_sentence_under_a_cell() -> None:
    from IPython.lib.pretty import pretty

    from dalle_nb.background.batch import BatchStatus

    status = BatchStatus("job_1", "completed", 3, 3, 0)
    assert pretty(status) == "job_1: completed, 3 of 3 done, 0 failed" == str(status)
