"""Input images and masks: every kind a notebook user has becomes an API-ready file, or a clear error."""

from __future__ import annotations

import ast
import dataclasses
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dalle_nb.core import capabilities as models
from dalle_nb.core import imaging
from dalle_nb.core.capabilities import MB, EditLimits, check_inputs, get_model
from dalle_nb.core.errors import InvalidRequest
from dalle_nb.core.imaging import (
    MASK_MAX_BYTES,
    Prepared,
    describe,
    load_image,
    normalize_mode,
    prepare_image,
    prepare_images,
    prepare_mask,
    to_png_bytes,
)

from ..conftest import noise, png_bytes

GPT = "gpt-image-2.5-sunburst"


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    """An RGB image whose pixels differ, so a rotation or crop is visible."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 128)], axis=2))


def patched_png_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb without the memory."""
    data = bytearray(png_bytes(Image.new("1", (1, 1))))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


class Generated:
    """Stands in for dalle_nb's GeneratedImage: only ``to_pil()`` matters."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image

    def to_pil(self) -> Image.Image:
        return self.image


# --------------------------------------------------------------------------- load_image


def test_load_from_path_str_and_pathlib(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    gradient().save(path)
    for source in (str(path), path):
        image = load_image(source)
        assert image.size == (64, 48)
        assert image.getpixel((63, 0)) == (255, 0, 128)


def test_load_from_bytes_bytearray_memoryview() -> None:
    data = png_bytes(gradient())
    for source in (data, bytearray(data), memoryview(data)):
        assert load_image(source).size == (64, 48)


def test_load_from_file_object_reads_from_its_position_and_restores_it() -> None:
    buf = io.BytesIO(b"JUNKJUNK" + png_bytes(gradient()))
    buf.seek(8)
    assert load_image(buf).size == (64, 48)
    assert buf.tell() == 8


def test_load_from_non_seekable_reader() -> None:
    class Reader:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self) -> bytes:
            return self.data

    assert load_image(Reader(png_bytes(gradient()))).size == (64, 48)


def test_text_mode_file_is_refused_with_a_fix() -> None:
    with pytest.raises(InvalidRequest, match="text mode.*'rb'"):
        load_image(io.StringIO("not an image"))


def test_load_from_pil_returns_a_copy() -> None:
    original = gradient()
    image = load_image(original)
    assert image is not original
    image.putpixel((0, 0), (1, 2, 3))
    assert original.getpixel((0, 0)) != (1, 2, 3)


def test_load_from_object_with_to_pil() -> None:
    assert load_image(Generated(gradient(10, 20))).size == (10, 20)


def test_to_pil_returning_something_else_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="to_pil\\(\\) returned str"):
        load_image(Generated("nope"))  # type: ignore[arg-type]


def test_numpy_bool_becomes_black_and_white() -> None:
    arr = np.zeros((4, 6), dtype=bool)
    arr[1, 2] = True
    image = load_image(arr)
    assert (image.mode, image.size) == ("L", (6, 4))
    assert image.getpixel((2, 1)) == 255 and image.getpixel((0, 0)) == 0


def test_numpy_uint8_shapes() -> None:
    grey = load_image(np.full((4, 6), 7, dtype=np.uint8))
    assert (grey.mode, grey.size, grey.getpixel((0, 0))) == ("L", (6, 4), 7)
    rgb = load_image(np.full((4, 6, 3), (1, 2, 3), dtype=np.uint8))
    assert (rgb.mode, rgb.getpixel((5, 3))) == ("RGB", (1, 2, 3))
    rgba = load_image(np.full((4, 6, 4), (1, 2, 3, 4), dtype=np.uint8))
    assert (rgba.mode, rgba.getpixel((5, 3))) == ("RGBA", (1, 2, 3, 4))


def test_numpy_float_in_0_1_is_scaled_to_255() -> None:
    image = load_image(np.full((2, 2, 3), (0.0, 0.5, 1.0), dtype=np.float32))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (0, 128, 255)


def test_numpy_float_out_of_range_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="0 to 1"):
        load_image(np.full((2, 2), 200.0))


def test_numpy_small_int_values_are_taken_as_uint8() -> None:
    assert load_image(np.array([[0, 255]])).getpixel((1, 0)) == 255


@pytest.mark.parametrize(
    ("array", "shape", "dtype"),
    [
        (np.zeros((4, 4, 2), dtype=np.uint8), "(4, 4, 2)", "uint8"),
        (np.zeros((4,), dtype=np.uint8), "(4,)", "uint8"),
        (np.zeros((2, 2), dtype=np.complex64), "(2, 2)", "complex64"),
        (np.full((2, 2), 70000, dtype=np.int32), "(2, 2)", "int32"),
    ],
)
def test_numpy_bad_shape_or_dtype_names_both(array: np.ndarray, shape: str, dtype: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        load_image(array)
    assert shape in str(info.value) and dtype in str(info.value)


def test_exif_orientation_is_applied() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    gradient(40, 20).save(buf, "JPEG", exif=exif)
    image = load_image(buf.getvalue())
    assert image.size == (20, 40)


def test_missing_file() -> None:
    with pytest.raises(InvalidRequest, match="image file not found: .*nowhere.png") as info:
        load_image("/no/such/dir/nowhere.png")
    assert info.value.field == "image"


def test_missing_file_uses_the_field_name() -> None:
    with pytest.raises(InvalidRequest, match="^mask file not found"):
        load_image(Path("/no/such/mask.png"), field="mask")


def test_url_is_named_as_given() -> None:
    with pytest.raises(InvalidRequest, match="not found: https://example.com/a.png; dalle_nb does not download"):
        load_image("https://example.com/a.png")


def test_unsupported_type_names_it_and_lists_what_works() -> None:
    with pytest.raises(InvalidRequest) as info:
        load_image(12345)
    message = str(info.value)
    assert "got int" in message and "file path" in message and "numpy array" in message
    assert "\n" not in message


@pytest.mark.parametrize("data", [b"this is not an image at all", png_bytes(gradient())[:60]])
def test_corrupt_or_truncated_bytes(data: bytes) -> None:
    with pytest.raises(InvalidRequest, match="not a readable image \\(PNG, JPEG, WebP, GIF, BMP, TIFF\\)"):
        load_image(data)


def test_empty_bytes() -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("side", [10_000, 20_000])  # above the warning limit, above the error limit
def test_decompression_bomb_is_refused_without_touching_the_global(side: int) -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InvalidRequest, match="too many pixels"):
        load_image(patched_png_size(side, side))
    assert before == Image.MAX_IMAGE_PIXELS


# --------------------------------------------------------------------------- normalize_mode


def test_cmyk_becomes_rgb() -> None:
    assert normalize_mode(Image.new("CMYK", (3, 3), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_and_without_transparency() -> None:
    plain = Image.new("P", (3, 3), 1)
    plain.putpalette([0, 0, 0, 200, 10, 20])
    assert normalize_mode(plain).mode == "RGB"
    see_through = plain.copy()
    see_through.info["transparency"] = 1
    out = normalize_mode(see_through)
    assert (out.mode, out.getpixel((0, 0))) == ("RGBA", (200, 10, 20, 0))


def test_la_and_grey_modes() -> None:
    la = normalize_mode(Image.new("LA", (2, 2), (10, 20)))
    assert (la.mode, la.getpixel((0, 0))) == ("RGBA", (10, 10, 10, 20))
    assert normalize_mode(Image.new("L", (2, 2), 9)).getpixel((0, 0)) == (9, 9, 9)
    assert normalize_mode(Image.new("1", (2, 2), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert normalize_mode(Image.new("YCbCr", (2, 2))).mode == "RGB"


def test_sixteen_bit_is_scaled_by_its_range() -> None:
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    image = Image.fromarray(arr)
    assert image.mode == "I;16"
    out = normalize_mode(image)
    assert out.mode == "RGB"
    assert [out.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_sixteen_bit_file_round_trip_and_notice() -> None:
    data = png_bytes(Image.fromarray(np.array([[0, 65535], [65535, 0]], dtype=np.uint16)))
    prepared = prepare_image(data, GPT)
    assert opened(prepared.data).getpixel((1, 0)) == (255, 255, 255)
    assert any("8-bit" in n for n in prepared.notices)


def test_rgb_and_rgba_are_left_alone() -> None:
    rgb, rgba = gradient(), Image.new("RGBA", (2, 2))
    assert normalize_mode(rgb) is rgb and normalize_mode(rgba) is rgba


# --------------------------------------------------------------------------- prepare_image


def test_small_image_becomes_png_unchanged() -> None:
    prepared = prepare_image(gradient(), GPT)
    assert isinstance(prepared, Prepared)
    assert (prepared.filename, prepared.content_type) == ("image.png", "image/png")
    assert (prepared.width, prepared.height, prepared.notices) == (64, 48, ())
    assert opened(prepared.data).tobytes() == gradient().tobytes()
    assert prepared.as_file() == ("image.png", prepared.data, "image/png")


def test_index_numbers_the_file() -> None:
    assert prepare_image(gradient(), GPT, index=2).filename == "image_2.png"


@pytest.mark.parametrize("endpoint", ["edits", "variations"])
def test_non_square_dalle2_with_fit_error(endpoint: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        prepare_image(gradient(150, 100), "dall-e-2", endpoint=endpoint, fit="error")  # type: ignore[arg-type]
    message = str(info.value)
    assert f"image is 150x100 but dall-e-2 {endpoint} need a square image" in message
    assert 'fit="crop"' in message and 'fit="pad"' in message


def test_non_square_dalle2_crop_takes_the_centre() -> None:
    source = gradient(150, 100)
    prepared = prepare_image(source, "dall-e-2", endpoint="variations", fit="crop")
    image = opened(prepared.data)
    assert image.size == (100, 100) == (prepared.width, prepared.height)
    assert image.getpixel((0, 0)) == source.getpixel((25, 0))
    assert any("centre-cropped to 100x100" in n for n in prepared.notices)


def test_non_square_dalle2_pad_has_transparent_borders() -> None:
    prepared = prepare_image(gradient(150, 100), "dall-e-2", endpoint="variations", fit="pad")
    image = opened(prepared.data)
    assert (image.size, image.mode, prepared.content_type) == ((150, 150), "RGBA", "image/png")
    assert image.getpixel((75, 0))[3] == 0 and image.getpixel((75, 149))[3] == 0  # type: ignore[index]
    assert image.getpixel((75, 75))[3] == 255  # type: ignore[index]
    assert any("padded to 150x150 with transparent borders" in n for n in prepared.notices)


def test_gpt_models_take_non_square_images() -> None:
    assert prepare_image(gradient(150, 100), GPT).width == 150


def test_bad_fit_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="fit='stretch'"):
        prepare_image(gradient(), GPT, fit="stretch")  # type: ignore[arg-type]


def test_downscales_to_fit_dalle2_byte_limit() -> None:
    big = png_bytes(noise(2048, 2048))
    assert len(big) > 4 * MB
    prepared = prepare_image(big, "dall-e-2", endpoint="variations")
    assert len(prepared.data) < get_model("dall-e-2").variation.max_bytes  # type: ignore[union-attr]
    assert prepared.content_type == "image/png"  # dall-e-2 takes PNG only
    image = opened(prepared.data)
    assert image.width == image.height == prepared.width < 2048
    (notice,) = prepared.notices
    assert "2048x2048" in notice and f"{prepared.width}x{prepared.height}" in notice and "4 MB" in notice
    check_inputs(get_model("dall-e-2"), "variations", [describe(prepared.data)])


@pytest.fixture
def small_limit_model(monkeypatch: pytest.MonkeyPatch) -> str:
    """A GPT row whose edit limit is 1 MB: the byte limit is read from models.py, so this changes it."""
    spec = get_model(GPT)
    monkeypatch.setitem(models.MODELS, GPT, dataclasses.replace(spec, edit=EditLimits(max_bytes=1 * MB)))
    return GPT


def test_opaque_image_over_the_limit_is_sent_as_jpeg_when_accepted(small_limit_model: str) -> None:
    prepared = prepare_image(noise(700, 700), small_limit_model)
    assert (prepared.filename, prepared.content_type) == ("image.jpg", "image/jpeg")
    assert len(prepared.data) < 1 * MB and (prepared.width, prepared.height) == (700, 700)
    assert opened(prepared.data).format == "JPEG"
    assert any("sent as JPEG" in n for n in prepared.notices)


def test_transparent_image_over_the_limit_stays_png_and_shrinks(small_limit_model: str) -> None:
    image = noise(700, 700).convert("RGBA")
    image.putpixel((0, 0), (0, 0, 0, 0))
    prepared = prepare_image(image, small_limit_model)
    assert prepared.content_type == "image/png" and len(prepared.data) < 1 * MB
    assert prepared.width < 700 and opened(prepared.data).mode == "RGBA"
    assert any("downscaled" in n for n in prepared.notices)


def test_opaque_image_too_big_even_as_jpeg_is_downscaled_in_a_lossy_format(small_limit_model: str) -> None:
    prepared = prepare_image(noise(1600, 1200), small_limit_model)
    assert prepared.content_type in ("image/jpeg", "image/webp") and len(prepared.data) < 1 * MB
    assert prepared.width < 1600 and abs(prepared.width / prepared.height - 4 / 3) < 0.01
    assert any("1600x1200; downscaled to" in n for n in prepared.notices)


def test_unknown_model_and_missing_endpoint() -> None:
    with pytest.raises(InvalidRequest, match="Unknown model 'dall-e-9'"):
        prepare_image(gradient(), "dall-e-9")
    with pytest.raises(InvalidRequest, match="variations endpoint.*dall-e-2"):
        prepare_image(gradient(), GPT, endpoint="variations")
    with pytest.raises(InvalidRequest, match="dall-e-3 does not take input images on the edits"):
        prepare_image(gradient(), "dall-e-3")


# --------------------------------------------------------------------------- prepare_images


def test_too_many_images_for_a_gpt_model() -> None:
    limit = get_model(GPT).edit.max_images
    with pytest.raises(InvalidRequest) as info:
        prepare_images([object()] * (limit + 1), GPT)  # counted before anything is decoded
    assert f"{limit + 1} images" in str(info.value) and f"at most {limit}" in str(info.value)


def test_several_images_are_numbered() -> None:
    prepared = prepare_images([gradient(), png_bytes(gradient(10, 10))], GPT)
    assert [p.filename for p in prepared] == ["image.png", "image_1.png"]
    check_inputs(get_model(GPT), "edits", [describe(p.data) for p in prepared])


@pytest.mark.parametrize(
    "single", [np.zeros((8, 8, 3), dtype=np.uint8), png_bytes(gradient(8, 8)), gradient(8, 8)], ids=type
)
def test_single_image_of_any_kind_is_one_image(single: object) -> None:
    assert len(prepare_images(single, GPT)) == 1


def test_dalle2_takes_one_image_and_no_list_is_empty() -> None:
    with pytest.raises(InvalidRequest, match="at most 1"):
        prepare_images([gradient(8, 8), gradient(8, 8)], "dall-e-2")
    with pytest.raises(InvalidRequest, match="no image given"):
        prepare_images([], GPT)


# --------------------------------------------------------------------------- prepare_mask


def mask_alpha(prepared: Prepared) -> np.ndarray:
    image = opened(prepared.data)
    assert image.mode == "RGBA" and image.format == "PNG"
    arr = np.asarray(image)
    assert not arr[:, :, :3].any()  # RGB is black everywhere
    return arr[:, :, 3]


def test_bool_mask_true_means_edit() -> None:
    edit = np.zeros((4, 6), dtype=bool)
    edit[1:3, 2:4] = True
    prepared = prepare_mask(edit, (6, 4))
    assert (prepared.filename, prepared.content_type, prepared.width, prepared.height) == (
        "mask.png",
        "image/png",
        6,
        4,
    )
    assert np.array_equal(mask_alpha(prepared), np.where(edit, 0, 255))


def test_grey_mask_white_means_edit() -> None:
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    assert mask_alpha(prepare_mask(grey, (4, 1))).tolist() == [[255, 255, 0, 0]]
    image = Image.fromarray(grey)
    assert mask_alpha(prepare_mask(image, (4, 1))).tolist() == [[255, 255, 0, 0]]
    assert mask_alpha(prepare_mask(image.convert("1"), (4, 1))).tolist() == [[255, 255, 0, 0]]
    assert mask_alpha(prepare_mask(image.convert("RGB"), (4, 1))).tolist() == [[255, 255, 0, 0]]


def test_rgba_mask_keeps_its_alpha_exactly() -> None:
    rgba = np.zeros((1, 4, 4), dtype=np.uint8)
    rgba[0, :, :3] = 200
    rgba[0, :, 3] = [0, 77, 254, 255]
    assert mask_alpha(prepare_mask(png_bytes(Image.fromarray(rgba)), (4, 1))).tolist() == [[0, 77, 254, 255]]
    assert mask_alpha(prepare_mask(rgba, (4, 1))).tolist() == [[0, 77, 254, 255]]


def test_mask_that_marks_everything_is_allowed() -> None:
    assert not mask_alpha(prepare_mask(np.ones((3, 3), dtype=bool), (3, 3))).any()


@pytest.mark.parametrize(
    ("mask", "why"),
    [
        (np.zeros((3, 3), dtype=bool), "no white"),
        (Image.new("RGBA", (3, 3), (255, 255, 255, 255)), "fully transparent"),
    ],
    ids=["bool", "rgba"],
)
def test_empty_mask_is_refused(mask: object, why: str) -> None:
    with pytest.raises(InvalidRequest, match=f"^the mask marks nothing to edit: .*{why}"):
        prepare_mask(mask, (3, 3))


def test_mask_of_the_same_shape_is_resized_with_a_notice() -> None:
    edit = np.zeros((50, 100), dtype=bool)
    edit[:, 50:] = True
    prepared = prepare_mask(edit, (200, 100))
    alpha = mask_alpha(prepared)
    assert alpha.shape == (100, 200)
    assert (alpha[:, :100] == 255).all() and (alpha[:, 100:] == 0).all()
    assert prepared.notices == ("mask was 100x50; resized to 200x100 to match the image",)


def test_mask_of_another_shape_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="mask is 100x100 but the image is 200x100"):
        prepare_mask(np.ones((100, 100), dtype=bool), (200, 100))


def test_mask_resize_can_be_turned_off() -> None:
    with pytest.raises(InvalidRequest, match="pass resize=True"):
        prepare_mask(np.ones((50, 100), dtype=bool), (200, 100), resize=False)


def test_prepared_mask_passes_the_api_check_with_its_image() -> None:
    image = prepare_image(gradient(64, 64), "dall-e-2")
    mask = prepare_mask(np.ones((64, 64), dtype=bool), (image.width, image.height))
    check_inputs(get_model("dall-e-2"), "edits", [describe(image.data)], describe(mask.data))
    assert len(mask.data) < MASK_MAX_BYTES == models.EditLimits().mask_max_bytes


# --------------------------------------------------------------------------- helpers


def test_to_png_bytes_is_lossless() -> None:
    source = noise(16, 16).convert("RGBA")
    assert opened(to_png_bytes(source)).tobytes() == source.tobytes()


def test_describe_measures_files() -> None:
    see_through = Image.new("RGBA", (5, 4), (0, 0, 0, 255))
    see_through.putpixel((0, 0), (0, 0, 0, 0))
    info = describe(png_bytes(see_through))
    assert (info.format, info.width, info.height, info.has_alpha, info.has_transparent_pixels) == (
        "png",
        5,
        4,
        True,
        True,
    )
    buf = io.BytesIO()
    gradient().save(buf, "JPEG")
    assert describe(buf.getvalue()).format == "jpeg"
    assert describe(b"garbage").format == "unknown"


def test_module_imports_no_pillow_or_numpy_at_top_level() -> None:
    tree = ast.parse(Path(imaging.__file__).read_text())
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert not {n for n in names if n.split(".")[0] in ("PIL", "numpy")}


def test_pictures_for_the_responses_api_share_its_body_limit() -> None:
    # four 10.8 MB pictures: each fits a data URL, together they are over the 50 MB a request may hold
    files = [prepare_image(noise(1900, 1900, seed), GPT) for seed in range(4)]
    assert all(imaging.data_url_chars(f) < models.DATA_URL_LIMIT for f in files)
    assert sum(imaging.data_url_chars(f) for f in files) > models.RESPONSES_MAX_BYTES
    fitted, mask, notices = imaging.fit_inline(files, None, GPT)
    assert mask is None and len(fitted) == 4 and len(notices) == 4
    assert sum(imaging.data_url_chars(f) for f in fitted) < models.RESPONSES_MAX_BYTES - MB
    assert all(opened(f.data).size == (1900, 1900) for f in fitted), "opaque: sent as JPEG at full size"
    small = prepare_image(noise(64, 48), GPT)
    assert imaging.fit_inline([small], None, GPT) == ((small,), None, []), "what fits is sent as it is"
