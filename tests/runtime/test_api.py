"""The Python API as a notebook user calls it, against the offline server over real HTTP."""

from __future__ import annotations

import _thread
import asyncio
import base64
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dalle_nb as dn
from dalle_nb import config
from dalle_nb.core import errors
from dalle_nb.core.capabilities import DEFAULT_MODEL
from dalle_nb.offline import OfflineServer, ServerOptions
from dalle_nb.runtime.session import default_session

from ..conftest import faulty, noise, scene, use

CANARY = "sk-canary-0123456789abcdefDALLENB"


# ---------------------------------------------------------------------------- generate
def test_generate_saves_before_returning_and_exports_every_way(fresh: Path, tmp_path: Path) -> None:
    images = dn.generate("a red fox in a green forest", size="1536x1024")
    assert len(images) == 1
    image = images[0]
    assert image.path is not None and image.path.is_file() and fresh in image.path.parents
    assert image.path.read_bytes() == image.to_bytes()
    assert image.model == DEFAULT_MODEL and image.size == "1536x1024" and image.prompt == "a red fox in a green forest"
    # offline, prompts are revised through the Responses API by default: what was asked and what was drawn
    assert image.revised_prompt and "red fox" in image.revised_prompt.lower() and image.response_id
    assert dn.generate("a red fox", size="1024x1024", revise=False)[0].revised_prompt is None  # the Images API
    assert image.usage and image.usage["total_tokens"] > 0
    pil = image.to_pil()
    assert pil.size == (1536, 1024)
    buffer = image.to_bytesio()
    assert buffer.tell() == 0 and Image.open(buffer).format == "PNG"
    assert Image.open(image.to_bytesio("JPEG")).format == "JPEG"
    assert image.to_numpy().shape == (1024, 1536, 3)
    saved = image.save(tmp_path / "out" / "fox.webp")
    assert Image.open(saved).format == "WEBP" and saved.suffix == ".webp"
    files = images.save_all(tmp_path / "all")
    assert [p.name for p in files] == ["01.png"] and files[0].read_bytes() == image.to_bytes()


def test_offline_is_chosen_without_a_key_and_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    default_session()._notified.clear()
    dn.generate("a small boat", size="1024x1024")
    dn.generate("a second boat", size="1024x1024")
    out = " ".join(capsys.readouterr().out.split())  # the notice is wrapped at spaces
    assert out.count("no OpenAI API key set") == 1 and "offline backend at http://127.0.0.1:" in out
    assert "OPENAI_API_KEY" in out
    assert config.settings().backend == "offline"


def test_fan_out_keeps_order_and_gives_different_pictures() -> None:
    images = dn.generate("a lighthouse at night", model="dall-e-3", n=4)
    assert len(images) == 4
    assert len({image.to_bytes() for image in images}) == 4, "fanned-out requests must not repeat pictures"
    assert all(image.revised_prompt and "lighthouse" in image.revised_prompt for image in images)
    prompts = [f"picture number {i} in {colour}" for i, colour in enumerate(["red", "blue", "green", "yellow", "pink"])]
    result = dn.generate(prompts, n=2, size="1024x1024")
    assert [image.prompt for image in result] == [p for p in prompts for _ in range(2)]


def test_a_failed_request_does_not_lose_the_others() -> None:
    result = dn.generate(["a calm lake", "a #blocked thing", "a tall tree"], size="1024x1024")
    assert [image.prompt for image in result] == ["a calm lake", "a tall tree"]
    assert len(result.failures) == 1 and not result.ok
    failure = result.failures[0]
    assert isinstance(failure.error, errors.ContentPolicyError)
    assert "safety system" in failure.error.message and failure.prompt == "a #blocked thing"
    assert "✗" in result._repr_mimebundle_()["text/plain"]
    with pytest.raises(errors.ContentPolicyError, match="safety system"):
        dn.generate("only #blocked here")


def test_streaming_delivers_partials_then_the_final_picture() -> None:
    seen: list[tuple[int | None, bool]] = []
    frames: list[bytes] = []

    def on_partial(partial: dn.PartialImage) -> None:
        assert threading.current_thread() is threading.main_thread()  # callbacks run on the caller's thread
        seen.append((partial.partial_index, partial.final))
        frames.append(partial.data)

    result = dn.generate("a glowing jellyfish", size="1024x1024", stream=True, partial_images=3, on_partial=on_partial)
    assert seen == [(0, False), (1, False), (2, False), (None, True)]
    assert frames[-1] == result[0].to_bytes()
    assert result[0].path is not None and result[0].path.is_file()


def test_async_twins_work_inside_a_running_loop() -> None:
    async def main() -> list[str]:
        first, second = await asyncio.gather(
            dn.agenerate("an async cat", size="1024x1024"), dn.agenerate("an async dog", size="1024x1024")
        )
        varied = await dn.avary(first[0], n=1)
        edited = await dn.aedit(second[0], "add a hat")
        return [first[0].prompt, second[0].prompt, varied[0].kind, edited[0].kind]

    assert asyncio.run(main()) == ["an async cat", "an async dog", "vary", "edit"]


# ---------------------------------------------------------------------------- edit and vary
def test_edit_changes_only_the_masked_pixels() -> None:
    picture = scene()
    wanted = np.zeros((1024, 1024), dtype=bool)
    wanted[200:500, 300:700] = True  # True = edit here
    result = dn.edit(picture, "a red sun", mask=wanted)
    out = np.asarray(result[0].to_pil().convert("RGB"))
    assert np.array_equal(out[~wanted], np.asarray(picture)[~wanted])
    assert (out[wanted] != np.asarray(picture)[wanted]).any(axis=-1).mean() > 0.5
    assert result[0].kind == "edit"


@pytest.mark.parametrize("kind", ["path", "bytes", "bytesio", "pil", "numpy", "generated", "list"])
def test_edit_takes_every_kind_of_image(kind: str, tmp_path: Path) -> None:
    picture = scene()
    path = tmp_path / "scene.png"
    picture.save(path)
    source: object = {
        "path": str(path),
        "bytes": path.read_bytes(),
        "bytesio": io.BytesIO(path.read_bytes()),
        "pil": picture,
        "numpy": np.asarray(picture),
        "list": [picture, Image.new("RGB", (256, 256), (200, 0, 0))],
    }.get(kind)
    if kind == "generated":
        source = dn.generate("a blue square", size="1024x1024")[0]
    result = dn.edit(source, "add a yellow moon")
    assert result[0].size == "1024x1024"
    if kind == "generated":
        assert result[0].parents == (source.id,)  # type: ignore[union-attr]


def test_a_big_photo_is_made_small_enough_for_the_responses_api() -> None:
    photo = np.array(noise(3000, 2000))  # an 18 MB PNG: fine for the Images API, too big for a data URL (~15 MB)

    async def main() -> dn.ImageSet:
        return await dn.aedit(photo, "a red door")  # default settings: revised, through the Responses API

    result = asyncio.run(main())
    assert len(result) == 1 and result[0].revised_prompt and result[0].params["api"] == "responses"
    assert result[0].params["images"] == ["3000x2000 image/jpeg"], "same size, sent as JPEG"
    (note,) = [n for n in result.notices if "Responses API" in n]
    assert "image.png was 17.2 MB at 3000x2000; sent as JPEG" in note and "to fit under 15 MB" in note


def test_a_big_transparent_picture_is_downscaled_for_the_responses_api_and_its_mask_follows() -> None:
    picture = noise(2400, 1800, seed=1, mode="RGBA")  # 17 MB as PNG, which alone keeps its transparency: it must shrink
    mask = np.zeros((1800, 2400), dtype=bool)
    mask[600:1200, 800:1600] = True
    result = dn.edit(picture, "a red door", mask=mask)
    params = result[0].params
    (sent,) = params["images"]
    width, height = (int(v) for v in sent.split()[0].split("x"))
    assert sent.endswith("image/png") and width < 2400 and abs(width / height - 4 / 3) < 0.01, "aspect kept"
    assert params["mask"] == f"{width}x{height}", "the mask was resized with the picture"
    assert any(f"downscaled to {width}x{height}" in n for n in result.notices)
    assert any(f"mask resized to {width}x{height}" in n for n in result.notices)


def test_vary_uses_the_variations_endpoint_where_served() -> None:
    source = dn.generate("a green hill", model="dall-e-2", size="256x256")[0]
    result = dn.vary(source, n=2, model="dall-e-2", size="256x256")
    assert [image.kind for image in result] == ["vary", "vary"]
    assert result[0].to_bytes() != result[1].to_bytes()
    assert result[0].parents == (source.id,)


def test_vary_on_a_gpt_model_goes_through_edit_and_says_so() -> None:
    source = dn.generate("an orange kite", size="1024x1024")[0]
    result = dn.vary(source, n=2)
    assert result[0].kind == "vary" and result[0].prompt == dn.VARIATION_PROMPT and result[0].parents == (source.id,)
    assert result[0].params["images"], "made through edit, with the source as its input"
    assert any("no variations endpoint" in note for note in result.notices)
    bundle = result._repr_mimebundle_()
    assert "no variations endpoint" in bundle["text/plain"] and "no variations endpoint" in bundle["text/html"]
    # the cards say what each varies, not the stated prompt twice over
    assert bundle["text/html"].count("prompt:</span> variation of &#x27;an orange kite&#x27;") == 2
    assert dn.VARIATION_PROMPT not in bundle["text/html"] and dn.VARIATION_PROMPT not in bundle["text/plain"]
    mine = dn.vary(source, prompt="the same kite at dusk")
    assert mine[0].prompt == "the same kite at dusk"


def test_legacy_variations_are_captioned_with_their_parents_prompt() -> None:
    cat = dn.generate("a white siamese cat", model="dall-e-2", size="256x256")[0]
    html = dn.vary(cat, model="dall-e-2", size="256x256")._repr_mimebundle_()["text/html"]
    assert "variation of &#x27;a white siamese cat&#x27;" in html and "img_" not in html


def test_a_picture_knows_its_parents_prompt_when_made_and_when_read_back() -> None:
    fox = dn.generate("a red fox on a frozen lake", size="1024x1024", revise=False)[0]
    varied = dn.vary(fox)[0]
    assert varied.parent_prompt == "a red fox on a frozen lake"
    (again,) = dn.history(kind="vary", limit=1)
    assert again.id == varied.id and again.parent_prompt == "a red fox on a frozen lake"
    assert "variation of &#x27;a red fox on a frozen lake&#x27;" in again._repr_mimebundle_()["text/html"]
    assert fox.parent_prompt is None and dn.history(chain=varied)[0].parent_prompt is None


def test_refine_without_waiting_returns_a_handle_and_labels_name_the_pictures() -> None:
    kite = dn.generate(["a kite", "a boat"], labels=["sky", "sea"], size="1024x1024", revise=False)
    assert [image.label for image in kite] == ["sky", "sea"]
    seen: list[object] = []
    handle = dn.refine(kite[0], "now at dusk", wait=False, on_event=seen.append)
    result = handle.result(timeout=30)
    assert result[0].kind == "refine" and result[0].parents == (kite[0].id,)
    assert result[0].parent_prompt == "a kite"
    assert "(refining &#x27;a kite&#x27;)" in result._repr_mimebundle_()["text/html"]
    assert any(isinstance(event, dn.JobDone) for event in seen)


def test_non_square_input_for_a_square_only_endpoint_offers_fit() -> None:
    wide = Image.new("RGB", (600, 300), (0, 128, 255))
    with pytest.raises(dn.InvalidRequest, match='fit="crop"'):
        dn.vary(wide, model="dall-e-2", size="256x256")
    assert dn.vary(wide, model="dall-e-2", size="256x256", fit="crop")[0].size == "256x256"


# ---------------------------------------------------------------------------- refusals before sending
def test_bad_requests_are_refused_before_anything_is_sent(fresh: Path) -> None:
    # a base URL where nothing listens: reaching it would raise BackendUnreachable, not InvalidRequest
    config.configure(api_key="sk-test-not-used", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(dn.InvalidRequest, match="Supported values are") as err:
        dn.generate("x", size="1000x1000", model="gpt-image-1.5")
    assert err.value.field == "size"
    with pytest.raises(dn.InvalidRequest, match="n must be a whole number"):
        dn.generate("x", n=0)
    with pytest.raises(dn.InvalidRequest, match="transparent background needs"):
        dn.generate("x", background="transparent", output_format="jpeg")
    with pytest.raises(dn.InvalidRequest, match="not a readable image"):
        dn.edit(b"not an image", "x")
    with pytest.raises(dn.InvalidRequest, match="prompt must be a non-empty string"):
        dn.generate(["ok", ""])
    assert not fresh.exists() or not any(fresh.rglob("*.png"))


def test_retired_models_are_refused_before_sending_to_openai_only() -> None:
    config.configure(api_key="sk-test-not-used", base_url="https://api.openai.com/v1")
    with pytest.raises(dn.InvalidRequest, match="shut down on October 23, 2026. Use gpt-image-2.5-sunburst"):
        dn.generate("x", model="gpt-image-1")
    with pytest.raises(dn.InvalidRequest, match="variations endpoint is retired"):
        dn.vary(Image.new("RGB", (256, 256)), model="dall-e-2")
    config.reset()  # a gateway (the offline compat profile) still serves it
    assert dn.generate("x", model="dall-e-3")[0].model == "dall-e-3"


def test_a_retired_model_served_here_is_said_once_per_model_with_its_pictures(server: OfflineServer) -> None:
    default_session()._notified.clear()
    first = dn.generate("a paper kite", model="dall-e-2")
    assert len(first) == 1 and first.notices == [
        "The model 'dall-e-2' was retired on May 12, 2026. Use a GPT image model instead. "
        "It works here (the offline backend) and will be refused with an OpenAI key."
    ]
    assert "note: The model 'dall-e-2' was retired" in first._repr_mimebundle_()["text/plain"]
    assert dn.generate("a second kite", model="dall-e-2").notices == [], "once a session, not on every call"
    assert dn.vary(first[0], model="dall-e-2").notices == [], "every road shares the one memory"
    use(server)  # a gateway still serves them too: each retired model is said once
    assert dn.generate("a kite", model="dall-e-3").notices == [
        "The model 'dall-e-3' was retired on May 12, 2026. Use a GPT image model instead. "
        "It works here (a gateway) and will be refused with an OpenAI key."
    ]
    assert dn.generate("a kite", model="gpt-image-1.5").notices == [], "a model in service says nothing"


# ---------------------------------------------------------------------------- API errors
@pytest.mark.parametrize(
    ("fault", "error_type", "text"),
    [
        ("429:1", errors.RateLimitError, "Rate limit reached"),
        ("500:1", errors.ServerError, "server had an error"),
        ("503:1", errors.ServerError, "overloaded"),
        ("garbage:1", errors.ServerError, "not valid JSON"),
        ("reset:1", errors.BackendUnreachable, "Could not reach the API"),
    ],
)
def test_api_errors_are_typed_and_carry_the_apis_own_message(fault: str, error_type: type, text: str) -> None:
    server = faulty(fault)
    try:
        use(server)
        with pytest.raises(error_type, match=text) as err:
            dn.generate("x", size="1024x1024")
        if fault[0].isdigit():
            assert err.value.status == int(fault[:3]) and err.value.request_id.startswith("req_")
        assert "Traceback" not in err.value.one_line()
    finally:
        server.stop()


def test_timeouts_are_typed() -> None:
    server = faulty("timeout:1")
    try:
        use(server)
        config.configure(timeout=0.5)
        with pytest.raises(errors.RequestTimeout, match="timed out"):
            dn.generate("x")
    finally:
        server.stop()


class _Gateway(BaseHTTPRequestHandler):
    """A stand-in for the seed documents' gateway, which answers errors in its own shape."""

    def do_POST(self) -> None:
        body = json.dumps({"success": False, "error": {"code": "quota_exceeded", "message": "Your balance is empty."},
                           "trace_id": "trace-42"}).encode()  # fmt: skip
        self.send_response(402)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_gateway_error_bodies_are_understood() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config.configure(api_key="sk-gateway", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                         max_retries=0)  # fmt: skip
        with pytest.raises(errors.APIError) as err:
            dn.generate("x", model="dall-e-3", callback_url="https://example.invalid/hook")
        assert err.value.message == "Your balance is empty." and err.value.code == "quota_exceeded"
        assert err.value.status == 402 and err.value.request_id == "trace-42"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------- interruption
def test_ctrl_c_cancels_what_is_in_flight_and_keeps_what_arrived() -> None:
    with OfflineServer(ServerOptions(latency=30)) as slow:
        use(slow)
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt) as err:
            dn.generate(["slow one", "slow two"], size="1024x1024")
        timer.join()
        assert isinstance(err.value.images, dn.ImageSet)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while default_session().in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert default_session().in_flight() == 0, "no request may be left running"


# ---------------------------------------------------------------------------- history and settings
def test_history_survives_a_new_process(fresh: Path) -> None:
    dn.generate("a history lesson about owls", size="1024x1024")
    code = "import dalle_nb as dn; print([(i.prompt, i.size, i.path.is_file()) for i in dn.history('OWLS')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DALLE_NB_GALLERY_DIR": str(fresh)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "('a history lesson about owls', '1024x1024', True)" in out.stdout
    assert len(dn.history("owls")) == 1 and len(dn.history("nothing like this")) == 0


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.settings().model == DEFAULT_MODEL and config.settings().sources.get("model") is None
    monkeypatch.setenv("DALLE_NB_MODEL", "gpt-image-1.5")
    assert config.settings().model == "gpt-image-1.5"
    config.configure(model="gpt-image-2")
    assert config.settings().model == "gpt-image-2" and config.settings().sources["model"] == "configure()"
    assert config.settings(model="dall-e-3").model == "dall-e-3"
    with pytest.raises(dn.InvalidRequest, match="Did you mean 'gpt-image-2'"):
        config.configure(model="gpt-imag-2")
    with pytest.raises(dn.InvalidRequest, match="unknown setting 'colour'"):
        config.configure(colour="red")


def test_the_key_never_leaves_memory(fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with OfflineServer(ServerOptions(api_key=CANARY)) as locked:
        use(locked, key=CANARY)
        result = dn.generate("a canary in a cage", size="1024x1024")
        shown = [repr(config.settings()), str(config.settings().describe()), repr(result), str(result[0].params),
                 json.dumps(result._repr_mimebundle_())]  # fmt: skip
        config.configure(api_key=CANARY + "-wrong")
        with pytest.raises(errors.AuthenticationError) as err:
            dn.generate("x")
        shown += [str(err.value), repr(err.value), err.value.one_line()]
    shown.append(capsys.readouterr().out)
    assert all(CANARY not in text for text in shown)
    assert "set (configure())" in config.settings().describe()["api_key"]
    for path in fresh.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"key found in {path}"


def test_display_is_a_small_thumbnail_not_the_full_picture() -> None:
    image = dn.generate("a detailed red and blue city at night", size="1024x1024")[0]
    bundle = image._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "data:image/webp;base64," in bundle["text/html"]
    assert "a detailed red and blue city at night" in bundle["text/html"] and DEFAULT_MODEL in bundle["text/html"]
    shown = re.search(r"data:image/webp;base64,([A-Za-z0-9+/=]+)", bundle["text/html"])
    assert shown is not None
    thumbnail = Image.open(io.BytesIO(base64.b64decode(shown.group(1))))
    assert max(thumbnail.size) <= 256 < max(image.to_pil().size)  # a small picture is sent, not the full one
    assert "path" not in bundle["text/plain"]  # nothing that changes between runs


def test_revised_prompt_is_shown_where_the_model_returns_one() -> None:
    image = dn.generate("a baby sea otter", model="dall-e-3")[0]
    assert image.revised_prompt and "sea otter" in image.revised_prompt
    assert image.revised_prompt.split()[0] in image._repr_mimebundle_()["text/html"]


class _Proxy(BaseHTTPRequestHandler):
    """A minimal forward proxy for plain-HTTP targets; counts what passes through it."""

    seen: list[str] = []

    def _forward(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        target = urlsplit(self.path)  # a proxy receives the absolute URL
        type(self).seen.append(target.path)
        body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream.request(self.command, target.path, body=body, headers=headers)
        reply = upstream.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = _forward

    def log_message(self, *args: object) -> None:
        pass


def test_requests_go_through_a_configured_proxy() -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        with OfflineServer(ServerOptions()) as target:
            use(target)
            proxy_url = f"http://user:secret@127.0.0.1:{proxy.server_address[1]}"
            config.configure(proxy=proxy_url)
            shown = repr(config.settings()) + str(config.settings().describe())
            assert "secret" not in shown  # a proxy URL may hold credentials
            assert dn.generate("a fox behind a proxy", size="1024x1024")[0].size == "1024x1024"
        assert "/v1/images/generations" in _Proxy.seen
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_the_blocking_call_works_where_an_event_loop_already_runs() -> None:
    async def notebook_cell() -> str:
        # like a Jupyter cell: a loop is running in this thread, and the user calls the plain API
        return dn.generate("a fox inside a running loop", size="1024x1024")[0].prompt

    assert asyncio.run(notebook_cell()) == "a fox inside a running loop"


def test_url_results_are_downloaded_and_saved_at_once() -> None:
    # legacy models answer with expiring URLs when asked: the picture is fetched before returning
    image = dn.generate("a white siamese cat", model="dall-e-2", size="256x256", response_format="url")[0]
    assert image.path is not None and image.path.is_file()
    assert image.params["response_format"] == "url"
    assert Image.open(io.BytesIO(image.to_bytes())).size == (256, 256)


def test_a_stream_cut_half_way_keeps_the_pictures_that_arrived() -> None:
    server = faulty("drop:1")  # the server cuts the connection after half the events
    try:
        use(server)
        result = dn.generate("two kites", n=2, size="1024x1024", stream=True, partial_images=0)
        assert len(result) == 1 and result[0].path is not None and result[0].path.is_file()
        assert len(result.failures) == 1 and isinstance(result.failures[0].error, errors.BackendUnreachable)
    finally:
        server.stop()


def test_streamed_fan_out_gives_different_pictures() -> None:
    result = dn.generate("a field of kites", n=12, size="1024x1024", stream=True, partial_images=0)
    assert len(result) == 12 and len({image.to_bytes() for image in result}) == 12
