"""``%%dalle`` cells are highlighted as prompts, not as Python, in JupyterLab 4 and Notebook 7.

A real Chromium opens a notebook holding a ``%%dalle`` cell and a Python cell with the same
words.  The Python cell is the control: it shows which token classes this very JupyterLab gives
a comment and a keyword, so the test can tell that ``#blocked`` in the prompt is *not* one and
that ``in``/``with`` are plain words.  The prompt's ``{a|b}`` alternatives and ``{name}`` fields
must carry the extension's classes, in colours readable in the light and the dark theme
(WCAG contrast against the editor's own background).  Screenshots of the cells are kept in
``$DALLE_NB_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ._lab import Lab, command, open_notebook

PROMPT = "%%dalle -n 2 -s 1024x1024\na {red|blue} fox #blocked in the snow with {name}\na sign that says {{hello}}"
CONTROL = "for fox in snow:  #blocked\n    with name: pass"
# what prompts.py accepts and refuses: the refusals are marked where the user can see them
EDGES = """%%dalle_edit fox --mask "m.png"
for fox in snow:  #blocked
a {calm|#blocked} sea, a stray } and an {unclosed {x} and {}"""
PLUGIN = "dalle-nb-highlight:plugin"
# read at import: the suite's autouse fixture clears DALLE_NB_* variables for each test
SCREENSHOTS = os.environ.get("DALLE_NB_SCREENSHOTS")

# Every text node of a cell's editor, line by line, with the classes of the elements around it.
_TOKENS = """(index) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    return [...cell.querySelectorAll('.cm-content .cm-line')].map(line => {
        const segments = [];
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const classes = [];
            for (let el = node.parentElement; el && el !== line; el = el.parentElement) classes.push(...el.classList);
            segments.push([node.textContent, classes]);
        }
        return segments;
    });
}"""

# The colour of each token class in a cell, of its plain text, and the background behind them.
_COLOURS = """([index, names]) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const content = cell.querySelector('.cm-content');
    let back = content;
    while (back && ['transparent', 'rgba(0, 0, 0, 0)'].includes(getComputedStyle(back).backgroundColor)) {
        back = back.parentElement;
    }
    const colours = {plain: getComputedStyle(content.querySelector('.cm-line')).color,
                     background: back ? getComputedStyle(back).backgroundColor : 'rgb(255, 255, 255)'};
    for (const name of names) {
        const el = content.querySelector('.' + name);
        colours[name] = el ? getComputedStyle(el).color : null;
    }
    return colours;
}"""

_READY = """() => {
    const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
    return cells.length >= 2 && !!cells[0].querySelector('.cm-content .dalle-nb-field')
        && [...cells[1].querySelectorAll('.cm-content .cm-line span')].some(s => s.textContent.includes('#blocked'));
}"""


def write_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python", "codemirror_mode": {"name": "ipython", "version": 3}}
    notebook.cells = [nbformat.v4.new_code_cell(PROMPT), nbformat.v4.new_code_cell(CONTROL)]
    nbformat.write(notebook, path)


def char_classes(page: Any, cell: int) -> list[list[tuple[str, frozenset[str]]]]:
    """Each line of a cell's editor as (character, classes around it) pairs."""
    lines = page.evaluate(_TOKENS, cell)
    return [[(char, frozenset(classes)) for text, classes in line for char in text] for line in lines]


def classes_of(lines: list[list[tuple[str, frozenset[str]]]], line: int, text: str) -> list[frozenset[str]]:
    """The classes around each character of the first ``text`` on ``line``."""
    chars = "".join(char for char, _ in lines[line])
    start = chars.index(text)
    return [classes for _, classes in lines[line][start : start + len(text)]]


def rgb(css: str) -> tuple[float, float, float]:
    parts = css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")
    r, g, b = (float(p) for p in parts[:3])
    return (r, g, b)


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two CSS colours."""

    def luminance(css: str) -> float:
        channels = [c / 255 for c in rgb(css)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    folder = Path(SCREENSHOTS or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.nth(0).scroll_into_view_if_needed()
    box0, box1 = cells.nth(0).bounding_box(), cells.nth(1).bounding_box()
    clip = {
        "x": box0["x"],
        "y": box0["y"],
        "width": max(box0["width"], box1["width"]),
        "height": box1["y"] + box1["height"] - box0["y"],
    }
    page.screenshot(path=str(path), clip=clip, animations="disabled", caret="hide")
    return path


def set_source(page: Any, cell: int, source: str) -> None:
    page.evaluate(
        "([i, source]) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.setSource(source)",
        [cell, source],
    )


def set_theme(page: Any, theme: str) -> None:
    command(page, "apputils:change-theme", {"theme": theme})
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme", arg=theme)
    page.wait_for_timeout(300)  # the theme's stylesheet applies after the attribute changes


def check_prompt_tokens(page: Any) -> None:
    prompt, control = char_classes(page, 0), char_classes(page, 1)

    # the control: in a Python cell this JupyterLab marks the comment and the keywords
    comment = classes_of(control, 0, "#blocked")[0]
    keyword_in = classes_of(control, 0, " in ")[1]
    keyword_with = classes_of(control, 1, "with")[0]
    assert comment and keyword_in and keyword_with, "the Python control cell is highlighted"
    assert keyword_in == keyword_with and comment != keyword_in

    # the prompt: '#blocked in the snow with' is plain text, no token at all
    for text in ("fox #blocked in the snow with ", "a sign that says "):
        assert all(not classes for classes in classes_of(prompt, 1 if "fox" in text else 2, text)), text
    assert comment not in classes_of(prompt, 1, "#blocked")
    assert keyword_in not in classes_of(prompt, 1, " in ") + classes_of(prompt, 1, "with")

    # alternatives and fields carry the extension's classes; braces and '|' are marks
    choice = classes_of(prompt, 1, "{red|blue}")
    assert all("dalle-nb-choice" in classes for classes in choice)
    assert [("dalle-nb-mark" in classes) for classes in choice] == [c in "{|}" for c in "{red|blue}"]
    field = classes_of(prompt, 1, "{name}")
    assert all("dalle-nb-field" in classes and "dalle-nb-choice" not in classes for classes in field)
    assert all("dalle-nb-brace" in classes for classes in classes_of(prompt, 2, "{{") + classes_of(prompt, 2, "}}"))
    assert not any(classes_of(prompt, 2, "hello")), "the text between literal braces is plain"

    # the magic line is still a magic: its name and options are marked
    assert all("dalle-nb-magic" in classes for classes in classes_of(prompt, 0, "%%dalle"))
    assert all("dalle-nb-option" in classes for classes in classes_of(prompt, 0, "-n"))


def check_edge_cases(lines: list[list[tuple[str, frozenset[str]]]]) -> None:
    assert all("dalle-nb-magic" in classes for classes in classes_of(lines, 0, "%%dalle_edit"))
    assert all("dalle-nb-option" in classes for classes in classes_of(lines, 0, "--mask"))
    assert not any(classes_of(lines, 1, "for fox in snow:  #blocked")), "Python words are plain in a prompt"
    assert all("dalle-nb-choice" in classes for classes in classes_of(lines, 2, "{calm|#blocked}"))
    assert classes_of(lines, 2, "stray }")[-1] == {"dalle-nb-error"}, "a single } is an error"
    assert classes_of(lines, 2, "{unclosed")[0] == {"dalle-nb-error"}, "an unclosed { is an error"
    assert not any(classes_of(lines, 2, "{unclosed")[1:]), "the text after it stays text"
    assert all("dalle-nb-field" in classes for classes in classes_of(lines, 2, "{x}"))
    assert classes_of(lines, 2, "{}") == [{"dalle-nb-error"}] * 2, "an empty field is an error"


def check_colours(page: Any, theme: str) -> None:
    names = ["dalle-nb-field", "dalle-nb-choice", "dalle-nb-mark", "dalle-nb-magic", "dalle-nb-option"]
    colours = page.evaluate(_COLOURS, [0, names])
    background = colours["background"]
    for name in names:
        assert colours[name], f"{name} is shown"
        ratio = contrast(colours[name], background)
        assert ratio >= 4.5, f"{name} {colours[name]} on {background} in {theme}: contrast {ratio:.1f} < 4.5"
    assert colours["dalle-nb-field"] != colours["plain"] and colours["dalle-nb-choice"] != colours["plain"]
    assert colours["dalle-nb-field"] != colours["dalle-nb-choice"], "fields and alternatives look different"


@pytest.mark.parametrize(
    # its own Lab workspace, so the notebook it opens is not restored into the mask editor tests' pages
    ("app", "route"),
    [("lab", "lab/workspaces/highlight/tree/{}"), ("notebook7", "notebooks/{}")],
    ids=["jupyterlab4", "notebook7"],
)
def test_a_dalle_cell_is_highlighted_as_a_prompt_not_python(
    app: str, route: str, lab: Lab, browser_context: Any, tmp_path: Path
) -> None:
    name = f"highlight-{app}.ipynb"
    write_notebook(lab.root / name)
    page = browser_context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        open_notebook(page, lab.url(route.format(name)))
        assert page.evaluate("(id) => window.jupyterapp.isPluginActivated(id)", PLUGIN), f"{PLUGIN} is active"
        page.wait_for_function(_READY)
        for theme, label in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            set_theme(page, theme)
            check_prompt_tokens(page)
            check_colours(page, theme)
            screenshot(page, f"highlight-{app}-{label}", tmp_path)

        # typing the magic into a Python cell makes it a prompt at once; taking it away makes it Python again
        set_source(page, 1, EDGES)
        page.wait_for_function(
            "() => !!document.querySelectorAll('.jp-Notebook .jp-Cell')[1].querySelector('.dalle-nb-magic')"
        )
        check_edge_cases(char_classes(page, 1))
        set_source(page, 1, CONTROL)
        page.wait_for_function(_READY)
        assert classes_of(char_classes(page, 1), 0, "#blocked")[0], "a Python cell is Python again"
    finally:
        set_theme(page, "JupyterLab Light")  # the theme is a saved setting: leave the server as it was
        page.close()
    problems = [line for line in console if line.startswith("error") or "dalle-nb-highlight" in line]
    assert not problems, problems
