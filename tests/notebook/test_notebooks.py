"""The tutorials are stored executed, so nbval really compares their outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_tutorials() -> None:
    assert [p.name for p in NOTEBOOKS][:1] == ["01_quickstart.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_code_cell_is_saved_with_its_outputs(path: Path) -> None:
    # nbval silently skips cells saved unexecuted; a tutorial saved that way would test nothing
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell.source.strip():
            assert cell.execution_count is not None, f"{path.name} cell {number} was saved without running"
    last = [c for c in notebook.cells if c.cell_type == "code"][-1]
    assert any("DONE" in out.get("text", "") for out in last.outputs), "the last cell prints its DONE marker"
    assert not any(out.output_type == "error" for c in notebook.cells if c.cell_type == "code" for out in c.outputs)


def test_demo_runs_the_quickstart_and_says_where_everything_is(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DALLE_NB_"))}
    out = subprocess.run(
        [sys.executable, "-m", "dalle_nb.cli", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    executed = tmp_path / "demo" / "01_quickstart.ipynb"
    assert f"Executed notebook: {executed}" in out.stdout
    notebook = nbformat.read(executed, as_version=4)
    assert any("QUICKSTART_DONE" in o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    pictures = list((tmp_path / "demo" / "gallery" / "images").rglob("*.png"))
    assert len(pictures) >= 10 and f"Pictures made now ({len(pictures)}" in out.stdout
    assert "... Generate" in out.stdout and "WARNING" not in out.stdout + out.stderr  # progress, no kernel noise
    sheet = tmp_path / "demo" / "contact_sheet.png"
    assert f"Contact sheet of a dozen prompts: {sheet}" in out.stdout
    from PIL import Image

    with Image.open(sheet) as picture:
        assert picture.size[0] > 1000 and len(picture.getcolors(1 << 20) or range(5000)) > 1000  # twelve real pictures
    again = subprocess.run(
        [sys.executable, "-m", "dalle_nb.cli", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert f"Pictures made now ({len(pictures)}" in again.stdout, "a second run reports only its own pictures"
