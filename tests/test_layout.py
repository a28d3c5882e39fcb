"""The house's rules that a tool can read: the public names, the old import paths, private names, lazy imports.

The wings' layering and the absence of import cycles are import-linter's contracts (``make lint``);
these are the rules it does not check.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import dalle_nb

PACKAGE = Path(dalle_nb.__file__).resolve().parent


def _modules() -> list[tuple[str, ast.Module, list[str]]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        text = path.read_text()
        found.append((name, ast.parse(text), text.splitlines()))
    return found


def test_the_lazy_map_is_the_public_api() -> None:
    """Every public name loads from where the map says (jupyter-ai's guard): a name added to one and not
    the other would be missing from ``help(dalle_nb)`` or fail on first use."""
    lazy = set(dalle_nb._LAZY)
    eager = {"__version__", "load_ipython_extension", "unload_ipython_extension"}
    assert lazy | eager == set(dalle_nb.__all__)
    for name in sorted(lazy):
        assert getattr(dalle_nb, name) is not None


@pytest.mark.parametrize(
    "expression",
    [
        "dalle_nb.models.choices('dall-e-3', 'generations', 'size').allowed",
        "dalle_nb.imaging.keep_unmasked",
        "dalle_nb.errors.InvalidRequest",
        "dalle_nb.config.reset",
        "dalle_nb.widgets.MAX_CANVAS_SIDE",
        "dalle_nb.api.VARIATION_PROMPT",
    ],
)
def test_the_import_paths_the_readme_shows_still_work(expression: str) -> None:
    """A notebook written against the flat package keeps running: the old paths are aliases of the new homes."""
    module = expression.split("(")[0].rsplit(".", 1)[0]
    code = f"import dalle_nb, {module}; print(repr({expression}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() not in ("", "None")


def test_dn_config_reset_works_without_importing_it() -> None:
    """``dn.config.reset()`` (the tutorials use it) finds the module on first use, as it did in the flat package."""
    code = "import dalle_nb as dn; dn.configure(quality='high'); dn.config.reset(); print(dn.settings().quality)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_no_module_imports_a_private_name_from_another() -> None:
    """A private name is its module's business: a sibling that needs it gets a public name in a lower module."""
    crossing = []
    for name, tree, _ in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("dalle_nb")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        crossing.append(f"{name}: from {'.' * node.level}{node.module or ''} import {alias.name}")
    assert crossing == []


def test_each_import_inside_a_function_says_why() -> None:
    """Imports inside functions stay only where they buy start-up time, each with its reason on the line or above.

    (``%load_ext dalle_nb`` loads neither the SDK nor numpy nor Pillow: they load on first use.)
    """
    silent = []
    for name, tree, lines in _modules():
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not _explained(lines, node.lineno - 1):
                    silent.append(f"{name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert sorted(set(silent)) == []


def _explained(lines: list[str], index: int) -> bool:
    """A comment on the import, on the first import of its group of consecutive imports, or on the line above."""
    while index > 0 and "#" not in lines[index] and lines[index - 1].strip().startswith(("import ", "from ")):
        index -= 1
    return "#" in lines[index] or (index > 0 and lines[index - 1].strip().startswith("#"))
