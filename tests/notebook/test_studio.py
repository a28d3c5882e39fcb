"""The Studio panel, driven from Python inside a running event loop (as a kernel runs it)."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.notebook.widgets.studio import _CUSTOM, PAGE_SIZE, Studio
from dalle_nb.offline import OfflineServer, ServerOptions

from ..conftest import scene, use

T = TypeVar("T")
CANARY = "sk-canary-studio-0123456789abcdef"


def in_a_kernel(body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` inside a running asyncio loop, as a notebook kernel runs widget callbacks."""
    return asyncio.run(body())


async def finished(studio: Studio, timeout: float = 30) -> None:
    """Wait, without blocking the loop, until the Studio's job has ended and its last events arrived."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while studio._handle is not None and not studio._handle.done():
        assert loop.time() < deadline, "the job did not end"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)


def shown(widget: Any) -> bool:
    return widget.layout.display != "none"


def walk(widget: Any) -> list[Any]:
    """The widget and every widget inside it: what the browser receives."""
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += walk(child)
    return found


def test_the_controls_offer_exactly_what_the_model_takes() -> None:
    studio = Studio(namespace={})
    options = studio.generate_options
    assert options.model.value == dn.settings().model and "(default)" in options.model.label
    assert "dall-e-3 (retired 2026-05-12)" in [label for label, _ in options.model.options]
    options.model.value = "dall-e-3"
    assert list(options.controls["size"].options) == ["1024x1024", "1792x1024", "1024x1792"]
    assert list(options.controls["quality"].options) == ["standard", "hd"]
    assert options.controls["quality"].value == "standard" and options.controls["n"].max == 1
    assert shown(options.controls["style"]) and not shown(options.controls["background"])
    assert not shown(options.stream) and not shown(options.revise)
    options.model.value = "gpt-image-2.5-sunburst"
    assert not shown(options.controls["style"]) and shown(options.controls["background"])
    assert _CUSTOM in options.controls["size"].options and options.controls["n"].max == 10
    options.controls["size"].value = _CUSTOM
    options.custom.value = "1000x700"
    assert "Nearest valid: &#x27;992x704&#x27;" in options.custom_problem.value
    options.custom.value = "1536x864"
    assert options.custom_problem.value == "" and options.values()["size"] == "1536x864"
    edits = studio.edit_options
    edits.model.value = "gpt-image-2"
    assert not shown(edits.controls["input_fidelity"])
    edits.model.value = "gpt-image-1-mini"
    assert list(edits.controls["input_fidelity"].options) == ["low"]


def test_the_prompt_box_counts_the_prompts_a_matrix_makes() -> None:
    studio = Studio(namespace={"animal": "owl"})
    studio.prompt.value = "a {red|blue|green} {animal} on a {hill|boat}"
    assert "6 prompts" in studio.count.value
    studio.prompt.value = "a {nobody} fox"
    assert "name &#x27;nobody&#x27; is not defined" in studio.count.value


def test_generate_fills_the_results_as_pictures_arrive_and_keeps_the_kernel_free() -> None:
    with OfflineServer(ServerOptions(latency=1.0)) as slow:
        use(slow)

        async def body() -> tuple[Studio, int]:
            studio = Studio(namespace={})
            studio.prompt.value = "a {red|blue} kite"
            studio.generate_options.controls["size"].value = "1024x1024"
            handle = studio.generate()
            assert handle is not None and not handle.done() and studio.cancel_button.disabled is False
            ticks = 0
            while not handle.done():  # other cells run meanwhile: the loop is free
                ticks += 1
                await asyncio.sleep(0.01)
            await finished(studio)
            return studio, ticks

        studio, ticks = in_a_kernel(body)
    assert ticks > 20
    assert [image.prompt for image in studio.results] == ["a red kite", "a blue kite"]
    cards = [c for c in studio.grid.children if "dalle-nb-studio-card" in c._dom_classes]
    assert len(cards) == 2 and len(studio.history) == 2
    picture = cards[0].children[0]
    assert isinstance(picture, widgets.Image) and picture.format == "webp" and bytes(picture.value)[:4] == b"RIFF"
    assert "Done: 2 pictures" in studio.status.value and studio.progress.value == 2


def test_cancel_stops_the_job_and_says_so() -> None:
    with OfflineServer(ServerOptions(latency=5)) as slow:
        use(slow)

        async def body() -> Studio:
            studio = Studio(namespace={})
            studio.prompt.value = "a very slow snail"
            studio.generate()
            await asyncio.sleep(0.5)
            studio.cancel()
            await finished(studio)
            return studio

        studio = in_a_kernel(body)
    assert "Cancelled — kept 0 pictures." in studio.status.value and studio.results.cancelled
    assert studio.generate_button.disabled is False and studio.cancel_button.disabled is True


def test_a_refusal_is_one_line_and_the_panel_stays_usable() -> None:
    async def body() -> tuple[str, Studio]:
        studio = Studio(namespace={})
        studio.prompt.value = "a #blocked picture"
        studio.generate()
        await finished(studio)
        refused = studio.status.value
        studio.prompt.value = "a calm lake"
        studio.generate()
        await finished(studio)
        return refused, studio

    refused, studio = in_a_kernel(body)
    assert "Refused by the API" in refused and "safety system" in refused and "<br" not in refused
    assert "Done: 1 picture" in studio.status.value and studio.results[0].prompt == "a calm lake"


def test_select_then_edit_with_a_painted_mask_changes_only_the_mask() -> None:
    async def body() -> tuple[Studio, Any]:
        studio = Studio(namespace={})
        studio.prompt.value = "a grey wall"
        studio.generate_options.controls["size"].value = "1024x1024"
        studio.generate()
        await finished(studio)
        studio.select(studio.results[0])
        studio._edit_selected()  # the Edit button under the results
        assert studio.tabs.selected_index == 1 and studio.editor is not None
        studio.editor.rectangle((100, 100, 400, 300))
        studio.edit_prompt.value = "a red door"
        studio.edit_options.controls["size"].value = "1024x1024"
        studio.edit()
        await finished(studio)
        return studio, studio.editor

    studio, editor = in_a_kernel(body)
    base, edited = studio.selected, studio.results[0]
    before = np.asarray(base.to_pil().convert("RGB"))
    after = np.asarray(edited.to_pil().convert("RGB"))
    keep = ~editor.mask_array
    assert np.array_equal(before[keep], after[keep]) and edited.parents == (base.id,)


def test_vary_reuse_save_and_refine_the_selected_picture(tmp_path: Path) -> None:
    async def body() -> Studio:
        studio = Studio(namespace={})
        studio.prompt.value = "an orange kite"
        studio.generate_options.model.value = "gpt-image-1.5"
        studio.generate_options.controls["size"].value = "1536x1024"
        studio.generate()
        await finished(studio)
        kite = studio.results[0]
        studio.select(kite)
        studio._vary_selected()
        await finished(studio)
        assert studio.results[0].kind == "vary" and studio.results[0].parents == (kite.id,)
        studio.select(kite)
        studio.refine("now at dusk")
        await finished(studio)
        assert studio.results[0].kind == "refine" and studio.results[0].parents == (kite.id,)
        studio.select(kite)
        studio.prompt.value = ""
        studio.reuse()
        assert studio.prompt.value == "an orange kite" and studio.generate_options.model.value == "gpt-image-1.5"
        assert studio.generate_options.controls["size"].value == "1536x1024"
        studio.save(str(tmp_path / "kite.png"))
        return studio

    studio = in_a_kernel(body)
    assert Image.open(tmp_path / "kite.png").size == (1536, 1024) and "Saved to" in studio.status.value


def test_the_gallery_finds_pictures_by_a_word_and_pages_through_them() -> None:
    dn.generate([f"a striped zebra number {i}" for i in range(PAGE_SIZE + 3)], size="1024x1024", revise=False)
    dn.generate("a spotted giraffe", size="1024x1024", revise=False)
    studio = Studio(namespace={})
    studio.tabs.selected_index = 3  # opening the tab shows the newest page
    assert len(studio.gallery.children) == PAGE_SIZE and "page 1 of 2" in studio.page_label.value
    studio.search("giraffe")
    cards = studio.gallery.children
    assert len(cards) == 1 and cards[0].image.prompt == "a spotted giraffe"
    cards[0].button.click()
    assert studio.selected is cards[0].image and "a spotted giraffe" in studio.details.value
    studio.search("zebra")
    first_page = {card.image.prompt for card in studio.gallery.children}
    studio._turn(1)
    assert len(studio.gallery.children) == 3 and "page 2 of 2" in studio.page_label.value
    second_page = {card.image.prompt for card in studio.gallery.children}
    assert first_page | second_page == {f"a striped zebra number {i}" for i in range(PAGE_SIZE + 3)}


def test_no_secret_is_in_the_panels_state() -> None:
    config.configure(api_key=CANARY, offline=True)
    studio = Studio(namespace={"key": CANARY})
    studio.prompt.value = "a canary"
    states = [json.dumps(w.get_state(), default=str) for w in walk(studio)]
    assert len(states) > 50
    assert all(CANARY not in state for state in states)
    assert "offline backend" in studio.backend.value


def test_the_studio_magic_opens_a_panel(ip: Any) -> None:
    panel = ip.run_line_magic("dalle", "studio")
    assert isinstance(panel, Studio) and "dalle-nb-studio" in panel._dom_classes


@pytest.mark.parametrize("name", ["prompt", "model", "size", "generate", "cancel", "status", "results", "search",
                                  "gallery"])  # fmt: skip
def test_stable_classes_for_automation(name: str) -> None:
    studio = Studio(namespace={})
    studio.search("")  # the gallery grid exists before the tab is opened too
    found = [w for w in walk(studio) if f"dalle-nb-studio-{name}" in getattr(w, "_dom_classes", ())]
    assert found, f"no widget with class dalle-nb-studio-{name}"


def test_pictures_picked_from_a_variable_or_an_upload() -> None:
    async def body() -> Studio:
        studio = Studio(namespace={"photo": scene()})
        picker = studio.tabs.children[2].children[0]
        picker.children[0].value = "variable"
        picker.children[1].children[0].value = "photo"
        studio.vary_options.controls["size"].value = "1024x1024"
        studio.vary()
        await finished(studio)
        return studio

    studio = in_a_kernel(body)
    assert studio.results[0].kind == "vary" and "Done: 1 picture" in studio.status.value


def test_run_as_a_batch_submits_follows_and_shows_the_pictures() -> None:
    import dalle_nb.notebook.widgets.studio as studio_module

    with OfflineServer(ServerOptions(batch_seconds=0.5)) as server:
        use(server)

        async def body() -> Studio:
            studio_module._BATCH_POLL = 0.2
            studio = Studio(namespace={})
            studio.prompt.value = "a {red|blue} umbrella"
            studio.as_batch.value = True
            assert studio.generate() is None  # a batch is followed by the panel, not by a JobHandle
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while studio._batch_task is not None and not studio._batch_task.done():
                assert loop.time() < deadline
                await asyncio.sleep(0.05)
            return studio

        try:
            studio = in_a_kernel(body)
        finally:
            studio_module._BATCH_POLL = 2.0
    assert studio.batch_job is not None and studio.batch_job.requests == 2
    assert sorted(image.prompt for image in studio.results) == ["a blue umbrella", "a red umbrella"]
    assert "Done: 2 pictures" in studio.status.value and studio.generate_button.disabled is False


def test_an_uploaded_picture_with_more_inputs_and_the_rest_kept_exact() -> None:
    from ..conftest import png_bytes

    def uploaded(image: Image.Image, name: str) -> dict[str, Any]:
        content = png_bytes(image)
        modified = datetime.datetime.now(datetime.UTC)
        return {"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
                "last_modified": modified}  # fmt: skip

    photo, other = scene(), scene((1024, 1536))

    async def body() -> tuple[Studio, Any, Any]:
        studio = Studio(namespace={})
        picker = studio.tabs.children[1].children[0]
        picker.children[0].value = "upload"
        picker.children[1].children[1].value = (uploaded(photo, "photo.png"),)
        editor = studio.open_editor()
        assert editor is not None and editor.image.size == photo.size
        editor.rectangle((200, 200, 500, 400))
        studio.edit_options.model.value = "dall-e-2"  # takes one input picture: no field for more
        assert not shown(studio.references)
        studio.edit_options.model.value = "gpt-image-1.5"
        assert shown(studio.references) and "up to 15" in studio.references.description
        studio.references.value = (uploaded(other, "other.png"),)
        studio.keep_unmasked.value = True
        studio.edit_prompt.value = "a yellow kite"
        studio.edit_options.controls["size"].value = "1024x1024"
        handle = studio.edit()
        assert handle is not None
        await finished(studio)
        return studio, handle.job, editor

    studio, job, editor = in_a_kernel(body)
    request = job.requests[0]
    sent = getattr(request, "image", request)
    assert len(sent.images) == 2  # the upload and the extra input picture
    assert "Done: 1 picture" in studio.status.value
    assert any("pasted back here" in notice for notice in studio.results.notices)
    before = np.asarray(photo.convert("RGB"))
    after = np.asarray(studio.results[0].to_pil().convert("RGB"))
    far = ~editor.mask_array
    far[150:450, 150:550] = False  # the feather softens a few pixels around the mask
    assert np.array_equal(before[far], after[far])


def test_an_edit_that_cannot_be_made_is_refused_at_the_click() -> None:
    async def body() -> Studio:
        studio = Studio(namespace={"photo": scene()})
        picker = studio.tabs.children[1].children[0]
        picker.children[0].value = "variable"
        picker.children[1].children[0].value = "photo"
        assert studio.open_editor() is not None  # nothing painted: no mask
        studio.keep_unmasked.value = True  # the rest kept exact needs a mask to say what the rest is
        studio.edit_prompt.value = "a yellow kite"
        assert studio.edit() is None
        return studio

    studio = in_a_kernel(body)
    assert "keep_unmasked needs a mask" in studio.status.value and "dalle-nb-studio-problem" in studio.status.value
    assert studio._handle is None and studio.edit_button.disabled is False and not shown(studio.progress)


def test_changing_a_control_while_a_job_runs_changes_only_the_next_job() -> None:
    with OfflineServer(ServerOptions(latency=1.0)) as slow:
        use(slow)

        async def body() -> tuple[list[str], list[str]]:
            studio = Studio(namespace={})
            studio.prompt.value = "a paper boat"
            size = studio.generate_options.controls["size"]
            size.value = "1024x1024"
            studio.generate()
            await asyncio.sleep(0.2)
            size.value = "1536x1024"  # mid-flight: the running job keeps what it was started with
            await finished(studio)
            first = [image.size for image in studio.results]
            studio.generate()
            await finished(studio)
            return first, [image.size for image in studio.results]

        first, second = in_a_kernel(body)
    assert first == ["1024x1024"] and second == ["1536x1024"]


def test_a_failure_stays_in_the_running_line_until_the_job_ends() -> None:
    with OfflineServer(ServerOptions(latency=2.0)) as slow:
        use(slow)

        async def body() -> tuple[str, Studio]:
            studio = Studio(namespace={})
            studio.prompt.value = "a {#blocked|calm} sea"
            studio.generate_options.controls["size"].value = "1024x1024"
            studio.generate()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while "failed" not in studio.status.value:
                assert loop.time() < deadline, "the failure never showed"
                assert studio._handle is not None and not studio._handle.done(), studio.status.value
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.2)  # the clock ticks at least once more: the failure stays
            running = studio.status.value
            await finished(studio)
            return running, studio

        running, studio = in_a_kernel(body)
    assert "Making 2 pictures" in running and "1 failed" in running and "safety system" in running
    assert "dalle-nb-studio-problem" in running
    assert "1 picture in" in studio.status.value and "1 failed" in studio.status.value


def test_an_unticked_revise_box_stays_unticked_when_the_model_changes() -> None:
    options = Studio(namespace={}).generate_options
    assert options.revise.value is True  # the setting's default for GPT image models offline
    options.revise.value = False
    options.model.value = "gpt-image-1"
    assert options.revise.value is False and options.values()["revise"] is False
    options.model.value = "dall-e-3"  # no Responses path: the box is hidden and not sent
    assert not shown(options.revise) and options.values()["revise"] is None
    options.model.value = "gpt-image-1.5"
    assert options.revise.value is False


def test_a_big_picture_is_prepared_off_the_kernels_thread() -> None:
    import time

    import numpy as np

    from dalle_nb.core.plan import plan_vary
    from dalle_nb.runtime.session import default_session

    from ..conftest import noise

    photo = np.asarray(noise(4000, 3000))
    started = time.perf_counter()
    plan_vary(photo, model="gpt-image-1.5", context=default_session())
    planning = time.perf_counter() - started

    async def body() -> tuple[float, Studio]:
        studio = Studio(namespace={"photo": photo})
        picker = studio.tabs.children[2].children[0]
        picker.children[0].value = "variable"
        picker.children[1].children[0].value = "photo"
        studio.vary_options.model.value = "gpt-image-1.5"
        clicked = time.perf_counter()
        handle = studio.vary()  # the button's click: returns while the picture is being prepared
        returned = time.perf_counter() - clicked
        assert handle is not None and "preparing" in studio.status.value
        await finished(studio, timeout=60)
        return returned, studio

    returned, studio = in_a_kernel(body)
    assert returned < planning / 4, (returned, planning)
    assert len(studio.results) == 1 and "Done: 1 picture" in studio.status.value
