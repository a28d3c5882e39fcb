"""``GeneratedImage`` and ``ImageSet``: the pictures a call returns, their export and their notebook display.

A result is already on disk when it exists (see ``gallery``); these objects hand it on as
``PIL.Image``, ``BytesIO``, bytes, numpy or a file, and show in a notebook as a small
thumbnail with the prompt, the revised prompt and the model, never as the full picture.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from .costs import Cost, total
from .errors import InvalidRequest
from .events import short_prompt
from .formatting import image_bundle, set_bundle

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

    from .errors import DalleError
    from .events import PartialImage

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF"}
THUMBNAIL_SIZE = 256


def _pil_format(name: str) -> str:
    key = name.lower().lstrip(".") if isinstance(name, str) else ""
    if key not in _PIL_FORMATS:
        allowed = ("png", "jpeg", "webp", "gif", "bmp", "tiff")
        raise InvalidRequest(
            f"unknown image format {name!r}; use one of: {', '.join(allowed)}", field="format", value=name,
            allowed=allowed,
        )  # fmt: skip
    return _PIL_FORMATS[key]


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """``image`` in ``fmt`` (any name ``to_bytes`` takes), flattened on white for JPEG."""
    pil_format = _pil_format(fmt)
    if pil_format == "JPEG" and image.mode not in ("RGB", "L"):
        from PIL import Image as PILImage  # Pillow loads on first use, not at import

        flat = PILImage.new("RGB", image.size, (255, 255, 255))
        flat.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = flat
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


@dataclass(frozen=True)
class Record:
    """One saved image and the request that made it, as the gallery's index keeps it: enough to find,
    reproduce or cite it later (``GeneratedImage.from_record`` turns it back into a picture)."""

    id: str
    path: Path
    prompt: str
    revised_prompt: str | None
    model: str
    kind: str
    size: str
    output_format: str
    params: dict[str, Any]
    usage: dict[str, Any] | None
    created: float
    parent_ids: tuple[str, ...]
    backend: str
    #: The text model that revised the prompt and the Responses API's response id (None on the Images API).
    text_model: str | None = None
    response_id: str | None = None
    #: The prompt of the picture this one was made from (its first parent), read with it; None when unknown.
    parent_prompt: str | None = None
    #: What the picture cost (from the usage the API returned); None for pictures saved before costs were kept.
    cost: Cost | None = None
    #: The id of the kernel session that made it (``ses_...``); None for pictures saved before it was kept.
    session: str | None = None


@dataclass(eq=False, repr=False, kw_only=True)
class GeneratedImage:
    """One picture a model made, saved to disk, with what was asked and what came back.

    ``prompt`` is what was sent; ``revised_prompt`` is what the model says it used (None
    where the API returns none, as for GPT image models on the Images API, and for prompts
    sent exactly).  ``parent_prompt`` is the prompt of the picture this one was made from (an
    edit's, a variation's, a refinement's), as the gallery knew it when this one was made or read:
    the card says "variation of 'a red fox…'" from it, without asking the gallery again.
    ``preview_size`` is the longest side of its thumbnail in a notebook: the ``thumbnail_size`` setting
    when it was made or read, carried by the value so that showing it asks no settings.
    """

    data: InitVar[bytes | None]
    path: Path | None
    prompt: str
    model: str
    size: str
    output_format: str = "png"
    revised_prompt: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    created: float = 0.0
    id: str = ""
    kind: str = "generate"
    parents: tuple[str, ...] = ()
    backend: str = ""
    label: str | None = None
    #: The text model that revised the prompt, and the Responses API's id for the turn that made this
    #: picture (None when it came from the Images API): ``refine`` continues from it.
    text_model: str | None = None
    response_id: str | None = None
    parent_prompt: str | None = None
    preview_size: int = THUMBNAIL_SIZE
    #: What this picture cost, in US dollars with its parts (``Cost``), or unknown with the reason.
    cost: Cost | None = None
    _data: bytes | None = field(init=False, default=None)
    _thumbnails: dict[int, bytes] = field(init=False, default_factory=dict)

    def __post_init__(self, data: bytes | None) -> None:
        if data is None and self.path is None:
            raise ValueError("a GeneratedImage needs its bytes or the path of its file")
        self._data = data
        self.params = dict(self.params or {})  # its own copy: the request's parameters stay as they were

    @classmethod
    def from_record(cls, record: Record, *, preview_size: int = THUMBNAIL_SIZE) -> GeneratedImage:
        """The image a history row describes, read lazily from its file."""
        return cls(
            data=None,
            path=record.path,
            prompt=record.prompt,
            revised_prompt=record.revised_prompt,
            model=record.model,
            size=record.size,
            output_format=record.output_format,
            params=dict(record.params),
            usage=dict(record.usage) if record.usage else None,
            created=record.created,
            id=record.id,
            kind=record.kind,
            parents=tuple(record.parent_ids),
            backend=record.backend,
            text_model=record.text_model,
            response_id=record.response_id,
            parent_prompt=record.parent_prompt,
            preview_size=preview_size,
            cost=record.cost,
        )

    # ------------------------------------------------------------------ export
    def to_bytes(self, format: str | None = None) -> bytes:
        """The encoded file as the API returned it, or re-encoded as ``format``."""
        if self._data is None:
            assert self.path is not None
            self._data = self.path.read_bytes()
        if format is None or _pil_format(format) == _pil_format(self.output_format):
            return self._data
        return encode(self.to_pil(), format)

    def to_pil(self) -> Image.Image:
        """A fresh, fully loaded ``PIL.Image`` (changing it does not change this result)."""
        from PIL import Image as PILImage  # Pillow loads on first use, not at import

        with PILImage.open(io.BytesIO(self.to_bytes())) as image:
            image.load()
            return image.copy()

    def to_bytesio(self, format: str = "PNG") -> io.BytesIO:
        """A ``BytesIO`` at position 0, ready for ``requests``, the SDK or ``PIL.Image.open``."""
        return io.BytesIO(self.to_bytes(format))

    def to_numpy(self) -> NDArray[np.uint8]:
        """An ``HxWx3`` (or ``HxWx4`` with alpha) uint8 array."""
        import numpy as np  # numpy loads on first use, not at import

        image = self.to_pil()
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        return np.asarray(image).copy()

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write the picture to ``path`` (a file, or a folder to put ``<id>.<ext>`` in); returns the file.

        The format follows ``format``, else the file's suffix, else the original format;
        the original bytes are copied when no conversion is needed.
        """
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / f"{self.id or 'image'}.{self.output_format}"
        fmt = format or (target.suffix.lstrip(".") if target.suffix else self.output_format)
        if not target.suffix:
            target = target.with_suffix("." + fmt.lower().replace("jpeg", "jpg"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._data is None and self.path is not None and _pil_format(fmt) == _pil_format(self.output_format):
            shutil.copyfile(self.path, target)
        else:
            target.write_bytes(self.to_bytes(fmt))
        return target

    # ------------------------------------------------------------------ facts
    @property
    def width(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("x")[1])

    def thumbnail(self, max_size: int = THUMBNAIL_SIZE) -> Image.Image:
        """A small copy, at most ``max_size`` pixels on its longer side."""
        image = self.to_pil()
        image.thumbnail((max_size, max_size))
        return image

    def thumbnail_webp(self, max_size: int = THUMBNAIL_SIZE) -> bytes:
        """A small WebP (alpha kept): all a notebook or a widget receives of the picture.

        WebP is a third smaller than JPEG at the same look, for photos and flat drawings alike.
        Made once per size and kept, so showing a result again costs nothing.
        """
        cached = self._thumbnails.get(max_size)
        if cached is None:
            cached = self._thumbnails[max_size] = self._stored_thumbnail(max_size)
        return cached

    def _stored_thumbnail(self, max_size: int) -> bytes:
        """The thumbnail from the gallery's ``thumbs/`` folder, made and kept there the first time, so
        paging through a long history decodes no full picture twice."""
        store = None
        if self.path is not None and self.id and self.path.parent.parent.name == "images":
            store = self.path.parents[2] / "thumbs" / f"{self.id}-{max_size}.webp"
            try:
                return store.read_bytes()
            except OSError:
                pass
        image = self.thumbnail(max_size)
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        data = encode(image, "webp", quality=70, method=4)
        if store is not None:
            try:  # a cache: if it cannot be written, the thumbnail is made again next time
                store.parent.mkdir(exist_ok=True)
                temporary = store.with_name(f".{store.name}.{os.getpid()}.tmp")
                temporary.write_bytes(data)
                os.replace(temporary, store)
            except OSError:
                pass
        return data

    def __repr__(self) -> str:
        return f"<GeneratedImage {self.size} {self.output_format} {self.model} {short_prompt(self.prompt)!r}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return image_bundle(self, self.preview_size)


@dataclass(frozen=True)
class Failure:
    """One request that did not give pictures, or one picture that could not be saved, kept beside the rest.

    ``image`` is the picture a save failure concerns (its bytes are held, so ``.save(path)``
    works); ``partial`` the last partial picture of a stream that ended early (a preview,
    never the result).
    """

    prompt: str
    error: DalleError
    label: str | None = None
    image: GeneratedImage | None = None
    partial: PartialImage | None = None

    def __str__(self) -> str:
        line = getattr(self.error, "one_line", None)
        text = line() if callable(line) else str(self.error)
        return f"{self.label or self.prompt!r}: {text}"


@dataclass
class ImageSet(Sequence[GeneratedImage]):
    """The pictures of one call, in request order, with any failures and notices beside them."""

    images: list[GeneratedImage] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    #: True when the job was cancelled (Ctrl-C, ``JobHandle.cancel()``): these are what had arrived.
    cancelled: bool = False

    @overload
    def __getitem__(self, index: int) -> GeneratedImage: ...
    @overload
    def __getitem__(self, index: slice) -> ImageSet: ...
    def __getitem__(self, index: int | slice) -> GeneratedImage | ImageSet:
        if isinstance(index, slice):
            return ImageSet(self.images[index], list(self.failures), list(self.notices))
        return self.images[index]

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[GeneratedImage]:
        return iter(self.images)

    @property
    def ok(self) -> bool:
        """True when every request gave its pictures."""
        return not self.failures

    @property
    def cost(self) -> Cost:
        """What these pictures cost together (unknown, with the reason, when one picture's cost is)."""
        return total(image.cost for image in self.images)

    def save_all(self, directory: str | os.PathLike[str], format: str | None = None) -> list[Path]:
        """Write every picture into ``directory`` as ``01.png``, ``02.png``, ...; returns the files."""
        folder = Path(directory).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        width = max(2, len(str(len(self.images))))
        paths = []
        for number, image in enumerate(self.images, 1):
            ext = (format or image.output_format).lower().replace("jpeg", "jpg")
            paths.append(image.save(folder / f"{number:0{width}d}.{ext}", format))
        return paths

    def to_pil(self) -> list[Image.Image]:
        return [image.to_pil() for image in self.images]

    def __repr__(self) -> str:
        count = f"{len(self.images)} picture{'' if len(self.images) == 1 else 's'}"
        failed = f", {len(self.failures)} failed" if self.failures else ""
        cancelled = ", cancelled" if self.cancelled else ""
        models = sorted({image.model for image in self.images})
        return f"<ImageSet: {count}{failed}{cancelled}{' · ' + ', '.join(models) if models else ''}>"

    @property
    def preview_size(self) -> int:
        """How large the set's thumbnails show: its pictures' ``preview_size`` (the default when empty)."""
        return max((image.preview_size for image in self.images), default=THUMBNAIL_SIZE)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return set_bundle(self, self.preview_size)
