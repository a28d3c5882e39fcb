"""The Studio in JupyterLab 4 and Notebook 7 with headless Chromium: what a person does with it, and what they get.

Each test shows a fresh Studio in the stage cell of its own notebook (opened in its own Lab
workspace, so it never appears in the mask editor tests' pages), types and clicks through the
stable ``dalle-nb-studio-*`` classes, waits for what the page shows (the status line, the
pictures) and reads the result from the kernel: ``studio.results``, ``studio.selected``, the
editor's mask.  The kernel uses the offline backend (no key); tests that need a slow or a keyed
backend start an offline server from the notebook and point dalle_nb at it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

from ._lab import Lab, command, open_notebook, run_cell
from ._painting import Mouse
from .conftest import NotebookPage

SETUP = """\
import json
import numpy as np
import dalle_nb as dn
from dalle_nb import offline
from dalle_nb.core.capabilities import choices
print("STUDIO_SETUP_DONE")
"""
CANARY = "sk-canary-studio-browser-5b1f0c9d2e7a4f63"
SIZES_OF_DALL_E_3 = ["1024x1024", "1792x1024", "1024x1792"]
_SHOWN = itertools.count(1)


def studio_notebook(lab: Lab, name: str) -> str:
    """A notebook with a setup cell, the stage cell that shows a Studio, and a spare cell for other work."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(f"print('{n}')") for n in "ab"]
    nbformat.write(notebook, lab.root / name)
    return name


def open_studio_notebook(browser_context: Any, lab: Lab, route: str, out: Any) -> NotebookPage:
    page = browser_context.new_page()
    open_notebook(page, lab.url(route))
    run_cell(page, 0, SETUP, "STUDIO_SETUP_DONE")
    return NotebookPage(page, lab, out)


@pytest.fixture(scope="module")
def lab_page(browser_context: Any, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookPage]:
    """studio.ipynb open in JupyterLab, in a workspace of its own."""
    name = studio_notebook(lab, "studio.ipynb")
    notebook = open_studio_notebook(
        browser_context, lab, f"lab/workspaces/studio/tree/{name}", tmp_path_factory.mktemp("studio-out")
    )
    yield notebook
    notebook.page.close()


class StudioView:
    """One Studio on the page, found and driven through its stable CSS classes."""

    def __init__(self, notebook: NotebookPage) -> None:
        self.notebook = notebook
        self.page = notebook.page
        self.root = self.page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".dalle-nb-studio").first
        self.generate_tab = self.root.locator(".dalle-nb-studio-generate-tab")
        self.status = self.root.locator(".dalle-nb-studio-status")
        self.results = self.root.locator(".dalle-nb-studio-results")

    def find(self, css: str) -> Any:
        return self.root.locator(css).first

    def type_prompt(self, text: str) -> None:
        """Type into the prompt box as a person does: click it, clear it, type key by key."""
        box = self.generate_tab.locator(".dalle-nb-studio-prompt textarea")
        box.click()
        box.press("ControlOrMeta+a")
        box.press("Delete")
        box.press_sequentially(text)
        self.notebook.wait_for(f"studio.prompt.value == {text!r}")

    def generate(self, until: str = "Done:") -> None:
        button = self.find("button.dalle-nb-studio-generate")
        expect(button).to_be_enabled()
        button.click()
        if until:
            expect(self.status).to_contain_text(until, timeout=60_000)

    def tab(self, title: str) -> None:
        self.root.locator(".lm-TabBar-tab", has_text=title).first.click()
        expect(self.root.locator(f".dalle-nb-studio-{title.lower()}-tab")).to_be_visible()

    def options_of(self, tab: str, name: str) -> list[str]:
        """The options a menu offers, as shown (ipywidgets writes their spaces as no-break spaces)."""
        options = self.root.locator(f".dalle-nb-studio-{tab}-tab .dalle-nb-studio-{name} select option")
        return [text.replace("\xa0", " ").strip() for text in options.all_inner_texts()]


def show_studio(notebook: NotebookPage, before: str = "") -> StudioView:
    """A fresh Studio in the stage cell (``before`` runs first, in the same cell)."""
    marker = f"STUDIO_SHOWN_{next(_SHOWN)}"
    run_cell(notebook.page, 1, f"{before}\nstudio = dn.Studio()\ndisplay(studio)\nprint({marker!r})", marker)
    view = StudioView(notebook)
    view.root.wait_for(state="visible")
    expect(view.status).to_have_text("Ready.")
    return view


@pytest.fixture
def slow_backend(lab_page: NotebookPage) -> Iterator[str]:
    """An offline server answering after 3 s, one request at a time, that the notebook's kernel uses until the
    test ends: a job of four pictures lasts 12 s, far longer than anything the test does meanwhile.  It is a
    base URL of its own, billed as a gateway is, so the Studio would ask before a dear click: these tests are
    about what follows the click, so they are not asked (``confirm_over`` far above any of their prices)."""
    lab_page.execute(
        "slow = offline.start(latency=3)\n"
        "dn.configure(base_url=slow.base_url, offline=False, api_key='offline', concurrency=1, confirm_over=1000)"
    )
    try:
        yield lab_page.value("slow.base_url")
    finally:
        lab_page.execute("dn.config.reset()\nslow.stop()")


# ---------------------------------------------------------------------------- JupyterLab


def test_typing_a_prompt_and_pressing_generate_shows_the_pictures_and_fills_studio_results(
    lab_page: NotebookPage,
) -> None:
    studio = show_studio(lab_page)
    studio.type_prompt("a {red|blue} kite over the sea")
    expect(studio.generate_tab.locator(".dalle-nb-studio-text", has_text="2 prompts")).to_be_visible()
    studio.generate(until="Done: 2 pictures")
    pictures = studio.results.locator(".dalle-nb-studio-card img")
    expect(pictures).to_have_count(2)
    assert lab_page.value("[image.prompt for image in studio.results]") == [
        "a red kite over the sea",
        "a blue kite over the sea",
    ]
    assert lab_page.value("len(studio.history)") == 2
    cards = studio.results.locator(".dalle-nb-studio-card")
    for text in ("red", "blue"):
        card = cards.filter(has_text=f"a {text} kite over the sea")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("revised:")  # the revised prompt the model used, under the picture
    # thumbnails come as image bytes over the widget channel (blob URLs), not base64 in HTML
    sources = pictures.evaluate_all("(images) => images.map(i => [i.src, i.naturalWidth])")
    assert all(src.startswith("blob:") and width > 0 for src, width in sources), sources
    assert "base64" not in studio.results.inner_html()
    lab_page.screenshot(studio.root, "studio-lab-results")


def test_choosing_dall_e_3_offers_exactly_its_three_sizes(lab_page: NotebookPage) -> None:
    studio = show_studio(lab_page)
    assert "custom WxH" in studio.options_of("generate", "size"), "the default model takes any WxH"
    label = lab_page.value(
        "[label for label, value in studio.generate_options.model.options if value == 'dall-e-3'][0]"
    )
    studio.generate_tab.locator(".dalle-nb-studio-model select").select_option(label=label)
    size = studio.generate_tab.locator(".dalle-nb-studio-size select option")
    expect(size).to_have_text(SIZES_OF_DALL_E_3)
    assert studio.options_of("generate", "size") == list(
        lab_page.value("choices('dall-e-3', 'generations', 'size').allowed")
    )
    expect(studio.generate_tab.locator(".dalle-nb-studio-quality select option")).to_have_text(["standard", "hd"])
    expect(studio.generate_tab.locator(".dalle-nb-studio-background")).to_be_hidden()  # dall-e-3 takes none
    assert lab_page.value("studio.generate_options.model.value") == "dall-e-3"


def test_the_kernel_stays_free_during_a_generation_and_cancel_stops_it(
    lab_page: NotebookPage, slow_backend: str
) -> None:
    studio = show_studio(lab_page)
    expect(studio.find(".dalle-nb-studio-backend")).to_contain_text(f"an OpenAI-compatible API at {slow_backend}")
    studio.type_prompt("a slow {red|blue|green|white} snail")
    studio.generate(until="Making 4 pictures")
    cancel = studio.find("button.dalle-nb-studio-cancel")
    expect(cancel).to_be_enabled()
    expect(studio.find(".dalle-nb-studio-progress")).to_be_visible()

    run_cell(lab_page.page, 2, "print('one and one make', 1 + 1)", "one and one make 2")  # another cell runs now
    assert lab_page.value("not studio._handle.done()"), "the cell finished while the pictures were being made"
    expect(studio.status).to_contain_text("Making 4 pictures")

    cancel.click()
    # (a picture being saved as Cancel is pressed is kept, so the end may take a moment on a loaded machine)
    expect(studio.status).to_have_text(re.compile("cancelled", re.IGNORECASE), timeout=30_000)
    assert lab_page.value("studio.results.cancelled")
    expect(studio.results.locator("img")).to_have_count(lab_page.value("len(studio.results)"))
    expect(studio.find("button.dalle-nb-studio-generate")).to_be_enabled()
    expect(cancel).to_be_disabled()
    expect(studio.find(".dalle-nb-studio-progress")).to_be_hidden()


def test_a_refused_prompt_is_one_line_in_the_status_and_the_next_generate_works(lab_page: NotebookPage) -> None:
    studio = show_studio(lab_page)
    studio.type_prompt("a #blocked kite")
    studio.generate(until="Refused by the API")
    said = studio.status.inner_text().strip()
    assert "\n" not in said and "Traceback" not in said, said
    assert "safety system" in said and said.endswith("rephrase the prompt"), said
    expect(studio.status.locator(".dalle-nb-studio-problem")).to_have_count(1)  # shown as a problem
    lab_page.screenshot(studio.status, "studio-lab-refused")

    studio.type_prompt("a calm lake")
    studio.generate(until="Done: 1 picture")
    expect(studio.results.locator(".dalle-nb-studio-card img")).to_have_count(1)
    assert lab_page.value("[image.prompt for image in studio.results]") == ["a calm lake"]


def test_edit_a_selected_result_with_a_painted_mask_keeps_every_pixel_outside_it(lab_page: NotebookPage) -> None:
    studio = show_studio(lab_page)
    studio.type_prompt("a grey wall")
    studio.generate_tab.locator(".dalle-nb-studio-size select").select_option("1024x1024")
    studio.generate(until="Done: 1 picture")

    studio.results.locator("button.dalle-nb-studio-select").first.click()
    expect(studio.results.locator(".dalle-nb-studio-card.dalle-nb-studio-selected")).to_have_count(1)
    expect(studio.find(".dalle-nb-studio-details")).to_contain_text("selected: a grey wall")
    studio.find("button.dalle-nb-studio-edit-selected").click()
    edit_tab = studio.root.locator(".dalle-nb-studio-edit-tab")
    canvas = edit_tab.locator("canvas.dalle-nb-mask-canvas").first
    canvas.wait_for(state="visible")
    canvas.scroll_into_view_if_needed()
    lab_page.wait_for("studio.editor is not None and studio.editor.image.size == (1024, 1024)")

    mouse = Mouse(lab_page.page, canvas, width=1024)
    mouse.drag((150, 300), (850, 500), steps=30)
    lab_page.wait_for("len(studio.editor.operations) == 1")
    prompt = edit_tab.locator(".dalle-nb-studio-edit-prompt textarea")
    prompt.click()
    prompt.press_sequentially("a red door")
    lab_page.wait_for("studio.edit_prompt.value == 'a red door'")
    edit_tab.locator("button.dalle-nb-studio-edit").click()
    expect(studio.status).to_contain_text("Done: 1 picture", timeout=60_000)

    answer = lab_page.value(
        """(lambda before, after, keep: {
            "size": list(after.shape[:2]),
            "outside_same": bool((before[keep] == after[keep]).all()),
            "inside_changed": float((before[~keep] != after[~keep]).any(axis=-1).mean()),
            "coverage": studio.editor.coverage,
            "parent": list(studio.results[0].parents) == [studio.selected.id],
        })(np.asarray(studio.selected.to_pil().convert("RGB")), np.asarray(studio.results[0].to_pil().convert("RGB")),
           ~studio.editor.mask_array)"""
    )
    assert answer["size"] == [1024, 1024] and answer["coverage"] > 0.01
    assert answer["outside_same"], "every pixel outside the painted mask is the original's"
    assert answer["inside_changed"] > 0.3, "and the painted part was edited"
    assert answer["parent"], "the edit's parent is the selected picture"
    expect(studio.results.locator(".dalle-nb-studio-card img")).to_have_count(1)
    lab_page.screenshot(studio.root, "studio-lab-edit")


def test_the_gallery_finds_a_picture_by_a_word_of_its_prompt(lab_page: NotebookPage) -> None:
    lab_page.execute("dn.generate(['a spotted giraffe under a tree', 'a striped zebra'], size='1024x1024')")
    studio = show_studio(lab_page)
    studio.tab("Gallery")
    gallery = studio.root.locator(".dalle-nb-studio-gallery")
    expect(gallery.locator(".dalle-nb-studio-card").first).to_be_visible()  # opening the tab shows the newest
    search = studio.find(".dalle-nb-studio-search input")
    search.click()
    search.press_sequentially("giraffe")
    search.press("Enter")
    cards = gallery.locator(".dalle-nb-studio-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("a spotted giraffe under a tree")
    expect(cards.first.locator("img")).to_have_count(1)
    expect(studio.root.locator(".dalle-nb-studio-gallery-tab")).to_contain_text("1 picture matching 'giraffe'")
    cards.first.locator("button.dalle-nb-studio-select").click()
    expect(studio.find(".dalle-nb-studio-details")).to_contain_text("a spotted giraffe under a tree")
    assert lab_page.value("studio.selected.prompt") == "a spotted giraffe under a tree"
    lab_page.screenshot(studio.root, "studio-lab-gallery")


def test_the_price_line_shows_the_price_before_generate_follows_the_options_and_cards_show_the_cost(
    lab_page: NotebookPage,
) -> None:
    studio = show_studio(lab_page)
    price = studio.generate_tab.locator(".dalle-nb-price")
    expect(price).to_have_text("write a prompt first")
    studio.type_prompt("a red kite over the sea")
    expect(price).to_contain_text("≈ $")
    seen = [price.inner_text().strip()]

    def changed(how: str) -> str:
        expect(price).not_to_have_text(seen[-1])
        said = price.inner_text().strip()
        assert said.startswith("≈ $"), f"after {how}: {said!r}"
        seen.append(said)
        return said

    studio.generate_tab.locator(".dalle-nb-studio-size select").select_option("1024x1024")
    changed("choosing a size")
    studio.generate_tab.locator(".dalle-nb-studio-quality select").select_option("low")
    changed("choosing a quality")
    number = studio.generate_tab.locator(".dalle-nb-studio-n input")
    number.fill("3")
    number.press("Enter")
    said = changed("asking for 3 pictures")
    assert "3 pictures" in said and "what OpenAI would charge" in said
    expected = lab_page.value(
        "dn.estimate(dn.generate, ['a red kite over the sea'], size='1024x1024', quality='low', n=3).price"
    )
    assert said.startswith(f"≈ {expected} · 3 pictures · "), said
    assert not re.search(r"req_|img_|[0-9a-f]{16}|dalle-nb|undefined|\{", said), said  # no internal ids or markup
    box = price.bounding_box()
    assert box is not None and box["height"] >= 12 and box["width"] > 200, box  # a line of text, not an empty box
    lab_page.screenshot(studio.generate_tab, "studio-lab-price")

    studio.generate(until="Done: 3 pictures")
    costs = studio.results.locator(".dalle-nb-studio-card .dalle-nb-cost")
    expect(costs).to_have_count(3)
    shown = costs.all_inner_texts()
    assert shown == lab_page.value("[dn.core.costs.usd(image.cost.usd) for image in studio.results]"), shown
    assert all(re.fullmatch(r"\$0\.\d+", text.strip()) for text in shown), shown
    total = lab_page.value("dn.core.costs.usd(studio.results.cost.usd)")
    expect(studio.status).to_contain_text(f"· {total} (what OpenAI would charge")
    lab_page.screenshot(studio.root, "studio-lab-cost")


def test_over_confirm_over_generate_asks_in_the_panel_and_only_send_sends(lab_page: NotebookPage) -> None:
    page = lab_page.page
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeName === 'JupyterLab Dark'")
    page.wait_for_timeout(300)  # the theme's stylesheet applies after the attribute changes
    try:
        studio = show_studio(lab_page, before="dn.configure(confirm_over=0.01)")
        made = lab_page.value("len(studio.history)")
        studio.type_prompt("a {red|blue} kite")
        studio.generate_tab.locator(".dalle-nb-studio-size select").select_option("1024x1024")
        studio.generate_tab.locator(".dalle-nb-studio-quality select").select_option("high")
        expect(studio.generate_tab.locator(".dalle-nb-price")).to_contain_text("2 pictures")
        studio.generate(until="Nothing sent yet")
        confirm = studio.find(".dalle-nb-confirm")
        expect(confirm).to_be_visible()
        price = lab_page.value("studio._estimates['generate'][1].price")
        send = confirm.locator("button.dalle-nb-studio-confirm-send")
        expect(send).to_have_text(f"Send ({price})")
        expect(confirm).to_contain_text("more than $0.01 (your confirm_over setting)")
        lab_page.screenshot(studio.root, "studio-lab-dark-confirm")
        look = page.evaluate(_LOOK, confirm.element_handle())
        assert not look["cut"], look["cut"]
        for text in look["texts"]:
            assert contrast(text["fg"], text["bg"]) >= 4.5, text
        assert lab_page.value("studio._handle is None and len(studio.history)") == made  # nothing was sent

        confirm.locator("button.dalle-nb-studio-confirm-cancel").click()
        expect(confirm).to_be_hidden()
        expect(studio.status).to_have_text("Not sent.")
        studio.generate(until="Nothing sent yet")
        send.click()
        expect(studio.status).to_contain_text("Done: 2 pictures", timeout=60_000)
        expect(confirm).to_be_hidden()
        expect(studio.results.locator(".dalle-nb-studio-card .dalle-nb-cost")).to_have_count(2)
        lab_page.screenshot(studio.root, "studio-lab-dark-cost")
    finally:
        lab_page.execute("dn.config.reset()")
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
        page.wait_for_function("() => document.body.dataset.jpThemeName === 'JupyterLab Light'")


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SAVE_STATE = "@jupyter-widgets/jupyterlab-manager:saveWidgetState"


def test_a_key_set_in_the_kernel_is_nowhere_in_the_page_the_widget_state_or_the_saved_notebook(
    lab_page: NotebookPage,
) -> None:
    # a backend that refuses any other key, so the pictures below were really made with the canary
    lab_page.execute(
        f"keyed = offline.start(api_key={CANARY!r})\n"
        f"dn.configure(api_key={CANARY!r}, base_url=keyed.base_url, offline=False)"
    )
    page = lab_page.page
    try:
        assert lab_page.value(f"dn.config.api_key() == {CANARY!r}")  # (sent silently: no cell shows the key)
        studio = show_studio(lab_page)
        studio.type_prompt("a yellow canary on a branch")
        studio.generate(until="Done: 1 picture")
        studio.results.locator("button.dalle-nb-studio-select").first.click()
        expect(studio.find(".dalle-nb-studio-details")).to_contain_text("a yellow canary")
        studio.tab("Gallery")
        expect(studio.root.locator(".dalle-nb-studio-gallery .dalle-nb-studio-card").first).to_be_visible()

        assert CANARY not in page.content()
        values = page.evaluate("() => [...document.querySelectorAll('input, textarea, select')].map(e => e.value)")
        assert not [value for value in values if CANARY in value]

        # the widget state as JupyterLab saves it into the notebook
        if not page.evaluate("(id) => window.jupyterapp.commands.isToggled(id)", SAVE_STATE):
            command(page, SAVE_STATE)
        page.wait_for_function("(id) => window.jupyterapp.commands.isToggled(id)", arg=SAVE_STATE)
        command(page, "docmanager:save")
        path = lab_page.lab.root / "studio.ipynb"
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
        saved = path.read_text()
        state = json.loads(saved)["metadata"]["widgets"][WIDGET_STATE]["state"]
        classes = [c for model in state.values() for c in model.get("state", {}).get("_dom_classes", [])]
        assert "dalle-nb-studio" in classes and "dalle-nb-studio-gallery" in classes, "the Studio's state was saved"
        assert len(state) > 50
        assert CANARY not in saved
        assert CANARY not in json.dumps(state)
    finally:
        if page.evaluate("(id) => window.jupyterapp.commands.isToggled(id)", SAVE_STATE):
            command(page, SAVE_STATE)
        lab_page.execute("dn.config.reset()\nkeyed.stop()")


# ---------------------------------------------------------------------------- how it looks

_LOOK = """(root) => {
    const rgba = (css) => {
        const m = css.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return null;
        const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const background = (el) => {
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c && c[3] > 0.5) return c;
        }
        return [255, 255, 255, 1];
    };
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const texts = [], cut = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        if (!node.textContent.trim() || !visible(el) || el.closest('option, style')) continue;
        const style = getComputedStyle(el);
        const fg = rgba(style.color), bg = background(el);
        let opacity = 1;
        for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
        const a = fg[3] * opacity;
        texts.push({text: node.textContent.trim().slice(0, 40), disabled: !!el.closest(':disabled, .mod-disabled'),
                    fg: [0, 1, 2].map(i => fg[i] * a + bg[i] * (1 - a)), bg: bg.slice(0, 3)});
    }
    for (const el of root.querySelectorAll('.widget-label, .widget-label-basic, button, .widget-readout')) {
        if (visible(el) && el.scrollWidth > el.clientWidth + 1) cut.push(el.textContent.trim());
    }
    const probe = document.createElement('span');
    document.body.appendChild(probe);
    for (const select of root.querySelectorAll('select')) {
        if (!visible(select) || select.selectedIndex < 0) continue;
        probe.style.font = getComputedStyle(select).font;
        probe.textContent = select.options[select.selectedIndex].text;
        if (probe.getBoundingClientRect().width > select.clientWidth - 20) cut.push(probe.textContent);
    }
    probe.remove();
    return {texts, cut};
}"""


def contrast(a: list[float], b: list[float]) -> float:
    def luminance(rgb: list[float]) -> float:
        r, g, b_ = ((c / 255) / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_every_word_is_readable_and_nothing_is_cut_off_in_light_and_dark_themes(
    lab_page: NotebookPage, theme: str
) -> None:
    page = lab_page.page
    command(page, "apputils:change-theme", {"theme": theme})
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme", arg=theme)
    page.wait_for_timeout(300)  # the theme's stylesheet applies after the attribute changes
    label = theme.split()[-1].lower()
    try:
        studio = show_studio(lab_page)
        studio.type_prompt("a {green|white} boat on a lake at dusk")
        studio.generate(until="Done: 2 pictures")
        studio.results.locator("button.dalle-nb-studio-select").first.click()
        expect(studio.find(".dalle-nb-studio-details")).to_contain_text("selected:")
        studio.type_prompt("a #blocked boat")  # an error, in the error colour
        studio.generate(until="Refused by the API")
        for tab in ("Generate", "Edit", "Vary", "Gallery"):
            studio.tab(tab)
            if tab == "Gallery":
                expect(studio.root.locator(".dalle-nb-studio-gallery .dalle-nb-studio-card").first).to_be_visible()
            lab_page.screenshot(studio.root, f"studio-lab-{label}-{tab.lower()}")
            look = page.evaluate(_LOOK, studio.root.element_handle())
            assert not look["cut"], f"cut off in the {tab} tab, {theme}: {look['cut']}"
            for text in look["texts"]:
                needed = 3.0 if text["disabled"] else 4.5  # WCAG AA; disabled controls are exempt, kept legible
                ratio = contrast(text["fg"], text["bg"])
                assert ratio >= needed, f"{text['text']!r} in the {tab} tab, {theme}: contrast {ratio:.1f}"
    finally:
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
        page.wait_for_function("() => document.body.dataset.jpThemeName === 'JupyterLab Light'")


# ---------------------------------------------------------------------------- Notebook 7


def test_notebook7_shows_the_studio_and_generate_works(
    browser_context: Any, lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = studio_notebook(lab, "studio7.ipynb")
    notebook = open_studio_notebook(browser_context, lab, f"notebooks/{name}", tmp_path_factory.mktemp("studio7"))
    try:
        assert "/notebooks/" in notebook.page.url, "Notebook 7's own page, not Lab's"
        studio = show_studio(notebook)
        studio.type_prompt("a lighthouse on a cliff")
        expect(studio.generate_tab.locator(".dalle-nb-price")).to_contain_text("≈ $")
        studio.generate(until="Done: 1 picture")
        expect(studio.results.locator(".dalle-nb-studio-card img")).to_have_count(1)
        expect(studio.results.locator(".dalle-nb-studio-card .dalle-nb-cost")).to_have_text(re.compile(r"^\$0\.\d+$"))
        assert notebook.value("[image.prompt for image in studio.results]") == ["a lighthouse on a cliff"]
        notebook.screenshot(studio.root, "studio-notebook7")
    finally:
        notebook.page.close()
