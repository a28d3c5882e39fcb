"""Revised prompts on today's models and refinement in conversation, through the Responses API image tool."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core import errors
from dalle_nb.offline import OfflineServer, ServerOptions
from dalle_nb.runtime.session import default_session

from ..conftest import faulty, scene, use

REPO = Path(__file__).resolve().parents[2]


def test_prompts_are_revised_by_default_and_sent_exactly_on_request() -> None:
    image = dn.generate("a red fox sitting in the snow", size="1024x1024")[0]
    assert image.revised_prompt and image.revised_prompt != image.prompt
    assert "red fox" in image.revised_prompt.lower() and len(image.revised_prompt) > 2 * len(image.prompt)
    assert image.text_model == config.DEFAULT_TEXT_MODEL and image.response_id and image.response_id.startswith("resp_")
    assert image.params["api"] == "responses" and image.params["text_model"] == config.DEFAULT_TEXT_MODEL
    assert image.usage and image.usage["output_tokens"] > 0 and image.usage["text_model"]["total_tokens"] > 0
    exact = dn.generate("a red fox sitting in the snow", size="1024x1024", revise=False)[0]
    assert exact.revised_prompt is None and exact.response_id is None and "api" not in exact.params
    config.configure(revise=False)
    assert dn.generate("a red fox", size="1024x1024")[0].revised_prompt is None


def test_the_first_revision_of_a_session_says_what_happens_once(capsys: pytest.CaptureFixture[str]) -> None:
    default_session()._notified.clear()
    dn.generate("a kettle", size="1024x1024")
    dn.generate("a teapot", size="1024x1024")
    out = capsys.readouterr().out
    assert out.count("prompts are revised") == 1 and "revise=False" in out and "--exact" in out


def test_a_gateway_is_not_asked_for_the_responses_api_unless_told(server: OfflineServer) -> None:
    config.configure(api_key="offline", base_url=server.base_url, offline=False, max_retries=0)
    assert config.settings().backend == "compatible" and not config.settings().revises("gpt-image-1.5")
    assert dn.generate("a plain kite", size="1024x1024")[0].revised_prompt is None
    assert dn.generate("a plain kite", size="1024x1024", revise=True)[0].revised_prompt


def test_fan_out_keeps_order_and_each_picture_gets_its_own_revision() -> None:
    result = dn.generate(["a cat on a sofa", "a dog on a beach"], n=3, size="1024x1024")
    assert [image.prompt for image in result] == ["a cat on a sofa"] * 3 + ["a dog on a beach"] * 3
    revised = [image.revised_prompt for image in result]
    assert all(revised) and len(set(revised)) == 6, revised
    assert len({image.response_id for image in result}) == 6
    assert len({image.to_bytes() for image in result}) == 6


def test_what_the_tool_cannot_do_goes_to_the_images_api_and_says_so() -> None:
    styled = dn.generate("a lighthouse", model="dall-e-3", revise=True)
    assert styled[0].text_model is None and any("not a GPT image model" in note for note in styled.notices)
    assert styled[0].revised_prompt  # dall-e-3 revises on its own
    markup = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    markup.paste((255, 0, 0, 0), (100, 100, 300, 300))
    marked = dn.edit(scene(), "a door here", markup=markup, model="gpt-image-2.5-flare", revise=True)
    assert marked[0].text_model is None and any("no markup" in note for note in marked.notices)


def test_edits_through_the_tool_keep_the_pixels_outside_the_mask() -> None:
    picture = scene()
    hole = np.zeros((1024, 1024), bool)
    hole[200:500, 300:700] = True
    result = dn.edit(picture, "a red sun", mask=hole)
    assert result[0].revised_prompt and result[0].kind == "edit"
    out = np.asarray(result[0].to_pil().convert("RGB"))
    assert np.array_equal(out[~hole], np.asarray(picture)[~hole])


def test_streaming_through_the_tool_delivers_partials_then_the_revised_picture() -> None:
    seen: list[int | None] = []
    result = dn.generate("a glowing jellyfish", size="1024x1024", partial_images=2,
                         on_partial=lambda p: seen.append(p.partial_index))  # fmt: skip
    assert seen == [0, 1, None] and result[0].revised_prompt


def test_refine_chains_three_turns_with_their_parents(fresh: Path) -> None:
    first = dn.generate("a red fox in a snowy field", size="1024x1024")[0]
    second = dn.refine(first, "now make it dusk")[0]
    third = dn.refine(second, "add a full moon")[0]
    assert (second.kind, third.kind) == ("refine", "refine")
    assert second.parents == (first.id,) and third.parents == (second.id,)
    assert second.params["previous_response_id"] == first.response_id
    assert third.params["previous_response_id"] == second.response_id
    assert "dusk" in second.revised_prompt.lower() and "moon" in third.revised_prompt.lower()  # type: ignore[union-attr]
    chain = dn.history(chain=third)
    assert [image.id for image in chain] == [first.id, second.id, third.id]
    assert [image.prompt for image in chain] == ["a red fox in a snowy field", "now make it dusk", "add a full moon"]
    # derived from the previous picture: nearer to it than a fresh picture of the same words is
    fresh_one = dn.generate("now make it dusk", size="1024x1024")[0]
    before = np.asarray(first.to_pil().convert("RGB"), dtype=float)
    assert (
        np.abs(np.asarray(second.to_pil().convert("RGB"), dtype=float) - before).mean()
        < np.abs(np.asarray(fresh_one.to_pil().convert("RGB"), dtype=float) - before).mean()
    )


def test_refine_without_a_conversation_sends_the_picture(tmp_path: Path) -> None:
    plain = dn.generate("a blue house", size="1024x1024", revise=False)[0]
    refined = dn.refine(plain, "paint the door red")[0]
    assert refined.parents == (plain.id,) and refined.kind == "refine" and refined.revised_prompt
    assert "previous_response_id" not in refined.params and refined.params["images"]
    path = tmp_path / "house.png"
    plain.save(path)
    from_file = dn.refine(str(path), "add a chimney", revise=False)[0]
    assert from_file.revised_prompt is None and from_file.kind == "refine"


def test_refine_after_the_server_forgot_the_conversation_sends_the_picture_instead() -> None:
    with OfflineServer(ServerOptions()) as first_server:
        use(first_server)
        config.configure(revise=True)
        fox = dn.generate("a red fox", size="1024x1024")[0]
    with OfflineServer(ServerOptions()) as restarted:  # its memory of responses is empty
        use(restarted)
        config.configure(revise=True)
        refined = dn.refine(fox, "at dusk")[0]
    assert refined.parents == (fox.id,) and refined.revised_prompt and "previous_response_id" not in refined.params


def test_api_failures_through_the_tool_are_the_same_typed_errors() -> None:
    with pytest.raises(errors.ContentPolicyError, match="safety system"):
        dn.generate("only a #blocked thing", size="1024x1024")
    for fault, error in (("429:1", errors.RateLimitError), ("500:1", errors.ServerError),
                         ("drop:1", errors.BackendUnreachable)):  # fmt: skip
        server = faulty(fault)
        try:
            use(server)
            config.configure(revise=True)
            with pytest.raises(error):
                dn.generate("a fox", size="1024x1024")
        finally:
            server.stop()


def test_a_stream_through_the_tool_that_ends_early_is_an_incomplete_stream() -> None:
    server = faulty("nofinal:1")
    try:
        use(server)
        config.configure(revise=True)
        handle = dn.generate("a fox", size="1024x1024", partial_images=2, wait=False)
        assert isinstance(handle.exception(30), errors.IncompleteStream)
        assert handle.images.failures[0].partial is not None
    finally:
        server.stop()


def test_revised_pictures_keep_their_text_model_and_response_id_across_processes(fresh: Path) -> None:
    made = dn.generate("a history of owls", size="1024x1024")[0]
    code = "import dalle_nb as dn; h = dn.history('owls')[0]; print(h.text_model, h.response_id, h.revised_prompt[:20])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"DALLE_NB_GALLERY_DIR": str(fresh), "PATH": "/usr/bin:/bin"}, cwd=REPO)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == [made.text_model, made.response_id]


def test_the_card_labels_the_prompt_and_the_revised_prompt() -> None:
    image = dn.generate("a red fox sitting in the snow", size="1024x1024")[0]
    html = image._repr_mimebundle_()["text/html"]
    assert "prompt:</span> a red fox sitting in the snow" in html
    assert "<details class='dalle-nb-revised'" in html and "revised:</span>" in html  # long: in full on demand
    assert f"revised by {config.DEFAULT_TEXT_MODEL}" in html
    text = dn.ImageSet([image])._repr_mimebundle_()["text/plain"]
    assert "prompt:  a red fox sitting in the snow" in text and f"revised: {image.revised_prompt}" in text


# ---------------------------------------------------------------------------- the magics


def test_magics_revise_exact_refine_and_config(ip: InteractiveShell) -> None:
    revised = ip.run_cell_magic("dalle", "-s 1024x1024 -o fox", "a red fox in the snow")
    assert revised[0].revised_prompt
    exact = ip.run_cell_magic("dalle", "-s 1024x1024 --exact", "a red fox in the snow")
    assert exact[0].revised_prompt is None
    refined = ip.run_cell_magic("dalle_refine", "fox[0] -o dusk", "now make it dusk")
    assert refined[0].parents == (revised[0].id,) and ip.user_ns["dusk"] is refined
    with pytest.raises(UsageError, match="contradict"):
        ip.run_cell_magic("dalle", "--revise --exact", "x")
    ip.run_line_magic("config", "Dalle.revise = False")
    assert ip.run_cell_magic("dalle", "-s 1024x1024", "a kite")[0].revised_prompt is None
    assert ip.run_cell_magic("dalle", "-s 1024x1024 --revise", "a kite")[0].revised_prompt
    ip.run_line_magic("config", "Dalle.revise = None")
    ip.run_line_magic("config", "Dalle.text_model = 'gpt-5.5'")
    assert ip.run_cell_magic("dalle", "-s 1024x1024", "a kite")[0].text_model == "gpt-5.5"


def test_arefine_continues_the_conversation_inside_a_running_loop() -> None:
    async def body() -> tuple[dn.GeneratedImage, dn.GeneratedImage, dn.GeneratedImage]:
        first = (await dn.agenerate("a red fox in a snowy field", size="1024x1024"))[0]
        second = (await dn.arefine(first, "now make it dusk"))[0]
        third = (await dn.arefine(second, "add a full moon"))[0]
        return first, second, third

    first, second, third = asyncio.run(body())
    assert first.response_id and second.response_id and third.response_id
    assert len({first.response_id, second.response_id, third.response_id}) == 3
    assert (second.kind, third.kind) == ("refine", "refine")
    assert second.parents == (first.id,) and third.parents == (second.id,)
    assert second.params["previous_response_id"] == first.response_id
    assert third.params["previous_response_id"] == second.response_id
    assert "dusk" in (second.revised_prompt or "").lower() and "moon" in (third.revised_prompt or "").lower()
    assert [image.id for image in dn.history(chain=third)] == [first.id, second.id, third.id]


def test_the_studios_revise_box_sends_the_next_generate_through_the_responses_api_or_not() -> None:
    from dalle_nb.notebook.widgets.studio import Studio

    from ..notebook.test_studio import finished, in_a_kernel, shown

    async def body() -> tuple[Studio, list[dn.GeneratedImage]]:
        studio = Studio(namespace={})
        studio.prompt.value = "a red fox sitting in the snow"
        studio.generate_options.controls["size"].value = "1024x1024"
        made = []
        for tick in (False, True, False):
            studio.generate_options.revise.value = tick
            studio.generate()
            await finished(studio)
            assert "Done: 1 picture" in studio.status.value, studio.status.value
            made.append(studio.results[0])
        return studio, made

    studio, (exact, revised, exact_again) = in_a_kernel(body)
    assert shown(studio.generate_options.revise)  # the default model is a GPT image model: the box is offered
    for picture in (exact, exact_again):
        assert picture.prompt == "a red fox sitting in the snow"
        assert picture.revised_prompt is None and picture.response_id is None and picture.text_model is None
        assert "api" not in picture.params
    assert revised.revised_prompt and revised.revised_prompt != revised.prompt and "red fox" in revised.revised_prompt
    assert revised.response_id and revised.response_id.startswith("resp_") and revised.params["api"] == "responses"
    assert revised.text_model == config.DEFAULT_TEXT_MODEL


def test_the_fallback_for_a_lost_conversation_is_not_sent_again_once_its_stream_opened() -> None:
    # the refusal of the lost previous_response_id came before any stream: the picture goes along in a second
    # request, whose stream is cut; that one may be billed, so it is not sent again (max_retries=2 would allow it)
    with OfflineServer(ServerOptions()) as first_server:
        use(first_server)
        config.configure(revise=True)
        fox = dn.generate("a red fox", size="1024x1024")[0]
    restarted = faulty("drop:1")  # its memory of responses is empty, and every stream it sends is cut
    try:
        use(restarted)
        config.configure(revise=True, max_retries=2)
        handle = dn.refine(fox, "at dusk", partial_images=2, wait=False)
        error = handle.exception(30)
        assert isinstance(error, errors.IncompleteStream) and "may already have been billed" in str(error)
        received = httpx.get(restarted.base_url.removesuffix("/v1") + "/health").json()["received"]
        assert received == 2, f"the refusal, then the picture sent once: {received} requests"
        assert handle.images.failures[0].partial is not None, "the cut stream's last preview is kept"
    finally:
        restarted.stop()
