"""Turn any image a notebook user has into API-ready upload bytes, and any mask into the API's mask format.

A person in a notebook holds images in many shapes: a path, raw bytes, an open file, a PIL
image, a numpy array, or a ``GeneratedImage`` from an earlier cell.  The API wants one
thing: a file in a format the model accepts, under the model's byte limit, square where the
model says so, and (for masks) an RGBA PNG whose fully transparent pixels mark the area to
edit.  Everything here runs before a request is sent, so a bad input costs nothing: it is
refused with a one-line ``InvalidRequest`` that says what is wrong and what to do, or fixed
(downscaled, cropped, padded, resized) with a one-line notice saying what was changed.

Model facts (formats, byte limits, square-only, image counts, the mask limit) come from
``dalle_nb.models``; none is written down here.  Pillow and numpy are imported inside the
functions so that ``import dalle_nb`` stays fast.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from .capabilities import (
    DATA_URL_LIMIT,
    MB,
    MODELS,
    RESPONSES_MAX_BYTES,
    EditLimits,
    InputImage,
    ModelSpec,
    ParamError,
    get_model,
)
from .errors import InvalidRequest

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "KEEP_UNMASKED_FEATHER",
    "MASK_MAX_BYTES",
    "Fit",
    "MaskSource",
    "Prepared",
    "check_fit",
    "data_url_chars",
    "describe",
    "fit_inline",
    "keep_unmasked",
    "load_image",
    "mask_alpha",
    "sniff",
    "normalize_mode",
    "prepare_image",
    "prepare_images",
    "prepare_mask",
    "snapshot",
    "to_png_bytes",
]

Fit = Literal["error", "crop", "pad"]
FITS: tuple[Fit, ...] = ("error", "crop", "pad")

#: The mask's byte limit; the API states one limit for every model that takes a mask.
MASK_MAX_BYTES = EditLimits().mask_max_bytes

#: Where ``load_image`` notes that a file had several frames (an animation), of which the first is used.
FRAMES_INFO = "dalle_nb.frames"

#: What ``load_image`` accepts, for error messages.
ACCEPTED = (
    "a file path, bytes, a binary file object, a PIL image, a numpy array (HxW, HxWx3 or HxWx4) "
    "or a generated image (anything with .to_pil())"
)
READABLE = "PNG, JPEG, WebP, GIF, BMP, TIFF"

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
#: Lossy fallbacks for opaque images whose PNG is over the limit, in order of preference
#: (JPEG first: every decoder reads it and it encodes fast).
_LOSSY = ("jpeg", "webp")
_JPEG_QUALITY = 95
_WEBP_QUALITY = 90
#: Each downscale step shrinks both sides by at least this factor.
_STEP = 0.85
_MAX_STEPS = 60


@dataclass(frozen=True)
class Prepared:
    """One file ready to upload, with what was changed to make it acceptable."""

    data: bytes
    filename: str
    content_type: str
    width: int
    height: int
    notices: tuple[str, ...] = ()

    def __repr__(self) -> str:  # a request's repr must not print megabytes of picture
        return f"<Prepared {self.filename} {self.width}x{self.height} {self.content_type}, {len(self.data):,} bytes>"

    def as_file(self) -> tuple[str, bytes, str]:
        """``(filename, data, content_type)``: the tuple the ``openai`` SDK takes for a file field."""
        return (self.filename, self.data, self.content_type)


def to_png_bytes(image: Image.Image) -> bytes:
    """``image`` as PNG bytes (lossless; the mode is kept as it is)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- loading


def load_image(source: object, *, field: str = "image") -> Image.Image:
    """Any image a notebook user has, as a fully loaded PIL image the right way up.

    Accepts a path (``str`` or ``os.PathLike``), ``bytes``/``bytearray``/``memoryview``, a
    binary file object (read from its current position, which is restored afterwards when
    the object can seek), a PIL image, a numpy array (HxW bool -> 0/255, HxW uint8 -> L,
    HxWx3 -> RGB, HxWx4 -> RGBA; floats must lie in 0..1; integer arrays whose values lie in
    0..255 are taken as uint8) or anything with a ``to_pil()`` method (a ``GeneratedImage``).
    EXIF orientation is applied, because phones store photos sideways and rely on it.
    Raises ``InvalidRequest`` (``field`` names the input) for anything else, for missing
    files, for data that is not an image, and for images with so many pixels that decoding
    them could exhaust memory (Pillow's decompression-bomb limit, left at its global value).
    The caller's own PIL image and array are never modified.
    """
    from PIL import Image  # Pillow loads on first use, not at import

    if isinstance(source, Image.Image):
        return _upright(source, field)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(bytes(source), field, f"{field} ({len(source):,} bytes)")
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fsdecode(os.fspath(source))).expanduser()
        if not path.is_file():
            hint = ""
            if isinstance(source, str) and source.startswith(("http://", "https://")):
                hint = "; dalle_nb does not download URLs, so save the file first and pass its path"
            elif path.is_dir():
                hint = "; that is a directory, pass the path of an image file in it"
            shown = source if hint.startswith("; dalle_nb") else str(path)
            raise InvalidRequest(f"{field} file not found: {shown}{hint}", field=field, value=str(shown))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidRequest(
                f"{field} file {path} cannot be read: {exc.strerror or exc}", field=field, value=str(path)
            ) from None
        return _decode(data, field, f"{field} file {path}")
    numpy = sys.modules.get("numpy")  # an array can only exist if numpy was imported
    if numpy is not None and isinstance(source, numpy.ndarray):
        return _from_array(source, field)
    to_pil = getattr(source, "to_pil", None)
    if callable(to_pil):
        image = to_pil()
        if not isinstance(image, Image.Image):
            raise InvalidRequest(
                f"{field}: {type(source).__name__}.to_pil() returned {type(image).__name__}, not a PIL image",
                field=field,
                value=type(source).__name__,
            )
        return _upright(image, field)
    read = getattr(source, "read", None)
    if callable(read):
        return _decode(_read_file(source, read, field), field, f"{field} (from {type(source).__name__})")
    raise InvalidRequest(
        f"{field} must be an image: {ACCEPTED}; got {type(source).__name__}",
        field=field,
        value=type(source).__name__,
        allowed=ACCEPTED,
    )


def _read_file(source: object, read: object, field: str) -> bytes:
    """Everything left in a file object, leaving its position where it was (when it can seek)."""
    seekable = getattr(source, "seekable", None)
    position: int | None = None
    try:
        if callable(seekable) and seekable():
            position = source.tell()  # type: ignore[attr-defined]
        data = read()  # type: ignore[operator]
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"{field}: reading {type(source).__name__} failed: {exc}", field=field, value=type(source).__name__
        ) from None
    finally:
        if position is not None:
            with contextlib.suppress(OSError, ValueError):
                source.seek(position)  # type: ignore[attr-defined]
    if isinstance(data, str):
        raise InvalidRequest(
            f"{field}: the file object is open in text mode; open it with mode 'rb'",
            field=field,
            value=type(source).__name__,
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidRequest(
            f"{field}: {type(source).__name__}.read() returned {type(data).__name__}, not bytes",
            field=field,
            value=type(source).__name__,
        )
    return bytes(data)


def _decode(data: bytes, field: str, what: str) -> Image.Image:
    """Decode encoded image bytes, refusing non-images and decompression bombs."""
    from PIL import Image, UnidentifiedImageError  # Pillow loads on first use, not at import

    if not data:
        raise InvalidRequest(f"{what} is empty; pass a {READABLE} file", field=field, value=0)
    with warnings.catch_warnings():
        # A bomb warns above Image.MAX_IMAGE_PIXELS and fails above twice that; both are refused
        # here so that one huge upload cannot take the kernel's memory, without touching the global.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            limit = Image.MAX_IMAGE_PIXELS
            raise InvalidRequest(
                f"{what} has too many pixels to open safely (over {limit:,}, Pillow's decompression-bomb "
                "limit); resize it to a normal size first",
                field=field,
                allowed=f"at most {limit:,} pixels",
            ) from None
        except UnidentifiedImageError:
            raise InvalidRequest(
                f"{what} is not a readable image ({READABLE}); it starts with {data[:8]!r}. "
                "Check the file, or convert it to PNG",
                field=field,
                allowed=READABLE,
            ) from None
        except Exception as exc:  # truncated or corrupt data: Pillow raises many kinds
            raise InvalidRequest(
                f"{what} is not a readable image ({READABLE}): {exc}. Check the file, or convert it to PNG",
                field=field,
                allowed=READABLE,
            ) from None
    try:
        upright = _upright(image, field)
        frames = getattr(image, "n_frames", 1)
        if frames > 1:  # an animated GIF or WebP: only its first frame can be sent
            upright.info[FRAMES_INFO] = frames
        return upright
    finally:
        image.close()


def _upright(image: Image.Image, field: str) -> Image.Image:
    """A loaded copy of ``image`` with its EXIF orientation applied."""
    from PIL import ImageOps  # Pillow loads on first use, not at import

    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not make a good picture unusable
        upright = None
    return upright if upright is not None else image.copy()


def _from_array(array: object, field: str) -> Image.Image:
    """A PIL image from a numpy array of one of the shapes and dtypes ``load_image`` lists."""
    import numpy as np  # numpy loads on first use, not at import
    from PIL import Image

    arr = np.asarray(array)
    described = f"shape {arr.shape} and dtype {arr.dtype}"
    problem = f"{field}: a numpy array of {described} is not an image"
    usage = "pass HxW (bool or uint8), HxWx3 (RGB) or HxWx4 (RGBA), as uint8 0..255 or float 0..1"
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))) or arr.size == 0:
        raise InvalidRequest(f"{problem}; {usage}", field=field, value=described, allowed=usage)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise InvalidRequest(
                f"{problem}: float arrays must hold values from 0 to 1 (this one has "
                f"{np.nanmin(arr):g}..{np.nanmax(arr):g}); divide by 255, or pass uint8",
                field=field,
                value=described,
                allowed=usage,
            )
        arr = np.rint(arr.astype(np.float64) * 255).astype(np.uint8)
    elif arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        if arr.min() < 0 or arr.max() > 255:
            raise InvalidRequest(
                f"{problem}: its values run {arr.min()}..{arr.max()}, outside 0..255; scale it to uint8",
                field=field,
                value=described,
                allowed=usage,
            )
        arr = arr.astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise InvalidRequest(f"{problem}; {usage}", field=field, value=described, allowed=usage)
    return Image.fromarray(np.ascontiguousarray(arr))


@dataclass(frozen=True)
class _HeldMask:
    """The mask a ``MaskSource`` held when the call was made (``snapshot``)."""

    mask: Image.Image

    def as_mask(self) -> Image.Image:
        return self.mask


def snapshot(source: object, *, field: str = "image") -> object:
    """``source`` as it is now, to be read later on a worker thread (``edit(..., wait=False)``).

    What a caller may change in place once the call has returned is copied: a numpy array, an
    in-memory PIL image, a ``bytearray`` or ``memoryview``, what is left in a file object (its
    position kept), the mask a ``MaskSource`` holds; a list or tuple item by item.  Paths,
    ``bytes`` and generated pictures are kept as they are.  Copying runs at memory speed,
    far below decoding and encoding, and nothing is decoded here: a picture that cannot be
    read fails when it is read.
    """
    from PIL import Image  # Pillow loads on first use, not at import

    if isinstance(source, list | tuple):
        return type(source)(snapshot(item, field=field) for item in source)
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    if isinstance(source, Image.Image):
        return source if getattr(source, "fp", None) is not None else source.copy()  # a file-backed one is read lazily
    if isinstance(source, MaskSource):
        return _HeldMask(source.as_mask())
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(source, numpy.ndarray):
        return source.copy()
    read = getattr(source, "read", None)
    if callable(read) and not callable(getattr(source, "to_pil", None)) and not isinstance(source, str | os.PathLike):
        return _read_file(source, read, field)
    return source


# --------------------------------------------------------------------------- modes

_HIGH_BIT = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def normalize_mode(image: Image.Image) -> Image.Image:
    """``image`` as "RGB", or "RGBA" when it carries any alpha or transparency information.

    The API and every encoder here take 8-bit RGB(A); everything else is converted: CMYK,
    YCbCr, LAB and HSV to RGB; palette, grey and 1-bit images to RGB, or to RGBA when they
    hold transparency (a ``transparency`` entry, an alpha palette, LA/PA/La); 16- and 32-bit
    grey (``I;16``, ``I``, ``F``) is scaled to 8 bits by its actual value range (see
    ``_to_8bit``).  An image already in RGB or RGBA is returned as it is, not copied.
    """
    if image.mode == "RGBA" or (image.mode == "RGB" and "transparency" not in image.info):
        return image
    if image.mode in _HIGH_BIT:
        return _to_8bit(image).convert("RGB")
    if image.mode == "La":  # premultiplied: Pillow converts it only through LA
        image = image.convert("LA")
    target = "RGBA" if image.has_transparency_data else "RGB"
    try:
        return image.convert(target)
    except ValueError as exc:
        raise InvalidRequest(
            f"image mode {image.mode} cannot be converted to {target} ({exc}); save it as an RGB PNG first",
            field="image",
            value=image.mode,
        ) from None


def _to_8bit(image: Image.Image) -> Image.Image:
    """A 16/32-bit grey image as 8-bit "L", scaled linearly by the values it actually holds.

    Black stays black: the scale runs from ``min(0, lowest value)`` to the highest value, so
    a full-range ``I;16`` image maps 0..65535 to 0..255 and a 12-bit scan (0..4095) is not
    left nearly black.  Float images whose values lie in 0..1 are scaled by 255, and ``I``
    images whose values already lie in 0..255 are kept as they are.
    """
    import numpy as np  # numpy loads on first use, not at import
    from PIL import Image

    arr = np.asarray(image).astype(np.float64)
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if image.mode == "F" and lo >= 0 and hi <= 1:
        scaled = arr * 255
    elif image.mode == "I" and lo >= 0 and hi <= 255:
        scaled = arr
    else:
        lo = min(lo, 0.0)
        scaled = (arr - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- images


def prepare_image(
    source: object,
    model: str,
    *,
    endpoint: Literal["edits", "variations"] = "edits",
    fit: Fit = "error",
    index: int = 0,
) -> Prepared:
    """One input image as a file ``model`` accepts on ``endpoint``, or ``InvalidRequest`` saying why not.

    Loads ``source`` (anything ``load_image`` takes) and normalizes it to RGB(A).  Where the
    model needs a square image, ``fit`` decides: ``"error"`` refuses a non-square one,
    ``"crop"`` takes the centred square on the short side, ``"pad"`` adds transparent
    borders up to the long side.  The file is PNG (lossless) whenever it fits under the
    model's byte limit; an opaque image that does not fit is sent as JPEG or WebP when the
    model accepts one, and otherwise the image is downscaled in steps until it fits.  Each
    change made is described in ``Prepared.notices``.  ``index`` numbers the file
    (``image.png``, ``image_1.png``, ...) when several images are sent.
    """
    spec, limits = _limits(model, endpoint)
    label = "image" if index == 0 else f"image[{index}]"
    return _prepare(source, spec, endpoint, limits, fit, index, label)


def prepare_images(
    sources: object,
    model: str,
    *,
    endpoint: Literal["edits", "variations"] = "edits",
    fit: Fit = "error",
) -> list[Prepared]:
    """Every input image for one request, prepared as ``prepare_image`` does.

    ``sources`` is one image of any kind ``load_image`` takes (a numpy array or ``bytes``
    is one image) or a list or tuple of them.  The count is checked against the model's
    limit before anything is decoded, so a long list fails at once.
    """
    spec, limits = _limits(model, endpoint)
    items = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    if not items:
        raise InvalidRequest(
            f"no image given; {spec.id} {endpoint} need at least one input image",
            field="image",
            value=0,
            allowed=f"1 to {limits.max_images}",
        )
    if len(items) > limits.max_images:
        raise InvalidRequest(
            f"{len(items)} images given but {spec.id} {endpoint} take at most {limits.max_images}; "
            f"pass {limits.max_images} or fewer",
            field="image",
            value=len(items),
            allowed=f"at most {limits.max_images}",
        )
    single = len(items) == 1
    return [
        _prepare(item, spec, endpoint, limits, fit, i, "image" if single else f"image[{i}]")
        for i, item in enumerate(items)
    ]


#: Room kept in a Responses API request body for all but its pictures (the prompt, the tool's options).
_JSON_ROOM = 1 * MB
#: Said in a notice about a picture made smaller to travel inside a Responses API request.
_INLINE = " (a picture's limit inside a Responses API request)"


def data_url(prepared: Prepared) -> str:
    """``prepared`` as a base64 data URL: how a picture travels inside JSON (Responses API input, batch lines)."""
    return f"data:{prepared.content_type};base64," + base64.b64encode(prepared.data).decode("ascii")


def data_url_chars(prepared: Prepared) -> int:
    """How many characters ``prepared`` takes as a base64 data URL."""
    return len(f"data:{prepared.content_type};base64,") + 4 * math.ceil(len(prepared.data) / 3)


def fit_inline(
    images: Sequence[Prepared], mask: Prepared | None, model: str
) -> tuple[tuple[Prepared, ...], Prepared | None, list[str]]:
    """Input pictures and mask small enough to travel inside one Responses API request, and notices.

    The Images API takes files of up to 50 MB; the Responses API takes each picture as a data
    URL of at most ``DATA_URL_LIMIT`` characters (about 15 MB of file) in a body of at most
    ``RESPONSES_MAX_BYTES``, so the same 4000x3000 photo is refused there after a long upload.
    A picture over its share is encoded again as ``prepare_image`` would under that limit (a
    lossy format for an opaque picture, else downscaled, keeping its aspect) and the mask
    follows the first picture to its new size (nearest neighbour, so its edge stays sharp).
    Each change is said in the notices; a picture that cannot be made to fit raises
    ``InvalidRequest`` before anything is sent.  Pictures that fit are returned as they are.
    """
    from PIL import Image  # Pillow loads on first use, not at import

    mask_chars = data_url_chars(mask) if mask is not None else 0
    share = min(DATA_URL_LIMIT, (RESPONSES_MAX_BYTES - _JSON_ROOM - mask_chars) // max(1, len(images)))
    if all(data_url_chars(picture) <= share for picture in images):
        return tuple(images), mask, []
    _spec, limits = _limits(model, "edits")
    # bytes whose data URL fits, for the longest content type sent ("image/jpeg", "image/webp")
    limits = replace(limits, max_bytes=(share - len("data:image/jpeg;base64,")) // 4 * 3)
    out: list[Prepared] = []
    notices: list[str] = []
    for index, picture in enumerate(images):
        if data_url_chars(picture) <= share:
            out.append(picture)
            continue
        label = "image" if len(images) == 1 else f"image[{index}]"
        stem = picture.filename.rsplit(".", 1)[0]
        with Image.open(io.BytesIO(picture.data)) as opened:
            opened.load()
            image = normalize_mode(opened)
            sent = (opened.format or "").lower()
        fmt, data, fitted, said = _encode_to_fit(
            image, limits, label, stem, known={sent: len(picture.data)}, where=_INLINE
        )
        notices.extend(said)
        out.append(
            Prepared(
                data, f"{stem}.{_EXTENSIONS[fmt]}", _CONTENT_TYPES[fmt], fitted.width, fitted.height, picture.notices
            )
        )
    first = out[0]
    if mask is not None and (mask.width, mask.height) != (first.width, first.height):
        with Image.open(io.BytesIO(mask.data)) as opened:
            opened.load()
            smaller = opened.resize((first.width, first.height), Image.Resampling.NEAREST)
        mask = replace(mask, data=to_png_bytes(smaller), width=first.width, height=first.height)
        notices.append(
            f"mask resized to {first.width}x{first.height} with the image (nearest neighbour: its edge stays sharp)"
        )
    return tuple(out), mask, notices


def check_fit(fit: object) -> None:
    """``InvalidRequest`` unless ``fit`` is one of ``FITS``."""
    if fit not in FITS:
        raise InvalidRequest(
            f"fit={fit!r} is not an option; use one of: {', '.join(FITS)}", field="fit", value=fit, allowed=FITS
        )


def _limits(model: str, endpoint: str) -> tuple[ModelSpec, EditLimits]:
    """The model's row and its input limits on ``endpoint``, or ``InvalidRequest``."""
    try:
        spec = get_model(model)
    except ParamError as exc:
        refused = InvalidRequest.from_param(exc)
        spec = None
    if spec is None:
        raise refused  # out here, so the ParamError (holding the model name) is not its context
    if endpoint not in ("edits", "variations"):
        raise InvalidRequest(
            f"endpoint {endpoint!r} takes no input images; use 'edits' or 'variations'",
            field="endpoint",
            value=endpoint,
            allowed=("edits", "variations"),
        )
    limits = spec.variation if endpoint == "variations" else spec.edit
    if limits is None or endpoint not in spec.endpoints:
        serving = [m.id for m in MODELS.values() if endpoint in m.endpoints and not m.retired]
        serving = serving or [m.id for m in MODELS.values() if endpoint in m.endpoints]
        instead = f"; use one of: {', '.join(serving)}" if serving else ""
        raise InvalidRequest(
            f"{spec.id} does not take input images on the {endpoint} endpoint{instead}",
            field="model",
            value=spec.id,
            allowed=tuple(serving),
        )
    return spec, limits


def _prepare(
    source: object,
    spec: ModelSpec,
    endpoint: str,
    limits: EditLimits,
    fit: str,
    index: int,
    label: str,
) -> Prepared:
    from PIL import Image  # Pillow loads on first use, not at import

    check_fit(fit)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InvalidRequest(f"index must be a whole number >= 0, not {index!r}", field="index", value=index)
    notices: list[str] = []
    loaded = load_image(source, field=label)
    frames = loaded.info.get(FRAMES_INFO, 1)
    if frames > 1:
        notices.append(f"{label} is an animation of {frames} frames; only its first frame is sent")
    if loaded.mode in _HIGH_BIT:
        notices.append(f"{label} was {loaded.mode} (more than 8 bits per pixel); scaled to 8-bit grey")
    image = normalize_mode(loaded)

    width, height = image.size
    if limits.square_only and width != height:
        need = f"{spec.id} {endpoint} need a square image"
        if fit == "error":
            raise InvalidRequest(
                f'{label} is {width}x{height} but {need}; pass fit="crop" (centre crop) '
                'or fit="pad" (transparent borders)',
                field="image",
                value=f"{width}x{height}",
                allowed="a square image",
            )
        if fit == "crop":
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            notices.append(f"{label} was {width}x{height}; centre-cropped to {side}x{side} because {need}")
        else:
            side = max(width, height)
            padded = Image.new("RGBA", (side, side), (0, 0, 0, 0))
            padded.paste(image.convert("RGBA"), ((side - width) // 2, (side - height) // 2))
            image = padded
            extra = ""
            if limits.alpha_is_mask:
                extra = f"; without a mask, {spec.id} edits the transparent borders too"
            notices.append(
                f"{label} was {width}x{height}; padded to {side}x{side} with transparent borders because {need}{extra}"
            )

    stem = "image" if index == 0 else f"image_{index}"
    fmt, data, image, fitted = _encode_to_fit(image, limits, label, stem)
    notices.extend(fitted)
    return Prepared(
        data=data,
        filename=f"{stem}.{_EXTENSIONS[fmt]}",
        content_type=_CONTENT_TYPES[fmt],
        width=image.width,
        height=image.height,
        notices=tuple(notices),
    )


def _encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG")
    elif fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=_JPEG_QUALITY)
    else:
        image.save(buf, format="WEBP", quality=_WEBP_QUALITY)
    return buf.getvalue()


def _mb(nbytes: int) -> str:
    return f"{nbytes / MB:.1f} MB"


def _encode_to_fit(
    image: Image.Image,
    limits: EditLimits,
    label: str,
    stem: str,
    *,
    known: dict[str, int] | None = None,
    where: str = "",
) -> tuple[str, bytes, Image.Image, list[str]]:
    """Encode ``image`` strictly under ``limits.max_bytes``: PNG if it fits, else lossy, else smaller.

    Transparency is kept (a lossy fallback is only used for opaque images, and only formats
    the model accepts are used), so dall-e-2's "transparent pixels are the mask" still holds.
    ``known`` holds sizes already measured at full size (format -> bytes), which are not encoded
    again; ``where`` says whose limit it is, in the notices.  Returns the format, the bytes, the
    image actually encoded and the notices.
    """
    from PIL import Image  # Pillow loads on first use, not at import

    limit = limits.max_bytes
    limit_text = f"{limit / MB:.3g} MB{where}"
    transparent = image.mode == "RGBA" and _min_alpha(image) < 255
    formats = [f for f in ("png",) if f in limits.formats]
    lossy = [] if transparent else [f for f in _LOSSY if f in limits.formats]
    if not formats and transparent and "webp" in limits.formats:
        lossy = ["webp"]
    if not formats and not lossy:
        raise InvalidRequest(
            f"{label} has transparency, which none of the accepted formats ({', '.join(limits.formats)}) keeps; "
            "flatten it onto a background first",
            field="image",
            allowed=limits.formats,
        )
    opaque = image.convert("RGB") if image.mode == "RGBA" and not transparent and lossy else image

    sizes: dict[str, int] = {}
    first_fmt = (formats or lossy)[0]
    for fmt in formats + lossy:
        if known and known.get(fmt, 0) >= limit:
            sizes[fmt] = known[fmt]  # measured already, and too big
            continue
        data = _encode(image if fmt == "png" else opaque, fmt)
        sizes[fmt] = len(data)
        first_size = sizes[first_fmt]
        if len(data) < limit:
            notices = []
            if fmt != first_fmt:
                notices.append(
                    f"{stem}.{_EXTENSIONS[first_fmt]} was {_mb(first_size)} at {image.width}x{image.height}; "
                    f"sent as {fmt.upper()} ({_mb(len(data))}) to fit under {limit_text}"
                )
            return fmt, data, image, notices

    # Nothing fits at full size: downscale in the format that came out smallest.
    fmt = min(sizes, key=sizes.__getitem__)
    base = opaque if fmt != "png" else image
    first_size, size = sizes[first_fmt], sizes[fmt]
    scale = 1.0
    for _ in range(_MAX_STEPS):
        # Encoded size goes roughly with the pixel count; aim a little under, and shrink by
        # at least one step each time so the loop always ends.
        scale *= min(_STEP, math.sqrt(limit / size) * 0.97)
        new_w, new_h = max(1, int(base.width * scale)), max(1, int(base.height * scale))
        smaller = base.resize((new_w, new_h), Image.Resampling.LANCZOS)
        data = _encode(smaller, fmt)
        size = len(data)
        if size < limit:
            how = "" if fmt == first_fmt else f" as {fmt.upper()}"
            return (
                fmt,
                data,
                smaller,
                [
                    f"{stem}.{_EXTENSIONS[first_fmt]} was {_mb(first_size)} at {image.width}x{image.height}; "
                    f"downscaled to {new_w}x{new_h}{how} ({_mb(size)}) to fit under {limit_text}"
                ],
            )
        if new_w == 1 and new_h == 1:
            break
    raise InvalidRequest(
        f"{label} cannot be brought under {limit_text} even when downscaled; pass a smaller image",
        field="image",
        allowed=f"under {limit_text}",
    )


def _min_alpha(image: Image.Image) -> int:
    """The lowest alpha value of an RGBA image, or the lowest value of an "L" image."""
    band = image.getchannel("A") if image.mode == "RGBA" else image
    low, _high = band.getextrema()
    assert isinstance(low, int)
    return low


# --------------------------------------------------------------------------- masks


@runtime_checkable
class MaskSource(Protocol):
    """Anything that holds a mask it can hand over, such as ``dalle_nb.MaskEditor``.

    ``as_mask()`` returns an RGBA image, alpha 0 where the model may edit.  ``prepare_mask``
    and ``keep_unmasked`` accept such an object wherever they accept a mask, so a painted
    editor goes straight into ``edit(..., mask=editor)`` without an export step.
    """

    def as_mask(self) -> Image.Image:
        """The mask as RGBA, alpha 0 where the picture should change."""
        ...


#: The one line an unpainted mask editor gets instead of a request that would change nothing.
EMPTY_EDITOR = "the mask editor has nothing painted: paint where the picture should change, then run this again"


def mask_alpha(mask: object, image_size: tuple[int, int], *, resize: bool = True) -> tuple[Image.Image, list[str]]:
    """The alpha band ("L", ``image_size``) of the API mask ``mask`` stands for, and notices.

    Accepts every kind of mask ``prepare_mask`` lists (alpha 0 = edit here), with the same
    resizing rule, but does not refuse a mask that marks nothing: a mask editor starts from
    an empty mask, and ``prepare_mask`` makes that check itself before anything is sent.
    """
    alpha, _kind, notices = _mask_alpha(mask, image_size, resize)
    return alpha, notices


def _mask_alpha(mask: object, image_size: tuple[int, int], resize: bool) -> tuple[Image.Image, str, list[str]]:
    from PIL import Image  # Pillow loads on first use, not at import

    target = _check_image_size(image_size)
    if isinstance(mask, MaskSource):
        image, kind = mask.as_mask(), "editor"
        if image.mode != "RGBA":
            raise InvalidRequest(
                f"{type(mask).__name__}.as_mask() returned a {image.mode} image; it must return RGBA",
                field="mask",
                value=image.mode,
                allowed="RGBA",
            )
    else:
        image, kind = load_image(mask, field="mask"), ""
    if image.mode in ("1", "L"):
        alpha, kind = _alpha_from_grey(image.convert("L")), "grey"
    elif image.has_transparency_data:
        alpha, kind = normalize_mode(image).getchannel("A"), kind or "alpha"
    else:
        alpha, kind = _alpha_from_grey(normalize_mode(image).convert("L")), "grey"

    notices: list[str] = []
    if alpha.size != target:
        (mw, mh), (iw, ih) = alpha.size, target
        same_shape = abs(mw * ih - iw * mh) <= 0.01 * iw * mh
        if not (same_shape and resize):
            fix = "pass resize=True or draw" if same_shape else "its shape differs, so draw"
            raise InvalidRequest(
                f"mask is {mw}x{mh} but the image is {iw}x{ih}; {fix} the mask at {iw}x{ih}",
                field="mask",
                value=f"{mw}x{mh}",
                allowed=f"{iw}x{ih}",
            )
        alpha = alpha.resize(target, Image.Resampling.NEAREST)
        notices.append(f"mask was {mw}x{mh}; resized to {iw}x{ih} to match the image")
    return alpha, kind, notices


def prepare_mask(mask: object, image_size: tuple[int, int], *, resize: bool = True) -> Prepared:
    """A mask in the API's format: an RGBA PNG the image's size, alpha 0 where the model may edit.

    Accepted masks (anything ``load_image`` takes, or a ``MaskSource``):

    - an image with an alpha channel (RGBA, LA, PA, a palette image with transparency, an
      HxWx4 array): its alpha is used exactly as it is, so alpha 0 = edit here;
    - a boolean numpy array: ``True`` = edit here;
    - a grey or black-and-white image, an HxW uint8 array, or an RGB image without alpha
      (taken as grey): white (values >= 128) = edit here, black = keep;
    - a ``MaskSource`` such as ``dalle_nb.MaskEditor``: its ``as_mask()``.

    The result has black RGB everywhere and alpha 0 where the model may edit, 255 elsewhere
    (grey and boolean masks become strictly 0/255; alpha masks keep their values).  A mask
    of another size is resized to ``image_size`` (nearest neighbour, so it stays sharp) when
    its aspect ratio matches within 1% and ``resize`` is true, with a notice; otherwise it
    is refused.  Pass the size of the *prepared* image (``Prepared.width``/``height``).
    A mask that marks nothing to edit is refused (a request with it would change nothing);
    one that marks everything is fine.  The PNG must be under ``MASK_MAX_BYTES``.
    """
    from PIL import Image  # Pillow loads on first use, not at import

    alpha, kind, notices = _mask_alpha(mask, image_size, resize)
    target = alpha.size

    if _min_alpha(alpha) > 0:
        if kind == "editor":
            raise InvalidRequest(EMPTY_EDITOR, field="mask", value="empty")
        if kind == "alpha":
            why = "no pixel is fully transparent (alpha 0); make the area to edit transparent"
        else:
            why = "it has no white (>= 128) or True pixel; mark the area to edit in white, or True"
        raise InvalidRequest(f"the mask marks nothing to edit: {why}", field="mask", value="empty")

    black = Image.new("L", target, 0)
    data = to_png_bytes(Image.merge("RGBA", (black, black, black, alpha)))
    if len(data) >= MASK_MAX_BYTES:
        raise InvalidRequest(
            f"mask is {_mb(len(data))} as PNG; masks must be under {MASK_MAX_BYTES / MB:g} MB, "
            "so use a simpler mask (fewer partly transparent pixels)",
            field="mask",
            value=len(data),
            allowed=f"under {MASK_MAX_BYTES / MB:g} MB",
        )
    return Prepared(
        data=data,
        filename="mask.png",
        content_type="image/png",
        width=target[0],
        height=target[1],
        notices=tuple(notices),
    )


#: Width in pixels of the soft band ``keep_unmasked`` lays over the mask's edge by default:
#: half inside, half outside.  Enough to hide the seam where a pasted-back original meets the
#: edit (A1111's "mask blur" defaults to 4 px on each side, the same width), small enough that
#: a thin brushed stroke keeps its edit at full strength along its middle.
KEEP_UNMASKED_FEATHER = 8


def keep_unmasked(
    original: object, edited: object, mask: object, *, feather: float = KEEP_UNMASKED_FEATHER
) -> Image.Image:
    """``edited`` with ``original`` pasted back outside ``mask``: what the user kept stays exact.

    GPT image models treat a mask as guidance and may change pixels outside it; this is a
    local composite, done here and not by the API.  ``original`` and ``edited`` are anything
    ``load_image`` takes; ``mask`` anything ``prepare_mask`` takes (a ``MaskEditor`` too),
    at the original's size or the same aspect.

    The blend weight is the mask (edit here = 1) softened by two box blurs of about
    ``feather / 4`` pixels each, so it changes over a band ``feather`` pixels wide centred on
    the mask's edge: every pixel farther than ``ceil(feather / 2)`` pixels from the edge (in
    x or y) is exactly the original (outside) or exactly the edit (inside).  ``feather=0``
    pastes with a hard edge.  The
    result has the edited picture's size; an original of another size but the same aspect
    is resized to it first (so it is no longer bit-exact), another aspect is refused.
    RGBA is kept when either picture has transparency.
    """
    from PIL import Image, ImageChops, ImageFilter  # Pillow loads on first use, not at import

    if isinstance(feather, bool) or not isinstance(feather, int | float) or not 0 <= feather < math.inf:
        raise InvalidRequest(
            f"feather must be a number of pixels >= 0, not {feather!r}", field="feather", value=feather
        )
    after = normalize_mode(load_image(edited, field="edited"))
    before = normalize_mode(load_image(original, field="original"))
    if before.size != after.size:
        (ow, oh), (ew, eh) = before.size, after.size
        if abs(ow * eh - ew * oh) > 0.01 * ew * oh:
            raise InvalidRequest(
                f"the original is {ow}x{oh} but the edited picture is {ew}x{eh}, another shape; "
                "pass the picture that was sent to edit",
                field="original",
                value=f"{ow}x{oh}",
                allowed=f"{ew}x{eh} or the same aspect",
            )
        before = before.resize(after.size, Image.Resampling.LANCZOS)
    alpha, _notices = mask_alpha(mask, after.size)
    weight = ImageChops.invert(alpha)  # 255 where the model was asked to edit
    reach = math.ceil(feather / 2)  # how far the blend reaches from the edge, each side
    for radius in (reach - reach // 2, reach // 2):  # two whole-pixel box blurs: a smooth ramp, exact reach
        if radius:
            weight = weight.filter(ImageFilter.BoxBlur(radius))
    mode = "RGBA" if "RGBA" in (before.mode, after.mode) else "RGB"
    return Image.composite(after.convert(mode), before.convert(mode), weight)


def _alpha_from_grey(grey: Image.Image) -> Image.Image:
    """White (>= 128) -> alpha 0 (edit), black -> alpha 255 (keep)."""
    return grey.point([0 if value >= 128 else 255 for value in range(256)])


def _check_image_size(image_size: object) -> tuple[int, int]:
    if (
        isinstance(image_size, tuple | list)
        and len(image_size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image_size)
    ):
        return int(image_size[0]), int(image_size[1])
    raise InvalidRequest(
        f"image_size must be (width, height) in pixels, not {image_size!r}",
        field="image_size",
        value=image_size,
    )


# --------------------------------------------------------------------------- measuring


def describe(data: bytes) -> InputImage:
    """What ``models.check_inputs`` needs to know about one encoded file, measured from its bytes.

    The check runs on the bytes that will actually be sent, so it is measured here rather
    than trusted from the caller.  Data Pillow cannot read is reported with format
    ``"unknown"`` and size 0x0, which the check refuses with its own message.
    """
    from PIL import Image  # Pillow loads on first use, not at import

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt = (image.format or "unknown").lower()
                fmt = {"mpo": "jpeg", "jpg": "jpeg"}.get(fmt, fmt)
                has_alpha = image.has_transparency_data
                transparent = has_alpha and _min_alpha(normalize_mode(image).convert("RGBA")) == 0
                return InputImage(
                    format=fmt,
                    width=image.width,
                    height=image.height,
                    nbytes=len(data),
                    has_alpha=has_alpha,
                    has_transparent_pixels=transparent,
                )
        except Exception:
            return InputImage(format="unknown", width=0, height=0, nbytes=len(data))


def sniff(data: bytes) -> tuple[str, str]:
    """(format, "WxH") of an encoded picture, read from its header only: the one reading of it, for the
    pictures a request and a background job bring back."""
    from PIL import Image as PILImage  # Pillow loads on first use, not at import

    with PILImage.open(io.BytesIO(data)) as image:
        fmt = (image.format or "png").lower()
        return ("jpeg" if fmt in ("jpg", "mpo") else fmt), f"{image.width}x{image.height}"
