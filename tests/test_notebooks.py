"""The tutorials are stored executed, so nbval really compares their outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


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
