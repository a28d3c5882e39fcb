"""The capability table: every SDK model id has a row, and each rule kind says what to do."""

from __future__ import annotations

import typing

import pytest
from openai.types import ImageModel

from dalle_nb.core.capabilities import DEFAULT_MODEL, MODELS, ParamError, check_inputs, get_model, validate
from dalle_nb.core.capabilities import InputImage as Info


def test_every_model_the_sdk_names_has_a_row() -> None:
    sdk_ids = set(typing.get_args(ImageModel))
    assert sdk_ids, "the SDK's ImageModel literal should list model ids"
    assert sdk_ids <= set(MODELS), f"missing rows: {sorted(sdk_ids - set(MODELS))}"


def test_retired_models_name_their_date_and_replacement() -> None:
    gpt1 = get_model("gpt-image-1")
    assert gpt1.retired and str(gpt1.retired_on) == "2026-10-23"
    assert "October 23, 2026" in gpt1.retirement_message()
    assert "gpt-image-2.5-sunburst" in gpt1.retirement_message()
    for legacy in ("dall-e-2", "dall-e-3"):
        spec = get_model(legacy)
        assert spec.retired and str(spec.retired_on) == "2026-05-12"
        assert "May 12, 2026" in spec.retirement_message()
    assert not get_model(DEFAULT_MODEL).retired


def test_unknown_model_suggests_the_closest() -> None:
    with pytest.raises(ParamError) as err:
        get_model("gpt-image-2.5-sunbrust")
    assert "Did you mean 'gpt-image-2.5-sunburst'" in err.value.message
    assert err.value.field == "model"


def gen(**params: object) -> dict[str, object]:
    params.setdefault("prompt", "a red fox")
    params.setdefault("model", DEFAULT_MODEL)
    return validate("generations", params)


def test_defaults_are_filled_in() -> None:
    out = gen()
    assert out["n"] == 1 and out["size"] == "auto" and out["quality"] == "auto"
    assert out["output_format"] == "png" and out["background"] == "auto"
    legacy = validate("generations", {"prompt": "x", "model": "dall-e-3"})
    assert legacy["size"] == "1024x1024" and legacy["response_format"] == "url" and legacy["style"] == "vivid"


@pytest.mark.parametrize(
    ("model", "size", "ok"),
    [
        ("gpt-image-2", "1536x864", True),
        ("gpt-image-2", "3840x2160", True),
        ("gpt-image-2", "1000x1000", False),  # not multiples of 16
        ("gpt-image-2", "3072x768", False),  # 4:1 aspect
        ("gpt-image-2", "4096x1536", False),  # edge over 3840
        ("gpt-image-2", "512x512", False),  # under the pixel floor
        ("gpt-image-1.5", "1536x864", False),  # no arbitrary sizes
        ("gpt-image-1.5", "1536x1024", True),
        ("gpt-image-1.5", "auto", True),
        ("dall-e-3", "1792x1024", True),
        ("dall-e-3", "auto", False),
        ("dall-e-2", "1792x1024", False),
        ("dall-e-2", "256x256", True),
    ],
)
def test_size_rules_per_model(model: str, size: str, ok: bool) -> None:
    if ok:
        assert gen(model=model, size=size)["size"] == size
    else:
        with pytest.raises(ParamError) as err:
            gen(model=model, size=size)
        assert err.value.field == "size"
        assert size in err.value.message and model in err.value.message


@pytest.mark.parametrize(
    ("model", "n", "ok"),
    [
        ("dall-e-3", 1, True),
        ("dall-e-3", 2, False),
        (DEFAULT_MODEL, 10, True),
        (DEFAULT_MODEL, 11, False),
        (DEFAULT_MODEL, 0, False),
        (DEFAULT_MODEL, "3", True),
    ],
)
def test_n_limits(model: str, n: object, ok: bool) -> None:
    if ok:
        assert gen(model=model, n=n)["n"] == int(str(n))
    else:
        with pytest.raises(ParamError, match="between 1 and") as err:
            gen(model=model, n=n)
        assert err.value.field == "n"


def test_quality_per_model() -> None:
    assert gen(model="gpt-image-2.5-flare", quality="xhigh")["quality"] == "xhigh"
    with pytest.raises(ParamError, match="Supported values are: 'low', 'medium', 'high', 'auto'"):
        gen(model="gpt-image-1.5", quality="xhigh")
    assert gen(model="dall-e-3", quality="hd")["quality"] == "hd"
    with pytest.raises(ParamError, match="Did you mean 'high'"):
        gen(quality="hihg")


def test_format_background_and_compression_combinations() -> None:
    with pytest.raises(ParamError, match="transparent background needs output_format 'png' or 'webp'"):
        gen(background="transparent", output_format="jpeg")
    assert gen(background="transparent", output_format="webp", output_compression=80)["output_compression"] == 80
    with pytest.raises(ParamError, match="PNG is lossless"):
        gen(output_compression=50)
    with pytest.raises(ParamError, match="between 0 and 100"):
        gen(output_format="jpeg", output_compression=101)
    with pytest.raises(ParamError, match="preview access"):
        gen(output_format="gif")
    with pytest.raises(ParamError, match="Unknown parameter: 'response_format'") as err:
        gen(response_format="url")
    assert err.value.code == "unknown_parameter" and "always returns base64" in err.value.hint
    with pytest.raises(ParamError, match="not supported by dall-e-3"):
        gen(model="dall-e-3", background="transparent")
    with pytest.raises(ParamError, match="only dall-e-3"):
        gen(style="vivid")


def test_streaming_rules() -> None:
    assert gen(stream=True, partial_images=3)["partial_images"] == 3
    assert gen(stream="true")["stream"] is True
    with pytest.raises(ParamError, match="between 0 and 3"):
        gen(stream=True, partial_images=4)
    with pytest.raises(ParamError, match="only supported for the GPT image models"):
        gen(model="dall-e-3", stream=True)


def test_unknown_and_endpoint_specific_fields() -> None:
    with pytest.raises(ParamError, match="Unknown parameter: 'colour'") as err:
        gen(colour="red")
    assert err.value.code == "unknown_parameter"
    with pytest.raises(ParamError, match="Unknown parameter: 'moderation'"):
        validate("edits", {"prompt": "x", "model": DEFAULT_MODEL, "moderation": "low"})
    with pytest.raises(ParamError, match="input_fidelity is not supported for gpt-image-2") as err:
        validate("edits", {"prompt": "x", "model": "gpt-image-2", "input_fidelity": "high"})
    assert (err.value.code, err.value.err_type) == ("invalid_input_fidelity_model", "image_generation_user_error")
    assert "omit input_fidelity" in err.value.hint
    with pytest.raises(ParamError, match="Supported values are: 'low'"):
        validate("edits", {"prompt": "x", "model": "gpt-image-1-mini", "input_fidelity": "high"})


def test_prompt_rules() -> None:
    with pytest.raises(ParamError, match="non-empty"):
        gen(prompt="   ")
    with pytest.raises(ParamError, match="takes at most 1000"):
        validate("generations", {"prompt": "x" * 1001, "model": "dall-e-2"})


def test_profiles_for_retired_models_and_variations() -> None:
    assert validate("generations", {"prompt": "x", "model": "dall-e-3"}, profile="compat")["model"] == "dall-e-3"
    with pytest.raises(ParamError, match="retired on May 12, 2026") as err:
        validate("generations", {"prompt": "x", "model": "dall-e-3"}, profile="openai")
    assert err.value.status == 404
    with pytest.raises(ParamError, match="variations endpoint is retired"):
        validate("variations", {"model": "dall-e-2"}, profile="openai")
    with pytest.raises(ParamError, match="does not support the variations endpoint"):
        validate("variations", {"model": DEFAULT_MODEL}, profile="compat")


def test_input_file_rules() -> None:
    spec = get_model(DEFAULT_MODEL)
    square = Info("png", 1024, 1024, 1000, True, True)
    check_inputs(spec, "edits", [square] * 16)
    with pytest.raises(ParamError, match="at most 16"):
        check_inputs(spec, "edits", [square] * 17)
    with pytest.raises(ParamError, match="accepts: png, webp, jpeg"):
        check_inputs(spec, "edits", [Info("gif", 10, 10, 10)])
    with pytest.raises(ParamError, match="under 50 MB") as err:
        check_inputs(spec, "edits", [Info("png", 10, 10, 50 * 1024 * 1024)])
    assert err.value.status == 413
    with pytest.raises(ParamError, match="same dimensions"):
        check_inputs(spec, "edits", [square], mask=Info("png", 512, 512, 10, True))
    with pytest.raises(ParamError, match="must be a PNG"):
        check_inputs(spec, "edits", [square], mask=Info("jpeg", 1024, 1024, 10))
    with pytest.raises(ParamError, match="alpha channel"):
        check_inputs(spec, "edits", [square], mask=Info("png", 1024, 1024, 10, False))
    with pytest.raises(ParamError, match="cannot be combined"):
        check_inputs(spec, "edits", [square], mask=square, markup=square)
    with pytest.raises(ParamError, match="'markup' is not supported by gpt-image-1.5"):
        check_inputs(get_model("gpt-image-1.5"), "edits", [square], markup=square)
    dalle2 = get_model("dall-e-2")
    with pytest.raises(ParamError, match="needs a square image"):
        check_inputs(dalle2, "edits", [Info("png", 1024, 512, 10, True, True)])
    with pytest.raises(ParamError, match="needs a mask, or an image with transparent pixels"):
        check_inputs(dalle2, "edits", [Info("png", 512, 512, 10)])


def test_readme_table_lists_every_model() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for model_id in MODELS:
        assert f"| `{model_id}` |" in readme, f"README's capability table lacks {model_id}"
