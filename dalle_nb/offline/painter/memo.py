"""Least-recently-used caches of drawn pictures, bounded by the bytes they hold rather than by a count.

The offline server runs inside the user's kernel by default, so whatever its caches keep is the kernel's memory.
``functools.lru_cache(maxsize=32)`` bounds entries, not bytes: 32 backdrops are ~200 MB at 1536x1024 and ~1 GB at
3840x2160, and they stay after the request has returned.  A budget in bytes keeps the common sizes as fast as before
(dozens of backdrops, hundreds of glyphs fit) while a 4K picture only ever displaces what it needs; a value larger
than the whole budget is returned without being kept.

Thread-safe: the server draws a request's pictures on worker threads.  Two threads asking for the same missing key
both draw it (the drawing is deterministic, so either copy is right); only the bookkeeping is under the lock.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, ParamSpec, TypeVar

from PIL import Image

__all__ = ["CacheInfo", "image_cache"]

P = ParamSpec("P")
R = TypeVar("R", bound=Image.Image)

#: Bytes per pixel as Pillow stores a mode (RGB is padded to 32 bits); a mode not listed counts as 4, which is the
#: most any mode the drawing uses takes.
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "LA": 4, "RGB": 4, "RGBA": 4}


class CacheInfo(NamedTuple):
    """What ``functools.lru_cache``'s ``cache_info()`` says, plus the bytes held and the budget."""

    hits: int
    misses: int
    maxsize: int  # the budget, in bytes
    currsize: int  # entries held
    nbytes: int


def image_bytes(image: Image.Image) -> int:
    """The memory a Pillow image's pixels take."""
    return image.width * image.height * _PIXEL_BYTES.get(image.mode, 4)


class ImageCache(Generic[P, R]):
    """A function's results kept by argument, least recently used dropped first once ``budget`` bytes are held.

    Like ``functools.lru_cache``, callers share the returned picture and must copy it before drawing on it.
    """

    def __init__(self, function: Callable[P, R], budget: int) -> None:
        self._function = function
        self._budget = budget
        self._entries: OrderedDict[Hashable, tuple[R, int]] = OrderedDict()
        self._nbytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()
        functools.update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        key = (args, tuple(kwargs.items())) if kwargs else args
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return entry[0]
            self._misses += 1
        value = self._function(*args, **kwargs)
        size = image_bytes(value)
        if size > self._budget:
            return value
        with self._lock:
            if key in self._entries:  # another thread drew it meanwhile
                return self._entries[key][0]
            self._entries[key] = (value, size)
            self._nbytes += size
            while self._nbytes > self._budget:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._nbytes -= dropped
        return value

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, self._budget, len(self._entries), self._nbytes)

    def cache_clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nbytes = 0
            self._hits = self._misses = 0


def image_cache(budget: int) -> Callable[[Callable[P, R]], ImageCache[P, R]]:
    """Decorate a function returning a Pillow image so that its results are cached within ``budget`` bytes."""

    def decorate(function: Callable[P, R]) -> ImageCache[P, R]:
        return ImageCache(function, budget)

    return decorate
