"""What the Studio shows around the pictures: the backend line, previews, the selection, the gallery's pager.

Driven from Python inside a running event loop, as a kernel runs widget callbacks (the browser
tests in ``tests/browser/test_studio_lab.py`` look at the same things on a real page).
"""

from __future__ import annotations

import asyncio

from dalle_nb import config
from dalle_nb.notebook.widgets.studio import PAGE_SIZE, Studio
from dalle_nb.offline import OfflineServer, ServerOptions

from ..conftest import use
from .test_studio import finished, in_a_kernel


def classes(widget: object) -> list[str]:
    return list(getattr(widget, "_dom_classes", ()))


def test_the_backend_line_names_a_gateway_without_its_credentials() -> None:
    config.configure(api_key="sk-key-0123456789", base_url="https://ann:sk-in-url-42@images.example.org/v1?key=sk-q-7")
    studio = Studio(namespace={})
    shown = studio.backend.value
    assert "an OpenAI-compatible API at https://images.example.org/v1" in shown
    assert "sk-" not in shown and "ann" not in shown
    config.configure(offline=True)
    studio.prompt.value = "a small boat"

    async def body() -> None:
        studio.generate()  # each job says again where its pictures come from
        await finished(studio)

    in_a_kernel(body)
    assert "the offline backend" in studio.backend.value


def test_partial_pictures_of_a_cancelled_job_are_not_left_among_the_results() -> None:
    with OfflineServer(ServerOptions(latency=4)) as slow:
        use(slow)

        async def body() -> Studio:
            studio = Studio(namespace={})
            studio.prompt.value = "a slow green kite"
            studio.generate_options.stream.value = True
            studio.generate()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while not any("dalle-nb-studio-preview" in classes(child) for child in studio.grid.children):
                assert loop.time() < deadline, "no partial picture arrived"
                await asyncio.sleep(0.02)
            preview = studio.grid.children[0]
            assert "arriving" in preview.children[1].value and "a slow green kite" in preview.children[1].value
            studio.cancel()
            await finished(studio)
            return studio

        studio = in_a_kernel(body)
    assert "Cancelled — kept 0 pictures." in studio.status.value
    assert studio.grid.children == ()


def test_the_selection_shows_what_a_picture_came_from_in_words_and_is_marked_in_the_gallery_too() -> None:
    async def body() -> Studio:
        studio = Studio(namespace={})
        studio.prompt.value = "a grey wall"
        studio.generate_options.controls["size"].value = "1024x1024"
        assert studio.selection.layout.display == "none", "no actions before anything is selected"
        studio.generate()
        await finished(studio)
        studio.select(studio.results[0])
        studio._edit_selected()
        studio.editor.rectangle((100, 100, 400, 300))
        studio.edit_prompt.value = "a red door"
        studio.edit()
        await finished(studio)
        studio.select(studio.results[0])
        return studio

    studio = in_a_kernel(body)
    assert studio.selection.layout.display is None
    details = studio.details.value
    assert "an edit of &#x27;a grey wall&#x27;" in details and "img_" not in details
    assert "selected:</b> a red door" in details
    studio.tabs.selected_index = 3  # the gallery holds the same picture as another object: its card is marked
    marked = [card for card in studio.gallery.children if "dalle-nb-studio-selected" in classes(card)]
    assert [card.image.id for card in marked] == [studio.selected.id]
    assert all(button.disabled is False for button in studio._selection_buttons)


def test_the_pager_offers_only_the_pages_there_are() -> None:
    import dalle_nb as dn

    dn.generate([f"a paper boat number {i}" for i in range(PAGE_SIZE + 1)], size="1024x1024", revise=False)
    studio = Studio(namespace={})
    studio.tabs.selected_index = 3
    assert studio._newer.disabled and not studio._older.disabled
    assert f"page 1 of 2 · {PAGE_SIZE + 1} pictures in the history" in studio.page_label.value
    studio._older.click()
    assert not studio._newer.disabled and studio._older.disabled and len(studio.gallery.children) == 1
    studio.search("number 7")
    assert studio._newer.disabled and studio._older.disabled
    assert "1 picture matching &#x27;number 7&#x27;" in studio.page_label.value


def live_widgets() -> int:
    from ipywidgets.widgets.widget import _instances

    return len(_instances)


def test_turning_pages_changes_what_the_cards_show_and_makes_no_new_widgets() -> None:
    import dalle_nb as dn

    dn.generate([f"a paper plane number {i}" for i in range(PAGE_SIZE + 2)], size="1024x1024", revise=False)
    studio = Studio(namespace={})
    studio.tabs.selected_index = 3
    first = list(studio.gallery.children)
    first_page = {card.image.prompt for card in first}
    before = live_widgets()
    studio._older.click()
    assert studio.gallery.children == tuple(first[:2]), "the same cards, fewer of them"
    second_page = {card.image.prompt for card in studio.gallery.children}
    assert first_page | second_page == {f"a paper plane number {i}" for i in range(PAGE_SIZE + 2)}
    studio._newer.click()
    studio.search("plane")
    assert live_widgets() == before, "paging and searching made no widget"
    assert {card.image.prompt for card in studio.gallery.children} == first_page


def test_a_new_job_closes_the_cards_of_the_last_one() -> None:
    async def body() -> tuple[list[object], Studio]:
        studio = Studio(namespace={})
        studio.prompt.value = "a {small|big} drum"
        studio.generate()
        await finished(studio)
        old = list(studio.grid.children)
        studio.prompt.value = "a flute"
        studio.generate()
        await finished(studio)
        return old, studio

    old, studio = in_a_kernel(body)
    assert len(old) == 2 and all(card.comm is None for card in old)  # type: ignore[attr-defined]
    assert all(part.comm is None for card in old for part in card.children)  # type: ignore[attr-defined]
    assert len(studio.grid.children) == 1 and studio.grid.children[0].comm is not None


def test_wait_returns_once_the_panel_shows_the_whole_job() -> None:
    async def body() -> tuple[Studio, object, object]:
        studio = Studio(namespace={})
        idle = await studio.wait()  # nothing running: at once
        studio.prompt.value = "a {red|blue} kite"
        studio.generate()
        return studio, idle, await studio.wait(timeout=60)

    studio, idle, images = in_a_kernel(body)
    assert len(idle) == 0  # type: ignore[arg-type]
    assert images is studio.results and [image.prompt for image in studio.results] == ["a red kite", "a blue kite"]
    assert "Done: 2 pictures" in studio.status.value and len(studio.grid.children) == 2


def test_where_the_panel_cannot_be_drawn_it_is_one_readable_line() -> None:
    studio = Studio(namespace={})
    bundle = studio._repr_mimebundle_()
    assert bundle["text/plain"] == "<dalle_nb Studio: Generate, Edit, Vary, Gallery; 0 pictures made here>"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_opening_another_mask_editor_closes_the_last_one_and_all_its_canvases() -> None:
    import dalle_nb as dn
    from dalle_nb.notebook.widgets.studio import _parts

    studio = Studio(namespace={})
    studio.select(dn.generate("a quiet pond", size="1024x1024", revise=False)[0])
    first = studio.open_editor()
    first.rectangle((10, 10, 200, 200))
    parts = _parts(first)
    assert len(parts) > 10 and all(part.comm is not None for part in parts)
    second = studio.open_editor()
    assert all(part.comm is None for part in parts), "every widget of the last editor is closed"
    assert studio.editor is second and studio.editor_box.children == (second,) and second.comm is not None
    assert first.mask_array[100, 100], "its mask is still there for code that holds it"
    third = studio.open_editor()  # and editors still work after one was closed (shared widgets left alone)
    assert third.comm is not None and all(part.comm is not None for part in _parts(third))


def test_each_partial_picture_replaces_the_last_in_the_same_place() -> None:
    with OfflineServer(ServerOptions(latency=3)) as slow:
        use(slow)

        async def body() -> tuple[list[bytes], int, Studio]:
            studio = Studio(namespace={})
            studio.prompt.value = "a lighthouse on a cliff"
            studio.generate_options.stream.value = True
            studio.generate_options.partial.value = 2
            studio.generate()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            seen: list[bytes] = []
            box = None
            while studio._handle is not None and not studio._handle.done():
                assert loop.time() < deadline, "the job did not end"
                previews = [c for c in studio.grid.children if "dalle-nb-studio-preview" in classes(c)]
                assert len(previews) <= 1, "a second partial picture got a box of its own"
                if previews:
                    box = box or previews[0]
                    assert previews[0] is box, "a partial picture moved to a new box"
                    value = bytes(box.children[0].value)
                    if not seen or seen[-1] != value:
                        seen.append(value)
                await asyncio.sleep(0.01)
            await finished(studio)
            return seen, len(studio.grid.children), studio

        seen, boxes, studio = in_a_kernel(body)
    assert len(seen) == 2  # two partial pictures, one after the other in the same box
    assert boxes == 1 and "dalle-nb-studio-card" in classes(studio.grid.children[0])


def test_waiting_after_a_refused_start_returns_at_once() -> None:
    config.configure(max_images=1)  # the budget refuses a two-picture job before anything starts

    async def body() -> tuple[Studio, str]:
        studio = Studio(namespace={})
        studio.prompt.value = "a small {red|blue} kite"
        assert studio.generate() is None
        await studio.wait(timeout=2)  # nothing runs, so nothing to wait for
        return studio, studio.status.value

    studio, status = in_a_kernel(body)
    assert "max_images=1" in status and studio.progress.layout.display == "none"
    assert studio.generate_button.disabled is False
